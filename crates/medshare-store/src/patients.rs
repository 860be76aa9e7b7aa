//! Patients: their references (blind-indexed numbers), key epochs and key wraps, consents,
//! care relationships and break-glass windows.

use crate::dialect::Dialect;
use crate::rows::epoch_of;
use crate::sql::{Columns, FromRow, sql};
use crate::{NewPatientRow, PatientKeyWrapRow, PatientRow, Result, Store, StoreError};
use async_trait::async_trait;
use medshare_model::api::ConsentHolder;
use medshare_model::statements::Signed;
use medshare_model::{InstitutionId, PatientId, PatientRef, PractitionerId};
use sqlx::Transaction;

/// The patient side of the store.
#[async_trait]
pub trait PatientStore: Send + Sync {
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
}

impl FromRow for PatientRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.id("id")?,
            card: r.get("card")?,
            created_by: r.id("created_by")?,
            created_at: r.get("created_at")?,
        })
    }
}

impl FromRow for PatientKeyWrapRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        let institution = match r.get::<String>("holder_kind")?.as_str() {
            "institution" => Some((r.id("holder_id")?, r.u32("holder_epoch")?)),
            "alliance" => None,
            _ => return Err(StoreError::Corrupt),
        };
        Ok(Self {
            patient_epoch: r.u32("patient_epoch")?,
            institution,
            wrap: r.get("wrap")?,
        })
    }
}

/// A consent holder as stored: an institution id or `alliance`.
fn holder_key(h: &ConsentHolder) -> String {
    match h {
        ConsentHolder::Institution { id } => id.to_string(),
        ConsentHolder::Alliance => "alliance".into(),
    }
}

/// A key wrap holder as stored: (kind, id) with an empty id for the alliance.
fn wrap_holder(institution: Option<InstitutionId>) -> (&'static str, String) {
    match institution {
        Some(i) => ("institution", i.to_string()),
        None => ("alliance", String::new()),
    }
}

/// Record a patient key epoch and the wraps of its key; a wrap already stored for the same
/// holder and epochs is replaced in place.
async fn insert_epoch<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    patient: PatientId,
    epoch: u32,
    statement: &Signed,
    wraps: &[PatientKeyWrapRow],
    now: i64,
) -> Result<()> {
    sql(
        "INSERT INTO patient_key_epochs (patient_id, epoch, statement, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind((patient, epoch, statement, now))
    .execute(&mut *tx)
    .await?;
    for w in wraps {
        let (kind, id) = wrap_holder(w.institution.map(|(i, _)| i));
        sql("INSERT INTO patient_key_wraps \
             (patient_id, patient_epoch, holder_kind, holder_id, holder_epoch, wrap) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (patient_id, patient_epoch, holder_kind, holder_id, holder_epoch) \
             DO UPDATE SET wrap = excluded.wrap")
        .bind((
            patient,
            w.patient_epoch,
            kind,
            id,
            w.institution.map_or(0, |(_, e)| e),
            &w.wrap,
        ))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl<D: Dialect> PatientStore for Store<D> {
    async fn create_patient(&self, p: &NewPatientRow) -> Result<()> {
        let mut tx = self.begin().await?;
        sql("INSERT INTO patients (id, card, created_by, created_at) VALUES ($1, $2, $3, $4)")
            .bind((p.id, &p.card, p.created_by, p.created_at))
            .execute(&mut tx)
            .await?;
        for r in &p.refs {
            sql("INSERT INTO patient_refs (ref, patient_id) VALUES ($1, $2)")
                .bind((r, p.id))
                .execute(&mut tx)
                .await?;
        }
        let epoch = epoch_of(&p.key_epoch)?;
        insert_epoch(&mut tx, p.id, epoch, &p.key_epoch, &p.wraps, p.created_at).await?;
        for c in &p.consents {
            sql(
                "INSERT INTO patient_consents (patient_id, holder, granted_by, granted_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind((p.id, holder_key(c), p.created_by, p.created_at))
            .execute(&mut tx)
            .await?;
        }
        sql("INSERT INTO care_relationships (patient_id, practitioner_id, declared_by, declared_at) \
             VALUES ($1, $2, $2, $3)")
        .bind((p.id, p.created_by, p.created_at))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn patient_by_refs(&self, refs: &[PatientRef]) -> Result<Option<PatientId>> {
        for r in refs {
            let found = sql("SELECT patient_id FROM patient_refs WHERE ref = $1")
                .bind(r)
                .fetch_optional(&self.pool)
                .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    async fn patient(&self, id: PatientId) -> Result<Option<PatientRow>> {
        sql("SELECT * FROM patients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    async fn patient_key_epochs(&self, id: PatientId) -> Result<Vec<Signed>> {
        sql("SELECT statement FROM patient_key_epochs WHERE patient_id = $1 ORDER BY epoch")
            .bind(id)
            .fetch_all(&self.pool)
            .await
    }

    async fn patient_key_wraps(
        &self,
        id: PatientId,
        institutions: &[InstitutionId],
        alliance: bool,
    ) -> Result<Vec<PatientKeyWrapRow>> {
        let q = format!(
            "SELECT * FROM patient_key_wraps WHERE patient_id = $1 \
             AND ((holder_kind = 'institution' AND {}) OR (holder_kind = 'alliance' AND $3 = 1)) \
             ORDER BY patient_epoch, holder_kind, holder_id, holder_epoch",
            D::any_of("holder_id", 2)
        );
        sql(sqlx::AssertSqlSafe(q))
            .bind((id, institutions, alliance))
            .fetch_all(&self.pool)
            .await
    }

    async fn consents(&self, id: PatientId) -> Result<Vec<ConsentHolder>> {
        let holders: Vec<String> =
            sql("SELECT holder FROM patient_consents WHERE patient_id = $1 ORDER BY holder")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        holders
            .iter()
            .map(|h| match h.as_str() {
                "alliance" => Ok(ConsentHolder::Alliance),
                id => Ok(ConsentHolder::Institution {
                    id: crate::sql::parse_id(id)?,
                }),
            })
            .collect()
    }

    async fn grant_consent(
        &self,
        id: PatientId,
        to: &ConsentHolder,
        new_epoch: u32,
        statement: &Signed,
        wraps: &[PatientKeyWrapRow],
        by: PractitionerId,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sql(
            "INSERT INTO patient_consents (patient_id, holder, granted_by, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (patient_id, holder) \
             DO UPDATE SET granted_by = excluded.granted_by, granted_at = excluded.granted_at",
        )
        .bind((id, holder_key(to), by, now))
        .execute(&mut tx)
        .await?;
        insert_epoch(&mut tx, id, new_epoch, statement, wraps, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_consent(
        &self,
        id: PatientId,
        from: &ConsentHolder,
        new_epoch: u32,
        statement: &Signed,
        wraps: &[PatientKeyWrapRow],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let gone = sql("DELETE FROM patient_consents WHERE patient_id = $1 AND holder = $2")
            .bind((id, holder_key(from)))
            .execute(&mut tx)
            .await?;
        if gone != 1 {
            return Err(StoreError::NotFound);
        }
        let (kind, holder) = wrap_holder(match from {
            ConsentHolder::Institution { id } => Some(*id),
            ConsentHolder::Alliance => None,
        });
        sql("DELETE FROM patient_key_wraps \
             WHERE patient_id = $1 AND holder_kind = $2 AND holder_id = $3")
        .bind((id, kind, holder))
        .execute(&mut tx)
        .await?;
        insert_epoch(&mut tx, id, new_epoch, statement, wraps, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_care(
        &self,
        patient: PatientId,
        practitioner: PractitionerId,
        by: PractitionerId,
        now: i64,
    ) -> Result<()> {
        sql("INSERT INTO care_relationships (patient_id, practitioner_id, declared_by, declared_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (patient_id, practitioner_id) DO NOTHING")
        .bind((patient, practitioner, by, now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn has_care(&self, patient: PatientId, practitioner: PractitionerId) -> Result<bool> {
        let n: i64 = sql("SELECT COUNT(*) FROM care_relationships \
                          WHERE patient_id = $1 AND practitioner_id = $2")
        .bind((patient, practitioner))
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    async fn care_team(&self, patient: PatientId) -> Result<Vec<PractitionerId>> {
        sql(
            "SELECT practitioner_id FROM care_relationships WHERE patient_id = $1 \
             ORDER BY practitioner_id",
        )
        .bind(patient)
        .fetch_all(&self.pool)
        .await
    }

    async fn open_break_glass(
        &self,
        patient: PatientId,
        practitioner: PractitionerId,
        reason: &str,
        reason_epoch: u32,
        now: i64,
        expires: i64,
    ) -> Result<i64> {
        sql("INSERT INTO break_glass \
             (patient_id, practitioner_id, reason, reason_epoch, opened_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
        .bind((patient, practitioner, reason, reason_epoch, now, expires))
        .fetch_one(&self.writer)
        .await
    }

    async fn break_glass_active(
        &self,
        patient: PatientId,
        practitioner: PractitionerId,
        now: i64,
    ) -> Result<bool> {
        let n: i64 = sql("SELECT COUNT(*) FROM break_glass \
                          WHERE patient_id = $1 AND practitioner_id = $2 AND expires_at > $3")
        .bind((patient, practitioner, now))
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}
