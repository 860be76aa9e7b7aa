//! Key types: age X25519 encryption keys and Ed25519 signing keys, and signing and checking of
//! [`Signed`] statements.

use crate::CryptoError;
use age::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use medshare_model::statements::{Signed, Statement, key_id};
use rand::rngs::OsRng;
use std::fmt;
use zeroize::Zeroizing;

/// An age X25519 identity: decrypts what is sealed to its [`EncryptionKey::recipient`].
///
/// The secret is wiped from memory when dropped; `Debug` shows only the public recipient.
#[derive(Clone)]
pub struct EncryptionKey(age::x25519::Identity);

impl EncryptionKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(age::x25519::Identity::generate())
    }

    /// The public recipient (`age1...`) others seal to.
    pub fn recipient(&self) -> String {
        self.0.to_public().to_string()
    }

    /// The secret in age's text form (`AGE-SECRET-KEY-1...`), wiped when dropped.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.to_string().expose_secret().to_owned())
    }

    /// Parse age's text form of a secret key.
    pub fn from_secret_str(s: &str) -> Result<Self, CryptoError> {
        s.trim()
            .parse::<age::x25519::Identity>()
            .map(Self)
            .map_err(|_| CryptoError::BadKey)
    }

    /// The age identity, for use with the `age` crate directly.
    pub fn identity(&self) -> &age::x25519::Identity {
        &self.0
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("recipient", &self.recipient())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Parse an age X25519 recipient (`age1...`).
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, CryptoError> {
    s.trim()
        .parse::<age::x25519::Recipient>()
        .map_err(|_| CryptoError::BadKey)
}

/// An Ed25519 signing key.
///
/// The secret is wiped from memory when dropped; `Debug` shows only the key id.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut OsRng))
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The key id of the public key (see [`key_id`]).
    pub fn key_id(&self) -> String {
        key_id(&self.public())
    }

    /// The 32-byte secret seed, wiped when dropped.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// Rebuild a key from its seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Sign an MLS (RFC 9420) `SignContent`: the practitioner's certified key is also their MLS
    /// signature key, so a room member's identity is checked against the alliance root. Only
    /// input framed as MLS signs (`label<V>` starting `MLS 1.0 `, RFC 9420 5.1.2): it can never
    /// be a statement (those start `medshare/v1/statement`), so neither signature can pass for
    /// the other.
    pub fn sign_mls(&self, sign_content: &[u8]) -> Result<[u8; 64], CryptoError> {
        // A label is shorter than 64 bytes, so its variable-length prefix is one byte (top two
        // bits 00) giving the label's length.
        let label = sign_content.first().map_or(0, |b| usize::from(*b));
        let framed = (8..64).contains(&label)
            && sign_content.len() > label
            && sign_content[1..].starts_with(b"MLS 1.0 ");
        if !framed {
            return Err(CryptoError::BadSignature);
        }
        Ok(self.0.sign(sign_content).to_bytes())
    }

    /// Sign `payload` as a statement of kind `T::KIND`.
    pub fn sign_statement<T: Statement>(&self, payload: &T) -> Signed {
        // Statement payloads are plain structs with string keys: serialising cannot fail.
        let payload = serde_json::to_string(payload).expect("statement payload serialises");
        let signature = self.0.sign(&Signed::signing_input(T::KIND, &payload));
        Signed {
            kind: T::KIND,
            payload,
            signer: self.key_id(),
            signature: B64.encode(signature.to_bytes()),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Check a statement against the expected signer's public key and return its payload.
///
/// Checks, in order: the kind is `T::KIND` ([`CryptoError::WrongKind`]), the signer id names
/// `public` ([`CryptoError::WrongSigner`]), the signature verifies strictly over
/// [`Signed::signing_input`] ([`CryptoError::BadSignature`]); then parses the payload.
pub fn verify_statement<T: Statement>(
    signed: &Signed,
    public: &[u8; 32],
) -> Result<T, CryptoError> {
    if signed.kind != T::KIND {
        return Err(CryptoError::WrongKind);
    }
    if signed.signer != key_id(public) {
        return Err(CryptoError::WrongSigner);
    }
    let key = VerifyingKey::from_bytes(public).map_err(|_| CryptoError::BadKey)?;
    let signature = Signature::from_bytes(&signed.signature_bytes()?);
    key.verify_strict(&Signed::signing_input(T::KIND, &signed.payload), &signature)
        .map_err(|_| CryptoError::BadSignature)?;
    Ok(signed.payload_as::<T>()?)
}

/// Check that 32 bytes are a usable Ed25519 public key.
pub(crate) fn check_sign_public(public: &[u8; 32]) -> Result<(), CryptoError> {
    let key = VerifyingKey::from_bytes(public).map_err(|_| CryptoError::BadKey)?;
    if key.is_weak() {
        return Err(CryptoError::BadKey);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_model::statements::{AllianceKey, StatementKind};

    /// The certified key signs MLS content only in MLS framing: never a statement's input.
    #[test]
    fn mls_signing_only_in_mls_framing() {
        let k = SigningKey::generate();
        let mut content = vec![16u8];
        content.extend_from_slice(b"MLS 1.0 LeafNodeTBS");
        content.extend_from_slice(&[3, 1, 2, 3]);
        let sig = k.sign_mls(&content).unwrap();
        let vk = VerifyingKey::from_bytes(&k.public()).unwrap();
        vk.verify_strict(&content, &Signature::from_bytes(&sig))
            .unwrap();
        let statement = Signed::signing_input(StatementKind::AllianceKey, "{}");
        assert!(k.sign_mls(&statement).is_err());
        assert!(k.sign_mls(b"").is_err());
        assert!(k.sign_mls(b"\x08MLS 1.0").is_err());
        assert!(k.sign_mls(b"xMLS 1.0 anything").is_err());
    }

    fn statement() -> AllianceKey {
        AllianceKey {
            recipient: EncryptionKey::generate().recipient(),
            issued_at: 1_700_000_000,
        }
    }

    #[test]
    fn encryption_key_round_trips_and_hides_secret() {
        let k = EncryptionKey::generate();
        let secret = k.to_secret_string();
        assert!(secret.starts_with("AGE-SECRET-KEY-1"));
        assert!(k.recipient().starts_with("age1"));
        let back = EncryptionKey::from_secret_str(&secret).unwrap();
        assert_eq!(back.recipient(), k.recipient());
        assert!(parse_recipient(&k.recipient()).is_ok());
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&secret[..20]));
        assert!(!dbg.to_uppercase().contains(&secret[16..]));
        assert!(matches!(
            EncryptionKey::from_secret_str("AGE-SECRET-KEY-1XYZ"),
            Err(CryptoError::BadKey)
        ));
        assert!(matches!(
            parse_recipient("age1nope"),
            Err(CryptoError::BadKey)
        ));
    }

    #[test]
    fn signing_key_seed_round_trips_and_hides_secret() {
        let k = SigningKey::generate();
        let seed = k.to_seed();
        let back = SigningKey::from_seed(&seed);
        assert_eq!(back.public(), k.public());
        assert_eq!(k.key_id(), key_id(&k.public()));
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&hex::encode(*seed)));
        assert!(!dbg.contains(&B64.encode(*seed)));
    }

    #[test]
    fn statements_sign_and_verify() {
        let k = SigningKey::generate();
        let payload = statement();
        let signed = k.sign_statement(&payload);
        assert_eq!(signed.kind, StatementKind::AllianceKey);
        assert_eq!(signed.signer, k.key_id());
        let back: AllianceKey = verify_statement(&signed, &k.public()).unwrap();
        assert_eq!(back, payload);
    }

    #[test]
    fn tampered_statements_fail() {
        let k = SigningKey::generate();
        let signed = k.sign_statement(&statement());

        let mut t = signed.clone();
        t.payload = t.payload.replace("1700000000", "1700000001");
        assert_ne!(t.payload, signed.payload);
        assert!(matches!(
            verify_statement::<AllianceKey>(&t, &k.public()),
            Err(CryptoError::BadSignature)
        ));

        let mut t = signed.clone();
        t.kind = StatementKind::InstitutionEpochKey;
        assert!(matches!(
            verify_statement::<AllianceKey>(&t, &k.public()),
            Err(CryptoError::WrongKind)
        ));
        // The kind is part of the signed bytes: relabelling and parsing as another kind fails too.
        assert!(
            verify_statement::<medshare_model::statements::InstitutionEpochKey>(&t, &k.public())
                .is_err()
        );

        let other = SigningKey::generate();
        assert!(matches!(
            verify_statement::<AllianceKey>(&signed, &other.public()),
            Err(CryptoError::WrongSigner)
        ));
        // A forged signer id does not help another key.
        let mut t = signed.clone();
        t.signer = other.key_id();
        assert!(matches!(
            verify_statement::<AllianceKey>(&t, &other.public()),
            Err(CryptoError::BadSignature)
        ));

        let mut t = signed.clone();
        t.signature = "not base64!".into();
        assert!(matches!(
            verify_statement::<AllianceKey>(&t, &k.public()),
            Err(CryptoError::BadSignature)
        ));
    }
}
