//! [`Store`]: one implementation of the store traits over a sqlx pool, generic over the
//! [`Dialect`]. The statements live with their aggregate (identity.rs, patients.rs,
//! documents.rs, events.rs, audit.rs); this file opens the pool, checks the schema and holds
//! what is not one aggregate's.

use crate::dialect::Dialect;
use crate::schema::{self, OpenMode, SchemaStatus};
use crate::sql::sql;
use crate::{MetadataStore, Result, StoreError};
use async_trait::async_trait;
use sqlx::{Pool, Postgres, Sqlite, Transaction};

/// The metadata store on one SQL backend: [`SqliteStore`] or [`PgStore`].
#[derive(Debug)]
pub struct Store<D: Dialect> {
    pub(crate) pool: Pool<D>,
}

impl<D: Dialect> Clone for Store<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
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
        Ok(Self {
            pool: D::connect(url).await?,
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
        Ok(self.pool.begin().await?)
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
