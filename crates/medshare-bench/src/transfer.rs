//! `transfer`: moving one large record through the hub, against nginx serving a file of the same
//! size from the same disk, all on 127.0.0.1 in one run; and the hub's peak memory.
//!
//! The hub runs as a separate process (this binary's hidden `hub` subcommand) so its peak RSS
//! (`VmHWM` in `/proc/<pid>/status`) is its own. Measured:
//! - upload: `Client::upload` from the file (seal while streaming, hub stores and fsyncs,
//!   commit with signed binding);
//! - download: `Client::open_document` + `Client::download` to a file (stream, decrypt, verify
//!   both hashes);
//! - raw download: `GET /v1/documents/{id}/content` read to nowhere (hub and HTTP only);
//! - nginx: `GET` of the static file, to a file and to nowhere.
//!
//! - `dd` reference for the upload: `dd if=FILE of=COPY bs=1M conv=fsync` of the same file on
//!   the same disk, in the same run (the upload ends with the hub's fsync of the blob, too).
//!
//! Dirty pages are flushed (`sync`, untimed) before each measurement. `--quick` (CI): 8 MiB,
//! one run, no targets judged.

use crate::hub::HubProcess;
use crate::report::{CpuMeter, CpuShare, Machine, Out, Target, median, mib_per_s};
use crate::util::{
    self, MIB, find_tool, free_port, proc_status_kib, run_timed, running_as_root, settle,
    sha256_file, wait_for_port, write_random_file,
};
use anyhow::{Context, anyhow, bail, ensure};
use futures::StreamExt;
use medshare_client::{Client, DocumentMeta};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{World, story_cast};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

#[derive(clap::Args)]
pub struct Args {
    /// Size of the file moved, MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Download measurements are repeated this many times (median reported); the upload once.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Folder for the temporary files (needs about 3x the size free); default: the system temp.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
    /// Small and fast (CI): 8 MiB, one run, no targets judged.
    #[arg(long)]
    quick: bool,
}

#[derive(Serialize)]
struct Measure {
    what: &'static str,
    bytes: u64,
    /// Median over the runs.
    secs: f64,
    mib_per_s: f64,
    runs_mib_per_s: Vec<f64>,
}

impl Measure {
    fn new(what: &'static str, bytes: u64, runs: &[Duration]) -> Self {
        let secs = median(&runs.iter().map(Duration::as_secs_f64).collect::<Vec<_>>());
        Self {
            what,
            bytes,
            secs,
            mib_per_s: bytes as f64 / MIB as f64 / secs,
            runs_mib_per_s: runs.iter().map(|d| mib_per_s(bytes, *d)).collect(),
        }
    }

    fn line(&self) -> String {
        let runs: Vec<String> = self
            .runs_mib_per_s
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect();
        format!(
            "{:<44} {:>9.1} MiB/s  ({:.2} s; runs: {})",
            self.what,
            self.mib_per_s,
            self.secs,
            runs.join(", ")
        )
    }
}

#[derive(Serialize)]
struct Memory {
    /// Right after start, before any request.
    hub_rss_at_start_kib: u64,
    /// After the alliance was seeded (enrolments, logins) and the patient created.
    hub_rss_after_seeding_kib: u64,
    /// `VmHWM` after seeding: the peak of start-up, enrolments and logins.
    hub_peak_rss_seeding_kib: u64,
    /// `VmHWM` over the transfers alone (reset after seeding through `clear_refs`), when the
    /// reset worked.
    hub_peak_rss_transfers_kib: Option<u64>,
    /// The hub's peak over its whole life: what the target is judged on.
    hub_peak_rss_kib: u64,
    bench_client_peak_rss_kib: u64,
}

#[derive(Serialize)]
struct Record {
    bench: &'static str,
    machine: Machine,
    cpu: CpuShare,
    size_mib: u64,
    runs: usize,
    nginx_version: String,
    upload: Measure,
    dd_fsync: Measure,
    ratio_upload_vs_dd: f64,
    download_decrypt_to_file: Measure,
    download_raw_to_null: Measure,
    nginx_get_to_file: Measure,
    nginx_get_to_null: Measure,
    ratio_download_vs_nginx_file: f64,
    ratio_raw_vs_nginx_null: f64,
    memory: Memory,
    targets: Vec<Target>,
}

pub async fn run(mut args: Args) -> anyhow::Result<()> {
    if args.quick {
        args.size_mib = args.size_mib.min(8);
        args.runs = 1;
    }
    ensure!(args.size_mib > 0 && args.runs > 0, "nothing to measure");
    // Fail before any long work when the reference is missing.
    let Some(nginx) = find_tool("nginx") else {
        eprintln!("nginx is not installed; the transfer benchmark compares against it.");
        eprintln!("install it with:  apt-get update && apt-get install -y nginx");
        bail!("nginx not found on PATH: cannot measure the reference");
    };
    let limit = Duration::from_secs(args.timeout_secs);
    tokio::time::timeout(limit, measure(args, nginx))
        .await
        .map_err(|_| anyhow!("transfer benchmark took longer than {} s", limit.as_secs()))?
}

async fn measure(args: Args, nginx: PathBuf) -> anyhow::Result<()> {
    let out = Out::new(args.json);
    let machine = Machine::describe();
    machine.announce(out);
    let meter = CpuMeter::start();
    let nginx_version = util::tool_version(&nginx, "-v").await;
    let size = args.size_mib * MIB;
    let work = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let input = work.path().join("input.bin");
    let step = Duration::from_secs(args.timeout_secs);
    let input_sha = {
        let input = input.clone();
        util::blocking("writing the test file", step, move || {
            write_random_file(&input, size)
        })
        .await?
    };
    out.say(format!(
        "test file: {} MiB of random bytes in {}",
        args.size_mib,
        work.path().display()
    ));

    // The hub, in its own process.
    let mut hub = HubProcess::start(&work.path().join("hub")).await?;
    let rss_at_start = proc_status_kib(hub.pid, "VmRSS").unwrap_or(0);
    let token = std::fs::read_to_string(hub.data_dir.join("bootstrap-token"))
        .context("the hub wrote no bootstrap token")?;
    let world = World::build_at(&hub.url, token.trim(), &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let synthetic = medshare_synth::patients(2026, 1)
        .pop()
        .ok_or(anyhow!("no synthetic patient"))?;
    let hkid: PatientIdentifier = synthetic
        .hkid
        .parse()
        .map_err(|e| anyhow!("synthetic HKID: {e}"))?;
    let card = PatientCard {
        name: Some(synthetic.name.clone()),
        birth_date: None,
        sex: None,
    };
    let patient = chan.ensure_patient(&hkid, &card).await?;
    let rss_after_seeding = proc_status_kib(hub.pid, "VmRSS").unwrap_or(0);
    let peak_seeding = proc_status_kib(hub.pid, "VmHWM").unwrap_or(0);
    // Writing 5 to clear_refs resets the peak RSS to the current RSS.
    let peak_was_reset = std::fs::write(format!("/proc/{}/clear_refs", hub.pid), "5").is_ok();

    // Upload, once.
    let file = std::fs::File::open(&input)?;
    let meta = DocumentMeta {
        title: "Cardiac CT angiography, full study".into(),
        file_name: "ct-angiography.bin".into(),
        media_type: "application/octet-stream".into(),
        category: "imaging-report".into(),
        date_of_service: Some("2026-10-30".into()),
        classification: None,
        urgent: false,
    };
    settle();
    let t = Instant::now();
    let doc = chan.upload(file, &patient, meta, &[], |_| {}).await?;
    let upload = Measure::new("hub upload (seal + store + commit)", size, &[t.elapsed()]);
    out.say(upload.line());
    // The reference: the same bytes copied and fsynced by dd, same disk, same run.
    let copy = work.path().join("dd-copy.bin");
    settle();
    let dd_time = run_timed(
        "dd conv=fsync",
        Command::new("dd")
            .arg(format!("if={}", input.display()))
            .arg(format!("of={}", copy.display()))
            .arg("bs=1M")
            .arg("conv=fsync")
            .arg("status=none"),
        step,
    )
    .await?;
    std::fs::remove_file(&copy)?;
    let dd = Measure::new("dd bs=1M conv=fsync (file -> file)", size, &[dd_time]);
    out.say(dd.line());
    let ratio_upload = upload.mib_per_s / dd.mib_per_s;

    // Downloads through the hub.
    let downloaded = work.path().join("download.bin");
    let mut decrypt_runs = Vec::new();
    for _ in 0..args.runs {
        settle();
        decrypt_runs.push(download_decrypt(&chan, doc.document_id, &downloaded).await?);
        let (sha, len) = sha256_file(&downloaded)?;
        ensure!(
            sha == input_sha && len == size,
            "the downloaded file differs from the input"
        );
        std::fs::remove_file(&downloaded)?;
    }
    let download = Measure::new("hub download + decrypt -> file", size, &decrypt_runs);
    out.say(download.line());

    let content_url = format!("{}/v1/documents/{}/content", hub.url, doc.document_id);
    let bearer = chan.save().token.clone();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let mut raw_runs = Vec::new();
    for _ in 0..args.runs {
        settle();
        let (n, d) = http_get(&http, &content_url, Some(&bearer), std::io::sink()).await?;
        ensure!(
            n == doc.size,
            "raw download: {n} bytes, expected {}",
            doc.size
        );
        raw_runs.push(d);
    }
    let raw = Measure::new("hub raw ciphertext GET -> /dev/null", doc.size, &raw_runs);
    out.say(raw.line());
    let peak_end = proc_status_kib(hub.pid, "VmHWM").unwrap_or(0);
    let peak_transfers = peak_was_reset.then_some(peak_end);
    let hub_peak = peak_seeding.max(peak_end);
    hub.stop().await?;

    // nginx, same disk, same size, same client library.
    let mut server = Nginx::start(&nginx, &work.path().join("nginx"), &input).await?;
    let url = server.url();
    let nginx_file = work.path().join("nginx-download.bin");
    let mut to_file = Vec::new();
    let mut to_null = Vec::new();
    for _ in 0..args.runs {
        settle();
        let f = std::fs::File::create(&nginx_file)?;
        let (n, d) = http_get(&http, &url, None, f).await?;
        ensure!(n == size, "nginx served {n} bytes, expected {size}");
        to_file.push(d);
        let (sha, _) = sha256_file(&nginx_file)?;
        ensure!(sha == input_sha, "nginx served different bytes");
        std::fs::remove_file(&nginx_file)?;
        settle();
        let (n, d) = http_get(&http, &url, None, std::io::sink()).await?;
        ensure!(n == size, "nginx served {n} bytes, expected {size}");
        to_null.push(d);
    }
    server.stop().await?;
    let nginx_file = Measure::new("nginx GET -> file", size, &to_file);
    let nginx_null = Measure::new("nginx GET -> /dev/null", size, &to_null);
    out.say(nginx_file.line());
    out.say(nginx_null.line());

    let ratio_download = download.mib_per_s / nginx_file.mib_per_s;
    let ratio_raw = raw.mib_per_s / nginx_null.mib_per_s;
    out.say(format!(
        "ratios: download+decrypt / nginx-to-file {ratio_download:.2}, \
         raw / nginx-to-null {ratio_raw:.2}, upload / dd-fsync {ratio_upload:.2}"
    ));
    let bench_peak = proc_status_kib(std::process::id(), "VmHWM").unwrap_or(0);
    let mib = |kib: u64| kib as f64 / 1024.0;
    out.say(format!(
        "hub RSS: {:.1} MiB at start, {:.1} MiB after seeding (peak {:.1} MiB while seeding)",
        mib(rss_at_start),
        mib(rss_after_seeding),
        mib(peak_seeding)
    ));
    out.say(format!(
        "hub peak RSS during the transfers: {}; over its life: {:.1} MiB; bench (client) peak \
         RSS {:.1} MiB",
        peak_transfers.map_or("unknown (clear_refs failed)".into(), |k| format!(
            "{:.1} MiB",
            mib(k)
        )),
        mib(hub_peak),
        mib(bench_peak)
    ));
    let mut targets = vec![
        Target::new(
            "upload_vs_dd",
            "hub upload (seal + store + fsync + commit) >= 0.50 x dd conv=fsync",
            ratio_upload,
            ratio_upload >= 0.50,
        ),
        Target::new(
            "download_vs_nginx",
            "hub download + decrypt >= 0.70 x nginx GET (both to a file)",
            ratio_download,
            ratio_download >= 0.70,
        ),
        Target::new(
            "raw_download_vs_nginx",
            "hub raw ciphertext GET >= 0.70 x nginx GET (both to /dev/null)",
            ratio_raw,
            ratio_raw >= 0.70,
        ),
        Target::new(
            "hub_peak_rss_mib",
            "hub peak RSS (whole life, seeding included) < 100 MiB",
            mib(hub_peak),
            hub_peak > 0 && hub_peak < 100 * 1024,
        ),
    ];
    if args.quick {
        // Sizes too small for the goals to mean anything: figures only.
        targets.clear();
    }
    for t in &targets {
        out.say(t.line());
    }
    let cpu = meter.finish();
    out.say(cpu.line());
    out.record(&Record {
        bench: "transfer",
        machine,
        cpu,
        size_mib: args.size_mib,
        runs: args.runs,
        nginx_version,
        upload,
        dd_fsync: dd,
        ratio_upload_vs_dd: ratio_upload,
        download_decrypt_to_file: download,
        download_raw_to_null: raw,
        nginx_get_to_file: nginx_file,
        nginx_get_to_null: nginx_null,
        ratio_download_vs_nginx_file: ratio_download,
        ratio_raw_vs_nginx_null: ratio_raw,
        memory: Memory {
            hub_rss_at_start_kib: rss_at_start,
            hub_rss_after_seeding_kib: rss_after_seeding,
            hub_peak_rss_seeding_kib: peak_seeding,
            hub_peak_rss_transfers_kib: peak_transfers,
            hub_peak_rss_kib: hub_peak,
            bench_client_peak_rss_kib: bench_peak,
        },
        targets,
    })
}

/// Open (verify binding, unwrap key) and download a document to `path`, timed.
async fn download_decrypt(
    client: &Client,
    id: medshare_model::DocumentId,
    path: &Path,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let opened = client.open_document(id).await?;
    let file = std::fs::File::create(path)?;
    client.download(&opened, file, |_| {}).await?;
    Ok(t.elapsed())
}

/// GET `url` and write the body to `sink` as it arrives; returns the byte count and time.
async fn http_get(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    mut sink: impl Write,
) -> anyhow::Result<(u64, Duration)> {
    let t = Instant::now();
    let mut req = http.get(url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await?.error_for_status()?;
    let mut body = res.bytes_stream();
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        sink.write_all(&chunk)?;
        n += chunk.len() as u64;
    }
    sink.flush()?;
    Ok((n, t.elapsed()))
}

/// nginx serving one static file, as a child process with everything under a temp prefix.
/// nginx serving one static file from its own prefix (configuration, logs, temporary files).
pub(crate) struct Nginx {
    child: Child,
    binary: PathBuf,
    prefix: PathBuf,
    port: u16,
    stopped: bool,
}

impl Nginx {
    pub(crate) async fn start(binary: &Path, prefix: &Path, file: &Path) -> anyhow::Result<Self> {
        let www = prefix.join("www");
        for d in ["www", "tmp", "logs"] {
            std::fs::create_dir_all(prefix.join(d))?;
        }
        let served = www.join("record.bin");
        if std::fs::hard_link(file, &served).is_err() {
            std::fs::copy(file, &served)?;
        }
        let port = free_port()?;
        let p = prefix.display();
        let user = if running_as_root() { "user root;" } else { "" };
        let conf = format!(
            "{user}
daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {p}/tmp/client_body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {www};
    }}
}}
",
            www = www.display()
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start nginx")?;
        let mut me = Self {
            child,
            binary: binary.to_path_buf(),
            prefix: prefix.to_path_buf(),
            port,
            stopped: false,
        };
        if let Err(e) = wait_for_port(port, Duration::from_secs(10)).await {
            let log = std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default();
            let _ = me.child.kill().await;
            bail!("nginx did not start: {e}\n{log}");
        }
        Ok(me)
    }

    /// Where it serves the file.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/record.bin", self.port)
    }

    /// Graceful stop (`nginx -s quit` on our own pid file); kill it if that does not work.
    pub(crate) async fn stop(&mut self) -> anyhow::Result<()> {
        let quit = run_timed(
            "nginx -s quit",
            Command::new(&self.binary)
                .arg("-p")
                .arg(&self.prefix)
                .arg("-c")
                .arg(self.prefix.join("nginx.conf"))
                .arg("-e")
                .arg(self.prefix.join("logs/error.log"))
                .arg("-s")
                .arg("quit"),
            Duration::from_secs(10),
        )
        .await;
        let exited = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        if quit.is_err() || exited.is_err() {
            self.child.kill().await?;
        }
        self.stopped = true;
        Ok(())
    }
}

impl Drop for Nginx {
    /// On an early exit (error, time-out) ask nginx to quit: killing only the master would leave
    /// its worker serving.
    fn drop(&mut self) {
        if !self.stopped {
            let _ = std::process::Command::new(&self.binary)
                .arg("-p")
                .arg(&self.prefix)
                .arg("-c")
                .arg(self.prefix.join("nginx.conf"))
                .arg("-e")
                .arg(self.prefix.join("logs/error.log"))
                .arg("-s")
                .arg("quit")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
