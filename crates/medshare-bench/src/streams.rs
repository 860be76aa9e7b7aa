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
    /// Seconds after opening the streams at which the hub's memory is read a second time, once
    /// the allocator has returned the pages the opening itself used and freed (jemalloc purges
    /// pages unused for 10 s): what an idle stream costs for as long as it stays open.
    #[arg(long, default_value_t = 15)]
    settle_secs: u64,
    /// 0: HTTP/1.1, one connection per stream (`Client::follow`). K > 0: HTTP/2 (cleartext,
    /// prior knowledge), K streams multiplexed on each connection, as K tabs of one browser
    /// share one HTTP/2 connection to the hub's origin (at most 200: the hub's
    /// `max_concurrent_streams`).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=200))]
    http2_tabs: u16,
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
    /// 0: HTTP/1.1, a connection per stream; K: HTTP/2, K streams per connection.
    http2_tabs: u16,
    /// TCP connections the streams were held on.
    connections: usize,
    /// Hub RSS before the streams, with all open, and after they closed (KiB).
    rss_baseline_kib: u64,
    rss_open_kib: u64,
    /// Hub RSS `settle_secs` after the streams opened (KiB), and per stream from it.
    rss_settled_kib: u64,
    settle_secs: u64,
    per_stream_settled_kib: f64,
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
        a.settle_secs = a.settle_secs.min(5);
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
    let tabs = usize::from(a.http2_tabs);
    let connections = if tabs == 0 {
        total
    } else {
        // One HTTP/2 connection per `tabs` streams of one practitioner.
        let mut n = 0;
        for (who, since, count) in [
            (wong.clone(), since, a.fanout),
            (ho.clone(), ho_since, a.streams),
        ] {
            let token = who.save().token.clone();
            let mut left = count;
            while left > 0 {
                let k = left.min(tabs);
                left -= k;
                n += 1;
                let (hub_url, token, arrivals, ready, gate) = (
                    hub.url.clone(),
                    token.clone(),
                    arrivals.clone(),
                    ready_tx.clone(),
                    gate.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let mut held = tokio::task::JoinSet::new();
                    let opened = {
                        let _permit = gate.acquire().await;
                        h2_streams(&hub_url, &token, since, k, &arrivals, &ready, &mut held).await
                    };
                    if let Err(e) = opened {
                        let _ = ready.send(Err(e)).await;
                        return;
                    }
                    // Hold the connection and its streams until this task is aborted.
                    while held.join_next().await.is_some() {}
                }));
            }
        }
        n
    };
    for i in 0..if tabs == 0 { total } else { 0 } {
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
        "{total} streams open in {open_secs:.1} s ({} idle, {} of the notified doctor) on \
         {connections} connections ({}); hub RSS {} -> {} MiB: {per_stream:.1} KiB per stream",
        a.streams,
        a.fanout,
        if tabs == 0 {
            "HTTP/1.1, one per stream".to_string()
        } else {
            format!("HTTP/2, up to {tabs} streams each")
        },
        base / 1024,
        open / 1024
    ));
    tokio::time::sleep_until(
        (opened + Duration::from_secs_f64(open_secs) + Duration::from_secs(a.settle_secs.max(3)))
            .into(),
    )
    .await;
    let settled = proc_status_kib(hub.pid, "VmRSS").unwrap_or(0);
    let per_stream_settled = (settled.saturating_sub(base)) as f64 / total as f64;
    out.say(format!(
        "{} s after opening: hub RSS {} MiB: {per_stream_settled:.1} KiB per stream (settled)",
        a.settle_secs.max(3),
        settled / 1024
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
        http2_tabs: a.http2_tabs,
        connections,
        rss_baseline_kib: base,
        rss_open_kib: open,
        rss_settled_kib: settled,
        settle_secs: a.settle_secs.max(3),
        per_stream_settled_kib: per_stream_settled,
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

/// Open one HTTP/2 connection (cleartext, prior knowledge: what a browser gets over TLS with
/// ALPN `h2`) and `count` event streams on it, each reporting on `ready` once the hub answered
/// and recording the arrival time of every event; the connection and the streams live in
/// `held`.
async fn h2_streams(
    hub: &str,
    token: &str,
    since: i64,
    count: usize,
    arrivals: &Arrivals,
    ready: &tokio::sync::mpsc::Sender<anyhow::Result<()>>,
    held: &mut tokio::task::JoinSet<()>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let url = reqwest::Url::parse(hub)?;
    let addr = (
        url.host_str().context("the hub's host")?.to_string(),
        url.port_or_known_default().context("the hub's port")?,
    );
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(tcp))
        .await
        .context("HTTP/2 handshake with the hub")?;
    held.spawn(async move {
        let _ = conn.await;
    });
    let uri = url
        .join(&format!("/v1/events/stream?since={since}"))?
        .to_string();
    for _ in 0..count {
        let mut send = send.clone();
        send.ready().await?;
        let req = hyper::Request::get(uri.as_str())
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(hyper::header::ACCEPT, "text/event-stream")
            .body(http_body_util::Empty::<bytes::Bytes>::new())?;
        let res = send.send_request(req).await?;
        anyhow::ensure!(
            res.status().is_success(),
            "the hub refused a stream: {}",
            res.status()
        );
        let _ = ready.send(Ok(())).await;
        let arrivals = arrivals.clone();
        held.spawn(async move {
            let mut body = res.into_body();
            let mut buf = String::new();
            while let Some(Ok(frame)) = body.frame().await {
                let now = Instant::now();
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.push_str(&String::from_utf8_lossy(&data));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    if let Some(seq) = sse_seq(&block) {
                        arrivals.lock().unwrap().entry(seq).or_default().push(now);
                    }
                }
            }
        });
    }
    Ok(())
}

/// The sequence number of a `medshare` server-sent event (keep-alive comments have none).
fn sse_seq(block: &str) -> Option<i64> {
    let mut medshare = false;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(e) = line.strip_prefix("event:") {
            medshare = e.trim() == "medshare";
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    if !medshare {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(&data)
        .ok()?
        .get("seq")?
        .as_i64()
}
