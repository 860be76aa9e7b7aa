//! The patient-number blind index: a keyed hash (HMAC-SHA-256) of a normalised identifier, so
//! the hub can match patients without ever learning their numbers.

use crate::CryptoError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use medshare_model::PatientRef;
use medshare_model::identifiers::PatientIdentifier;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

const PATIENT_REF_DOMAIN: &[u8] = b"medshare/v1/patient-ref\0";

/// The alliance-wide HMAC key for patient references. Wiped when dropped; `Debug` redacts.
#[derive(Clone)]
pub struct SearchKey(Zeroizing<[u8; 32]>);

impl SearchKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut *key);
        Self(key)
    }

    /// Parse the base64 form (32 bytes).
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(B64.decode(s.trim()).map_err(|_| CryptoError::BadKey)?);
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::BadKey)?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// The base64 form, wiped when dropped.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(*self.0))
    }

    /// The blind index of one identifier:
    /// `HMAC-SHA-256(key, "medshare/v1/patient-ref\0" || normalised identifier)`.
    pub fn patient_ref(&self, id: &PatientIdentifier) -> PatientRef {
        let normalized = Zeroizing::new(id.normalized());
        PatientRef::from_bytes(&hmac_sha256(
            &*self.0,
            &[PATIENT_REF_DOMAIN, normalized.as_bytes()],
        ))
    }
}

impl fmt::Debug for SearchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SearchKey(<redacted>)")
    }
}

/// HMAC-SHA-256 of the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_known_answers() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(
                b"Jefe",
                &[b"what do ya ", b"want for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Computed independently with Python's hmac module:
        // hmac.new(bytes(range(32)), b"medshare/v1/patient-ref\x00HKID:A1234563", sha256)
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let key = SearchKey::from_base64(&B64.encode(key)).unwrap();
        let id: PatientIdentifier = "A123456(3)".parse().unwrap();
        assert_eq!(
            key.patient_ref(&id).as_str(),
            "2b00eefce94644432affaf4f5f3aa8aecdf3235b462f7ed80c4e112b7d868382"
        );
    }

    #[test]
    fn stable_across_spellings_and_distinct_across_keys() {
        let key = SearchKey::generate();
        let spellings = [
            "A123456(3)",
            "a1234563",
            "HKID: A123456 (3)",
            "hkid a123456(3)",
        ];
        let refs: Vec<PatientRef> = spellings
            .iter()
            .map(|s| key.patient_ref(&s.parse().unwrap()))
            .collect();
        assert!(refs.windows(2).all(|w| w[0] == w[1]));

        let other = SearchKey::generate();
        assert_ne!(other.patient_ref(&spellings[0].parse().unwrap()), refs[0]);
        let other_patient: PatientIdentifier = "G123456(A)".parse().unwrap();
        assert_ne!(key.patient_ref(&other_patient), refs[0]);

        let again = SearchKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(again.patient_ref(&spellings[1].parse().unwrap()), refs[0]);
        assert!(!format!("{key:?}").contains(key.to_base64().as_str()));
        assert!(matches!(
            SearchKey::from_base64("AAAA"),
            Err(CryptoError::BadKey)
        ));
    }
}
