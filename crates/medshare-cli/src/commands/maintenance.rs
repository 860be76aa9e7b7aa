//! `medshare migrate`, `medshare backup`, `medshare restore`: schema upgrades and whole-hub
//! backups, for the operator (they read the same configuration as `serve`).

use anyhow::Context;
use clap::Args;
use medshare_server::config::Config;
use std::path::PathBuf;

/// The hub configuration, as for `serve`.
#[derive(Args)]
pub struct HubConfigArgs {
    /// TOML configuration file (see `medshare config default`).
    #[arg(long, env = "MEDSHARE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data folder (overrides the configuration).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl HubConfigArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.config.as_deref())
            .context("invalid configuration: compare with `medshare config default`")?;
        if let Some(d) = &self.data_dir {
            c.data_dir = d.clone();
        }
        Ok(c)
    }
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub hub: HubConfigArgs,
    /// Only report the schema version and pending migrations.
    #[arg(long)]
    pub check: bool,
}

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub hub: HubConfigArgs,
    /// New folder to write the backup into.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub hub: HubConfigArgs,
    /// A folder written by `medshare backup`.
    #[arg(long)]
    pub from: PathBuf,
}

pub async fn migrate(a: MigrateArgs) -> anyhow::Result<()> {
    let config = a.hub.load()?;
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        // The embedded database lives in the data folder, which may not exist yet.
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data folder {}",
                config.data_dir.display()
            )
        })?;
    }
    if a.check {
        let s = medshare_store::schema_status(&url).await?;
        crate::say!(
            "schema at {} (this binary knows up to {}); {} pending",
            s.current(),
            s.latest_known,
            s.pending.len()
        );
        if !s.pending.is_empty() {
            anyhow::bail!("migrations pending: run `medshare migrate`");
        }
        return Ok(());
    }
    let (before, after) = medshare_store::migrate(&url).await?;
    crate::say!(
        "schema {} -> {} ({} migrations applied)",
        before.current(),
        after.current(),
        before.pending.len()
    );
    Ok(())
}

pub async fn backup(a: BackupArgs) -> anyhow::Result<()> {
    let config = a.hub.load()?;
    let m = medshare_server::maintenance::backup(&config, &a.out).await?;
    crate::say!(
        "backed up {} documents ({} bytes of ciphertext, {} schema {}) into {}",
        m.documents,
        m.blob_bytes,
        m.backend,
        m.schema_version,
        a.out.display()
    );
    Ok(())
}

pub async fn restore(a: RestoreArgs) -> anyhow::Result<()> {
    let config = a.hub.load()?;
    let m = medshare_server::maintenance::restore(&config, &a.from).await?;
    crate::say!(
        "restored {} documents ({} bytes of ciphertext) from {}; start the hub with the same configuration",
        m.documents,
        m.blob_bytes,
        a.from.display()
    );
    Ok(())
}
