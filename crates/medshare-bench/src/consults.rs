//! Escalation timer accuracy under load (issue 13): urgent consults asked of an on-call list,
//! nobody acknowledging, while a background load runs; how late each escalation reaches the next
//! recipient's client after its deadline, and that each step escalates exactly once with two hub
//! replicas polling one PostgreSQL database.
//!
//! The acknowledgement window is at least a minute, so the hubs share one clock that the bench
//! moves forward (the same offset clock the tests use): a round files `batch` consults, then
//! moves the clock so their deadlines fall about two seconds ahead in real time. A deadline is a
//! whole second of hub time `D`; with the clock `offset` seconds ahead it passes at real Unix time
//! `D - offset`, exactly. Lateness is from that instant to the `Escalated` event arriving on the
//! next recipient's live stream (the poll interval, the claim, the escalation, the event's trip
//! across replicas through `LISTEN`/`NOTIFY`, and the client's parsing). Then the recipient
//! acknowledges each consult and the next round starts.
//!
//! The hubs run in this process (they must share the clock), with the clients and the load, on
//! the same cores.

use crate::report::{Latency, Machine, Out};
use anyhow::Context;
use futures::StreamExt;
use medshare_client::consults::{ConsultRequest, Recipient};
use medshare_client::{Client, DocumentMeta, Patient};
use medshare_model::api::EventKind;
use medshare_model::consults::ConsultStepKind;
use medshare_model::registration::{Profession, Role};
use medshare_model::{ConsultId, Handle};
use medshare_sandbox::{Backend, Person, TestHub, World, story_cast};
use medshare_server::clock::Clock;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    /// Consults in all.
    #[arg(long, default_value_t = 200)]
    consults: usize,
    /// Consults filed per round (their deadlines fall within about a second of each other).
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Each replica's `[consults] poll_ms` (the product's default is 5000).
    #[arg(long, default_value_t = 5000)]
    poll_ms: u64,
    /// Hub replicas: 2 runs both on one PostgreSQL database (and S3); 1 on SQLite.
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// Background load: clients uploading small documents and listing consults in a loop.
    #[arg(long, default_value_t = 4)]
    load: usize,
    /// 1 replica on SQLite, 6 consults in 2 rounds, 200 ms polls, 1 load client: checks the
    /// benchmark itself.
    #[arg(long)]
    quick: bool,
    /// Give up after this long.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Record {
    machine: Machine,
    backend: &'static str,
    replicas: usize,
    poll_ms: u64,
    consults: usize,
    batch: usize,
    load_clients: usize,
    /// Background operations completed per second (uploads and consult listings).
    load_ops_per_s: f64,
    /// From each deadline passing to the escalation's event reaching the next recipient.
    lateness: Latency,
    /// Escalations seen more than once (in a consult's history or as events): must be 0.
    duplicated: usize,
    /// Deadlines whose escalation never arrived (within the poll interval plus 30 s).
    missed: usize,
}

fn handle(h: &str) -> Handle {
    h.parse().expect("valid handle")
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn cast(load: usize) -> medshare_sandbox::Cast {
    let mut cast = story_cast();
    cast.people.push(Person {
        handle: "dr.yeung".into(),
        name: "YEUNG Wai Man".into(),
        profession: Profession::Doctor,
        registration: "M20009".into(),
        specialty: Some("Cardiology".into()),
        roles: vec![Role::Clinician],
        institution: "PPH".into(),
    });
    for i in 0..load {
        cast.people.push(Person {
            handle: format!("dr.load{i}"),
            name: format!("LOAD Member {i}"),
            profession: Profession::Doctor,
            registration: format!("M{}", 80_000 + i),
            specialty: None,
            roles: vec![Role::Clinician],
            institution: "KPH".into(),
        });
    }
    cast
}

/// A clinician uploading 64 KiB documents and listing their consults until `stop`.
async fn load(client: Client, stop: Arc<AtomicBool>, ops: Arc<AtomicU64>) -> anyhow::Result<()> {
    let patient = new_patient(&client).await?;
    let body = vec![0x25u8; 64 * 1024];
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        client
            .upload(
                std::io::Cursor::new(body.clone()),
                &patient,
                DocumentMeta {
                    title: format!("Load {n}"),
                    file_name: "load.pdf".into(),
                    media_type: "application/pdf".into(),
                    category: "clinical-note".into(),
                    date_of_service: None,
                    classification: None,
                    urgent: false,
                },
                &[],
                |_| {},
            )
            .await
            .context("load: upload")?;
        client.consults().await.context("load: consults")?;
        ops.fetch_add(2, Ordering::Relaxed);
        n += 1;
    }
    Ok(())
}

async fn new_patient(c: &Client) -> anyhow::Result<Patient> {
    let hkid = medshare_synth::patients(rand_seed(), 1)[0].hkid.clone();
    Ok(c.ensure_patient(
        &hkid.parse()?,
        &medshare_model::records::PatientCard::default(),
    )
    .await?)
}

fn rand_seed() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        ^ N.fetch_add(0x9e37_79b9, Ordering::Relaxed)
}

type Arrivals = Arc<Mutex<HashMap<ConsultId, Vec<f64>>>>;

pub async fn run(mut a: Args) -> anyhow::Result<()> {
    if a.quick {
        a.consults = a.consults.min(6);
        a.batch = a.batch.min(3);
        a.poll_ms = a.poll_ms.min(200);
        a.replicas = 1;
        a.load = a.load.min(1);
    }
    anyhow::ensure!(
        (1..=2).contains(&a.replicas),
        "--replicas is 1 (SQLite) or 2 (PostgreSQL)"
    );
    anyhow::ensure!(
        a.batch >= 1 && a.consults >= a.batch,
        "--batch 1..=--consults"
    );
    let limit = Duration::from_secs(a.timeout_secs);
    tokio::time::timeout(limit, measure(a))
        .await
        .map_err(|_| anyhow::anyhow!("the consults benchmark took longer than {limit:?}"))?
}

async fn measure(a: Args) -> anyhow::Result<()> {
    let out = Out::new(a.json);
    let machine = Machine::describe();
    machine.announce(out);
    let backend = if a.replicas == 2 {
        Backend::PostgresS3
    } else {
        Backend::SqliteFolder
    };
    let clock = Clock::system();
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut config_a = backend.config(dir_a.path());
    config_a.consults.poll_ms = a.poll_ms;
    config_a.audit.signing_key_file = Some(dir_a.path().join("audit-log.key"));
    let first = TestHub::start_with_clock(config_a.clone(), clock.clone()).await?;
    let second = if a.replicas == 2 {
        let mut config_b = config_a.clone();
        config_b.data_dir = dir_b.path().to_path_buf();
        config_b.migrate_on_start = false;
        Some(TestHub::start_with_clock(config_b, clock.clone()).await?)
    } else {
        None
    };
    // Requests go to the first replica, the recipient's stream to the last: with two replicas
    // every escalation the first one makes crosses to the second through the database.
    let stream_url = second.as_ref().map_or(first.url.clone(), |h| h.url.clone());
    let world = World::build(&first, &cast(a.load))
        .await
        .context("enrol the cast")?;
    let admin = world.login("admin.pph").await?;
    admin
        .set_oncall_list(
            "cardiology",
            &handle("dr.yeung"),
            &[handle("dr.wong"), handle("dr.leung")],
        )
        .await
        .context("sign the on-call list")?;
    let chan = world.login("dr.chan").await?;
    let leung = world.login_at(&stream_url, "dr.leung").await?;
    let leung_id = world.id("dr.leung");
    let wong = world.login("dr.wong").await?;
    let patient = new_patient(&chan).await?;

    // The next recipient's live stream: when each escalation arrives.
    let arrivals: Arrivals = Arc::default();
    let since = leung.inbox(0).await?.last().map_or(0, |e| e.seq);
    let stream = leung.follow(since).await?;
    let listener = {
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            let mut stream = Box::pin(stream);
            while let Some(Ok(e)) = stream.next().await {
                if let EventKind::Consult {
                    consult_id,
                    step: ConsultStepKind::Escalated,
                    ..
                } = e.event
                {
                    let t = unix_now();
                    arrivals
                        .lock()
                        .unwrap()
                        .entry(consult_id)
                        .or_default()
                        .push(t);
                }
            }
        })
    };

    // Background load.
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let mut loaders = Vec::new();
    for i in 0..a.load {
        let c = world.login(&format!("dr.load{i}")).await?;
        loaders.push(tokio::spawn(load(c, stop.clone(), ops.clone())));
    }
    let load_started = Instant::now();
    out.say(format!(
        "{} consults in rounds of {}, {} replica(s) on {}, poll every {} ms, {} load client(s)",
        a.consults,
        a.batch,
        a.replicas,
        if a.replicas == 2 {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        a.poll_ms,
        a.load
    ));

    let mut lateness = Vec::new();
    let (mut missed, mut all) = (0usize, Vec::new());
    // How far the shared clock is ahead of the system's (the sum of every advance).
    let mut offset = 0i64;
    let mut missing = Vec::new();
    let rounds = a.consults.div_ceil(a.batch);
    for round in 0..rounds {
        let n = a.batch.min(a.consults - round * a.batch);
        let mut filed = Vec::with_capacity(n);
        for i in 0..n {
            let v = chan
                .request_consult(
                    &patient,
                    &ConsultRequest {
                        to: "oncall:PPH/cardiology".parse::<Recipient>()?,
                        question: format!("bench question {round}/{i}"),
                        documents: Vec::new(),
                        ack_within_secs: 60,
                        urgent: true,
                    },
                )
                .await
                .context("ask a consult")?;
            let due = v.due_at.context("an open consult has a deadline")?;
            filed.push((v.consult_id, due.unix_timestamp()));
        }
        // Deadlines about two seconds ahead in real time.
        let earliest = filed.iter().map(|f| f.1).min().unwrap_or_default();
        let step = (earliest - clock.now() - 2).max(0);
        clock.advance(step);
        offset += step;
        let last_deadline = filed.iter().map(|f| f.1 - offset).max().unwrap_or_default() as f64;
        let give_up = last_deadline + a.poll_ms as f64 / 1e3 + 30.0;
        loop {
            let got = {
                let arr = arrivals.lock().unwrap();
                filed.iter().filter(|f| arr.contains_key(&f.0)).count()
            };
            if got == filed.len() || unix_now() > give_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut reached = Vec::new();
        {
            let arr = arrivals.lock().unwrap();
            for (id, due) in &filed {
                match arr.get(id).and_then(|t| t.first()) {
                    Some(t) => {
                        lateness.push(Duration::from_secs_f64(
                            (t - (due - offset) as f64).max(0.0),
                        ));
                        reached.push(*id);
                    }
                    None => {
                        missed += 1;
                        missing.push(*id);
                    }
                }
            }
        }
        // The recipient acknowledges: nothing escalates further.
        for id in &reached {
            leung.ack_consult(*id).await.context("acknowledge")?;
        }
        all.extend(filed.into_iter().map(|f| f.0));
    }
    stop.store(true, Ordering::Relaxed);
    let load_secs = load_started.elapsed().as_secs_f64();
    for l in loaders {
        l.await.context("a load task")??;
    }
    // Let every replica poll a few more times: nothing may move twice.
    tokio::time::sleep(Duration::from_millis(3 * a.poll_ms)).await;
    let mut duplicated = 0;
    let arr = arrivals.lock().unwrap().clone();
    for id in &all {
        let v = wong.consult(*id).await?;
        let escalations = v
            .history
            .iter()
            .filter(|s| s.kind == ConsultStepKind::Escalated)
            .count();
        let to_leung = v
            .history
            .iter()
            .filter(|s| s.kind == ConsultStepKind::Escalated && s.practitioner_id == leung_id)
            .count();
        let events = arr.get(id).map_or(0, Vec::len);
        if escalations > 1 || to_leung > 1 || events > 1 {
            duplicated += 1;
        }
    }
    for id in &missing {
        let v = wong.consult(*id).await?;
        out.say(format!(
            "no escalation arrived for {id}: now at step {} ({:?}), history {:?}",
            v.step,
            v.state,
            v.history.iter().map(|s| s.kind).collect::<Vec<_>>()
        ));
    }
    if listener.is_finished() {
        out.say("the recipient's event stream ended during the run");
    }
    let lateness = Latency::of(&lateness);
    let load_ops_per_s = ops.load(Ordering::Relaxed) as f64 / load_secs;
    out.say(format!("escalation lateness: {}", lateness.line()));
    out.say(format!(
        "background load: {load_ops_per_s:.1} operations/s; duplicated escalations: {duplicated}; missed: {missed}"
    ));
    listener.abort();
    if let Some(h) = second {
        h.stop().await?;
    }
    first.stop().await?;
    out.record(&Record {
        machine,
        backend: if a.replicas == 2 {
            "postgres-s3"
        } else {
            "sqlite-folder"
        },
        replicas: a.replicas,
        poll_ms: a.poll_ms,
        consults: a.consults,
        batch: a.batch,
        load_clients: a.load,
        load_ops_per_s,
        lateness,
        duplicated,
        missed,
    })?;
    anyhow::ensure!(
        duplicated == 0,
        "{duplicated} consults escalated more than once"
    );
    anyhow::ensure!(missed == 0, "{missed} escalations never arrived");
    Ok(())
}
