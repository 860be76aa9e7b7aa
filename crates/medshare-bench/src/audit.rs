//! `audit`: the Merkle audit log's cost.
//!
//! 1. Append throughput on a fresh SQLite store (synchronous=FULL, as the hub runs it): one
//!    entry per transaction with no batching (the reference), then the hub's batching appender
//!    with 1, 16, 64 and 256 concurrent writers (group commit, leaves mirrored into the tree,
//!    a head signed after every batch at the default 1 s interval).
//! 2. What the log adds to a request, on an in-process hub: `POST /v1/search` with 50
//!    concurrent clients, and sequential 1 MiB uploads. Handlers submit their entry as soon as
//!    the decision is taken and await it only before answering; the time a request spends
//!    blocked on that await (reported by the hub as a `medshare::audit::wait` trace event and
//!    collected here) is what the log adds. Its p99 is compared with the request p99. For
//!    scale, a standalone append (submit until durable) at the same concurrency is reported
//!    too: an upper bound that ignores the overlap. An upload's own entries are written in its
//!    metadata transaction (one durable commit for both), so an upload without shares has no
//!    separate wait on the log: its cost is inside the upload's latency, which is reported.

use crate::report::{CpuMeter, Latency, Machine, Out, Target};
use crate::search::{document, raw_search_phase};
use medshare_audit::Entry;
use medshare_client::DocumentMeta;
use medshare_model::api::SearchRequest;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::{DocumentId, InstitutionId, PatientId, PractitionerId};
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use medshare_server::audit::AuditLog;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Collects the hub's `medshare::audit::wait` events.
#[derive(Clone, Default)]
struct Waits(Arc<Mutex<Vec<Duration>>>);

impl Waits {
    fn take(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.0.lock().expect("poisoned"))
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Waits {
    fn enabled(&self, m: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        m.target() == "medshare::audit::wait"
    }
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        struct V(Option<u64>);
        impl tracing::field::Visit for V {
            fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
                if f.name() == "waited_us" {
                    self.0 = Some(v);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut v = V(None);
        e.record(&mut v);
        if let Some(us) = v.0 {
            self.0
                .lock()
                .expect("poisoned")
                .push(Duration::from_micros(us));
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Entries appended per throughput measurement.
    #[arg(long, default_value_t = 20_000)]
    entries: usize,
    /// Entries for the unbatched reference (one fsync each).
    #[arg(long, default_value_t = 2_000)]
    reference_entries: usize,
    /// Concurrent clients for the request comparison.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Calls per client.
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Documents on the patient searched.
    #[arg(long, default_value_t = 50)]
    documents: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1200)]
    timeout_secs: u64,
    #[arg(long)]
    json: bool,
    /// Small and fast (CI): a few hundred entries, 4 clients, 4 uploads; no targets judged.
    #[arg(long)]
    quick: bool,
}

#[derive(Serialize)]
struct Throughput {
    writers: usize,
    entries: usize,
    entries_per_s: f64,
    append_latency: Latency,
}

#[derive(Serialize)]
struct Record {
    bench: &'static str,
    machine: Machine,
    reference_unbatched_entries_per_s: f64,
    batched: Vec<Throughput>,
    search_latency: Latency,
    search_audit_wait: Latency,
    append_latency_at_search_concurrency: Latency,
    upload_latency: Latency,
    upload_audit_wait: Latency,
    append_latency_alone: Latency,
    targets: Vec<Target>,
}

fn entry(i: usize) -> Entry {
    Entry {
        at: 1_795_000_000 + i as i64,
        actor: Some(PractitionerId::new()),
        institution: Some(InstitutionId::new()),
        action: "document.fetch-content".into(),
        document: Some(DocumentId::new()),
        patient: Some(PatientId::new()),
        outcome: "allowed".into(),
        purpose: "grant".into(),
        detail: None,
    }
}

async fn fresh_log(
    dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<(Arc<dyn medshare_store::MetadataStore>, AuditLog)> {
    let store = medshare_store::open(&format!("sqlite://{}", dir.join(name).display())).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Committed batches would feed alerts and notices; drained here.
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let log = AuditLog::open(
        store.clone(),
        zeroize::Zeroizing::new([7u8; 32]),
        Duration::from_millis(1000),
        512,
        tx,
        medshare_server::clock::Clock::system(),
    )
    .await?;
    Ok((store, log))
}

/// `writers` tasks append `entries` in all; per-append latencies and the wall time.
async fn appends(
    log: &AuditLog,
    writers: usize,
    entries: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let per = entries.div_ceil(writers);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                log.append(entry(w * per + i)).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::with_capacity(entries);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, started.elapsed()))
}

pub async fn run(mut args: Args) -> anyhow::Result<()> {
    if args.quick {
        args.entries = args.entries.min(512);
        args.reference_entries = args.reference_entries.min(50);
        args.clients = args.clients.min(4);
        args.iterations = args.iterations.min(3);
        args.documents = args.documents.min(4);
    }
    let out = Out::new(args.json);
    tokio::time::timeout(Duration::from_secs(args.timeout_secs), measure(&args, out))
        .await
        .map_err(|_| anyhow::anyhow!("the audit benchmark ran past --timeout-secs"))?
}

async fn measure(args: &Args, out: Out) -> anyhow::Result<()> {
    let waits = Waits::default();
    tracing_subscriber::registry()
        .with(waits.clone())
        .try_init()?;
    let machine = Machine::describe();
    machine.announce(out);
    let meter = CpuMeter::start();
    let dir = tempfile::tempdir()?;

    // 1. Reference: one entry per transaction, no batching.
    let store =
        medshare_store::open(&format!("sqlite://{}", dir.path().join("ref.db").display())).await?;
    let started = Instant::now();
    for i in 0..args.reference_entries {
        store.append_audit(&[entry(i)]).await?;
    }
    let reference = args.reference_entries as f64 / started.elapsed().as_secs_f64();
    out.say(format!(
        "unbatched reference: {reference:.0} entries/s (one transaction each)"
    ));

    let mut batched = Vec::new();
    for writers in [1usize, 16, 64, 256] {
        let (_, log) = fresh_log(dir.path(), &format!("batched-{writers}.db")).await?;
        let (samples, wall) = appends(&log, writers, args.entries).await?;
        let t = Throughput {
            writers,
            entries: samples.len(),
            entries_per_s: samples.len() as f64 / wall.as_secs_f64(),
            append_latency: Latency::of(&samples),
        };
        out.say(format!(
            "batched, {writers:>3} writers: {:.0} entries/s; append {}",
            t.entries_per_s,
            t.append_latency.line()
        ));
        batched.push(t);
    }

    // 2. Requests on a hub, and appends at the same concurrency.
    let hub = TestHub::start(sandbox_config(&dir.path().join("hub"))).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let hkid: PatientIdentifier = "A123456(3)".parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    let meta = |i: usize| DocumentMeta {
        title: format!("Note {i}"),
        file_name: format!("note-{i}.pdf"),
        media_type: "application/pdf".into(),
        category: "consultation-note".into(),
        date_of_service: None,
        classification: None,
        urgent: false,
    };
    let mut upload_samples = Vec::new();
    let mut upload_waits = Vec::new();
    for i in 0..args.documents {
        let bytes = if i < 20 {
            document(i, 1024 * 1024)
        } else {
            document(i, 8 * 1024)
        };
        let t = Instant::now();
        waits.take();
        chan.upload(std::io::Cursor::new(bytes), &patient, meta(i), &[], |_| {})
            .await?;
        if i < 20 {
            upload_samples.push(t.elapsed());
            // The upload request's own waits (its upload entry and any share entries).
            upload_waits.push(waits.take().into_iter().sum());
        }
    }
    let upload_latency = Latency::of(&upload_samples);
    let upload_wait = Latency::of(&upload_waits);
    out.say(format!(
        "  upload requests waiting for the audit log: {}",
        upload_wait.line()
    ));
    out.say(format!(
        "1 MiB upload, sequential: {}",
        upload_latency.line()
    ));
    let mut tokens = Vec::new();
    for _ in 0..args.clients {
        tokens.push(world.login("dr.chan").await?.save().token.clone());
    }
    let body = serde_json::to_vec(&SearchRequest::first(
        chan.context().await?.patient_ref(&hkid),
    ))?;
    let (samples, _, _) = raw_search_phase(
        &format!("{}/v1/search", hub.url),
        &body,
        &tokens,
        args.iterations,
    )
    .await?;
    let search_latency = Latency::of(&samples);
    let search_wait = Latency::of(&waits.take());
    out.say(format!(
        "POST /v1/search, {} clients, {} documents: {}",
        args.clients,
        args.documents,
        search_latency.line()
    ));
    out.say(format!(
        "  of which waiting for the audit log: {}",
        search_wait.line()
    ));
    hub.stop().await?;

    let (_, log) = fresh_log(dir.path(), "at-concurrency.db").await?;
    let (samples, _) = appends(&log, args.clients, args.clients * args.iterations).await?;
    let append_at = Latency::of(&samples);
    out.say(format!(
        "append at {} writers: {}",
        args.clients,
        append_at.line()
    ));
    let (samples, _) = appends(&log, 1, 200).await?;
    let append_alone = Latency::of(&samples);
    out.say(format!("append, one writer: {}", append_alone.line()));

    let search_share = search_wait.p99_ms / search_latency.p99_ms;
    let upload_share = upload_wait.p99_ms / upload_latency.p99_ms;
    let mut targets = vec![
        Target::new(
            "search_p99_share",
            "log adds < 5 % to search p99 (p99 of the wait on the log / search p99)",
            search_share,
            search_share < 0.05,
        ),
        Target::new(
            "upload_p99_share",
            "log adds < 5 % to upload p99 (p99 of the wait on the log / upload p99)",
            upload_share,
            upload_share < 0.05,
        ),
    ];
    if args.quick {
        targets.clear();
    }
    for t in &targets {
        out.say(t.line());
    }
    out.say(meter.finish().line());
    out.record(&Record {
        bench: "audit",
        machine,
        reference_unbatched_entries_per_s: reference,
        batched,
        search_latency,
        search_audit_wait: search_wait,
        append_latency_at_search_concurrency: append_at,
        upload_latency,
        upload_audit_wait: upload_wait,
        append_latency_alone: append_alone,
        targets,
    })
}
