//! Hub configuration: one typed struct, defaults in code, a TOML file, `MEDSHARE_*` environment
//! overrides (nested keys with `__`, e.g. `MEDSHARE_AUTH__REQUIRE_TOTP=false`).

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything the hub reads at start-up.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder for the SQLite database, ciphertext blobs and hub secrets.
    pub data_dir: PathBuf,
    /// Metadata database URL; empty means `sqlite://<data_dir>/medshare.db`.
    pub database_url: String,
    /// Serve HTTPS with these PEM files (both or neither).
    pub tls: Option<TlsConfig>,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub policy: PolicyConfig,
    pub audit: AuditConfig,
}

/// TLS certificate chain and private key (PEM files).
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Login, sessions and enrolment.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require a TOTP second factor (RFC 6238). Only a sandbox turns this off.
    pub require_totp: bool,
    /// Session lifetime in seconds.
    pub session_ttl_secs: i64,
    /// Enrolment codes expire after this many seconds.
    pub enrolment_ttl_secs: i64,
    /// Failed logins allowed before lockout starts.
    pub lockout_threshold: i64,
    /// First lockout in seconds; doubles with each further failure.
    pub lockout_base_secs: i64,
    /// Longest lockout in seconds.
    pub lockout_max_secs: i64,
    /// Smallest Argon2id memory (KiB) a client may choose for its passphrase.
    pub min_kdf_m_cost: u32,
}

/// Size limits.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest ciphertext accepted for one document, in bytes.
    pub max_upload_bytes: u64,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
}

/// Access policy knobs.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// How long a break-glass window stays open, in seconds.
    pub break_glass_secs: i64,
}

/// The audit log, privacy-officer alerts and patient access notices.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Ed25519 seed that signs tree heads (0600); default `<data_dir>/audit-log.key`. Replicas
    /// of one hub share this file.
    pub signing_key_file: Option<PathBuf>,
    /// Sign a new tree head this often when the log grew (milliseconds); 0 signs one after
    /// every batch. Clients asking for the head get one signed on demand.
    pub head_interval_ms: u64,
    /// Most entries written in one transaction.
    pub batch_max: usize,
    /// Alert when one practitioner reads this many patients' records without a standing care
    /// relationship (break-glass, care declared inside the window, refused) within the window.
    pub alert_patients: i64,
    pub alert_patients_window_secs: i64,
    /// Alert when one practitioner is refused this many times within the window.
    pub alert_denials: i64,
    pub alert_denials_window_secs: i64,
    /// Reads by one institution within this many seconds produce one notice to the patient.
    pub notice_coalesce_secs: i64,
    /// Give up on a notice after this many failed deliveries (retries back off exponentially).
    pub notice_max_attempts: i64,
    /// Allow plain-http webhooks (tests and sandboxes only).
    pub webhook_allow_http: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            signing_key_file: None,
            head_interval_ms: 1000,
            batch_max: 512,
            alert_patients: 20,
            alert_patients_window_secs: 3600,
            alert_denials: 10,
            alert_denials_window_secs: 600,
            notice_coalesce_secs: 900,
            notice_max_attempts: 8,
            webhook_allow_http: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8443".parse().expect("static address"),
            data_dir: PathBuf::from("medshare-data"),
            database_url: String::new(),
            tls: None,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            policy: PolicyConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            require_totp: true,
            session_ttl_secs: 12 * 3600,
            enrolment_ttl_secs: 7 * 24 * 3600,
            lockout_threshold: 5,
            lockout_base_secs: 30,
            lockout_max_secs: 3600,
            min_kdf_m_cost: 19 * 1024,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 8 * 1024 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            break_glass_secs: 4 * 3600,
        }
    }
}

// The database URL may carry a password (PostgreSQL); never print it.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let db = if self.database_url.is_empty() {
            "<default sqlite>".to_string()
        } else {
            redact_url(&self.database_url)
        };
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &db)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("policy", &self.policy)
            .field("audit", &self.audit)
            .finish()
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://<redacted>@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

impl Config {
    /// Defaults, then the TOML file (if given), then `MEDSHARE_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        // Only the hub's own keys: clients share the MEDSHARE_ prefix (MEDSHARE_HUB, ...).
        const KEYS: [&str; 7] = [
            "listen",
            "data_dir",
            "database_url",
            "tls",
            "auth",
            "limits",
            "policy",
        ];
        fig.merge(Env::prefixed("MEDSHARE_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            KEYS.iter()
                .any(|p| k == *p || k.starts_with(&format!("{p}.")))
        }))
        .extract()
        .map_err(Box::new)
    }

    /// The default configuration as TOML, for `medshare config default`.
    pub fn default_toml() -> String {
        toml::to_string_pretty(&Config::default()).expect("default config serialises")
    }

    /// The metadata database URL in effect.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("medshare.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The file holding the audit log's signing seed.
    pub fn audit_key_file(&self) -> PathBuf {
        self.audit
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-log.key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_toml_round_trips() {
        let text = Config::default_toml();
        let back: Config = toml::from_str(&text).unwrap();
        assert!(back == Config::default());
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn environment_overrides_nested_keys() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MEDSHARE_AUTH__REQUIRE_TOTP", "false");
            jail.set_env("MEDSHARE_LIMITS__MAX_UPLOAD_BYTES", "1024");
            jail.set_env("MEDSHARE_HUB", "https://client-only.example");
            let c = Config::load(None).expect("loads");
            assert!(!c.auth.require_totp);
            assert_eq!(c.limits.max_upload_bytes, 1024);
            Ok(())
        });
    }

    #[test]
    fn debug_redacts_database_password() {
        let c = Config {
            database_url: "postgres://medshare:hunter2@db:5432/medshare".into(),
            ..Config::default()
        };
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2"));
        assert!(d.contains("db:5432"));
    }
}
