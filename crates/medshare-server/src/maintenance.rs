//! Backup and restore of a whole hub: metadata, every committed document's ciphertext, the
//! hub secret and the audit log key, as one folder an operator can copy off-site.
//!
//! Layout of a backup folder:
//! - `manifest.json`: format, backend, time, schema version, document count;
//! - `medshare.db` (SQLite, a consistent `VACUUM INTO` snapshot) or `medshare.pgdump`
//!   (PostgreSQL, `pg_dump --format=custom`, one consistent snapshot);
//! - `blobs/<xx>/<document id>`: the ciphertext of every document in that snapshot, each
//!   checked against the SHA-256 the metadata records while it is copied;
//! - `hub-secret` and `audit-log.key` (0600): without the log key a restored hub would sign
//!   its audit heads with a new key, which every client refuses.
//!
//! Blobs are immutable and written before their metadata commits, so copying the blobs named
//! by the snapshot after taking it yields a complete, consistent pair while the hub runs.
//! Restore refuses a non-empty target, loads the metadata, writes every blob into the target
//! blob store (folder or S3) through the same staging/promote path as uploads, re-checking
//! every hash, then brings the schema up to date.

use crate::config::Config;
use anyhow::{Context, bail, ensure};
use futures::StreamExt;
use medshare_blob::BlobStore;
use medshare_store::{Backend, MetadataStore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const FORMAT: u32 = 1;

/// What a backup folder holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupManifest {
    pub format: u32,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Unix seconds.
    pub created_at: i64,
    pub schema_version: i64,
    /// Documents whose ciphertext the backup holds (at least those its metadata names).
    pub documents: usize,
    pub blob_bytes: u64,
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

async fn open_blobs(config: &Config) -> anyhow::Result<Arc<dyn BlobStore>> {
    Ok(match config.blobs.backend {
        crate::config::BlobBackend::Folder => Arc::new(
            medshare_blob::LocalBlobStore::open(config.data_dir.join("blobs"))
                .context("cannot open the blob folder")?,
        ),
        crate::config::BlobBackend::S3 => {
            let s3 = medshare_blob::S3BlobStore::open(&config.s3_settings()?)?;
            s3.check().await.context("cannot reach the S3 bucket")?;
            Arc::new(s3)
        }
    })
}

fn blob_file(root: &Path, id: uuid::Uuid) -> PathBuf {
    let name = id.hyphenated().to_string();
    root.join("blobs").join(&name[..2]).join(name)
}

fn private_dir(p: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(p)
        .with_context(|| format!("cannot create {}", p.display()))
}

/// A PostgreSQL client tool run against `url`, the password passed in the environment so it
/// never shows in a process listing.
fn pg_tool(tool: &str, url: &str) -> anyhow::Result<Command> {
    let (scheme, rest) = url.split_once("://").context("bad database URL")?;
    let mut cmd = Command::new(tool);
    let url = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, password)) => {
                cmd.env("PGPASSWORD", percent_decode(password));
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    cmd.arg(format!("--dbname={url}"));
    Ok(cmd)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {what}: is the PostgreSQL client installed?"))?;
    if !out.status.success() {
        // The tools' messages name tables and the host, never row contents.
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Back the hub described by `config` up into the new folder `out`.
pub async fn backup(config: &Config, out: &Path) -> anyhow::Result<BackupManifest> {
    ensure!(
        !out.exists(),
        "{} already exists: back up into a new folder",
        out.display()
    );
    let url = config.database_url();
    let backend = Backend::of_url(&url)?;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = Path::new(path.split('?').next().unwrap_or(path));
        ensure!(
            path.exists(),
            "there is no database at {}: check --data-dir or database_url",
            path.display()
        );
    }
    private_dir(out)?;
    let status = medshare_store::schema_status(&url).await?;
    ensure!(
        status.pending.is_empty(),
        "the database schema is behind this binary: run `medshare migrate` first"
    );
    // 1. The metadata snapshot.
    let snapshot_url = match backend {
        Backend::Sqlite => {
            let db = out.join("medshare.db");
            medshare_store::SqliteStore::connect(&url)
                .await?
                .backup_to(&db)
                .await
                .context("VACUUM INTO failed")?;
            format!("sqlite://{}", db.display())
        }
        Backend::Postgres => {
            let mut cmd = pg_tool("pg_dump", &url)?;
            cmd.args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
                .arg(out.join("medshare.pgdump"));
            run(cmd, "pg_dump")?;
            url.clone()
        }
    };
    // 2. The documents the snapshot names. (For PostgreSQL the live database can only have
    // more documents than the dump; any extra blob copied is harmless and is not restored.)
    let docs: Vec<_> = {
        let store =
            medshare_store::open_with(&snapshot_url, medshare_store::OpenMode::RequireCurrent)
                .await?;
        let mut docs = Vec::new();
        for id in store.document_ids().await? {
            let d = store.document(id).await?.context("document vanished")?;
            docs.push((id, d.ciphertext_sha256, d.size));
        }
        docs
    };
    let blobs = open_blobs(config).await?;
    let mut blob_bytes = 0;
    for (id, sha, size) in &docs {
        let path = blob_file(out, id.0);
        private_dir(path.parent().expect("shard"))?;
        let copied = copy_out(&*blobs, id.0, &path)
            .await
            .with_context(|| format!("cannot copy the ciphertext of document {id}"))?;
        ensure!(
            copied.0 == *size && copied.1 == *sha,
            "the ciphertext of document {id} does not match its recorded hash: storage is damaged"
        );
        blob_bytes += copied.0;
    }
    let secret = config.data_dir.join("hub-secret");
    if secret.exists() {
        crate::write_secret_file(&out.join("hub-secret"), &std::fs::read(&secret)?)?;
    }
    let log_key = config.audit_key_file();
    if log_key.exists() {
        crate::write_secret_file(&out.join("audit-log.key"), &std::fs::read(&log_key)?)?;
    }
    let manifest = BackupManifest {
        format: FORMAT,
        backend: backend_name(backend).into(),
        created_at: crate::clock::Clock::system().now(),
        schema_version: status.current(),
        documents: docs.len(),
        blob_bytes,
    };
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    sync_tree(out)?;
    Ok(manifest)
}

async fn copy_out(
    blobs: &dyn BlobStore,
    id: uuid::Uuid,
    to: &Path,
) -> anyhow::Result<(u64, String)> {
    use tokio::io::AsyncWriteExt;
    let read = blobs.get(id, None).await?;
    let mut f = tokio::fs::File::create(to).await?;
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut body = read.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        h.update(&chunk);
        n += chunk.len() as u64;
        f.write_all(&chunk).await?;
    }
    f.sync_all().await?;
    Ok((n, hex::encode(h.finalize())))
}

fn sync_tree(dir: &Path) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            sync_tree(&e.path())?;
        }
    }
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Restore the backup in `from` into the (empty) hub described by `config`.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<BackupManifest> {
    let manifest: BackupManifest = serde_json::from_slice(
        &std::fs::read(from.join("manifest.json"))
            .with_context(|| format!("{} is not a medshare backup", from.display()))?,
    )
    .context("the backup manifest is unreadable")?;
    ensure!(
        manifest.format == FORMAT,
        "backup format {} is not supported",
        manifest.format
    );
    let url = config.database_url();
    let backend = Backend::of_url(&url)?;
    ensure!(
        backend_name(backend) == manifest.backend,
        "this is a {} backup; restore it into a {} hub (convert between backends is not supported)",
        manifest.backend,
        manifest.backend
    );
    private_dir(&config.data_dir)?;
    // 1. Metadata, into an empty target only.
    match backend {
        Backend::Sqlite => {
            let target = url
                .strip_prefix("sqlite://")
                .context("restore needs a sqlite://PATH database URL")?;
            let target = Path::new(target.split('?').next().unwrap_or(target));
            ensure!(
                !target.exists(),
                "{} already exists: restore into a new data folder",
                target.display()
            );
            std::fs::copy(from.join("medshare.db"), target).context("cannot copy the database")?;
            std::fs::File::open(target)?.sync_all()?;
        }
        Backend::Postgres => {
            let store = medshare_store::PgStore::connect(&url).await?;
            let tables: i64 = sqlx_count_tables(&store).await?;
            ensure!(
                tables == 0,
                "the target database is not empty: restore into a new database"
            );
            let mut cmd = pg_tool("pg_restore", &url)?;
            cmd.args(["--no-owner", "--no-privileges", "--exit-on-error"])
                .arg(from.join("medshare.pgdump"));
            run(cmd, "pg_restore")?;
        }
    }
    // A backup from an older medshare is brought up to date; a newer one is refused.
    let store: Arc<dyn MetadataStore> = medshare_store::open(&url).await?;
    // 2. Every document's ciphertext, re-checked on the way in.
    let blobs = open_blobs(config).await?;
    let mut restored = 0;
    for id in store.document_ids().await? {
        let d = store.document(id).await?.context("document vanished")?;
        let path = blob_file(from, id.0);
        let file = tokio::fs::File::open(&path)
            .await
            .with_context(|| format!("the backup lacks the ciphertext of document {id}"))?;
        let body =
            tokio_util::io::ReaderStream::with_capacity(file, medshare_blob::READ_CHUNK_SIZE)
                .boxed();
        let staging = uuid::Uuid::new_v4();
        let staged = blobs.stage(staging, body, u64::MAX).await?;
        if staged.size != d.size || staged.sha256_hex() != d.ciphertext_sha256 {
            blobs.discard(staging).await?;
            bail!("the backup's ciphertext of document {id} does not match its recorded hash");
        }
        blobs.promote(staging, id.0).await?;
        restored += 1;
    }
    // Every document of the restored metadata had its ciphertext (checked above). With
    // PostgreSQL the backup may hold a few more blobs than its dump names: documents committed
    // between the dump and the blob copy, which are not restored.
    ensure!(
        restored <= manifest.documents,
        "the backup's database names {restored} documents but it holds only {} blobs",
        manifest.documents
    );
    let secret = from.join("hub-secret");
    let target_secret = config.data_dir.join("hub-secret");
    if secret.exists() && !target_secret.exists() {
        crate::write_secret_file(&target_secret, &std::fs::read(&secret)?)?;
    }
    let log_key = from.join("audit-log.key");
    let target_key = config.audit_key_file();
    if log_key.exists() && !target_key.exists() {
        if let Some(dir) = target_key.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::write_secret_file(&target_key, &std::fs::read(&log_key)?)?;
    }
    Ok(manifest)
}

async fn sqlx_count_tables(store: &medshare_store::PgStore) -> anyhow::Result<i64> {
    store
        .user_table_count()
        .await
        .context("cannot inspect the target database")
}
