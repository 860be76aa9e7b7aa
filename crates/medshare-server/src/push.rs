//! Web Push (RFC 8030): the hub's VAPID key (RFC 8292) and the encrypted push request (RFC
//! 8291 `aes128gcm`, by the `web-push-native` crate) for one browser subscription. The request
//! is sent by the notification outbox through the SSRF-checked client like every other channel.
//!
//! The VAPID key is one P-256 private scalar in a 0600 file (made on first start); replicas of
//! one hub share the file, since a browser subscription is bound to the key it was made with.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use p256::ecdsa::signature::Signer;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use std::path::Path;
use zeroize::Zeroizing;

/// How long a push service keeps an undelivered message (RFC 8030 `TTL`), and how long the
/// VAPID token is valid (RFC 8292 allows at most 24 h).
pub const TTL_SECS: u64 = 12 * 60 * 60;

/// The hub's VAPID key pair. The signing key is zeroized on drop (by `p256`).
pub struct Vapid {
    key: p256::ecdsa::SigningKey,
    public_key: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl Vapid {
    /// Read the key from `path`, or make one and write it there (0600).
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let secret = match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                p256::SecretKey::from_slice(&bytes).map_err(|_| {
                    anyhow::anyhow!(
                        "{} is not a VAPID key (32 bytes): delete it to make a new one \
                         (browsers then have to subscribe again)",
                        path.display()
                    )
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
                let bytes = Zeroizing::new(secret.to_bytes().to_vec());
                crate::write_secret_file(path, &bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                secret
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Self::from_secret(&secret))
    }

    fn from_secret(secret: &p256::SecretKey) -> Self {
        let public = secret.public_key().to_encoded_point(false);
        Self {
            key: p256::ecdsa::SigningKey::from(secret),
            public_key: B64URL.encode(public.as_bytes()),
        }
    }

    /// Base64url of the uncompressed public point (the browser's `applicationServerKey`).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization: vapid t=<JWT>, k=<key>` header for a request to `endpoint`: an
    /// ES256 JWT whose audience is the push resource's origin (with its port, RFC 8292 §2),
    /// expiring after [`TTL_SECS`], naming `subject` (a `mailto:` or `https:` contact).
    pub fn authorization(&self, endpoint: &url::Url, subject: &str, now: i64) -> String {
        let header = B64URL.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": now + TTL_SECS as i64,
            "sub": subject,
        });
        let claims = B64URL.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let sig: p256::ecdsa::Signature = self.key.sign(signing_input.as_bytes());
        format!(
            "vapid t={signing_input}.{}, k={}",
            B64URL.encode(sig.to_bytes()),
            self.public_key
        )
    }
}

/// A browser subscription's keys, checked.
pub struct Subscription {
    ua_public: p256::PublicKey,
    auth: web_push_native::Auth,
}

impl Subscription {
    /// Parse the Push API's base64url `p256dh` and `auth` (padding tolerated).
    pub fn parse(p256dh: &str, auth: &str) -> Result<Self, &'static str> {
        let p256dh = B64URL
            .decode(p256dh.trim_end_matches('='))
            .map_err(|_| "p256dh is not base64url")?;
        let ua_public = p256::PublicKey::from_sec1_bytes(&p256dh)
            .map_err(|_| "p256dh is not a P-256 public key")?;
        let auth = B64URL
            .decode(auth.trim_end_matches('='))
            .map_err(|_| "auth is not base64url")?;
        if auth.len() != 16 {
            return Err("auth is not 16 bytes");
        }
        Ok(Self {
            ua_public,
            auth: web_push_native::Auth::clone_from_slice(&auth),
        })
    }

    /// The RFC 8291 `aes128gcm` body carrying `payload`.
    pub fn encrypt(&self, payload: &[u8]) -> Result<Vec<u8>, &'static str> {
        web_push_native::encrypt(payload.to_vec(), &self.ua_public, &self.auth)
            .map_err(|_| "could not encrypt the push message")
    }
}

/// The stored form of a subscription's keys (in the channel's secret column).
pub fn store_keys(p256dh: &str, auth: &str) -> String {
    serde_json::json!({ "p256dh": p256dh, "auth": auth }).to_string()
}

/// Read back what [`store_keys`] wrote.
pub fn stored_subscription(secret: &str) -> Result<Subscription, &'static str> {
    let v: serde_json::Value =
        serde_json::from_str(secret).map_err(|_| "the stored subscription is corrupt")?;
    match (v["p256dh"].as_str(), v["auth"].as_str()) {
        (Some(p), Some(a)) => Subscription::parse(p, a),
        _ => Err("the stored subscription is corrupt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("vapid-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vapid.key");
        let a = Vapid::load_or_create(&path).unwrap();
        let b = Vapid::load_or_create(&path).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(B64URL.decode(a.public_key()).unwrap().len(), 65);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(Vapid::load_or_create(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_token_verifies_and_names_the_origin() {
        use p256::ecdsa::signature::Verifier;
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let v = Vapid::from_secret(&secret);
        let url = url::Url::parse("https://push.example:8443/send/abc").unwrap();
        let h = v.authorization(&url, "mailto:ops@hub.example", 1_000);
        let rest = h.strip_prefix("vapid t=").unwrap();
        let (token, k) = rest.split_once(", k=").unwrap();
        assert_eq!(k, v.public_key());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&B64URL.decode(sig).unwrap()).unwrap();
        let vk = p256::ecdsa::VerifyingKey::from(secret.public_key());
        vk.verify(input.as_bytes(), &sig).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(input.split_once('.').unwrap().1).unwrap())
                .unwrap();
        assert_eq!(claims["aud"], "https://push.example:8443");
        assert_eq!(claims["exp"], 1_000 + TTL_SECS as i64);
        assert_eq!(claims["sub"], "mailto:ops@hub.example");
    }

    #[test]
    fn bad_subscription_keys_are_refused() {
        let ua = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let p = B64URL.encode(ua.public_key().to_encoded_point(false).as_bytes());
        let a = B64URL.encode([7u8; 16]);
        assert!(Subscription::parse(&p, &a).is_ok());
        assert!(Subscription::parse(&p, &B64URL.encode([7u8; 15])).is_err());
        assert!(Subscription::parse("!!", &a).is_err());
        assert!(Subscription::parse(&B64URL.encode([4u8; 65]), &a).is_err());
        let s = stored_subscription(&store_keys(&p, &a)).unwrap();
        // Round trip through the crate's own decryption with the browser's key.
        let body = s.encrypt(b"hello").unwrap();
        let auth = web_push_native::Auth::clone_from_slice(&[7u8; 16]);
        assert_eq!(
            web_push_native::decrypt(body, &ua, &auth).unwrap(),
            b"hello"
        );
    }
}
