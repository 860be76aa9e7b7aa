//! The hub's cache of encoded search pages never answers what a fresh search would not: on one
//! hub whose cache bound is far longer than the test (so only invalidation and the grant-expiry
//! bound can pass), the same raw `POST /v1/search` repeated (the second answer from the cache)
//! changes at once after an upload, a new share, a revocation and a grant's expiry, and every
//! call, hit or miss, leaves its entry in the access log.

mod common;

use common::{http, meta, random_hkid, share_with, token};
use medshare_client::Client;
use medshare_model::DocumentId;
use medshare_model::api::{SearchRequest, SearchResult};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use std::collections::BTreeSet;
use std::io::Cursor;

/// The raw bytes of a first-page search, and the document ids they list.
async fn search(
    hub: &TestHub,
    c: &Client,
    hkid: &PatientIdentifier,
) -> anyhow::Result<(Vec<u8>, BTreeSet<DocumentId>)> {
    let patient_ref = c.context().await?.patient_ref(hkid);
    let r = http()
        .post(format!("{}/v1/search", hub.url))
        .bearer_auth(token(c))
        .json(&SearchRequest::first(patient_ref))
        .send()
        .await?
        .error_for_status()?;
    assert_eq!(r.headers()["content-type"], "application/json");
    let body = r.bytes().await?.to_vec();
    let result: SearchResult = serde_json::from_slice(&body)?;
    let ids = result
        .documents
        .iter()
        .map(|d| {
            let b: medshare_model::statements::DocumentBinding =
                serde_json::from_str(&d.binding).expect("binding");
            b.document_id
        })
        .collect();
    Ok((body, ids))
}

async fn upload(
    c: &Client,
    p: &medshare_client::Patient,
    title: &str,
    shares: &[medshare_client::Share],
) -> anyhow::Result<DocumentId> {
    Ok(c.upload(
        Cursor::new(format!("%PDF-1.7 {title}").into_bytes()),
        p,
        meta(title, "r.pdf"),
        shares,
        |_| {},
    )
    .await?
    .document_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_changes_the_next_search_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Backend::SqliteFolder.config(dir.path());
    let db_url = config.database_url();
    config.auth.policy_cache_ms = 600_000;
    config.auth.session_cache_ms = 600_000;
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let (chan, ho) = (world.login("dr.chan").await?, world.login("dr.ho").await?);
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let first = upload(&chan, &patient, "First", &[share_with("dr.ho", Some(soon))]).await?;

    // The same search twice: the second answer is the first's bytes.
    let (a, ids) = search(&hub, &ho, &hkid).await?;
    assert_eq!(ids, BTreeSet::from([first]));
    let (b, _) = search(&hub, &ho, &hkid).await?;
    assert_eq!(a, b, "an unchanged timeline answers the same");
    // Another patient's write leaves this page cached (and this page unchanged).
    let (_, other_hkid) = random_hkid();
    let other = chan
        .ensure_patient(&other_hkid, &PatientCard::default())
        .await?;
    upload(&chan, &other, "Elsewhere", &[share_with("dr.ho", None)]).await?;
    assert_eq!(search(&hub, &ho, &hkid).await?.0, a);

    // An upload shared with him: listed at once.
    let second = upload(&chan, &patient, "Second", &[share_with("dr.ho", None)]).await?;
    let (_, ids) = search(&hub, &ho, &hkid).await?;
    assert_eq!(
        ids,
        BTreeSet::from([first, second]),
        "an upload is not listed"
    );
    // An upload not shared, then shared: listed at once.
    let third = upload(&chan, &patient, "Third", &[]).await?;
    assert_eq!(
        search(&hub, &ho, &hkid).await?.1,
        BTreeSet::from([first, second])
    );
    chan.share(third, &share_with("dr.ho", None)).await?;
    assert_eq!(
        search(&hub, &ho, &hkid).await?.1,
        BTreeSet::from([first, second, third]),
        "a new share is not listed"
    );
    // Revoked: gone at once.
    chan.revoke(second, &"dr.ho".parse().expect("valid handle"))
        .await?;
    assert_eq!(
        search(&hub, &ho, &hkid).await?.1,
        BTreeSet::from([first, third]),
        "a revoked share is still listed"
    );
    // The first share expires (no write at all): gone at once.
    search(&hub, &ho, &hkid).await?;
    hub.clock.advance(3601);
    assert_eq!(
        search(&hub, &ho, &hkid).await?.1,
        BTreeSet::from([third]),
        "an expired share is still listed"
    );

    // Every search was logged, hits included: 9 by dr.ho on this patient, each allowed.
    let me = Some(ho.save().practitioner_id);
    let searches = medshare_store::open(&db_url)
        .await?
        .audit_entries(0, 1_000_000)
        .await?
        .into_iter()
        .filter(|l| {
            let e = &l.entry;
            e.action == "patient.search"
                && e.actor == me
                && e.patient == Some(patient.id())
                && e.outcome == "allowed"
        })
        .count();
    assert_eq!(searches, 9, "a cached answer skipped its access-log entry");
    hub.stop().await
}
