//! HTTP API request and response bodies (JSON). Binary ciphertext travels as raw request and
//! response bodies; small ciphertexts (manifests, key wraps, cards) travel as base64 strings.

use crate::registration::{Profession, Role};
use crate::statements::Signed;
use crate::{
    DocumentId, Handle, InstitutionId, PatientId, PatientRef, PractitionerId, RoomBlobId, RoomId,
    UploadId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `GET /v1/alliance`: what a client pins on first contact.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AllianceInfo {
    /// Alliance root Ed25519 public key, base64.
    pub root_public: String,
    pub root_fingerprint: String,
    pub alliance_key: Signed,
}

/// `POST /v1/alliance/bootstrap`: the first and only time the hub learns its root key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BootstrapRequest {
    /// One-time token the hub wrote to its data folder at first start.
    pub bootstrap_token: String,
    pub root_public: String,
    pub alliance_key: Signed,
}

/// The secrets every member of a certified institution holds (wrapped to its epoch key).
#[derive(Clone, Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct AllianceSecrets {
    /// HMAC-SHA-256 key for patient references, base64.
    pub search_key: String,
    /// age identity of the alliance-wide key (`AGE-SECRET-KEY-1...`).
    pub alliance_identity: String,
}

/// `POST /v1/alliance/commands`: a [`crate::statements::RootCommand`] signed by the root.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RootCommandRequest {
    pub command: Signed,
}

/// Who is being enrolled; the institution admin (or, for an institution's first admin, the
/// alliance root) vouches for these details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewEnrolment {
    pub handle: Handle,
    pub name: String,
    pub profession: Profession,
    pub registration: String,
    pub specialty: Option<String>,
    pub roles: Vec<Role>,
}

/// A one-time enrolment code: shown once, handed over out of band.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentCode {
    pub practitioner_id: PractitionerId,
    pub code: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// `POST /v1/enrolments/lookup`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentLookup {
    pub code: String,
}

/// What an enrolment code is for.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentInfo {
    pub practitioner_id: PractitionerId,
    pub institution: InstitutionSummary,
    pub details: NewEnrolment,
    /// True for an institution's first administrator: the enrolling client also creates the
    /// institution's keys.
    pub creates_institution_keys: bool,
}

/// Argon2id parameters for a user's passphrase, stored per user so they can be raised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KdfParams {
    /// Salt, base64 (16 bytes).
    pub salt: String,
    /// Memory in KiB.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

/// `POST /v1/enrolments/redeem`: keys are generated on the client; only public keys, the
/// encrypted key bundle and a derived login credential reach the hub.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RedeemEnrolment {
    pub code: String,
    pub kdf: KdfParams,
    /// Login credential derived from the passphrase, base64.
    pub credential: String,
    /// The practitioner's secret keys sealed under the passphrase-derived key, base64.
    pub key_bundle: String,
    pub sign_public: String,
    pub recipient: String,
    /// Present when [`EnrolmentInfo::creates_institution_keys`].
    pub institution_setup: Option<InstitutionSetup>,
}

/// Keys an institution's first administrator creates.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InstitutionSetup {
    pub sign_public: String,
    pub epoch_key: Signed,
    /// The administrator's own certificate, signed by the new institution key.
    pub admin_cert: Signed,
    /// The institution keyring sealed to the administrator, base64.
    pub keyring_wrap: String,
}

/// Result of redeeming an enrolment.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Enrolled {
    pub practitioner_id: PractitionerId,
    /// `otpauth://` URI of the TOTP secret; shown once. Absent when TOTP is disabled (sandbox).
    pub totp_uri: Option<String>,
}

/// `POST /v1/auth/prelogin`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PreloginRequest {
    pub handle: Handle,
}

/// `POST /v1/auth/login`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub handle: Handle,
    pub credential: String,
    pub totp: Option<String>,
}

/// `POST /v1/auth/service-login`: a service identity logs in with a signed
/// [`crate::statements::ServiceLogin`] (the answer is a [`LoginResponse`] without key bundle).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceLoginRequest {
    pub proof: crate::statements::Signed,
}

/// A new session.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub practitioner_id: PractitionerId,
    pub key_bundle: String,
}

/// An institution as listed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InstitutionSummary {
    pub institution_id: InstitutionId,
    pub name: String,
    pub code: String,
    pub certified: bool,
}

/// An institution's public keys.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InstitutionKeys {
    pub summary: InstitutionSummary,
    /// Signing public key the first admin created (before certification), base64.
    pub sign_public: Option<String>,
    pub cert: Option<Signed>,
    /// Every epoch's key statement, oldest first.
    pub epochs: Vec<Signed>,
}

/// A practitioner's public face: everything a client needs to verify and wrap to them.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PractitionerPublic {
    pub practitioner_id: PractitionerId,
    pub handle: Handle,
    pub institution_id: InstitutionId,
    /// Absent until the institution certifies the practitioner.
    pub cert: Option<Signed>,
    pub institution_cert: Option<Signed>,
    pub active: bool,
    /// Present once the institution removed the practitioner (signed by the institution).
    #[serde(default)]
    pub revocation: Option<Signed>,
}

/// A practitioner waiting for certification, as the admin sees them.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PendingPractitioner {
    pub practitioner_id: PractitionerId,
    pub details: NewEnrolment,
    pub sign_public: String,
    pub recipient: String,
}

/// `POST /v1/practitioners/{id}/certify`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertifyRequest {
    pub cert: Signed,
    /// The institution keyring sealed to the practitioner, base64.
    pub keyring_wrap: String,
}

/// `POST /v1/practitioners/{id}/remove`: the admin removes a member and rotates the
/// institution key to a new epoch, re-sealing the keyring to everyone who stays.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RemoveMemberRequest {
    pub new_epoch: Signed,
    /// The institution's signed revocation of the member's certificate.
    pub revocation: Signed,
    pub keyrings: Vec<MemberKeyring>,
    /// The alliance secrets sealed to the new epoch key, base64.
    pub alliance_wrap: String,
}

/// One member's sealed keyring.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberKeyring {
    pub practitioner_id: PractitionerId,
    pub wrap: String,
}

/// `GET /v1/me`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub public: PractitionerPublic,
    pub details: NewEnrolment,
    /// The institution keyring sealed to me (members only), base64.
    pub keyring_wrap: Option<String>,
    /// The alliance secrets sealed to an institution epoch key, base64, with that epoch.
    pub alliance_wrap: Option<EpochWrap>,
}

/// A ciphertext sealed to one epoch's key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EpochWrap {
    pub epoch: u32,
    pub wrap: String,
}

/// Who a key is sealed to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Holder {
    /// One practitioner's own key.
    Practitioner { id: PractitionerId },
    /// One epoch of an institution's key.
    Institution { id: InstitutionId, epoch: u32 },
    /// The alliance-wide key.
    Alliance,
    /// One epoch of the patient record key.
    Patient { epoch: u32 },
}

/// A key sealed to a holder (age ciphertext, base64).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyWrap {
    pub holder: Holder,
    pub wrap: String,
}

/// One epoch of a patient record key sealed to an institution epoch key or the alliance key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PatientKeyWrap {
    pub patient_epoch: u32,
    /// [`Holder::Institution`] or [`Holder::Alliance`].
    pub holder: Holder,
    pub wrap: String,
}

/// `POST /v1/patients`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewPatient {
    pub patient_id: PatientId,
    /// Keyed hashes of every identifier the creator knows.
    pub refs: Vec<PatientRef>,
    pub key_epoch: Signed,
    /// The epoch-1 patient key sealed to the creator's institution (and the alliance, if so
    /// consented).
    pub wraps: Vec<PatientKeyWrap>,
    /// Patient card (name, birth date, sex) sealed to the patient key, base64.
    pub card: String,
}

/// `POST /v1/patients/lookup` and the patient part of a search.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PatientView {
    pub patient_id: PatientId,
    pub key_epochs: Vec<Signed>,
    /// Patient key wraps the caller's institution (or the alliance) can open.
    pub wraps: Vec<PatientKeyWrap>,
    pub card: String,
    /// Who holds the patient's consent.
    pub consent: Vec<ConsentHolder>,
}

/// Who holds a patient's consent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ConsentHolder {
    Institution { id: InstitutionId },
    Alliance,
}

/// `POST /v1/patients/lookup`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PatientLookup {
    pub refs: Vec<PatientRef>,
}

/// `POST /v1/patients/{id}/consent`: a new patient key epoch whose holders add `to`, sealed to
/// every holder, and every earlier epoch sealed to `to` (so it can read the past too).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentGrant {
    pub to: ConsentHolder,
    pub new_epoch: Signed,
    pub wraps: Vec<PatientKeyWrap>,
}

/// `POST /v1/patients/{id}/consent/revoke`: the hub deletes the holder's wraps; the client
/// starts a new patient key epoch sealed to the remaining holders.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentRevoke {
    pub from: ConsentHolder,
    pub new_epoch: Signed,
    pub wraps: Vec<PatientKeyWrap>,
}

/// `POST /v1/patients/{id}/care`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CareRequest {
    /// Defaults to the caller.
    pub practitioner: Option<PractitionerId>,
}

/// `POST /v1/patients/{id}/break-glass`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassRequest {
    /// Why emergency access is needed, sealed on the client to the caller's institution key
    /// (current epoch) so its privacy officers can read it and the hub cannot; base64.
    pub reason: String,
    /// The institution epoch the reason is sealed to.
    pub reason_epoch: u32,
}

/// An open break-glass window.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassGranted {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// Result of streaming ciphertext to `PUT /v1/uploads/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Uploaded {
    pub upload_id: UploadId,
    pub size: u64,
    pub sha256: String,
    /// BLAKE3 of what the hub received, hex (what a binding names since the seventh session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
}

/// How much of an upload sent in parts (`PUT /v1/uploads/{id}/parts/{offset}`) the hub holds.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadProgress {
    pub upload_id: UploadId,
    /// Bytes received so far: the offset of the next part.
    pub received: u64,
}

/// A share given at upload or later.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewGrant {
    pub grantee: PractitionerId,
    /// The document key sealed to the grantee, base64.
    pub wrap: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// `POST /v1/documents`: commit a staged upload as a document.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CommitDocument {
    pub document_id: DocumentId,
    pub upload_id: UploadId,
    pub patient_id: PatientId,
    pub binding: Signed,
    /// Manifest sealed to the document key, base64.
    pub manifest: String,
    pub wraps: Vec<KeyWrap>,
    pub grants: Vec<NewGrant>,
}

/// A document as a reader receives it: routing metadata, the sealed manifest, the binding and
/// the key wraps this reader can use.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentView {
    pub document_id: DocumentId,
    pub patient_id: PatientId,
    pub uploader: PractitionerId,
    pub institution_id: InstitutionId,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    pub manifest: String,
    pub binding: Signed,
    pub wraps: Vec<KeyWrap>,
}

/// `POST /v1/search`: one page of what the caller may read about a patient, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchRequest {
    pub patient_ref: PatientRef,
    /// Entries per page: default [`SearchRequest::DEFAULT_LIMIT`], at most
    /// [`SearchRequest::MAX_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The [`SearchResult::next`] of the previous page (send the same `since` with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The [`SearchResult::as_of`] of an earlier search: only entries that became readable
    /// since then, and (on the first page) the ids of every entry still readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

impl SearchRequest {
    /// About what one screen shows.
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;

    /// The first page of everything readable.
    pub fn first(patient_ref: PatientRef) -> Self {
        Self {
            patient_ref,
            limit: None,
            cursor: None,
            since: None,
        }
    }
}

/// One page: the patient (on the first page), the page's documents, and each uploader's
/// certificates once (entries refer to them by index).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    pub patient: Option<PatientView>,
    pub documents: Vec<SearchEntry>,
    pub practitioners: Vec<PractitionerPublic>,
    /// Opaque cursor of the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Opaque hub time of this answer: the `since` of the next view.
    pub as_of: String,
    /// With `since`, on the first page: every document the caller may read now. A cached entry
    /// not listed is gone (revoked, expired, removed); a listed one neither cached nor sent
    /// calls for a full search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Vec<DocumentId>>,
}

/// A document on a search page, compact: what the signed binding already says (document,
/// patient, uploader, size) is not repeated.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchEntry {
    /// Index of the uploader in [`SearchResult::practitioners`].
    pub uploader: u32,
    pub institution_id: InstitutionId,
    /// When the hub filed it, Unix seconds.
    pub created_at: i64,
    /// The exact JSON text of the uploader's
    /// [`crate::statements::DocumentBinding`] (the payload of a `document-binding` statement).
    pub binding: String,
    /// Ed25519 signature of the binding, base64.
    pub signature: String,
    /// Manifest sealed to the document key, base64.
    pub manifest: String,
    pub wraps: Vec<KeyWrap>,
}

/// One grant as the uploader sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantInfo {
    pub grantee: PractitionerId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub granted_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

/// What happened, as a notification. Ids only, never health information.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    Shared {
        document_id: DocumentId,
        patient_id: PatientId,
        by: PractitionerId,
    },
    Revoked {
        document_id: DocumentId,
        by: PractitionerId,
    },
    BreakGlass {
        patient_id: PatientId,
        by: PractitionerId,
    },
    Uploaded {
        document_id: DocumentId,
        patient_id: PatientId,
        by: PractitionerId,
    },
    Certified {
        practitioner_id: PractitionerId,
    },
    /// Something new in a room the recipient belongs to (a message or a membership change).
    RoomActivity {
        room_id: RoomId,
        seq: i64,
        by: PractitionerId,
    },
    /// The recipient was added to a room: their welcome is waiting.
    RoomInvited {
        room_id: RoomId,
        by: PractitionerId,
    },
    /// A step of an urgent consult the recipient asked or is asked (no health information:
    /// the question stays sealed).
    Consult {
        consult_id: crate::ConsultId,
        step: crate::consults::ConsultStepKind,
        by: PractitionerId,
    },
    /// For privacy officers: an access pattern worth a look.
    AccessAlert {
        rule: AlertRule,
        practitioner_id: PractitionerId,
        /// How many patients or refusals inside the rule's window.
        count: i64,
    },
}

/// The suspicious-access rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AlertRule {
    /// Many patients' records read without a standing care relationship.
    ManyPatients,
    /// Many refused requests.
    RepeatedDenials,
}

impl AlertRule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManyPatients => "many-patients",
            Self::RepeatedDenials => "repeated-denials",
        }
    }
}

/// `PUT /v1/patients/{id}/contact`: where the patient is told about reads of their records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PatientContact {
    /// An HTTPS endpoint that receives a JSON notice (time, reading institution, reference).
    Webhook { url: String },
}

/// A break-glass record for the practitioner's privacy officers: the reason is sealed to the
/// institution and only their keyring opens it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassRecord {
    pub id: i64,
    pub patient_id: PatientId,
    pub practitioner_id: PractitionerId,
    /// base64 of the reason sealed to the institution's epoch key `reason_epoch`.
    pub reason: String,
    pub reason_epoch: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// A stored notification.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Increasing per hub; `since` cursors use it.
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub event: EventKind,
}

/// `GET /health` and `GET /ready`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// `GET /v1/documents/{id}`: the document and its uploader's certificates.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentDetail {
    pub document: DocumentView,
    pub uploader: PractitionerPublic,
}

// ---- Case rooms: the hub as the MLS (RFC 9420) delivery service -------------------------------
// Every `body`, `key_package`, `commit` and `welcome` below is an MLS message, TLS-encoded and
// base64: the hub stores and orders them and cannot read them.

/// `POST /v1/rooms/key-packages`: the caller's MLS key packages, each consumed by one invitation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyPackageUpload {
    pub key_packages: Vec<String>,
}

/// How many of the caller's key packages the hub still holds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyPackageCount {
    pub available: i64,
}

/// `POST /v1/practitioners/{id}/key-package`: one key package of that practitioner, consumed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimedKeyPackage {
    pub practitioner_id: PractitionerId,
    pub key_package: String,
}

/// `POST /v1/rooms`: open a room; the caller is its owner and only member (MLS epoch 0).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewRoom {
    /// Chosen by the client: it is also the MLS group id.
    pub room_id: RoomId,
}

/// A member of a room as the hub records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomMemberView {
    pub practitioner_id: PractitionerId,
    /// The entry that added them (0 for the owner): they see what follows it.
    pub from_seq: i64,
    /// The last entry they may read: their removal, if removed.
    pub until_seq: Option<i64>,
    /// The last entry they reported as read.
    pub read_seq: i64,
}

/// A room: ids, order and membership only (its title and topic travel inside the group).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomView {
    pub room_id: RoomId,
    pub owner: PractitionerId,
    /// The MLS epoch the hub accepts the next commit for.
    pub epoch: i64,
    /// The sequence number of the room's latest entry.
    pub last_seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub members: Vec<RoomMemberView>,
}

/// `POST /v1/rooms/{id}/commits`: an MLS commit for the room's current epoch, with the welcome
/// for members it adds. `added`/`removed` name who the commit adds and removes, so the hub can
/// route welcomes and stop serving a removed member; every member's client checks them against
/// the commit itself.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CommitPost {
    pub epoch: i64,
    pub commit: String,
    pub welcome: Option<String>,
    #[serde(default)]
    pub added: Vec<PractitionerId>,
    #[serde(default)]
    pub removed: Vec<PractitionerId>,
}

/// What a post was, as the hub sees it (content never).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RoomEntryKind {
    /// An MLS commit (membership or key change).
    Commit,
    Text,
    Voice,
    Reaction,
    Edit,
    Delete,
    Receipt,
    Document,
    /// The room's sealed title and topic.
    Info,
}

impl RoomEntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Text => "text",
            Self::Voice => "voice",
            Self::Reaction => "reaction",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::Receipt => "receipt",
            Self::Document => "document",
            Self::Info => "info",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "commit" => Self::Commit,
            "text" => Self::Text,
            "voice" => Self::Voice,
            "reaction" => Self::Reaction,
            "edit" => Self::Edit,
            "delete" => Self::Delete,
            "receipt" => Self::Receipt,
            "document" => Self::Document,
            "info" => Self::Info,
            _ => return None,
        })
    }
}

/// `POST /v1/rooms/{id}/messages`: an MLS application message for the current epoch.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagePost {
    pub epoch: i64,
    pub kind: RoomEntryKind,
    pub body: String,
}

/// Where a post landed in the room's order.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub struct Posted {
    pub seq: i64,
}

/// A room attachment (a voice note's ciphertext) the hub stored for `POST
/// /v1/rooms/{id}/blobs`: the id it chose, and the size and SHA-256 of what it received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomBlobStored {
    pub room_id: RoomId,
    pub blob_id: RoomBlobId,
    pub size: u64,
    pub sha256: String,
}

/// One entry of a room's ordered log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomEntry {
    pub room_id: RoomId,
    pub seq: i64,
    pub kind: RoomEntryKind,
    pub sender: PractitionerId,
    /// The epoch the entry was sent in.
    pub epoch: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub body: String,
}

/// `GET /v1/rooms/{id}/entries?after=SEQ&limit=N`: a page of the log, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomEntries {
    pub entries: Vec<RoomEntry>,
    /// More entries follow the last one returned.
    pub more: bool,
}

/// `GET /v1/rooms/{id}/welcome`: the MLS welcome that added the caller, and the entry (the
/// commit) it follows.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomWelcome {
    pub room_id: RoomId,
    pub seq: i64,
    pub welcome: String,
}

/// `POST /v1/rooms/{id}/read`: everything up to `seq` has been read.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadMark {
    pub seq: i64,
}
