//! SQLite implementation of [`MetadataStore`]: one file, WAL, foreign keys, busy timeout.

use crate::common::{epoch_of, holder_key, json, opt_signed, parse_id, parse_json};
use crate::*;
use medshare_model::api::{ConsentHolder, Holder, KeyWrap, NewEnrolment, NewGrant};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// The embedded default store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

/// SQLite migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Open (creating if needed) the database at `url` without touching the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        Ok(Self { pool })
    }

    /// Open the database at `url` and bring its schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        let s = Self::connect(url).await?;
        s.prepare_schema(OpenMode::Migrate).await?;
        Ok(s)
    }

    /// Refuse a newer or altered schema; migrate or refuse a behind one, as `mode` says.
    pub async fn prepare_schema(&self, mode: OpenMode) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        crate::schema::prepare(&mut *conn, &MIGRATOR, mode).await
    }

    /// The schema against this binary's migrations.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        let mut conn = self.pool.acquire().await?;
        crate::schema::inspect(&mut *conn, &MIGRATOR).await
    }

    /// A consistent copy of the whole database in a new file (`VACUUM INTO`), safe while the
    /// hub runs. `dest` must not exist.
    pub async fn backup_to(&self, dest: &std::path::Path) -> Result<()> {
        let dest = dest.to_str().ok_or(StoreError::UnsupportedUrl)?;
        sqlx::query("VACUUM INTO ?")
            .bind(dest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The underlying pool (tests and backups).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin().await?)
    }
}

fn practitioner_row(r: &SqliteRow) -> Result<PractitionerRow> {
    Ok(PractitionerRow {
        id: parse_id(r.get::<&str, _>("id"))?,
        institution_id: parse_id(r.get::<&str, _>("institution_id"))?,
        details: parse_json::<NewEnrolment>(r.get("details"))?,
        status: PractitionerStatus::parse(r.get("status")).ok_or(StoreError::Corrupt)?,
        enrolment_expires: r.get("enrolment_expires"),
        creates_institution_keys: r.get::<i64, _>("creates_institution_keys") != 0,
        kdf: r.get("kdf"),
        credential_hash: r.get("credential_hash"),
        key_bundle: r.get("key_bundle"),
        sign_public: r.get("sign_public"),
        recipient: r.get("recipient"),
        cert: opt_signed(r.get("cert"))?,
        revocation: opt_signed(r.get("revocation"))?,
        keyring_wrap: r.get("keyring_wrap"),
        totp_secret: r.get("totp_secret"),
        failed_logins: r.get("failed_logins"),
        locked_until: r.get("locked_until"),
    })
}

fn institution_row(r: &SqliteRow) -> Result<InstitutionRow> {
    Ok(InstitutionRow {
        id: parse_id(r.get::<&str, _>("id"))?,
        name: r.get("name"),
        code: r.get("code"),
        sign_public: r.get("sign_public"),
        cert: opt_signed(r.get("cert"))?,
        alliance_wrap: r.get("alliance_wrap"),
        alliance_wrap_epoch: r
            .get::<Option<i64>, _>("alliance_wrap_epoch")
            .map(|e| e as u32),
        created_at: r.get("created_at"),
    })
}

fn document_row(r: &SqliteRow) -> Result<DocumentRow> {
    Ok(DocumentRow {
        id: parse_id(r.get::<&str, _>("id"))?,
        patient_id: parse_id(r.get::<&str, _>("patient_id"))?,
        uploader: parse_id(r.get::<&str, _>("uploader"))?,
        institution_id: parse_id(r.get::<&str, _>("institution_id"))?,
        size: r.get::<i64, _>("size") as u64,
        ciphertext_sha256: r.get("ciphertext_sha256"),
        manifest: r.get("manifest"),
        binding: parse_json(r.get("binding"))?,
        created_at: r.get("created_at"),
    })
}

fn grant_row(r: &SqliteRow) -> Result<GrantRow> {
    Ok(GrantRow {
        document_id: parse_id(r.get::<&str, _>("document_id"))?,
        grantee: parse_id(r.get::<&str, _>("grantee"))?,
        granted_by: parse_id(r.get::<&str, _>("granted_by"))?,
        granted_at: r.get("granted_at"),
        expires_at: r.get("expires_at"),
        revoked_at: r.get("revoked_at"),
    })
}

async fn insert_practitioner(
    tx: &mut Transaction<'static, Sqlite>,
    p: &NewPractitioner,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO practitioners (id, institution_id, handle, details, status, enrolment_hash, \
         enrolment_expires, creates_institution_keys, created_at) VALUES (?, ?, ?, ?, 'invited', ?, ?, ?, ?)",
    )
    .bind(p.id.to_string())
    .bind(p.institution_id.to_string())
    .bind(p.details.handle.as_str())
    .bind(json(&p.details))
    .bind(&p.enrolment_hash)
    .bind(p.enrolment_expires)
    .bind(p.creates_institution_keys as i64)
    .bind(p.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_patient_wraps(
    tx: &mut Transaction<'static, Sqlite>,
    patient: PatientId,
    wraps: &[PatientKeyWrapRow],
) -> Result<()> {
    for w in wraps {
        let (kind, id, epoch) = match w.institution {
            Some((i, e)) => ("institution", i.to_string(), e),
            None => ("alliance", String::new(), 0),
        };
        sqlx::query(
            "INSERT OR REPLACE INTO patient_key_wraps (patient_id, patient_epoch, holder_kind, holder_id, holder_epoch, wrap) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(patient.to_string())
        .bind(w.patient_epoch as i64)
        .bind(kind)
        .bind(id)
        .bind(epoch as i64)
        .bind(&w.wrap)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert_epoch(
    tx: &mut Transaction<'static, Sqlite>,
    inst: InstitutionId,
    epoch: u32,
    statement: &Signed,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO institution_epochs (institution_id, epoch, statement, created_at) VALUES (?, ?, ?, ?)")
        .bind(inst.to_string())
        .bind(epoch as i64)
        .bind(json(statement))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn alliance(&self) -> Result<Option<AllianceRow>> {
        let row = sqlx::query("SELECT root_public, alliance_key FROM alliance WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(AllianceRow {
                root_public: r.get("root_public"),
                alliance_key: parse_json(r.get("alliance_key"))?,
            })
        })
        .transpose()
    }

    async fn bootstrap(&self, root_public: &str, alliance_key: &Signed, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO alliance (id, root_public, alliance_key, created_at) VALUES (1, ?, ?, ?)",
        )
        .bind(root_public)
        .bind(json(alliance_key))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn use_root_nonce(&self, nonce: &str, now: i64) -> Result<bool> {
        let r = sqlx::query("INSERT OR IGNORE INTO root_nonces (nonce, used_at) VALUES (?, ?)")
            .bind(nonce)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn create_institution(
        &self,
        inst: &InstitutionRow,
        admin: &NewPractitioner,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO institutions (id, name, code, created_at) VALUES (?, ?, ?, ?)")
            .bind(inst.id.to_string())
            .bind(&inst.name)
            .bind(&inst.code)
            .bind(inst.created_at)
            .execute(&mut *tx)
            .await?;
        insert_practitioner(&mut tx, admin).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn institution(&self, id: InstitutionId) -> Result<Option<InstitutionRow>> {
        sqlx::query("SELECT * FROM institutions WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(institution_row)
            .transpose()
    }

    async fn institutions(&self) -> Result<Vec<InstitutionRow>> {
        sqlx::query("SELECT * FROM institutions ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(institution_row)
            .collect()
    }

    async fn institution_epochs(&self, id: InstitutionId) -> Result<Vec<Signed>> {
        sqlx::query(
            "SELECT statement FROM institution_epochs WHERE institution_id = ? ORDER BY epoch",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| parse_json(r.get("statement")))
        .collect()
    }

    async fn certify_institution(
        &self,
        id: InstitutionId,
        cert: &Signed,
        alliance_wrap: &str,
        epoch: u32,
    ) -> Result<()> {
        let r = sqlx::query("UPDATE institutions SET cert = ?, alliance_wrap = ?, alliance_wrap_epoch = ? WHERE id = ?")
            .bind(json(cert))
            .bind(alliance_wrap)
            .bind(epoch as i64)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_practitioner(&self, p: &NewPractitioner) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_practitioner(&mut tx, p).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn practitioner(&self, id: PractitionerId) -> Result<Option<PractitionerRow>> {
        sqlx::query("SELECT * FROM practitioners WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(practitioner_row)
            .transpose()
    }

    async fn practitioner_by_handle(&self, handle: &Handle) -> Result<Option<PractitionerRow>> {
        sqlx::query("SELECT * FROM practitioners WHERE handle = ?")
            .bind(handle.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(practitioner_row)
            .transpose()
    }

    async fn practitioner_by_enrolment(&self, code_hash: &str) -> Result<Option<PractitionerRow>> {
        sqlx::query("SELECT * FROM practitioners WHERE enrolment_hash = ? AND status = 'invited'")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(practitioner_row)
            .transpose()
    }

    async fn practitioners_of(
        &self,
        institution: InstitutionId,
        status: Option<PractitionerStatus>,
    ) -> Result<Vec<PractitionerRow>> {
        sqlx::query("SELECT * FROM practitioners WHERE institution_id = ? AND (? IS NULL OR status = ?) ORDER BY handle")
            .bind(institution.to_string())
            .bind(status.map(|s| s.as_str()))
            .bind(status.map(|s| s.as_str()))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(practitioner_row)
            .collect()
    }

    async fn redeem_enrolment(&self, r: &Redemption) -> Result<()> {
        let mut tx = self.begin().await?;
        let (status, cert, keyring) = match &r.institution_setup {
            Some((_, _, cert, keyring)) => ("certified", Some(json(cert)), Some(keyring.clone())),
            None => ("enrolled", None, None),
        };
        let done = sqlx::query(
            "UPDATE practitioners SET status = ?, enrolment_hash = NULL, enrolment_expires = NULL, kdf = ?, \
             credential_hash = ?, key_bundle = ?, sign_public = ?, recipient = ?, totp_secret = ?, cert = ?, \
             keyring_wrap = ? WHERE id = ? AND status = 'invited'",
        )
        .bind(status)
        .bind(&r.kdf)
        .bind(&r.credential_hash)
        .bind(&r.key_bundle)
        .bind(&r.sign_public)
        .bind(&r.recipient)
        .bind(&r.totp_secret)
        .bind(cert)
        .bind(keyring)
        .bind(r.id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        if let Some((sign_public, epoch, _, _)) = &r.institution_setup {
            let inst: String =
                sqlx::query_scalar("SELECT institution_id FROM practitioners WHERE id = ?")
                    .bind(r.id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
            let set = sqlx::query(
                "UPDATE institutions SET sign_public = ? WHERE id = ? AND sign_public IS NULL",
            )
            .bind(sign_public)
            .bind(&inst)
            .execute(&mut *tx)
            .await?;
            if set.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
            insert_epoch(&mut tx, parse_id(&inst)?, epoch_of(epoch)?, epoch, r.now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn certify_practitioner(
        &self,
        id: PractitionerId,
        cert: &Signed,
        keyring_wrap: &str,
    ) -> Result<()> {
        let r = sqlx::query("UPDATE practitioners SET status = 'certified', cert = ?, keyring_wrap = ? WHERE id = ? AND status IN ('enrolled', 'certified')")
            .bind(json(cert))
            .bind(keyring_wrap)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if r.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn remove_practitioner(&self, r: &Removal) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE practitioners SET status = 'removed', keyring_wrap = NULL, revocation = ? WHERE id = ? AND institution_id = ? AND status != 'removed'")
            .bind(json(&r.revocation))
            .bind(r.practitioner.to_string())
            .bind(r.institution.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE sessions SET revoked = 1 WHERE practitioner_id = ?")
            .bind(r.practitioner.to_string())
            .execute(&mut *tx)
            .await?;
        insert_epoch(&mut tx, r.institution, r.new_epoch, &r.statement, r.now).await?;
        for (pid, wrap) in &r.keyrings {
            sqlx::query("UPDATE practitioners SET keyring_wrap = ? WHERE id = ? AND institution_id = ? AND status = 'certified'")
                .bind(wrap)
                .bind(pid.to_string())
                .bind(r.institution.to_string())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE institutions SET alliance_wrap = ?, alliance_wrap_epoch = ? WHERE id = ?",
        )
        .bind(&r.alliance_wrap)
        .bind(r.new_epoch as i64)
        .bind(r.institution.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_login_failures(
        &self,
        id: PractitionerId,
        failures: i64,
        locked_until: Option<i64>,
    ) -> Result<()> {
        sqlx::query("UPDATE practitioners SET failed_logins = ?, locked_until = ? WHERE id = ?")
            .bind(failures)
            .bind(locked_until)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_login_failure(&self, id: PractitionerId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE practitioners SET failed_logins = failed_logins + 1 WHERE id = ? RETURNING failed_logins",
        )
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn lock_logins(&self, id: PractitionerId, until: i64) -> Result<()> {
        sqlx::query(
            "UPDATE practitioners SET locked_until = ? WHERE id = ? AND (locked_until IS NULL OR locked_until < ?)",
        )
        .bind(until)
        .bind(id.to_string())
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_session(&self, s: &SessionRow) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, practitioner_id, created_at, expires_at, revoked) VALUES (?, ?, ?, ?, 0)")
            .bind(&s.token_hash)
            .bind(s.practitioner_id.to_string())
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SessionRow {
                token_hash: r.get("token_hash"),
                practitioner_id: parse_id(r.get::<&str, _>("practitioner_id"))?,
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
                revoked: r.get::<i64, _>("revoked") != 0,
            })
        })
        .transpose()
    }

    async fn revoke_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked = 1 WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_patient(&self, p: &NewPatientRow) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO patients (id, card, created_by, created_at) VALUES (?, ?, ?, ?)")
            .bind(p.id.to_string())
            .bind(&p.card)
            .bind(p.created_by.to_string())
            .bind(p.created_at)
            .execute(&mut *tx)
            .await?;
        for r in &p.refs {
            sqlx::query("INSERT INTO patient_refs (ref, patient_id) VALUES (?, ?)")
                .bind(r.as_str())
                .bind(p.id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO patient_key_epochs (patient_id, epoch, statement, created_at) VALUES (?, ?, ?, ?)")
            .bind(p.id.to_string())
            .bind(epoch_of(&p.key_epoch)? as i64)
            .bind(json(&p.key_epoch))
            .bind(p.created_at)
            .execute(&mut *tx)
            .await?;
        insert_patient_wraps(&mut tx, p.id, &p.wraps).await?;
        for c in &p.consents {
            sqlx::query("INSERT INTO patient_consents (patient_id, holder, granted_by, granted_at) VALUES (?, ?, ?, ?)")
                .bind(p.id.to_string())
                .bind(holder_key(c))
                .bind(p.created_by.to_string())
                .bind(p.created_at)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO care_relationships (patient_id, practitioner_id, declared_by, declared_at) VALUES (?, ?, ?, ?)")
            .bind(p.id.to_string())
            .bind(p.created_by.to_string())
            .bind(p.created_by.to_string())
            .bind(p.created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn patient_by_refs(&self, refs: &[PatientRef]) -> Result<Option<PatientId>> {
        for r in refs {
            let found: Option<String> =
                sqlx::query_scalar("SELECT patient_id FROM patient_refs WHERE ref = ?")
                    .bind(r.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(id) = found {
                return Ok(Some(parse_id(&id)?));
            }
        }
        Ok(None)
    }

    async fn patient(&self, id: PatientId) -> Result<Option<PatientRow>> {
        let row = sqlx::query("SELECT * FROM patients WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(PatientRow {
                id: parse_id(r.get::<&str, _>("id"))?,
                card: r.get("card"),
                created_by: parse_id(r.get::<&str, _>("created_by"))?,
                created_at: r.get("created_at"),
            })
        })
        .transpose()
    }

    async fn patient_key_epochs(&self, id: PatientId) -> Result<Vec<Signed>> {
        sqlx::query("SELECT statement FROM patient_key_epochs WHERE patient_id = ? ORDER BY epoch")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| parse_json(r.get("statement")))
            .collect()
    }

    async fn patient_key_wraps(
        &self,
        id: PatientId,
        institutions: &[InstitutionId],
        alliance: bool,
    ) -> Result<Vec<PatientKeyWrapRow>> {
        let rows = sqlx::query(
            "SELECT * FROM patient_key_wraps WHERE patient_id = ? ORDER BY patient_epoch",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let kind: String = r.get("holder_kind");
            let wrap = PatientKeyWrapRow {
                patient_epoch: r.get::<i64, _>("patient_epoch") as u32,
                institution: if kind == "institution" {
                    Some((
                        parse_id(r.get::<&str, _>("holder_id"))?,
                        r.get::<i64, _>("holder_epoch") as u32,
                    ))
                } else {
                    None
                },
                wrap: r.get("wrap"),
            };
            let wanted = match wrap.institution {
                Some((i, _)) => institutions.contains(&i),
                None => alliance,
            };
            if wanted {
                out.push(wrap);
            }
        }
        Ok(out)
    }

    async fn consents(&self, id: PatientId) -> Result<Vec<ConsentHolder>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT holder FROM patient_consents WHERE patient_id = ? ORDER BY holder",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|h| {
                if h == "alliance" {
                    Ok(ConsentHolder::Alliance)
                } else {
                    Ok(ConsentHolder::Institution { id: parse_id(h)? })
                }
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
        sqlx::query("INSERT OR REPLACE INTO patient_consents (patient_id, holder, granted_by, granted_at) VALUES (?, ?, ?, ?)")
            .bind(id.to_string())
            .bind(holder_key(to))
            .bind(by.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO patient_key_epochs (patient_id, epoch, statement, created_at) VALUES (?, ?, ?, ?)")
            .bind(id.to_string())
            .bind(new_epoch as i64)
            .bind(json(statement))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_patient_wraps(&mut tx, id, wraps).await?;
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
        let gone = sqlx::query("DELETE FROM patient_consents WHERE patient_id = ? AND holder = ?")
            .bind(id.to_string())
            .bind(holder_key(from))
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        let (kind, hid) = match from {
            ConsentHolder::Institution { id } => ("institution", id.to_string()),
            ConsentHolder::Alliance => ("alliance", String::new()),
        };
        sqlx::query("DELETE FROM patient_key_wraps WHERE patient_id = ? AND holder_kind = ? AND holder_id = ?")
            .bind(id.to_string())
            .bind(kind)
            .bind(hid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO patient_key_epochs (patient_id, epoch, statement, created_at) VALUES (?, ?, ?, ?)")
            .bind(id.to_string())
            .bind(new_epoch as i64)
            .bind(json(statement))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_patient_wraps(&mut tx, id, wraps).await?;
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
        sqlx::query("INSERT OR IGNORE INTO care_relationships (patient_id, practitioner_id, declared_by, declared_at) VALUES (?, ?, ?, ?)")
            .bind(patient.to_string())
            .bind(practitioner.to_string())
            .bind(by.to_string())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn has_care(&self, patient: PatientId, practitioner: PractitionerId) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM care_relationships WHERE patient_id = ? AND practitioner_id = ?",
        )
        .bind(patient.to_string())
        .bind(practitioner.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    async fn care_team(&self, patient: PatientId) -> Result<Vec<PractitionerId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT practitioner_id FROM care_relationships WHERE patient_id = ? ORDER BY practitioner_id",
        )
        .bind(patient.to_string())
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|s| parse_id(s)).collect()
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
        let id = sqlx::query_scalar("INSERT INTO break_glass (patient_id, practitioner_id, reason, reason_epoch, opened_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id")
            .bind(patient.to_string())
            .bind(practitioner.to_string())
            .bind(reason)
            .bind(reason_epoch as i64)
            .bind(now)
            .bind(expires)
            .fetch_one(&self.pool)
            .await?;
        Ok(id)
    }

    async fn break_glass_active(
        &self,
        patient: PatientId,
        practitioner: PractitionerId,
        now: i64,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM break_glass WHERE patient_id = ? AND practitioner_id = ? AND expires_at > ?")
            .bind(patient.to_string())
            .bind(practitioner.to_string())
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn stage_upload(&self, s: &StagedUploadRow) -> Result<()> {
        sqlx::query("INSERT INTO staged_uploads (id, practitioner_id, size, sha256, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(s.id.to_string())
            .bind(s.practitioner_id.to_string())
            .bind(s.size as i64)
            .bind(&s.sha256)
            .bind(s.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn staged_upload(&self, id: UploadId) -> Result<Option<StagedUploadRow>> {
        let row = sqlx::query("SELECT * FROM staged_uploads WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(StagedUploadRow {
                id: parse_id(r.get::<&str, _>("id"))?,
                practitioner_id: parse_id(r.get::<&str, _>("practitioner_id"))?,
                size: r.get::<i64, _>("size") as u64,
                sha256: r.get("sha256"),
                created_at: r.get("created_at"),
            })
        })
        .transpose()
    }

    async fn delete_staged_upload(&self, id: UploadId) -> Result<()> {
        sqlx::query("DELETE FROM staged_uploads WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn stale_staged_uploads(&self, before: i64) -> Result<Vec<UploadId>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM staged_uploads WHERE created_at < ?")
                .bind(before)
                .fetch_all(&self.pool)
                .await?;
        ids.iter().map(|s| parse_id(s)).collect()
    }

    async fn staged_usage(&self, practitioner: PractitionerId) -> Result<(i64, u64)> {
        let (n, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM staged_uploads WHERE practitioner_id = ?",
        )
        .bind(practitioner.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok((n, bytes.max(0) as u64))
    }

    async fn claim_document(&self, upload: UploadId, document: DocumentId) -> Result<()> {
        let done = sqlx::query(
            "UPDATE staged_uploads SET document_id = ? WHERE id = ? AND (document_id IS NULL OR document_id = ?)",
        )
        .bind(document.to_string())
        .bind(upload.to_string())
        .bind(document.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn commit_document(
        &self,
        d: &DocumentRow,
        wraps: &[KeyWrap],
        grants: &[NewGrant],
        upload: UploadId,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let staged = sqlx::query("DELETE FROM staged_uploads WHERE id = ?")
            .bind(upload.to_string())
            .execute(&mut *tx)
            .await?;
        if staged.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO documents (id, patient_id, uploader, institution_id, size, ciphertext_sha256, manifest, binding, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.id.to_string())
        .bind(d.patient_id.to_string())
        .bind(d.uploader.to_string())
        .bind(d.institution_id.to_string())
        .bind(d.size as i64)
        .bind(&d.ciphertext_sha256)
        .bind(&d.manifest)
        .bind(json(&d.binding))
        .bind(d.created_at)
        .execute(&mut *tx)
        .await?;
        for w in wraps {
            let (kind, id, epoch) = match &w.holder {
                Holder::Practitioner { id } => ("practitioner", id.to_string(), 0),
                Holder::Patient { epoch } => ("patient", String::new(), *epoch),
                _ => return Err(StoreError::Conflict),
            };
            sqlx::query("INSERT INTO document_key_wraps (document_id, holder_kind, holder_id, holder_epoch, wrap) VALUES (?, ?, ?, ?, ?)")
                .bind(d.id.to_string())
                .bind(kind)
                .bind(id)
                .bind(epoch as i64)
                .bind(&w.wrap)
                .execute(&mut *tx)
                .await?;
        }
        for g in grants {
            put_grant_tx(&mut tx, d.id, g, d.uploader, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRow>> {
        sqlx::query("SELECT * FROM documents WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(document_row)
            .transpose()
    }

    async fn documents_of_patient(&self, patient: PatientId) -> Result<Vec<DocumentRow>> {
        sqlx::query(
            "SELECT * FROM documents WHERE patient_id = ? ORDER BY created_at DESC, rowid DESC",
        )
        .bind(patient.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(document_row)
        .collect()
    }

    async fn document_ids(&self) -> Result<Vec<DocumentId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM documents")
            .fetch_all(&self.pool)
            .await?;
        ids.iter().map(|s| parse_id(s)).collect()
    }

    async fn document_key_wraps(
        &self,
        docs: &[DocumentId],
        practitioner: PractitionerId,
    ) -> Result<Vec<(DocumentId, KeyWrap)>> {
        let mut out = Vec::new();
        // One statement per 200 ids keeps within SQLite's bound-parameter limit.
        for chunk in docs.chunks(200) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT * FROM document_key_wraps WHERE document_id IN ({marks}) \
                 AND (holder_kind = 'patient' OR (holder_kind = 'practitioner' AND holder_id = ?))"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                q = q.bind(d.to_string());
            }
            let rows = q
                .bind(practitioner.to_string())
                .fetch_all(&self.pool)
                .await?;
            for r in rows {
                let kind: String = r.get("holder_kind");
                let holder = if kind == "patient" {
                    Holder::Patient {
                        epoch: r.get::<i64, _>("holder_epoch") as u32,
                    }
                } else {
                    Holder::Practitioner {
                        id: parse_id(r.get::<&str, _>("holder_id"))?,
                    }
                };
                out.push((
                    parse_id(r.get::<&str, _>("document_id"))?,
                    KeyWrap {
                        holder,
                        wrap: r.get("wrap"),
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn grant(&self, doc: DocumentId, grantee: PractitionerId) -> Result<Option<GrantRow>> {
        sqlx::query("SELECT * FROM grants WHERE document_id = ? AND grantee = ?")
            .bind(doc.to_string())
            .bind(grantee.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(grant_row)
            .transpose()
    }

    async fn grants_on_patient(
        &self,
        patient: PatientId,
        grantee: PractitionerId,
    ) -> Result<Vec<GrantRow>> {
        sqlx::query("SELECT g.* FROM grants g JOIN documents d ON d.id = g.document_id WHERE d.patient_id = ? AND g.grantee = ?")
            .bind(patient.to_string())
            .bind(grantee.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(grant_row)
            .collect()
    }

    async fn grants_of_document(&self, doc: DocumentId) -> Result<Vec<GrantRow>> {
        sqlx::query("SELECT * FROM grants WHERE document_id = ? ORDER BY granted_at")
            .bind(doc.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(grant_row)
            .collect()
    }

    async fn put_grant(
        &self,
        doc: DocumentId,
        g: &NewGrant,
        by: PractitionerId,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        put_grant_tx(&mut tx, doc, g, by, now).await?;
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
        let r = sqlx::query("UPDATE grants SET revoked_at = ? WHERE document_id = ? AND grantee = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(doc.to_string())
            .bind(grantee.to_string())
            .execute(&mut *tx)
            .await?;
        // Without a live grant there is nothing to revoke: above all, never touch the
        // uploader's own key wrap.
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM document_key_wraps WHERE document_id = ? AND holder_kind = 'practitioner' AND holder_id = ?")
            .bind(doc.to_string())
            .bind(grantee.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn push_event(&self, recipient: PractitionerId, at: i64, body: &str) -> Result<i64> {
        let r = sqlx::query("INSERT INTO events (recipient, at, body) VALUES (?, ?, ?)")
            .bind(recipient.to_string())
            .bind(at)
            .bind(body)
            .execute(&self.pool)
            .await?;
        Ok(r.last_insert_rowid())
    }

    async fn events_since(
        &self,
        recipient: PractitionerId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, body FROM events WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(recipient.to_string())
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| EventRow {
                seq: r.get("seq"),
                at: r.get("at"),
                body: r.get("body"),
            })
            .collect())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

async fn put_grant_tx(
    tx: &mut Transaction<'static, Sqlite>,
    doc: DocumentId,
    g: &NewGrant,
    by: PractitionerId,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO grants (document_id, grantee, granted_by, granted_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL) \
         ON CONFLICT (document_id, grantee) DO UPDATE SET granted_by = excluded.granted_by, granted_at = excluded.granted_at, \
         expires_at = excluded.expires_at, revoked_at = NULL",
    )
    .bind(doc.to_string())
    .bind(g.grantee.to_string())
    .bind(by.to_string())
    .bind(now)
    .bind(g.expires_at.map(|t| t.unix_timestamp()))
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT OR REPLACE INTO document_key_wraps (document_id, holder_kind, holder_id, holder_epoch, wrap) VALUES (?, 'practitioner', ?, 0, ?)",
    )
    .bind(doc.to_string())
    .bind(g.grantee.to_string())
    .bind(&g.wrap)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
