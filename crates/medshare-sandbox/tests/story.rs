//! The seed story, end to end through a real hub on a loopback port and the real client: a
//! clinic uploads a coronary angiography report and shares it with a cardiologist at a partner
//! hospital; the cardiologist is notified live, finds it by HKID and opens it.

use futures::StreamExt;
use medshare_client::{DocumentMeta, Share};
use medshare_model::api::EventKind;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinic_shares_angiogram_with_cardiologist_sqlite_folder() -> anyhow::Result<()> {
    clinic_shares_angiogram_with_cardiologist(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinic_shares_angiogram_with_cardiologist_postgres_s3() -> anyhow::Result<()> {
    clinic_shares_angiogram_with_cardiologist(Backend::PostgresS3).await
}

async fn clinic_shares_angiogram_with_cardiologist(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(backend.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;

    let family_doctor = world.login("dr.chan").await?;
    let cardiologist = world.login("dr.wong").await?;
    let seen = cardiologist.inbox(0).await?.last().map_or(0, |e| e.seq);
    let mut events = Box::pin(cardiologist.follow(seen).await?);

    let hkid: PatientIdentifier = "A123456(3)".parse()?;
    let card = PatientCard {
        name: Some("CHEUNG Ka Ming".into()),
        birth_date: Some("1961-04-02".into()),
        sex: Some("male".into()),
    };
    let patient = family_doctor.ensure_patient(&hkid, &card).await?;
    let report = b"%PDF-1.4 coronary angiography: 70% stenosis of the proximal LAD".repeat(3000);
    let meta = DocumentMeta {
        title: "Coronary angiography report".into(),
        file_name: "angiography.pdf".into(),
        media_type: "application/pdf".into(),
        category: "imaging-report".into(),
        date_of_service: Some("2026-10-30".into()),
        classification: None,
        urgent: false,
    };
    let share = Share {
        with: "dr.wong".parse().unwrap(),
        institution: None,
        expires_at: None,
    };
    let uploaded = family_doctor
        .upload(
            std::io::Cursor::new(report.clone()),
            &patient,
            meta,
            &[share],
            |_| {},
        )
        .await?;

    // The cardiologist is told at once, with ids only.
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await?
        .expect("stream open")?;
    match event.event {
        EventKind::Shared {
            document_id,
            patient_id,
            by,
        } => {
            assert_eq!(document_id, uploaded.document_id);
            assert_eq!(patient_id, patient.id());
            assert_eq!(by, world.id("dr.chan"));
        }
        other => panic!("unexpected event {other:?}"),
    }

    // Finds it by HKID (any spelling), in one round trip.
    let timeline = cardiologist.timeline(&"a1234563".parse()?).await?;
    assert_eq!(timeline.entries.len(), 1);
    let entry = &timeline.entries[0];
    assert_eq!(entry.manifest.title, "Coronary angiography report");
    assert_eq!(entry.uploader.cert.name, "CHAN Tai Man");
    // The cardiologist's hospital holds no consent for this patient: no card for them.
    assert!(timeline.card.is_none());

    // Opens it: bytes identical, signature and hashes verified on the way.
    let opened = cardiologist.open_document(entry.document_id).await?;
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = SharedVec(out.clone());
    let n = cardiologist.download(&opened, sink, |_| {}).await?;
    assert_eq!(n as usize, report.len());
    assert!(*out.lock().unwrap() == report);

    // The uploader's own timeline includes the patient card.
    let own = family_doctor.timeline(&hkid).await?;
    assert_eq!(
        own.card.as_ref().and_then(|c| c.name.clone()).as_deref(),
        Some("CHEUNG Ka Ming")
    );
    hub.stop().await
}

/// A `Write` into a shared buffer.
struct SharedVec(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for SharedVec {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
