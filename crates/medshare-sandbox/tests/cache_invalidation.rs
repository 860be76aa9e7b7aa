//! A revocation on one replica takes effect on every replica at once: two replicas of one
//! PostgreSQL database, both caches' age bounds set far longer than the test (so only the
//! cross-replica invalidation feed can explain a refusal), and a change made through replica A
//! is refused by replica B within a short deadline: a revoked share, a logout, a removed member.
//! When B's feed connection is terminated (`pg_terminate_backend`), B stops serving cached
//! decisions (it reads the store), and once the feed is back B caches again and follows it.

mod common;

use common::{http, meta, random_hkid, second_replica, share_with, token};
use medshare_client::Client;
use medshare_model::records::PatientCard;
use medshare_model::{DocumentId, PractitionerId};
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use sqlx::Connection;
use std::io::Cursor;
use std::time::{Duration, Instant};

/// How long a replica may take to hear of a change (the feed takes milliseconds; the margin
/// is for a loaded machine). The caches' own bound is ten minutes.
const DEADLINE: Duration = Duration::from_secs(2);

/// The HTTP status of `GET path` with `token` at `hub_url`.
async fn status(hub_url: &str, token: &str, path: &str) -> anyhow::Result<u16> {
    let r = http()
        .get(format!("{hub_url}{path}"))
        .bearer_auth(token)
        .send()
        .await?;
    Ok(r.status().as_u16())
}

/// Ask until the answer is `want` or the deadline passes; the last answer.
async fn until(
    want: u16,
    mut ask: impl AsyncFnMut() -> anyhow::Result<u16>,
) -> anyhow::Result<u16> {
    let start = Instant::now();
    loop {
        let got = ask().await?;
        if got == want || start.elapsed() > DEADLINE {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn two_replicas() -> anyhow::Result<(TestHub, TestHub, String, [tempfile::TempDir; 2])> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut config_a = Backend::PostgresS3.config(dir_a.path());
    config_a.auth.policy_cache_ms = 600_000;
    config_a.auth.session_cache_ms = 600_000;
    let config_b = second_replica(&mut config_a, dir_a.path(), dir_b.path());
    let db = config_a.database_url();
    let a = TestHub::start(config_a).await?;
    let b = TestHub::start(config_b).await?;
    Ok((a, b, db, [dir_a, dir_b]))
}

/// A document of dr.chan's new patient, shared with dr.ho (KPH: no consent, only the share
/// lets him read).
async fn shared_doc(chan: &Client) -> anyhow::Result<DocumentId> {
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    Ok(chan
        .upload(
            Cursor::new(b"%PDF-1.7 echocardiogram".to_vec()),
            &patient,
            meta("Echo", "echo.pdf"),
            &[share_with("dr.ho", None)],
            |_| {},
        )
        .await?
        .document_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_replica_are_refused_on_the_other_at_once() -> anyhow::Result<()> {
    let (a, b, _db, _dirs) = two_replicas().await?;
    let world = World::build(&a, &story_cast()).await?;
    let chan_on_a = world.login_at(&a.url, "dr.chan").await?;
    let ho_on_b = world.login_at(&b.url, "dr.ho").await?;
    let doc = shared_doc(&chan_on_a).await?;

    // A share read through B (its policy inputs and the session cached there), revoked
    // through A.
    let (ho, path) = (token(&ho_on_b), format!("/v1/documents/{doc}"));
    assert_eq!(status(&b.url, &ho, &path).await?, 200);
    assert_eq!(status(&b.url, &ho, &path).await?, 200);
    chan_on_a
        .revoke(doc, &"dr.ho".parse().expect("valid handle"))
        .await?;
    assert_eq!(
        until(403, async || status(&b.url, &ho, &path).await).await?,
        403,
        "a share revoked on A still reads on B"
    );

    // Logout through A of a session in use on B.
    let wong = world.login_at(&b.url, "dr.wong").await?;
    let t = token(&wong);
    assert_eq!(status(&b.url, &t, "/v1/me").await?, 200);
    assert_eq!(status(&b.url, &t, "/v1/me").await?, 200);
    let r = http()
        .post(format!("{}/v1/auth/logout", a.url))
        .bearer_auth(&t)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        until(401, async || status(&b.url, &t, "/v1/me").await).await?,
        401,
        "a session ended on A still works on B"
    );

    // A member removed through A while their session is in use on B.
    let admin_on_a = world.login_at(&a.url, "admin.hvc").await?;
    let lam = world.login_at(&b.url, "dt.lam").await?;
    let t = token(&lam);
    assert_eq!(status(&b.url, &t, "/v1/me").await?, 200);
    assert_eq!(status(&b.url, &t, "/v1/me").await?, 200);
    admin_on_a.remove_member(world.id("dt.lam")).await?;
    assert_eq!(
        until(401, async || status(&b.url, &t, "/v1/me").await).await?,
        401,
        "a member removed on A still works on B"
    );
    a.stop().await?;
    b.stop().await
}

/// Revoke (`Some(at)`) or restore (`None`) a grant straight in the database: no hub announces it.
async fn set_revoked(
    db: &mut sqlx::PgConnection,
    doc: DocumentId,
    grantee: PractitionerId,
    at: Option<i64>,
) -> anyhow::Result<()> {
    let n =
        sqlx::query("UPDATE grants SET revoked_at = $1 WHERE document_id = $2 AND grantee = $3")
            .bind(at)
            .bind(doc.to_string())
            .bind(grantee.to_string())
            .execute(&mut *db)
            .await?
            .rows_affected();
    anyhow::ensure!(n == 1, "grant not found");
    Ok(())
}

/// Backends of this database listening on the invalidation feed.
async fn listeners(db: &mut sqlx::PgConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %medshare_invalidations%'",
    )
    .fetch_one(&mut *db)
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_feed_turns_the_caches_off_until_it_is_back() -> anyhow::Result<()> {
    let (a, b, db_url, _dirs) = two_replicas().await?;
    let mut db = sqlx::PgConnection::connect(&db_url).await?;
    let world = World::build(&a, &story_cast()).await?;
    let chan_on_a = world.login_at(&a.url, "dr.chan").await?;
    let ho_on_b = world.login_at(&b.url, "dr.ho").await?;
    let doc = shared_doc(&chan_on_a).await?;
    let (ho, path, ho_id) = (
        token(&ho_on_b),
        format!("/v1/documents/{doc}"),
        world.id("dr.ho"),
    );
    assert_eq!(
        listeners(&mut db).await?,
        2,
        "one feed listener per replica"
    );

    // Read through B (cached), then revoked behind every hub's back: B answers from its cache,
    // so what follows can fail.
    assert_eq!(status(&b.url, &ho, &path).await?, 200);
    set_revoked(&mut db, doc, ho_id, Some(1)).await?;
    assert_eq!(
        status(&b.url, &ho, &path).await?,
        200,
        "not served from the cache"
    );

    // The feed's connections are terminated: B no longer trusts its cache and reads the store.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND query LIKE 'LISTEN %medshare_invalidations%'",
    )
    .fetch_all(&mut db)
    .await?;
    assert_eq!(killed, [true, true]);
    assert_eq!(
        until(403, async || status(&b.url, &ho, &path).await).await?,
        403,
        "a cached decision served while the feed was lost"
    );

    // The feed comes back, and with it the cache: a decision read now is cached again (a
    // change behind every hub's back is not seen) ...
    let start = Instant::now();
    while listeners(&mut db).await? < 2 {
        anyhow::ensure!(start.elapsed() < 4 * DEADLINE, "the feed did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    loop {
        assert_eq!(status(&b.url, &ho, &path).await?, 403);
        set_revoked(&mut db, doc, ho_id, None).await?;
        if status(&b.url, &ho, &path).await? == 403 {
            break;
        }
        // Read before the cache was back on: again.
        anyhow::ensure!(start.elapsed() < DEADLINE, "the cache did not come back");
        set_revoked(&mut db, doc, ho_id, Some(1)).await?;
    }
    // ... and the feed is followed again: a share through A is honoured by B at once.
    chan_on_a.share(doc, &share_with("dr.ho", None)).await?;
    assert_eq!(
        until(200, async || status(&b.url, &ho, &path).await).await?,
        200,
        "a share made on A after the feed came back is not honoured on B"
    );
    db.close().await?;
    a.stop().await?;
    b.stop().await
}
