//! Symmetric seals under a key the reader already holds, for the read path of a timeline.
//!
//! A document key is wrapped for the patient's record under a key derived from the patient
//! key epoch's secret, and a document's manifest is sealed under a key derived from the
//! document key. A clinician with patient-wide access then pays one X25519 agreement per
//! patient key epoch (unwrapping that epoch's key with age) and none per document, where age
//! wraps cost one agreement for the key and one for the manifest, per document.
//!
//! Only holders of the secret can make or open these seals, exactly as with age: an uploader
//! who does not hold the patient key still wraps with age to the epoch's public recipient, and
//! readers accept both forms ([`unwrap_key_any`], [`open_manifest`]): documents written before
//! this format open unchanged.
//!
//! Format: `MAGIC` (16 bytes) ‖ 24-byte random nonce ‖ XChaCha20-Poly1305 ciphertext and tag.
//! The key is HKDF-SHA-256 of the secret key's canonical text under a purpose label; the
//! associated data names what the seal is for (patient, epoch and document), so a seal moved
//! to another document or epoch does not open.

use crate::error::CryptoError;
use crate::keys::EncryptionKey;
use crate::seal::{decode_wrap, open_bytes, unwrap_key};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The first bytes of every symmetric seal; an age file starts `age-encryption.org/v1`.
const MAGIC: &[u8; 16] = b"medshare.sym.v2\n";
const NONCE: usize = 24;

/// What a derived key is for: one label per use, so no two uses share a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A document key wrapped under a patient key epoch.
    PatientWrap,
    /// A document's manifest sealed under its document key.
    Manifest,
    /// A client's cache of verified timeline entries, under the practitioner's own key.
    TimelineCache,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::PatientWrap => b"medshare.sym.v2/patient-wrap",
            Self::Manifest => b"medshare.sym.v2/manifest",
            Self::TimelineCache => b"medshare.sym.v2/timeline-cache",
        }
    }
}

fn cipher(key: &EncryptionKey, purpose: Purpose) -> XChaCha20Poly1305 {
    let secret = key.to_secret_string();
    let mut k = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, secret.as_bytes())
        .expand(purpose.label(), &mut *k)
        .expect("32 bytes is a valid HKDF-SHA-256 length");
    XChaCha20Poly1305::new((&*k).into())
}

/// A name for `what` that only the holder of `key` can compute or link to it (HKDF-SHA-256
/// expand, a PRF, under the purpose's label and `/name`): 32 hex digits.
pub fn derived_name(key: &EncryptionKey, purpose: Purpose, what: &[u8]) -> String {
    let secret = key.to_secret_string();
    let mut info = purpose.label().to_vec();
    info.extend_from_slice(b"/name\0");
    info.extend_from_slice(what);
    let mut out = [0u8; 16];
    Hkdf::<Sha256>::new(None, secret.as_bytes())
        .expand(&info, &mut out)
        .expect("16 bytes is a valid HKDF-SHA-256 length");
    hex::encode(out)
}

/// Whether `sealed` is a symmetric seal (rather than an age file).
pub fn is_symmetric(sealed: &[u8]) -> bool {
    sealed.starts_with(MAGIC)
}

/// Seal `plaintext` under a key derived from `key` for `purpose`, bound to `aad`.
pub fn seal(key: &EncryptionKey, purpose: Purpose, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE];
    OsRng.fill_bytes(&mut nonce);
    let ct = cipher(key, purpose)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any length this program handles");
    let mut out = Vec::with_capacity(MAGIC.len() + NONCE + ct.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Open a [`seal`]; the plaintext is wiped when dropped.
pub fn open(
    key: &EncryptionKey,
    purpose: Purpose,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let body = sealed
        .strip_prefix(MAGIC.as_slice())
        .ok_or(CryptoError::Malformed("symmetric seal"))?;
    if body.len() < NONCE {
        return Err(CryptoError::Malformed("symmetric seal"));
    }
    let (nonce, ct) = body.split_at(NONCE);
    cipher(key, purpose)
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

/// What a patient-record wrap of a document key is bound to.
pub fn patient_wrap_aad(patient: &str, epoch: u32, document: &str) -> Vec<u8> {
    format!("patient={patient};epoch={epoch};document={document}").into_bytes()
}

/// Wrap a document key for a patient's record under the epoch's secret key (base64, as every
/// key wrap travels).
pub fn wrap_key_symmetric(patient_key: &EncryptionKey, aad: &[u8], key: &EncryptionKey) -> String {
    let secret = key.to_secret_string();
    B64.encode(seal(
        patient_key,
        Purpose::PatientWrap,
        aad,
        secret.as_bytes(),
    ))
}

/// Unwrap a document key wrapped either way: a symmetric wrap ([`wrap_key_symmetric`], bound to
/// `aad`) or an age wrap to `opener`'s recipient.
pub fn unwrap_key_any(
    opener: &EncryptionKey,
    aad: &[u8],
    wrap_b64: &str,
) -> Result<EncryptionKey, CryptoError> {
    let bytes = decode_wrap(wrap_b64)?;
    if !is_symmetric(&bytes) {
        return unwrap_key(opener, wrap_b64);
    }
    let plain = open(opener, Purpose::PatientWrap, aad, &bytes)?;
    let text = std::str::from_utf8(&plain).map_err(|_| CryptoError::BadKey)?;
    EncryptionKey::from_secret_str(text)
}

/// Seal a document's manifest under its document key, bound to the document's id.
pub fn seal_manifest(document_key: &EncryptionKey, document: &str, manifest: &[u8]) -> Vec<u8> {
    seal(
        document_key,
        Purpose::Manifest,
        document.as_bytes(),
        manifest,
    )
}

/// Open a manifest sealed either way: symmetrically ([`seal_manifest`]) or, as documents
/// written before that format were, as an age file to the document key.
pub fn open_manifest(
    document_key: &EncryptionKey,
    document: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if is_symmetric(sealed) {
        open(document_key, Purpose::Manifest, document.as_bytes(), sealed)
    } else {
        open_bytes(document_key, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{seal_bytes, wrap_key};

    /// A manifest as written before [`seal_manifest`]: an age file to the document key.
    fn seal_manifest_age(document_key: &EncryptionKey, manifest: &[u8]) -> Vec<u8> {
        seal_bytes(&[document_key.recipient()], manifest).unwrap()
    }

    #[test]
    fn a_symmetric_wrap_opens_only_with_its_key_and_binding() {
        let patient = EncryptionKey::generate();
        let doc = EncryptionKey::generate();
        let aad = patient_wrap_aad("p1", 2, "d1");
        let w = wrap_key_symmetric(&patient, &aad, &doc);
        let back = unwrap_key_any(&patient, &aad, &w).unwrap();
        assert_eq!(back.recipient(), doc.recipient());
        // Another key, another document, another epoch, another patient: refused.
        let other = EncryptionKey::generate();
        assert!(unwrap_key_any(&other, &aad, &w).is_err());
        for aad in [
            patient_wrap_aad("p1", 2, "d2"),
            patient_wrap_aad("p1", 1, "d1"),
            patient_wrap_aad("p2", 2, "d1"),
        ] {
            assert!(matches!(
                unwrap_key_any(&patient, &aad, &w),
                Err(CryptoError::Decrypt)
            ));
        }
    }

    #[test]
    fn age_wraps_written_before_still_unwrap() {
        let patient = EncryptionKey::generate();
        let doc = EncryptionKey::generate();
        let w = wrap_key(&patient.recipient(), &doc).unwrap();
        let back = unwrap_key_any(&patient, b"ignored for age", &w).unwrap();
        assert_eq!(back.recipient(), doc.recipient());
    }

    #[test]
    fn manifests_open_in_both_forms_and_tampering_is_refused() {
        let doc = EncryptionKey::generate();
        let m = br#"{"title":"Discharge summary"}"#;
        let new = seal_manifest(&doc, "d1", m);
        assert!(is_symmetric(&new));
        assert_eq!(&open_manifest(&doc, "d1", &new).unwrap()[..], m);
        assert!(open_manifest(&doc, "d2", &new).is_err());
        let old = seal_manifest_age(&doc, m);
        assert!(!is_symmetric(&old));
        assert_eq!(&open_manifest(&doc, "d1", &old).unwrap()[..], m);
        for i in [0, MAGIC.len(), MAGIC.len() + NONCE, new.len() - 1] {
            let mut bad = new.clone();
            bad[i] ^= 1;
            assert!(open_manifest(&doc, "d1", &bad).is_err(), "flip at {i}");
        }
        assert!(open_manifest(&doc, "d1", &new[..MAGIC.len() + 10]).is_err());
        // The manifest key and the patient-wrap key differ even for one secret.
        let as_wrap = seal(&doc, Purpose::PatientWrap, b"d1", m);
        assert!(open(&doc, Purpose::Manifest, b"d1", &as_wrap).is_err());
    }
}
