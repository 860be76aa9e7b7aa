//! Crash safety: kill -9 the real `medshare serve` process while uploads stream. After a
//! restart every acknowledged upload is complete and verifies, and no partial document is
//! listed or left on disk.

mod common;

use common::start_hub;
use medshare_client::DocumentMeta;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{World, story_cast};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn patient_id() -> PatientIdentifier {
    "K987654(5)".parse().expect("valid HKID")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_uploads_loses_nothing_acknowledged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut hub, url) = start_hub(dir.path());
    let token = std::fs::read_to_string(dir.path().join("bootstrap-token"))?;
    let mut world = World::build_at(&url, &token, &story_cast()).await?;
    let doctor = Arc::new(world.login("dr.chan").await?);
    let patient = Arc::new(
        doctor
            .ensure_patient(&patient_id(), &PatientCard::default())
            .await?,
    );

    // Four writers upload 1 MiB documents until the hub dies under them.
    type Acked = Arc<Mutex<Vec<(medshare_model::DocumentId, Vec<u8>)>>>;
    let acked: Acked = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4u8 {
        let (doctor, patient, acked) = (doctor.clone(), patient.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0u32.. {
                let body: Vec<u8> = (0..1024 * 1024)
                    .map(|k| (k as u32 ^ i ^ u32::from(w)) as u8)
                    .collect();
                let meta = DocumentMeta {
                    title: format!("scan {w}-{i}"),
                    file_name: format!("scan-{w}-{i}.bin"),
                    media_type: "application/octet-stream".into(),
                    category: "other".into(),
                    date_of_service: None,
                    classification: None,
                    urgent: false,
                };
                match doctor
                    .upload(
                        std::io::Cursor::new(body.clone()),
                        &patient,
                        meta,
                        &[],
                        |_| {},
                    )
                    .await
                {
                    Ok(doc) => acked.lock().unwrap().push((doc.document_id, body)),
                    Err(_) => return,
                }
            }
        }));
    }
    // Let a few uploads land, then pull the plug mid-stream.
    while acked.lock().unwrap().len() < 6 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(37)).await;
    hub.kill()?; // SIGKILL
    hub.wait()?;
    for w in writers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 6);

    // Restart on the same folder: start-up reconciliation removes partial state.
    let (mut hub, url) = start_hub(dir.path());
    world.hub_url = url;
    // The hub reopened its audit log, so the log matched its last signed head. Every
    // acknowledged upload's entry survived with it, and the operator's offline check of the
    // whole log passes.
    let store = medshare_store::open(&format!(
        "sqlite://{}",
        dir.path().join("medshare.db").display()
    ))
    .await?;
    let logged: std::collections::BTreeSet<_> = store
        .audit_entries(0, 1_000_000)
        .await?
        .into_iter()
        .filter(|l| l.entry.action == "document.upload" && l.entry.allowed())
        .filter_map(|l| l.entry.document)
        .collect();
    for (id, _) in &acked {
        assert!(
            logged.contains(id),
            "the upload of {id} was acknowledged but not logged"
        );
    }
    let verify = Command::new(env!("CARGO_BIN_EXE_medshare"))
        .args(["audit", "verify", "--offline", "--data-dir"])
        .arg(dir.path())
        .env("MEDSHARE_CONFIG_DIR", dir.path().join("cli"))
        .output()?;
    assert!(
        verify.status.success(),
        "audit verify failed after the crash: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("The log is intact"));

    let doctor = world.login("dr.chan").await?;
    let timeline = doctor.timeline(&patient_id()).await?;
    let listed: std::collections::BTreeSet<_> =
        timeline.entries.iter().map(|e| e.document_id).collect();
    for (id, body) in &acked {
        assert!(
            listed.contains(id),
            "acknowledged upload {id} is missing after the crash"
        );
        let opened = doctor.open_document(*id).await?;
        let out = Arc::new(Mutex::new(Vec::new()));
        doctor
            .download(&opened, SharedVec(out.clone()), |_| {})
            .await?;
        assert!(*out.lock().unwrap() == *body, "document {id} changed");
    }
    // Whatever else is listed (committed just before the kill, not yet acknowledged) is whole.
    for e in &timeline.entries {
        let opened = doctor.open_document(e.document_id).await?;
        doctor.download(&opened, std::io::sink(), |_| {}).await?;
    }
    // Nothing half-written survives: staging is empty and every blob belongs to a document.
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs/staging"))?.count(),
        0
    );
    let mut blobs = 0;
    for shard in std::fs::read_dir(dir.path().join("blobs/blobs"))? {
        blobs += std::fs::read_dir(shard?.path())?.count();
    }
    assert_eq!(blobs, timeline.entries.len());
    hub.kill()?;
    hub.wait()?;
    Ok(())
}

struct SharedVec(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for SharedVec {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
