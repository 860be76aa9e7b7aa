//! A gateway against a real hub: a sandbox hub on a loopback port with the seed story's
//! alliance, a gateway enrolled and certified as a service of Kowloon Public Hospital, started
//! in this process on loopback ports.
#![allow(dead_code)]

use medshare_gateway::config::{Config, Hl7Config, MetricsConfig, QueueConfig};
use medshare_gateway::{Running, start};
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Harness {
    pub hub: TestHub,
    pub world: World,
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub gateway: Option<Running>,
}

pub const RULES: &str = r#"
[patients]
record_number_institution = "KPH"

[[route]]
name = "everything to the ED"
share_with = ["dr.ho"]
expires = "30d"

[[route]]
name = "critical results are urgent"
critical = true
urgent = true
"#;

/// A configuration for a gateway under `dir`: HL7 and metrics on loopback port 0, test and
/// debug processing ids accepted (outside material uses them), DICOM/FHIR/folder off.
pub fn config(dir: &std::path::Path, key: PathBuf, rules: Option<PathBuf>) -> Config {
    Config {
        key_file: Some(key),
        hub: None,
        hub_ca_cert: None,
        data_dir: dir.join("gateway-data"),
        rules,
        queue: QueueConfig {
            max_backoff_secs: 1,
            ..QueueConfig::default()
        },
        hl7: Some(Hl7Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            processing_ids: vec!["P".into(), "T".into(), "D".into()],
            ..Hl7Config::default()
        }),
        dicom: None,
        fhir: None,
        folder: None,
        metrics: Some(MetricsConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
        }),
    }
}

impl Harness {
    /// Hub (SQLite and a folder), alliance, enrolled gateway; `tweak` adjusts the
    /// configuration before start.
    pub async fn start(rules: &str, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        Self::start_on(Backend::SqliteFolder, rules, tweak).await
    }

    /// As [`Harness::start`], with the hub on the given stores.
    pub async fn start_on(
        backend: Backend,
        rules: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let hub = TestHub::start(backend.config(&dir.path().join("hub"))).await?;
        let world = World::build(&hub, &story_cast()).await?;
        let key = world
            .enrol_gateway("admin.kph", "kph-gateway", "KPH integration gateway")
            .await?;
        let key_path = dir.path().join("gateway.key");
        medshare_gateway::keyfile::write(&key_path, &key)?;
        let rules_path = dir.path().join("rules.toml");
        std::fs::write(&rules_path, rules)?;
        let mut config = config(dir.path(), key_path, Some(rules_path));
        tweak(&mut config);
        let gateway = start(config.clone()).await?;
        Ok(Self {
            hub,
            world,
            dir,
            config,
            gateway: Some(gateway),
        })
    }

    pub fn gw(&self) -> &Running {
        self.gateway.as_ref().expect("running")
    }

    pub fn hl7(&self) -> SocketAddr {
        self.gw().hl7.expect("hl7 listener")
    }

    /// Wait (bounded) until `done` items are filed.
    pub async fn wait_done(&self, done: i64) -> anyhow::Result<medshare_gateway::queue::Status> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.gw().shared.queue.status().await?;
            if s.done >= done {
                return Ok(s);
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("timed out waiting for {done} filed items: {s:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("http://{}/metrics", self.gw().metrics.expect("metrics"));
        Ok(reqwest::get(url).await?.text().await?)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(g) = self.gateway.take() {
            g.stop().await;
        }
        self.hub.stop().await
    }
}

/// Frame `message` for MLLP.
pub fn mllp(message: &[u8]) -> Vec<u8> {
    let mut v = vec![0x0b];
    v.extend_from_slice(message);
    v.extend_from_slice(&[0x1c, 0x0d]);
    v
}

/// Send raw bytes and read `answers` MLLP-framed answers (bounded in time).
pub async fn exchange(
    addr: SocketAddr,
    bytes: &[u8],
    answers: usize,
) -> anyhow::Result<Vec<String>> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(bytes).await?;
    read_answers(&mut s, answers).await
}

pub async fn read_answers(
    s: &mut tokio::net::TcpStream,
    answers: usize,
) -> anyhow::Result<Vec<String>> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < answers {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk)).await??;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let (Some(a), Some(b)) = (
            buf.iter().position(|x| *x == 0x0b),
            buf.iter().position(|x| *x == 0x1c),
        ) {
            out.push(String::from_utf8_lossy(&buf[a + 1..b]).into_owned());
            buf.drain(..(b + 2).min(buf.len()));
        }
    }
    Ok(out)
}

/// MSA-1 of an acknowledgement.
pub fn ack_code(ack: &str) -> &str {
    ack.split('\r')
        .find(|s| s.starts_with("MSA|"))
        .and_then(|s| s.split('|').nth(1))
        .unwrap_or("")
}

/// The outside test material (pydicom, simple-hl7, hl7-standard, python hl7 samples), fetched by
/// `scripts/test-material.sh`.
pub fn material() -> PathBuf {
    let dir = std::env::var_os("MEDSHARE_TEST_MATERIAL")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/medshare-test-material"))
        })
        .expect("set MEDSHARE_TEST_MATERIAL");
    assert!(
        dir.join(".complete-v1").is_file(),
        "test material missing in {}: run `bash scripts/test-material.sh`",
        dir.display()
    );
    dir
}

/// The outside peers (python hl7/pynetdicom/fhir.resources/fhirclient in a venv, npm simple-hl7
/// and fhir-kit-client, Debian dcmtk), installed by `scripts/gateway-peers.sh`.
pub fn peers() -> PathBuf {
    let dir = std::env::var_os("MEDSHARE_GATEWAY_PEERS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/medshare-gateway-peers"))
        })
        .expect("set MEDSHARE_GATEWAY_PEERS");
    assert!(
        dir.join(".complete-v1").is_file(),
        "gateway peers missing in {}: run `bash scripts/gateway-peers.sh`",
        dir.display()
    );
    dir
}

/// Run an outside program (bounded in time); its stdout, or a failure with its stderr.
pub async fn run_peer(program: &std::path::Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(program)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    if !out.status.success() {
        anyhow::bail!(
            "{} {:?} failed ({}): {}",
            program.display(),
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// MSA-1 of every acknowledgement in a peer's output.
pub fn msa_codes(text: &str) -> Vec<String> {
    text.split(['\r', '\n'])
        .filter(|s| s.starts_with("MSA|"))
        .filter_map(|s| s.split('|').nth(1).map(str::to_string))
        .collect()
}
