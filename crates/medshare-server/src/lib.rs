//! The medshare hub: an axum application that stores ciphertext and signed public statements,
//! enforces the access policy, records every decision and notifies practitioners. It never
//! holds a key that could decrypt a record (this crate does not depend on `medshare-crypto`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = medshare_server::config::Config::default();
//! let state = medshare_server::build_state(config).await?;
//! let router = medshare_server::app(state);
//! # let _ = router; Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod invalidate;
mod listen;
pub mod maintenance;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod policy;
pub mod policy_cache;
pub mod push;
pub mod retention;
pub mod routes;
pub mod services;
pub mod sessions;
pub mod state;
pub mod streams;
pub mod throttle;

pub use routes::{ApiDoc, app};
pub use state::AppState;

use anyhow::Context;
use config::Config;
use rand::RngCore;
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Write a secret file readable only by the owner (0600), replacing any old one atomically.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    if let Ok(bytes) = std::fs::read(path) {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            anyhow::anyhow!("{} is corrupt: delete it to make a new one", path.display())
        })?;
        return Ok(Zeroizing::new(arr));
    }
    let mut s = Zeroizing::new([0u8; 32]);
    rand::thread_rng().fill_bytes(&mut s[..]);
    write_secret_file(path, &s[..]).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(s)
}

/// Open the stores, reconcile storage after any crash and prepare the bootstrap token.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    build_state_with(config, clock::Clock::system()).await
}

/// [`build_state`] reading time from `clock` (tests advance it instead of sleeping).
pub async fn build_state_with(mut config: Config, clock: clock::Clock) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data folder {}",
            config.data_dir.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", config.data_dir.display()))?;
    }
    let url = config.database_url();
    let backend = medshare_store::Backend::of_url(&url)
        .context("database_url must start with sqlite:// or postgres://")?;
    let mode = if config.migrate_on_start {
        medshare_store::OpenMode::Migrate
    } else {
        medshare_store::OpenMode::RequireCurrent
    };
    let store = medshare_store::open_pooled(&url, mode, &config.database.pool())
        .await
        .context("cannot open the metadata database")?;
    let blobs: Arc<dyn medshare_blob::BlobStore> = match config.blobs.backend {
        config::BlobBackend::Folder => Arc::new(
            medshare_blob::LocalBlobStore::open(config.data_dir.join("blobs"))
                .context("cannot open the blob folder")?,
        ),
        config::BlobBackend::S3 => {
            let s3 = medshare_blob::S3BlobStore::open(&config.s3_settings()?)
                .context("cannot set up the S3 client")?;
            s3.check().await.context(
                "cannot reach the S3 bucket: check blobs.s3 (endpoint, bucket, credentials)",
            )?;
            // Promotion is a single server-side CopyObject, which S3 limits to 5 GiB.
            if config.limits.max_upload_bytes > medshare_blob::S3_MAX_BLOB_BYTES {
                tracing::warn!(
                    limit = medshare_blob::S3_MAX_BLOB_BYTES,
                    "limits.max_upload_bytes lowered to the S3 copy limit"
                );
                config.limits.max_upload_bytes = medshare_blob::S3_MAX_BLOB_BYTES;
            }
            Arc::new(s3)
        }
    };
    // A PostgreSQL database may be shared by several hub replicas.
    let shared = backend == medshare_store::Backend::Postgres;
    let hub_secret = load_or_create_secret(&config.data_dir.join("hub-secret"))?;
    let token_path = config.data_dir.join("bootstrap-token");
    let bootstrap_token = if store.alliance().await?.is_none() {
        let token = match std::fs::read_to_string(&token_path) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let t = auth::new_token();
                write_secret_file(&token_path, t.as_bytes())
                    .with_context(|| format!("cannot write {}", token_path.display()))?;
                t
            }
        };
        tracing::warn!(path = %token_path.display(), "alliance not initialised: run `medshare admin init` with the bootstrap token in this file");
        Some(Zeroizing::new(token))
    } else {
        None
    };
    let audit_seed = load_or_create_secret(&config.audit_key_file())?;
    let (committed, committed_rx) = tokio::sync::mpsc::unbounded_channel();
    let audit = audit::AuditLog::open(
        store.clone(),
        audit_seed,
        std::time::Duration::from_millis(config.audit.head_interval_ms),
        config.audit.batch_max,
        committed,
        clock.clone(),
    )
    .await
    .context("cannot open the audit log")?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let notifier = notify::Notifier::start(&store, shutdown.clone(), clock.clone())
        .await
        .context("cannot listen for notifications from other replicas")?;
    let outbox = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(audit::watch::run(
        store.clone(),
        notifier.clone(),
        config.audit.clone(),
        outbox.clone(),
        committed_rx,
        clock.clone(),
    ));
    let outbound = outbound::Destinations::new(&config.outbound, config.audit.webhook_allow_http)
        .context("invalid [outbound] configuration")?;
    tokio::spawn(audit::contact::run(
        store.clone(),
        config.audit.clone(),
        outbound
            .client(std::time::Duration::from_secs(10))
            .context("cannot build the outbound HTTP client")?,
        outbox,
        shutdown.clone(),
        clock.clone(),
    ));
    let throttle = Arc::new(throttle::Throttle::new(&config.auth));
    let sessions = Arc::new(sessions::SessionCache::new(
        std::time::Duration::from_millis(config.auth.session_cache_ms),
    ));
    let vapid = Arc::new(push::Vapid::load_or_create(&config.vapid_key_file())?);
    let policy_cache = Arc::new(policy_cache::PolicyCache::new(
        std::time::Duration::from_millis(config.auth.policy_cache_ms),
    ));
    invalidate::listen(
        store.clone(),
        sessions.clone(),
        policy_cache.clone(),
        shutdown.clone(),
    )
    .await
    .context("cannot listen for cache invalidations from other replicas")?;
    let state = AppState {
        store,
        blobs,
        notifier,
        audit,
        config: Arc::new(config),
        hub_secret: Arc::new(hub_secret),
        bootstrap_token: Arc::new(std::sync::Mutex::new(bootstrap_token)),
        shutdown,
        outbound,
        streams: Arc::new(streams::Streams::default()),
        throttle,
        clock,
        sessions,
        policy_cache,
        vapid,
    };
    let grace = if shared {
        std::time::Duration::from_secs(state.config.blobs.replica_grace_secs)
    } else {
        std::time::Duration::ZERO
    };
    services::documents::reconcile(&state, grace).await?;
    // Abandoned staged uploads are purged on a schedule, not only at start-up.
    {
        let state = state.clone();
        let every = std::time::Duration::from_secs(
            (state.config.limits.staging_ttl_secs / 4).clamp(1, 600) as u64,
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                if let Err(e) = services::documents::purge_stale_staging(&state).await {
                    tracing::error!(error = %e, "could not purge expired staged uploads");
                }
            }
        });
    }
    retention::spawn(state.clone());
    services::consults::spawn(state.clone());
    services::channels::spawn(state.clone()).context("cannot build the notification client")?;
    Ok(state)
}

/// Serve on an already bound listener until `shutdown` resolves, then drain connections.
pub async fn serve(
    state: AppState,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let tls = state.config.tls.clone();
    let cancel = state.shutdown.clone();
    let shutdown = async move {
        shutdown.await;
        // Ends live event streams so graceful shutdown is not held open by them.
        cancel.cancel();
    };
    let grace = std::time::Duration::from_secs(state.config.limits.shutdown_grace_secs);
    let router = app(state);
    match tls {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            // Draining waits for in-flight requests, but not for ever: after the grace period
            // the remaining connections (a stalled client) are dropped.
            let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
            let shutdown = async move {
                shutdown.await;
                let _ = signalled.send(());
            };
            let serving = listen::serve(listener, router, shutdown);
            let deadline = async move {
                if on_signal.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = serving => {}
                _ = deadline => {
                    tracing::warn!(
                        grace_secs = grace.as_secs(),
                        "shutdown grace period over: closing the connections still open"
                    );
                }
            }
        }
        Some(tls) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .context("cannot load the TLS certificate or key")?;
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                h.graceful_shutdown(Some(grace));
            });
            axum_server::from_tcp_rustls(listener, rustls)?
                .handle(handle)
                .serve(router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .await?;
        }
    }
    Ok(())
}
