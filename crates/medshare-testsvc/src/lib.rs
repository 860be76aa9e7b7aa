//! Real services for tests and benchmarks, started on 127.0.0.1 and torn down afterwards: a
//! throwaway PostgreSQL cluster ([`PgCluster`]) and an S3-compatible server that checks request
//! signatures ([`S3Server`], s3s-fs), with a fault-injecting proxy to put in front of it
//! ([`FaultProxy`]: server errors, cut responses, latency). A missing binary is a loud panic naming the fix
//! (`scripts/services.sh`), never a silently skipped test.
//!
//! ```no_run
//! let pg = medshare_testsvc::PgCluster::start();
//! let url = pg.create_database("conformance_1");
//! let s3 = medshare_testsvc::S3Server::start();
//! let bucket = s3.create_bucket("blobs");
//! # let _ = (url, bucket);
//! ```
//!
//! Each service also gets a watchdog process that stops it when the test process is gone, so a
//! service kept in a `static` (one per test binary) or a test killed midway leaves nothing
//! running and nothing on disk.
#![forbid(unsafe_code)]

mod faults;
pub use faults::{Fault, FaultProxy};

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free loopback port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Find a PostgreSQL server binary on PATH or in Debian's versioned folder.
fn pg_bin(name: &str) -> PathBuf {
    if let Some(p) = which(name) {
        return p;
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL's `{name}` is not installed: run `bash scripts/services.sh` \
             (apt-get install postgresql) before the tests"
        )
    })
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Poll until something listens on `addr` (the service is ready), or panic after `limit`.
fn wait_listening(addr: SocketAddr, limit: Duration, what: &str) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            start.elapsed() < limit,
            "{what} did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A shell script that waits for this process to end, then runs `cleanup`. It is meant to
/// outlive this process, so it is never waited for (it exits after we do; init reaps it).
#[allow(clippy::zombie_processes)]
fn watchdog(cleanup: &str) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}",
        pid = std::process::id()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start the service watchdog");
}

/// A throwaway PostgreSQL cluster on 127.0.0.1 (trust authentication, fsync off).
pub struct PgCluster {
    dir: Option<tempfile::TempDir>,
    data: PathBuf,
    port: u16,
    /// The server options `pg_ctl start` was given (to restart it the same way).
    opts: String,
    as_postgres: bool,
    next_db: AtomicU32,
}

impl PgCluster {
    /// initdb + pg_ctl start in a new temporary folder; as root, through `runuser -u postgres`
    /// (PostgreSQL refuses to run as root).
    pub fn start() -> Self {
        let initdb = pg_bin("initdb");
        let pg_ctl = pg_bin("pg_ctl");
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("medshare-pg-")
            .tempdir()
            .expect("temp folder");
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir(&sock).expect("socket folder");
        if as_postgres {
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path()),
                "chown of the cluster folder",
            );
        }
        let port = free_port();
        let mut init = user_cmd(as_postgres, &initdb);
        init.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run(&mut init, "initdb");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            sock.display()
        );
        let mut start = user_cmd(as_postgres, &pg_ctl);
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("postgres.log"))
            .args(["-o", &opts, "-w", "start"]);
        run(&mut start, "pg_ctl start");
        let stop = stop_command(as_postgres, &pg_ctl, &data);
        watchdog(&format!("{stop}; rm -rf '{}'", dir.path().display()));
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(30),
            "PostgreSQL",
        );
        Self {
            dir: Some(dir),
            data,
            port,
            opts,
            as_postgres,
            next_db: AtomicU32::new(0),
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Create an empty database and return its URL.
    pub fn create_database(&self, name: &str) -> String {
        run(
            Command::new(pg_bin("createdb"))
                .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(self.port.to_string())
                .arg(name),
            "createdb",
        );
        self.url(name)
    }

    /// A new empty database with a unique name.
    pub fn fresh_database(&self, prefix: &str) -> String {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        self.create_database(&format!("{prefix}_{}_{n}", std::process::id()))
    }

    /// Stop the server at once (`pg_ctl stop -m immediate`: no shutdown checkpoint, as after a
    /// crash); every open connection is dropped. For fault tests.
    pub fn stop_server(&self) {
        let mut stop = user_cmd(self.as_postgres, &pg_bin("pg_ctl"));
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        run(&mut stop, "pg_ctl stop");
    }

    /// Start the server again after [`PgCluster::stop_server`] (crash recovery replays the WAL).
    pub fn start_server(&self) {
        let dir = self.dir.as_ref().expect("cluster folder").path();
        let mut start = user_cmd(self.as_postgres, &pg_bin("pg_ctl"));
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-o", &self.opts, "-w", "start"]);
        run(&mut start, "pg_ctl start");
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(30),
            "PostgreSQL",
        );
    }

    /// Run a PostgreSQL client tool (pg_dump, psql, ...) against this cluster.
    pub fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(pg_bin(name));
        c.args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string());
        c
    }
}

fn user_cmd(as_postgres: bool, bin: &Path) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn stop_command(as_postgres: bool, pg_ctl: &Path, data: &Path) -> String {
    let base = format!(
        "'{}' -D '{}' -m immediate stop",
        pg_ctl.display(),
        data.display()
    );
    if as_postgres {
        format!("runuser -u postgres -- {base} >/dev/null 2>&1")
    } else {
        format!("{base} >/dev/null 2>&1")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut stop = user_cmd(self.as_postgres, &pg_bin("pg_ctl"));
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status();
        drop(self.dir.take());
    }
}

/// An S3-compatible server (s3s-fs 0.14.1) on 127.0.0.1 that checks SigV4 signatures.
pub struct S3Server {
    child: Child,
    root: tempfile::TempDir,
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl S3Server {
    /// Spawn s3s-fs over a new temporary folder with fresh credentials.
    pub fn start() -> Self {
        let bin = which("s3s-fs")
            .or_else(|| {
                let p = PathBuf::from(std::env::var_os("CARGO_HOME").unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cargo")
                        .into()
                }))
                .join("bin/s3s-fs");
                p.is_file().then_some(p)
            })
            .unwrap_or_else(|| {
                panic!(
                    "s3s-fs is not installed: run `bash scripts/services.sh` \
                     (cargo install s3s-fs --version 0.14.1 --features binary) before the tests"
                )
            });
        let root = tempfile::Builder::new()
            .prefix("medshare-s3-")
            .tempdir()
            .expect("temp folder");
        let port = free_port();
        let n = std::process::id();
        let access_key = format!("medshare-test-{n}");
        let secret_key = format!("secret-{n}-{}", port);
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start s3s-fs");
        watchdog(&format!(
            "kill {} 2>/dev/null; rm -rf '{}'",
            child.id(),
            root.path().display()
        ));
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(30),
            "s3s-fs",
        );
        Self {
            child,
            root,
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key,
            secret_key,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The access key requests are signed with.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key requests are signed with.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The folder s3s-fs keeps objects in (tests scan it for plaintext).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Create a bucket (s3s-fs keeps buckets as subfolders) and return its name.
    pub fn create_bucket(&self, name: &str) -> String {
        std::fs::create_dir_all(self.root.path().join(name)).expect("bucket folder");
        name.to_string()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
