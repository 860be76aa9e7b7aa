//! Schema versions: compare a database's applied migrations with the ones this binary carries,
//! refuse a schema that is newer or was altered, and apply pending migrations when asked.

use crate::{Result, StoreError};
use sqlx::migrate::{Migrate, Migrator};

/// What opening a store may do to its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Apply pending migrations (the embedded default, and `medshare migrate`).
    Migrate,
    /// Refuse to start unless the schema is exactly current (replicas of a shared database,
    /// where an operator runs `medshare migrate` once).
    RequireCurrent,
}

/// A database's schema against this binary's migrations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Versions applied to the database, oldest first.
    pub applied: Vec<i64>,
    /// Versions this binary carries and the database lacks.
    pub pending: Vec<i64>,
    /// The newest version this binary carries.
    pub latest_known: i64,
}

impl SchemaStatus {
    /// The newest applied version (0 for an empty database).
    pub fn current(&self) -> i64 {
        self.applied.last().copied().unwrap_or(0)
    }
}

/// Read the migrations table (creating it empty if missing) and compare.
pub(crate) async fn inspect<C: Migrate>(conn: &mut C, migrator: &Migrator) -> Result<SchemaStatus> {
    let table = migrator.table_name.as_ref();
    conn.ensure_migrations_table(table)
        .await
        .map_err(StoreError::Migrate)?;
    if let Some(v) = conn
        .dirty_version(table)
        .await
        .map_err(StoreError::Migrate)?
    {
        return Err(StoreError::SchemaDirty(v));
    }
    let applied = conn
        .list_applied_migrations(table)
        .await
        .map_err(StoreError::Migrate)?;
    let latest_known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    for a in &applied {
        match migrator.iter().find(|m| m.version == a.version) {
            None => {
                return Err(StoreError::SchemaNewer {
                    found: a.version,
                    known: latest_known,
                });
            }
            Some(m) if m.checksum != a.checksum => {
                return Err(StoreError::SchemaModified(a.version));
            }
            Some(_) => {}
        }
    }
    let pending = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .map(|m| m.version)
        .collect();
    Ok(SchemaStatus {
        applied: applied.iter().map(|a| a.version).collect(),
        pending,
        latest_known,
    })
}

/// Check the schema, then migrate or refuse as `mode` says.
pub(crate) async fn prepare<C: Migrate>(
    conn: &mut C,
    migrator: &Migrator,
    mode: OpenMode,
) -> Result<()> {
    let status = inspect(conn, migrator).await?;
    if status.pending.is_empty() {
        return Ok(());
    }
    match mode {
        OpenMode::RequireCurrent => Err(StoreError::SchemaBehind {
            pending: status.pending.len(),
        }),
        OpenMode::Migrate => migrator
            .run_direct(None, conn, false)
            .await
            .map_err(StoreError::Migrate),
    }
}
