//! The hub's operating defaults, against a real hub on a loopback port: Prometheus metrics by
//! route template (never an id), graceful shutdown bounded by its grace period, stalled upload
//! bodies cut off, and the retention job deleting what has expired on its schedule.

mod common;

use common::*;
use medshare_model::{DocumentId, UploadId};
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_template_and_never_carry_ids() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    c.metrics.token = "scrape-secret-for-tests".into();
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let doc = DocumentId::new();
    let r = http()
        .get(format!("{}/v1/documents/{doc}", hub.url))
        .bearer_auth(token(&chan))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    assert_eq!(
        http()
            .get(format!("{}/metrics", hub.url))
            .send()
            .await?
            .status(),
        401,
        "no token, no metrics"
    );
    assert_eq!(
        http()
            .get(format!("{}/metrics", hub.url))
            .bearer_auth("wrong")
            .send()
            .await?
            .status(),
        401
    );
    let r = http()
        .get(format!("{}/metrics", hub.url))
        .bearer_auth("scrape-secret-for-tests")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let text = r.text().await?;
    assert!(
        text.contains(
            r#"medshare_http_requests_total{method="GET",route="/v1/documents/{id}",status="404"}"#
        ),
        "{text}"
    );
    assert!(text.contains("medshare_http_request_duration_seconds_bucket"));
    assert!(text.contains("medshare_audit_append_seconds_count"));
    assert!(text.contains(r#"medshare_queue_depth{kind="staged_uploads"}"#));
    assert!(text.contains(r#"medshare_queue_depth{kind="patient_notices"}"#));
    assert!(!text.contains(&doc.to_string()), "no identifier in a label");
    assert!(!text.contains("dr.chan"), "no handle in a label");
    hub.stop().await?;

    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    assert_eq!(
        http()
            .get(format!("{}/metrics", hub.url))
            .send()
            .await?
            .status(),
        404,
        "off until a token is configured"
    );
    hub.stop().await
}

/// A request the client never finishes sending holds a connection open; shutdown waits for
/// it at most `limits.shutdown_grace_secs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_within_its_grace_period() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    c.limits.shutdown_grace_secs = 1;
    c.limits.request_timeout_secs = 300;
    let hub = TestHub::start(c).await?;
    let mut stalled = tokio::net::TcpStream::connect(hub.addr).await?;
    stalled
        .write_all(
            b"POST /v1/auth/prelogin HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"handle\":",
        )
        .await?;
    // A request that completes before shutdown is answered as usual.
    assert_eq!(
        http()
            .get(format!("{}/health", hub.url))
            .send()
            .await?
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(20), hub.stop())
        .await
        .expect("shutdown is bounded by the grace period")?;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "waited {took:?} for the stalled request"
    );
    Ok(())
}

/// An upload whose body stops arriving is cut off after `limits.body_stall_secs`, its
/// staging slot freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_body_is_cut_off() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    c.limits.body_stall_secs = 1;
    c.limits.max_staged_uploads = 1;
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let t = token(&chan);
    let mut s = tokio::net::TcpStream::connect(hub.addr).await?;
    let head = format!(
        "PUT /v1/uploads/{} HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {t}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n",
        UploadId::new()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(&[7u8; 4096]).await?;
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut answer))
        .await
        .expect("the hub answers a stalled body")?;
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("stalled"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The slot is free again: a whole upload is accepted.
    let r = http()
        .put(format!("{}/v1/uploads/{}", hub.url, UploadId::new()))
        .bearer_auth(&t)
        .body(vec![1u8; 1000])
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    hub.stop().await
}

/// Sessions past their expiry (and the retention after it) are deleted by the scheduled job;
/// live ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_expired_sessions_on_its_schedule() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    c.retention.every_secs = 1;
    c.retention.sessions_after_expiry_secs = 60;
    let session_ttl = c.auth.session_ttl_secs;
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let _chan = world.login("dr.chan").await?;
    let url = format!("sqlite://{}", dir.path().join("medshare.db").display());
    let db = sqlx::SqlitePool::connect(&url).await?;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    let before = count().await;
    assert!(before > 0);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(count().await, before, "nothing expired yet");
    hub.clock.advance(session_ttl + 61);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count().await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expired sessions were not purged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    hub.stop().await
}

/// Closed consults and settled channel notifications are deleted by the retention job once
/// their retention has passed; open consults and waiting notifications stay; the metrics show
/// the outbox depth, deliveries by channel kind and result, and the purge, with no ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_closed_consults_and_settled_notifications() -> anyhow::Result<()> {
    use medshare_client::consults::{ConsultRequest, Recipient};
    use medshare_model::consults::ChannelKind;
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    c.retention.every_secs = 1;
    c.retention.consults_secs = 7 * 24 * 3600;
    c.retention.notifications_secs = 24 * 3600;
    c.notify.poll_ms = 100;
    c.metrics.token = "scrape-secret-for-tests".into();
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    // A receiver that accepts every notification.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let recv = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
        axum::serve(listener, app).await
    });
    wong.add_notify_channel(ChannelKind::Webhook, &recv, None)
        .await?;
    let (_, hkid) = random_hkid();
    let p = chan
        .ensure_patient(&hkid, &medshare_model::records::PatientCard::default())
        .await?;
    let ask = |q: &str| ConsultRequest {
        to: "dr.wong".parse::<Recipient>().expect("recipient"),
        question: q.into(),
        documents: Vec::new(),
        ack_within_secs: 6 * 24 * 3600,
        urgent: true,
    };
    let closed = chan.request_consult(&p, &ask("first")).await?;
    wong.ack_consult(closed.consult_id).await?;
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("medshare.db").display()
    ))
    .await?;
    let count = |q: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(q)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let settled = "SELECT COUNT(*) FROM notify_outbox WHERE delivered_at IS NOT NULL";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while count(settled).await < 1 {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("not delivered: {:?}", wong.notify_channels().await?);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let of_closed = || {
        let db = db.clone();
        let key = format!("consult:{}:%", closed.consult_id);
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notify_outbox WHERE dedupe LIKE ?")
                .bind(key)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(of_closed().await, 1);
    // Eight days on: the acknowledged consult and the delivered notifications are past their
    // retention; a consult asked now stays open, and so does its row.
    hub.clock.advance(8 * 24 * 3600);
    // (Sessions expired meanwhile: sign in again.)
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    let open = chan.request_consult(&p, &ask("second")).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count("SELECT COUNT(*) FROM consults").await > 1 || of_closed().await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "closed consults and settled notifications were not purged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM consults")
        .fetch_all(&db)
        .await?;
    assert_eq!(ids, vec![open.consult_id.to_string()]);
    assert_eq!(
        count("SELECT COUNT(*) FROM consult_steps").await,
        1,
        "only the open consult's request"
    );
    let consults = wong.consults().await?;
    assert_eq!(consults.len(), 1);
    assert_eq!(consults[0].consult_id, open.consult_id);

    let text = http()
        .get(format!("{}/metrics", hub.url))
        .bearer_auth("scrape-secret-for-tests")
        .send()
        .await?
        .text()
        .await?;
    for want in [
        "medshare_queue_depth{kind=\"notifications\"}",
        "medshare_notify_deliveries_total{kind=\"webhook\",result=\"delivered\"}",
        "medshare_retention_purged_total{kind=\"consults\"}",
        "medshare_retention_purged_total{kind=\"notifications\"}",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    for id in [
        closed.consult_id.to_string(),
        open.consult_id.to_string(),
        p.id().to_string(),
        world.id("dr.wong").to_string(),
    ] {
        assert!(!text.contains(&id), "an id in the metrics");
    }
    hub.stop().await
}
