//! Urgent consults and on-call lists. A consult's timer is a row: `due_at` is when the current
//! recipient's window ends. A replica escalates a due consult only after claiming it with one
//! conditional `UPDATE ... RETURNING` (a stale claim, from a replica that died, is taken over),
//! and the escalation itself is a compare-and-set on the step it claimed, so several replicas
//! polling one database escalate once, and a restart loses nothing.

use crate::dialect::Dialect;
use crate::sql::{Columns, FromRow, json, sql};
use crate::{Result, Store};
use async_trait::async_trait;
use medshare_model::consults::{ConsultState, ConsultStepKind, ConsultTo};
use medshare_model::statements::Signed;
use medshare_model::{ConsultId, InstitutionId, PatientId, PractitionerId, RoomId};

/// An on-call list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OncallRow {
    pub institution_id: InstitutionId,
    pub name: String,
    pub owner: PractitionerId,
    pub members: Vec<PractitionerId>,
    pub updated_at: i64,
    /// The signed list's version (0: set before lists were signed).
    pub version: i64,
    /// The list as the institution signed it (`None`: set before lists were signed).
    pub statement: Option<Signed>,
}

impl OncallRow {
    /// Everyone a consult to this list may reach, in order: the members, then the owner.
    pub fn chain(&self) -> Vec<PractitionerId> {
        let mut c = self.members.clone();
        if !c.contains(&self.owner) {
            c.push(self.owner);
        }
        c
    }
}

/// A consult and its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsultRow {
    pub id: ConsultId,
    pub requester: PractitionerId,
    pub patient_id: PatientId,
    pub target: ConsultTo,
    pub chain: Vec<PractitionerId>,
    pub step: i64,
    pub state: ConsultState,
    pub urgent: bool,
    pub ack_within: i64,
    pub due_at: Option<i64>,
    pub created_at: i64,
    pub acked_by: Option<PractitionerId>,
    pub room_id: Option<RoomId>,
    pub binding: Signed,
    pub question: String,
    /// For a consult to an on-call list: the signed list its binding names.
    pub oncall_list: Option<Signed>,
    pub steps: Vec<ConsultStepRow>,
}

impl ConsultRow {
    /// Position of `p` on the chain.
    pub fn position(&self, p: PractitionerId) -> Option<i64> {
        self.chain
            .iter()
            .position(|c| *c == p)
            .and_then(|i| i64::try_from(i).ok())
    }

    /// `p` is on the chain and the consult has reached them.
    pub fn reached(&self, p: PractitionerId) -> bool {
        self.position(p).is_some_and(|i| i <= self.step)
    }

    /// The recipient the consult has reached.
    pub fn current(&self) -> Option<PractitionerId> {
        usize::try_from(self.step)
            .ok()
            .and_then(|i| self.chain.get(i).copied())
    }
}

/// One step of a consult's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsultStepRow {
    pub at: i64,
    pub kind: ConsultStepKind,
    pub practitioner_id: PractitionerId,
}

/// What [`ConsultStore::escalate_consult`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escalated {
    /// Moved to the next recipient on the chain.
    To(PractitionerId),
    /// The last recipient's window passed: nobody is left.
    Unanswered,
}

/// The consult side of the store.
#[async_trait]
pub trait ConsultStore: Send + Sync {
    /// Set or replace an on-call list.
    /// Store a list, replacing the stored one only if `list.version` is greater: `false` (and
    /// nothing changed) if it is not.
    async fn set_oncall(&self, list: &OncallRow) -> Result<bool>;
    async fn oncall(&self, institution: InstitutionId, name: &str) -> Result<Option<OncallRow>>;
    async fn oncalls_of(&self, institution: InstitutionId) -> Result<Vec<OncallRow>>;
    /// Store a new open consult at step 0 (its history starts with `requested`); `Conflict` if
    /// the id is taken.
    async fn create_consult(&self, c: &ConsultRow) -> Result<()>;
    async fn consult(&self, id: ConsultId) -> Result<Option<ConsultRow>>;
    /// Consults `p` asked or was reached by, newest first, at most `limit`.
    async fn consults_of(&self, p: PractitionerId, limit: i64) -> Result<Vec<ConsultRow>>;
    /// Acknowledge by `p` at chain position `position`: only while the consult is open and has
    /// reached them. `false` if it changed nothing.
    async fn ack_consult(
        &self,
        id: ConsultId,
        p: PractitionerId,
        position: i64,
        now: i64,
    ) -> Result<bool>;
    /// Record the room the answer is in (and the step); `false` if the consult is not
    /// acknowledged or already answered.
    async fn answer_consult(
        &self,
        id: ConsultId,
        p: PractitionerId,
        room: RoomId,
        now: i64,
    ) -> Result<bool>;
    /// Claim up to `limit` open consults due at `now` for `replica`: unclaimed ones and those
    /// whose claim is older than `stale_before`.
    async fn claim_due_consults(
        &self,
        replica: &str,
        now: i64,
        stale_before: i64,
        limit: i64,
    ) -> Result<Vec<ConsultRow>>;
    /// Move a consult claimed by `replica` at `step` to the next recipient (due `now +
    /// ack_within`), or mark it unanswered after the last; `None` if it is no longer open at
    /// that step under that claim (acknowledged meanwhile, or escalated by another replica).
    async fn escalate_consult(
        &self,
        id: ConsultId,
        step: i64,
        replica: &str,
        now: i64,
    ) -> Result<Option<Escalated>>;
    /// Give up `replica`'s claim on a consult it could not escalate, so the next poll (of any
    /// replica) retries it at once instead of after the claim goes stale.
    async fn release_consult_claim(&self, id: ConsultId, replica: &str) -> Result<()>;
}

impl FromRow for OncallRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            institution_id: r.id("institution_id")?,
            name: r.get("name")?,
            owner: r.id("owner")?,
            members: r.json("members")?,
            updated_at: r.get("updated_at")?,
            version: r.get("version")?,
            statement: r.opt_json("statement")?,
        })
    }
}

fn state_of(s: &str) -> Result<ConsultState> {
    match s {
        "open" => Ok(ConsultState::Open),
        "acknowledged" => Ok(ConsultState::Acknowledged),
        "unanswered" => Ok(ConsultState::Unanswered),
        _ => Err(crate::StoreError::Corrupt),
    }
}

impl FromRow for ConsultRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.id("id")?,
            requester: r.id("requester")?,
            patient_id: r.id("patient_id")?,
            target: r.json("target")?,
            chain: r.json("chain")?,
            step: r.get("step")?,
            state: state_of(&r.get::<String>("state")?)?,
            urgent: r.flag("urgent")?,
            ack_within: r.get("ack_within")?,
            due_at: r.get("due_at")?,
            created_at: r.get("created_at")?,
            acked_by: r.opt_id("acked_by")?,
            room_id: r.opt_id("room_id")?,
            binding: r.json("binding")?,
            question: r.get("question")?,
            oncall_list: r.opt_json("oncall_list")?,
            steps: Vec::new(),
        })
    }
}

impl FromRow for ConsultStepRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            at: r.get("at")?,
            kind: ConsultStepKind::parse(&r.get::<String>("kind")?)
                .ok_or(crate::StoreError::Corrupt)?,
            practitioner_id: r.id("practitioner_id")?,
        })
    }
}

const CONSULT_COLUMNS: &str = "id, requester, patient_id, target, chain, step, state, urgent, \
     ack_within, due_at, created_at, acked_by, room_id, binding, question, oncall_list";

async fn add_step<D: Dialect>(
    tx: &mut sqlx::Transaction<'static, D>,
    id: ConsultId,
    at: i64,
    kind: ConsultStepKind,
    p: PractitionerId,
) -> Result<()> {
    sql(
        "INSERT INTO consult_steps (consult_id, seq, at, kind, practitioner_id) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM consult_steps WHERE consult_id = $1",
    )
    .bind((id, at, kind.as_str(), p))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl<D: Dialect> Store<D> {
    async fn with_steps(&self, mut rows: Vec<ConsultRow>) -> Result<Vec<ConsultRow>> {
        for c in &mut rows {
            c.steps = sql(
                "SELECT at, kind, practitioner_id FROM consult_steps WHERE consult_id = $1 \
                 ORDER BY seq",
            )
            .bind(c.id)
            .fetch_all(&self.pool)
            .await?;
        }
        Ok(rows)
    }
}

#[async_trait]
impl<D: Dialect> ConsultStore for Store<D> {
    async fn set_oncall(&self, l: &OncallRow) -> Result<bool> {
        let done = sql(
            "INSERT INTO oncall_lists (institution_id, name, owner, members, updated_at, version, \
             statement) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (institution_id, name) DO UPDATE SET \
             owner = excluded.owner, members = excluded.members, updated_at = excluded.updated_at, \
             version = excluded.version, statement = excluded.statement \
             WHERE oncall_lists.version < excluded.version",
        )
        .bind((
            l.institution_id,
            l.name.as_str(),
            l.owner,
            json(&l.members),
            l.updated_at,
            l.version,
            l.statement.as_ref().map(json),
        ))
        .execute(&self.writer)
        .await?;
        Ok(done > 0)
    }

    async fn oncall(&self, institution: InstitutionId, name: &str) -> Result<Option<OncallRow>> {
        sql(
            "SELECT institution_id, name, owner, members, updated_at, version, statement \
             FROM oncall_lists \
             WHERE institution_id = $1 AND name = $2",
        )
        .bind((institution, name))
        .fetch_optional(&self.pool)
        .await
    }

    async fn oncalls_of(&self, institution: InstitutionId) -> Result<Vec<OncallRow>> {
        sql(
            "SELECT institution_id, name, owner, members, updated_at, version, statement \
             FROM oncall_lists \
             WHERE institution_id = $1 ORDER BY name",
        )
        .bind(institution)
        .fetch_all(&self.pool)
        .await
    }

    async fn create_consult(&self, c: &ConsultRow) -> Result<()> {
        let mut tx = self.begin().await?;
        sql(
            "INSERT INTO consults (id, requester, patient_id, target, chain, step, state, urgent, \
             ack_within, due_at, created_at, binding, question, oncall_list) \
             VALUES ($1, $2, $3, $4, $5, 0, 'open', $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind((
            c.id,
            c.requester,
            c.patient_id,
            json(&c.target),
            json(&c.chain),
            c.urgent,
            c.ack_within,
            c.due_at,
            c.created_at,
            &c.binding,
        ))
        .bind((c.question.as_str(), c.oncall_list.as_ref().map(json)))
        .execute(&mut tx)
        .await?;
        for (i, p) in c.chain.iter().enumerate() {
            sql(
                "INSERT INTO consult_recipients (consult_id, practitioner_id, position) \
                 VALUES ($1, $2, $3)",
            )
            .bind((c.id, *p, i64::try_from(i).unwrap_or(i64::MAX)))
            .execute(&mut tx)
            .await?;
        }
        if let Some(first) = c.chain.first() {
            add_step(
                &mut tx,
                c.id,
                c.created_at,
                ConsultStepKind::Requested,
                *first,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn consult(&self, id: ConsultId) -> Result<Option<ConsultRow>> {
        let row: Option<ConsultRow> = sql(sqlx::AssertSqlSafe(format!(
            "SELECT {CONSULT_COLUMNS} FROM consults WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(self.with_steps(row.into_iter().collect()).await?.pop())
    }

    async fn consults_of(&self, p: PractitionerId, limit: i64) -> Result<Vec<ConsultRow>> {
        let rows: Vec<ConsultRow> = sql(sqlx::AssertSqlSafe(format!(
            "SELECT {CONSULT_COLUMNS} FROM consults WHERE requester = $1 OR id IN \
             (SELECT r.consult_id FROM consult_recipients r JOIN consults c \
              ON c.id = r.consult_id WHERE r.practitioner_id = $1 AND r.position <= c.step) \
             ORDER BY created_at DESC, id LIMIT $2"
        )))
        .bind((p, limit))
        .fetch_all(&self.pool)
        .await?;
        self.with_steps(rows).await
    }

    async fn ack_consult(
        &self,
        id: ConsultId,
        p: PractitionerId,
        position: i64,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sql(
            "UPDATE consults SET state = 'acknowledged', acked_by = $2, due_at = NULL, \
             claimed_by = NULL, claimed_at = NULL \
             WHERE id = $1 AND state = 'open' AND step >= $3",
        )
        .bind((id, p, position))
        .execute(&mut tx)
        .await?;
        if n == 0 {
            return Ok(false);
        }
        add_step(&mut tx, id, now, ConsultStepKind::Acknowledged, p).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn answer_consult(
        &self,
        id: ConsultId,
        p: PractitionerId,
        room: RoomId,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sql("UPDATE consults SET room_id = $3 \
             WHERE id = $1 AND state = 'acknowledged' AND acked_by = $2 AND room_id IS NULL")
        .bind((id, p, room))
        .execute(&mut tx)
        .await?;
        if n == 0 {
            return Ok(false);
        }
        add_step(&mut tx, id, now, ConsultStepKind::Answered, p).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn claim_due_consults(
        &self,
        replica: &str,
        now: i64,
        stale_before: i64,
        limit: i64,
    ) -> Result<Vec<ConsultRow>> {
        // The conditions are repeated outside the sub-select: PostgreSQL re-checks them on a
        // row another replica updated meanwhile, so a consult is claimed by one replica only.
        let rows: Vec<ConsultRow> = sql(sqlx::AssertSqlSafe(format!(
            "UPDATE consults SET claimed_by = $1, claimed_at = $2 \
             WHERE id IN (SELECT id FROM consults WHERE state = 'open' AND due_at <= $2 \
               AND (claimed_at IS NULL OR claimed_at < $3) ORDER BY due_at LIMIT $4) \
             AND state = 'open' AND due_at <= $2 AND (claimed_at IS NULL OR claimed_at < $3) \
             RETURNING {CONSULT_COLUMNS}"
        )))
        .bind((replica, now, stale_before, limit))
        .fetch_all(&self.writer)
        .await?;
        Ok(rows)
    }

    async fn escalate_consult(
        &self,
        id: ConsultId,
        step: i64,
        replica: &str,
        now: i64,
    ) -> Result<Option<Escalated>> {
        // Reads, then writes: on SQLite the transaction must take the write lock first (and
        // wait for it), or a concurrent writer fails it at once with "database is locked".
        let mut tx = self.begin_write().await?;
        let chain: Option<String> = sql("SELECT chain FROM consults WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut tx)
            .await?;
        let Some(chain) = chain else {
            return Ok(None);
        };
        let chain: Vec<PractitionerId> = crate::sql::parse_json(&chain)?;
        let next = usize::try_from(step + 1).ok().and_then(|i| chain.get(i));
        let n = match next {
            Some(_) => {
                sql(
                    "UPDATE consults SET step = step + 1, due_at = $4 + ack_within, \
                     claimed_by = NULL, claimed_at = NULL \
                     WHERE id = $1 AND step = $2 AND state = 'open' AND claimed_by = $3",
                )
                .bind((id, step, replica, now))
                .execute(&mut tx)
                .await?
            }
            None => {
                sql("UPDATE consults SET state = 'unanswered', due_at = NULL, \
                     claimed_by = NULL, claimed_at = NULL \
                     WHERE id = $1 AND step = $2 AND state = 'open' AND claimed_by = $3")
                .bind((id, step, replica))
                .execute(&mut tx)
                .await?
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let out = match next {
            Some(p) => {
                add_step(&mut tx, id, now, ConsultStepKind::Escalated, *p).await?;
                Escalated::To(*p)
            }
            None => {
                let last = usize::try_from(step)
                    .ok()
                    .and_then(|i| chain.get(i))
                    .copied()
                    .ok_or(crate::StoreError::Corrupt)?;
                add_step(&mut tx, id, now, ConsultStepKind::Unanswered, last).await?;
                Escalated::Unanswered
            }
        };
        tx.commit().await?;
        Ok(Some(out))
    }

    async fn release_consult_claim(&self, id: ConsultId, replica: &str) -> Result<()> {
        sql("UPDATE consults SET claimed_by = NULL, claimed_at = NULL \
             WHERE id = $1 AND claimed_by = $2 AND state = 'open'")
        .bind((id, replica))
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
