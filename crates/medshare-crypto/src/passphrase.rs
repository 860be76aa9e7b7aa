//! The passphrase: Argon2id stretches it into a login credential (sent to the hub) and a
//! key-encryption key (never leaves the client) that seals the user's [`KeyBundle`].

use crate::CryptoError;
use crate::keys::{EncryptionKey, SigningKey};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use medshare_model::PractitionerId;
use medshare_model::api::KdfParams;
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Smallest accepted Argon2 memory cost, KiB.
pub const MIN_M_COST: u32 = 8;
/// Smallest accepted Argon2 time cost.
pub const MIN_T_COST: u32 = 1;
/// Largest accepted memory cost (4 GiB), so a hostile hub cannot exhaust a client.
pub const MAX_M_COST: u32 = 4 * 1024 * 1024;
/// Largest accepted time cost.
pub const MAX_T_COST: u32 = 64;
/// Largest accepted parallelism.
pub const MAX_P_COST: u32 = 64;

const CREDENTIAL_INFO: &[u8] = b"medshare/v1/login-credential";
const KEK_INFO: &[u8] = b"medshare/v1/key-encryption-key";
const BUNDLE_AAD: &[u8] = b"medshare/v1/key-bundle";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

fn random_salt() -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    B64.encode(salt)
}

/// Parameters for a new passphrase: a fresh random 16-byte salt, Argon2id with 64 MiB,
/// 3 passes, 1 lane.
pub fn new_kdf_params() -> KdfParams {
    KdfParams {
        salt: random_salt(),
        m_cost: 65536,
        t_cost: 3,
        p_cost: 1,
    }
}

/// Cheap parameters (256 KiB, 1 pass) for tests and demos only.
///
/// **Unsafe for production**: a passphrase stretched this little is quick to guess from the
/// credential the hub stores.
pub fn test_kdf_params() -> KdfParams {
    KdfParams {
        salt: random_salt(),
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
    }
}

/// Whether `params` are strong enough for real use (at least OWASP's Argon2id floor: 19 MiB and
/// 2 passes). [`derive()`] accepts weaker ones for tests; a client should refuse weak parameters
/// served by a hub outside a sandbox, since a credential derived with them is cheap to guess from.
pub fn is_production_strength(params: &KdfParams) -> bool {
    params.m_cost >= 19 * 1024 && params.t_cost >= 2 && params.p_cost >= 1
}

/// What a passphrase yields. Both halves are wiped when dropped; `Debug` redacts them.
pub struct DerivedSecrets {
    /// Login credential: sent to the hub (base64, see [`DerivedSecrets::credential_base64`]).
    pub credential: Zeroizing<[u8; 32]>,
    /// Key-encryption key for the [`KeyBundle`]: never leaves the client.
    pub kek: Zeroizing<[u8; 32]>,
}

impl DerivedSecrets {
    /// The credential as sent to the hub.
    pub fn credential_base64(&self) -> String {
        B64.encode(*self.credential)
    }
}

impl fmt::Debug for DerivedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedSecrets { credential: <redacted>, kek: <redacted> }")
    }
}

/// Stretch a passphrase: Argon2id (from `params`, 32-byte output) to a master secret, then
/// HKDF-SHA-256 (no salt) with distinct labels to the credential and the KEK.
pub fn derive(passphrase: &str, params: &KdfParams) -> Result<DerivedSecrets, CryptoError> {
    if params.m_cost < MIN_M_COST {
        return Err(CryptoError::BadKdfParams("memory cost too low"));
    }
    if params.t_cost < MIN_T_COST {
        return Err(CryptoError::BadKdfParams("time cost too low"));
    }
    if params.p_cost < 1 || params.p_cost > MAX_P_COST {
        return Err(CryptoError::BadKdfParams("parallelism out of range"));
    }
    if params.m_cost > MAX_M_COST || params.t_cost > MAX_T_COST {
        return Err(CryptoError::BadKdfParams("cost too high"));
    }
    let salt = B64
        .decode(params.salt.trim())
        .map_err(|_| CryptoError::BadKdfParams("salt is not base64"))?;
    if salt.len() < argon2::MIN_SALT_LEN {
        return Err(CryptoError::BadKdfParams("salt too short"));
    }
    let argon_params = Params::new(params.m_cost, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| CryptoError::BadKdfParams("rejected by Argon2"))?;
    let mut master = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(passphrase.as_bytes(), &salt, &mut *master)
        .map_err(|_| CryptoError::BadKdfParams("rejected by Argon2"))?;

    let hk = Hkdf::<Sha256>::new(None, &*master);
    let mut credential = Zeroizing::new([0u8; 32]);
    let mut kek = Zeroizing::new([0u8; 32]);
    hk.expand(CREDENTIAL_INFO, &mut *credential)
        .expect("32 bytes is a valid HKDF-SHA-256 length");
    hk.expand(KEK_INFO, &mut *kek)
        .expect("32 bytes is a valid HKDF-SHA-256 length");
    Ok(DerivedSecrets { credential, kek })
}

/// A practitioner's secret keys, as sealed under the passphrase.
#[derive(Clone, Debug)]
pub struct KeyBundle {
    /// The X25519 identity documents and key wraps are sealed to.
    pub encryption: EncryptionKey,
    /// The Ed25519 key the practitioner signs statements with.
    pub signing: SigningKey,
}

impl KeyBundle {
    /// Fresh random keys.
    pub fn generate() -> Self {
        Self {
            encryption: EncryptionKey::generate(),
            signing: SigningKey::generate(),
        }
    }
}

/// The bundle's plaintext JSON.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct BundleJson {
    /// `AGE-SECRET-KEY-1...`
    encryption: String,
    /// Ed25519 seed, base64.
    signing: String,
}

fn bundle_aad(practitioner_id: &PractitionerId) -> Vec<u8> {
    let mut aad = BUNDLE_AAD.to_vec();
    aad.extend_from_slice(practitioner_id.0.as_bytes());
    aad
}

/// Seal a key bundle under the KEK with XChaCha20-Poly1305, bound to the practitioner:
/// base64 of `nonce (24) || ciphertext`.
pub fn seal_bundle(kek: &[u8; 32], practitioner_id: &PractitionerId, bundle: &KeyBundle) -> String {
    let json = BundleJson {
        encryption: bundle.encryption.to_secret_string().to_string(),
        signing: B64.encode(*bundle.signing.to_seed()),
    };
    // Sized up front so the buffer never reallocates (which would leave unwiped copies).
    let mut plain = Zeroizing::new(Vec::with_capacity(512));
    serde_json::to_writer(&mut *plain, &json).expect("bundle JSON serialises");
    drop(json);

    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let aad = bundle_aad(practitioner_id);
    let ciphertext = XChaCha20Poly1305::new(kek.into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .expect("bundle is far below the AEAD length limit");
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    B64.encode(out)
}

/// Open a key bundle sealed by [`seal_bundle`]. A wrong KEK (wrong passphrase), another
/// practitioner's id or an altered bundle give [`CryptoError::WrongPassphrase`].
pub fn open_bundle(
    kek: &[u8; 32],
    practitioner_id: &PractitionerId,
    sealed_b64: &str,
) -> Result<KeyBundle, CryptoError> {
    let sealed = B64
        .decode(sealed_b64.trim())
        .map_err(|_| CryptoError::Malformed("key bundle (not base64)"))?;
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("key bundle (too short)"));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let aad = bundle_aad(practitioner_id);
    let plain = Zeroizing::new(
        XChaCha20Poly1305::new(kek.into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::WrongPassphrase)?,
    );
    let json: BundleJson = serde_json::from_slice(&plain)
        .map_err(|_| CryptoError::Malformed("key bundle contents"))?;
    let encryption = EncryptionKey::from_secret_str(&json.encryption)?;
    let seed = Zeroizing::new(
        B64.decode(json.signing.as_bytes())
            .map_err(|_| CryptoError::BadKey)?,
    );
    let seed: &[u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::BadKey)?;
    Ok(KeyBundle {
        encryption,
        signing: SigningKey::from_seed(seed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(salt: &[u8]) -> KdfParams {
        KdfParams {
            salt: B64.encode(salt),
            ..test_kdf_params()
        }
    }

    #[test]
    fn kdf_is_deterministic_and_domain_separated() {
        let p = params(b"0123456789abcdef");
        let a = derive("correct horse battery staple", &p).unwrap();
        let b = derive("correct horse battery staple", &p).unwrap();
        assert_eq!(*a.credential, *b.credential);
        assert_eq!(*a.kek, *b.kek);
        assert_ne!(*a.credential, *a.kek);

        let other_salt =
            derive("correct horse battery staple", &params(b"0123456789abcdeF")).unwrap();
        assert_ne!(*a.credential, *other_salt.credential);
        assert_ne!(*a.kek, *other_salt.kek);

        let other_pass = derive("correct horse battery stable", &p).unwrap();
        assert_ne!(*a.credential, *other_pass.credential);
        assert_ne!(*a.kek, *other_pass.kek);

        let more_cost = derive(
            "correct horse battery staple",
            &KdfParams {
                t_cost: 2,
                ..p.clone()
            },
        )
        .unwrap();
        assert_ne!(*a.kek, *more_cost.kek);

        let dbg = format!("{a:?}");
        assert!(!dbg.contains(&a.credential_base64()));
        assert_eq!(B64.decode(a.credential_base64()).unwrap(), *a.credential);
    }

    #[test]
    fn kdf_params_checked() {
        let p = test_kdf_params();
        assert_eq!(B64.decode(&p.salt).unwrap().len(), 16);
        assert_ne!(p.salt, test_kdf_params().salt);
        let n = new_kdf_params();
        assert_eq!((n.m_cost, n.t_cost, n.p_cost), (65536, 3, 1));
        assert!(is_production_strength(&n));
        assert!(!is_production_strength(&p));
        for bad in [
            KdfParams {
                m_cost: 7,
                ..p.clone()
            },
            KdfParams {
                t_cost: 0,
                ..p.clone()
            },
            KdfParams {
                p_cost: 0,
                ..p.clone()
            },
            KdfParams {
                m_cost: u32::MAX,
                ..p.clone()
            },
            KdfParams {
                salt: "!!".into(),
                ..p.clone()
            },
            KdfParams {
                salt: B64.encode(b"short"),
                ..p.clone()
            },
        ] {
            assert!(matches!(
                derive("pw", &bad),
                Err(CryptoError::BadKdfParams(_))
            ));
        }
        assert!(derive("pw", &KdfParams { m_cost: 8, ..p }).is_ok());
    }

    #[test]
    fn bundle_seals_and_opens() {
        let p = test_kdf_params();
        let secrets = derive("open sesame", &p).unwrap();
        let who = PractitionerId::new();
        let bundle = KeyBundle::generate();
        let sealed = seal_bundle(&secrets.kek, &who, &bundle);
        assert!(!sealed.contains(&bundle.encryption.to_secret_string()[16..]));

        let back = open_bundle(&secrets.kek, &who, &sealed).unwrap();
        assert_eq!(back.encryption.recipient(), bundle.encryption.recipient());
        assert_eq!(back.signing.public(), bundle.signing.public());

        let wrong = derive("open sesamE", &p).unwrap();
        assert!(matches!(
            open_bundle(&wrong.kek, &who, &sealed),
            Err(CryptoError::WrongPassphrase)
        ));
        // The credential is not the KEK.
        assert!(matches!(
            open_bundle(&secrets.credential, &who, &sealed),
            Err(CryptoError::WrongPassphrase)
        ));
        // Bound to the practitioner.
        assert!(matches!(
            open_bundle(&secrets.kek, &PractitionerId::new(), &sealed),
            Err(CryptoError::WrongPassphrase)
        ));
        let mut raw = B64.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(matches!(
            open_bundle(&secrets.kek, &who, &B64.encode(&raw)),
            Err(CryptoError::WrongPassphrase)
        ));
        assert!(matches!(
            open_bundle(&secrets.kek, &who, "AAAA"),
            Err(CryptoError::Malformed(_))
        ));
    }
}
