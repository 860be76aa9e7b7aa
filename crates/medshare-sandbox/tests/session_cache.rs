//! The hub's session cache never admits what it should refuse: on one hub, a session used a
//! moment ago (so cached) stops working at the next request after logout or removal, and a
//! revoked share at once; with two replicas of one PostgreSQL database, a session revoked or a
//! member removed through replica B is refused by replica A within `auth.session_cache_ms`.

mod common;

use common::{http, meta, random_hkid, second_replica, share_with, token};
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use std::io::Cursor;
use std::time::{Duration, Instant};

/// `GET /v1/me` with a token, through `hub_url`: the HTTP status.
async fn me(hub_url: &str, token: &str) -> anyhow::Result<u16> {
    let r = http()
        .get(format!("{hub_url}/v1/me"))
        .bearer_auth(token)
        .send()
        .await?;
    Ok(r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_take_effect_at_once_on_one_hub() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Backend::SqliteFolder.config(dir.path());
    // Far longer than the test: only invalidation can make these pass.
    config.auth.session_cache_ms = 600_000;
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;

    // Logout: the session was just used twice (cached); the next use is refused.
    let wong = world.login("dr.wong").await?;
    let t = token(&wong);
    assert_eq!(
        (me(&hub.url, &t).await?, me(&hub.url, &t).await?),
        (200, 200)
    );
    wong.logout().await?;
    assert_eq!(
        me(&hub.url, &t).await?,
        401,
        "a logged-out session still works"
    );

    // Removal: the member's cached session is refused at the next request.
    let admin = world.login("admin.hvc").await?;
    let lam = world.login("dt.lam").await?;
    let t = token(&lam);
    assert_eq!(me(&hub.url, &t).await?, 200);
    admin.remove_member(world.id("dt.lam")).await?;
    assert_eq!(
        me(&hub.url, &t).await?,
        401,
        "a removed member's session still works"
    );

    // A revoked share: readable on one view, gone on the next.
    let chan = world.login("dr.chan").await?;
    let ho = world.login("dr.ho").await?;
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    let doc = chan
        .upload(
            Cursor::new(b"%PDF-1.7 shared report".to_vec()),
            &patient,
            meta("Shared", "s.pdf"),
            &[share_with("dr.ho", None)],
            |_| {},
        )
        .await?
        .document_id;
    let seen = ho.timeline(&hkid).await?;
    assert!(seen.entries.iter().any(|e| e.document_id == doc));
    chan.revoke(doc, &"dr.ho".parse().expect("valid handle"))
        .await?;
    let after = ho.timeline(&hkid).await;
    assert!(
        after.is_err() || after?.entries.iter().all(|e| e.document_id != doc),
        "a revoked share is still readable"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_sees_revocations_within_the_bound() -> anyhow::Result<()> {
    const BOUND_MS: u64 = 700;
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut config_a = Backend::PostgresS3.config(dir_a.path());
    config_a.auth.session_cache_ms = BOUND_MS;
    let config_b = second_replica(&mut config_a, dir_a.path(), dir_b.path());
    let a = TestHub::start(config_a).await?;
    let b = TestHub::start(config_b).await?;
    let world = World::build(&a, &story_cast()).await?;

    // Refused by A no later than the bound after the change on B (with a margin for a
    // request's own time on a loaded machine), and from then on.
    async fn refused_within(url: &str, t: &str, since: Instant) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(BOUND_MS).saturating_sub(since.elapsed())).await;
        for _ in 0..3 {
            assert_eq!(me(url, t).await?, 401, "still admitted after the bound");
        }
        Ok(())
    }

    // Logout through B of a session in use on A.
    let wong = world.login_at(&a.url, "dr.wong").await?;
    let t = token(&wong);
    assert_eq!(me(&a.url, &t).await?, 200);
    let r = http()
        .post(format!("{}/v1/auth/logout", b.url))
        .bearer_auth(&t)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 204);
    refused_within(&a.url, &t, Instant::now()).await?;

    // A member removed through B while their session is in use on A.
    let admin_on_b = world.login_at(&b.url, "admin.hvc").await?;
    let lam = world.login_at(&a.url, "dt.lam").await?;
    let t = token(&lam);
    assert_eq!(me(&a.url, &t).await?, 200);
    admin_on_b.remove_member(world.id("dt.lam")).await?;
    refused_within(&a.url, &t, Instant::now()).await?;
    Ok(())
}
