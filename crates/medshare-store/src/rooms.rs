//! Case rooms: the hub's side of the MLS delivery service. Key packages (each handed out
//! once), rooms with their membership, one ordered log per room (commits accepted only for the
//! room's current epoch, by a compare-and-set on the room row, so two replicas or two members
//! racing cannot both advance it) and the welcomes for added members. Every body is opaque.

use crate::dialect::Dialect;
use crate::sql::{Columns, FromRow, sql};
use crate::{Result, Store, StoreError};
use async_trait::async_trait;
use medshare_model::{PractitionerId, RoomBlobId, RoomId};

/// A room and its membership (removed members included, with their `until_seq`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRow {
    pub id: RoomId,
    pub owner: PractitionerId,
    pub epoch: i64,
    pub last_seq: i64,
    pub created_at: i64,
    pub members: Vec<RoomMemberRow>,
}

impl RoomRow {
    /// The member record of `p`, current or removed.
    pub fn member(&self, p: PractitionerId) -> Option<&RoomMemberRow> {
        self.members.iter().find(|m| m.practitioner_id == p)
    }

    /// `p` is a member now (not removed).
    pub fn is_current_member(&self, p: PractitionerId) -> bool {
        self.member(p).is_some_and(|m| m.until_seq.is_none())
    }
}

/// One member's window on the room's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomMemberRow {
    pub practitioner_id: PractitionerId,
    pub from_seq: i64,
    pub until_seq: Option<i64>,
    pub read_seq: i64,
}

/// One entry of a room's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomEntryRow {
    pub room_id: RoomId,
    pub seq: i64,
    pub kind: String,
    pub sender: PractitionerId,
    pub epoch: i64,
    pub at: i64,
    pub body: String,
}

/// An entry to append.
/// Recent claims of one practitioner's key packages (see
/// [`RoomStore::key_package_claims`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPackageClaims {
    pub by_claimer: i64,
    pub oldest_by_claimer: Option<i64>,
    pub all: i64,
    pub oldest: Option<i64>,
}

struct CountOldest {
    n: i64,
    oldest: Option<i64>,
}

impl FromRow for CountOldest {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            n: r.get("n")?,
            oldest: r.get("oldest")?,
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct NewEntry<'a> {
    pub room: RoomId,
    /// The epoch it was sent in: must be the room's current epoch.
    pub epoch: i64,
    pub kind: &'a str,
    pub sender: PractitionerId,
    pub at: i64,
    pub body: &'a str,
}

/// A room attachment (a voice note's ciphertext) the hub holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomBlobRow {
    pub id: RoomBlobId,
    pub room_id: RoomId,
    pub sender: PractitionerId,
    pub size: i64,
    pub sha256: String,
    pub created_at: i64,
}

impl FromRow for RoomBlobRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.id("id")?,
            room_id: r.id("room_id")?,
            sender: r.id("sender")?,
            size: r.get("size")?,
            sha256: r.get("sha256")?,
            created_at: r.get("created_at")?,
        })
    }
}

/// The room side of the store.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Keep key packages of `owner`; refuses (`Conflict`) if they would hold more than `max`.
    async fn add_key_packages(
        &self,
        owner: PractitionerId,
        bodies: &[String],
        now: i64,
        max: i64,
    ) -> Result<i64>;
    async fn key_package_count(&self, owner: PractitionerId) -> Result<i64>;
    /// Hand out (and delete) the oldest key package of `owner`.
    async fn claim_key_package(&self, owner: PractitionerId) -> Result<Option<String>>;
    /// Claims of `target`'s key packages since `since`: (by `claimer`, by anyone, the oldest
    /// of each or `None`).
    async fn key_package_claims(
        &self,
        claimer: PractitionerId,
        target: PractitionerId,
        since: i64,
    ) -> Result<KeyPackageClaims>;
    /// Record that `claimer` claimed one of `target`'s key packages at `now`, forgetting
    /// claims of `target` before `forget_before`.
    async fn record_key_package_claim(
        &self,
        claimer: PractitionerId,
        target: PractitionerId,
        now: i64,
        forget_before: i64,
    ) -> Result<()>;
    /// Open a room at epoch 0 with its owner as only member; `Conflict` if the id is taken.
    async fn create_room(&self, id: RoomId, owner: PractitionerId, now: i64) -> Result<()>;
    async fn room(&self, id: RoomId) -> Result<Option<RoomRow>>;
    /// Rooms `p` is a current member of.
    async fn rooms_of(&self, p: PractitionerId) -> Result<Vec<RoomRow>>;
    /// Append a commit for the room's current epoch, moving it to the next; record who it adds
    /// (with the welcome each fetches) and removes. `None` if the epoch is not current (stale or
    /// replayed commit): nothing changes.
    async fn append_commit(
        &self,
        e: NewEntry<'_>,
        added: &[PractitionerId],
        welcome: Option<&str>,
        removed: &[PractitionerId],
    ) -> Result<Option<i64>>;
    /// Append an application message sent in the room's current epoch; `None` if the epoch is
    /// not current.
    async fn append_message(&self, e: NewEntry<'_>) -> Result<Option<i64>>;
    /// Entries with `after < seq <= until`, oldest first, at most `limit`.
    async fn room_entries(
        &self,
        room: RoomId,
        after: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<RoomEntryRow>>;
    /// The latest welcome for `p` in `room`: (the seq of the commit it follows, body).
    async fn room_welcome(&self, room: RoomId, p: PractitionerId) -> Result<Option<(i64, String)>>;
    /// Record that `p` has read up to `seq` (never moves back).
    async fn mark_read(&self, room: RoomId, p: PractitionerId, seq: i64) -> Result<()>;
    /// Record an attachment whose bytes are already in the blob store, only if the room's
    /// stored attachment bytes stay within `room_limit` and the sender's (across rooms) within
    /// `member_limit`, in one statement: `false` (nothing recorded) if either would pass.
    async fn add_room_blob(
        &self,
        b: &RoomBlobRow,
        room_limit: i64,
        member_limit: i64,
    ) -> Result<bool>;
    /// Attachment bytes stored in `room`, and stored by `sender` across every room.
    async fn room_blob_usage(&self, room: RoomId, sender: PractitionerId) -> Result<(i64, i64)>;
    async fn room_blob(&self, id: RoomBlobId) -> Result<Option<RoomBlobRow>>;
    /// Every attachment id (start-up reconciliation keeps their bytes).
    async fn room_blob_ids(&self) -> Result<Vec<RoomBlobId>>;
}

impl FromRow for RoomMemberRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            practitioner_id: r.id("practitioner_id")?,
            from_seq: r.get("from_seq")?,
            until_seq: r.get("until_seq")?,
            read_seq: r.get("read_seq")?,
        })
    }
}

impl FromRow for RoomEntryRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            room_id: r.id("room_id")?,
            seq: r.get("seq")?,
            kind: r.get("kind")?,
            sender: r.id("sender")?,
            epoch: r.get("epoch")?,
            at: r.get("at")?,
            body: r.get("body")?,
        })
    }
}

/// A room row without its members.
struct Bare(RoomRow);

impl FromRow for Bare {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self(RoomRow {
            id: r.id("id")?,
            owner: r.id("owner")?,
            epoch: r.get("epoch")?,
            last_seq: r.get("last_seq")?,
            created_at: r.get("created_at")?,
            members: Vec::new(),
        }))
    }
}

impl<D: Dialect> Store<D> {
    async fn with_members(&self, bare: Bare) -> Result<RoomRow> {
        let mut room = bare.0;
        room.members = sql(
            "SELECT practitioner_id, from_seq, until_seq, read_seq FROM room_members \
             WHERE room_id = $1 ORDER BY from_seq, practitioner_id",
        )
        .bind(room.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(room)
    }
}

async fn insert_entry<D: Dialect>(
    tx: &mut sqlx::Transaction<'static, D>,
    e: &NewEntry<'_>,
    seq: i64,
) -> Result<()> {
    sql(
        "INSERT INTO room_entries (room_id, seq, kind, sender, epoch, at, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind((e.room, seq, e.kind, e.sender, e.epoch, e.at, e.body))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl<D: Dialect> RoomStore for Store<D> {
    async fn add_key_packages(
        &self,
        owner: PractitionerId,
        bodies: &[String],
        now: i64,
        max: i64,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let held: i64 = sql("SELECT COUNT(*) FROM key_packages WHERE practitioner_id = $1")
            .bind(owner)
            .fetch_one(&mut tx)
            .await?;
        let total = held + i64::try_from(bodies.len()).map_err(|_| StoreError::Conflict)?;
        if total > max {
            return Err(StoreError::Conflict);
        }
        for b in bodies {
            sql("INSERT INTO key_packages (practitioner_id, body, created_at) VALUES ($1, $2, $3)")
                .bind((owner, b, now))
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(total)
    }

    async fn key_package_count(&self, owner: PractitionerId) -> Result<i64> {
        sql("SELECT COUNT(*) FROM key_packages WHERE practitioner_id = $1")
            .bind(owner)
            .fetch_one(&self.pool)
            .await
    }

    async fn claim_key_package(&self, owner: PractitionerId) -> Result<Option<String>> {
        // Two claims racing for the same row: the loser deletes nothing and tries the next.
        for _ in 0..4 {
            let Some(id) = sql::<D>(
                "SELECT id FROM key_packages WHERE practitioner_id = $1 ORDER BY id LIMIT 1",
            )
            .bind(owner)
            .fetch_optional::<i64>(&self.pool)
            .await?
            else {
                return Ok(None);
            };
            let body: Option<String> = sql("DELETE FROM key_packages WHERE id = $1 RETURNING body")
                .bind(id)
                .fetch_optional(&self.writer)
                .await?;
            if body.is_some() {
                return Ok(body);
            }
        }
        Ok(None)
    }

    async fn key_package_claims(
        &self,
        claimer: PractitionerId,
        target: PractitionerId,
        since: i64,
    ) -> Result<KeyPackageClaims> {
        let mine: CountOldest = sql(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM key_package_claims \
             WHERE target = $1 AND claimer = $2 AND at >= $3",
        )
        .bind((target, claimer, since))
        .fetch_one(&self.pool)
        .await?;
        let all: CountOldest = sql(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM key_package_claims \
             WHERE target = $1 AND at >= $2",
        )
        .bind((target, since))
        .fetch_one(&self.pool)
        .await?;
        Ok(KeyPackageClaims {
            by_claimer: mine.n,
            oldest_by_claimer: mine.oldest,
            all: all.n,
            oldest: all.oldest,
        })
    }

    async fn record_key_package_claim(
        &self,
        claimer: PractitionerId,
        target: PractitionerId,
        now: i64,
        forget_before: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sql("DELETE FROM key_package_claims WHERE target = $1 AND at < $2")
            .bind((target, forget_before))
            .execute(&mut tx)
            .await?;
        sql("INSERT INTO key_package_claims (claimer, target, at) VALUES ($1, $2, $3)")
            .bind((claimer, target, now))
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_room(&self, id: RoomId, owner: PractitionerId, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        sql("INSERT INTO rooms (id, owner, epoch, last_seq, created_at) VALUES ($1, $2, 0, 0, $3)")
            .bind((id, owner, now))
            .execute(&mut tx)
            .await?;
        sql(
            "INSERT INTO room_members (room_id, practitioner_id, from_seq, until_seq, read_seq) \
             VALUES ($1, $2, 0, NULL, 0)",
        )
        .bind((id, owner))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn room(&self, id: RoomId) -> Result<Option<RoomRow>> {
        let bare: Option<Bare> =
            sql("SELECT id, owner, epoch, last_seq, created_at FROM rooms WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match bare {
            Some(b) => Ok(Some(self.with_members(b).await?)),
            None => Ok(None),
        }
    }

    async fn rooms_of(&self, p: PractitionerId) -> Result<Vec<RoomRow>> {
        let bare: Vec<Bare> = sql(
            "SELECT r.id, r.owner, r.epoch, r.last_seq, r.created_at FROM rooms r \
             JOIN room_members m ON m.room_id = r.id \
             WHERE m.practitioner_id = $1 AND m.until_seq IS NULL ORDER BY r.created_at, r.id",
        )
        .bind(p)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(bare.len());
        for b in bare {
            out.push(self.with_members(b).await?);
        }
        Ok(out)
    }

    async fn append_commit(
        &self,
        e: NewEntry<'_>,
        added: &[PractitionerId],
        welcome: Option<&str>,
        removed: &[PractitionerId],
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        // Compare-and-set: only the commit for the current epoch moves the room on.
        let seq: Option<i64> = sql(
            "UPDATE rooms SET epoch = epoch + 1, last_seq = last_seq + 1 \
             WHERE id = $1 AND epoch = $2 RETURNING last_seq",
        )
        .bind((e.room, e.epoch))
        .fetch_optional(&mut tx)
        .await?;
        let Some(seq) = seq else {
            return Ok(None);
        };
        insert_entry(&mut tx, &e, seq).await?;
        for p in added {
            sql("INSERT INTO room_members (room_id, practitioner_id, from_seq, until_seq, read_seq) \
                 VALUES ($1, $2, $3, NULL, $3) \
                 ON CONFLICT (room_id, practitioner_id) \
                 DO UPDATE SET from_seq = excluded.from_seq, until_seq = NULL, \
                 read_seq = excluded.read_seq")
            .bind((e.room, *p, seq))
            .execute(&mut tx)
            .await?;
            if let Some(w) = welcome {
                sql(
                    "INSERT INTO room_welcomes (room_id, practitioner_id, seq, body) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind((e.room, *p, seq, w))
                .execute(&mut tx)
                .await?;
            }
        }
        for p in removed {
            sql("UPDATE room_members SET until_seq = $3 \
                 WHERE room_id = $1 AND practitioner_id = $2 AND until_seq IS NULL")
            .bind((e.room, *p, seq))
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(seq))
    }

    async fn append_message(&self, e: NewEntry<'_>) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let seq: Option<i64> = sql(
            "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 AND epoch = $2 \
             RETURNING last_seq",
        )
        .bind((e.room, e.epoch))
        .fetch_optional(&mut tx)
        .await?;
        let Some(seq) = seq else {
            return Ok(None);
        };
        insert_entry(&mut tx, &e, seq).await?;
        tx.commit().await?;
        Ok(Some(seq))
    }

    async fn room_entries(
        &self,
        room: RoomId,
        after: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<RoomEntryRow>> {
        sql(
            "SELECT room_id, seq, kind, sender, epoch, at, body FROM room_entries \
             WHERE room_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind((room, after, until, limit))
        .fetch_all(&self.pool)
        .await
    }

    async fn room_welcome(&self, room: RoomId, p: PractitionerId) -> Result<Option<(i64, String)>> {
        let row: Option<Welcome> = sql(
            "SELECT seq, body FROM room_welcomes WHERE room_id = $1 AND practitioner_id = $2 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind((room, p))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|w| (w.0, w.1)))
    }

    async fn mark_read(&self, room: RoomId, p: PractitionerId, seq: i64) -> Result<()> {
        sql("UPDATE room_members SET read_seq = $3 \
             WHERE room_id = $1 AND practitioner_id = $2 AND read_seq < $3")
        .bind((room, p, seq))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn add_room_blob(
        &self,
        b: &RoomBlobRow,
        room_limit: i64,
        member_limit: i64,
    ) -> Result<bool> {
        let added = sql(
            "INSERT INTO room_blobs (id, room_id, sender, size, sha256, created_at) \
             SELECT $1, $2, $3, $4, $5, $6 \
             WHERE (SELECT COALESCE(SUM(size), 0) FROM room_blobs WHERE room_id = $2) + $4 <= $7 \
             AND (SELECT COALESCE(SUM(size), 0) FROM room_blobs WHERE sender = $3) + $4 <= $8",
        )
        .bind((
            b.id,
            b.room_id,
            b.sender,
            b.size,
            b.sha256.as_str(),
            b.created_at,
            room_limit,
            member_limit,
        ))
        .execute(&self.writer)
        .await?;
        Ok(added == 1)
    }

    async fn room_blob_usage(&self, room: RoomId, sender: PractitionerId) -> Result<(i64, i64)> {
        struct Usage(i64, i64);
        impl FromRow for Usage {
            fn from_row(r: &impl Columns) -> Result<Self> {
                Ok(Self(r.get(0)?, r.get(1)?))
            }
        }
        let Usage(room_bytes, member_bytes) = sql("SELECT \
             CAST((SELECT COALESCE(SUM(size), 0) FROM room_blobs WHERE room_id = $1) AS BIGINT), \
             CAST((SELECT COALESCE(SUM(size), 0) FROM room_blobs WHERE sender = $2) AS BIGINT)")
        .bind((room, sender))
        .fetch_one(&self.pool)
        .await?;
        Ok((room_bytes, member_bytes))
    }

    async fn room_blob(&self, id: RoomBlobId) -> Result<Option<RoomBlobRow>> {
        sql("SELECT id, room_id, sender, size, sha256, created_at FROM room_blobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    async fn room_blob_ids(&self) -> Result<Vec<RoomBlobId>> {
        sql("SELECT id FROM room_blobs").fetch_all(&self.pool).await
    }
}

struct Welcome(i64, String);

impl FromRow for Welcome {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self(r.get("seq")?, r.get("body")?))
    }
}
