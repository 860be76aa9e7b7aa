//! The hub's policy cache never admits what it should refuse: on one hub (cache bound far longer
//! than the test, so only invalidation can pass), a document read a moment ago (its policy
//! inputs cached) is refused at the next request after its share is revoked or the consent it
//! was read under is withdrawn, and a new share or consent works at once; with two replicas of
//! one PostgreSQL database, the same changes made through replica B are honoured by replica A
//! within `auth.policy_cache_ms`.

mod common;

use common::{http, meta, random_hkid, second_replica, share_with, token};
use medshare_client::{Client, ConsentTarget};
use medshare_model::DocumentId;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use std::io::Cursor;
use std::time::{Duration, Instant};

/// The HTTP status of a document's metadata and of its bytes (both through the access policy).
async fn reads(hub_url: &str, client: &Client, doc: DocumentId) -> anyhow::Result<(u16, u16)> {
    let t = token(client);
    let mut out = [0u16; 2];
    for (i, path) in [
        format!("/v1/documents/{doc}"),
        format!("/v1/documents/{doc}/content"),
    ]
    .iter()
    .enumerate()
    {
        let r = http()
            .get(format!("{hub_url}{path}"))
            .bearer_auth(&t)
            .send()
            .await?;
        out[i] = r.status().as_u16();
    }
    Ok((out[0], out[1]))
}

const OK: (u16, u16) = (200, 200);
const REFUSED: (u16, u16) = (403, 403);

/// A patient of dr.chan (HVC) with one document shared with dr.ho (KPH: no consent, so only
/// the share lets him read) and one not shared, read by dr.wong (PPH) under a consent for PPH
/// and his declared care relationship.
struct Scene {
    hkid: PatientIdentifier,
    patient: medshare_client::Patient,
    shared: DocumentId,
    unshared: DocumentId,
}

async fn scene(world: &World, chan: &Client, wong: &Client) -> anyhow::Result<Scene> {
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    let mut ids = Vec::new();
    for (title, shares) in [
        ("Shared", vec![share_with("dr.ho", None)]),
        ("Unshared", vec![]),
    ] {
        let id = chan
            .upload(
                Cursor::new(format!("%PDF-1.7 {title}").into_bytes()),
                &patient,
                meta(title, "r.pdf"),
                &shares,
                |_| {},
            )
            .await?
            .document_id;
        ids.push(id);
    }
    let (shared, unshared) = (ids[0], ids[1]);
    chan.grant_consent(
        &patient,
        &ConsentTarget::Institution(world.institutions["PPH"]),
    )
    .await?;
    let p_wong = wong.find_patient(&hkid).await?.expect("registered");
    wong.declare_care(&p_wong, None).await?;
    // The consent and care declarations gave the patient new epochs: re-read.
    let patient = chan.find_patient(&hkid).await?.expect("registered");
    Ok(Scene {
        hkid,
        patient,
        shared,
        unshared,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_take_effect_at_once_on_one_hub() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Backend::SqliteFolder.config(dir.path());
    // Far longer than the test: only invalidation can make these pass.
    config.auth.policy_cache_ms = 600_000;
    config.auth.session_cache_ms = 600_000;
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let (chan, ho, wong) = (
        world.login("dr.chan").await?,
        world.login("dr.ho").await?,
        world.login("dr.wong").await?,
    );
    let s = scene(&world, &chan, &wong).await?;
    let url = &hub.url;

    // Read twice (the second from the cache), then the share is revoked: refused at once, and
    // gone from his timeline.
    assert_eq!(reads(url, &ho, s.shared).await?, OK);
    assert_eq!(reads(url, &ho, s.shared).await?, OK);
    assert_eq!(reads(url, &ho, s.unshared).await?, REFUSED);
    assert!(
        ho.timeline(&s.hkid)
            .await?
            .entries
            .iter()
            .any(|e| e.document_id == s.shared)
    );
    chan.revoke(s.shared, &"dr.ho".parse().expect("valid handle"))
        .await?;
    assert_eq!(
        reads(url, &ho, s.shared).await?,
        REFUSED,
        "a revoked share still reads"
    );
    let after = ho.timeline(&s.hkid).await;
    assert!(
        after.is_err() || after?.entries.iter().all(|e| e.document_id != s.shared),
        "a revoked share is still listed"
    );
    // A new share (of the document he was refused a moment ago) works at once.
    chan.share(s.unshared, &share_with("dr.ho", None)).await?;
    assert_eq!(
        reads(url, &ho, s.unshared).await?,
        OK,
        "a new share is not honoured"
    );

    // Patient-wide access under consent and care, cached; then the consent is withdrawn.
    assert_eq!(reads(url, &wong, s.unshared).await?, OK);
    assert_eq!(reads(url, &wong, s.shared).await?, OK);
    assert_eq!(wong.timeline(&s.hkid).await?.entries.len(), 2);
    let pph = ConsentTarget::Institution(world.institutions["PPH"]);
    chan.revoke_consent(&s.patient, &pph).await?;
    assert_eq!(
        reads(url, &wong, s.unshared).await?,
        REFUSED,
        "a withdrawn consent still reads"
    );
    let after = wong.timeline(&s.hkid).await;
    assert!(
        after.is_err() || after?.entries.is_empty(),
        "a withdrawn consent still lists"
    );
    // Given again: honoured at once.
    let patient = chan.find_patient(&s.hkid).await?.expect("registered");
    chan.grant_consent(&patient, &pph).await?;
    assert_eq!(
        reads(url, &wong, s.unshared).await?,
        OK,
        "a new consent is not honoured"
    );
    hub.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_honours_changes_within_the_bound() -> anyhow::Result<()> {
    const BOUND_MS: u64 = 700;
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut config_a = Backend::PostgresS3.config(dir_a.path());
    config_a.auth.policy_cache_ms = BOUND_MS;
    let config_b = second_replica(&mut config_a, dir_a.path(), dir_b.path());
    let a = TestHub::start(config_a).await?;
    let b = TestHub::start(config_b).await?;
    let world = World::build(&a, &story_cast()).await?;
    let chan_on_b = world.login_at(&b.url, "dr.chan").await?;
    let ho_on_a = world.login_at(&a.url, "dr.ho").await?;
    let wong_on_a = world.login_at(&a.url, "dr.wong").await?;
    let s = scene(&world, &chan_on_b, &wong_on_a).await?;

    // Refused by A no later than the bound after the change on B (with a margin for a
    // request's own time on a loaded machine), and from then on.
    async fn refused_within(
        url: &str,
        c: &Client,
        doc: DocumentId,
        since: Instant,
    ) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(BOUND_MS).saturating_sub(since.elapsed())).await;
        for _ in 0..3 {
            assert_eq!(
                reads(url, c, doc).await?,
                REFUSED,
                "still admitted after the bound"
            );
        }
        Ok(())
    }

    // A share read through A (cached there), revoked through B.
    assert_eq!(reads(&a.url, &ho_on_a, s.shared).await?, OK);
    assert_eq!(reads(&a.url, &ho_on_a, s.shared).await?, OK);
    chan_on_b
        .revoke(s.shared, &"dr.ho".parse().expect("valid handle"))
        .await?;
    refused_within(&a.url, &ho_on_a, s.shared, Instant::now()).await?;

    // Patient-wide access read through A, the consent withdrawn through B.
    assert_eq!(reads(&a.url, &wong_on_a, s.unshared).await?, OK);
    assert_eq!(reads(&a.url, &wong_on_a, s.unshared).await?, OK);
    chan_on_b
        .revoke_consent(
            &s.patient,
            &ConsentTarget::Institution(world.institutions["PPH"]),
        )
        .await?;
    refused_within(&a.url, &wong_on_a, s.unshared, Instant::now()).await?;
    Ok(())
}
