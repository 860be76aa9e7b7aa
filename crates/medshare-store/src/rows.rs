//! Rows as the store reads and writes them.

use medshare_model::api::NewEnrolment;
use medshare_model::statements::Signed;
use medshare_model::{DocumentId, InstitutionId, PatientId, PatientRef, PractitionerId, UploadId};

/// The alliance root, once bootstrapped.
#[derive(Clone, Debug)]
pub struct AllianceRow {
    pub root_public: String,
    pub alliance_key: Signed,
}

/// An institution.
#[derive(Clone, Debug)]
pub struct InstitutionRow {
    pub id: InstitutionId,
    pub name: String,
    pub code: String,
    pub sign_public: Option<String>,
    pub cert: Option<Signed>,
    pub alliance_wrap: Option<String>,
    pub alliance_wrap_epoch: Option<u32>,
    pub created_at: i64,
}

/// Where a practitioner account is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PractitionerStatus {
    /// Enrolment code issued, not redeemed.
    Invited,
    /// Keys and passphrase set, waiting for the institution to certify.
    Enrolled,
    /// Certified: may work with records.
    Certified,
    /// Removed from the institution.
    Removed,
}

impl PractitionerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Enrolled => "enrolled",
            Self::Certified => "certified",
            Self::Removed => "removed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invited" => Self::Invited,
            "enrolled" => Self::Enrolled,
            "certified" => Self::Certified,
            "removed" => Self::Removed,
            _ => return None,
        })
    }
}

/// An invitation to create.
#[derive(Clone, Debug)]
pub struct NewPractitioner {
    pub id: PractitionerId,
    pub institution_id: InstitutionId,
    pub details: NewEnrolment,
    pub enrolment_hash: String,
    pub enrolment_expires: i64,
    pub creates_institution_keys: bool,
    pub created_at: i64,
}

/// A practitioner account.
#[derive(Clone, Debug)]
pub struct PractitionerRow {
    pub id: PractitionerId,
    pub institution_id: InstitutionId,
    pub details: NewEnrolment,
    pub status: PractitionerStatus,
    pub enrolment_expires: Option<i64>,
    pub creates_institution_keys: bool,
    /// JSON of [`medshare_model::api::KdfParams`].
    pub kdf: Option<String>,
    pub credential_hash: Option<String>,
    pub key_bundle: Option<String>,
    pub sign_public: Option<String>,
    pub recipient: Option<String>,
    pub cert: Option<Signed>,
    /// Signed by the institution when the member was removed.
    pub revocation: Option<Signed>,
    pub keyring_wrap: Option<String>,
    pub totp_secret: Option<String>,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
}

/// Redeeming an enrolment.
#[derive(Clone, Debug)]
pub struct Redemption {
    pub id: PractitionerId,
    pub kdf: String,
    pub credential_hash: String,
    pub key_bundle: String,
    pub sign_public: String,
    pub recipient: String,
    pub totp_secret: Option<String>,
    /// For an institution's first admin: (institution sign key, epoch-1 statement, admin cert,
    /// keyring wrap).
    pub institution_setup: Option<(String, Signed, Signed, String)>,
    pub now: i64,
}

/// Removing a member and rotating the institution key.
#[derive(Clone, Debug)]
pub struct Removal {
    pub practitioner: PractitionerId,
    pub institution: InstitutionId,
    pub new_epoch: u32,
    pub statement: Signed,
    /// The institution's signed revocation of the member's certificate.
    pub revocation: Signed,
    pub keyrings: Vec<(PractitionerId, String)>,
    pub alliance_wrap: String,
    pub now: i64,
}

/// A login session (only the token's hash is stored).
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub token_hash: String,
    pub practitioner_id: PractitionerId,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
}

/// A patient key wrap: the patient key of `patient_epoch` sealed to an institution epoch key or
/// the alliance key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientKeyWrapRow {
    pub patient_epoch: u32,
    /// `None` for the alliance.
    pub institution: Option<(InstitutionId, u32)>,
    pub wrap: String,
}

/// A new patient.
#[derive(Clone, Debug)]
pub struct NewPatientRow {
    pub id: PatientId,
    pub refs: Vec<PatientRef>,
    pub card: String,
    pub key_epoch: Signed,
    pub wraps: Vec<PatientKeyWrapRow>,
    pub consents: Vec<medshare_model::api::ConsentHolder>,
    pub created_by: PractitionerId,
    pub created_at: i64,
}

/// A patient.
#[derive(Clone, Debug)]
pub struct PatientRow {
    pub id: PatientId,
    pub card: String,
    pub created_by: PractitionerId,
    pub created_at: i64,
}

/// Ciphertext received but not yet committed.
#[derive(Clone, Debug)]
pub struct StagedUploadRow {
    pub id: UploadId,
    pub practitioner_id: PractitionerId,
    pub size: u64,
    pub sha256: String,
    /// BLAKE3 of the staged bytes, hex (absent for uploads staged before migration 0015).
    pub blake3: Option<String>,
    pub created_at: i64,
}

/// A committed document.
#[derive(Clone, Debug)]
pub struct DocumentRow {
    pub id: DocumentId,
    pub patient_id: PatientId,
    pub uploader: PractitionerId,
    pub institution_id: InstitutionId,
    pub size: u64,
    pub ciphertext_sha256: String,
    pub manifest: String,
    pub binding: Signed,
    pub created_at: i64,
}

/// A document as search orders and filters it, without its manifest and binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentHead {
    pub id: DocumentId,
    pub uploader: PractitionerId,
    pub created_at: i64,
}

/// Which of a patient's documents one search page reads. Search order is newest first by
/// `(created_at, id)`, ids compared as their text (the byte order of the UUID, as
/// `DocumentId`'s `Ord`), so a page boundary is a position no later commit can move.
///
/// The filters only narrow what is read; the caller still decides access on every row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentPage {
    pub patient: PatientId,
    /// Strictly after this `(created_at, id)` in search order.
    pub after: Option<(i64, DocumentId)>,
    /// `(t, viewer)`: only documents filed at or after `t`, or shared with `viewer` at or
    /// after `t` (a grant's `granted_at`, renewed or not).
    pub since: Option<(i64, PractitionerId)>,
    /// Only documents this practitioner uploaded or holds a grant on (live or not).
    pub own_or_shared: Option<PractitionerId>,
    /// At most this many rows.
    pub limit: u32,
}

/// A share of one document with one practitioner.
#[derive(Clone, Debug)]
pub struct GrantRow {
    pub document_id: DocumentId,
    pub grantee: PractitionerId,
    pub granted_by: PractitionerId,
    pub granted_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl GrantRow {
    /// Live at `now`: not revoked and not expired.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// A stored notification.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub seq: i64,
    pub at: i64,
    pub body: String,
}

/// The epoch a key epoch statement (institution or patient) announces.
pub(crate) fn epoch_of(statement: &Signed) -> crate::Result<u32> {
    #[derive(serde::Deserialize)]
    struct E {
        epoch: u32,
    }
    Ok(crate::sql::parse_json::<E>(&statement.payload)?.epoch)
}
