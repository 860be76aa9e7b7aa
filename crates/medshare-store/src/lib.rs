//! Metadata store: the [`MetadataStore`] trait the hub's services call, its SQLite
//! implementation (WAL, foreign keys, busy timeout; the embedded default) and its PostgreSQL
//! implementation (several hub replicas), both compiled in and chosen at run time from the
//! database URL, each with its own migrations tree and schema-version check.
//!
//! ```no_run
//! # async fn demo() -> Result<(), medshare_store::StoreError> {
//! let store = medshare_store::open("sqlite:///var/lib/medshare/medshare.db").await?;
//! assert!(store.alliance().await?.is_none());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod audit;
mod audit_rows;
mod common;
mod postgres;
mod postgres_audit;
mod rows;
mod schema;
mod sqlite;
mod sqlite_audit;

pub use audit::*;
pub use postgres::{EVENTS_CHANNEL, PgStore};
pub use rows::*;
pub use schema::{OpenMode, SchemaStatus};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use medshare_model::api::{ConsentHolder, KeyWrap, NewGrant};
use medshare_model::statements::Signed;
use medshare_model::{
    DocumentId, Handle, InstitutionId, PatientId, PatientRef, PractitionerId, UploadId,
};
use std::sync::Arc;

/// Store failures. Display never includes SQL, values or paths.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    #[error("conflicts with an existing record")]
    Conflict,
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt")]
    Corrupt,
    #[error("unsupported database URL: expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl,
    #[error(
        "the database schema is at migration {found}, newer than this medshare binary knows \
         (up to {known}): run the medshare version that wrote it, or restore a matching backup"
    )]
    SchemaNewer { found: i64, known: i64 },
    #[error(
        "migration {0} in the database differs from the one this binary carries: \
         the schema was changed outside medshare; restore a backup"
    )]
    SchemaModified(i64),
    #[error("migration {0} was left half applied: restore a backup taken before it")]
    SchemaDirty(i64),
    #[error(
        "the database schema is behind this binary ({pending} migrations pending): run `medshare migrate`"
    )]
    SchemaBehind { pending: usize },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => Self::Conflict,
            _ => Self::Database(e),
        }
    }
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The backend a database URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `sqlite:...` or `postgres://...`/`postgresql://...`.
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }
}

/// Open the store named by a database URL (`sqlite://PATH`, `sqlite::memory:` or
/// `postgres://...`), bringing its schema up to date.
pub async fn open(url: &str) -> Result<Arc<dyn MetadataStore>> {
    open_with(url, OpenMode::Migrate).await
}

/// Open the store named by a database URL. Whatever the mode, a schema newer than this binary
/// knows (or altered outside it) is refused; [`OpenMode::RequireCurrent`] also refuses a schema
/// with pending migrations instead of applying them.
pub async fn open_with(url: &str, mode: OpenMode) -> Result<Arc<dyn MetadataStore>> {
    Ok(match Backend::of_url(url)? {
        Backend::Sqlite => {
            let s = SqliteStore::connect(url).await?;
            s.prepare_schema(mode).await?;
            Arc::new(s)
        }
        Backend::Postgres => {
            let s = PgStore::connect(url).await?;
            s.prepare_schema(mode).await?;
            Arc::new(s)
        }
    })
}

/// Apply pending migrations (`medshare migrate`); returns the schema before and after.
pub async fn migrate(url: &str) -> Result<(SchemaStatus, SchemaStatus)> {
    match Backend::of_url(url)? {
        Backend::Sqlite => {
            let s = SqliteStore::connect(url).await?;
            let before = s.schema_status().await?;
            s.prepare_schema(OpenMode::Migrate).await?;
            Ok((before, s.schema_status().await?))
        }
        Backend::Postgres => {
            let s = PgStore::connect(url).await?;
            let before = s.schema_status().await?;
            s.prepare_schema(OpenMode::Migrate).await?;
            Ok((before, s.schema_status().await?))
        }
    }
}

/// The schema of the database at `url` compared with the migrations this binary carries.
pub async fn schema_status(url: &str) -> Result<SchemaStatus> {
    match Backend::of_url(url)? {
        Backend::Sqlite => SqliteStore::connect(url).await?.schema_status().await,
        Backend::Postgres => PgStore::connect(url).await?.schema_status().await,
    }
}

/// Announcements `(recipient, event seq)` of events stored by any hub sharing the store.
pub type EventNotices = futures::stream::BoxStream<'static, Result<(PractitionerId, i64)>>;

/// Everything the hub keeps besides ciphertext blobs.
#[async_trait]
pub trait MetadataStore: AuditStore + Send + Sync + 'static {
    // --- alliance ---
    /// The alliance root and alliance key, once bootstrapped.
    async fn alliance(&self) -> Result<Option<AllianceRow>>;
    /// Record the alliance root; `Conflict` if already done.
    async fn bootstrap(&self, root_public: &str, alliance_key: &Signed, now: i64) -> Result<()>;
    /// Consume a root command nonce; false if it was used before.
    async fn use_root_nonce(&self, nonce: &str, now: i64) -> Result<bool>;

    // --- institutions ---
    /// Register an institution with its first administrator's invitation.
    async fn create_institution(
        &self,
        inst: &InstitutionRow,
        admin: &NewPractitioner,
    ) -> Result<()>;
    async fn institution(&self, id: InstitutionId) -> Result<Option<InstitutionRow>>;
    async fn institutions(&self) -> Result<Vec<InstitutionRow>>;
    /// Every epoch key statement, oldest first.
    async fn institution_epochs(&self, id: InstitutionId) -> Result<Vec<Signed>>;
    /// Store the root's certificate and the alliance secrets sealed to the institution.
    async fn certify_institution(
        &self,
        id: InstitutionId,
        cert: &Signed,
        alliance_wrap: &str,
        epoch: u32,
    ) -> Result<()>;

    // --- practitioners ---
    async fn create_practitioner(&self, p: &NewPractitioner) -> Result<()>;
    async fn practitioner(&self, id: PractitionerId) -> Result<Option<PractitionerRow>>;
    async fn practitioner_by_handle(&self, handle: &Handle) -> Result<Option<PractitionerRow>>;
    async fn practitioner_by_enrolment(&self, code_hash: &str) -> Result<Option<PractitionerRow>>;
    /// Practitioners of an institution in a given status.
    async fn practitioners_of(
        &self,
        institution: InstitutionId,
        status: Option<PractitionerStatus>,
    ) -> Result<Vec<PractitionerRow>>;
    /// Redeem an invitation: keys, credential hash and (for a first admin) institution keys.
    async fn redeem_enrolment(&self, r: &Redemption) -> Result<()>;
    async fn certify_practitioner(
        &self,
        id: PractitionerId,
        cert: &Signed,
        keyring_wrap: &str,
    ) -> Result<()>;
    /// Remove a member, revoke their sessions and install a new institution epoch.
    async fn remove_practitioner(&self, r: &Removal) -> Result<()>;
    async fn set_login_failures(
        &self,
        id: PractitionerId,
        failures: i64,
        locked_until: Option<i64>,
    ) -> Result<()>;
    /// Count one more failed (or not yet verified) login, atomically; returns the new count.
    async fn add_login_failure(&self, id: PractitionerId) -> Result<i64>;
    /// Lock logins until `until`, unless already locked for longer.
    async fn lock_logins(&self, id: PractitionerId, until: i64) -> Result<()>;

    // --- sessions ---
    async fn create_session(&self, s: &SessionRow) -> Result<()>;
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>>;
    async fn revoke_session(&self, token_hash: &str) -> Result<()>;

    // --- patients ---
    /// Create a patient; `Conflict` if any reference is already known.
    async fn create_patient(&self, p: &NewPatientRow) -> Result<()>;
    async fn patient_by_refs(&self, refs: &[PatientRef]) -> Result<Option<PatientId>>;
    async fn patient(&self, id: PatientId) -> Result<Option<PatientRow>>;
    async fn patient_key_epochs(&self, id: PatientId) -> Result<Vec<Signed>>;
    /// Patient key wraps addressed to one of `institutions` (any epoch) or, if `alliance`, the
    /// alliance.
    async fn patient_key_wraps(
        &self,
        id: PatientId,
        institutions: &[InstitutionId],
        alliance: bool,
    ) -> Result<Vec<PatientKeyWrapRow>>;
    async fn consents(&self, id: PatientId) -> Result<Vec<ConsentHolder>>;
    /// Add a consent holder with the new patient key epoch that names it (and its wraps).
    #[allow(clippy::too_many_arguments)]
    async fn grant_consent(
        &self,
        id: PatientId,
        to: &ConsentHolder,
        new_epoch: u32,
        statement: &Signed,
        wraps: &[PatientKeyWrapRow],
        by: PractitionerId,
        now: i64,
    ) -> Result<()>;
    async fn revoke_consent(
        &self,
        id: PatientId,
        from: &ConsentHolder,
        new_epoch: u32,
        statement: &Signed,
        wraps: &[PatientKeyWrapRow],
        now: i64,
    ) -> Result<()>;
    async fn add_care(
        &self,
        patient: PatientId,
        practitioner: PractitionerId,
        by: PractitionerId,
        now: i64,
    ) -> Result<()>;
    async fn has_care(&self, patient: PatientId, practitioner: PractitionerId) -> Result<bool>;
    /// Everyone with a declared care relationship with the patient.
    async fn care_team(&self, patient: PatientId) -> Result<Vec<PractitionerId>>;
    async fn open_break_glass(
        &self,
        patient: PatientId,
        practitioner: PractitionerId,
        reason: &str,
        reason_epoch: u32,
        now: i64,
        expires: i64,
    ) -> Result<i64>;
    async fn break_glass_active(
        &self,
        patient: PatientId,
        practitioner: PractitionerId,
        now: i64,
    ) -> Result<bool>;

    // --- documents ---
    async fn stage_upload(&self, s: &StagedUploadRow) -> Result<()>;
    async fn staged_upload(&self, id: UploadId) -> Result<Option<StagedUploadRow>>;
    async fn delete_staged_upload(&self, id: UploadId) -> Result<()>;
    /// Staged uploads older than `before` (for sweeping).
    async fn stale_staged_uploads(&self, before: i64) -> Result<Vec<UploadId>>;
    /// How many uploads a practitioner has staged and not committed, and their bytes.
    async fn staged_usage(&self, practitioner: PractitionerId) -> Result<(i64, u64)>;
    /// Claim `document` for a staged upload before its bytes are promoted: `Conflict` if another
    /// staged upload claimed it, `NotFound` if the upload is gone or claimed another document.
    async fn claim_document(&self, upload: UploadId, document: DocumentId) -> Result<()>;
    /// Insert the document, its key wraps and grants, and consume the staged upload, in one
    /// transaction.
    async fn commit_document(
        &self,
        d: &DocumentRow,
        wraps: &[KeyWrap],
        grants: &[NewGrant],
        upload: UploadId,
        now: i64,
    ) -> Result<()>;
    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRow>>;
    async fn documents_of_patient(&self, patient: PatientId) -> Result<Vec<DocumentRow>>;
    /// Every document id (start-up reconciliation with the blob store).
    async fn document_ids(&self) -> Result<Vec<DocumentId>>;
    /// Key wraps of documents addressed to the practitioner or to the patient key.
    async fn document_key_wraps(
        &self,
        docs: &[DocumentId],
        practitioner: PractitionerId,
    ) -> Result<Vec<(DocumentId, KeyWrap)>>;
    async fn grant(&self, doc: DocumentId, grantee: PractitionerId) -> Result<Option<GrantRow>>;
    /// Grants held by a practitioner on documents of a patient.
    async fn grants_on_patient(
        &self,
        patient: PatientId,
        grantee: PractitionerId,
    ) -> Result<Vec<GrantRow>>;
    async fn grants_of_document(&self, doc: DocumentId) -> Result<Vec<GrantRow>>;
    /// Add or renew a grant with its key wrap.
    async fn put_grant(
        &self,
        doc: DocumentId,
        g: &NewGrant,
        by: PractitionerId,
        now: i64,
    ) -> Result<()>;
    /// Revoke a grant and delete its key wrap; false if there was no live grant.
    async fn revoke_grant(
        &self,
        doc: DocumentId,
        grantee: PractitionerId,
        now: i64,
    ) -> Result<bool>;

    // --- notifications and audit ---
    async fn push_event(&self, recipient: PractitionerId, at: i64, body: &str) -> Result<i64>;
    async fn events_since(
        &self,
        recipient: PractitionerId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>>;
    /// Cheap liveness query for readiness checks.
    async fn ping(&self) -> Result<()>;

    /// For a store several hub replicas share: a stream announcing every event any of them
    /// stores (ids only), so each replica can wake its own live streams. `None` when events can
    /// only come from this process (SQLite), where the hub wakes streams directly.
    async fn event_notices(&self) -> Result<Option<EventNotices>> {
        Ok(None)
    }
}
