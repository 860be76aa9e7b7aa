//! Faults from outside the hub, against a real hub on a loopback port: the PostgreSQL server
//! restarted (crash-stopped) under load.

mod common;

use common::*;
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
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
