//! `search`: how long a practitioner waits between typing a patient number and seeing the
//! decrypted, verified timeline, with many practitioners doing it at once.
//!
//! One in-process hub on 127.0.0.1 (same process and runtime as the clients), the story cast,
//! one patient with `--documents` small PDFs uploaded by dr.chan. Then `--clients` separately
//! logged-in clients for dr.chan each call `Client::timeline` `--iterations` times: one
//! `POST /v1/search`, every binding and uploader certificate verified, every document key
//! unwrapped and every manifest decrypted. Two extra phases locate the cost: the same load as
//! raw `POST /v1/search` requests (hub and HTTP only, no client crypto), and one client calling
//! `timeline` alone (service time without queueing). `timeline` walks every page of the search
//! (50 entries each); the raw requests fetch the first page, what a screen shows. Then the same
//! sessions with a timeline cache (`medshare_client::FolderCache`), warmed with one view: each
//! measured call re-opens the timeline (`since`: nothing changed).

use crate::report::{CpuMeter, CpuShare, Latency, Machine, Out, Target};
use anyhow::{Context, anyhow, ensure};
use medshare_client::{Client, DocumentMeta, FolderCache};
use medshare_model::api::SearchRequest;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

#[derive(clap::Args)]
pub struct Args {
    /// Documents uploaded for the patient (all visible to dr.chan).
    #[arg(long, default_value_t = 200)]
    documents: usize,
    /// Smallest document, KiB.
    #[arg(long, default_value_t = 2)]
    min_kib: usize,
    /// Largest document, KiB.
    #[arg(long, default_value_t = 20)]
    max_kib: usize,
    /// Concurrent clients (each logged in separately as dr.chan).
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Timeline calls per client.
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Timeline calls by one client alone, for the service time without queueing (0: skip).
    #[arg(long, default_value_t = 50)]
    sequential_calls: usize,
    /// The hub's session cache (`auth.session_cache_ms`; 0: every request reads its session
    /// from the database, as before the cache).
    #[arg(long, default_value_t = medshare_server::config::AuthConfig::default().session_cache_ms)]
    session_cache_ms: u64,
    /// The hub's policy cache (`auth.policy_cache_ms`; 0: every request reads consents, care,
    /// break-glass and grants from the database, as before the cache).
    #[arg(long, default_value_t = medshare_server::config::AuthConfig::default().policy_cache_ms)]
    policy_cache_ms: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Params {
    documents: usize,
    min_kib: usize,
    max_kib: usize,
    clients: usize,
    iterations: usize,
    sequential_calls: usize,
    session_cache_ms: u64,
    policy_cache_ms: u64,
}

#[derive(Serialize)]
struct Seeding {
    documents: usize,
    document_bytes_min: usize,
    document_bytes_max: usize,
    document_bytes_mean: f64,
    upload_secs: f64,
    logins: usize,
    login_secs: f64,
    search_response_bytes: usize,
}

#[derive(Serialize)]
struct Phase {
    what: &'static str,
    concurrency: usize,
    latency: Latency,
    wall_secs: f64,
    calls_per_sec: f64,
}

impl Phase {
    fn new(what: &'static str, concurrency: usize, samples: &[Duration], wall: Duration) -> Self {
        Self {
            what,
            concurrency,
            latency: Latency::of(samples),
            wall_secs: wall.as_secs_f64(),
            calls_per_sec: samples.len() as f64 / wall.as_secs_f64(),
        }
    }

    fn say(&self, out: Out) {
        out.say(format!(
            "{} (concurrency {}): {}; {:.1} calls/s over {:.2} s",
            self.what,
            self.concurrency,
            self.latency.line(),
            self.calls_per_sec,
            self.wall_secs
        ));
    }
}

#[derive(Serialize)]
struct Record {
    bench: &'static str,
    machine: Machine,
    cpu: CpuShare,
    params: Params,
    seeding: Seeding,
    timeline_concurrent: Phase,
    raw_search_concurrent: Phase,
    /// nginx serving a static file of the first page's size, same load (None: not installed).
    nginx_same_size: Option<Phase>,
    timeline_sequential: Option<Phase>,
    /// The same load by clients with a timeline cache, each warmed with one view: every
    /// measured call is a re-opening (`since`).
    cached_concurrent: Phase,
    cached_sequential: Option<Phase>,
    targets: Vec<Target>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.clients > 0 && args.iterations > 0,
        "nothing to measure"
    );
    ensure!(
        args.min_kib > 0 && args.min_kib <= args.max_kib,
        "need 0 < --min-kib <= --max-kib"
    );
    let limit = Duration::from_secs(args.timeout_secs);
    tokio::time::timeout(limit, measure(args))
        .await
        .map_err(|_| anyhow!("search benchmark took longer than {} s", limit.as_secs()))?
}

/// A synthetic PDF report of roughly `target` bytes.
pub(crate) fn document(i: usize, target: usize) -> Vec<u8> {
    let line = |n: usize| {
        format!(
            "{n:04}. Follow-up note {i}: blood pressure stable, HbA1c trending down, continue \
             current regimen and review in clinic."
        )
    };
    // About 115 bytes of PDF per line of this length.
    let lines: Vec<String> = (0..(target / 115).max(1)).map(line).collect();
    medshare_synth::pdf_report(&format!("Progress note {i}"), &lines)
}

async fn measure(args: Args) -> anyhow::Result<()> {
    let out = Out::new(args.json);
    let machine = Machine::describe();
    machine.announce(out);
    let meter = CpuMeter::start();

    let dir = tempfile::tempdir()?;
    let mut config = sandbox_config(dir.path());
    config.auth.session_cache_ms = args.session_cache_ms;
    config.auth.policy_cache_ms = args.policy_cache_ms;
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
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
        birth_date: Some(synthetic.birth_date.to_string()),
        sex: Some(
            serde_json::to_value(synthetic.sex)?
                .as_str()
                .unwrap_or("")
                .into(),
        ),
    };
    let patient = chan.ensure_patient(&hkid, &card).await?;

    // Seed: documents of 2..20 KiB (deterministic sizes), uploaded one after another.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut sizes = Vec::with_capacity(args.documents);
    let started = Instant::now();
    for i in 0..args.documents {
        let target = rng.gen_range(args.min_kib * 1024..=args.max_kib * 1024);
        let bytes = document(i, target);
        sizes.push(bytes.len());
        let meta = DocumentMeta {
            title: format!("Progress note {i}"),
            file_name: format!("progress-note-{i:03}.pdf"),
            media_type: "application/pdf".into(),
            category: "discharge-summary".into(),
            date_of_service: Some(format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
            classification: None,
            urgent: false,
        };
        chan.upload(std::io::Cursor::new(bytes), &patient, meta, &[], |_| {})
            .await
            .with_context(|| format!("uploading document {i}"))?;
    }
    let upload_secs = started.elapsed().as_secs_f64();
    out.say(format!(
        "seeded {} documents ({}..{} bytes) in {:.2} s",
        args.documents,
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
        upload_secs
    ));

    // Separate logins, each with its own HTTP connection pool; then one untimed call each, so
    // the measured calls are those of a practitioner already at work (context unlocked,
    // certificates cached).
    let started = Instant::now();
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        clients.push(world.login("dr.chan").await?);
    }
    let login_secs = started.elapsed().as_secs_f64();
    let hkid = Arc::new(hkid);
    let documents = args.documents;
    let (clients, _, _) = timeline_phase(clients, hkid.clone(), 1, documents).await?;
    out.say(format!(
        "logged in {} clients in {:.2} s; each warmed up with one timeline",
        args.clients, login_secs
    ));

    let (clients, samples, wall) =
        timeline_phase(clients, hkid.clone(), args.iterations, documents).await?;
    let timeline_concurrent = Phase::new("timeline", args.clients, &samples, wall);
    timeline_concurrent.say(out);

    let patient_ref = clients[0].context().await?.patient_ref(&hkid);
    let search_url = format!("{}/v1/search", hub.url);
    let body = serde_json::to_vec(&SearchRequest::first(patient_ref))?;
    let tokens: Vec<String> = clients.iter().map(|c| c.save().token.clone()).collect();
    let (samples, wall, response_bytes) =
        raw_search_phase(&search_url, &body, &tokens, args.iterations).await?;
    let raw_search_concurrent = Phase::new("raw POST /v1/search", args.clients, &samples, wall);
    raw_search_concurrent.say(out);
    let nginx_same_size =
        nginx_reference(dir.path(), response_bytes, args.clients, args.iterations).await?;
    match &nginx_same_size {
        Some(n) => {
            n.say(out);
            out.say(format!(
                "raw search rate / nginx same-size file rate: {:.3}x",
                raw_search_concurrent.calls_per_sec / n.calls_per_sec
            ));
        }
        None => out.say("nginx not installed: no same-size static file reference"),
    }

    // Re-opening with a cache of verified entries: the same clients' sessions, each with its
    // own cache folder, warmed with one (full) view.
    let cached: Vec<Client> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let store = FolderCache::new(dir.path().join(format!("timeline-cache-{i}")));
            Ok(Client::resume(c.hub(), &c.save())?.cache_timelines_in(Arc::new(store)))
        })
        .collect::<anyhow::Result<_>>()?;
    let timeline_sequential = if args.sequential_calls > 0 {
        let one = clients.into_iter().take(1).collect();
        let (_, samples, wall) =
            timeline_phase(one, hkid.clone(), args.sequential_calls, documents).await?;
        let p = Phase::new("timeline, one client alone", 1, &samples, wall);
        p.say(out);
        Some(p)
    } else {
        None
    };
    out.say(format!(
        "search response: {response_bytes} bytes of JSON for the first page (of {documents} \
         documents, {} per page)",
        SearchRequest::DEFAULT_LIMIT
    ));

    let (cached, _, _) = timeline_phase(cached, hkid.clone(), 1, documents).await?;
    let (cached, samples, wall) =
        timeline_phase(cached, hkid.clone(), args.iterations, documents).await?;
    let cached_concurrent = Phase::new("timeline, cached (since)", args.clients, &samples, wall);
    cached_concurrent.say(out);
    let cached_sequential = if args.sequential_calls > 0 {
        let one = cached.into_iter().take(1).collect();
        let (_, samples, wall) =
            timeline_phase(one, hkid.clone(), args.sequential_calls, documents).await?;
        let p = Phase::new(
            "timeline, cached (since), one client alone",
            1,
            &samples,
            wall,
        );
        p.say(out);
        Some(p)
    } else {
        None
    };

    let p99 = timeline_concurrent.latency.p99_ms;
    let mut targets = vec![Target::new(
        "timeline_p99_ms",
        &format!("p99 < 50 ms with {} concurrent clients", args.clients),
        p99,
        p99 < 50.0,
    )];
    let raw_p99 = raw_search_concurrent.latency.p99_ms;
    targets.push(Target::new(
        "raw_search_p99_ms",
        &format!("p99 < 10 ms with {} in flight", args.clients),
        raw_p99,
        raw_p99 < 10.0,
    ));
    if let Some(n) = &nginx_same_size {
        let ratio = raw_search_concurrent.calls_per_sec / n.calls_per_sec;
        targets.push(Target::new(
            "raw_search_vs_nginx_rate",
            ">= 0.25x nginx serving a same-size static file, same load",
            ratio,
            ratio >= 0.25,
        ));
    }
    for t in &targets {
        out.say(t.line());
    }
    hub.stop().await?;
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
    let cpu = meter.finish();
    out.say(cpu.line());
    out.record(&Record {
        bench: "search",
        machine,
        cpu,
        params: Params {
            documents: args.documents,
            min_kib: args.min_kib,
            max_kib: args.max_kib,
            clients: args.clients,
            iterations: args.iterations,
            sequential_calls: args.sequential_calls,
            session_cache_ms: args.session_cache_ms,
            policy_cache_ms: args.policy_cache_ms,
        },
        seeding: Seeding {
            documents: args.documents,
            document_bytes_min: sizes.iter().copied().min().unwrap_or(0),
            document_bytes_max: sizes.iter().copied().max().unwrap_or(0),
            document_bytes_mean: mean,
            upload_secs,
            logins: args.clients,
            login_secs,
            search_response_bytes: response_bytes,
        },
        timeline_concurrent,
        raw_search_concurrent,
        nginx_same_size,
        timeline_sequential,
        cached_concurrent,
        cached_sequential,
        targets,
    })
}

/// Every client calls `timeline` `calls` times, all clients at once; returns the clients, each
/// call's latency and the wall time of the whole phase.
async fn timeline_phase(
    clients: Vec<Client>,
    hkid: Arc<PatientIdentifier>,
    calls: usize,
    expect_entries: usize,
) -> anyhow::Result<(Vec<Client>, Vec<Duration>, Duration)> {
    let barrier = Arc::new(Barrier::new(clients.len() + 1));
    let mut tasks = Vec::with_capacity(clients.len());
    for client in clients {
        let (barrier, hkid) = (barrier.clone(), hkid.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut samples = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = Instant::now();
                let timeline = client.timeline(&hkid).await?;
                samples.push(t.elapsed());
                ensure!(
                    timeline.entries.len() == expect_entries,
                    "timeline has {} entries, expected {expect_entries}",
                    timeline.entries.len()
                );
            }
            Ok((client, samples))
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut clients = Vec::with_capacity(tasks.len());
    let mut samples = Vec::with_capacity(tasks.len() * calls);
    for t in tasks {
        let (c, s) = t.await??;
        clients.push(c);
        samples.extend(s);
    }
    Ok((clients, samples, started.elapsed()))
}

/// The same load as bare HTTP: one connection pool per token, `calls` searches each, bodies
/// read in full but not parsed. Returns latencies, wall time and the response size.
pub(crate) async fn raw_search_phase(
    url: &str,
    body: &[u8],
    tokens: &[String],
    calls: usize,
) -> anyhow::Result<(Vec<Duration>, Duration, usize)> {
    let (url, body) = (url.to_string(), body.to_vec());
    http_phase(tokens.to_vec(), calls, move |http, token: &String| {
        http.post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.clone())
    })
    .await
}

/// `users.len()` clients, each with its own connection pool, send `calls` requests made by
/// `request` one after another, all clients at once (after one untimed request each to open the
/// connection); bodies are read in full. Returns latencies, wall time and the last body's size.
async fn http_phase<U: Send + Sync + 'static>(
    users: Vec<U>,
    calls: usize,
    request: impl Fn(&reqwest::Client, &U) -> reqwest::RequestBuilder + Clone + Send + Sync + 'static,
) -> anyhow::Result<(Vec<Duration>, Duration, usize)> {
    let barrier = Arc::new(Barrier::new(users.len() + 1));
    let mut tasks = Vec::with_capacity(users.len());
    for user in users {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let (barrier, request) = (barrier.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let call = || request(&http, &user).send();
            call().await?.error_for_status()?.bytes().await?;
            barrier.wait().await;
            let mut samples = Vec::with_capacity(calls);
            let mut size = 0;
            for _ in 0..calls {
                let t = Instant::now();
                let bytes = call().await?.error_for_status()?.bytes().await?;
                samples.push(t.elapsed());
                size = bytes.len();
            }
            anyhow::Ok((samples, size))
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut samples = Vec::with_capacity(tasks.len() * calls);
    let mut size = 0;
    for t in tasks {
        let (s, n) = t.await??;
        samples.extend(s);
        size = n;
    }
    Ok((samples, started.elapsed(), size))
}

/// The reference for the raw search: nginx serving a static file the size of the search's
/// first page, under the same load (as many clients, as many calls each). `None` when nginx is
/// not installed (`scripts/bench-deps.sh` installs it).
async fn nginx_reference(
    dir: &std::path::Path,
    size: usize,
    clients: usize,
    calls: usize,
) -> anyhow::Result<Option<Phase>> {
    let Some(nginx) = crate::util::find_tool("nginx") else {
        return Ok(None);
    };
    let file = dir.join("same-size-page.json");
    std::fs::write(&file, vec![b' '; size])?;
    let mut server = crate::transfer::Nginx::start(&nginx, &dir.join("nginx"), &file).await?;
    let url = server.url();
    let measured = http_phase(vec![(); clients], calls, move |http, _: &()| http.get(&url)).await;
    server.stop().await?;
    let (samples, wall, served) = measured?;
    ensure!(
        served == size,
        "nginx served {served} bytes, expected {size}"
    );
    Ok(Some(Phase::new(
        "nginx GET of a same-size static file",
        clients,
        &samples,
        wall,
    )))
}
