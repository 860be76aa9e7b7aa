//! `scale`: the scale-out deployment's figures, on real services started here (a throwaway
//! PostgreSQL cluster, an s3s-fs server checking signatures), all on 127.0.0.1.
//!
//! - `pg-search`: `--documents` (10 million) documents' metadata generated inside PostgreSQL
//!   with `generate_series` (never through the API), spread over `--patients`; then the
//!   store's own search-by-patient queries (`documents_of_patient`, and the lookup sequence
//!   the hub's search runs: `patient_by_refs`, `grants_on_patient`, `documents_of_patient`)
//!   for random patients, as p50/p99. The cluster and its files are removed at the end.
//! - `replicas`: search throughput (`POST /v1/search`, many clients) against one hub replica
//!   and against two replicas sharing one database and bucket (clients split between them).
//! - `blobs`: upload (stage + promote) and download throughput of the S3 store against the
//!   folder store, same sizes, same disk.
//! - `revocation`: from a revocation's response on replica A to the first refusal on replica
//!   B (`crate::revocation`).

use crate::report::{Latency, Machine, Out, Target, mib_per_s};
use anyhow::{Context, ensure};
use futures::StreamExt;
use medshare_blob::BlobStore;
use medshare_client::DocumentMeta;
use medshare_model::api::SearchRequest;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::{PatientId, PatientRef, PractitionerId};
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use medshare_store::MetadataStore;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Search-by-patient latency over millions of documents in PostgreSQL.
    PgSearch(PgSearchArgs),
    /// Search throughput with one and with two hub replicas (PostgreSQL + S3).
    Replicas(ReplicasArgs),
    /// Blob upload/download throughput: S3 (s3s-fs) vs the folder store.
    Blobs(BlobsArgs),
    /// From a revocation's response on one replica to the first refusal on another.
    Revocation(crate::revocation::RevocationArgs),
}

#[derive(clap::Args)]
pub struct PgSearchArgs {
    #[arg(long, default_value_t = 10_000_000)]
    documents: u64,
    #[arg(long, default_value_t = 500_000)]
    patients: u64,
    /// Searches measured (each for a random patient).
    #[arg(long, default_value_t = 20_000)]
    queries: usize,
    /// Bytes of the sealed manifest column per document (base64 text).
    #[arg(long, default_value_t = 96)]
    manifest_bytes: usize,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ReplicasArgs {
    /// Documents for the searched patient.
    #[arg(long, default_value_t = 50)]
    documents: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Searches per client per phase.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct BlobsArgs {
    /// Size of each blob, MiB.
    #[arg(long, default_value_t = 256)]
    mib: usize,
    /// Rounds per store (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::PgSearch(a) => pg_search(a).await,
        Cmd::Replicas(a) => replicas(a).await,
        Cmd::Blobs(a) => blobs(a).await,
        Cmd::Revocation(a) => crate::revocation::run(a).await,
    }
}

/// A UUID-shaped text id for the rows made here (the SQL makes its own with `md5(x)::uuid`).
fn bench_id(s: &str) -> String {
    let d = hex::encode(&sha256_of(s)[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &d[0..8],
        &d[8..12],
        &d[12..16],
        &d[16..20],
        &d[20..32]
    )
}

#[derive(Serialize)]
struct PgSearchReport {
    machine: Machine,
    documents: u64,
    patients: u64,
    load_secs: f64,
    table_bytes: i64,
    index_bytes: i64,
    documents_of_patient: Latency,
    search_sequence: Latency,
    mean_documents_per_patient: f64,
    target: Target,
}

async fn pg_search(a: PgSearchArgs) -> anyhow::Result<()> {
    let out = Out::new(a.json);
    let machine = Machine::describe();
    out.say(machine.line());
    let pg = medshare_testsvc::PgCluster::start();
    let url = pg.create_database("bench");
    let store = medshare_store::PgStore::connect(&url).await?;
    store
        .prepare_schema(medshare_store::OpenMode::Migrate)
        .await?;
    let pool = store.pool().clone();
    let started = Instant::now();
    // One institution and uploader, the patients and their references, then the documents in
    // batches of a million, each a single INSERT ... SELECT over generate_series.
    let inst = bench_id("inst");
    let doc = bench_id("uploader");
    sqlx::query("INSERT INTO institutions (id, name, code, created_at) VALUES ($1, 'Bench Hospital', 'BENCH', 0)")
        .bind(&inst)
        .execute(&pool)
        .await?;
    sqlx::query(
        "INSERT INTO practitioners (id, institution_id, handle, details, status, created_at) \
         VALUES ($1, $2, 'bench.uploader', '{}', 'certified', 0)",
    )
    .bind(&doc)
    .bind(&inst)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO patients (id, card, created_by, created_at) \
         SELECT md5('p' || i)::uuid::text, 'sealed-card', $1, 0 FROM generate_series(0, $2 - 1) i",
    )
    .bind(&doc)
    .bind(a.patients as i64)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO patient_refs (ref, patient_id) \
         SELECT encode(sha256(('ref' || i)::bytea), 'hex'), md5('p' || i)::uuid::text \
         FROM generate_series(0, $1 - 1) i",
    )
    .bind(a.patients as i64)
    .execute(&pool)
    .await?;
    let batch = 1_000_000u64;
    let mut done = 0u64;
    while done < a.documents {
        let n = batch.min(a.documents - done);
        // Realistic columns: UUID text ids, a hex SHA-256, base64-like sealed manifest and a
        // signed binding of typical length; patients interleaved (documents of one patient
        // are spread through the table, as they arrive over years).
        sqlx::query(
            "INSERT INTO documents (id, patient_id, uploader, institution_id, size, ciphertext_sha256, \
             manifest, binding, created_at) \
             SELECT md5('d' || i)::uuid::text, md5('p' || (i % $3))::uuid::text, $4, $5, \
                    1000 + (i % 100000), encode(sha256(('c' || i)::bytea), 'hex'), \
                    substr(repeat(replace(encode(sha256(('m' || i)::bytea), 'base64'), E'\\n', ''), 8), 1, $6), \
                    '{\"kind\":\"document-binding\",\"payload\":\"' || encode(sha256(('b' || i)::bytea), 'base64') || \
                    '\",\"signer\":\"k1\",\"signature\":\"' || replace(encode(sha512(('s' || i)::bytea), 'base64'), E'\\n', '') || '\"}', \
                    1700000000 + i \
             FROM generate_series($1, $2) i",
        )
        .bind(done as i64)
        .bind((done + n - 1) as i64)
        .bind(a.patients as i64)
        .bind(&doc)
        .bind(&inst)
        .bind(a.manifest_bytes as i32)
        .execute(&pool)
        .await?;
        done += n;
        out.say(format!(
            "loaded {done} documents ({:.0} s)",
            started.elapsed().as_secs_f64()
        ));
    }
    sqlx::query("ANALYZE").execute(&pool).await?;
    let load_secs = started.elapsed().as_secs_f64();
    let (table_bytes, index_bytes): (i64, i64) =
        sqlx::query_as("SELECT pg_table_size('documents'), pg_indexes_size('documents')")
            .fetch_one(&pool)
            .await?;
    out.say(format!(
        "{} documents over {} patients loaded in {load_secs:.0} s: table {} MiB, indexes {} MiB",
        a.documents,
        a.patients,
        table_bytes >> 20,
        index_bytes >> 20
    ));

    // Every (reference, patient) pair, to pick random patients from.
    let pairs: Vec<(String, String)> = sqlx::query_as("SELECT ref, patient_id FROM patient_refs")
        .fetch_all(&pool)
        .await?;
    let pairs: Vec<(PatientRef, PatientId)> = pairs
        .into_iter()
        .map(|(r, p)| {
            Ok((
                serde_json::from_value(serde_json::Value::String(r))?,
                p.parse()?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    // Warm up (a hub serving searches has its hot index pages cached), then measure.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let caller = PractitionerId::new();
    let s: Arc<dyn MetadataStore> = Arc::new(store);
    for _ in 0..2000 {
        let p = pairs[rng.gen_range(0..pairs.len())].1;
        s.documents_of_patient(p).await?;
    }
    let mut direct = Vec::with_capacity(a.queries);
    let mut seq = Vec::with_capacity(a.queries);
    let mut rows = 0usize;
    for _ in 0..a.queries {
        let (r, p) = pairs[rng.gen_range(0..pairs.len())].clone();
        let t = Instant::now();
        let docs = s.documents_of_patient(p).await?;
        direct.push(t.elapsed());
        rows += docs.len();
        // The hub's search: reference -> patient, the caller's grants, the documents.
        let t = Instant::now();
        let found = s.patient_by_refs(std::slice::from_ref(&r)).await?;
        ensure!(found == Some(p), "reference lookup found the wrong patient");
        s.grants_on_patient(p, caller).await?;
        s.documents_of_patient(p).await?;
        seq.push(t.elapsed());
    }
    let documents_of_patient = Latency::of(&direct);
    let search_sequence = Latency::of(&seq);
    out.say(format!(
        "documents_of_patient: {}",
        documents_of_patient.line()
    ));
    out.say(format!(
        "search lookups (ref -> patient, grants, documents): {}",
        search_sequence.line()
    ));
    let target = Target::new(
        "search-by-patient p99 at 10M documents",
        "< 5 ms",
        search_sequence.p99_ms,
        search_sequence.p99_ms < 5.0,
    );
    out.say(target.line());
    let report = PgSearchReport {
        machine,
        documents: a.documents,
        patients: a.patients,
        load_secs,
        table_bytes,
        index_bytes,
        documents_of_patient,
        search_sequence,
        mean_documents_per_patient: rows as f64 / a.queries as f64,
        target,
    };
    out.record(&report)?;
    drop(s);
    drop(pg);
    out.say("cluster stopped and removed");
    Ok(())
}

fn sha256_of(s: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).into()
}

#[derive(Serialize)]
struct ReplicaPhase {
    replicas: usize,
    clients: usize,
    latency: Latency,
    searches_per_sec: f64,
}

#[derive(Serialize)]
struct ReplicasReport {
    machine: Machine,
    documents: usize,
    phases: Vec<ReplicaPhase>,
}

async fn replicas(a: ReplicasArgs) -> anyhow::Result<()> {
    let out = Out::new(a.json);
    let machine = Machine::describe();
    out.say(machine.line());
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let config_a = Backend::PostgresS3.config(dir_a.path());
    let mut config_b = config_a.clone();
    config_b.data_dir = dir_b.path().to_path_buf();
    let hub_a = TestHub::start(config_a).await?;
    let world = World::build(&hub_a, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let hkid: PatientIdentifier = "A123456(3)".parse()?;
    let patient = chan
        .ensure_patient(
            &hkid,
            &PatientCard {
                name: Some("BENCH".into()),
                birth_date: None,
                sex: None,
            },
        )
        .await?;
    for n in 0..a.documents {
        let meta = DocumentMeta {
            title: format!("report {n}"),
            file_name: format!("r{n}.pdf"),
            media_type: "application/pdf".into(),
            category: "lab-report".into(),
            date_of_service: None,
            classification: None,
            urgent: false,
        };
        chan.upload(
            std::io::Cursor::new(vec![b'x'; 4096]),
            &patient,
            meta,
            &[],
            |_| {},
        )
        .await?;
    }
    let patient_ref = patient.patient_ref.clone();
    let body = serde_json::to_vec(&SearchRequest::first(patient_ref))?;
    let hub_b = TestHub::start(config_b).await?;
    let mut tokens = Vec::new();
    for i in 0..a.clients {
        let url = if i % 2 == 0 { &hub_a.url } else { &hub_b.url };
        let c = world.login_at(url, "dr.chan").await?;
        tokens.push((url.clone(), c.save().token.clone()));
    }
    let mut phases = Vec::new();
    for replicas in [1usize, 2] {
        let targets: Vec<(String, String)> = tokens
            .iter()
            .map(|(u, t)| {
                // One replica: everyone on A (sessions live in the shared database).
                let url = if replicas == 1 {
                    hub_a.url.clone()
                } else {
                    u.clone()
                };
                (format!("{url}/v1/search"), t.clone())
            })
            .collect();
        let (samples, wall) = load(&targets, &body, a.iterations).await?;
        let latency = Latency::of(&samples);
        let searches_per_sec = samples.len() as f64 / wall.as_secs_f64();
        out.say(format!(
            "{replicas} replica(s), {} clients: {searches_per_sec:.0} searches/s, {}",
            a.clients,
            latency.line()
        ));
        phases.push(ReplicaPhase {
            replicas,
            clients: a.clients,
            latency,
            searches_per_sec,
        });
    }
    out.record(&ReplicasReport {
        machine,
        documents: a.documents,
        phases,
    })?;
    hub_b.stop().await?;
    hub_a.stop().await?;
    Ok(())
}

async fn load(
    targets: &[(String, String)],
    body: &[u8],
    calls: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(targets.len() + 1));
    let mut tasks = Vec::new();
    for (url, token) in targets {
        let http = reqwest::Client::new();
        let (barrier, url, token, body) =
            (barrier.clone(), url.clone(), token.clone(), body.to_vec());
        tasks.push(tokio::spawn(async move {
            let search = || {
                http.post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
            };
            search().await?.error_for_status()?.bytes().await?;
            barrier.wait().await;
            let mut s = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = Instant::now();
                search().await?.error_for_status()?.bytes().await?;
                s.push(t.elapsed());
            }
            anyhow::Ok(s)
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, started.elapsed()))
}

#[derive(Serialize)]
struct BlobFigures {
    store: &'static str,
    mib: usize,
    upload_mib_s: f64,
    download_mib_s: f64,
}

#[derive(Serialize)]
struct BlobsReport {
    machine: Machine,
    results: Vec<BlobFigures>,
}

async fn blobs(a: BlobsArgs) -> anyhow::Result<()> {
    let out = Out::new(a.json);
    let machine = Machine::describe();
    out.say(machine.line());
    let dir = tempfile::tempdir()?;
    let local: Arc<dyn BlobStore> = Arc::new(medshare_blob::LocalBlobStore::open(
        dir.path().join("blobs"),
    )?);
    let s3 = medshare_testsvc::S3Server::start();
    let bucket = s3.create_bucket("bench");
    let s3_store: Arc<dyn BlobStore> = Arc::new(medshare_blob::S3BlobStore::open(
        &medshare_blob::S3Settings {
            endpoint: s3.endpoint().into(),
            bucket,
            region: "us-east-1".into(),
            prefix: String::new(),
            access_key_id: s3.access_key().into(),
            secret_access_key: s3.secret_key().into(),
            allow_http: true,
            path_style: true,
            ..Default::default()
        },
    )?);
    let chunk = bytes::Bytes::from(vec![0x5au8; 1 << 20]);
    let mut results = Vec::new();
    for (name, store) in [("folder", &local), ("s3 (s3s-fs)", &s3_store)] {
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for _ in 0..a.rounds {
            let (s, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
            let body = futures::stream::iter((0..a.mib).map({
                let c = chunk.clone();
                move |_| Ok(c.clone())
            }))
            .boxed();
            let t = Instant::now();
            store.stage(s, body, u64::MAX).await?;
            store.promote(s, b).await?;
            up.push(mib_per_s((a.mib as u64) << 20, t.elapsed()));
            let t = Instant::now();
            let mut read = store.get(b, None).await?.body;
            let mut n = 0u64;
            while let Some(c) = read.next().await {
                n += c?.len() as u64;
            }
            ensure!(n == (a.mib as u64) << 20, "short read");
            down.push(mib_per_s(n, t.elapsed()));
            store.delete(b).await?;
        }
        let f = BlobFigures {
            store: name,
            mib: a.mib,
            upload_mib_s: crate::report::median(&up),
            download_mib_s: crate::report::median(&down),
        };
        out.say(format!(
            "{name}: {} MiB blobs, upload {:.0} MiB/s, download {:.0} MiB/s (median of {})",
            a.mib, f.upload_mib_s, f.download_mib_s, a.rounds
        ));
        results.push(f);
    }
    out.record(&BlobsReport { machine, results })
        .context("report")
}
