//! Documents: staged uploads and their claims, committed documents, their key wraps and the
//! grants (shares) on them.

use crate::dialect::Dialect;
use crate::sql::{Columns, FromRow, int, sql};
use crate::{
    DocumentHead, DocumentPage, DocumentRow, GrantRow, Result, StagedUploadRow, Store, StoreError,
};
use async_trait::async_trait;
use medshare_audit::{Entry, LoggedEntry};
use medshare_model::api::{Holder, KeyWrap, NewGrant};
use medshare_model::{DocumentId, PatientId, PractitionerId, UploadId};
use sqlx::Transaction;

/// The document side of the store.
#[async_trait]
pub trait DocumentStore: Send + Sync {
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
    /// Give up a claim made by [`DocumentStore::claim_document`] whose commit failed, so the
    /// id can be committed by a later upload. No effect if the upload does not hold it.
    async fn release_claim(&self, upload: UploadId, document: DocumentId) -> Result<()>;
    /// Insert the document, its key wraps and grants, and consume the staged upload, in one
    /// transaction.
    async fn commit_document(
        &self,
        d: &DocumentRow,
        wraps: &[KeyWrap],
        grants: &[NewGrant],
        upload: UploadId,
        now: i64,
    ) -> Result<()> {
        self.commit_document_logged(d, wraps, grants, upload, now, &[])
            .await
            .map(drop)
    }
    /// [`commit_document`](Self::commit_document), with `audit` appended to the access log in
    /// the same transaction (one durable commit for the upload and its record); returns the
    /// entries as numbered.
    async fn commit_document_logged(
        &self,
        d: &DocumentRow,
        wraps: &[KeyWrap],
        grants: &[NewGrant],
        upload: UploadId,
        now: i64,
        audit: &[Entry],
    ) -> Result<Vec<LoggedEntry>>;
    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRow>>;
    async fn documents_of_patient(&self, patient: PatientId) -> Result<Vec<DocumentRow>>;
    /// One page of a patient's documents in search order (see [`DocumentPage`]): an index range
    /// scan that reads about a page of rows, however large the record.
    async fn documents_page(&self, page: &DocumentPage) -> Result<Vec<DocumentRow>>;
    /// Every document of a patient as id, uploader and filing time only (no manifests or
    /// bindings), newest first by `(created_at, id)`.
    async fn document_heads(&self, patient: PatientId) -> Result<Vec<DocumentHead>>;
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
    /// Add or renew a grant with its key wrap: one grant and one wrap per document and
    /// grantee, updated in place.
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
}

impl FromRow for StagedUploadRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.id("id")?,
            practitioner_id: r.id("practitioner_id")?,
            size: r.u64("size")?,
            sha256: r.get("sha256")?,
            blake3: r.get("blake3")?,
            created_at: r.get("created_at")?,
        })
    }
}

impl FromRow for DocumentRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.id("id")?,
            patient_id: r.id("patient_id")?,
            uploader: r.id("uploader")?,
            institution_id: r.id("institution_id")?,
            size: r.u64("size")?,
            ciphertext_sha256: r.get("ciphertext_sha256")?,
            manifest: r.get("manifest")?,
            binding: r.json("binding")?,
            created_at: r.get("created_at")?,
        })
    }
}

impl FromRow for DocumentHead {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.id("id")?,
            uploader: r.id("uploader")?,
            created_at: r.get("created_at")?,
        })
    }
}

impl FromRow for GrantRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            document_id: r.id("document_id")?,
            grantee: r.id("grantee")?,
            granted_by: r.id("granted_by")?,
            granted_at: r.get("granted_at")?,
            expires_at: r.get("expires_at")?,
            revoked_at: r.get("revoked_at")?,
        })
    }
}

/// A document key wrap with the document it opens.
struct DocumentWrap(DocumentId, KeyWrap);

impl FromRow for DocumentWrap {
    fn from_row(r: &impl Columns) -> Result<Self> {
        let holder = match r.get::<String>("holder_kind")?.as_str() {
            "patient" => Holder::Patient {
                epoch: r.u32("holder_epoch")?,
            },
            "practitioner" => Holder::Practitioner {
                id: r.id("holder_id")?,
            },
            _ => return Err(StoreError::Corrupt),
        };
        Ok(Self(
            r.id("document_id")?,
            KeyWrap {
                holder,
                wrap: r.get("wrap")?,
            },
        ))
    }
}

/// Add or renew a grant and its key wrap. Both upserts name their key: a clash on any other
/// unique constraint is a `Conflict`, never a silent replacement of another row.
async fn put_grant<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    doc: DocumentId,
    g: &NewGrant,
    by: PractitionerId,
    now: i64,
) -> Result<()> {
    sql(
        "INSERT INTO grants (document_id, grantee, granted_by, granted_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (document_id, grantee) \
         DO UPDATE SET granted_by = excluded.granted_by, granted_at = excluded.granted_at, \
         expires_at = excluded.expires_at, revoked_at = NULL",
    )
    .bind((
        doc,
        g.grantee,
        by,
        now,
        g.expires_at.map(|t| t.unix_timestamp()),
    ))
    .execute(&mut *tx)
    .await?;
    sql(
        "INSERT INTO document_key_wraps (document_id, holder_kind, holder_id, holder_epoch, wrap) \
         VALUES ($1, 'practitioner', $2, 0, $3) \
         ON CONFLICT (document_id, holder_kind, holder_id, holder_epoch) \
         DO UPDATE SET wrap = excluded.wrap",
    )
    .bind((doc, g.grantee, &g.wrap))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl<D: Dialect> DocumentStore for Store<D> {
    async fn stage_upload(&self, s: &StagedUploadRow) -> Result<()> {
        sql(
            "INSERT INTO staged_uploads (id, practitioner_id, size, sha256, blake3, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind((
            s.id,
            s.practitioner_id,
            int(s.size)?,
            &s.sha256,
            s.blake3.as_deref(),
            s.created_at,
        ))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn staged_upload(&self, id: UploadId) -> Result<Option<StagedUploadRow>> {
        sql("SELECT * FROM staged_uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    async fn delete_staged_upload(&self, id: UploadId) -> Result<()> {
        sql("DELETE FROM staged_uploads WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn stale_staged_uploads(&self, before: i64) -> Result<Vec<UploadId>> {
        sql("SELECT id FROM staged_uploads WHERE created_at < $1")
            .bind(before)
            .fetch_all(&self.pool)
            .await
    }

    async fn staged_usage(&self, practitioner: PractitionerId) -> Result<(i64, u64)> {
        struct Usage(i64, i64);
        impl FromRow for Usage {
            fn from_row(r: &impl Columns) -> Result<Self> {
                Ok(Self(r.get(0)?, r.get(1)?))
            }
        }
        let Usage(n, bytes) = sql(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM staged_uploads \
             WHERE practitioner_id = $1",
        )
        .bind(practitioner)
        .fetch_one(&self.pool)
        .await?;
        Ok((n, bytes.max(0).unsigned_abs()))
    }

    async fn claim_document(&self, upload: UploadId, document: DocumentId) -> Result<()> {
        // Another upload's claim on `document` violates the unique index: `Conflict`.
        let claimed = sql("UPDATE staged_uploads SET document_id = $1 \
                           WHERE id = $2 AND (document_id IS NULL OR document_id = $1)")
        .bind((document, upload))
        .execute(&self.writer)
        .await?;
        if claimed != 1 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn release_claim(&self, upload: UploadId, document: DocumentId) -> Result<()> {
        sql("UPDATE staged_uploads SET document_id = NULL WHERE id = $1 AND document_id = $2")
            .bind((upload, document))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn commit_document_logged(
        &self,
        d: &DocumentRow,
        wraps: &[KeyWrap],
        grants: &[NewGrant],
        upload: UploadId,
        now: i64,
        audit: &[Entry],
    ) -> Result<Vec<LoggedEntry>> {
        let mut tx = self.begin().await?;
        let staged = sql("DELETE FROM staged_uploads WHERE id = $1")
            .bind(upload)
            .execute(&mut tx)
            .await?;
        if staged != 1 {
            return Err(StoreError::NotFound);
        }
        sql(
            "INSERT INTO documents (id, patient_id, uploader, institution_id, size, \
             ciphertext_sha256, manifest, binding, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind((
            d.id,
            d.patient_id,
            d.uploader,
            d.institution_id,
            int(d.size)?,
            &d.ciphertext_sha256,
            &d.manifest,
            &d.binding,
            d.created_at,
        ))
        .execute(&mut tx)
        .await?;
        for w in wraps {
            let (kind, id, epoch) = match &w.holder {
                Holder::Practitioner { id } => ("practitioner", id.to_string(), 0),
                Holder::Patient { epoch } => ("patient", String::new(), *epoch),
                // Documents are sealed to practitioners and the patient key only.
                _ => return Err(StoreError::Conflict),
            };
            sql("INSERT INTO document_key_wraps \
                 (document_id, holder_kind, holder_id, holder_epoch, wrap) \
                 VALUES ($1, $2, $3, $4, $5)")
            .bind((d.id, kind, id, epoch, &w.wrap))
            .execute(&mut tx)
            .await?;
        }
        for g in grants {
            put_grant(&mut tx, d.id, g, d.uploader, now).await?;
        }
        let logged = crate::audit::insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(logged)
    }

    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRow>> {
        sql("SELECT * FROM documents WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    async fn documents_of_patient(&self, patient: PatientId) -> Result<Vec<DocumentRow>> {
        let q = format!(
            "SELECT * FROM documents WHERE patient_id = $1 ORDER BY created_at DESC, {} DESC",
            D::DOCUMENT_ORDER
        );
        sql(sqlx::AssertSqlSafe(q))
            .bind(patient)
            .fetch_all(&self.pool)
            .await
    }

    async fn documents_page(&self, page: &DocumentPage) -> Result<Vec<DocumentRow>> {
        // Built from constants only; each value is a bound argument, numbered in order.
        let id = format!("d.id{}", D::BYTE_ORDER);
        let mut q = String::from("SELECT d.* FROM documents d WHERE d.patient_id = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        let after = page.after.map(|a| (a, next(), next()));
        if let Some((_, at, doc)) = after {
            q +=
                &format!(" AND (d.created_at < ${at} OR (d.created_at = ${at} AND {id} < ${doc}))");
        }
        let since = page.since.map(|t| (t, next(), next()));
        if let Some((_, t, viewer)) = since {
            q += &format!(
                " AND (d.created_at >= ${t} OR EXISTS (SELECT 1 FROM grants g \
                 WHERE g.document_id = d.id AND g.grantee = ${viewer} AND g.granted_at >= ${t}))"
            );
        }
        let own = page.own_or_shared.map(|p| (p, next()));
        if let Some((_, viewer)) = own {
            q += &format!(
                " AND (d.uploader = ${viewer} OR EXISTS (SELECT 1 FROM grants g \
                 WHERE g.document_id = d.id AND g.grantee = ${viewer}))"
            );
        }
        let limit = next();
        q += &format!(" ORDER BY d.created_at DESC, {id} DESC LIMIT ${limit}");
        let mut s = sql(sqlx::AssertSqlSafe(q)).bind(page.patient);
        if let Some(((at, doc), _, _)) = after {
            s = s.bind((at, doc));
        }
        if let Some(((t, viewer), _, _)) = since {
            s = s.bind((t, viewer));
        }
        if let Some((viewer, _)) = own {
            s = s.bind(viewer);
        }
        s.bind(page.limit).fetch_all(&self.pool).await
    }

    async fn document_heads(&self, patient: PatientId) -> Result<Vec<DocumentHead>> {
        let q = format!(
            "SELECT id, uploader, created_at FROM documents WHERE patient_id = $1 \
             ORDER BY created_at DESC, id{} DESC",
            D::BYTE_ORDER
        );
        sql(sqlx::AssertSqlSafe(q))
            .bind(patient)
            .fetch_all(&self.pool)
            .await
    }

    async fn document_ids(&self) -> Result<Vec<DocumentId>> {
        sql("SELECT id FROM documents").fetch_all(&self.pool).await
    }

    async fn document_key_wraps(
        &self,
        docs: &[DocumentId],
        practitioner: PractitionerId,
    ) -> Result<Vec<(DocumentId, KeyWrap)>> {
        // The whole list is one argument: one statement for any number of ids.
        let q = format!(
            "SELECT * FROM document_key_wraps WHERE {} \
             AND (holder_kind = 'patient' OR (holder_kind = 'practitioner' AND holder_id = $2))",
            D::any_of("document_id", 1)
        );
        let wraps: Vec<DocumentWrap> = sql(sqlx::AssertSqlSafe(q))
            .bind((docs, practitioner))
            .fetch_all(&self.pool)
            .await?;
        Ok(wraps.into_iter().map(|DocumentWrap(d, w)| (d, w)).collect())
    }

    async fn grant(&self, doc: DocumentId, grantee: PractitionerId) -> Result<Option<GrantRow>> {
        sql("SELECT * FROM grants WHERE document_id = $1 AND grantee = $2")
            .bind((doc, grantee))
            .fetch_optional(&self.pool)
            .await
    }

    async fn grants_on_patient(
        &self,
        patient: PatientId,
        grantee: PractitionerId,
    ) -> Result<Vec<GrantRow>> {
        sql(
            // Driven by the patient's documents, each looked up in the grants' primary key: the
            // cost follows the patient's record. Joined the other way round (SQLite's choice
            // without statistics) it walked every grant the practitioner ever received: the
            // SQLite soak's dominant statement, 0.5 ms in its first minute and 4.9 ms by its
            // sixth, for a reader given 7,600 shares.
            "SELECT g.* FROM grants g \
             WHERE g.document_id IN (SELECT d.id FROM documents d WHERE d.patient_id = $1) \
             AND g.grantee = $2",
        )
        .bind((patient, grantee))
        .fetch_all(&self.pool)
        .await
    }

    async fn grants_of_document(&self, doc: DocumentId) -> Result<Vec<GrantRow>> {
        sql("SELECT * FROM grants WHERE document_id = $1 ORDER BY granted_at")
            .bind(doc)
            .fetch_all(&self.pool)
            .await
    }

    async fn put_grant(
        &self,
        doc: DocumentId,
        g: &NewGrant,
        by: PractitionerId,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        put_grant(&mut tx, doc, g, by, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_grant(
        &self,
        doc: DocumentId,
        grantee: PractitionerId,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let revoked = sql("UPDATE grants SET revoked_at = $1 \
                           WHERE document_id = $2 AND grantee = $3 AND revoked_at IS NULL")
        .bind((now, doc, grantee))
        .execute(&mut tx)
        .await?;
        // Without a live grant there is nothing to revoke: above all, never touch the
        // uploader's own key wrap.
        if revoked != 1 {
            return Ok(false);
        }
        sql("DELETE FROM document_key_wraps \
             WHERE document_id = $1 AND holder_kind = 'practitioner' AND holder_id = $2")
        .bind((doc, grantee))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
