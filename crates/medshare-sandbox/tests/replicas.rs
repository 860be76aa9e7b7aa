//! Two hub replicas sharing one PostgreSQL database and one S3 bucket (real services): a share
//! accepted by replica A reaches a client streaming from replica B at once, through
//! PostgreSQL LISTEN/NOTIFY; documents uploaded through A open through B; and a replica
//! starting while another holds an upload in staging does not sweep it away.

use futures::StreamExt;
use medshare_client::{DocumentMeta, Share};
use medshare_model::api::EventKind;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use std::time::Duration;

fn meta(title: &str) -> DocumentMeta {
    DocumentMeta {
        title: title.into(),
        file_name: format!("{title}.pdf"),
        media_type: "application/pdf".into(),
        category: "imaging-report".into(),
        date_of_service: Some("2026-11-20".into()),
        classification: None,
        urgent: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_on_replica_a_reaches_stream_on_replica_b() -> anyhow::Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut config_a = Backend::PostgresS3.config(dir_a.path());
    // One log, one key: replicas share the audit log's signing key.
    config_a.audit.signing_key_file = Some(dir_a.path().join("audit-log.key"));
    let mut config_b = config_a.clone();
    config_b.data_dir = dir_b.path().to_path_buf();
    // Replicas of a shared database do not migrate on their own.
    config_b.migrate_on_start = false;
    let a = TestHub::start(config_a).await?;
    let b = TestHub::start(config_b).await?;
    assert_ne!(a.url, b.url);
    let world = World::build(&a, &story_cast()).await?;

    let chan_on_a = world.login_at(&a.url, "dr.chan").await?;
    let wong_on_b = world.login_at(&b.url, "dr.wong").await?;
    let seen = wong_on_b.inbox(0).await?.last().map_or(0, |e| e.seq);
    let mut events = Box::pin(wong_on_b.follow(seen).await?);

    let hkid: PatientIdentifier = "A123456(3)".parse()?;
    let card = PatientCard {
        name: Some("CHEUNG Ka Ming".into()),
        birth_date: None,
        sex: None,
    };
    let patient = chan_on_a.ensure_patient(&hkid, &card).await?;
    let report = b"%PDF-1.4 coronary angiography, replica test".repeat(5000);
    let share = Share {
        with: "dr.wong".parse().expect("valid handle"),
        institution: None,
        expires_at: None,
    };
    let up = chan_on_a
        .upload(
            std::io::Cursor::new(report.clone()),
            &patient,
            meta("angiography"),
            &[share],
            |_| {},
        )
        .await?;

    // Live on B, ids only, exactly once.
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await?
        .expect("stream open")?;
    match event.event {
        EventKind::Shared {
            document_id, by, ..
        } => {
            assert_eq!(document_id, up.document_id);
            assert_eq!(by, world.id("dr.chan"));
        }
        other => panic!("unexpected event {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(700), events.next())
            .await
            .is_err(),
        "one share, one event"
    );

    // Read through B: search, open, bytes identical and verified.
    let t = wong_on_b.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 1);
    let opened = wong_on_b.open_document(up.document_id).await?;
    let sink = SharedVec::default();
    wong_on_b.download(&opened, sink.clone(), |_| {}).await?;
    assert!(sink.bytes() == report);

    // A revoke through B is enforced by A at once (one database, no per-replica cache).
    let chan_on_b = world.login_at(&b.url, "dr.chan").await?;
    let wong_on_a = world.login_at(&a.url, "dr.wong").await?;
    wong_on_a.open_document(up.document_id).await?;
    chan_on_b
        .revoke(up.document_id, &"dr.wong".parse().expect("valid handle"))
        .await?;
    assert!(wong_on_a.open_document(up.document_id).await.is_err());

    // Both replicas appended to one audit log: a client moving between them sees one history,
    // and a privacy officer on B rebuilds it, entries from A included, intact.
    let (on_a, _) = medshare_client::audit::witness(wong_on_a.hub(), None).await?;
    let (on_b, _) = medshare_client::audit::witness(wong_on_b.hub(), Some(&on_a)).await?;
    medshare_client::audit::witness(wong_on_a.hub(), Some(&on_b)).await?;
    let officer_on_b = world.login_at(&b.url, "privacy.kph").await?;
    let (report, _) = officer_on_b.verify_log(Some(&on_b)).await?;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert!(report.entries >= on_b.size);

    a.stop().await?;
    b.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_starting_leaves_other_replicas_uploads_alone() -> anyhow::Result<()> {
    use medshare_blob::BlobStore;
    let (dir_a, dir_c) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut config_a = Backend::PostgresS3.config(dir_a.path());
    config_a.audit.signing_key_file = Some(dir_a.path().join("audit-log.key"));
    let a = TestHub::start(config_a.clone()).await?;
    // Replica A is midway: one upload staged, one blob promoted whose metadata commit is still
    // in flight. (Written straight to the shared bucket, as A's services would.)
    let blobs = medshare_blob::S3BlobStore::open(&config_a.s3_settings()?)?;
    let (staged, promoted, stage2) = (uuid(), uuid(), uuid());
    let body = || futures::stream::iter([Ok(bytes::Bytes::from_static(b"ciphertext"))]).boxed();
    blobs.stage(staged, body(), 100).await?;
    blobs.stage(stage2, body(), 100).await?;
    blobs.promote(stage2, promoted).await?;

    // Replica C starts: its reconciliation must not touch either.
    let mut config_c = config_a.clone();
    config_c.data_dir = dir_c.path().to_path_buf();
    let c = TestHub::start(config_c.clone()).await?;
    assert_eq!(blobs.size(promoted).await?, 10, "in-flight blob kept");
    blobs.promote(staged, uuid()).await?;

    // With no grace (a lone hub), the same leftovers are cleaned: the check above can fail.
    c.stop().await?;
    let leftover = uuid();
    blobs.stage(leftover, body(), 100).await?;
    config_c.blobs.replica_grace_secs = 0;
    let c = TestHub::start(config_c).await?;
    assert!(matches!(
        blobs.size(promoted).await,
        Err(medshare_blob::BlobError::NotFound)
    ));
    assert!(matches!(
        blobs.promote(leftover, uuid()).await,
        Err(medshare_blob::BlobError::NotFound)
    ));
    c.stop().await?;
    a.stop().await?;
    Ok(())
}

fn uuid() -> uuid::Uuid {
    uuid::Uuid::new_v4()
}

#[derive(Clone, Default)]
struct SharedVec(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedVec {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

impl std::io::Write for SharedVec {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
