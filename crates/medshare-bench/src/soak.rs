//! `soak`: a bounded mixed workload against hub processes for a set time — logins and logouts,
//! timelines (search, verify, decrypt), downloads, uploads shared with a colleague, shares and
//! revocations, inbox reads, and a live event stream per client — against one hub (SQLite and a
//! folder, or PostgreSQL and S3) or two replicas on one PostgreSQL database and S3 bucket.
//!
//! Reported per window (a minute by default): operations per second, latency p50/p99, errors,
//! and each hub process's resident memory. Goals: no errors at all; memory flat (the last
//! window's peak within 10 % of the second's: the first holds warm-up); p99 steady (the last
//! window's within 1.5x the first's).

use crate::hub::HubProcess;
use crate::report::{CpuMeter, Latency, Machine, Out, Target};
use crate::util::proc_status_kib;
use anyhow::Context;
use futures::StreamExt;
use medshare_client::{DocumentMeta, Share};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, World, sandbox_config, story_cast};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// How long to run, in minutes.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Seconds per report window (the first and last windows are compared).
    #[arg(long, default_value_t = 60)]
    window_secs: u64,
    /// Hub replicas: 1, or 2 (always PostgreSQL and S3, clients split between them).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// One hub on PostgreSQL and S3 instead of SQLite and a folder.
    #[arg(long)]
    postgres: bool,
    /// Concurrent clients (half the family doctor who files, half the cardiologist who reads).
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Patients, each with `documents` records, set up before the run.
    #[arg(long, default_value_t = 10)]
    patients: usize,
    #[arg(long, default_value_t = 10)]
    documents: usize,
    /// Thirty seconds in 10-second windows, to check the benchmark itself (figures meaningless).
    #[arg(long)]
    quick: bool,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
    /// Diagnosis: the hubs log every statement taking at least this long (SQL text and time,
    /// never values) on stderr; run with `MEDSHARE_LOG=sqlx::query=warn`.
    #[arg(long)]
    slow_statement_ms: Option<u64>,
    /// Diagnosis: each SQLite connection's page cache in KiB (the hub's default 2,000).
    #[arg(long)]
    sqlite_cache_kib: Option<u32>,
    /// Diagnosis: copy the first hub's data folder (its SQLite database) here after the run,
    /// e.g. for `EXPLAIN QUERY PLAN` on a database the size the run reached.
    #[arg(long)]
    keep_data: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Op {
    Timeline,
    Download,
    Upload,
    ShareRevoke,
    Inbox,
    LoginLogout,
}

struct Sample {
    op: Op,
    window: usize,
    took: Duration,
    error: Option<String>,
}

#[derive(Serialize)]
struct Window {
    index: usize,
    ops_per_s: f64,
    latency: Latency,
    errors: usize,
    hub_rss_mib: Vec<f64>,
    /// The same window by operation: which one slows down.
    per_operation: BTreeMap<String, Latency>,
}

#[derive(Serialize)]
struct Record {
    machine: Machine,
    replicas: usize,
    backend: &'static str,
    clients: usize,
    seconds: f64,
    windows: Vec<Window>,
    per_operation: BTreeMap<String, Latency>,
    errors: BTreeMap<String, usize>,
    events_received: u64,
    login_retries: u64,
    targets: Vec<Target>,
}

pub async fn run(mut a: Args) -> anyhow::Result<()> {
    if a.quick {
        a.minutes = 0.5;
        a.window_secs = 10;
        a.patients = a.patients.min(3);
        a.documents = a.documents.min(3);
        a.clients = a.clients.min(4);
    }
    anyhow::ensure!((1..=2).contains(&a.replicas), "--replicas is 1 or 2");
    let out = Out::new(a.json);
    let machine = Machine::describe();
    machine.announce(out);
    let postgres = a.postgres || a.replicas == 2;

    // The hubs, each its own process, so their memory is their own.
    let work = tempfile::tempdir()?;
    let dirs: Vec<_> = (0..a.replicas)
        .map(|i| work.path().join(format!("hub-{i}")))
        .collect();
    let mut base = if postgres {
        Backend::PostgresS3.config(&dirs[0])
    } else {
        sandbox_config(&dirs[0])
    };
    // Heads signed once a second as in production (the sandbox signs after every batch).
    base.audit.head_interval_ms = 1000;
    if let Some(ms) = a.slow_statement_ms {
        base.database.slow_statement_ms = ms;
    }
    if let Some(kib) = a.sqlite_cache_kib {
        base.database.sqlite_cache_kib = kib;
    }
    let mut hubs = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        std::fs::create_dir_all(dir)?;
        let mut c = base.clone();
        c.data_dir = dir.clone();
        if i > 0 {
            // Replicas share the hub secret and the audit log's signing key.
            for f in ["hub-secret", "audit-log.key"] {
                std::fs::copy(dirs[0].join(f), dir.join(f))
                    .with_context(|| format!("copy {f} to the second replica"))?;
            }
        }
        let path = work.path().join(format!("hub-{i}.json"));
        std::fs::write(&path, serde_json::to_vec(&c)?)?;
        hubs.push(HubProcess::start_with(dir, Some(&path)).await?);
    }
    let urls: Vec<String> = hubs.iter().map(|h| h.url.clone()).collect();
    let token = std::fs::read_to_string(dirs[0].join("bootstrap-token"))?;
    let world = Arc::new(World::build_at(&urls[0], token.trim(), &story_cast()).await?);

    // The records: the family doctor files them, each shared with the cardiologist.
    let chan = world.login_at(&urls[0], "dr.chan").await?;
    let wong: medshare_model::Handle = "dr.wong".parse().expect("handle");
    let people = medshare_synth::patients(9090, a.patients * 2);
    let (read, intake) = people.split_at(a.patients);
    let mut patients = Vec::new();
    let mut docs = Vec::new();
    // Uploads during the run go to other patients than the timelines read, so the work per
    // timeline stays the same from the first window to the last.
    let mut intake_patients = Vec::new();
    for sp in intake {
        let hkid: PatientIdentifier = sp.hkid.parse()?;
        chan.ensure_patient(&hkid, &PatientCard::default()).await?;
        intake_patients.push(hkid);
    }
    for sp in read {
        let hkid: PatientIdentifier = sp.hkid.parse()?;
        let p = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
        for d in 0..a.documents {
            let up = chan
                .upload(
                    std::io::Cursor::new(body(d, 16 * 1024 + d * 4096)),
                    &p,
                    meta(d),
                    &[share(&wong)],
                    |_| {},
                )
                .await?;
            docs.push(up.document_id);
        }
        patients.push(hkid);
    }
    out.say(format!(
        "{} replica(s) on {}, {} clients, {} patients x {} documents, {:.1} min in {} s windows",
        a.replicas,
        if postgres {
            "PostgreSQL + S3"
        } else {
            "SQLite + folder"
        },
        a.clients,
        a.patients,
        a.documents,
        a.minutes,
        a.window_secs
    ));

    let started = Instant::now();
    let window = Duration::from_secs(a.window_secs);
    let total = Duration::from_secs_f64(a.minutes * 60.0);
    let windows = (total.as_secs_f64() / window.as_secs_f64()).ceil() as usize;
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let events = Arc::new(AtomicU64::new(0));
    let login_retries = Arc::new(AtomicU64::new(0));
    let (patients, docs) = (Arc::new(patients), Arc::new(docs));
    let intake = Arc::new(intake_patients);

    // Each hub's memory, sampled every second; the peak per window is kept.
    let pids: Vec<u32> = hubs.iter().map(|h| h.pid).collect();
    let rss = Arc::new(Mutex::new(vec![vec![0u64; pids.len()]; windows]));
    let sampler = {
        let rss = rss.clone();
        tokio::spawn(async move {
            loop {
                let w = (started.elapsed().as_secs_f64() / window.as_secs_f64()) as usize;
                if w >= windows {
                    break;
                }
                for (i, pid) in pids.iter().enumerate() {
                    let kib = proc_status_kib(*pid, "VmRSS").unwrap_or(0);
                    let mut r = rss.lock().unwrap();
                    r[w][i] = r[w][i].max(kib);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let meter = CpuMeter::start();
    let mut tasks = Vec::new();
    for i in 0..a.clients {
        let handle = if i % 2 == 0 { "dr.chan" } else { "dr.wong" };
        let url = urls[i % urls.len()].clone();
        let (world, samples, events) = (world.clone(), samples.clone(), events.clone());
        let retries = login_retries.clone();
        let (patients, docs, wong) = (patients.clone(), docs.clone(), wong.clone());
        let intake = intake.clone();
        let clients = a.clients;
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
            let client = login(&world, &url, handle, &retries).await?;
            // A live event stream for the whole run.
            let stream = client.follow(0).await?;
            let counter = events.clone();
            let follower = tokio::spawn(async move {
                let mut stream = Box::pin(stream);
                while let Some(e) = stream.next().await {
                    if e.is_err() {
                        break;
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
            let filer = handle == "dr.chan";
            let mut since = 0i64;
            let mut n = 0usize;
            while started.elapsed() < total {
                let roll: u32 = rng.gen_range(0..100);
                let op = match roll {
                    0..45 => Op::Timeline,
                    45..65 => Op::Download,
                    65..75 if filer => Op::Upload,
                    75..85 if filer => Op::ShareRevoke,
                    65..85 => Op::Timeline,
                    85..95 => Op::Inbox,
                    _ => Op::LoginLogout,
                };
                let t0 = Instant::now();
                let result: anyhow::Result<()> = async {
                    match op {
                        Op::Timeline => {
                            let hkid = &patients[rng.gen_range(0..patients.len())];
                            let t = client.timeline(hkid).await?;
                            anyhow::ensure!(!t.entries.is_empty(), "an empty timeline");
                        }
                        Op::Download => {
                            let id = docs[rng.gen_range(0..docs.len())];
                            let opened = client.open_document(id).await?;
                            client.download(&opened, std::io::sink(), |_| {}).await?;
                        }
                        Op::Upload => {
                            let hkid = &intake[rng.gen_range(0..intake.len())];
                            let p = client
                                .find_patient(hkid)
                                .await?
                                .context("patient not found")?;
                            n += 1;
                            client
                                .upload(
                                    std::io::Cursor::new(body(n, 64 * 1024)),
                                    &p,
                                    meta(n),
                                    &[share(&wong)],
                                    |_| {},
                                )
                                .await?;
                        }
                        Op::ShareRevoke => {
                            // Each client shares and revokes its own documents: two clients
                            // revoking one grant would rightly find it gone.
                            let mine = (i..docs.len()).step_by(clients).collect::<Vec<_>>();
                            anyhow::ensure!(!mine.is_empty(), "too few documents per client");
                            let id = docs[mine[rng.gen_range(0..mine.len())]];
                            let ho: medshare_model::Handle = "dr.ho".parse().expect("handle");
                            client.share(id, &share(&ho)).await?;
                            client.revoke(id, &ho).await?;
                        }
                        Op::Inbox => {
                            if let Some(last) = client.inbox(since).await?.last() {
                                since = last.seq;
                            }
                        }
                        Op::LoginLogout => {
                            let other = login(&world, &url, handle, &retries).await?;
                            other.logout().await?;
                        }
                    }
                    Ok(())
                }
                .await;
                let took = t0.elapsed();
                let at = t0.duration_since(started);
                samples.lock().unwrap().push(Sample {
                    op,
                    window: ((at.as_secs_f64() / window.as_secs_f64()) as usize).min(windows - 1),
                    took,
                    error: result.err().map(|e| format!("{op:?}: {e:#}")),
                });
            }
            follower.abort();
            Ok::<(), anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let cpu = meter.finish();
    let _ = sampler.await;
    let seconds = started.elapsed().as_secs_f64();
    for mut h in hubs {
        h.stop().await?;
    }
    if let Some(to) = &a.keep_data {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(&dirs[0])? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name()))
                    .with_context(|| format!("copy the hub's data to {}", to.display()))?;
            }
        }
    }

    // The report.
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let rss = rss.lock().unwrap().clone();
    let mut report_windows = Vec::new();
    for (w, peaks) in rss.iter().enumerate() {
        let in_w: Vec<&Sample> = samples.iter().filter(|s| s.window == w).collect();
        let lat: Vec<Duration> = in_w.iter().map(|s| s.took).collect();
        let win = Window {
            index: w,
            ops_per_s: in_w.len() as f64 / window.as_secs_f64(),
            latency: Latency::of(&lat),
            errors: in_w.iter().filter(|s| s.error.is_some()).count(),
            hub_rss_mib: peaks.iter().map(|k| *k as f64 / 1024.0).collect(),
            per_operation: by_operation(in_w.iter().copied()),
        };
        out.say(format!(
            "window {w}: {:.1} ops/s, {}, errors {}, hub RSS {} MiB",
            win.ops_per_s,
            win.latency.line(),
            win.errors,
            win.hub_rss_mib
                .iter()
                .map(|m| format!("{m:.1}"))
                .collect::<Vec<_>>()
                .join(" / ")
        ));
        report_windows.push(win);
    }
    for win in &report_windows {
        out.say(format!(
            "window {} by operation: {}",
            win.index,
            win.per_operation
                .iter()
                .map(|(op, l)| format!("{op} p99 {:.1} ms", l.p99_ms))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let per_operation = by_operation(samples.iter());
    for (op, l) in &per_operation {
        out.say(format!("{op}: {}", l.line()));
    }
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for s in &samples {
        if let Some(e) = &s.error {
            *errors.entry(e.clone()).or_default() += 1;
        }
    }
    for (e, n) in &errors {
        out.say(format!("error x{n}: {e}"));
    }
    let events_received = events.load(Ordering::Relaxed);
    let login_retries = login_retries.load(Ordering::Relaxed);
    out.say(format!(
        "{} operations in {seconds:.0} s, {events_received} live events received, \
         {login_retries} logins retried after a 429 (at most {} of one handle at once)",
        samples.len(),
        base.auth.concurrent_logins_per_handle
    ));
    out.say(cpu.line());

    let error_count: usize = errors.values().sum();
    let mut targets = vec![Target::new(
        "soak-errors",
        "no errors at all",
        error_count as f64,
        error_count == 0,
    )];
    if report_windows.len() >= 3 {
        let (second, last) = (
            &report_windows[1],
            &report_windows[report_windows.len() - 1],
        );
        let growth = second
            .hub_rss_mib
            .iter()
            .zip(&last.hub_rss_mib)
            .map(|(s, l)| l / s)
            .fold(0.0, f64::max);
        targets.push(Target::new(
            "soak-memory-flat",
            "each hub's peak RSS in the last window within 10 % of the second window's",
            growth,
            growth <= 1.10,
        ));
        let first = &report_windows[0];
        let ratio = last.latency.p99_ms / first.latency.p99_ms;
        targets.push(Target::new(
            "soak-p99-steady",
            "p99 of the last window within 1.5x the first window's",
            ratio,
            ratio <= 1.5,
        ));
    }
    for t in &targets {
        out.say(t.line());
    }
    out.record(&Record {
        machine,
        replicas: a.replicas,
        backend: if postgres {
            "postgres-s3"
        } else {
            "sqlite-folder"
        },
        clients: a.clients,
        seconds,
        windows: report_windows,
        per_operation,
        errors,
        events_received,
        login_retries,
        targets,
    })
}

/// Latency of each operation among `samples`.
fn by_operation<'s>(
    samples: impl Iterator<Item = &'s Sample> + Clone,
) -> BTreeMap<String, Latency> {
    let mut per_operation = BTreeMap::new();
    for op in [
        Op::Timeline,
        Op::Download,
        Op::Upload,
        Op::ShareRevoke,
        Op::Inbox,
        Op::LoginLogout,
    ] {
        let lat: Vec<Duration> = samples
            .clone()
            .filter(|s| s.op == op)
            .map(|s| s.took)
            .collect();
        if !lat.is_empty() {
            per_operation.insert(format!("{op:?}"), Latency::of(&lat));
        }
    }
    per_operation
}

/// Log in as an app would: a 429 (the hub verifies at most a few logins of one handle at
/// once, and every simulated client of a handle is the same person) is waited out and retried,
/// counted apart from errors.
async fn login(
    world: &World,
    url: &str,
    handle: &str,
    retries: &AtomicU64,
) -> anyhow::Result<medshare_client::Client> {
    let mut wait = Duration::from_millis(50);
    loop {
        match world.login_at(url, handle).await {
            Ok(c) => return Ok(c),
            Err(e)
                if e.downcast_ref::<medshare_client::ClientError>()
                    .and_then(|c| c.code())
                    == Some(medshare_model::ErrorCode::TooManyRequests)
                    && wait < Duration::from_secs(10) =>
            {
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

fn body(n: usize, len: usize) -> Vec<u8> {
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn meta(n: usize) -> DocumentMeta {
    DocumentMeta {
        title: format!("soak note {n}"),
        file_name: format!("note-{n}.pdf"),
        media_type: "application/pdf".into(),
        category: "clinical-note".into(),
        date_of_service: None,
        classification: None,
        urgent: false,
    }
}

fn share(with: &medshare_model::Handle) -> Share {
    Share {
        with: with.clone(),
        institution: None,
        expires_at: None,
    }
}
