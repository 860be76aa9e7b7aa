//! What clients seal: the document manifest and the patient card. The hub only ever holds these
//! as age ciphertext.

use serde::{Deserialize, Serialize};

/// Everything a person would read about a document besides its content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub title: String,
    pub file_name: String,
    pub media_type: String,
    /// Document class, e.g. `lab-report`, `imaging-report`, `discharge-summary`.
    pub category: String,
    /// ISO 8601 date of service, when known.
    pub date_of_service: Option<String>,
    /// Plaintext size in bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// Anything classification adds (codes, observations), kept opaque here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<serde_json::Value>,
    /// The uploader (or a gateway's rules) flagged the document urgent, e.g. critical lab
    /// values. Sealed like everything else here: the hub never learns it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub urgent: bool,
}

/// Who the patient is, readable by holders of the patient record key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientCard {
    pub name: Option<String>,
    /// ISO 8601 date.
    pub birth_date: Option<String>,
    pub sex: Option<String>,
}
