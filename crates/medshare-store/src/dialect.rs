//! The real differences between the backends, and nothing else: how a pool is opened (SQLite:
//! WAL, full sync, foreign keys, busy timeout; PostgreSQL: a bigger pool for several replicas),
//! which migrations tree applies, how an id list is matched (`json_each` vs `= ANY`), the audit
//! append lock, the column that orders documents, how text compares byte by byte, how user
//! tables are counted, and the cross-replica event feed (`LISTEN`/`NOTIFY`). Every statement the store runs is written
//! once, in the aggregate files, over [`Dialect`].
//!
//! The trait is implemented for [`sqlx::Sqlite`] and [`sqlx::Postgres`] only: its methods name
//! types private to this crate, so no other crate can implement it.

use crate::sql::{Columns, Value};
use crate::{EventNotices, Result, StoreError};
use log::LevelFilter;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Arguments, ConnectOptions, Database, Executor, IntoArguments, Pool};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// The channel the `events_notify` trigger (migrations/postgres) announces new events on.
pub const EVENTS_CHANNEL: &str = "medshare_events";
/// The channel hubs announce cache invalidations on ([`crate::InvalidationStore`]).
pub const INVALIDATIONS_CHANNEL: &str = "medshare_invalidations";

/// Connection pool sizes and time-outs (the hub's `[database]` configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most open connections; `None` is the backend's default (SQLite 8, PostgreSQL 16).
    pub max_connections: Option<u32>,
    /// How long a query waits for a free connection (or for the database to accept a new
    /// one) before it fails (the hub answers 503): a request during a database
    /// outage gets a clear answer instead of hanging.
    pub acquire_timeout: Duration,
    /// SQLite: how long a write waits for another writer's lock.
    pub busy_timeout: Duration,
    /// PostgreSQL: the server cancels a statement running longer (zero means no limit).
    pub statement_timeout: Duration,
    /// A statement taking at least this long is logged at WARN (target `sqlx::query`) with
    /// its SQL text, which holds placeholders and never bound values.
    pub slow_statement: Duration,
    /// SQLite: each connection's page cache, in KiB (SQLite's default is 2,000). The hub's
    /// memory grows by up to this much per connection (nine) as the database grows.
    pub sqlite_cache_kib: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            slow_statement: Duration::from_secs(1),
            sqlite_cache_kib: 2000,
        }
    }
}

/// A SQL backend the store runs on: a sqlx [`Database`] plus what differs between backends.
pub trait Dialect:
    Database<Connection: Migrate, Row: Columns, Arguments: IntoArguments<Self>>
{
    /// This backend's migrations, embedded in the binary.
    fn migrator() -> &'static Migrator;

    /// A pool for `url` sized and timed by `pool`, schema untouched.
    fn connect(url: &str, pool: &PoolSettings) -> impl Future<Output = Result<Pool<Self>>> + Send;

    /// The pool writes go through (see `Store::writer`): SQLite a pool of one connection whose
    /// callers wait in turn for up to the busy time-out; PostgreSQL `readers` itself.
    fn writer(
        pool: &PoolSettings,
        readers: &Pool<Self>,
    ) -> impl Future<Output = Result<Pool<Self>>> + Send;

    /// The pool as a statement executor (sqlx implements it for every backend; the generic
    /// bound that says so cannot be implied, so each backend states it here).
    fn pool_executor<'p>(pool: &'p Pool<Self>) -> impl Executor<'p, Database = Self>;

    /// A connection (or open transaction) as a statement executor.
    fn conn_executor<'c>(conn: &'c mut Self::Connection) -> impl Executor<'c, Database = Self>;

    /// Bind one value as the next argument.
    fn bind(args: &mut Self::Arguments, v: Value) -> Result<(), BoxDynError>;

    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// SQL for "`column` is one of the ids in the list bound as `$param`".
    fn any_of(column: &str, param: usize) -> String;

    /// Run first in an audit append's transaction so that appenders (several replicas) take
    /// turns and number entries without gaps; readers are not blocked. SQLite needs none: the
    /// append's `INSERT` takes the database's single write lock before reading the log's end.
    const LOCK_AUDIT_LOG: Option<&'static str>;

    /// The column that orders documents committed in the same second.
    const DOCUMENT_ORDER: &'static str;

    /// Appended to a text column so that it compares byte by byte (as Rust orders ids),
    /// whatever the database's collation.
    const BYTE_ORDER: &'static str;

    /// One row, one column: how many tables the database has outside the backend's own.
    const COUNT_USER_TABLES: &'static str;
    /// How a transaction that reads and then writes begins. SQLite: `BEGIN IMMEDIATE`, taking
    /// the write lock at once (waiting up to the busy time-out for another writer), because a
    /// deferred transaction that reads and then writes fails at once with "database is locked"
    /// when another connection wrote in between (its read snapshot cannot be upgraded).
    /// PostgreSQL: `BEGIN`.
    const BEGIN_WRITE: &'static str;

    /// A stream announcing events stored by any replica sharing the database; `None` where
    /// only this process writes (SQLite).
    fn event_notices(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Option<EventNotices>>> + Send;

    /// Announce an invalidation payload to every hub sharing the database; nothing where only
    /// this process writes (SQLite).
    fn announce(pool: &Pool<Self>, payload: &str) -> impl Future<Output = Result<()>> + Send;

    /// The invalidation announcements of every hub sharing the database, ending when the
    /// listening connection is lost; `None` where only this process writes (SQLite).
    fn invalidations(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Option<crate::Invalidations>>> + Send;
}

/// What sqlx knows of each backend's concrete types and a generic bound cannot say, stated
/// once for both.
macro_rules! what_sqlx_knows {
    () => {
        fn pool_executor<'p>(pool: &'p Pool<Self>) -> impl Executor<'p, Database = Self> {
            pool
        }

        fn conn_executor<'c>(conn: &'c mut Self::Connection) -> impl Executor<'c, Database = Self> {
            conn
        }

        fn rows_affected(done: &Self::QueryResult) -> u64 {
            done.rows_affected()
        }
    };
}

/// One SQLite connection's options: WAL, full sync, foreign keys, the busy time-out and the
/// slow-statement log.
fn sqlite_options(url: &str, pool: &PoolSettings) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::UnsupportedUrl)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(pool.busy_timeout)
        .log_statements(LevelFilter::Trace)
        .log_slow_statements(LevelFilter::Warn, pool.slow_statement)
        // A negative cache size is in KiB.
        .pragma("cache_size", format!("-{}", pool.sqlite_cache_kib))
        // Table statistics for the query planner, refreshed (within a bounded analysis) on each
        // new connection where the tables have grown since: SQLite's advice for long-lived
        // connections. The pool replaces its connections every 30 minutes.
        .analysis_limit(400)
        .pragma("optimize", "0x10002"))
}

/// SQLite migrations, embedded in the binary.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
/// PostgreSQL migrations, embedded in the binary.
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

impl Dialect for Sqlite {
    fn migrator() -> &'static Migrator {
        &SQLITE_MIGRATOR
    }

    async fn connect(url: &str, pool: &PoolSettings) -> Result<Pool<Self>> {
        Ok(SqlitePoolOptions::new()
            .max_connections(pool.max_connections.unwrap_or(8))
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(sqlite_options(url, pool)?)
            .await?)
    }

    async fn writer(pool: &PoolSettings, readers: &Pool<Self>) -> Result<Pool<Self>> {
        // The readers' options as they are (`sqlite::memory:` names one shared database).
        // Waiting for the one writer connection replaces waiting for SQLite's lock: as long.
        let opts = (*readers.connect_options()).clone();
        Ok(SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(pool.acquire_timeout.max(pool.busy_timeout))
            .connect_with(opts)
            .await?)
    }

    what_sqlx_knows!();

    fn bind(args: &mut Self::Arguments, v: Value) -> Result<(), BoxDynError> {
        match v {
            Value::Text(v) => args.add(v),
            Value::Int(v) => args.add(v),
            // A JSON array, unpacked by json_each (no limit on the number of ids).
            Value::TextList(v) => args.add(serde_json::to_string(&v)?),
        }
    }

    fn any_of(column: &str, param: usize) -> String {
        format!("{column} IN (SELECT value FROM json_each(${param}))")
    }

    const LOCK_AUDIT_LOG: Option<&'static str> = None;

    const DOCUMENT_ORDER: &'static str = "rowid";

    /// SQLite's default collation (BINARY) already compares bytes.
    const BYTE_ORDER: &'static str = "";

    const COUNT_USER_TABLES: &'static str =
        "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    async fn event_notices(_: &Pool<Self>) -> Result<Option<EventNotices>> {
        Ok(None)
    }

    async fn announce(_: &Pool<Self>, _: &str) -> Result<()> {
        Ok(())
    }

    async fn invalidations(_: &Pool<Self>) -> Result<Option<crate::Invalidations>> {
        Ok(None)
    }
}

impl Dialect for Postgres {
    fn migrator() -> &'static Migrator {
        &POSTGRES_MIGRATOR
    }

    async fn connect(url: &str, pool: &PoolSettings) -> Result<Pool<Self>> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl)?
            // A statement running longer than this is cancelled by the server (0 = no limit).
            .options([(
                "statement_timeout",
                pool.statement_timeout.as_millis().to_string(),
            )])
            .log_statements(LevelFilter::Trace)
            .log_slow_statements(LevelFilter::Warn, pool.slow_statement);
        Ok(PgPoolOptions::new()
            .max_connections(pool.max_connections.unwrap_or(16))
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(opts)
            .await?)
    }

    async fn writer(_: &PoolSettings, readers: &Pool<Self>) -> Result<Pool<Self>> {
        Ok(readers.clone())
    }

    what_sqlx_knows!();

    fn bind(args: &mut Self::Arguments, v: Value) -> Result<(), BoxDynError> {
        match v {
            Value::Text(v) => args.add(v),
            Value::Int(v) => args.add(v),
            Value::TextList(v) => args.add(v),
        }
    }

    fn any_of(column: &str, param: usize) -> String {
        format!("{column} = ANY(${param})")
    }

    const LOCK_AUDIT_LOG: Option<&'static str> =
        Some("LOCK TABLE access_log IN SHARE ROW EXCLUSIVE MODE");

    const DOCUMENT_ORDER: &'static str = "seq";

    const BYTE_ORDER: &'static str = r#" COLLATE "C""#;

    const COUNT_USER_TABLES: &'static str = "SELECT COUNT(*) FROM pg_catalog.pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')";
    const BEGIN_WRITE: &'static str = "BEGIN";

    async fn event_notices(pool: &Pool<Self>) -> Result<Option<EventNotices>> {
        use futures::StreamExt;
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        // The listener reconnects by itself after a dropped connection; announcements sent
        // while it was away are lost, and clients catch up with `Last-Event-ID`.
        let notices = listener.into_stream().map(|n| {
            let n = n?;
            let (to, seq) = n.payload().split_once(' ').ok_or(StoreError::Corrupt)?;
            Ok((
                crate::sql::parse_id(to)?,
                seq.parse().map_err(|_| StoreError::Corrupt)?,
            ))
        });
        Ok(Some(notices.boxed()))
    }

    async fn announce(pool: &Pool<Self>, payload: &str) -> Result<()> {
        // Delivered to listeners (this hub's included) once the statement commits.
        crate::sql::sql("SELECT pg_notify($1, $2)")
            .bind((INVALIDATIONS_CHANNEL, payload))
            .execute(pool)
            .await?;
        Ok(())
    }

    async fn invalidations(pool: &Pool<Self>) -> Result<Option<crate::Invalidations>> {
        use futures::StreamExt;
        let mut listener = PgListener::connect_with(pool).await?;
        listener.eager_reconnect(false);
        listener.listen(INVALIDATIONS_CHANNEL).await?;
        // `try_recv`, not `recv`: a lost connection ends the stream instead of reconnecting
        // silently past announcements made while it was away.
        let feed = futures::stream::unfold(Some(listener), |listener| async move {
            let mut listener = listener?;
            match listener.try_recv().await {
                Ok(Some(n)) => Some((crate::Invalidation::parse(n.payload()), Some(listener))),
                Ok(None) => None,
                // Reported once, then the stream ends.
                Err(e) => Some((Err(e.into()), None)),
            }
        });
        Ok(Some(feed.boxed()))
    }
}
