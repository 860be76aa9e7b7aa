//! What the queue holds for each accepted message: a small header (where it came from, when)
//! and the bytes as received, sealed with age to the gateway's own key before they touch the
//! disk. A copy of `queue.db` without the key file reveals sizes and times, nothing else.

use medshare_crypto::EncryptionKey;
use medshare_crypto::seal::{open_bytes, seal_bytes};
use serde::{Deserialize, Serialize};

/// Which input accepted the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Hl7,
    Dicom,
    Fhir,
    Folder,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hl7 => "hl7",
            Self::Dicom => "dicom",
            Self::Fhir => "fhir",
            Self::Folder => "folder",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Hl7, Self::Dicom, Self::Fhir, Self::Folder]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Facts about a message known when it was accepted. Sealed with the bytes: it may name a
/// patient (a folder's subfolder, a FHIR subject).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Unix seconds.
    pub received_at: i64,
    /// The file name the manifest will carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// A patient identifier given by the input itself (normalised form, e.g. `HKID:A1234563`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// Title, category, date of service given by the input (FHIR DocumentReference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_service: Option<String>,
    /// DICOM: the calling AE title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calling_ae: Option<String>,
}

/// One accepted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub header: Header,
    pub body: Vec<u8>,
}

const MAGIC: &[u8; 8] = b"MSGWENV1";

/// Why a sealed envelope cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the queued item cannot be decrypted with this gateway's key")]
    Decrypt,
    #[error("the queued item is malformed")]
    Format,
}

impl Envelope {
    /// Frame and seal to `recipient` (the gateway's own `age1...`).
    pub fn seal(&self, recipient: &str) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("a header serialises");
        let mut plain = Vec::with_capacity(MAGIC.len() + 4 + header.len() + self.body.len());
        plain.extend_from_slice(MAGIC);
        plain.extend_from_slice(&(header.len() as u32).to_le_bytes());
        plain.extend_from_slice(&header);
        plain.extend_from_slice(&self.body);
        let sealed = seal_bytes(&[recipient.to_string()], &plain)
            .expect("sealing to a checked recipient cannot fail");
        zeroize::Zeroize::zeroize(&mut plain);
        sealed
    }

    /// Open what [`Envelope::seal`] made.
    pub fn open(key: &EncryptionKey, sealed: &[u8]) -> Result<Self, EnvelopeError> {
        let plain = open_bytes(key, sealed).map_err(|_| EnvelopeError::Decrypt)?;
        let rest = plain.strip_prefix(MAGIC).ok_or(EnvelopeError::Format)?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or(EnvelopeError::Format)?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(EnvelopeError::Format);
        }
        let header = serde_json::from_slice(&rest[..len]).map_err(|_| EnvelopeError::Format)?;
        Ok(Self {
            header,
            body: rest[len..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_other_keys_fail() {
        let key = EncryptionKey::generate();
        let e = Envelope {
            header: Header {
                received_at: 7,
                file_name: Some("scan.pdf".into()),
                ..Default::default()
            },
            body: b"MSH|^~\\&|LAB".to_vec(),
        };
        let sealed = e.seal(&key.recipient());
        assert!(!sealed.windows(3).any(|w| w == b"MSH"));
        assert_eq!(Envelope::open(&key, &sealed).unwrap(), e);
        assert!(Envelope::open(&EncryptionKey::generate(), &sealed).is_err());
    }
}
