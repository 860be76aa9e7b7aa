//! Metadata store: the [`MetadataStore`] trait the hub's services call (one sub-trait per
//! aggregate: [`IdentityStore`], [`PatientStore`], [`DocumentStore`], [`EventStore`],
//! [`AuditStore`], [`RoomStore`], [`ConsultStore`]) and its one implementation, [`Store`], generic over the SQL backend: SQLite
//! ([`SqliteStore`]: WAL, foreign keys, busy timeout; the embedded default) and PostgreSQL
//! ([`PgStore`]: several hub replicas). Both are compiled in and chosen at run time from the
//! database URL; every statement is written once, the few real differences sit behind
//! [`Dialect`], and each backend keeps its own migrations tree and schema-version check.
//!
//! ```no_run
//! # async fn demo() -> Result<(), medshare_store::StoreError> {
//! let store = medshare_store::open("sqlite:///var/lib/medshare/medshare.db").await?;
//! assert!(store.alliance().await?.is_none());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod audit;
mod consults;
mod dialect;
mod documents;
mod events;
mod identity;
mod invalidations;
mod notify;
mod patients;
mod rooms;
mod rows;
mod schema;
mod sql;
mod store;

pub use audit::*;
pub use consults::{ConsultRow, ConsultStepRow, ConsultStore, Escalated, OncallRow};
pub use dialect::{Dialect, EVENTS_CHANNEL, INVALIDATIONS_CHANNEL, PoolSettings};
pub use documents::DocumentStore;
pub use events::{EventNotices, EventStore};
pub use identity::IdentityStore;
pub use invalidations::{Invalidation, InvalidationStore, Invalidations};
pub use notify::{Attempt, ChannelRow, NotifyStore, OutboxRow};
pub use patients::PatientStore;
pub use rooms::{
    KeyPackageClaims, NewEntry, RoomBlobRow, RoomEntryRow, RoomMemberRow, RoomRow, RoomStore,
};
pub use rows::*;
pub use schema::{OpenMode, SchemaStatus};
pub use store::{Cutoffs, PgStore, Purged, QueueDepths, SqliteStore, Store};

use async_trait::async_trait;
use std::sync::Arc;

/// Store failures. Display never includes SQL, values or paths.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    #[error("conflicts with an existing record")]
    Conflict,
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt")]
    Corrupt,
    #[error("unsupported database URL: expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl,
    #[error(
        "the database schema is at migration {found}, newer than this medshare binary knows \
         (up to {known}): run the medshare version that wrote it, or restore a matching backup"
    )]
    SchemaNewer { found: i64, known: i64 },
    #[error(
        "migration {0} in the database differs from the one this binary carries: \
         the schema was changed outside medshare; restore a backup"
    )]
    SchemaModified(i64),
    #[error("migration {0} was left half applied: restore a backup taken before it")]
    SchemaDirty(i64),
    #[error(
        "the database schema is behind this binary ({pending} migrations pending): run `medshare migrate`"
    )]
    SchemaBehind { pending: usize },
}

impl StoreError {
    /// The database could not write because its disk is full (SQLite `SQLITE_FULL`,
    /// PostgreSQL `53100 disk_full`), as opposed to being unreachable.
    pub fn is_disk_full(&self) -> bool {
        let Self::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Database(d) => {
                matches!(d.code().as_deref(), Some("13") | Some("53100"))
                    || d.message().contains("database or disk is full")
            }
            sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => Self::Conflict,
            _ => Self::Database(e),
        }
    }
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The backend a database URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `sqlite:...` or `postgres://...`/`postgresql://...`.
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }
}

/// Open the store named by a database URL (`sqlite://PATH`, `sqlite::memory:` or
/// `postgres://...`), bringing its schema up to date.
pub async fn open(url: &str) -> Result<Arc<dyn MetadataStore>> {
    open_with(url, OpenMode::Migrate).await
}

/// Open the store named by a database URL. Whatever the mode, a schema newer than this binary
/// knows (or altered outside it) is refused; [`OpenMode::RequireCurrent`] also refuses a schema
/// with pending migrations instead of applying them.
pub async fn open_with(url: &str, mode: OpenMode) -> Result<Arc<dyn MetadataStore>> {
    open_pooled(url, mode, &PoolSettings::default()).await
}

/// [`open_with`] with the connection pool sized and timed by `pool`.
pub async fn open_pooled(
    url: &str,
    mode: OpenMode,
    pool: &PoolSettings,
) -> Result<Arc<dyn MetadataStore>> {
    async fn on<D: Dialect>(
        url: &str,
        mode: OpenMode,
        pool: &PoolSettings,
    ) -> Result<Arc<dyn MetadataStore>> {
        let s = Store::<D>::connect_with(url, pool).await?;
        s.prepare_schema(mode).await?;
        Ok(Arc::new(s))
    }
    match Backend::of_url(url)? {
        Backend::Sqlite => on::<sqlx::Sqlite>(url, mode, pool).await,
        Backend::Postgres => on::<sqlx::Postgres>(url, mode, pool).await,
    }
}

/// Apply pending migrations (`medshare migrate`); returns the schema before and after.
pub async fn migrate(url: &str) -> Result<(SchemaStatus, SchemaStatus)> {
    async fn on<D: Dialect>(url: &str) -> Result<(SchemaStatus, SchemaStatus)> {
        let s = Store::<D>::connect(url).await?;
        let before = s.schema_status().await?;
        s.prepare_schema(OpenMode::Migrate).await?;
        Ok((before, s.schema_status().await?))
    }
    match Backend::of_url(url)? {
        Backend::Sqlite => on::<sqlx::Sqlite>(url).await,
        Backend::Postgres => on::<sqlx::Postgres>(url).await,
    }
}

/// The schema of the database at `url` compared with the migrations this binary carries.
pub async fn schema_status(url: &str) -> Result<SchemaStatus> {
    match Backend::of_url(url)? {
        Backend::Sqlite => SqliteStore::connect(url).await?.schema_status().await,
        Backend::Postgres => PgStore::connect(url).await?.schema_status().await,
    }
}

/// Everything the hub keeps besides ciphertext blobs.
#[async_trait]
pub trait MetadataStore:
    IdentityStore
    + PatientStore
    + DocumentStore
    + EventStore
    + AuditStore
    + RoomStore
    + ConsultStore
    + NotifyStore
    + InvalidationStore
    + Send
    + Sync
    + 'static
{
    /// Cheap liveness query for readiness checks.
    async fn ping(&self) -> Result<()>;

    /// How much work is waiting (metrics).
    async fn queue_depths(&self) -> Result<QueueDepths>;

    /// Retention: delete expired sessions, old events, used nonces and settled notices.
    async fn purge_expired(&self, cutoffs: &Cutoffs) -> Result<Purged>;
}
