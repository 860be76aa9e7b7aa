//! The two deployment shapes tests run against, the scale-out one on real services started for
//! the test process (`medshare-testsvc`). Test-only: behind the `test-services` feature, so the
//! product binary (which uses the sandbox for `medshare demo`) links none of it.

use crate::sandbox_config;
use medshare_server::config::Config;
use std::path::Path;

/// Which stores a sandbox hub runs on: the embedded default, or the scale-out pair on real
/// services (a throwaway PostgreSQL cluster and an s3s-fs server, started once per process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and the blob folder under the data folder.
    SqliteFolder,
    /// PostgreSQL (a fresh database) and S3 (a fresh bucket).
    PostgresS3,
}

/// The services behind [`Backend::PostgresS3`], shared by every hub of this process and
/// stopped when it exits (see `medshare-testsvc`).
pub struct Services {
    /// The throwaway PostgreSQL cluster.
    pub pg: medshare_testsvc::PgCluster,
    /// The s3s-fs server.
    pub s3: medshare_testsvc::S3Server,
}

/// Start the services on first use (panics, naming the fix, if a binary is missing).
pub fn services() -> &'static Services {
    static SERVICES: std::sync::OnceLock<Services> = std::sync::OnceLock::new();
    SERVICES.get_or_init(|| Services {
        pg: medshare_testsvc::PgCluster::start(),
        s3: medshare_testsvc::S3Server::start(),
    })
}

impl Backend {
    /// Both backends, for tests that run against each.
    pub const ALL: [Backend; 2] = [Backend::SqliteFolder, Backend::PostgresS3];

    /// [`sandbox_config`] under `dir`, on this backend. For PostgreSQL + S3 each call makes a
    /// new database and bucket; a second replica clones the result with another `data_dir`.
    pub fn config(self, dir: &Path) -> Config {
        let mut c = sandbox_config(dir);
        if self == Backend::PostgresS3 {
            let svc = services();
            c.database_url = svc.pg.fresh_database("hub");
            let bucket = svc.s3.create_bucket(&format!("hub-{}", uuid_like_suffix()));
            c.blobs.backend = medshare_server::config::BlobBackend::S3;
            c.blobs.s3 = medshare_server::config::S3Config {
                endpoint: svc.s3.endpoint().to_string(),
                bucket,
                region: "us-east-1".into(),
                prefix: "medshare".into(),
                access_key_id: svc.s3.access_key().to_string(),
                secret_access_key: svc.s3.secret_key().to_string(),
                allow_http: true,
                path_style: true,
                ..Default::default()
            };
        }
        c
    }
}

fn uuid_like_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
