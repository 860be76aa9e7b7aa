//! Newtype ids so a document id can never be passed where a practitioner id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A document (one uploaded record).
    DocumentId
);
uuid_id!(
    /// A practitioner account (doctor, allied health staff, admin, privacy officer).
    PractitionerId
);
uuid_id!(
    /// An institution (hospital, clinic).
    InstitutionId
);
uuid_id!(
    /// A patient record (the hub never sees who the patient is).
    PatientId
);
uuid_id!(
    /// A ciphertext upload waiting in staging for its commit.
    UploadId
);
uuid_id!(
    /// A pending enrolment.
    EnrolmentId
);
uuid_id!(
    /// A case room (an MLS group whose delivery service is the hub).
    RoomId
);
uuid_id!(
    /// A sealed attachment of a case room (a voice note's ciphertext), served to current
    /// members only; its key travels inside the room's MLS messages.
    RoomBlobId
);
uuid_id!(
    /// An urgent consult (a sealed question with an acknowledgement deadline).
    ConsultId
);

/// Keyed hash (HMAC-SHA-256, lowercase hex) of a normalised patient identifier: the only form in
/// which the hub ever sees a patient number.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct PatientRef(String);

impl PatientRef {
    /// Wrap 32 hash bytes.
    pub fn from_bytes(b: &[u8; 32]) -> Self {
        Self(hex::encode(b))
    }
    /// The lowercase hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PatientRef {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s))
        } else {
            Err("patient reference must be 64 lowercase hex characters")
        }
    }
}

impl From<PatientRef> for String {
    fn from(p: PatientRef) -> String {
        p.0
    }
}

impl fmt::Display for PatientRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login name such as `dr.chan` (lowercase letters, digits, `.`, `-`, `_`; 3..=64).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct Handle(String);

impl Handle {
    /// The handle as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Handle {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ok = (3..=64).contains(&s.len())
            && s.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_'))
            && s.as_bytes()[0].is_ascii_alphanumeric();
        if ok {
            Ok(Self(s))
        } else {
            Err("handle must be 3-64 characters: lowercase letters, digits, '.', '-' or '_'")
        }
    }
}

impl FromStr for Handle {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_string())
    }
}

impl From<Handle> for String {
    fn from(h: Handle) -> String {
        h.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_ref_accepts_only_hex_hashes() {
        assert!(PatientRef::try_from("ab".repeat(32)).is_ok());
        assert!(PatientRef::try_from("AB".repeat(32)).is_err());
        assert!(PatientRef::try_from("A1234563".to_string()).is_err());
    }

    #[test]
    fn handles_are_restricted() {
        assert!("dr.chan".parse::<Handle>().is_ok());
        assert!("Dr Chan".parse::<Handle>().is_err());
        assert!(".x1".parse::<Handle>().is_err());
    }
}
