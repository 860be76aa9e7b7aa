//! Backup and restore lose nothing, on both backends: seed an alliance, upload and share
//! documents, back the running hub up, restore into a fresh place (new data folder; for
//! PostgreSQL + S3 a new database and a new bucket), start a hub on it, and every document
//! opens and verifies (signatures and both hashes, in the real client), the access log and
//! the shares are all there, and a second restore into the now non-empty target is refused.

use medshare_client::{DocumentMeta, Share};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use medshare_server::maintenance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_restore_sqlite_folder() -> anyhow::Result<()> {
    round_trip(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_restore_postgres_s3() -> anyhow::Result<()> {
    round_trip(Backend::PostgresS3).await
}

fn meta(n: usize) -> DocumentMeta {
    DocumentMeta {
        title: format!("report {n}"),
        file_name: format!("report-{n}.pdf"),
        media_type: "application/pdf".into(),
        category: "lab-report".into(),
        date_of_service: Some("2026-11-01".into()),
        classification: None,
        urgent: false,
    }
}

async fn round_trip(backend: Backend) -> anyhow::Result<()> {
    let (dir, backup_dir, restored_dir) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let config = backend.config(dir.path());
    let hub = TestHub::start(config.clone()).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;

    let mut docs = Vec::new();
    for (i, hkid) in ["A123456(3)", "C668668(9)"].iter().enumerate() {
        let id: PatientIdentifier = hkid.parse()?;
        let card = PatientCard {
            name: Some(format!("PATIENT {i}")),
            birth_date: None,
            sex: None,
        };
        let p = chan.ensure_patient(&id, &card).await?;
        for j in 0..2 {
            let n = i * 2 + j;
            // Sizes from tiny to several age chunks.
            let body: Vec<u8> = format!("document {n} ").repeat(1 + n * 40_000).into_bytes();
            let shares = if n % 2 == 0 {
                vec![Share {
                    with: "dr.wong".parse().expect("handle"),
                    institution: None,
                    expires_at: None,
                }]
            } else {
                vec![]
            };
            let up = chan
                .upload(
                    std::io::Cursor::new(body.clone()),
                    &p,
                    meta(n),
                    &shares,
                    |_| {},
                )
                .await?;
            docs.push((up.document_id, id.clone(), body, !shares.is_empty()));
        }
    }
    let log_before = medshare_store::open(&config.database_url())
        .await?
        .audit_entries(0, 1_000_000)
        .await?;

    // A client's view of the audit log before the backup.
    let (seen, _) = medshare_client::audit::witness(chan.hub(), None).await?;

    // Back up while the hub runs, then stop it.
    let out = backup_dir.path().join("backup");
    let manifest = maintenance::backup(&config, &out).await?;
    assert_eq!(manifest.documents, docs.len());
    assert!(manifest.blob_bytes > 0);
    hub.stop().await?;
    drop(chan);

    // Restore into a fresh place and serve it.
    let restored_config = backend.config(restored_dir.path());
    let m2 = maintenance::restore(&restored_config, &out).await?;
    assert_eq!(m2, manifest);
    let err = maintenance::restore(&restored_config, &out)
        .await
        .expect_err("a second restore into the same target is refused");
    assert!(err.to_string().contains("new"), "{err}");
    let restored = TestHub::start(restored_config.clone()).await?;

    let chan = world.login_at(&restored.url, "dr.chan").await?;
    let wong = world.login_at(&restored.url, "dr.wong").await?;
    // The restored hub signs with the same log key and its log extends what the client saw.
    medshare_client::audit::witness(chan.hub(), Some(&seen)).await?;
    for (doc, patient, body, shared) in &docs {
        let t = chan.timeline(patient).await?;
        assert!(t.entries.iter().any(|e| e.document_id == *doc));
        let opened = chan.open_document(*doc).await?;
        let sink = Sink::default();
        chan.download(&opened, sink.clone(), |_| {}).await?;
        assert!(
            sink.bytes() == *body,
            "document {doc} restored byte for byte"
        );
        // Shares survive, and so does their absence.
        assert_eq!(wong.open_document(*doc).await.is_ok(), *shared);
    }
    let log_after = medshare_store::open(&restored_config.database_url())
        .await?
        .audit_entries(0, 1_000_000)
        .await?;
    assert_eq!(
        log_after[..log_before.len()],
        log_before[..],
        "the access log is restored entry for entry"
    );
    restored.stop().await?;
    Ok(())
}

#[derive(Clone, Default)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Sink {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
