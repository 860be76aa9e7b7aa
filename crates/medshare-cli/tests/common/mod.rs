//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
