//! The audit side of the store: the append-only Merkle log's entries and signed heads, what
//! privacy officers query, the patient-contact outbox and raised alerts.

use crate::Result;
use async_trait::async_trait;
use medshare_audit::{Entry, LoggedEntry, SignedTreeHead};
use medshare_model::{InstitutionId, PatientId, PractitionerId};

/// What a privacy officer asks of the log. `scope` limits entries to those made by members of
/// an institution or touching patients that institution has filed records for.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub scope: Option<InstitutionId>,
    pub patient: Option<PatientId>,
    pub actor: Option<PractitionerId>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    pub after_seq: i64,
    pub limit: i64,
}

/// Where a patient is told about reads of their records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientContactRow {
    pub patient_id: PatientId,
    /// `email` or `webhook`.
    pub kind: String,
    pub address: String,
    pub set_by: PractitionerId,
    pub set_at: i64,
}

/// An access notice waiting for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRow {
    pub id: i64,
    pub patient_id: PatientId,
    pub institution_id: Option<InstitutionId>,
    pub seq: i64,
    pub at: i64,
    pub attempts: i64,
}

/// A break-glass window with its sealed reason.
#[derive(Clone, Debug)]
pub struct BreakGlassRow {
    pub id: i64,
    pub patient_id: PatientId,
    pub practitioner_id: PractitionerId,
    /// base64 of the reason sealed to the practitioner's institution.
    pub reason: String,
    pub reason_epoch: u32,
    pub opened_at: i64,
    pub expires_at: i64,
}

/// Audit storage. Entries and heads can only be appended: the backends refuse updates and
/// deletes, and anything changed behind their back shows up in `medshare audit verify`.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Append `entries` in one transaction, numbered consecutively after the current end of
    /// the log (whichever replica wrote it), each with its leaf digest recorded.
    async fn append_audit(&self, entries: &[Entry]) -> Result<Vec<LoggedEntry>>;
    /// Entries with `seq > after_seq`, in order.
    async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<LoggedEntry>>;
    async fn audit_search(&self, q: &AuditQuery) -> Result<Vec<LoggedEntry>>;
    /// Store a signed head; a head for a size already signed is kept as it was.
    async fn put_audit_head(&self, head: &SignedTreeHead) -> Result<()>;
    /// Heads with `size > after_size`, smallest first.
    async fn audit_heads(&self, after_size: u64, limit: i64) -> Result<Vec<SignedTreeHead>>;
    async fn latest_audit_head(&self) -> Result<Option<SignedTreeHead>>;

    /// Distinct patients whose records `actor` read (or tried to) since `since` without a care
    /// relationship older than that: through break-glass, a care relationship they declared
    /// inside the window, or a refused attempt.
    async fn patients_read_without_standing_care(
        &self,
        actor: PractitionerId,
        since: i64,
    ) -> Result<i64>;
    /// Denied requests by `actor` since `since`.
    async fn denials_by(&self, actor: PractitionerId, since: i64) -> Result<i64>;
    async fn last_alert(&self, rule: &str, actor: PractitionerId) -> Result<Option<i64>>;
    async fn record_alert(
        &self,
        rule: &str,
        actor: PractitionerId,
        institution: Option<InstitutionId>,
        at: i64,
        count: i64,
    ) -> Result<()>;

    async fn set_patient_contact(&self, c: &PatientContactRow) -> Result<()>;
    async fn clear_patient_contact(&self, patient: PatientId) -> Result<bool>;
    async fn patient_contact(&self, patient: PatientId) -> Result<Option<PatientContactRow>>;
    /// Queue a notice unless one for the same patient and institution was queued at or after
    /// `coalesce_since`. Returns whether it was queued.
    async fn queue_notice(
        &self,
        patient: PatientId,
        institution: Option<InstitutionId>,
        seq: i64,
        at: i64,
        coalesce_since: i64,
    ) -> Result<bool>;
    async fn due_notices(&self, now: i64, limit: i64) -> Result<Vec<NoticeRow>>;
    async fn notice_delivered(&self, id: i64, at: i64) -> Result<()>;
    /// Record a failed attempt: retry at `next_at`, or give up (`failed`).
    async fn notice_retry(&self, id: i64, attempts: i64, next_at: i64, failed: bool) -> Result<()>;

    async fn break_glass_record(&self, id: i64) -> Result<Option<BreakGlassRow>>;
}
