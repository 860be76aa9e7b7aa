//! Signed statements: the certificates and bindings that let a client check every public key
//! and every document against the alliance root, so a hub cannot substitute keys or move data.
//!
//! A statement is the exact JSON text that was signed (never re-serialised before checking),
//! its kind, the signer's key id and an Ed25519 signature over [`Signed::signing_input`].

use crate::registration::{Profession, Role};
use crate::{ConsultId, DocumentId, Handle, InstitutionId, PatientId, PatientRef, PractitionerId};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// What a statement says; part of the signed bytes, so one kind can never pass for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StatementKind {
    /// [`InstitutionCert`], signed by the alliance root.
    InstitutionCert,
    /// [`InstitutionEpochKey`], signed by the institution.
    InstitutionEpochKey,
    /// [`PractitionerCert`], signed by the practitioner's institution (the real-name check).
    PractitionerCert,
    /// [`AllianceKey`], signed by the alliance root.
    AllianceKey,
    /// [`PatientKeyEpoch`], signed by a certified clinician of a holding institution.
    PatientKeyEpoch,
    /// [`DocumentBinding`], signed by the uploader.
    DocumentBinding,
    /// [`RootCommand`], signed by the alliance root.
    RootCommand,
    /// [`PractitionerRevocation`], signed by the practitioner's institution.
    PractitionerRevocation,
    /// [`ServiceLogin`], signed by a service identity (an institution gateway).
    ServiceLogin,
    /// [`ConsultBinding`], signed by the practitioner asking the consult.
    ConsultBinding,
    /// [`OncallListStatement`], signed by the institution (its administrators hold the key).
    OncallList,
}

impl StatementKind {
    fn tag(self) -> &'static str {
        match self {
            Self::InstitutionCert => "institution-cert",
            Self::InstitutionEpochKey => "institution-epoch-key",
            Self::PractitionerCert => "practitioner-cert",
            Self::AllianceKey => "alliance-key",
            Self::PatientKeyEpoch => "patient-key-epoch",
            Self::DocumentBinding => "document-binding",
            Self::RootCommand => "root-command",
            Self::PractitionerRevocation => "practitioner-revocation",
            Self::ServiceLogin => "service-login",
            Self::ConsultBinding => "consult-binding",
            Self::OncallList => "oncall-list",
        }
    }
}

/// A payload whose kind is fixed by its type.
pub trait Statement: Serialize + DeserializeOwned {
    /// The kind this payload is signed as.
    const KIND: StatementKind;
}

/// A signed statement as stored and served by the hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signed {
    /// What the payload is.
    pub kind: StatementKind,
    /// The exact JSON text that was signed.
    pub payload: String,
    /// Key id (see [`key_id`]) of the signing key.
    pub signer: String,
    /// Ed25519 signature, base64.
    pub signature: String,
}

/// Why a statement could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("statement is a {found:?}, expected {expected:?}")]
    WrongKind {
        expected: StatementKind,
        found: StatementKind,
    },
    #[error("statement payload is malformed")]
    Payload,
    #[error("statement signature is malformed")]
    Signature,
}

impl Signed {
    /// The bytes an Ed25519 signature covers: a domain tag, the kind and the payload.
    pub fn signing_input(kind: StatementKind, payload: &str) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + payload.len());
        v.extend_from_slice(b"medshare/v1/statement\0");
        v.extend_from_slice(kind.tag().as_bytes());
        v.push(0);
        v.extend_from_slice(payload.as_bytes());
        v
    }

    /// Parse the payload as `T`, checking the kind (the signature is checked elsewhere).
    pub fn payload_as<T: Statement>(&self) -> Result<T, StatementError> {
        if self.kind != T::KIND {
            return Err(StatementError::WrongKind {
                expected: T::KIND,
                found: self.kind,
            });
        }
        serde_json::from_str(&self.payload).map_err(|_| StatementError::Payload)
    }

    /// SHA-256 (hex) of the signed bytes: how a later statement names this one.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(Self::signing_input(
            self.kind,
            &self.payload,
        )))
    }

    /// The signature bytes.
    pub fn signature_bytes(&self) -> Result<[u8; 64], StatementError> {
        let v = B64
            .decode(&self.signature)
            .map_err(|_| StatementError::Signature)?;
        v.try_into().map_err(|_| StatementError::Signature)
    }
}

/// Key id of an Ed25519 public key: hex of the first 16 bytes of its SHA-256.
pub fn key_id(public: &[u8; 32]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(public)[..16])
}

/// Human-comparable fingerprint of a public key: SHA-256 in groups of four hex digits.
pub fn fingerprint(public: &[u8; 32]) -> String {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(public));
    h.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(":")
}

/// Base64 of a 32-byte public key, as carried in statements.
pub fn encode_key(public: &[u8; 32]) -> String {
    B64.encode(public)
}

/// Inverse of [`encode_key`].
pub fn decode_key(text: &str) -> Option<[u8; 32]> {
    B64.decode(text).ok()?.try_into().ok()
}

/// The alliance root certifies an institution's signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionCert {
    pub institution_id: InstitutionId,
    pub name: String,
    /// Short code, e.g. `QMH`.
    pub code: String,
    /// Ed25519 public key, base64.
    pub sign_public: String,
    pub issued_at: i64,
}
impl Statement for InstitutionCert {
    const KIND: StatementKind = StatementKind::InstitutionCert;
}

/// An institution publishes the encryption key of one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionEpochKey {
    pub institution_id: InstitutionId,
    pub epoch: u32,
    /// age X25519 recipient (`age1...`).
    pub recipient: String,
    pub issued_at: i64,
}
impl Statement for InstitutionEpochKey {
    const KIND: StatementKind = StatementKind::InstitutionEpochKey;
}

/// An institution vouches for a practitioner's real identity and keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PractitionerCert {
    pub practitioner_id: PractitionerId,
    pub institution_id: InstitutionId,
    pub handle: Handle,
    pub name: String,
    pub profession: Profession,
    pub registration: String,
    pub specialty: Option<String>,
    pub roles: Vec<Role>,
    /// Ed25519 public key, base64.
    pub sign_public: String,
    /// age X25519 recipient (`age1...`).
    pub recipient: String,
    pub issued_at: i64,
}
impl Statement for PractitionerCert {
    const KIND: StatementKind = StatementKind::PractitionerCert;
}

/// An institution withdraws its certification of a practitioner (removal from the institution).
/// Clients that see it never seal anything to that practitioner again, nor accept a statement
/// they signed after `revoked_at`, and remember it even if a hub later hides it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PractitionerRevocation {
    pub practitioner_id: PractitionerId,
    pub institution_id: InstitutionId,
    pub revoked_at: i64,
}
impl Statement for PractitionerRevocation {
    const KIND: StatementKind = StatementKind::PractitionerRevocation;
}

/// The alliance-wide encryption key, for patients who consent to share with the whole alliance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllianceKey {
    pub recipient: String,
    pub issued_at: i64,
}
impl Statement for AllianceKey {
    const KIND: StatementKind = StatementKind::AllianceKey;
}

/// A patient record key of one epoch, and who holds it. Each epoch names the digest of the
/// previous one, so the patient's key history is a chain a hub can neither fork nor truncate
/// below what a client saw. Every consent change starts a new epoch.
///
/// Who may sign: epoch 1 by a certified clinician of the registering institution (which is then
/// its holder); epoch n+1 only by a certified clinician of an institution named as a holder in
/// epoch n (the alliance-wide consent does not count: it lets an institution read, not change
/// consent). Clients check this chain before sealing anything to a patient key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientKeyEpoch {
    pub patient_id: PatientId,
    pub epoch: u32,
    /// [`Signed::digest`] of epoch `epoch - 1`; `None` for epoch 1.
    pub previous: Option<String>,
    /// age X25519 recipient of this epoch's patient key.
    pub recipient: String,
    /// Keyed-hash references of the patient's identifiers: the identifiers that may find this
    /// patient. A client checks that the number it searched for is among them, and that every
    /// document's binding names one of them.
    pub refs: Vec<PatientRef>,
    /// Who holds the patient's consent, and so this epoch's key.
    pub holders: Vec<crate::api::ConsentHolder>,
    /// The practitioner who created this epoch and signed the statement.
    pub signed_by: PractitionerId,
    /// The signer's institution (checked against the signer's certificate).
    pub institution_id: InstitutionId,
    pub issued_at: i64,
    /// Signed by a service identity (an institution gateway), not a person. Must agree with the
    /// signer's certificate; absent (false) in everything a person signs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub service: bool,
}

impl PatientKeyEpoch {
    /// Whether `institution` is named as a holder (explicitly, not through the alliance).
    pub fn names_institution(&self, institution: InstitutionId) -> bool {
        self.holders.iter().any(
            |h| matches!(h, crate::api::ConsentHolder::Institution { id } if *id == institution),
        )
    }
}
impl Statement for PatientKeyEpoch {
    const KIND: StatementKind = StatementKind::PatientKeyEpoch;
}

/// The uploader binds a document's bytes and manifest to a patient: age has no associated data,
/// so this is what stops a hub from moving, swapping or altering documents unnoticed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentBinding {
    pub document_id: DocumentId,
    pub patient_id: PatientId,
    pub patient_ref: PatientRef,
    /// SHA-256 of the ciphertext, hex: the digest of bindings signed before BLAKE3 (empty, and
    /// not serialized, in bindings that name [`Self::ciphertext_blake3`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ciphertext_sha256: String,
    pub ciphertext_size: u64,
    /// SHA-256 of the manifest ciphertext, hex.
    pub manifest_sha256: String,
    pub uploader: PractitionerId,
    pub uploader_key: String,
    pub signed_at: i64,
    /// Signed by a service identity (an institution gateway), not a person. Must agree with the
    /// uploader's certificate; absent (false) in everything a person signs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub service: bool,
    /// Hex SHA-256 commitment to the document key (`medshare_crypto::commitment`): every
    /// reader refuses a key that does not match, so every grantee opens the same manifest and
    /// content. Absent in bindings signed before it existed (their readers check the manifest's
    /// plaintext hash instead); serialized only when present, so their signatures still verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_key_commitment: Option<String>,
    /// BLAKE3 of the ciphertext, hex: what uploads sign since the seventh session (absent in
    /// older bindings, which name [`Self::ciphertext_sha256`]). The algorithm is part of the
    /// signed payload, so a hub cannot swap one digest for the other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_blake3: Option<String>,
}
impl Statement for DocumentBinding {
    const KIND: StatementKind = StatementKind::DocumentBinding;
}

/// The digest of a document's ciphertext a [`DocumentBinding`] names, with its algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CiphertextDigest<'a> {
    /// Lowercase hex SHA-256 (bindings signed before BLAKE3).
    Sha256(&'a str),
    /// Lowercase hex BLAKE3.
    Blake3(&'a str),
}

impl CiphertextDigest<'_> {
    /// The hex digest.
    pub fn hex(&self) -> &str {
        match self {
            Self::Sha256(h) | Self::Blake3(h) => h,
        }
    }
}

impl DocumentBinding {
    /// The ciphertext digest readers check: BLAKE3 when the binding names one, else SHA-256.
    pub fn ciphertext_digest(&self) -> CiphertextDigest<'_> {
        match &self.ciphertext_blake3 {
            Some(b) => CiphertextDigest::Blake3(b),
            None => CiphertextDigest::Sha256(&self.ciphertext_sha256),
        }
    }
    /// Whether every ciphertext digest the binding names matches bytes whose SHA-256 and BLAKE3
    /// (hex) are given: what the hub checks on upload. A binding naming no digest never matches.
    pub fn names_ciphertext(&self, sha256_hex: &str, blake3_hex: Option<&str>) -> bool {
        let sha_ok = self.ciphertext_sha256.is_empty() || self.ciphertext_sha256 == sha256_hex;
        let blake_ok = match &self.ciphertext_blake3 {
            Some(b) => Some(b.as_str()) == blake3_hex,
            None => !self.ciphertext_sha256.is_empty(),
        };
        sha_ok && blake_ok
    }
}

/// A service identity (an institution gateway) proves it holds its certified signing key to
/// open a session: it has no passphrase. Accepted once (the nonce), within minutes of
/// `issued_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLogin {
    pub practitioner_id: PractitionerId,
    /// Random, single use.
    pub nonce: String,
    pub issued_at: i64,
}
impl Statement for ServiceLogin {
    const KIND: StatementKind = StatementKind::ServiceLogin;
}

/// An action only the holder of the alliance root may take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCommand {
    /// Random, single use.
    pub nonce: String,
    pub issued_at: i64,
    pub action: RootAction,
}
impl Statement for RootCommand {
    const KIND: StatementKind = StatementKind::RootCommand;
}

/// The actions of [`RootCommand`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum RootAction {
    /// Register an institution and its first administrator's enrolment.
    AddInstitution {
        institution_id: InstitutionId,
        name: String,
        code: String,
        admin: crate::api::NewEnrolment,
    },
    /// Certify an institution's signing key, handing it the alliance secrets wrapped to its
    /// first epoch key.
    CertifyInstitution {
        cert: Signed,
        /// age ciphertext of [`crate::api::AllianceSecrets`] JSON to the institution's epoch key.
        alliance_wrap: String,
    },
}

/// The practitioner asking an urgent consult binds its sealed question to the consult, the
/// patient and the people it may reach (in escalation order): a hub cannot swap the patient,
/// redirect the question or hand a recipient someone else's question unnoticed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsultBinding {
    pub consult_id: ConsultId,
    pub patient_id: PatientId,
    pub requester: PractitionerId,
    /// Who the consult goes to, in escalation order (the on-call list's owner last).
    pub chain: Vec<PractitionerId>,
    /// SHA-256 of the sealed question, hex.
    pub question_sha256: String,
    /// Seconds each recipient has to acknowledge.
    pub ack_within_secs: i64,
    pub signed_at: i64,
    /// For a consult to an on-call list: the signed list the chain was taken from, so every
    /// recipient can check the chain (and their place on it) against the institution's list.
    /// Absent for a consult to a named colleague.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oncall: Option<OncallRef>,
}
impl Statement for ConsultBinding {
    const KIND: StatementKind = StatementKind::ConsultBinding;
}

/// Which signed on-call list a consult's chain was taken from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OncallRef {
    pub institution_id: InstitutionId,
    pub name: String,
    pub version: u64,
    /// [`Signed::digest`] of the list's statement.
    pub sha256: String,
}

/// How long an on-call list is valid when its administrator does not say.
pub const ONCALL_DEFAULT_VALIDITY_SECS: i64 = 14 * 24 * 3600;
/// The longest an on-call list may be valid: a hub can keep serving a replaced list (hiding
/// the newer one from a client that never saw it) at most until the older one expires.
pub const ONCALL_MAX_VALIDITY_SECS: i64 = 90 * 24 * 3600;

/// An institution's on-call list (a specialty rota), signed with the institution's key (held by
/// its administrators, certified by the alliance root): the hub stores and serves it as given,
/// so it can neither lengthen, shorten nor reorder the list, nor put a member of its choosing
/// on it. `version` only grows; clients remember the highest seen per list (no rollback).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OncallListStatement {
    pub institution_id: InstitutionId,
    /// The list's name, e.g. `cardiology`.
    pub name: String,
    /// Reached last, after every member let their window pass.
    pub owner: PractitionerId,
    /// Tried in this order.
    pub members: Vec<PractitionerId>,
    /// Greater than the version of the list it replaces.
    pub version: u64,
    /// The administrator who signed it (for the record; the signature is the institution's).
    pub signed_by: PractitionerId,
    pub issued_at: i64,
    /// Unix time after which clients refuse the list (at most [`ONCALL_MAX_VALIDITY_SECS`]
    /// after `issued_at`). Lists signed before lists carried it have none and count as valid
    /// for [`ONCALL_DEFAULT_VALIDITY_SECS`] after `issued_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
}

impl OncallListStatement {
    /// When the list stops being valid.
    pub fn expires_at(&self) -> i64 {
        self.valid_until
            .unwrap_or_else(|| self.issued_at.saturating_add(ONCALL_DEFAULT_VALIDITY_SECS))
    }

    /// Why the list cannot be used at `now` (unix seconds), if it cannot: expired, or valid
    /// for longer than [`ONCALL_MAX_VALIDITY_SECS`] (or until before it was issued).
    pub fn unusable_at(&self, now: i64) -> Option<&'static str> {
        let until = self.expires_at();
        if until <= self.issued_at
            || until.saturating_sub(self.issued_at) > ONCALL_MAX_VALIDITY_SECS
        {
            Some("an on-call list's validity is between 1 second and 90 days after it was signed")
        } else if now >= until {
            Some(
                "the on-call list has expired: an administrator of its institution must set it \
                 again (`medshare oncall set`)",
            )
        } else {
            None
        }
    }

    /// Everyone a consult to this list may reach, in escalation order: the members, then the
    /// owner (unless the owner is a member already).
    pub fn chain(&self) -> Vec<PractitionerId> {
        let mut c = self.members.clone();
        if !c.contains(&self.owner) {
            c.push(self.owner);
        }
        c
    }
}
impl Statement for OncallListStatement {
    const KIND: StatementKind = StatementKind::OncallList;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(sha256: &str, blake3: Option<&str>) -> DocumentBinding {
        DocumentBinding {
            document_id: DocumentId::new(),
            patient_id: PatientId::new(),
            patient_ref: PatientRef::from_bytes(&[7; 32]),
            ciphertext_sha256: sha256.into(),
            ciphertext_size: 10,
            manifest_sha256: "m".into(),
            uploader: PractitionerId::new(),
            uploader_key: "key".into(),
            signed_at: 1_700_000_000,
            service: false,
            document_key_commitment: None,
            ciphertext_blake3: blake3.map(Into::into),
        }
    }

    /// The hub's upload check: every digest named must match what it received, and a binding
    /// must name one.
    #[test]
    fn a_binding_names_the_ciphertext_by_every_digest_it_states() {
        let (sha, b3) = ("aa", "bb");
        assert!(binding(sha, None).names_ciphertext(sha, Some(b3)));
        assert!(binding(sha, None).names_ciphertext(sha, None));
        assert!(!binding("cc", None).names_ciphertext(sha, Some(b3)));
        assert!(binding("", Some(b3)).names_ciphertext(sha, Some(b3)));
        assert!(!binding("", Some("cc")).names_ciphertext(sha, Some(b3)));
        // A hub without the BLAKE3 of the upload (staged before migration 0015) refuses it.
        assert!(!binding("", Some(b3)).names_ciphertext(sha, None));
        assert!(binding(sha, Some(b3)).names_ciphertext(sha, Some(b3)));
        assert!(!binding("cc", Some(b3)).names_ciphertext(sha, Some(b3)));
        assert!(!binding("", None).names_ciphertext(sha, Some(b3)));
        assert!(!binding("", None).names_ciphertext("", None));
        assert_eq!(
            binding(sha, Some(b3)).ciphertext_digest(),
            CiphertextDigest::Blake3(b3)
        );
        assert_eq!(
            binding(sha, None).ciphertext_digest(),
            CiphertextDigest::Sha256(sha)
        );
        // The older format serializes exactly as before (its signatures are over that text).
        let old = serde_json::to_string(&binding(sha, None)).unwrap();
        assert!(old.contains("\"ciphertext_sha256\":\"aa\"") && !old.contains("blake3"));
        let new = serde_json::to_string(&binding("", Some(b3))).unwrap();
        assert!(new.contains("\"ciphertext_blake3\":\"bb\"") && !new.contains("sha256\":\"\""));
    }
}
