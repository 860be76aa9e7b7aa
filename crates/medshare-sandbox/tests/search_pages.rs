//! `POST /v1/search` in pages: a cursor walks every readable document once, newest first, each
//! page carrying each uploader's certificates once; `since` sends only what became readable and
//! lists what is still readable, so a revoked share drops out of a client's view at once.

mod common;

use common::{http, meta, random_hkid, share_with, token};
use medshare_client::Client;
use medshare_model::DocumentId;
use medshare_model::api::{SearchRequest, SearchResult};
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use std::collections::BTreeSet;
use std::io::Cursor;

async fn post(hub: &TestHub, c: &Client, req: &SearchRequest) -> anyhow::Result<(u16, Vec<u8>)> {
    let r = http()
        .post(format!("{}/v1/search", hub.url))
        .bearer_auth(token(c))
        .json(req)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.bytes().await?.to_vec()))
}

async fn page(hub: &TestHub, c: &Client, req: &SearchRequest) -> anyhow::Result<SearchResult> {
    let (status, body) = post(hub, c, req).await?;
    anyhow::ensure!(status == 200, "search answered {status}");
    Ok(serde_json::from_slice(&body)?)
}

async fn upload(c: &Client, p: &medshare_client::Patient, n: usize) -> anyhow::Result<DocumentId> {
    let body = format!("%PDF-1.7 report {n}").into_bytes();
    let title = format!("Report {n}");
    Ok(
        c.upload(Cursor::new(body), p, meta(&title, "r.pdf"), &[], |_| {})
            .await?
            .document_id,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_since_and_removals() -> anyhow::Result<()> {
    pages_since_and_removals_on(Backend::SqliteFolder).await
}

/// The same walk on PostgreSQL: the store pages in SQL, so both dialects must agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_since_and_removals_postgres_s3() -> anyhow::Result<()> {
    pages_since_and_removals_on(Backend::PostgresS3).await
}

async fn pages_since_and_removals_on(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(backend.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    let mut ids = BTreeSet::new();
    for n in 0..7 {
        ids.insert(upload(&chan, &patient, n).await?);
    }
    // Times have one-second resolution: the views below come two seconds after the filing on
    // the hub's clock, so `since` tells them apart however fast the machine is.
    hub.clock.advance(2);
    let patient_ref = chan.context().await?.patient_ref(&hkid);

    // Pages of three: 3 + 3 + 1, every document once, newest first, the patient on the first
    // page only, the uploader's certificates once per page.
    let mut req = SearchRequest {
        limit: Some(3),
        ..SearchRequest::first(patient_ref.clone())
    };
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut last_at = i64::MAX;
    loop {
        let p = page(&hub, &chan, &req).await?;
        assert_eq!(
            p.patient.is_some(),
            req.cursor.is_none(),
            "patient on page 1 only"
        );
        assert!(p.current.is_none(), "no `current` without `since`");
        assert_eq!(p.practitioners.len(), 1, "one uploader, sent once");
        for e in &p.documents {
            assert_eq!(e.uploader, 0);
            assert!(e.created_at <= last_at, "newest first");
            last_at = e.created_at;
            let b: medshare_model::statements::DocumentBinding = serde_json::from_str(&e.binding)?;
            seen.push(b.document_id);
        }
        sizes.push(p.documents.len());
        match p.next {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), ids);

    // The client walks the pages itself and verifies everything.
    let t = chan.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 7);
    assert!(t.card.is_some());

    // Since that view: nothing new, every document still readable.
    let none = chan.timeline_changes(&hkid, &t.as_of).await?;
    assert!(
        none.entries.iter().all(|e| ids.contains(&e.document_id)),
        "only documents filed in the same second may come again"
    );
    assert_eq!(none.current.iter().copied().collect::<BTreeSet<_>>(), ids);

    // A document filed later comes, with the full list.
    hub.clock.advance(2);
    let newer = upload(&chan, &patient, 7).await?;
    ids.insert(newer);
    let changes = chan.timeline_changes(&hkid, &t.as_of).await?;
    assert!(changes.entries.iter().any(|e| e.document_id == newer));
    assert_eq!(changes.entries.len(), 1, "only what changed");
    assert_eq!(
        changes.current.iter().copied().collect::<BTreeSet<_>>(),
        ids
    );

    // A colleague with a share sees it; once revoked, the next view no longer lists it.
    chan.share(newer, &share_with("dr.wong", None)).await?;
    let before = wong.timeline(&hkid).await?;
    assert_eq!(
        before
            .entries
            .iter()
            .map(|e| e.document_id)
            .collect::<Vec<_>>(),
        [newer]
    );
    chan.revoke(newer, &share_with("dr.wong", None).with)
        .await?;
    let after = wong.timeline_changes(&hkid, &before.as_of).await?;
    assert!(after.entries.is_empty());
    assert!(after.current.is_empty(), "the revoked document is gone");
    assert!(wong.timeline(&hkid).await?.entries.is_empty());

    // Malformed cursors, `since` and page sizes are refused.
    for bad in [
        SearchRequest {
            cursor: Some("c1.x.y".into()),
            ..SearchRequest::first(patient_ref.clone())
        },
        SearchRequest {
            since: Some("yesterday".into()),
            ..SearchRequest::first(patient_ref.clone())
        },
        SearchRequest {
            limit: Some(0),
            ..SearchRequest::first(patient_ref.clone())
        },
        SearchRequest {
            limit: Some(SearchRequest::MAX_LIMIT + 1),
            ..SearchRequest::first(patient_ref.clone())
        },
    ] {
        assert_eq!(post(&hub, &chan, &bad).await?.0, 400, "{bad:?}");
    }
    Ok(())
}
