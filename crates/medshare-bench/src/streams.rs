//! Idle live event streams held by one hub (issue 13): the hub's memory per open stream, the
//! delivery of one notification with all of them open (from the share that causes it to the
//! event at every stream), and whether the hub's memory returns to its baseline once they close.
//!
//! The hub runs as its own process (its memory read from `/proc`); each stream is one HTTP/1.1
//! connection (`Client::follow`, as the app holds one per open tab). The idle streams are the
//! emergency physician's; the cardiologist holds `--fanout` streams, and the family doctor
//! shares a document with the cardiologist and revokes it, each share one event to each of the
//! cardiologist's streams. `--fanout 1` is the everyday case (one doctor notified while
//! thousands of others idle); a large fan-out is one person with many tabs, the worst case.

use crate::hub::HubProcess;
use crate::report::{Latency, Machine, Out};
use crate::util::proc_status_kib;
use futures::StreamExt;
use medshare_client::{DocumentMeta, Share};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{World, story_cast};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Idle streams held open (another practitioner's).
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Streams of the practitioner who is notified.
    #[arg(long, default_value_t = 1)]
    fanout: usize,
    /// Notifications sent with every stream open (each a share of a document).
    #[arg(long, default_value_t = 20)]
    notifications: usize,
    /// Seconds to watch the hub's memory after the streams close.
    #[arg(long, default_value_t = 30)]
    after_secs: u64,
    /// 200 streams, 3 notifications, 5 s after: checks the benchmark itself.
    #[arg(long)]
    quick: bool,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Record {
    machine: Machine,
    streams: usize,
    fanout: usize,
    notifications: usize,
    /// Hub RSS before the streams, with all open, and after they closed (KiB).
    rss_baseline_kib: u64,
    rss_open_kib: u64,
    rss_after_kib: Vec<(u64, u64)>,
    per_stream_kib: f64,
    /// Time to open every stream.
    open_secs: f64,
    /// From the share's request to the event at each stream (every stream, every notification).
    delivery: Latency,
    /// From the share's request to the event at the last of all streams.
    last_stream: Latency,
    /// The share request itself.
    share_request: Latency,
    missed: usize,
}

type Arrivals = Arc<Mutex<HashMap<i64, Vec<Instant>>>>;

pub async fn run(mut a: Args) -> anyhow::Result<()> {
    if a.quick {
        a.streams = a.streams.min(200);
        a.notifications = a.notifications.min(3);
        a.after_secs = a.after_secs.min(5);
    }
    let out = Out::new(a.json);
    let machine = Machine::describe();
    machine.announce(out);
    let work = tempfile::tempdir()?;
    let dir = work.path().join("hub");
    std::fs::create_dir_all(&dir)?;
    // The sandbox hub's own configuration (`HubProcess::start`).
    let mut hub = HubProcess::start(&dir).await?;
    let token = std::fs::read_to_string(dir.join("bootstrap-token"))?;
    let world = World::build_at(&hub.url, token.trim(), &story_cast()).await?;
    let chan = world.login_at(&hub.url, "dr.chan").await?;
    let wong = Arc::new(world.login_at(&hub.url, "dr.wong").await?);
    let ho = Arc::new(world.login_at(&hub.url, "dr.ho").await?);
    let wong_handle: medshare_model::Handle = "dr.wong".parse().expect("a valid handle");
    let person = &medshare_synth::patients(7070, 1)[0];
    let hkid: PatientIdentifier = person.hkid.parse()?;
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    let doc = chan
        .upload(
            std::io::Cursor::new(vec![7u8; 4096]),
            &patient,
            DocumentMeta {
                title: "streams bench note".into(),
                file_name: "note.pdf".into(),
                media_type: "application/pdf".into(),
                category: "clinical-note".into(),
                date_of_service: None,
                classification: None,
                urgent: false,
            },
            &[],
            |_| {},
        )
        .await?
        .document_id;
    let share = Share {
        with: wong_handle.clone(),
        institution: None,
        expires_at: None,
    };
    // Warm the paths once, with one stream, so the baseline is the hub's, not its first request's.
    {
        let s = wong.follow(i64::MAX).await?;
        chan.share(doc, &share).await?;
        chan.revoke(doc, &wong_handle).await?;
        drop(s);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base = proc_status_kib(hub.pid, "VmRSS").unwrap_or(0);
    let since = wong.inbox(0).await?.last().map_or(0, |e| e.seq);

    // Open every stream (a few hundred at a time, as tabs reconnecting after a deploy would).
    let arrivals: Arrivals = Arc::default();
    let opened = Instant::now();
    let total = a.streams + a.fanout;
    let mut tasks = Vec::with_capacity(total);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<anyhow::Result<()>>(total);
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    let ho_since = ho.inbox(0).await?.last().map_or(0, |e| e.seq);
    for i in 0..total {
        let (who, since) = if i < a.fanout {
            (wong.clone(), since)
        } else {
            (ho.clone(), ho_since)
        };
        let (arrivals, ready, gate) = (arrivals.clone(), ready_tx.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let stream = {
                let _permit = gate.acquire().await;
                who.follow(since).await
            };
            let mut stream = match stream {
                Ok(s) => Box::pin(s),
                Err(e) => {
                    let _ = ready.send(Err(e.into())).await;
                    return;
                }
            };
            let _ = ready.send(Ok(())).await;
            while let Some(Ok(e)) = stream.next().await {
                let now = Instant::now();
                arrivals.lock().unwrap().entry(e.seq).or_default().push(now);
            }
        }));
    }
    drop(ready_tx);
    for _ in 0..total {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e.context("open a stream")),
            None => anyhow::bail!("a stream task ended before opening"),
        }
    }
    let open_secs = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let open = proc_status_kib(hub.pid, "VmRSS").unwrap_or(0);
    let per_stream = (open.saturating_sub(base)) as f64 / total as f64;
    out.say(format!(
        "{total} streams open in {open_secs:.1} s ({} idle, {} of the notified doctor); hub RSS \
         {} -> {} MiB: {per_stream:.1} KiB per stream",
        a.streams,
        a.fanout,
        base / 1024,
        open / 1024
    ));

    // Notifications with every stream open: each share is one event to every stream.
    let mut delivery = Vec::new();
    let mut last = Vec::new();
    let mut requests = Vec::new();
    let mut missed = 0usize;
    for _ in 0..a.notifications {
        let t0 = Instant::now();
        chan.share(doc, &share).await?;
        requests.push(t0.elapsed());
        let deadline = Instant::now() + Duration::from_secs(30);
        let seq = wong.inbox(since).await?.last().map_or(0, |e| e.seq);
        let got = loop {
            let n = arrivals.lock().unwrap().get(&seq).map_or(0, Vec::len);
            if n >= a.fanout || Instant::now() > deadline {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        missed += a.fanout - got;
        if let Some(times) = arrivals.lock().unwrap().remove(&seq) {
            delivery.extend(times.iter().map(|t| t.duration_since(t0)));
            if let Some(max) = times.iter().max() {
                last.push(max.duration_since(t0));
            }
        }
        // The revoke's own event (if any) is not measured; it must not overlap the next share.
        chan.revoke(doc, &wong_handle).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        arrivals.lock().unwrap().clear();
    }
    let (delivery, last_stream, share_request) = (
        Latency::of(&delivery),
        Latency::of(&last),
        Latency::of(&requests),
    );
    out.say(format!("delivery, every stream: {}", delivery.line()));
    out.say(format!("delivery, last stream:  {}", last_stream.line()));
    out.say(format!("share request:          {}", share_request.line()));
    if missed > 0 {
        out.say(format!("{missed} deliveries did not arrive within 30 s"));
    }

    // Close every stream and watch the hub give the memory back.
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    let closed = Instant::now();
    let mut after = Vec::new();
    for s in 1..=a.after_secs {
        tokio::time::sleep_until((closed + Duration::from_secs(s)).into()).await;
        let kib = proc_status_kib(hub.pid, "VmRSS").unwrap_or(0);
        if s == 1 || s % 5 == 0 || s == a.after_secs {
            after.push((s, kib));
        }
    }
    out.say(format!(
        "after closing: {} (baseline {} MiB)",
        after
            .iter()
            .map(|(s, k)| format!("{s} s {} MiB", k / 1024))
            .collect::<Vec<_>>()
            .join(", "),
        base / 1024
    ));
    hub.stop().await?;
    out.record(&Record {
        machine,
        streams: a.streams,
        fanout: a.fanout,
        notifications: a.notifications,
        rss_baseline_kib: base,
        rss_open_kib: open,
        rss_after_kib: after,
        per_stream_kib: per_stream,
        open_secs,
        delivery,
        last_stream,
        share_request,
        missed,
    })?;
    anyhow::ensure!(missed == 0, "{missed} deliveries were lost");
    Ok(())
}
