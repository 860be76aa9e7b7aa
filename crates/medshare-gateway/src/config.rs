//! The gateway's configuration: one TOML file (`medshare gateway config default` prints the
//! defaults), every input optional. Routing and sharing live in the rules file ([`crate::rules`]).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid gateway configuration: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The key file `medshare gateway enroll` wrote (0600). When unset, the systemd credential
    /// `gateway.key` (`$CREDENTIALS_DIRECTORY/gateway.key`) is used.
    pub key_file: Option<PathBuf>,
    /// The hub; defaults to the one the key file was enrolled with.
    pub hub: Option<String>,
    /// PEM file of a CA for a hub with a private certificate.
    pub hub_ca_cert: Option<PathBuf>,
    /// Where the queue (`queue.db`) lives; created 0700.
    pub data_dir: PathBuf,
    /// The routing and sharing rules (TOML); without it, records are filed and not shared.
    pub rules: Option<PathBuf>,
    pub queue: QueueConfig,
    pub hl7: Option<Hl7Config>,
    pub dicom: Option<DicomConfig>,
    pub fhir: Option<FhirConfig>,
    pub folder: Option<FolderConfig>,
    pub metrics: Option<MetricsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            key_file: None,
            hub: None,
            hub_ca_cert: None,
            data_dir: PathBuf::from("/var/lib/medshare-gateway"),
            rules: None,
            queue: QueueConfig::default(),
            hl7: Some(Hl7Config::default()),
            dicom: Some(DicomConfig::default()),
            fhir: None,
            folder: None,
            metrics: Some(MetricsConfig::default()),
        }
    }
}

/// Bounds of the durable queue and the uploader's pace.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Above this many items waiting, new messages are refused (negative acknowledgement).
    pub max_items: u64,
    /// Above this many bytes waiting, new messages are refused.
    pub max_bytes: u64,
    /// Uploads in flight at once.
    pub upload_concurrency: usize,
    /// Attempts before an item that keeps failing for a reason other than the hub being
    /// unreachable goes to the dead letters.
    pub max_attempts: u32,
    /// Longest wait between retries, seconds (the wait doubles from 1 s).
    pub max_backoff_secs: u64,
    /// Rows of uploaded items are kept this long (for `status` and duplicate detection).
    pub keep_done_days: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_items: 100_000,
            max_bytes: 20 * 1024 * 1024 * 1024,
            upload_concurrency: 4,
            max_attempts: 8,
            max_backoff_secs: 300,
            keep_done_days: 7,
        }
    }
}

/// TLS for a listener: a certificate chain and key (PEM); with `client_ca`, clients must present
/// a certificate signed by it (mutual TLS).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The HL7 v2 listener (MLLP).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hl7Config {
    pub listen: SocketAddr,
    pub tls: Option<TlsConfig>,
    /// Largest frame accepted; a larger one is refused (AR) and the connection closed.
    pub max_message_bytes: usize,
    /// A connection silent this long is closed, seconds.
    pub idle_timeout_secs: u64,
    /// MSH-3/MSH-4 of the acknowledgements the gateway sends.
    pub application: String,
    pub facility: String,
    /// MSH-11 processing ids accepted: `P` (production) only by default, so test (`T`) and
    /// debugging (`D`) messages are never filed into real records.
    pub processing_ids: Vec<String>,
}

impl Default for Hl7Config {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:2575".parse().expect("static"),
            tls: None,
            max_message_bytes: 16 * 1024 * 1024,
            idle_timeout_secs: 600,
            application: "MEDSHARE".into(),
            facility: "GATEWAY".into(),
            processing_ids: vec!["P".into()],
        }
    }
}

/// The DICOM storage SCP.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DicomConfig {
    pub listen: SocketAddr,
    /// This node's AE title.
    pub ae_title: String,
    /// Refuse associations that call another AE title.
    pub require_called_ae_title: bool,
    /// A study is complete when no instance arrived for this long, seconds ...
    pub study_quiet_secs: u64,
    /// ... or when it holds this many instances.
    pub study_max_instances: u64,
    pub max_pdu_length: u32,
}

impl Default for DicomConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:11112".parse().expect("static"),
            ae_title: "MEDSHARE".into(),
            require_called_ae_title: false,
            study_quiet_secs: 30,
            study_max_instances: 5000,
            max_pdu_length: 65536,
        }
    }
}

/// The FHIR R4 REST endpoint for the hospital's own systems.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FhirConfig {
    pub listen: SocketAddr,
    /// File holding the bearer tokens allowed (one a line); `MEDSHARE_GATEWAY_FHIR_TOKEN` adds one.
    pub tokens_file: Option<PathBuf>,
    pub tls: Option<TlsConfig>,
    /// The base URL clients use (for `fullUrl` and `Location`); defaults to `http(s)://listen`.
    pub base_url: Option<String>,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
}

impl Default for FhirConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("static"),
            tokens_file: None,
            tls: None,
            base_url: None,
            max_body_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The watched folder (scanner output).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FolderConfig {
    /// Files dropped here are queued. A subfolder named after a patient identifier
    /// (`A123456(3)`, `MRN:KPH:000123`) files its files for that patient; otherwise the
    /// document must name exactly one HKID.
    pub inbox: PathBuf,
    /// Queued files are moved here.
    pub done: PathBuf,
    /// Files that cannot be taken are moved here, with a `.reason` file beside them.
    pub rejected: PathBuf,
    /// How often the inbox is scanned, milliseconds.
    pub poll_ms: u64,
    /// A file is taken only when its size and time have not changed for this long (a scanner
    /// still writing it is left alone), milliseconds.
    pub settle_ms: u64,
}

impl Default for FolderConfig {
    fn default() -> Self {
        Self {
            inbox: PathBuf::from("/srv/medshare/inbox"),
            done: PathBuf::from("/srv/medshare/done"),
            rejected: PathBuf::from("/srv/medshare/rejected"),
            poll_ms: 1000,
            settle_ms: 2000,
        }
    }
}

/// Prometheus metrics (text format at `/metrics`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".parse().expect("static"),
        }
    }
}

impl Config {
    /// Read a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let c: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        c.check()?;
        Ok(c)
    }

    /// The default configuration as TOML, for `medshare gateway config default`.
    pub fn default_toml() -> String {
        toml::to_string_pretty(&Config::default()).expect("the default configuration serialises")
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.queue.upload_concurrency == 0 || self.queue.upload_concurrency > 64 {
            return Err(ConfigError::Invalid(
                "queue.upload_concurrency must be 1-64".into(),
            ));
        }
        if let Some(d) = &self.dicom {
            let ae = d.ae_title.trim();
            if ae.is_empty() || ae.len() > 16 {
                return Err(ConfigError::Invalid(
                    "dicom.ae_title must be 1-16 characters".into(),
                ));
            }
        }
        if let Some(f) = &self.fhir
            && f.tokens_file.is_none()
            && f.tls.as_ref().is_none_or(|t| t.client_ca.is_none())
            && std::env::var_os("MEDSHARE_GATEWAY_FHIR_TOKEN").is_none()
        {
            return Err(ConfigError::Invalid(
                "fhir needs a way to authenticate clients: tokens_file, \
                 MEDSHARE_GATEWAY_FHIR_TOKEN, or tls.client_ca (mutual TLS)"
                    .into(),
            ));
        }
        if let Some(f) = &self.folder
            && (f.inbox == f.done || f.inbox == f.rejected)
        {
            return Err(ConfigError::Invalid(
                "folder.done and folder.rejected must differ from folder.inbox".into(),
            ));
        }
        Ok(())
    }

    /// Where the key file is: the configured path, else the systemd credential.
    pub fn key_path(&self) -> Result<PathBuf, ConfigError> {
        if let Some(p) = &self.key_file {
            return Ok(p.clone());
        }
        match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) => Ok(PathBuf::from(dir).join("gateway.key")),
            None => Err(ConfigError::Invalid(
                "no key_file configured and no systemd credential (CREDENTIALS_DIRECTORY) given"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_round_trips_and_unknown_keys_are_refused() {
        let text = Config::default_toml();
        let c: Config = toml::from_str(&text).unwrap();
        assert_eq!(c.queue.max_items, QueueConfig::default().max_items);
        assert!(c.hl7.is_some() && c.fhir.is_none());
        let err = toml::from_str::<Config>("data_dir = \"/x\"\nlisten = 1\n").unwrap_err();
        assert!(err.message().contains("unknown field"), "{err}");
    }
}
