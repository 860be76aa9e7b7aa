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
    /// Metadata database URL: empty means `sqlite://<data_dir>/medshare.db`; a
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` URL selects PostgreSQL (several replicas).
    pub database_url: String,
    /// Apply pending schema migrations at start-up. Replicas of a shared database set this to
    /// false and an operator runs `medshare migrate` once; a hub then refuses to start on a
    /// schema that is behind. A schema newer than the binary is refused either way.
    pub migrate_on_start: bool,
    /// Where ciphertext is kept.
    pub blobs: BlobsConfig,
    /// Serve HTTPS with these PEM files (both or neither).
    pub tls: Option<TlsConfig>,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub policy: PolicyConfig,
    pub audit: AuditConfig,
    /// Requests the hub itself makes (patients' notice webhooks, notification channels).
    pub outbound: OutboundConfig,
    /// Connection pool sizes and time-outs of the metadata database.
    pub database: DatabaseConfig,
    /// How long expired sessions, events, nonces and settled notices are kept.
    pub retention: RetentionConfig,
    /// `text` (default) or `json`: one JSON object per log line, for a log collector.
    pub log_format: LogFormat,
    /// Prometheus metrics at `/metrics`.
    pub metrics: MetricsConfig,
    /// Urgent consults: how often each replica looks for windows that passed.
    pub consults: ConsultsConfig,
    /// Notification channels (webhooks, DingTalk robots): delivery, retries, rate limit.
    pub notify: NotifyConfig,
}

/// Notification channels' outbox.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// How often each replica looks for notifications to deliver, in ms.
    pub poll_ms: u64,
    /// Attempts before a notification is given up on (and shown as failed).
    pub max_attempts: i64,
    /// Notifications delivered to one practitioner per minute, all channels together; more
    /// wait for the next minute.
    pub per_minute: i64,
    /// The link every notification carries (empty: `https://<listen address>/`).
    pub link: String,
    /// The SMTP relay e-mail notifications go through (none: no e-mail channels).
    pub smtp: Option<SmtpConfig>,
    /// The VAPID private key Web Push is signed with (0600, made on first start); default
    /// `<data_dir>/vapid.key`. Replicas of one hub share this file: browser subscriptions are
    /// bound to its public key.
    pub vapid_key_file: Option<PathBuf>,
    /// The contact push services see in the VAPID token (`mailto:` or `https:`); empty: the
    /// notification link.
    pub vapid_subject: String,
}

/// An SMTP relay chosen by the operator (so not subject to `[outbound]`: users choose only
/// the recipient address).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// The sender address, e.g. `medshare <no-reply@hub.example>`.
    pub from: String,
    /// Require STARTTLS (default). Only a relay on loopback may be spoken to in plain text.
    #[serde(default = "default_true")]
    pub starttls: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_true() -> bool {
    true
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("starttls", &self.starttls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            poll_ms: 2_000,
            max_attempts: 6,
            per_minute: 10,
            link: String::new(),
            smtp: None,
            vapid_key_file: None,
            vapid_subject: String::new(),
        }
    }
}

/// Urgent consults' escalation timer.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct ConsultsConfig {
    /// How often each replica polls the database for consults due to escalate, in ms.
    pub poll_ms: u64,
    /// A replica's claim on a due consult is taken over by another after this many seconds
    /// (the claimer died before escalating it).
    pub claim_ttl_secs: i64,
}

impl Default for ConsultsConfig {
    fn default() -> Self {
        Self {
            poll_ms: 5_000,
            claim_ttl_secs: 60,
        }
    }
}

/// Prometheus metrics.
#[derive(Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Bearer token a scraper must send to `/metrics`; empty (default) turns the endpoint off.
    pub token: String,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field(
                "token",
                &if self.token.is_empty() {
                    "<off>"
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The metadata database's connection pool.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Most open connections per hub process; 0 is the backend's default (SQLite 8,
    /// PostgreSQL 16). Replicas of one PostgreSQL database add up: keep their sum under the
    /// server's `max_connections`.
    pub max_connections: u32,
    /// A request waits at most this long for a connection; during a database outage it is
    /// answered 503 after this time instead of hanging.
    pub acquire_timeout_secs: u64,
    /// SQLite: how long a write waits for another writer's lock.
    pub sqlite_busy_timeout_secs: u64,
    /// PostgreSQL: statements running longer are cancelled by the server (0: no limit).
    pub statement_timeout_secs: u64,
    /// A statement taking at least this long (waiting for a lock included) is logged as a
    /// warning with its SQL text (placeholders, never values) and how long it took, under the
    /// log target `sqlx::query`: PostgreSQL's `log_min_duration_statement`, for both backends.
    pub slow_statement_ms: u64,
    /// SQLite: each connection's page cache in KiB (nine connections: eight readers and the
    /// writer). The hub's memory grows by up to this much per connection as the database does.
    pub sqlite_cache_kib: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 0,
            acquire_timeout_secs: 5,
            sqlite_busy_timeout_secs: 10,
            statement_timeout_secs: 30,
            slow_statement_ms: 1000,
            sqlite_cache_kib: 2000,
        }
    }
}

impl DatabaseConfig {
    /// The store's pool settings.
    pub fn pool(&self) -> medshare_store::PoolSettings {
        use std::time::Duration;
        medshare_store::PoolSettings {
            max_connections: (self.max_connections > 0).then_some(self.max_connections),
            acquire_timeout: Duration::from_secs(self.acquire_timeout_secs.max(1)),
            busy_timeout: Duration::from_secs(self.sqlite_busy_timeout_secs),
            statement_timeout: Duration::from_secs(self.statement_timeout_secs),
            slow_statement: Duration::from_millis(self.slow_statement_ms),
            sqlite_cache_kib: self.sqlite_cache_kib,
        }
    }
}

/// Retention: what the hub deletes on a schedule. Abandoned staged uploads follow
/// `limits.staging_ttl_secs`; the audit log is never pruned.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// How often the retention job runs, in seconds (0 disables it).
    pub every_secs: u64,
    /// Sessions are deleted this long after they expired (revoked ones too).
    pub sessions_after_expiry_secs: i64,
    /// Live-update events older than this are deleted; a client away longer catches up from
    /// its records instead of its event stream.
    pub events_secs: i64,
    /// Used single-use nonces (root commands, service logins) are forgotten after this; at
    /// least 600 s, twice the window those statements are accepted in.
    pub nonces_secs: i64,
    /// Patient notices delivered or given up on are deleted after this.
    pub notices_secs: i64,
    /// Notification channel deliveries done or given up on are deleted after this (at least
    /// an hour: the per-recipient rate limit counts the last minute's deliveries).
    pub notifications_secs: i64,
    /// Closed consults (acknowledged or unanswered, no step since) are deleted this long
    /// after they were asked, with their history; the audit log keeps its record of each step.
    pub consults_secs: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            every_secs: 600,
            sessions_after_expiry_secs: 24 * 3600,
            events_secs: 30 * 24 * 3600,
            nonces_secs: 24 * 3600,
            notices_secs: 90 * 24 * 3600,
            notifications_secs: 30 * 24 * 3600,
            consults_secs: 365 * 24 * 3600,
        }
    }
}

/// Outbound HTTP: where the hub may connect on a user's say-so. By default only public
/// addresses on the usual HTTPS ports: never loopback, private, link-local (cloud metadata),
/// unique-local or other special networks, so a webhook cannot be turned against the hub's own
/// network (server-side request forgery).
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Networks (CIDR, e.g. `10.20.0.0/16`) allowed even though they are not public: an
    /// operator's own relay. Empty by default.
    pub allow_networks: Vec<String>,
    /// Ports a destination may use (empty: any).
    pub allow_ports: Vec<u16>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_networks: Vec::new(),
            allow_ports: vec![443, 8443],
        }
    }
}

/// Ciphertext storage: the local folder `<data_dir>/blobs` or an S3-compatible bucket.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BlobsConfig {
    pub backend: BlobBackend,
    pub s3: S3Config,
    /// With several replicas (a PostgreSQL database), staged uploads and unreferenced blobs are
    /// only cleaned up at start-up once they are this old, so one replica starting never
    /// removes another's upload in flight. A single hub on SQLite cleans everything.
    pub replica_grace_secs: u64,
}

/// Which blob store.
#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// `<data_dir>/blobs` (staging, fsync, rename).
    #[default]
    Folder,
    /// An S3-compatible bucket (AWS S3, MinIO, Ceph RGW).
    S3,
}

/// An S3-compatible bucket. Credentials left empty come from the AWS environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, ...) or, for the secret, from
/// `secret_access_key_file`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// e.g. `https://s3.ap-east-1.amazonaws.com` or `http://minio:9000`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// Key prefix inside the bucket.
    pub prefix: String,
    pub access_key_id: String,
    /// Prefer `secret_access_key_file` or the environment to writing it here.
    pub secret_access_key: String,
    /// A file holding the secret key (not readable by others: 0600, or a Docker secret or
    /// systemd credential).
    pub secret_access_key_file: Option<PathBuf>,
    /// Allow a plain-HTTP endpoint (only on a private network).
    pub allow_http: bool,
    /// Path-style addressing (`endpoint/bucket/key`), as MinIO-like servers need.
    pub path_style: bool,
    /// Retries of a request that failed with a server error or a broken connection (default
    /// 4; reads cut off mid-body resume where they stopped).
    pub max_retries: Option<usize>,
    /// Stop retrying a request this many seconds after it was first sent (default 15: keep it
    /// under `limits.request_timeout_secs` so a dead bucket gives a prompt 503).
    pub retry_timeout_secs: Option<u64>,
}

impl std::fmt::Debug for BlobsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("BlobsConfig");
        d.field("backend", &self.backend);
        if self.backend == BlobBackend::S3 {
            d.field("s3", &self.s3);
        }
        d.field("replica_grace_secs", &self.replica_grace_secs)
            .finish()
    }
}

// The secret key never reaches a log line.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &if self.secret_access_key.is_empty() {
                    "<unset>"
                } else {
                    "<redacted>"
                },
            )
            .field("secret_access_key_file", &self.secret_access_key_file)
            .field("allow_http", &self.allow_http)
            .field("path_style", &self.path_style)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout_secs", &self.retry_timeout_secs)
            .finish()
    }
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
    /// Failed logins of one account, from anywhere, before the account itself locks (with the
    /// same back-off). Far above `lockout_threshold`, which applies per client address: one
    /// address guessing cannot lock the account out for everyone else.
    pub account_lockout_threshold: i64,
    /// Unauthenticated requests (prelogin, login, enrolment) per client address per minute.
    pub auth_requests_per_minute: u32,
    /// Logins of one handle verified at the same time; more get 429.
    pub concurrent_logins_per_handle: u32,
    /// A live event stream re-checks its session this often (seconds), so a session revoked
    /// on another replica ends its streams there too.
    pub stream_recheck_secs: u64,
    /// How long a checked session is reused without reading the database (milliseconds; 0:
    /// never). Changes made through this hub, or announced by another replica of a shared
    /// database on the invalidation feed, take effect at once; this bound is the backstop for
    /// a change another replica committed but never announced (it stopped in between).
    pub session_cache_ms: u64,
    /// How long the access-policy inputs of a practitioner for a patient (consents, care,
    /// grants, no break-glass window) are reused without reading the database (milliseconds;
    /// 0: never). Changes made through this hub, or announced by another replica of a shared
    /// database on the invalidation feed, take effect at once; this bound is the backstop for
    /// a change another replica committed but never announced (it stopped in between).
    pub policy_cache_ms: u64,
    /// Header carrying the client address when the hub is behind a trusted reverse proxy
    /// (e.g. `x-forwarded-for`; its first address is used). Empty: the connection's address.
    pub client_ip_header: String,
}

/// Size limits.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest ciphertext accepted for one document, in bytes.
    pub max_upload_bytes: u64,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// Uploads one practitioner may have staged (streamed, not yet committed) at once.
    pub max_staged_uploads: i64,
    /// Bytes one practitioner may have staged at once.
    pub max_staged_bytes: u64,
    /// Staged uploads never committed are deleted after this many seconds.
    pub staging_ttl_secs: i64,
    /// JSON API requests taking longer are answered 503 (ciphertext and event streams excepted).
    pub request_timeout_secs: u64,
    /// An upload body that sends nothing for this many seconds is cut off (408) and its
    /// staged part removed: a stalled client cannot hold a connection and a staging slot.
    pub body_stall_secs: u64,
    /// On shutdown, in-flight requests get this long to finish before connections close.
    pub shutdown_grace_secs: u64,
    /// MLS key packages one practitioner may claim of one colleague per hour (each invites
    /// the colleague to one room); more get 429.
    pub key_package_claims_per_pair_hourly: i64,
    /// Key packages of one practitioner claimed by anyone per hour; more get 429 (a colleague
    /// cannot drain another's waiting key packages).
    pub key_package_claims_per_target_hourly: i64,
    /// Attachment bytes (voice notes' ciphertext) one room may hold; an attachment that would
    /// pass it gets 413 and nothing is stored.
    pub room_attachment_bytes_per_room: u64,
    /// Attachment bytes one practitioner may have stored across all rooms; likewise 413.
    pub room_attachment_bytes_per_member: u64,
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
    /// Count one practitioner's window for a rule at most this often (milliseconds): an entry
    /// the rule counts marks the practitioner, and the count runs when the last one is this
    /// old, so a busy practitioner costs one count per interval instead of one per batch (the
    /// count reads their whole window) and an alert comes at most this late.
    pub alert_recount_ms: u64,
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
            alert_recount_ms: 2000,
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
            migrate_on_start: true,
            blobs: BlobsConfig::default(),
            tls: None,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            policy: PolicyConfig::default(),
            audit: AuditConfig::default(),
            outbound: OutboundConfig::default(),
            database: DatabaseConfig::default(),
            retention: RetentionConfig::default(),
            log_format: LogFormat::default(),
            metrics: MetricsConfig::default(),
            consults: ConsultsConfig::default(),
            notify: NotifyConfig::default(),
        }
    }
}

impl Default for BlobsConfig {
    fn default() -> Self {
        Self {
            backend: BlobBackend::Folder,
            s3: S3Config::default(),
            replica_grace_secs: 24 * 3600,
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
            account_lockout_threshold: 50,
            auth_requests_per_minute: 30,
            concurrent_logins_per_handle: 2,
            stream_recheck_secs: 30,
            session_cache_ms: 1_000,
            policy_cache_ms: 1_000,
            client_ip_header: String::new(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 8 * 1024 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            max_staged_uploads: 16,
            max_staged_bytes: 16 * 1024 * 1024 * 1024,
            staging_ttl_secs: 6 * 3600,
            request_timeout_secs: 60,
            body_stall_secs: 60,
            shutdown_grace_secs: 30,
            key_package_claims_per_pair_hourly: 10,
            key_package_claims_per_target_hourly: 40,
            room_attachment_bytes_per_room: 2 * 1024 * 1024 * 1024,
            room_attachment_bytes_per_member: 1024 * 1024 * 1024,
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
            .field("migrate_on_start", &self.migrate_on_start)
            .field("blobs", &self.blobs)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("policy", &self.policy)
            .field("audit", &self.audit)
            .field("outbound", &self.outbound)
            .field("database", &self.database)
            .field("retention", &self.retention)
            .field("log_format", &self.log_format)
            .field("metrics", &self.metrics)
            .finish()
    }
}

fn redact_url(url: &str) -> String {
    let url = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://<redacted>@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    };
    // A password may also ride in the query string (`?password=...`).
    match url.split_once('?') {
        Some((base, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=<redacted>"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{base}?{}", q.join("&"))
        }
        None => url,
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
        const KEYS: [&str; 17] = [
            "listen",
            "data_dir",
            "database_url",
            "migrate_on_start",
            "blobs",
            "tls",
            "auth",
            "limits",
            "policy",
            "database",
            "retention",
            "log_format",
            "metrics",
            "audit",
            "outbound",
            "consults",
            "notify",
        ];
        fig.merge(Env::prefixed("MEDSHARE_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            KEYS.iter()
                .any(|p| k == *p || k.starts_with(&format!("{p}.")))
        }))
        .extract()
        .map_err(Box::new)
    }

    /// Everything that can be checked without starting (`medshare serve --check-config`):
    /// the database URL, TLS files, S3 settings, outbound networks and limits that contradict
    /// each other. Opens nothing and writes nothing.
    pub fn check(&self) -> anyhow::Result<()> {
        use anyhow::{Context, ensure};
        medshare_store::Backend::of_url(&self.database_url())
            .context("database_url must start with sqlite:// or postgres://")?;
        if let Some(tls) = &self.tls {
            for f in [&tls.cert, &tls.key] {
                std::fs::metadata(f).with_context(|| format!("cannot read {}", f.display()))?;
            }
        }
        if self.blobs.backend == BlobBackend::S3 {
            self.s3_settings()?;
        }
        crate::outbound::Destinations::new(&self.outbound, self.audit.webhook_allow_http)
            .context("invalid [outbound] configuration")?;
        ensure!(
            self.retention.nonces_secs >= 600,
            "retention.nonces_secs must be at least 600 (twice the 300 s window in which signed \
             commands and service logins are accepted), or a replay could pass"
        );
        ensure!(
            self.retention.events_secs > 0 && self.retention.notices_secs > 0,
            "retention.events_secs and retention.notices_secs must be positive"
        );
        ensure!(
            self.retention.notices_secs >= self.audit.notice_coalesce_secs,
            "retention.notices_secs must be at least audit.notice_coalesce_secs"
        );
        ensure!(
            self.limits.request_timeout_secs > 0 && self.limits.body_stall_secs > 0,
            "limits: request_timeout_secs and body_stall_secs must be positive"
        );
        ensure!(
            self.limits.max_json_bytes > 0 && self.limits.max_upload_bytes > 0,
            "limits: max_json_bytes and max_upload_bytes must be positive"
        );
        Ok(())
    }

    /// The default configuration as TOML, for `medshare config default`.
    pub fn default_toml() -> String {
        toml::to_string_pretty(&Config::default()).expect("default config serialises")
    }

    /// The S3 settings in effect: the secret from the file when one is named (it must not be
    /// readable by group or others).
    pub fn s3_settings(&self) -> anyhow::Result<medshare_blob::S3Settings> {
        let c = &self.blobs.s3;
        let mut secret = c.secret_access_key.clone();
        if let Some(file) = &c.secret_access_key_file {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
                    .permissions()
                    .mode();
                anyhow::ensure!(
                    mode & 0o007 == 0,
                    "{} is readable by others: chmod 600 it",
                    file.display()
                );
            }
            secret = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
                .trim()
                .to_string();
        }
        anyhow::ensure!(
            !c.bucket.is_empty(),
            "blobs.backend is s3 but blobs.s3.bucket is empty"
        );
        Ok(medshare_blob::S3Settings {
            endpoint: c.endpoint.clone(),
            bucket: c.bucket.clone(),
            region: c.region.clone(),
            prefix: c.prefix.clone(),
            access_key_id: c.access_key_id.clone(),
            secret_access_key: secret,
            allow_http: c.allow_http,
            path_style: c.path_style,
            max_retries: c.max_retries,
            retry_timeout: c.retry_timeout_secs.map(std::time::Duration::from_secs),
        })
    }

    /// The metadata database URL in effect.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("medshare.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The file holding the VAPID key Web Push is signed with.
    pub fn vapid_key_file(&self) -> PathBuf {
        self.notify
            .vapid_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("vapid.key"))
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
    fn check_accepts_the_defaults_and_refuses_unsafe_settings() {
        Config::default().check().unwrap();
        let mut c = Config::default();
        c.retention.nonces_secs = 60;
        assert!(c.check().unwrap_err().to_string().contains("nonces_secs"));
        let c = Config {
            database_url: "mysql://db/medshare".into(),
            ..Config::default()
        };
        assert!(c.check().is_err());
        let c = Config {
            tls: Some(TlsConfig {
                cert: "/nonexistent/cert.pem".into(),
                key: "/nonexistent/key.pem".into(),
            }),
            ..Config::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("cert.pem"));
        let mut c = Config::default();
        c.limits.body_stall_secs = 0;
        assert!(c.check().is_err());
    }

    #[test]
    fn pool_settings_follow_the_database_section() {
        let mut c = Config::default();
        assert_eq!(c.database.pool().max_connections, None);
        c.database.max_connections = 4;
        c.database.acquire_timeout_secs = 2;
        let p = c.database.pool();
        assert_eq!(p.max_connections, Some(4));
        assert_eq!(p.acquire_timeout, std::time::Duration::from_secs(2));
    }

    #[test]
    fn the_metrics_token_is_never_printed() {
        let mut c = Config::default();
        c.metrics.token = "very-secret-token".into();
        assert!(!format!("{c:?}").contains("very-secret-token"));
    }

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
            jail.set_env("MEDSHARE_NOTIFY__POLL_MS", "250");
            jail.set_env("MEDSHARE_OUTBOUND__ALLOW_PORTS", "[8443]");
            jail.set_env("MEDSHARE_HUB", "https://client-only.example");
            let c = Config::load(None).expect("loads");
            assert!(!c.auth.require_totp);
            assert_eq!(c.limits.max_upload_bytes, 1024);
            // Every section of the hub's own, not only the first ones listed.
            assert_eq!(c.notify.poll_ms, 250);
            assert_eq!(c.outbound.allow_ports, vec![8443]);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn s3_settings_from_environment_and_secret_redacted() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MEDSHARE_BLOBS__BACKEND", "s3");
            jail.set_env("MEDSHARE_BLOBS__S3__BUCKET", "records");
            jail.set_env("MEDSHARE_BLOBS__S3__SECRET_ACCESS_KEY", "s3cr3t-value");
            jail.set_env("MEDSHARE_MIGRATE_ON_START", "false");
            let c = Config::load(None).expect("loads");
            assert_eq!(c.blobs.backend, BlobBackend::S3);
            assert_eq!(c.blobs.s3.bucket, "records");
            assert!(!c.migrate_on_start);
            let d = format!("{c:?}");
            assert!(!d.contains("s3cr3t-value"), "{d}");
            assert!(d.contains("records") && d.contains("<redacted>"));
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
        let c = Config {
            database_url: "postgres://db/medshare?user=m&password=hunter2".into(),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
