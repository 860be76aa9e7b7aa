//! Who is who: the alliance root, institutions and their key epochs, practitioners from
//! invitation to removal, login failures and sessions.

use crate::dialect::Dialect;
use crate::sql::{Columns, FromRow, sql};
use crate::{
    AllianceRow, InstitutionRow, NewPractitioner, PractitionerRow, PractitionerStatus, Redemption,
    Removal, Result, SessionRow, Store, StoreError,
};
use async_trait::async_trait;
use medshare_model::statements::Signed;
use medshare_model::{Handle, InstitutionId, PractitionerId};
use sqlx::Transaction;

/// The identity side of the store.
#[async_trait]
pub trait IdentityStore: Send + Sync {
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
    /// Open a session: a login succeeded, so the practitioner's failed-login count and lock are
    /// cleared in the same transaction (one durable write per login instead of two).
    async fn create_session(&self, s: &SessionRow) -> Result<()>;
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>>;
    async fn revoke_session(&self, token_hash: &str) -> Result<()>;
}

impl FromRow for AllianceRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            root_public: r.get("root_public")?,
            alliance_key: r.json("alliance_key")?,
        })
    }
}

impl FromRow for InstitutionRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.id("id")?,
            name: r.get("name")?,
            code: r.get("code")?,
            sign_public: r.get("sign_public")?,
            cert: r.opt_json("cert")?,
            alliance_wrap: r.get("alliance_wrap")?,
            alliance_wrap_epoch: r.opt_u32("alliance_wrap_epoch")?,
            created_at: r.get("created_at")?,
        })
    }
}

impl FromRow for PractitionerRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.id("id")?,
            institution_id: r.id("institution_id")?,
            details: r.json("details")?,
            status: PractitionerStatus::parse(&r.get::<String>("status")?)
                .ok_or(StoreError::Corrupt)?,
            enrolment_expires: r.get("enrolment_expires")?,
            creates_institution_keys: r.flag("creates_institution_keys")?,
            kdf: r.get("kdf")?,
            credential_hash: r.get("credential_hash")?,
            key_bundle: r.get("key_bundle")?,
            sign_public: r.get("sign_public")?,
            recipient: r.get("recipient")?,
            cert: r.opt_json("cert")?,
            revocation: r.opt_json("revocation")?,
            keyring_wrap: r.get("keyring_wrap")?,
            totp_secret: r.get("totp_secret")?,
            failed_logins: r.get("failed_logins")?,
            locked_until: r.get("locked_until")?,
        })
    }
}

impl FromRow for SessionRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            token_hash: r.get("token_hash")?,
            practitioner_id: r.id("practitioner_id")?,
            created_at: r.get("created_at")?,
            expires_at: r.get("expires_at")?,
            revoked: r.flag("revoked")?,
        })
    }
}

/// Exactly one row changed, or `NotFound`.
fn one(changed: u64) -> Result<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

async fn insert_practitioner<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    p: &NewPractitioner,
) -> Result<()> {
    sql(
        "INSERT INTO practitioners (id, institution_id, handle, details, status, enrolment_hash, \
         enrolment_expires, creates_institution_keys, created_at) \
         VALUES ($1, $2, $3, $4, 'invited', $5, $6, $7, $8)",
    )
    .bind((
        p.id,
        p.institution_id,
        &p.details.handle,
        crate::sql::json(&p.details),
        &p.enrolment_hash,
        p.enrolment_expires,
        p.creates_institution_keys,
        p.created_at,
    ))
    .execute(tx)
    .await?;
    Ok(())
}

pub(crate) async fn insert_institution_epoch<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    inst: InstitutionId,
    epoch: u32,
    statement: &Signed,
    now: i64,
) -> Result<()> {
    sql(
        "INSERT INTO institution_epochs (institution_id, epoch, statement, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind((inst, epoch, statement, now))
    .execute(tx)
    .await?;
    Ok(())
}

#[async_trait]
impl<D: Dialect> IdentityStore for Store<D> {
    async fn alliance(&self) -> Result<Option<AllianceRow>> {
        sql("SELECT root_public, alliance_key FROM alliance WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
    }

    async fn bootstrap(&self, root_public: &str, alliance_key: &Signed, now: i64) -> Result<()> {
        sql("INSERT INTO alliance (id, root_public, alliance_key, created_at) VALUES (1, $1, $2, $3)")
            .bind((root_public, alliance_key, now))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn use_root_nonce(&self, nonce: &str, now: i64) -> Result<bool> {
        let added = sql(
            "INSERT INTO root_nonces (nonce, used_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind((nonce, now))
        .execute(&self.writer)
        .await?;
        Ok(added == 1)
    }

    async fn create_institution(
        &self,
        inst: &InstitutionRow,
        admin: &NewPractitioner,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sql("INSERT INTO institutions (id, name, code, created_at) VALUES ($1, $2, $3, $4)")
            .bind((inst.id, &inst.name, &inst.code, inst.created_at))
            .execute(&mut tx)
            .await?;
        insert_practitioner(&mut tx, admin).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn institution(&self, id: InstitutionId) -> Result<Option<InstitutionRow>> {
        sql("SELECT * FROM institutions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    async fn institutions(&self) -> Result<Vec<InstitutionRow>> {
        sql("SELECT * FROM institutions ORDER BY name")
            .fetch_all(&self.pool)
            .await
    }

    async fn institution_epochs(&self, id: InstitutionId) -> Result<Vec<Signed>> {
        sql("SELECT statement FROM institution_epochs WHERE institution_id = $1 ORDER BY epoch")
            .bind(id)
            .fetch_all(&self.pool)
            .await
    }

    async fn certify_institution(
        &self,
        id: InstitutionId,
        cert: &Signed,
        alliance_wrap: &str,
        epoch: u32,
    ) -> Result<()> {
        let changed = sql(
            "UPDATE institutions SET cert = $1, alliance_wrap = $2, alliance_wrap_epoch = $3 \
             WHERE id = $4",
        )
        .bind((cert, alliance_wrap, epoch, id))
        .execute(&self.writer)
        .await?;
        one(changed)
    }

    async fn create_practitioner(&self, p: &NewPractitioner) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_practitioner(&mut tx, p).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn practitioner(&self, id: PractitionerId) -> Result<Option<PractitionerRow>> {
        sql("SELECT * FROM practitioners WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    async fn practitioner_by_handle(&self, handle: &Handle) -> Result<Option<PractitionerRow>> {
        sql("SELECT * FROM practitioners WHERE handle = $1")
            .bind(handle)
            .fetch_optional(&self.pool)
            .await
    }

    async fn practitioner_by_enrolment(&self, code_hash: &str) -> Result<Option<PractitionerRow>> {
        sql("SELECT * FROM practitioners WHERE enrolment_hash = $1 AND status = 'invited'")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await
    }

    async fn practitioners_of(
        &self,
        institution: InstitutionId,
        status: Option<PractitionerStatus>,
    ) -> Result<Vec<PractitionerRow>> {
        sql("SELECT * FROM practitioners WHERE institution_id = $1 \
             AND ($2 IS NULL OR status = $2) ORDER BY handle")
        .bind((institution, status.map(PractitionerStatus::as_str)))
        .fetch_all(&self.pool)
        .await
    }

    async fn redeem_enrolment(&self, r: &Redemption) -> Result<()> {
        let mut tx = self.begin().await?;
        let (status, cert, keyring) = match &r.institution_setup {
            Some((_, _, cert, keyring)) => ("certified", Some(cert), Some(keyring.as_str())),
            None => ("enrolled", None, None),
        };
        // RETURNING names the institution, for a first admin's institution keys below.
        let inst: InstitutionId = sql(
            "UPDATE practitioners SET status = $1, enrolment_hash = NULL, enrolment_expires = NULL, \
             kdf = $2, credential_hash = $3, key_bundle = $4, sign_public = $5, recipient = $6, \
             totp_secret = $7, cert = $8, keyring_wrap = $9 \
             WHERE id = $10 AND status = 'invited' RETURNING institution_id",
        )
        .bind((status, &r.kdf, &r.credential_hash, &r.key_bundle, &r.sign_public, &r.recipient, &r.totp_secret, cert.map(crate::sql::json), keyring, r.id))
        .fetch_one(&mut tx)
        .await?;
        if let Some((sign_public, epoch, _, _)) = &r.institution_setup {
            let set = sql(
                "UPDATE institutions SET sign_public = $1 WHERE id = $2 AND sign_public IS NULL",
            )
            .bind((sign_public, inst))
            .execute(&mut tx)
            .await?;
            if set != 1 {
                return Err(StoreError::Conflict);
            }
            let n = crate::rows::epoch_of(epoch)?;
            insert_institution_epoch(&mut tx, inst, n, epoch, r.now).await?;
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
        let changed = sql(
            "UPDATE practitioners SET status = 'certified', cert = $1, keyring_wrap = $2 \
             WHERE id = $3 AND status IN ('enrolled', 'certified')",
        )
        .bind((cert, keyring_wrap, id))
        .execute(&self.writer)
        .await?;
        one(changed)
    }

    async fn remove_practitioner(&self, r: &Removal) -> Result<()> {
        let mut tx = self.begin().await?;
        let removed = sql(
            "UPDATE practitioners SET status = 'removed', keyring_wrap = NULL, revocation = $1 \
             WHERE id = $2 AND institution_id = $3 AND status != 'removed'",
        )
        .bind((&r.revocation, r.practitioner, r.institution))
        .execute(&mut tx)
        .await?;
        one(removed)?;
        sql("UPDATE sessions SET revoked = 1 WHERE practitioner_id = $1")
            .bind(r.practitioner)
            .execute(&mut tx)
            .await?;
        insert_institution_epoch(&mut tx, r.institution, r.new_epoch, &r.statement, r.now).await?;
        for (pid, wrap) in &r.keyrings {
            sql("UPDATE practitioners SET keyring_wrap = $1 \
                 WHERE id = $2 AND institution_id = $3 AND status = 'certified'")
            .bind((wrap, *pid, r.institution))
            .execute(&mut tx)
            .await?;
        }
        sql("UPDATE institutions SET alliance_wrap = $1, alliance_wrap_epoch = $2 WHERE id = $3")
            .bind((&r.alliance_wrap, r.new_epoch, r.institution))
            .execute(&mut tx)
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
        sql("UPDATE practitioners SET failed_logins = $1, locked_until = $2 WHERE id = $3")
            .bind((failures, locked_until, id))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn add_login_failure(&self, id: PractitionerId) -> Result<i64> {
        sql(
            "UPDATE practitioners SET failed_logins = failed_logins + 1 WHERE id = $1 \
             RETURNING failed_logins",
        )
        .bind(id)
        .fetch_one(&self.writer)
        .await
    }

    async fn lock_logins(&self, id: PractitionerId, until: i64) -> Result<()> {
        sql("UPDATE practitioners SET locked_until = $1 \
             WHERE id = $2 AND (locked_until IS NULL OR locked_until < $1)")
        .bind((until, id))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn create_session(&self, s: &SessionRow) -> Result<()> {
        let mut tx = self.begin().await?;
        sql(
            "INSERT INTO sessions (token_hash, practitioner_id, created_at, expires_at, revoked) \
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind((&s.token_hash, s.practitioner_id, s.created_at, s.expires_at))
        .execute(&mut tx)
        .await?;
        sql(
            "UPDATE practitioners SET failed_logins = 0, locked_until = NULL \
             WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
        )
        .bind(s.practitioner_id)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        sql("SELECT * FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
    }

    async fn revoke_session(&self, token_hash: &str) -> Result<()> {
        sql("UPDATE sessions SET revoked = 1 WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
