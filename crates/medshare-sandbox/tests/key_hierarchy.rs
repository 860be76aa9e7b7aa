//! The read path's key hierarchy against a real hub: an uploader who holds the patient key
//! wraps the document key for the record symmetrically and seals the manifest under the
//! document key; one who does not (no consent at their institution) wraps with age to the
//! epoch's recipient, the form every document had before. Readers with patient-wide access open
//! both, on SQLite + folder and PostgreSQL + S3.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{download_vec, meta, random_hkid};
use medshare_client::{Client, ConsentTarget};
use medshare_crypto::symmetric::is_symmetric;
use medshare_model::DocumentId;
use medshare_model::api::Holder;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_wrap_forms_open_sqlite_folder() -> anyhow::Result<()> {
    both_wrap_forms_open(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_wrap_forms_open_postgres_s3() -> anyhow::Result<()> {
    both_wrap_forms_open(Backend::PostgresS3).await
}

/// (patient wrap is symmetric, manifest is symmetric) of a document, as `reader` is served it.
async fn forms(reader: &Client, id: DocumentId) -> anyhow::Result<(bool, bool)> {
    let doc = reader.open_document(id).await?;
    let patient_wrap = doc
        .view
        .wraps
        .iter()
        .find(|w| matches!(w.holder, Holder::Patient { .. }))
        .expect("a patient wrap is served to a reader with patient-wide access");
    Ok((
        is_symmetric(&B64.decode(&patient_wrap.wrap)?),
        is_symmetric(&B64.decode(&doc.view.manifest)?),
    ))
}

async fn both_wrap_forms_open(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(backend.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;

    // The registering clinic holds the patient key: symmetric wrap and manifest.
    let held = b"%PDF-1.7 echocardiogram".to_vec();
    let a = chan
        .upload(
            std::io::Cursor::new(held.clone()),
            &patient,
            meta("Echocardiogram", "echo.pdf"),
            &[],
            |_| {},
        )
        .await?;

    // The cardiologist's hospital holds no consent yet: it files with an age wrap (it cannot
    // make a symmetric one), the form documents had before.
    let p_wong = wong.find_patient(&hkid).await?.expect("registered");
    let not_held = b"%PDF-1.7 angiography report".to_vec();
    let b = wong
        .upload(
            std::io::Cursor::new(not_held.clone()),
            &p_wong,
            meta("Angiography", "angio.pdf"),
            &[],
            |_| {},
        )
        .await?;

    assert_eq!(forms(&chan, a.document_id).await?, (true, true));
    let (b_wrap_symmetric, b_manifest_symmetric) = forms(&chan, b.document_id).await?;
    assert!(!b_wrap_symmetric, "a non-holder cannot wrap symmetrically");
    assert!(b_manifest_symmetric, "any uploader holds the document key");

    // The clinic reads both forms on its timeline, bytes intact.
    let t = chan.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 2);
    for (id, bytes) in [(a.document_id, &held), (b.document_id, &not_held)] {
        let doc = chan.open_document(id).await?;
        assert_eq!(&download_vec(&chan, &doc).await?, bytes);
    }

    // Consent for PPH: a new epoch. The cardiologist, now with care, reads the old epoch's
    // symmetric wrap through PPH's wrap of that epoch, and his own upload through his own wrap.
    let pph = world.institutions["PPH"];
    chan.grant_consent(&patient, &ConsentTarget::Institution(pph))
        .await?;
    let p_wong = wong.find_patient(&hkid).await?.expect("registered");
    wong.declare_care(&p_wong, None).await?;
    let t = wong.timeline(&hkid).await?;
    let mut titles: Vec<_> = t.entries.iter().map(|e| e.manifest.title.clone()).collect();
    titles.sort();
    assert_eq!(titles, ["Angiography", "Echocardiogram"]);
    let doc = wong.open_document(a.document_id).await?;
    assert_eq!(download_vec(&wong, &doc).await?, held);

    // Now a holder, the cardiologist's next upload is wrapped symmetrically under the new epoch.
    let p_wong = wong.find_patient(&hkid).await?.expect("registered");
    let c = wong
        .upload(
            std::io::Cursor::new(b"%PDF-1.7 follow-up".to_vec()),
            &p_wong,
            meta("Follow-up", "follow-up.pdf"),
            &[],
            |_| {},
        )
        .await?;
    assert_eq!(forms(&chan, c.document_id).await?, (true, true));
    assert_eq!(chan.timeline(&hkid).await?.entries.len(), 3);
    hub.stop().await
}
