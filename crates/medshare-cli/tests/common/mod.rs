//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use medshare_sandbox::{World, totp_now};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Start `medshare serve` on a free loopback port; returns the process and its URL.
pub fn start_hub(dir: &Path) -> (Child, String) {
    start_hub_with(dir, &[])
}

/// [`start_hub`] with extra `MEDSHARE_*` settings (e.g. `("MEDSHARE_NOTIFY__POLL_MS", "100")`).
pub fn start_hub_with(dir: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medshare"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .envs(env.iter().copied())
        .env("MEDSHARE_AUTH__MIN_KDF_M_COST", "8")
        // Tests enrol and log in a whole cast from 127.0.0.1.
        .env("MEDSHARE_AUTH__AUTH_REQUESTS_PER_MINUTE", "6000")
        .env("MEDSHARE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("medshare serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("hub printed its address")
            .expect("readable");
        if let Some(rest) = line.strip_prefix("medshare hub listening on ") {
            break rest.trim().to_string();
        }
    };
    // Keep draining stderr so the hub never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// A child process killed when the test ends, also when it fails half-way (a hub or gateway
/// left running would hold its ports and queue for the next run).
pub struct Running(pub Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One practitioner's `medshare` CLI: its own config folder, logged in to `hub`.
pub struct Cli {
    pub config: PathBuf,
    pub hub: String,
}

impl Cli {
    pub fn login(world: &World, hub: &str, root: &Path, handle: &str) -> anyhow::Result<Self> {
        let cli = Self {
            config: root.join(handle),
            hub: hub.to_string(),
        };
        let who = &world.people[handle];
        let code = totp_now(who.totp_secret.as_deref().expect("totp"))?;
        let out = Command::new(env!("CARGO_BIN_EXE_medshare"))
            .args([
                "login",
                "--hub",
                hub,
                "--handle",
                handle,
                "--weak-kdf",
                "--totp",
                &code,
            ])
            .env("MEDSHARE_CONFIG_DIR", &cli.config)
            .env("MEDSHARE_PASSPHRASE", &who.passphrase)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(cli)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_medshare"))
            .args(args)
            .env("MEDSHARE_CONFIG_DIR", &self.config)
            .env("MEDSHARE_HUB", &self.hub)
            .env("MEDSHARE_LOG", "error")
            .output()
            .expect("medshare runs")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "medshare {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("medshare {args:?}: not JSON ({e}): {out}"))
    }

    /// Fails, saying `why` on stderr.
    pub fn fails(&self, args: &[&str], why: &str) {
        let out = self.run(args);
        assert!(!out.status.success(), "medshare {args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "medshare {args:?}: {err}");
    }
}
