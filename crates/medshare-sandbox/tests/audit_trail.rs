//! The tamper-evident audit trail end to end: entries edited, deleted, inserted or reordered
//! directly in the database are found with their position; a hub serving a forked history is
//! caught by a client; a hub refuses to start on a log that no longer matches its own signed
//! head; privacy officers' views, data access request exports and break-glass reviews;
//! patient access notices reach a real webhook; suspicious patterns raise alerts.

mod common;

use anyhow::Context;
use common::{assert_api, meta, random_hkid, share_with};
use medshare_audit::{LoggedEntry, Problem, SignedTreeHead, audit_log};
use medshare_client::audit::{LogFilter, witness};
use medshare_client::{ClientError, ConsentTarget};
use medshare_model::api::{AlertRule, EventKind};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::{DocumentId, ErrorCode, PatientId};
use medshare_sandbox::{Backend, TestHub, World, sandbox_config, story_cast};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, SqliteConnection};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Seeded {
    _dir: tempfile::TempDir,
    hub: TestHub,
    world: World,
    hkid: PatientIdentifier,
    patient: PatientId,
    doc: DocumentId,
}

/// dr.chan (HVC) files a report for a new patient and shares it with dr.wong (PPH), who reads
/// it. The patient consents to the alliance.
async fn seeded(
    backend: Backend,
    config: impl FnOnce(&mut medshare_server::config::Config),
) -> anyhow::Result<Seeded> {
    let dir = tempfile::tempdir()?;
    let mut c = backend.config(dir.path());
    config(&mut c);
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let p = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    chan.grant_consent(&p, &ConsentTarget::Alliance).await?;
    let doc = chan
        .upload(
            std::io::Cursor::new(b"%PDF-1.4 echo report".to_vec()),
            &p,
            meta("Echocardiogram", "echo.pdf"),
            &[share_with("dr.wong", None)],
            |_| {},
        )
        .await?
        .document_id;
    let wong = world.login("dr.wong").await?;
    wong.timeline(&hkid).await?;
    wong.open_document(doc).await?;
    Ok(Seeded {
        _dir: dir,
        hub,
        world,
        hkid,
        patient: p.id(),
        doc,
    })
}

fn db_path(dir: &Path) -> std::path::PathBuf {
    dir.join("medshare.db")
}

async fn connect(db: &Path) -> anyhow::Result<SqliteConnection> {
    Ok(
        SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))?
            .busy_timeout(Duration::from_secs(10))
            .connect()
            .await?,
    )
}

/// What someone with database access would do first.
async fn drop_guards(c: &mut SqliteConnection) -> anyhow::Result<()> {
    c.execute("DROP TRIGGER access_log_no_update").await?;
    c.execute("DROP TRIGGER access_log_no_delete").await?;
    Ok(())
}

/// Rebuild a database copy offline, with the hub's log key.
async fn offline_report(db: &Path, data_dir: &Path) -> anyhow::Result<Vec<(Option<u64>, Problem)>> {
    let store = medshare_store::open(&format!("sqlite://{}", db.display())).await?;
    let seed: [u8; 32] = std::fs::read(data_dir.join("audit-log.key"))?
        .try_into()
        .map_err(|_| anyhow::anyhow!("key"))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let entries: Vec<LoggedEntry> = store.audit_entries(0, 1_000_000).await?;
    let heads: Vec<SignedTreeHead> = store.audit_heads(0, 1_000_000).await?;
    Ok(audit_log(entries, &heads, &key, None)
        .findings
        .into_iter()
        .map(|f| (f.position, f.problem))
        .collect())
}

/// A copy of the live database to tamper with.
async fn snapshot(s: &Seeded, name: &str) -> anyhow::Result<std::path::PathBuf> {
    let copy = s._dir.path().join(format!("{name}.db"));
    let mut c = connect(&db_path(&s.hub.data_dir)).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(copy.display().to_string())
        .execute(&mut c)
        .await?;
    Ok(copy)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_rewrite_is_found_with_its_position() -> anyhow::Result<()> {
    let s = seeded(Backend::SqliteFolder, |_| {}).await?;
    let officer = s.world.login("privacy.kph").await?;

    // Untouched, the log verifies through the hub.
    let (report, seen) = officer.verify_log(None).await?;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert!(
        report.entries > 20,
        "the story logged {} entries",
        report.entries
    );
    // A head after every batch (an upload and its shares commit as one batch).
    assert!(
        report.heads_checked as u64 * 4 >= report.entries * 3,
        "{} heads for {} entries",
        report.heads_checked,
        report.entries
    );

    // The seq of dr.wong's content fetch.
    let mut live = connect(&db_path(&s.hub.data_dir)).await?;
    let fetch: i64 = sqlx::query_scalar(
        "SELECT seq FROM access_log WHERE action = 'document.fetch-manifest' AND actor = ?",
    )
    .bind(s.world.id("dr.wong").to_string())
    .fetch_one(&mut live)
    .await?;
    let pos = (fetch - 1) as u64;

    // Edited: the read turned into a refusal.
    let db = snapshot(&s, "edited").await?;
    let mut c = connect(&db).await?;
    drop_guards(&mut c).await?;
    sqlx::query("UPDATE access_log SET outcome = 'denied' WHERE seq = ?")
        .bind(fetch)
        .execute(&mut c)
        .await?;
    let found = offline_report(&db, &s.hub.data_dir).await?;
    assert!(found.contains(&(Some(pos), Problem::Altered)), "{found:?}");
    assert!(
        found.contains(&(
            None,
            Problem::DivergesFromHead {
                from: pos,
                size: pos + 1
            }
        )),
        "{found:?}"
    );

    // Deleted.
    let db = snapshot(&s, "deleted").await?;
    let mut c = connect(&db).await?;
    drop_guards(&mut c).await?;
    sqlx::query("DELETE FROM access_log WHERE seq = ?")
        .bind(fetch)
        .execute(&mut c)
        .await?;
    let found = offline_report(&db, &s.hub.data_dir).await?;
    assert!(
        found.contains(&(
            Some(pos),
            Problem::Missing {
                expected: fetch,
                found: fetch + 1
            }
        )),
        "{found:?}"
    );

    // Inserted: an invented read slipped in, later entries renumbered to close the gap.
    let db = snapshot(&s, "inserted").await?;
    let mut c = connect(&db).await?;
    drop_guards(&mut c).await?;
    let n: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM access_log")
        .fetch_one(&mut c)
        .await?;
    for seq in (fetch..=n).rev() {
        sqlx::query("UPDATE access_log SET seq = seq + 1 WHERE seq = ?")
            .bind(seq)
            .execute(&mut c)
            .await?;
    }
    sqlx::query(
        "INSERT INTO access_log (seq, at, actor, action, outcome, basis) \
         SELECT ?, at, actor, 'document.fetch-content', 'allowed', 'grant' FROM access_log WHERE seq = ?",
    )
    .bind(fetch)
    .bind(fetch + 1)
    .execute(&mut c)
    .await?;
    let found = offline_report(&db, &s.hub.data_dir).await?;
    assert!(
        found.contains(&(
            None,
            Problem::DivergesFromHead {
                from: pos,
                size: pos + 1
            }
        )),
        "{found:?}"
    );

    // Reordered: two entries' contents swapped, leaf digests and all.
    let db = snapshot(&s, "reordered").await?;
    let mut c = connect(&db).await?;
    drop_guards(&mut c).await?;
    let other = fetch - 3;
    c.execute("CREATE TEMP TABLE t AS SELECT * FROM access_log")
        .await?;
    for (a, b) in [(fetch, other), (other, fetch)] {
        sqlx::query(
            "UPDATE access_log SET (at, actor, institution_id, action, document_id, patient_id, \
             outcome, basis, detail, leaf) = (SELECT at, actor, institution_id, action, \
             document_id, patient_id, outcome, basis, detail, leaf FROM t WHERE seq = ?) WHERE seq = ?",
        )
        .bind(b)
        .bind(a)
        .execute(&mut c)
        .await?;
    }
    let found = offline_report(&db, &s.hub.data_dir).await?;
    // The first moved entry is located within its batch (one signed head per batch).
    let opos = (other - 1) as u64;
    assert!(
        found.iter().any(|f| matches!(f,
            (None, Problem::DivergesFromHead { from, size }) if *from <= opos && opos < *size && size - from <= 2)),
        "{found:?}"
    );

    // And through the hub: an edit in the live database is reported to the privacy officer
    // (the hub's own tree still commits to the original). The edited read (PPH's, of HVC's
    // patient) is outside KPH's scope, so the officer sees only its leaf: the edit shows as the
    // tree diverging from the signed head at that position, not as the entry's content.
    drop_guards(&mut live).await?;
    sqlx::query("UPDATE access_log SET basis = 'care-relationship' WHERE seq = ?")
        .bind(fetch)
        .execute(&mut live)
        .await?;
    let (report, _) = officer.verify_log(Some(&seen)).await?;
    let problems: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.position, f.problem.clone()))
        .collect();
    assert!(report.hidden > 0);
    assert!(
        problems.contains(&(
            None,
            Problem::DivergesFromHead {
                from: pos,
                size: pos + 1
            }
        )),
        "{problems:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hub_serving_a_forked_history_is_caught_and_a_rewritten_log_stops_the_hub()
-> anyhow::Result<()> {
    let s = seeded(Backend::SqliteFolder, |_| {}).await?;
    let data = s.hub.data_dir.clone();
    // The history as it stood before dr.wong's next reads.
    let earlier = snapshot(&s, "earlier").await?;
    let wong = s.world.login("dr.wong").await?;
    wong.timeline(&s.hkid).await?;
    wong.open_document(s.doc).await?;
    // A client witnesses the log (as every CLI command does).
    let (seen, _) = witness(wong.hub(), None).await?;
    let (again, _) = witness(wong.hub(), Some(&seen)).await?;
    assert!(again.size >= seen.size);

    // The operator rolls the database back to the earlier history and lets the hub run on
    // (same address, same log key): it signs new heads over a different history.
    let url = s.hub.url.clone();
    let addr = s.hub.addr;
    s.hub.stop().await?;
    let fork_dir = tempfile::tempdir()?;
    let fork = fork_dir.path();
    std::fs::copy(&earlier, db_path(fork))?;
    for f in ["audit-log.key", "hub-secret"] {
        std::fs::copy(data.join(f), fork.join(f))?;
    }
    std::fs::create_dir_all(fork.join("blobs"))?;
    let mut c = sandbox_config(fork);
    c.listen = addr;
    let forked = TestHub::start(c).await?;
    assert_eq!(forked.url, url);
    // New activity grows the forked log past the size the client saw.
    let chan = s.world.login("dr.chan").await?;
    for _ in 0..(again.size as usize + 5) {
        chan.timeline(&s.hkid).await?;
    }
    let on_fork = s.world.login("dr.wong").await?;
    let r = witness(on_fork.hub(), Some(&again)).await;
    match r {
        Err(ClientError::Trust(msg)) => assert!(msg.contains("rewritten or forked"), "{msg}"),
        other => panic!("a forked log was accepted: {other:?}"),
    }
    // A client that never saw the old history accepts the new one (nothing to compare).
    witness(on_fork.hub(), None).await?;

    // Rewriting the log behind a stopped hub's back stops it from starting.
    forked.stop().await?;
    let mut c = connect(&db_path(fork)).await?;
    drop_guards(&mut c).await?;
    c.execute("DELETE FROM access_log WHERE seq = 3").await?;
    c.close().await?;
    let config = sandbox_config(fork);
    let err = match TestHub::start(config).await {
        Ok(_) => panic!("the hub started on a rewritten log"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("audit verify --offline"), "{err}");
    // The operator's tool locates the deletion.
    let found = offline_report(&db_path(fork), fork).await?;
    assert!(
        found.contains(&(
            Some(2),
            Problem::Missing {
                expected: 3,
                found: 4
            }
        )),
        "{found:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn privacy_officers_review_export_and_read_break_glass_reasons_sqlite_folder()
-> anyhow::Result<()> {
    privacy_officers_review_export_and_read_break_glass_reasons(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread")]
async fn privacy_officers_review_export_and_read_break_glass_reasons_postgres_s3()
-> anyhow::Result<()> {
    privacy_officers_review_export_and_read_break_glass_reasons(Backend::PostgresS3).await
}

async fn privacy_officers_review_export_and_read_break_glass_reasons(
    backend: Backend,
) -> anyhow::Result<()> {
    let s = seeded(backend, |_| {}).await?;
    // dr.ho (KPH emergency) opens emergency access to the patient (consent: alliance).
    let ho = s.world.login("dr.ho").await?;
    let p = ho.find_patient(&s.hkid).await?.context("patient")?;
    let reason = "unconscious in resus, no history available";
    ho.break_glass(&p, reason).await?;
    ho.timeline(&s.hkid).await?;

    let kph = s.world.login("privacy.kph").await?;
    // The officer finds the patient by identifier (no keys to the record).
    let found = kph.find_patient(&s.hkid).await?.context("patient")?;
    assert!(found.view.wraps.is_empty());
    let log = kph
        .audit_log(&LogFilter {
            practitioner: Some(s.world.id("dr.ho")),
            ..Default::default()
        })
        .await?;
    let bg = log
        .iter()
        .find(|l| l.entry.action == "break-glass")
        .context("break-glass entry")?;
    assert_eq!(bg.entry.patient, Some(s.patient));
    let id: i64 = bg
        .entry
        .detail
        .as_deref()
        .and_then(|d| d.strip_prefix("break-glass:"))
        .context("detail")?
        .parse()?;
    let (rec, opened) = kph.break_glass_reason(id).await?;
    assert_eq!(opened, reason);
    assert_eq!(rec.practitioner_id, s.world.id("dr.ho"));
    // The review itself is logged.
    let after = kph.audit_log(&LogFilter::default()).await?;
    assert!(after.iter().any(|l| l.entry.action == "break-glass.review"
        && l.entry.actor == Some(s.world.id("privacy.kph"))));

    // A clinician cannot read the log.
    assert_api(
        ho.audit_log(&LogFilter::default()).await,
        ErrorCode::Forbidden,
        "clinician reads the log",
    );
    // Another institution's officer does not see KPH's break-glass reason.
    let hvc = s.world.login("admin.hvc").await?;
    assert!(hvc.break_glass_reason(id).await.is_err());

    // Data access request export: what KPH holds about the patient, with the head. KPH filed no
    // records of the patient, so its officer sees KPH staff's accesses only, and no documents.
    let export = kph.access_export(s.patient).await?;
    assert_eq!(export.patient_id, s.patient);
    assert!(
        export
            .accesses
            .iter()
            .all(|l| l.entry.patient == Some(s.patient))
    );
    assert!(
        export
            .accesses
            .iter()
            .any(|l| l.entry.action == "break-glass")
    );
    assert!(
        !export
            .accesses
            .iter()
            .any(|l| l.entry.actor == Some(s.world.id("dr.wong"))),
        "KPH's officer sees a PPH read of a patient KPH holds no records for"
    );
    assert!(
        export.documents.is_empty(),
        "KPH's officer lists documents another institution filed"
    );
    // The export's accesses are in the signed log: prove one.
    let (seen, _) = witness(kph.hub(), None).await?;
    let proved = kph.prove_entry(bg.seq, &seen).await?;
    assert_eq!(proved.entry, *bg);
    Ok(())
}

/// A real webhook receiver on loopback.
async fn webhook() -> anyhow::Result<(String, Arc<Mutex<Vec<serde_json::Value>>>)> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/notify", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, got))
}

async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn patients_are_told_of_reads_without_health_information_sqlite_folder() -> anyhow::Result<()>
{
    patients_are_told_of_reads_without_health_information(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread")]
async fn patients_are_told_of_reads_without_health_information_postgres_s3() -> anyhow::Result<()> {
    patients_are_told_of_reads_without_health_information(Backend::PostgresS3).await
}

async fn patients_are_told_of_reads_without_health_information(
    backend: Backend,
) -> anyhow::Result<()> {
    let s = seeded(backend, |_| {}).await?;
    let (url, got) = webhook().await?;
    let chan = s.world.login("dr.chan").await?;
    let p = chan.find_patient(&s.hkid).await?.context("patient")?;
    chan.set_patient_contact(
        p.id(),
        &medshare_model::api::PatientContact::Webhook { url: url.clone() },
    )
    .await?;
    // A colleague without access cannot redirect the notices.
    let leung = s.world.login("dr.leung").await?;
    assert_api(
        leung
            .set_patient_contact(
                p.id(),
                &medshare_model::api::PatientContact::Webhook { url: url.clone() },
            )
            .await,
        ErrorCode::Forbidden,
        "contact set without access",
    );

    let wong = s.world.login("dr.wong").await?;
    wong.open_document(s.doc).await?;
    let notice = wait_for("a notice", || got.lock().unwrap().first().cloned()).await;
    assert_eq!(notice["type"], "medshare.record-accessed");
    assert_eq!(notice["institution"], "Peak Private Hospital");
    let reference = notice["reference"].as_i64().context("reference")?;
    assert!(reference > 0);
    let text = notice.to_string();
    for secret in [
        s.patient.to_string(),
        s.doc.to_string(),
        "Echocardiogram".into(),
        "echo.pdf".into(),
    ] {
        assert!(!text.contains(&secret), "the notice leaks {secret}: {text}");
    }
    // Further reads by the same institution inside the window are one notice. Then a read by
    // another institution: its notice is queued after any duplicate would have been, so once it
    // arrives, a duplicate would have too (no fixed wait).
    wong.timeline(&s.hkid).await?;
    wong.open_document(s.doc).await?;
    chan.open_document(s.doc).await?;
    let from = |name: &'static str| {
        let got = got.clone();
        move || {
            let n = got
                .lock()
                .unwrap()
                .iter()
                .filter(|n| n["institution"] == name)
                .count();
            (n > 0).then_some(n)
        }
    };
    wait_for("the clinic's notice", from("Harbour View Clinic")).await;
    assert_eq!(
        wait_for("PPH's notices", from("Peak Private Hospital")).await,
        1
    );
    // Plain-text http is refused outside sandboxes; non-URLs always.
    assert_api(
        chan.set_patient_contact(
            p.id(),
            &medshare_model::api::PatientContact::Webhook {
                url: "not a url".into(),
            },
        )
        .await,
        ErrorCode::BadRequest,
        "bad webhook",
    );
    chan.clear_patient_contact(p.id()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn suspicious_patterns_alert_the_privacy_officers_sqlite_folder() -> anyhow::Result<()> {
    suspicious_patterns_alert_the_privacy_officers(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread")]
async fn suspicious_patterns_alert_the_privacy_officers_postgres_s3() -> anyhow::Result<()> {
    suspicious_patterns_alert_the_privacy_officers(Backend::PostgresS3).await
}

async fn suspicious_patterns_alert_the_privacy_officers(backend: Backend) -> anyhow::Result<()> {
    let s = seeded(backend, |c| {
        c.audit.alert_denials = 3;
        c.audit.alert_patients = 2;
    })
    .await?;
    let officer = s.world.login("privacy.kph").await?;
    let seen = officer.inbox(0).await?.last().map_or(0, |e| e.seq);

    // dr.ho (KPH) tries a document that was not shared with him, three times.
    let ho = s.world.login("dr.ho").await?;
    for _ in 0..3 {
        assert!(ho.open_document(s.doc).await.is_err());
    }
    let alert = |events: &[medshare_model::api::Event], rule: AlertRule| {
        events.iter().any(|e| {
            matches!(&e.event, EventKind::AccessAlert { rule: r, practitioner_id, .. }
                if *r == rule && *practitioner_id == s.world.id("dr.ho"))
        })
    };
    let mut events = Vec::new();
    for _ in 0..100 {
        events = officer.inbox(seen).await?;
        if alert(&events, AlertRule::RepeatedDenials) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(alert(&events, AlertRule::RepeatedDenials), "{events:?}");

    // Then break-glass into two patients' records in a row.
    let chan = s.world.login("dr.chan").await?;
    let mut patients = vec![s.hkid.clone()];
    let (_, second) = random_hkid();
    let p2 = chan
        .ensure_patient(&second, &PatientCard::default())
        .await?;
    chan.grant_consent(&p2, &ConsentTarget::Alliance).await?;
    patients.push(second);
    for hkid in &patients {
        let p = ho.find_patient(hkid).await?.context("patient")?;
        ho.break_glass(&p, "curiosity").await?;
        ho.timeline(hkid).await?;
    }
    for _ in 0..100 {
        events = officer.inbox(seen).await?;
        if alert(&events, AlertRule::ManyPatients) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(alert(&events, AlertRule::ManyPatients), "{events:?}");
    // One alert per rule and window, however long the pattern goes on. Then another member's
    // denials: their alert comes from a later batch, so once it is in, a duplicate for dr.ho
    // would be too (no fixed wait).
    for _ in 0..3 {
        let _ = ho.open_document(DocumentId::new()).await;
    }
    let admin = s.world.login("admin.kph").await?;
    for _ in 0..3 {
        let _ = admin.open_document(DocumentId::new()).await;
    }
    let admin_alert = |events: &[medshare_model::api::Event]| {
        events.iter().any(|e| {
            matches!(&e.event, EventKind::AccessAlert { practitioner_id, .. }
                if *practitioner_id == s.world.id("admin.kph"))
        })
    };
    for _ in 0..200 {
        if admin_alert(&officer.inbox(seen).await?) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        admin_alert(&officer.inbox(seen).await?),
        "the later alert never came"
    );
    let denial_alerts = officer
        .inbox(seen)
        .await?
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                EventKind::AccessAlert {
                    rule: AlertRule::RepeatedDenials,
                    practitioner_id,
                    ..
                } if practitioner_id == s.world.id("dr.ho")
            )
        })
        .count();
    assert_eq!(denial_alerts, 1);
    Ok(())
}
