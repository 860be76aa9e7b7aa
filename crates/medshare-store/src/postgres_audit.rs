//! PostgreSQL implementation of [`AuditStore`]. Appends lock the log table for the length of
//! one batch so replicas sharing the database number entries without gaps.

use crate::audit_rows::{break_glass, contact, head, id_str, logged, notice};
use crate::*;
use async_trait::async_trait;
use medshare_audit::{Entry, LoggedEntry, SignedTreeHead};

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, entries: &[Entry]) -> Result<Vec<LoggedEntry>> {
        let mut tx = self.pool.begin().await?;
        // One appender at a time across replicas (readers are not blocked).
        sqlx::query("LOCK TABLE access_log IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let leaf = hex::encode(e.leaf());
            // Under the table lock the end of the log cannot move: numbering is gap-free.
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO access_log (seq, at, actor, institution_id, action, document_id, \
                 patient_id, outcome, basis, detail, leaf) \
                 VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM access_log), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 RETURNING seq",
            )
            .bind(e.at)
            .bind(id_str(e.actor))
            .bind(id_str(e.institution))
            .bind(&e.action)
            .bind(id_str(e.document))
            .bind(id_str(e.patient))
            .bind(&e.outcome)
            .bind(&e.purpose)
            .bind(&e.detail)
            .bind(&leaf)
            .fetch_one(&mut *tx)
            .await?;
            out.push(LoggedEntry {
                seq,
                entry: e.clone(),
                leaf: Some(leaf),
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<LoggedEntry>> {
        sqlx::query("SELECT * FROM access_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(logged)
            .collect()
    }

    async fn audit_search(&self, q: &AuditQuery) -> Result<Vec<LoggedEntry>> {
        let scope = id_str(q.scope);
        sqlx::query(
            "SELECT * FROM access_log a WHERE a.seq > $1 \
             AND ($2 IS NULL OR a.patient_id = $2) \
             AND ($3 IS NULL OR a.actor = $3) \
             AND ($4 IS NULL OR a.at >= $4) \
             AND ($5 IS NULL OR a.institution_id = $5 OR a.patient_id IN \
                  (SELECT d.patient_id FROM documents d WHERE d.institution_id = $5)) \
             ORDER BY a.seq LIMIT $6",
        )
        .bind(q.after_seq)
        .bind(id_str(q.patient))
        .bind(id_str(q.actor))
        .bind(q.since)
        .bind(scope)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(logged)
        .collect()
    }

    async fn put_audit_head(&self, h: &SignedTreeHead) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_heads (size, at, root, log_key, signature) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT(size) DO NOTHING",
        )
        .bind(i64::try_from(h.head.size).map_err(|_| StoreError::Corrupt)?)
        .bind(h.head.at)
        .bind(&h.head.root)
        .bind(&h.log_key)
        .bind(&h.signature)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_heads(&self, after_size: u64, limit: i64) -> Result<Vec<SignedTreeHead>> {
        sqlx::query("SELECT * FROM audit_heads WHERE size > $1 ORDER BY size LIMIT $2")
            .bind(i64::try_from(after_size).unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(head)
            .collect()
    }

    async fn latest_audit_head(&self) -> Result<Option<SignedTreeHead>> {
        sqlx::query("SELECT * FROM audit_heads ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(head)
            .transpose()
    }

    async fn patients_read_without_standing_care(
        &self,
        actor: PractitionerId,
        since: i64,
    ) -> Result<i64> {
        // Reads of a patient's records: the timeline and both halves of opening a document.
        let n = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT a.patient_id) FROM access_log a \
             WHERE a.actor = $1 AND a.at >= $2 AND a.patient_id IS NOT NULL \
             AND a.action IN ('patient.search', 'document.fetch-manifest', 'document.fetch-content') \
             AND (a.basis = 'break-glass' OR a.outcome = 'denied' \
                  OR (a.basis = 'care-relationship' AND EXISTS (SELECT 1 FROM care_relationships c \
                      WHERE c.patient_id = a.patient_id AND c.practitioner_id = a.actor \
                      AND c.declared_at >= $2)))",
        )
        .bind(actor.to_string())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    async fn denials_by(&self, actor: PractitionerId, since: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM access_log WHERE actor = $1 AND at >= $2 AND outcome = 'denied'",
        )
        .bind(actor.to_string())
        .bind(since)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn last_alert(&self, rule: &str, actor: PractitionerId) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MAX(at) FROM audit_alerts WHERE rule = $1 AND actor = $2")
                .bind(rule)
                .bind(actor.to_string())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn record_alert(
        &self,
        rule: &str,
        actor: PractitionerId,
        institution: Option<InstitutionId>,
        at: i64,
        count: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_alerts (rule, actor, institution_id, at, count) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(rule)
        .bind(actor.to_string())
        .bind(id_str(institution))
        .bind(at)
        .bind(count)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_patient_contact(&self, c: &PatientContactRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO patient_contacts (patient_id, kind, address, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT(patient_id) DO UPDATE SET kind = excluded.kind, \
             address = excluded.address, set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(c.patient_id.to_string())
        .bind(&c.kind)
        .bind(&c.address)
        .bind(c.set_by.to_string())
        .bind(c.set_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn clear_patient_contact(&self, patient: PatientId) -> Result<bool> {
        let r = sqlx::query("DELETE FROM patient_contacts WHERE patient_id = $1")
            .bind(patient.to_string())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn patient_contact(&self, patient: PatientId) -> Result<Option<PatientContactRow>> {
        sqlx::query("SELECT * FROM patient_contacts WHERE patient_id = $1")
            .bind(patient.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(contact)
            .transpose()
    }

    async fn queue_notice(
        &self,
        patient: PatientId,
        institution: Option<InstitutionId>,
        seq: i64,
        at: i64,
        coalesce_since: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO contact_outbox (patient_id, institution_id, seq, at, next_at) \
             SELECT $1, $2, $3, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM contact_outbox \
             WHERE patient_id = $1 AND institution_id IS NOT DISTINCT FROM $2 AND at >= $5)",
        )
        .bind(patient.to_string())
        .bind(id_str(institution))
        .bind(seq)
        .bind(at)
        .bind(coalesce_since)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn due_notices(&self, now: i64, limit: i64) -> Result<Vec<NoticeRow>> {
        sqlx::query(
            "SELECT * FROM contact_outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
             AND next_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(notice)
        .collect()
    }

    async fn notice_delivered(&self, id: i64, at: i64) -> Result<()> {
        sqlx::query("UPDATE contact_outbox SET delivered_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn notice_retry(&self, id: i64, attempts: i64, next_at: i64, failed: bool) -> Result<()> {
        sqlx::query(
            "UPDATE contact_outbox SET attempts = $1, next_at = $2, \
             failed_at = CASE WHEN $3 THEN $4 ELSE NULL END WHERE id = $5",
        )
        .bind(attempts)
        .bind(next_at)
        .bind(failed)
        .bind(next_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn break_glass_record(&self, id: i64) -> Result<Option<BreakGlassRow>> {
        sqlx::query("SELECT * FROM break_glass WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(break_glass)
            .transpose()
    }
}
