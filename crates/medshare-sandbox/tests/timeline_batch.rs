//! A timeline page's binding signatures are checked in one batch (`medshare_crypto::batch`):
//! against a real hub behind the hostile proxy, one bad signature among good ones still refuses
//! the page, whichever entry it is, and so do two valid signatures swapped between entries; the
//! same page served honestly is accepted. (Which entry failed is named by the crypto layer:
//! `batch.rs`'s unit tests.)

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use medshare_hostile::{HostileHub, Method};
use medshare_model::records::PatientCard;
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use std::io::Cursor;

const DOCUMENTS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_signature_among_good_ones_refuses_the_page() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let evil = HostileHub::start(&hub.url).await?;
    let chan = world.login_at(&evil.url, "dr.chan").await?;
    let (_, hkid) = random_hkid();
    let card = PatientCard {
        name: Some("LAM Siu Ming".into()),
        birth_date: Some("1958-03-14".into()),
        sex: Some("male".into()),
    };
    let patient = chan.ensure_patient(&hkid, &card).await?;
    for n in 0..DOCUMENTS {
        chan.upload(
            Cursor::new(format!("%PDF-1.7 report {n}").into_bytes()),
            &patient,
            meta(&format!("Report {n}"), "report.pdf"),
            &[],
            |_| {},
        )
        .await?;
    }
    assert_eq!(chan.timeline(&hkid).await?.entries.len(), DOCUMENTS);

    // One bit of one entry's `s` flipped: first, middle and last entry of the page.
    for bad in [0, DOCUMENTS / 2, DOCUMENTS - 1] {
        evil.rewrite_json(Method::POST, "/v1/search", move |v| {
            let e = &mut v["documents"][bad];
            let mut sig = B64.decode(e["signature"].as_str().unwrap()).unwrap();
            sig[40] ^= 0x01;
            e["signature"] = B64.encode(&sig).into();
        });
        assert_trust(
            chan.timeline(&hkid).await,
            &format!("entry {bad} with an altered signature"),
        );
        evil.clear();
    }

    // Two entries' signatures swapped: each is a valid signature by the same key, of the other
    // entry's binding.
    evil.rewrite_json(Method::POST, "/v1/search", |v| {
        let docs = v["documents"].as_array_mut().unwrap();
        let a = docs[1]["signature"].clone();
        docs[1]["signature"] = docs[4]["signature"].clone();
        docs[4]["signature"] = a;
    });
    assert_trust(chan.timeline(&hkid).await, "two signatures swapped");
    evil.clear();

    // Served honestly again: every entry.
    assert_eq!(chan.timeline(&hkid).await?.entries.len(), DOCUMENTS);
    Ok(())
}
