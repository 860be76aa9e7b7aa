//! Helpers shared by the benchmarks: test files, hashing, external tools and child processes,
//! and `/proc` figures.

use anyhow::{Context, anyhow, bail};
use medshare_crypto::{HashingReader, HashingWriter};
use rand::RngCore;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const MIB: u64 = 1024 * 1024;

/// Write `size` random bytes to `path`; returns their SHA-256 (hex).
pub fn write_random_file(path: &Path, size: u64) -> anyhow::Result<String> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = HashingWriter::new(std::io::BufWriter::with_capacity(MIB as usize, file));
    let mut rng = rand::thread_rng();
    let mut buf = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB) as usize;
        rng.fill_bytes(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    let hash = out.finalize_hex();
    out.into_inner()
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok(hash)
}

/// SHA-256 (hex) and length of a file.
pub fn sha256_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut r = HashingReader::new(BufReader::with_capacity(MIB as usize, file));
    std::io::copy(&mut r, &mut std::io::sink())?;
    Ok((r.finalize_hex(), r.byte_count()))
}

/// Run a blocking job on the blocking pool, giving up after `limit`.
pub async fn blocking<T: Send + 'static>(
    what: &str,
    limit: Duration,
    job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, tokio::task::spawn_blocking(job))
        .await
        .map_err(|_| anyhow!("{what} took longer than {} s", limit.as_secs()))?
        .map_err(|e| anyhow!("{what} panicked: {e}"))?
}

/// An executable by name: on PATH, else in cargo's bin folder (`cargo install` puts it there).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
    })
}

/// The first line a tool prints for `flag` (its version), or "unknown".
pub async fn tool_version(tool: &Path, flag: &str) -> String {
    let run = tokio::process::Command::new(tool)
        .arg(flag)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(o)) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("unknown")
                .trim()
                .to_string()
        }
        _ => "unknown".into(),
    }
}

/// Run a command to completion within `limit` and return how long it took; a failure or a
/// time-out is an error carrying the command's stderr.
pub async fn run_timed(
    what: &str,
    cmd: &mut tokio::process::Command,
    limit: Duration,
) -> anyhow::Result<Duration> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("{what} took longer than {} s (killed)", limit.as_secs()))??;
    let elapsed = started.elapsed();
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(elapsed)
}

/// A port on 127.0.0.1 that was free a moment ago (for tools that must bind it themselves).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Wait until something accepts TCP connections on 127.0.0.1:`port`.
pub async fn wait_for_port(port: u16, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "nothing listens on 127.0.0.1:{port} after {} s",
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `/proc/<pid>/status` field in KiB (e.g. `VmHWM`, the peak resident set size).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

/// Whether this process runs as root (nginx then needs `user root;` to read our temp files).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Flush every dirty page to disk (untimed, between measurements), so that write-back of one
/// measurement's output does not land in the next one.
pub fn settle() {
    let _ = std::process::Command::new("sync")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
