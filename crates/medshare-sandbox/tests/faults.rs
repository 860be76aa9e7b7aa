//! Faults from outside the hub, against a real hub on a loopback port: the PostgreSQL server
//! restarted (crash-stopped) under load; the S3 server failing, cutting responses and slow
//! (through a fault-injecting proxy).

mod common;

use common::*;
use medshare_model::ErrorCode;
use medshare_sandbox::{Backend, TestHub, World, sandbox_config, story_cast};
use medshare_testsvc::{Fault, FaultProxy};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Readers keep calling while PostgreSQL is stopped with `-m immediate` and started again:
/// during the outage every request is answered, with 503, within the pool's acquire time-out
/// (never a hang, never a 500); afterwards the hub reconnects by itself, and everything
/// acknowledged before the outage is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_gives_503_then_recovers() -> anyhow::Result<()> {
    let pg = Arc::new(medshare_testsvc::PgCluster::start());
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    c.database_url = pg.fresh_database("faults");
    c.database.acquire_timeout_secs = 2;
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let t = token(&chan);
    let me = || async {
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(20),
            http()
                .get(format!("{}/v1/me", hub.url))
                .bearer_auth(&t)
                .send(),
        )
        .await
        .expect("a request during the outage is answered, not left hanging");
        (
            r.map(|r| r.status().as_u16()).unwrap_or(0),
            started.elapsed(),
        )
    };
    assert_eq!(me().await.0, 200);

    // Load: four readers for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (url, t, stop) = (hub.url.clone(), t.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let r = http()
                    .get(format!("{url}/v1/me"))
                    .bearer_auth(&t)
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await;
                seen.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.stop_server()).await?;
    for _ in 0..3 {
        let (status, took) = me().await;
        assert_eq!(status, 503, "a clear 503 while the database is down");
        assert!(took < Duration::from_secs(8), "answered in {took:?}");
    }
    let ready = http().get(format!("{}/ready", hub.url)).send().await?;
    assert_eq!(ready.status(), 503, "not ready without its database");

    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.start_server()).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if me().await.0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the hub did not reconnect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        http()
            .get(format!("{}/ready", hub.url))
            .send()
            .await?
            .status(),
        200
    );
    stop.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    for r in readers {
        all.extend(r.await?);
    }
    assert!(
        all.iter().all(|s| *s == 200 || *s == 503),
        "only 200 or 503 under the outage, got {:?}",
        all.iter()
            .filter(|s| **s != 200 && **s != 503)
            .collect::<Vec<_>>()
    );
    assert!(all.contains(&503) && all.contains(&200));
    // What was acknowledged before the outage survived: the cast's enrolments and keys (they
    // log in again with them).
    for handle in ["dr.chan", "dr.wong"] {
        world.login(handle).await?;
    }
    hub.stop().await
}

/// The hub's bucket behind a proxy that fails, cuts and delays: an upload while S3 answers
/// only server errors gets a clear 503 within the retry time-out and leaves no document and
/// no staged object; once S3 answers again uploads work; a download whose S3 response is cut
/// off mid-body still arrives whole (the hub's read resumes by Range on the same version);
/// a slow S3 only slows things down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_cuts_and_slowness_lose_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = Backend::PostgresS3.config(dir.path());
    let proxy = FaultProxy::start(&c.blobs.s3.endpoint);
    c.blobs.s3.endpoint = proxy.endpoint();
    c.blobs.s3.retry_timeout_secs = Some(4);
    let bucket = c.blobs.s3.bucket.clone();
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let patient = chan
        .ensure_patient(&hkid, &medshare_model::records::PatientCard::default())
        .await?;
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let upload = |title: &'static str| {
        let (chan, patient, bytes) = (&chan, &patient, bytes.clone());
        async move {
            chan.upload(
                std::io::Cursor::new(bytes),
                patient,
                meta(title, "scan.pdf"),
                &[],
                |_| {},
            )
            .await
        }
    };

    // S3 down: a clear 503, promptly, and nothing recorded.
    proxy.inject(Fault::ServerError, usize::MAX);
    let started = Instant::now();
    assert_api(
        upload("during the outage").await,
        ErrorCode::Unavailable,
        "upload",
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the upload was answered only after {:?}",
        started.elapsed()
    );
    proxy.clear();
    assert!(chan.timeline(&hkid).await?.entries.is_empty());

    // S3 back: uploads work; the first one meets two server errors and is retried.
    proxy.inject(Fault::ServerError, 2);
    let doc = upload("after the outage").await?;
    let t = chan.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 1, "only the acknowledged upload is listed");

    // A download whose S3 responses are cut off arrives whole.
    proxy.inject(Fault::CutResponseAfter(400_000), 2);
    let opened = chan.open_document(doc.document_id).await?;
    assert!(download_vec(&chan, &opened).await? == bytes);
    // Slow S3: slower, still whole.
    proxy.inject(Fault::Delay(Duration::from_millis(10)), usize::MAX);
    assert!(download_vec(&chan, &opened).await? == bytes);
    proxy.clear();
    assert!(proxy.faulted() >= 4, "faults were not exercised");
    // Nothing staged was left behind by the failed upload.
    let store = medshare_blob::S3BlobStore::open(&medshare_blob::S3Settings {
        endpoint: medshare_sandbox::services().s3.endpoint().to_string(),
        bucket,
        region: "us-east-1".into(),
        prefix: "medshare".into(),
        access_key_id: medshare_sandbox::services().s3.access_key().into(),
        secret_access_key: medshare_sandbox::services().s3.secret_key().into(),
        allow_http: true,
        path_style: true,
        ..Default::default()
    })?;
    use medshare_blob::BlobStore;
    assert_eq!(store.sweep_staging(Duration::ZERO).await?, 0);
    assert_eq!(store.list().await?.len(), 1);
    hub.stop().await
}
