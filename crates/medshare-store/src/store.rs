//! [`Store`]: one implementation of the store traits over a sqlx pool, generic over the
//! [`Dialect`]. The statements live with their aggregate (identity.rs, patients.rs,
//! documents.rs, events.rs, audit.rs); this file opens the pool, checks the schema and holds
//! what is not one aggregate's.

use crate::dialect::{Dialect, PoolSettings};
use crate::schema::{self, OpenMode, SchemaStatus};
use crate::sql::sql;
use crate::{MetadataStore, Result, StoreError};
use async_trait::async_trait;
use sqlx::{Pool, Postgres, Sqlite, Transaction};

/// The metadata store on one SQL backend: [`SqliteStore`] or [`PgStore`].
#[derive(Debug)]
pub struct Store<D: Dialect> {
    /// Reads (and, on PostgreSQL, everything).
    pub(crate) pool: Pool<D>,
    /// Writes: every transaction and every statement that changes a row. On SQLite a pool of
    /// one connection, so this process's writers queue in order for it instead of polling for
    /// the database's single write lock (SQLite's busy handler sleeps up to 100 ms between
    /// tries, which turned a few milliseconds of lock into hundreds under load, and a deferred
    /// transaction that reads then writes could fail when another writer committed between).
    /// On PostgreSQL the same pool as reads.
    pub(crate) writer: Pool<D>,
}

impl<D: Dialect> Clone for Store<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            writer: self.writer.clone(),
        }
    }
}

/// The embedded default store: one SQLite file.
pub type SqliteStore = Store<Sqlite>;
/// The scale-out store several hub replicas share.
pub type PgStore = Store<Postgres>;

impl<D: Dialect> Store<D> {
    /// Connect to `url` (`sqlite://PATH`, created if missing, or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`) without touching the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &PoolSettings::default()).await
    }

    /// [`Store::connect`] with the pool sized and timed by `pool`.
    pub async fn connect_with(url: &str, pool: &PoolSettings) -> Result<Self> {
        let readers = D::connect(url, pool).await?;
        let writer = D::writer(pool, &readers).await?;
        Ok(Self {
            pool: readers,
            writer,
        })
    }

    /// Connect to `url` and bring its schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        let s = Self::connect(url).await?;
        s.prepare_schema(OpenMode::Migrate).await?;
        Ok(s)
    }

    /// Refuse a newer or altered schema; migrate or refuse a behind one, as `mode` says. On
    /// PostgreSQL, migrating takes an advisory lock, so replicas starting together are safe.
    pub async fn prepare_schema(&self, mode: OpenMode) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        schema::prepare(&mut *conn, D::migrator(), mode).await
    }

    /// The schema against this binary's migrations.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        let mut conn = self.pool.acquire().await?;
        schema::inspect(&mut *conn, D::migrator()).await
    }

    /// Tables in the database outside the backend's own (restore refuses a database that
    /// already has any).
    pub async fn user_table_count(&self) -> Result<i64> {
        sql(D::COUNT_USER_TABLES).fetch_one(&self.pool).await
    }

    /// The underlying pool (tests, benchmarks and backups).
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    pub(crate) async fn begin(&self) -> Result<Transaction<'static, D>> {
        Ok(self.writer.begin().await?)
    }

    /// A transaction that reads and then writes ([`Dialect::BEGIN_WRITE`]): on SQLite it waits
    /// for another writer instead of failing when its snapshot went stale.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, D>> {
        Ok(self.writer.begin_with(D::BEGIN_WRITE).await?)
    }
}

impl Store<Sqlite> {
    /// A consistent copy of the whole database in a new file (`VACUUM INTO`), safe while the
    /// hub runs. `dest` must not exist. (A PostgreSQL database is copied with `pg_dump`, a
    /// client tool, by `medshare backup`.)
    pub async fn backup_to(&self, dest: &std::path::Path) -> Result<()> {
        let dest = dest.to_str().ok_or(StoreError::UnsupportedUrl)?;
        sql("VACUUM INTO $1").bind(dest).execute(&self.pool).await?;
        Ok(())
    }
}

#[async_trait]
impl<D: Dialect> MetadataStore for Store<D> {
    async fn ping(&self) -> Result<()> {
        sql("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn queue_depths(&self) -> Result<QueueDepths> {
        let staged: i64 = sql("SELECT COUNT(*) FROM staged_uploads")
            .fetch_one(&self.pool)
            .await?;
        let notices: i64 = sql(
            "SELECT COUNT(*) FROM contact_outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let notifications: i64 = sql(
            "SELECT COUNT(*) FROM notify_outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueDepths {
            staged_uploads: staged,
            notices_pending: notices,
            notifications_pending: notifications,
        })
    }

    async fn purge_expired(&self, cutoffs: &Cutoffs) -> Result<Purged> {
        // In batches, so a first run over years of rows never holds a long write lock.
        Ok(Purged {
            sessions: self
                .purge(
                    "DELETE FROM sessions WHERE token_hash IN \
                     (SELECT token_hash FROM sessions WHERE expires_at < $1 LIMIT $2)",
                    cutoffs.sessions_expired_before,
                )
                .await?,
            events: self
                .purge(
                    "DELETE FROM events WHERE seq IN \
                     (SELECT seq FROM events WHERE at < $1 LIMIT $2)",
                    cutoffs.events_before,
                )
                .await?,
            nonces: self
                .purge(
                    "DELETE FROM root_nonces WHERE nonce IN \
                     (SELECT nonce FROM root_nonces WHERE used_at < $1 LIMIT $2)",
                    cutoffs.nonces_before,
                )
                .await?,
            notices: self
                .purge(
                    "DELETE FROM contact_outbox WHERE id IN (SELECT id FROM contact_outbox \
                     WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND at < $1 \
                     LIMIT $2)",
                    cutoffs.notices_before,
                )
                .await?,
            notifications: self
                .purge(
                    "DELETE FROM notify_outbox WHERE id IN (SELECT id FROM notify_outbox \
                     WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND at < $1 \
                     LIMIT $2)",
                    cutoffs.notifications_before,
                )
                .await?,
            consults: self.purge_consults(cutoffs.consults_before).await?,
        })
    }
}

/// Rows deleted per statement by [`MetadataStore::purge_expired`].
const PURGE_BATCH: i64 = 5_000;

/// Closed consults (acknowledged or unanswered) created before `$1` with no step since: the
/// same condition before and after their steps go, so an interrupted pass finishes later.
const CLOSED_CONSULTS: &str = "SELECT id FROM consults c WHERE c.state <> 'open' \
     AND c.created_at < $1 AND NOT EXISTS \
     (SELECT 1 FROM consult_steps s WHERE s.consult_id = c.id AND s.at >= $1) \
     ORDER BY c.id LIMIT $2";

impl<D: Dialect> Store<D> {
    /// Delete closed consults (with their steps and recipients) in batches, one transaction
    /// per batch.
    async fn purge_consults(&self, before: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let mut tx = self.begin().await?;
            for table in ["consult_steps", "consult_recipients"] {
                sql(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE consult_id IN ({CLOSED_CONSULTS})"
                )))
                .bind((before, PURGE_BATCH))
                .execute(&mut tx)
                .await?;
            }
            let n = sql(sqlx::AssertSqlSafe(format!(
                "DELETE FROM consults WHERE id IN ({CLOSED_CONSULTS})"
            )))
            .bind((before, PURGE_BATCH))
            .execute(&mut tx)
            .await?;
            tx.commit().await?;
            total += n;
            if n < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn purge(&self, statement: &'static str, before: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = sql(statement)
                .bind((before, PURGE_BATCH))
                .execute(&self.pool)
                .await?;
            total += n;
            if n < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

/// What [`MetadataStore::purge_expired`] deletes: rows older than each cutoff (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cutoffs {
    /// Sessions that expired before this (revoked or not).
    pub sessions_expired_before: i64,
    /// Live-update events (clients catch up with `Last-Event-ID` within the retention).
    pub events_before: i64,
    /// Single-use nonces of root commands and service logins; must lie further back than the
    /// time window those statements are accepted in, or a replay could pass.
    pub nonces_before: i64,
    /// Patient notices delivered or given up on.
    pub notices_before: i64,
    /// Notification channel deliveries done or given up on.
    pub notifications_before: i64,
    /// Consults closed (acknowledged or unanswered), created before this and with no step
    /// since.
    pub consults_before: i64,
}

/// Work waiting, for the hub's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Uploads staged and not yet committed.
    pub staged_uploads: i64,
    /// Patient notices not yet delivered (nor given up on).
    pub notices_pending: i64,
    /// Channel notifications waiting (first attempt, retries, held back by the rate limit).
    pub notifications_pending: i64,
}

/// How many rows [`MetadataStore::purge_expired`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub events: u64,
    pub nonces: u64,
    pub notices: u64,
    pub notifications: u64,
    pub consults: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_user_tables_and_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let empty = SqliteStore::connect(&url).await.unwrap();
        assert_eq!(empty.user_table_count().await.unwrap(), 0);
        let s = SqliteStore::open(&url).await.unwrap();
        let tables = s.user_table_count().await.unwrap();
        assert!(tables > 10, "{tables}");
        let copy = dir.path().join("copy.db");
        s.backup_to(&copy).await.unwrap();
        let c = SqliteStore::connect(&format!("sqlite://{}", copy.display()))
            .await
            .unwrap();
        assert_eq!(c.user_table_count().await.unwrap(), tables);
        assert!(c.schema_status().await.unwrap().pending.is_empty());
        // The copy must be a new file.
        assert!(s.backup_to(&copy).await.is_err());
    }
}
