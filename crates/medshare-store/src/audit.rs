//! The audit side of the store: the append-only Merkle log's entries and signed heads, what
//! privacy officers query, the patient-contact outbox and raised alerts.

use crate::dialect::Dialect;
use crate::sql::{Columns, FromRow, int, sql};
use crate::{Result, Store};
use async_trait::async_trait;
use medshare_audit::{Entry, LoggedEntry, SignedTreeHead, TreeHead};
use medshare_model::{InstitutionId, PatientId, PractitionerId};
use sqlx::Transaction;

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

impl FromRow for LoggedEntry {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            seq: r.get("seq")?,
            entry: Entry {
                at: r.get("at")?,
                actor: r.opt_id("actor")?,
                institution: r.opt_id("institution_id")?,
                action: r.get("action")?,
                document: r.opt_id("document_id")?,
                patient: r.opt_id("patient_id")?,
                outcome: r.get("outcome")?,
                purpose: r.get("basis")?,
                detail: r.get("detail")?,
            },
            leaf: r.get("leaf")?,
        })
    }
}

impl FromRow for SignedTreeHead {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            head: TreeHead {
                size: r.u64("size")?,
                root: r.get("root")?,
                at: r.get("at")?,
            },
            log_key: r.get("log_key")?,
            signature: r.get("signature")?,
        })
    }
}

impl FromRow for NoticeRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            patient_id: r.id("patient_id")?,
            institution_id: r.opt_id("institution_id")?,
            seq: r.get("seq")?,
            at: r.get("at")?,
            attempts: r.get("attempts")?,
        })
    }
}

impl FromRow for PatientContactRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            patient_id: r.id("patient_id")?,
            kind: r.get("kind")?,
            address: r.get("address")?,
            set_by: r.id("set_by")?,
            set_at: r.get("set_at")?,
        })
    }
}

impl FromRow for BreakGlassRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            patient_id: r.id("patient_id")?,
            practitioner_id: r.id("practitioner_id")?,
            reason: r.get("reason")?,
            reason_epoch: r.u32("reason_epoch")?,
            opened_at: r.get("opened_at")?,
            expires_at: r.get("expires_at")?,
        })
    }
}

/// Append entries to the log inside `tx`, numbered after its current end. The log is locked
/// for the rest of the transaction (PostgreSQL; SQLite's writers take turns anyway), so
/// numbering stays gap-free whichever transaction commits first: call this last in a
/// transaction, to hold the lock briefly.
pub(crate) async fn insert_audit<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    entries: &[Entry],
) -> Result<Vec<LoggedEntry>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(lock) = D::LOCK_AUDIT_LOG {
        sql(lock).execute(&mut *tx).await?;
    }
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let leaf = hex::encode(e.leaf());
        // With appenders taking turns the end of the log cannot move under this insert:
        // numbering is gap-free.
        let seq = sql(
            "INSERT INTO access_log (seq, at, actor, institution_id, action, document_id, \
             patient_id, outcome, basis, detail, leaf) \
             VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM access_log), \
             $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        )
        .bind((
            e.at,
            e.actor,
            e.institution,
            &e.action,
            e.document,
            e.patient,
            &e.outcome,
            &e.purpose,
            &e.detail,
            &leaf,
        ))
        .fetch_one(&mut *tx)
        .await?;
        out.push(LoggedEntry {
            seq,
            entry: e.clone(),
            leaf: Some(leaf),
        });
    }
    Ok(out)
}

#[async_trait]
impl<D: Dialect> AuditStore for Store<D> {
    async fn append_audit(&self, entries: &[Entry]) -> Result<Vec<LoggedEntry>> {
        let mut tx = self.begin().await?;
        let out = insert_audit(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<LoggedEntry>> {
        sql("SELECT * FROM access_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind((after_seq, limit))
            .fetch_all(&self.pool)
            .await
    }

    async fn audit_search(&self, q: &AuditQuery) -> Result<Vec<LoggedEntry>> {
        sql("SELECT * FROM access_log a WHERE a.seq > $1 \
             AND ($2 IS NULL OR a.patient_id = $2) \
             AND ($3 IS NULL OR a.actor = $3) \
             AND ($4 IS NULL OR a.at >= $4) \
             AND ($5 IS NULL OR a.institution_id = $5 OR a.patient_id IN \
                  (SELECT d.patient_id FROM documents d WHERE d.institution_id = $5)) \
             ORDER BY a.seq LIMIT $6")
        .bind((q.after_seq, q.patient, q.actor, q.since, q.scope, q.limit))
        .fetch_all(&self.pool)
        .await
    }

    async fn put_audit_head(&self, h: &SignedTreeHead) -> Result<()> {
        sql(
            "INSERT INTO audit_heads (size, at, root, log_key, signature) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING",
        )
        .bind((
            int(h.head.size)?,
            h.head.at,
            &h.head.root,
            &h.log_key,
            &h.signature,
        ))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn audit_heads(&self, after_size: u64, limit: i64) -> Result<Vec<SignedTreeHead>> {
        sql("SELECT * FROM audit_heads WHERE size > $1 ORDER BY size LIMIT $2")
            .bind((i64::try_from(after_size).unwrap_or(i64::MAX), limit))
            .fetch_all(&self.pool)
            .await
    }

    async fn latest_audit_head(&self) -> Result<Option<SignedTreeHead>> {
        sql("SELECT * FROM audit_heads ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
    }

    async fn patients_read_without_standing_care(
        &self,
        actor: PractitionerId,
        since: i64,
    ) -> Result<i64> {
        // Reads of a patient's records: the timeline and both halves of opening a document.
        sql("SELECT COUNT(DISTINCT a.patient_id) FROM access_log a \
             WHERE a.actor = $1 AND a.at >= $2 AND a.patient_id IS NOT NULL \
             AND a.action IN ('patient.search', 'document.fetch-manifest', 'document.fetch-content') \
             AND (a.basis = 'break-glass' OR a.outcome = 'denied' \
                  OR (a.basis = 'care-relationship' AND EXISTS (SELECT 1 FROM care_relationships c \
                      WHERE c.patient_id = a.patient_id AND c.practitioner_id = a.actor \
                      AND c.declared_at >= $2)))")
        .bind((actor, since))
        .fetch_one(&self.pool)
        .await
    }

    async fn denials_by(&self, actor: PractitionerId, since: i64) -> Result<i64> {
        sql("SELECT COUNT(*) FROM access_log WHERE actor = $1 AND at >= $2 AND outcome = 'denied'")
            .bind((actor, since))
            .fetch_one(&self.pool)
            .await
    }

    async fn last_alert(&self, rule: &str, actor: PractitionerId) -> Result<Option<i64>> {
        sql("SELECT MAX(at) FROM audit_alerts WHERE rule = $1 AND actor = $2")
            .bind((rule, actor))
            .fetch_one(&self.pool)
            .await
    }

    async fn record_alert(
        &self,
        rule: &str,
        actor: PractitionerId,
        institution: Option<InstitutionId>,
        at: i64,
        count: i64,
    ) -> Result<()> {
        sql(
            "INSERT INTO audit_alerts (rule, actor, institution_id, at, count) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind((rule, actor, institution, at, count))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn set_patient_contact(&self, c: &PatientContactRow) -> Result<()> {
        sql(
            "INSERT INTO patient_contacts (patient_id, kind, address, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (patient_id) DO UPDATE SET \
             kind = excluded.kind, address = excluded.address, set_by = excluded.set_by, \
             set_at = excluded.set_at",
        )
        .bind((c.patient_id, &c.kind, &c.address, c.set_by, c.set_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn clear_patient_contact(&self, patient: PatientId) -> Result<bool> {
        let gone = sql("DELETE FROM patient_contacts WHERE patient_id = $1")
            .bind(patient)
            .execute(&self.writer)
            .await?;
        Ok(gone > 0)
    }

    async fn patient_contact(&self, patient: PatientId) -> Result<Option<PatientContactRow>> {
        sql("SELECT * FROM patient_contacts WHERE patient_id = $1")
            .bind(patient)
            .fetch_optional(&self.pool)
            .await
    }

    async fn queue_notice(
        &self,
        patient: PatientId,
        institution: Option<InstitutionId>,
        seq: i64,
        at: i64,
        coalesce_since: i64,
    ) -> Result<bool> {
        let queued = sql(
            "INSERT INTO contact_outbox (patient_id, institution_id, seq, at, next_at) \
             SELECT $1, $2, $3, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM contact_outbox \
             WHERE patient_id = $1 AND institution_id IS NOT DISTINCT FROM $2 AND at >= $5)",
        )
        .bind((patient, institution, seq, at, coalesce_since))
        .execute(&self.writer)
        .await?;
        Ok(queued > 0)
    }

    async fn due_notices(&self, now: i64, limit: i64) -> Result<Vec<NoticeRow>> {
        sql(
            "SELECT * FROM contact_outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
             AND next_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind((now, limit))
        .fetch_all(&self.pool)
        .await
    }

    async fn notice_delivered(&self, id: i64, at: i64) -> Result<()> {
        sql("UPDATE contact_outbox SET delivered_at = $1 WHERE id = $2")
            .bind((at, id))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn notice_retry(&self, id: i64, attempts: i64, next_at: i64, failed: bool) -> Result<()> {
        sql("UPDATE contact_outbox SET attempts = $1, next_at = $2, failed_at = $3 WHERE id = $4")
            .bind((attempts, next_at, failed.then_some(next_at), id))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn break_glass_record(&self, id: i64) -> Result<Option<BreakGlassRow>> {
        sql("SELECT * FROM break_glass WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }
}
