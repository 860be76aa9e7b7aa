//! The durable queue (SQLite, WAL, `synchronous=FULL`): an input acknowledges a message only
//! after [`Queue::enqueue`] (or [`Queue::add_instance`]) returned, i.e. after the transaction
//! holding it was fsynced. One writer task commits whatever arrived meanwhile in one
//! transaction (group commit), so many connections share each fsync.
//!
//! Life of an item: `collecting` (DICOM study still receiving instances) → `ready` → `uploading`
//! → `done` (payload dropped) or back to `ready` with a back-off, or `dead` (a dead letter with a
//! fixed reason code, retried only by an operator). A crash leaves `uploading` items, which go
//! back to `ready` at start; `committing` marks those whose commit may have reached the hub.

use crate::config::QueueConfig;
use crate::envelope::Source;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The columns of [`ItemInfo`].
macro_rules! item_cols {
    () => {
        "id, source, kind, state, attempts, error, parts, size, created_ms, updated_ms"
    };
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Queue failures (never carry content).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue database failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the queue database could not be migrated: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the queue is closed")]
    Closed,
}

pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// What an item becomes on the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A document to file.
    Document,
    /// Demographics only (ADT): register the patient.
    Patient,
    /// A DICOM study: its instances, filed as one document.
    Study,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Document => "document",
            Self::Patient => "patient",
            Self::Study => "study",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "patient" => Self::Patient,
            "study" => Self::Study,
            _ => Self::Document,
        }
    }
}

/// A message to queue.
pub struct NewItem {
    pub source: Source,
    pub kind: Kind,
    /// Sealed [`crate::envelope::Envelope`].
    pub payload: Vec<u8>,
    /// Identifies a message that may be sent again (keyed-hashed here before storing).
    pub dedupe: Option<Vec<u8>>,
}

/// The answer to an enqueue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Durable. `duplicate`: the same message was accepted before and is not queued again.
    Accepted { id: i64, duplicate: bool },
    /// Over the queue's bounds: refuse (the sender should retry later).
    Full,
}

/// An item claimed for upload.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub document_id: uuid::Uuid,
    pub source: Source,
    pub kind: Kind,
    pub attempts: u32,
    pub committing: bool,
    pub payload: Vec<u8>,
}

/// One row of `medshare gateway status`: ids, codes and counts only.
#[derive(Clone, Debug, Serialize)]
pub struct ItemInfo {
    pub id: i64,
    pub source: String,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub parts: i64,
    pub size: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// Counts per state and the dead letters.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub collecting: i64,
    pub ready: i64,
    pub uploading: i64,
    pub done: i64,
    pub dead: i64,
    pub waiting_bytes: i64,
    pub dead_letters: Vec<ItemInfo>,
    /// Items waiting longest, for a first look at a stalled queue.
    pub oldest_waiting: Vec<ItemInfo>,
}

enum Op {
    Enqueue(Vec<NewItem>),
    Instance {
        source: Source,
        group: Vec<u8>,
        part: Vec<u8>,
        payload: Vec<u8>,
        max_instances: u64,
    },
}

struct WriteReq {
    op: Op,
    done: oneshot::Sender<Result<Vec<Admission>>>,
}

/// Items and bytes not yet uploaded: the back-pressure gauge, kept in memory.
#[derive(Default)]
struct Depth {
    items: AtomicU64,
    bytes: AtomicU64,
}

/// The queue. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    pool: SqlitePool,
    writer: mpsc::Sender<WriteReq>,
    depth: Arc<Depth>,
    limits: QueueConfig,
    salt: Arc<[u8; 32]>,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn keyed(salt: &[u8; 32], domain: &str, data: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(salt).expect("any key length");
    m.update(domain.as_bytes());
    m.update(&[0]);
    m.update(data);
    hex::encode(m.finalize().into_bytes())
}

impl Queue {
    /// Open (or create) the queue at `path`; items left `uploading` by a crash are made ready.
    /// Only the gateway itself opens it this way.
    pub async fn open(path: &Path, limits: QueueConfig) -> Result<Self> {
        Self::open_with(path, limits, true).await
    }

    /// Open the queue of a gateway that may be running (`status`, `retry`): items it is
    /// uploading are left alone.
    pub async fn inspect(path: &Path, limits: QueueConfig) -> Result<Self> {
        Self::open_with(path, limits, false).await
    }

    async fn open_with(path: &Path, limits: QueueConfig, recover: bool) -> Result<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        let salt =
            match sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM meta WHERE key = 'salt'")
                .fetch_optional(&pool)
                .await?
            {
                Some(v) if v.len() == 32 => v,
                _ => {
                    let v = rand::random::<[u8; 32]>().to_vec();
                    sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES ('salt', ?)")
                        .bind(&v)
                        .execute(&pool)
                        .await?;
                    v
                }
            };
        if recover {
            sqlx::query("UPDATE items SET state = 'ready' WHERE state = 'uploading'")
                .execute(&pool)
                .await?;
        }
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM items WHERE state != 'done'",
        )
        .fetch_one(&pool)
        .await?;
        let depth = Arc::new(Depth {
            items: AtomicU64::new(row.try_get::<i64, _>("n")? as u64),
            bytes: AtomicU64::new(row.try_get::<i64, _>("b")? as u64),
        });
        let (tx, rx) = mpsc::channel(1024);
        let q = Self {
            pool,
            writer: tx,
            depth,
            limits,
            salt: Arc::new(salt.try_into().expect("32 bytes")),
        };
        tokio::spawn(q.clone().write_loop(rx));
        Ok(q)
    }

    /// Items and bytes waiting (not yet uploaded).
    pub fn depth(&self) -> (u64, u64) {
        (
            self.depth.items.load(Ordering::Relaxed),
            self.depth.bytes.load(Ordering::Relaxed),
        )
    }

    fn full(&self, extra_bytes: u64) -> bool {
        let (n, b) = self.depth();
        n >= self.limits.max_items || b + extra_bytes > self.limits.max_bytes
    }

    /// Keyed hash (with this queue's own secret) for dedupe and grouping keys.
    pub fn key_of(&self, domain: &str, data: &[u8]) -> String {
        keyed(&self.salt, domain, data)
    }

    async fn submit(&self, op: Op) -> Result<Vec<Admission>> {
        let (done, rx) = oneshot::channel();
        self.writer
            .send(WriteReq { op, done })
            .await
            .map_err(|_| QueueError::Closed)?;
        rx.await.map_err(|_| QueueError::Closed)?
    }

    /// Queue messages atomically (an HL7 batch is all or nothing); durable when this returns.
    pub async fn enqueue(&self, items: Vec<NewItem>) -> Result<Vec<Admission>> {
        let bytes: u64 = items.iter().map(|i| i.payload.len() as u64).sum();
        if self.full(bytes) {
            return Ok(vec![Admission::Full; items.len()]);
        }
        self.submit(Op::Enqueue(items)).await
    }

    /// Add one DICOM instance (a sealed envelope) to the study collecting under `study` (raw
    /// study UID; hashed here). The study item itself has no payload: its instances are it.
    pub async fn add_instance(
        &self,
        study: &[u8],
        sop_instance: &[u8],
        payload: Vec<u8>,
        max_instances: u64,
    ) -> Result<Admission> {
        if self.full(payload.len() as u64) {
            return Ok(Admission::Full);
        }
        let group = self.key_of("study", study).into_bytes();
        let part = self.key_of("instance", sop_instance).into_bytes();
        let mut r = self
            .submit(Op::Instance {
                source: Source::Dicom,
                group,
                part,
                payload,
                max_instances,
            })
            .await?;
        Ok(r.pop().unwrap_or(Admission::Full))
    }

    async fn write_loop(self, mut rx: mpsc::Receiver<WriteReq>) {
        let mut batch = Vec::new();
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < 512 {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let reqs = std::mem::take(&mut batch);
            match self.write_batch(&reqs).await {
                Ok(results) => {
                    for (req, res) in reqs.into_iter().zip(results) {
                        let _ = req.done.send(Ok(res));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "queue write failed");
                    for req in reqs {
                        let _ = req.done.send(Err(QueueError::Closed));
                    }
                }
            }
        }
    }

    /// One transaction for everything that arrived together: one fsync.
    async fn write_batch(&self, reqs: &[WriteReq]) -> Result<Vec<Vec<Admission>>> {
        // IMMEDIATE: take the write lock first. A deferred transaction that reads and then
        // writes fails at once (no busy wait) when another connection wrote in between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_ms();
        let mut out = Vec::with_capacity(reqs.len());
        let (mut added_items, mut added_bytes) = (0u64, 0u64);
        for req in reqs {
            // A failure here is the database's (disk full, I/O): the whole batch fails and every
            // sender gets a negative acknowledgement.
            let sp = &mut tx;
            let res = match &req.op {
                Op::Enqueue(items) => {
                    let mut adm = Vec::with_capacity(items.len());
                    for it in items {
                        let a = self.insert_item(sp, it, now).await?;
                        if let Admission::Accepted {
                            duplicate: false, ..
                        } = a
                        {
                            added_items += 1;
                            added_bytes += it.payload.len() as u64;
                        }
                        adm.push(a);
                    }
                    adm
                }
                Op::Instance {
                    source,
                    group,
                    part,
                    payload,
                    max_instances,
                } => {
                    let group = std::str::from_utf8(group).unwrap_or_default();
                    let part = std::str::from_utf8(part).unwrap_or_default();
                    let existing: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM items WHERE group_key = ? AND state = 'collecting'",
                    )
                    .bind(group)
                    .fetch_optional(&mut **sp)
                    .await?;
                    let id = match existing {
                        Some(id) => id,
                        None => {
                            added_items += 1;
                            sqlx::query_scalar(
                                "INSERT INTO items (document_id, source, kind, state, group_key, \
                                 created_ms, updated_ms, size) \
                                 VALUES (?, ?, 'study', 'collecting', ?, ?, ?, 0) RETURNING id",
                            )
                            .bind(uuid::Uuid::new_v4().to_string())
                            .bind(source.as_str())
                            .bind(group)
                            .bind(now)
                            .bind(now)
                            .fetch_one(&mut **sp)
                            .await?
                        }
                    };
                    let replaced: Option<i64> = sqlx::query_scalar(
                        "SELECT size FROM parts WHERE item_id = ? AND part_key = ?",
                    )
                    .bind(id)
                    .bind(part)
                    .fetch_optional(&mut **sp)
                    .await?;
                    sqlx::query(
                        "INSERT OR REPLACE INTO parts (item_id, part_key, size, payload) \
                         VALUES (?, ?, ?, ?)",
                    )
                    .bind(id)
                    .bind(part)
                    .bind(payload.len() as i64)
                    .bind(payload)
                    .execute(&mut **sp)
                    .await?;
                    let delta = payload.len() as i64 - replaced.unwrap_or(0);
                    added_bytes = (added_bytes as i64 + delta).max(0) as u64;
                    sqlx::query(
                        "UPDATE items SET parts = parts + ?, size = size + ?, updated_ms = ?, \
                         state = CASE WHEN parts + ? >= ? THEN 'ready' ELSE state END \
                         WHERE id = ?",
                    )
                    .bind(i64::from(replaced.is_none()))
                    .bind(delta)
                    .bind(now)
                    .bind(i64::from(replaced.is_none()))
                    .bind(*max_instances as i64)
                    .bind(id)
                    .execute(&mut **sp)
                    .await?;
                    vec![Admission::Accepted {
                        id,
                        duplicate: replaced.is_some(),
                    }]
                }
            };
            out.push(res);
        }
        tx.commit().await?;
        self.depth.items.fetch_add(added_items, Ordering::Relaxed);
        self.depth.bytes.fetch_add(added_bytes, Ordering::Relaxed);
        Ok(out)
    }

    async fn insert_item(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        it: &NewItem,
        now: i64,
    ) -> Result<Admission> {
        let dedupe = it.dedupe.as_ref().map(|d| self.key_of("message", d));
        if let Some(d) = &dedupe
            && let Some(id) =
                sqlx::query_scalar::<_, i64>("SELECT id FROM items WHERE dedupe_key = ?")
                    .bind(d)
                    .fetch_optional(&mut **tx)
                    .await?
        {
            return Ok(Admission::Accepted {
                id,
                duplicate: true,
            });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO items (document_id, source, kind, state, dedupe_key, created_ms, \
             updated_ms, size, payload) VALUES (?, ?, ?, 'ready', ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(it.source.as_str())
        .bind(it.kind.as_str())
        .bind(dedupe)
        .bind(now)
        .bind(now)
        .bind(it.payload.len() as i64)
        .bind(&it.payload)
        .fetch_one(&mut **tx)
        .await?;
        Ok(Admission::Accepted {
            id,
            duplicate: false,
        })
    }

    /// Close studies that stopped receiving instances before `quiet_before_ms`.
    pub async fn close_quiet_groups(&self, quiet_before_ms: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE items SET state = 'ready' WHERE state = 'collecting' AND updated_ms <= ?",
        )
        .bind(quiet_before_ms)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Claim up to `limit` ready items whose time has come (oldest first).
    pub async fn claim(&self, limit: i64) -> Result<Vec<Claimed>> {
        let now = now_ms();
        let rows = sqlx::query(
            "UPDATE items SET state = 'uploading', updated_ms = ?1 WHERE id IN \
             (SELECT id FROM items WHERE state = 'ready' AND next_attempt_ms <= ?1 \
              ORDER BY id LIMIT ?2) \
             RETURNING id, document_id, source, kind, attempts, committing, payload",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let document_id: String = r.try_get("document_id")?;
            let source: String = r.try_get("source")?;
            let kind: String = r.try_get("kind")?;
            out.push(Claimed {
                id: r.try_get("id")?,
                document_id: document_id.parse().map_err(|_| {
                    QueueError::Db(sqlx::Error::Decode("document_id is not a uuid".into()))
                })?,
                source: Source::parse(&source).unwrap_or(Source::Hl7),
                kind: Kind::parse(&kind),
                attempts: r.try_get::<i64, _>("attempts")? as u32,
                committing: r.try_get::<i64, _>("committing")? != 0,
                payload: r
                    .try_get::<Option<Vec<u8>>, _>("payload")?
                    .unwrap_or_default(),
            });
        }
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    /// The sealed instances of a study item, in a stable order.
    pub async fn parts(&self, id: i64) -> Result<Vec<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT payload FROM parts WHERE item_id = ? ORDER BY part_key")
                .bind(id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Record, durably, that a commit for this item is about to be sent.
    pub async fn mark_committing(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE items SET committing = 1, updated_ms = ? WHERE id = ?")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Filed: keep the row (status, duplicate detection), drop the payload and parts.
    pub async fn complete(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let size: i64 = sqlx::query_scalar(
            "UPDATE items SET state = 'done', payload = NULL, error = NULL, updated_ms = ? \
             WHERE id = ? AND state != 'done' RETURNING size",
        )
        .bind(now_ms())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(-1);
        sqlx::query("DELETE FROM parts WHERE item_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if size >= 0 {
            self.depth.items.fetch_sub(1, Ordering::Relaxed);
            let _ = self
                .depth
                .bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    Some(b.saturating_sub(size as u64))
                });
        }
        Ok(())
    }

    /// Try again at `next_ms`, recording why it failed.
    pub async fn retry_later(&self, id: i64, error: &str, next_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE items SET state = 'ready', attempts = attempts + 1, error = ?, \
             next_attempt_ms = ?, updated_ms = ? WHERE id = ?",
        )
        .bind(error)
        .bind(next_ms)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Give back a claimed item untouched (e.g. at shutdown).
    pub async fn release(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE items SET state = 'ready' WHERE id = ? AND state = 'uploading'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A dead letter: kept with its reason until an operator retries it.
    pub async fn dead(&self, id: i64, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE items SET state = 'dead', attempts = attempts + 1, error = ?, updated_ms = ? \
             WHERE id = ?",
        )
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Operator: make dead letters ready again (one, or all). Returns how many.
    pub async fn retry_dead(&self, id: Option<i64>) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE items SET state = 'ready', attempts = 0, next_attempt_ms = 0, updated_ms = ? \
             WHERE state = 'dead' AND (?2 IS NULL OR id = ?2)",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Forget uploaded items older than `before_ms`.
    pub async fn purge_done(&self, before_ms: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM items WHERE state = 'done' AND updated_ms < ?")
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    fn info(r: &sqlx::sqlite::SqliteRow) -> Result<ItemInfo> {
        Ok(ItemInfo {
            id: r.try_get("id")?,
            source: r.try_get("source")?,
            kind: r.try_get("kind")?,
            state: r.try_get("state")?,
            attempts: r.try_get("attempts")?,
            error: r.try_get("error")?,
            parts: r.try_get("parts")?,
            size: r.try_get("size")?,
            created_ms: r.try_get("created_ms")?,
            updated_ms: r.try_get("updated_ms")?,
        })
    }

    /// Counts per state, the dead letters and the oldest waiting items.
    pub async fn status(&self) -> Result<Status> {
        let mut s = Status {
            collecting: 0,
            ready: 0,
            uploading: 0,
            done: 0,
            dead: 0,
            waiting_bytes: 0,
            dead_letters: Vec::new(),
            oldest_waiting: Vec::new(),
        };
        for r in sqlx::query(
            "SELECT state, COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM items GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let state: String = r.try_get("state")?;
            let n: i64 = r.try_get("n")?;
            let b: i64 = r.try_get("b")?;
            match state.as_str() {
                "collecting" => s.collecting = n,
                "ready" => s.ready = n,
                "uploading" => s.uploading = n,
                "done" => s.done = n,
                "dead" => s.dead = n,
                _ => {}
            }
            if state != "done" {
                s.waiting_bytes += b;
            }
        }
        for r in sqlx::query(concat!(
            "SELECT ",
            item_cols!(),
            " FROM items WHERE state = 'dead' ORDER BY id LIMIT 1000"
        ))
        .fetch_all(&self.pool)
        .await?
        {
            s.dead_letters.push(Self::info(&r)?);
        }
        for r in sqlx::query(concat!(
            "SELECT ",
            item_cols!(),
            " FROM items WHERE state IN ('ready', 'uploading', 'collecting') ORDER BY id LIMIT 10"
        ))
        .fetch_all(&self.pool)
        .await?
        {
            s.oldest_waiting.push(Self::info(&r)?);
        }
        Ok(s)
    }

    /// One item's row (tests, `status`).
    pub async fn item(&self, id: i64) -> Result<Option<ItemInfo>> {
        sqlx::query(concat!("SELECT ", item_cols!(), " FROM items WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(Self::info)
            .transpose()
    }

    /// The document id an item will have on the hub.
    pub async fn document_id(&self, id: i64) -> Result<Option<uuid::Uuid>> {
        let v: Option<String> = sqlx::query_scalar("SELECT document_id FROM items WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(v.and_then(|s| s.parse().ok()))
    }

    /// Close the pool (after the inputs stopped).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(payload: &[u8], dedupe: Option<&[u8]>) -> NewItem {
        NewItem {
            source: Source::Hl7,
            kind: Kind::Document,
            payload: payload.to_vec(),
            dedupe: dedupe.map(<[u8]>::to_vec),
        }
    }

    async fn open(dir: &Path, limits: QueueConfig) -> Queue {
        Queue::open(&dir.join("queue.db"), limits).await.unwrap()
    }

    #[tokio::test]
    async fn lifecycle_dedupe_dead_letters_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path(), QueueConfig::default()).await;
        let a = q.enqueue(vec![item(b"one", Some(b"m1"))]).await.unwrap();
        let Admission::Accepted { id: one, duplicate } = a[0] else {
            panic!()
        };
        assert!(!duplicate);
        // The same message again is acknowledged, not queued twice.
        let again = q.enqueue(vec![item(b"one", Some(b"m1"))]).await.unwrap();
        assert_eq!(
            again[0],
            Admission::Accepted {
                id: one,
                duplicate: true
            }
        );
        let b = q
            .enqueue(vec![item(b"two", None), item(b"three", None)])
            .await
            .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(q.depth(), (3, 11));

        let claimed = q.claim(10).await.unwrap();
        assert_eq!(claimed.len(), 3);
        assert_eq!(claimed[0].payload, b"one");
        assert!(q.claim(10).await.unwrap().is_empty(), "claimed once");
        q.mark_committing(claimed[0].id).await.unwrap();
        q.complete(claimed[0].id).await.unwrap();
        q.dead(claimed[1].id, "intake-identifier-mismatch")
            .await
            .unwrap();
        q.retry_later(claimed[2].id, "hub-unreachable", now_ms() + 60_000)
            .await
            .unwrap();
        assert!(q.claim(10).await.unwrap().is_empty(), "not before its time");
        let s = q.status().await.unwrap();
        assert_eq!((s.done, s.dead, s.ready), (1, 1, 1));
        assert_eq!(
            s.dead_letters[0].error.as_deref(),
            Some("intake-identifier-mismatch")
        );
        assert_eq!(q.depth(), (2, 8));

        // A crash while uploading: the item is ready again after a restart, marked committing.
        q.retry_dead(None).await.unwrap();
        let c = q.claim(10).await.unwrap();
        assert_eq!(c.len(), 1);
        q.mark_committing(c[0].id).await.unwrap();
        q.close().await;
        let q = open(dir.path(), QueueConfig::default()).await;
        assert_eq!(q.depth(), (2, 8));
        let c2 = q.claim(10).await.unwrap();
        assert_eq!(c2.len(), 1);
        assert!(c2[0].committing);
        assert_eq!(c2[0].document_id, c[0].document_id);
        // Purged rows no longer dedupe.
        q.complete(c2[0].id).await.unwrap();
        assert_eq!(q.purge_done(now_ms() + 1).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn bounds_refuse_new_items() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(
            dir.path(),
            QueueConfig {
                max_items: 2,
                max_bytes: 1000,
                ..QueueConfig::default()
            },
        )
        .await;
        q.enqueue(vec![item(b"a", None)]).await.unwrap();
        q.enqueue(vec![item(b"b", None)]).await.unwrap();
        assert_eq!(
            q.enqueue(vec![item(b"c", None)]).await.unwrap(),
            vec![Admission::Full]
        );
        let c = q.claim(1).await.unwrap();
        q.complete(c[0].id).await.unwrap();
        assert!(matches!(
            q.enqueue(vec![item(b"c", None)]).await.unwrap()[0],
            Admission::Accepted { .. }
        ));
        let big = vec![0u8; 2000];
        assert_eq!(
            q.enqueue(vec![item(&big, None)]).await.unwrap(),
            vec![Admission::Full]
        );
    }

    #[tokio::test]
    async fn studies_collect_instances_until_quiet_or_full() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path(), QueueConfig::default()).await;
        let mut ids = Vec::new();
        for i in 0..3u8 {
            let a = q
                .add_instance(b"1.2.3", &[i], vec![i; 10], 100)
                .await
                .unwrap();
            ids.push(a);
        }
        // The same instance again replaces, it does not add.
        let a = q
            .add_instance(b"1.2.3", &[1], vec![9; 10], 100)
            .await
            .unwrap();
        assert!(matches!(
            a,
            Admission::Accepted {
                duplicate: true,
                ..
            }
        ));
        let Admission::Accepted { id, .. } = ids[0] else {
            panic!()
        };
        assert!(
            ids.iter()
                .all(|a| matches!(a, Admission::Accepted { id: x, .. } if *x == id))
        );
        assert!(q.claim(10).await.unwrap().is_empty(), "still collecting");
        assert_eq!(q.close_quiet_groups(now_ms() + 1).await.unwrap(), 1);
        let c = q.claim(10).await.unwrap();
        assert_eq!(c[0].kind, Kind::Study);
        assert!(c[0].payload.is_empty());
        let parts = q.parts(id).await.unwrap();
        assert_eq!(parts.len(), 3);
        assert!(parts.contains(&vec![9; 10]));
        assert_eq!(q.item(id).await.unwrap().unwrap().parts, 3);

        // Another study, closed by its count.
        for i in 0..2u8 {
            q.add_instance(b"4.5.6", &[i], vec![i], 2).await.unwrap();
        }
        assert_eq!(q.claim(10).await.unwrap().len(), 1);
        // A later instance of the first study starts a new item.
        let a = q.add_instance(b"1.2.3", &[7], vec![7], 100).await.unwrap();
        assert!(matches!(a, Admission::Accepted { id: x, duplicate: false } if x != id));
    }
}
