//! `medshare serve`: run the hub until SIGINT or SIGTERM, then drain connections.

use anyhow::Context;
use clap::Args;
use medshare_server::config::Config;
use std::path::PathBuf;

#[derive(Args)]
pub struct ServeArgs {
    /// TOML configuration file (see `medshare config default`).
    #[arg(long, env = "MEDSHARE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data folder (overrides the configuration).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:8443 (overrides the configuration).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Check the configuration (file, environment, TLS files, S3 settings, limits) and exit:
    /// 0 when it is usable. Opens no database and binds no port.
    #[arg(long)]
    pub check_config: bool,
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub async fn run(a: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(a.config.as_deref())
        .context("invalid configuration: compare with `medshare config default`")?;
    if let Some(d) = a.data_dir {
        config.data_dir = d;
    }
    if let Some(l) = a.listen {
        config.listen = l;
    }
    if a.check_config {
        config
            .check()
            .context("the configuration cannot be used as it is")?;
        println!("configuration ok: {config:#?}");
        return Ok(());
    }
    crate::init_logging_as("info,tower_http=info", config.log_format);
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(?config, "starting");
    let state = medshare_server::build_state(config).await?;
    crate::warn_user!("medshare hub listening on {scheme}://{addr}");
    medshare_server::serve(state, listener, shutdown_signal()).await?;
    crate::warn_user!("medshare hub stopped");
    Ok(())
}
