//! Start and stop a gateway: open the queue, bind every configured input (bind first, then
//! serve, so the addresses are known when [`start`] returns), run the uploader and the metrics
//! endpoint.

use crate::config::{Config, TlsConfig};
use crate::ingest::Shared;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::rules::Rules;
use crate::uploader::Uploader;
use medshare_client::{Hub, Memory, MemoryStore, Remembered};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the gateway cannot start (says what to fix; never content).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Key(#[from] crate::keyfile::KeyFileError),
    #[error(transparent)]
    Rules(#[from] crate::rules::RulesError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS for {what}: {message}")]
    Tls { what: &'static str, message: String },
    #[error("the hub: {0}")]
    Hub(#[from] medshare_client::ClientError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running gateway.
pub struct Running {
    pub hl7: Option<SocketAddr>,
    pub dicom: Option<SocketAddr>,
    pub fhir: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stop accepting, let the uploader finish what it is doing, close the queue.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.shared.wake.notify_waiters();
        for t in self.tasks {
            let _ = t.await;
        }
        self.shared.queue.close().await;
    }
}

/// Keeps the trust memory (patient key chains, institution epochs, revocations seen) in the
/// data folder, 0600, replaced atomically.
struct MemoryFile(PathBuf);

impl MemoryStore for MemoryFile {
    fn save(&self, memory: &Memory) -> medshare_client::Result<()> {
        let fail =
            |_| medshare_client::ClientError::Invalid("cannot save trust_memory.json".into());
        let json = serde_json::to_vec(memory).map_err(|_| {
            medshare_client::ClientError::Invalid("cannot save trust_memory.json".into())
        })?;
        write_private(&self.0, &json).map_err(fail)
    }
}

/// Write a file readable by its owner only, atomically (temp file, fsync, rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn remembered(data_dir: &Path) -> Remembered {
    let path = data_dir.join("trust_memory.json");
    let memory = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    Remembered::new(memory, Some(Arc::new(MemoryFile(path))))
}

/// Load certificates and key for a listener.
pub fn tls_server_config(
    what: &'static str,
    t: &TlsConfig,
) -> Result<Arc<rustls::ServerConfig>, StartError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let err = |message: String| StartError::Tls { what, message };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert)
        .map_err(|e| err(format!("{}: {e}", t.cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("{}: {e}", t.cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(&t.key)
        .map_err(|e| err(format!("{}: {e}", t.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?;
    let builder = match &t.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .map_err(|e| err(format!("{}: {e}", ca.display())))?
            {
                roots
                    .add(c.map_err(|e| err(format!("{}: {e}", ca.display())))?)
                    .map_err(|e| err(e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| err(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(
        builder
            .with_single_cert(certs, key)
            .map_err(|e| err(e.to_string()))?,
    ))
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

/// Start everything the configuration asks for.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let key = Arc::new(crate::keyfile::read(&config.key_path()?)?);
    let rules = match &config.rules {
        Some(p) => Rules::load(p)?,
        None => Rules::default(),
    };
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
        path: config.data_dir.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| StartError::Io {
                path: config.data_dir.clone(),
                source,
            })?;
    }
    let queue = Queue::open(&config.data_dir.join("queue.db"), config.queue.clone()).await?;
    let metrics = Metrics::new();
    let shared = Arc::new(Shared {
        queue,
        metrics: metrics.clone(),
        rules: Arc::new(rules),
        recipient: key.keys()?.encryption.recipient(),
        wake: tokio::sync::Notify::new(),
        study_max_instances: config
            .dicom
            .as_ref()
            .map(|d| d.study_max_instances)
            .unwrap_or(u64::MAX),
    });
    let hub_url = config.hub.clone().unwrap_or_else(|| key.hub.clone());
    let ca = match &config.hub_ca_cert {
        Some(p) => Some(std::fs::read(p).map_err(|source| StartError::Io {
            path: p.clone(),
            source,
        })?),
        None => None,
    };
    let hub = Hub::new(&hub_url, ca.as_deref())?;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut running = Running {
        hl7: None,
        dicom: None,
        fhir: None,
        metrics: None,
        shared: shared.clone(),
        stop,
        tasks: Vec::new(),
    };

    if let Some(h) = &config.hl7 {
        let listener = bind("HL7/MLLP", h.listen).await?;
        running.hl7 = Some(listener.local_addr().map_err(|source| StartError::Bind {
            what: "HL7/MLLP",
            addr: h.listen,
            source,
        })?);
        let tls = match &h.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(tls_server_config(
                "HL7/MLLP", t,
            )?)),
            None => None,
        };
        let l = Arc::new(crate::mllp::Listener {
            config: h.clone(),
            responder: crate::hl7::Responder {
                application: h.application.clone(),
                facility: h.facility.clone(),
            },
            processing_ids: h.processing_ids.clone(),
            tls,
        });
        tasks.push(tokio::spawn(crate::mllp::serve(
            listener,
            l,
            shared.clone(),
            stopped.clone(),
        )));
    }
    if let Some(d) = &config.dicom {
        let listener = bind("DICOM", d.listen).await?;
        running.dicom = listener.local_addr().ok();
        tasks.push(tokio::spawn(crate::dicom::serve(
            listener,
            Arc::new(crate::dicom::Listener { config: d.clone() }),
            shared.clone(),
            stopped.clone(),
        )));
    }
    if let Some(f) = &config.folder {
        tasks.push(tokio::spawn(crate::folder::watch(
            f.clone(),
            shared.clone(),
            stopped.clone(),
        )));
    }
    if let Some(m) = &config.metrics {
        let listener = bind("metrics", m.listen).await?;
        running.metrics = listener.local_addr().ok();
        let mut s = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, crate::metrics::router(metrics))
                .with_graceful_shutdown(async move {
                    let _ = s.changed().await;
                })
                .await;
        }));
    }
    let uploader = Arc::new(Uploader::new(
        shared.clone(),
        key,
        hub,
        remembered(&config.data_dir),
        &config,
    )?);
    if let Some(f) = &config.fhir {
        let listener = bind("FHIR", f.listen).await?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            what: "FHIR",
            addr: f.listen,
            source,
        })?;
        running.fhir = Some(addr);
        let mut tokens = Vec::new();
        if let Some(path) = &f.tokens_file {
            let text = std::fs::read_to_string(path).map_err(|source| StartError::Io {
                path: path.clone(),
                source,
            })?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(crate::fhir::token_hash),
            );
        }
        if let Ok(t) = std::env::var("MEDSHARE_GATEWAY_FHIR_TOKEN") {
            tokens.push(crate::fhir::token_hash(&t));
        }
        let scheme = if f.tls.is_some() { "https" } else { "http" };
        let state = Arc::new(crate::fhir::Fhir {
            shared: shared.clone(),
            uploader: uploader.clone(),
            tokens,
            mutual_tls: f.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
            base: f
                .base_url
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{addr}"))
                .trim_end_matches('/')
                .to_string(),
        });
        let app = crate::fhir::router(state)
            .layer(axum::extract::DefaultBodyLimit::max(f.max_body_bytes));
        let mut s = stopped.clone();
        match &f.tls {
            Some(t) => {
                let tls = axum_server::tls_rustls::RustlsConfig::from_config(tls_server_config(
                    "FHIR", t,
                )?);
                let handle = axum_server::Handle::new();
                let h2 = handle.clone();
                tokio::spawn(async move {
                    let _ = s.changed().await;
                    h2.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
                });
                let std_listener = listener.into_std().map_err(|source| StartError::Bind {
                    what: "FHIR",
                    addr,
                    source,
                })?;
                tasks.push(tokio::spawn(async move {
                    let server = match axum_server::from_tcp_rustls(std_listener, tls) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::error!(error = %e, "fhir: cannot serve TLS");
                            return;
                        }
                    };
                    let _ = server.handle(handle).serve(app.into_make_service()).await;
                }));
            }
            None => {
                tasks.push(tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = s.changed().await;
                        })
                        .await;
                }));
            }
        }
    }
    tasks.push(tokio::spawn(uploader.run(stopped.clone())));
    running.tasks = tasks;
    Ok(running)
}
