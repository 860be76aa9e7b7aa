//! The hidden `hub` subcommand: a hub in its own process, so that `transfer` and `soak` can
//! read the hub's RSS from `/proc` without the clients' memory mixed in.

use crate::util::wait_for_port;
use anyhow::Context;
use anyhow::{anyhow, bail, ensure};
use medshare_sandbox::sandbox_config;
use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

/// Serve on 127.0.0.1:0 until stdin reaches end of file or SIGTERM arrives. The port is written
/// to `port_file` (atomically) once the hub is ready. `config`: a JSON `Config` to run with
/// instead of the sandbox's (replicas on PostgreSQL and S3).
pub async fn run(data_dir: &Path, port_file: &Path, config: Option<&Path>) -> anyhow::Result<()> {
    let config = match config {
        Some(path) => {
            let mut c: medshare_server::config::Config = serde_json::from_slice(
                &std::fs::read(path).context("cannot read the hub configuration")?,
            )
            .context("bad hub configuration")?;
            c.listen = "127.0.0.1:0".parse()?;
            c
        }
        None => sandbox_config(data_dir),
    };
    // The hub's own log on stderr when asked (`MEDSHARE_LOG=warn`), silent otherwise.
    if let Ok(filter) = std::env::var("MEDSHARE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let listener =
        std::net::TcpListener::bind(config.listen).context("cannot bind the hub's port")?;
    let port = listener.local_addr()?.port();
    let state = medshare_server::build_state(config).await?;
    let tmp = port_file.with_extension("tmp");
    std::fs::write(&tmp, port.to_string())?;
    std::fs::rename(&tmp, port_file)?;
    let mut term = signal(SignalKind::terminate())?;
    let stop = async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let eof = async {
            while let Ok(n) = stdin.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        tokio::select! {
            _ = eof => {}
            _ = term.recv() => {}
        }
    };
    medshare_server::serve(state, listener, stop).await
}

/// The hub as a child process of this binary.
pub struct HubProcess {
    child: Child,
    pub pid: u32,
    pub url: String,
    pub data_dir: PathBuf,
}

impl HubProcess {
    /// A sandbox hub on `data_dir` (SQLite and a folder).
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(data_dir, None).await
    }

    /// A hub with the configuration in `config` (JSON of a `Config`; its `listen` is
    /// replaced by 127.0.0.1:0), or the sandbox one on `data_dir`.
    pub async fn start_with(data_dir: &Path, config: Option<&Path>) -> anyhow::Result<Self> {
        let port_file = data_dir.with_extension("port");
        let exe = std::env::current_exe().context("cannot find this executable")?;
        // `MEDSHARE_BENCH_HUB_WRAPPER="heaptrack -o FILE"` runs the hub under a profiler (its
        // pid, and so the RSS figures, are then the wrapper's).
        let wrapper = std::env::var("MEDSHARE_BENCH_HUB_WRAPPER").unwrap_or_default();
        let mut wrapper = wrapper.split_whitespace();
        let mut command = match wrapper.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(wrapper).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let child = command
            .arg("hub")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--port-file")
            .arg(&port_file)
            .args(
                config
                    .map(|c| vec![std::ffi::OsStr::new("--config"), c.as_os_str()])
                    .unwrap_or_default(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the hub process")?;
        let pid = child.id().ok_or(anyhow!("the hub process has no id"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let port: u16 = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse().context("bad port file")?;
            }
            ensure!(
                Instant::now() < deadline,
                "the hub process did not start in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        wait_for_port(port, Duration::from_secs(10)).await?;
        Ok(Self {
            child,
            pid,
            url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// Close its stdin (it then stops gracefully); kill it if it has not exited in 10 s.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                ensure!(status.success(), "the hub process exited with {status}");
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("the hub process did not stop in 10 s (killed)");
            }
        }
        Ok(())
    }
}
