//! Crash safety: kill -9 the real `medshare serve` process while uploads stream. After a
//! restart every acknowledged upload is complete and verifies, and no partial document is
//! listed or left on disk.

mod common;

use common::{Running, start_hub};
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
    let report = verify_log_offline(dir.path())?;
    assert!(report.contains("The log is intact"));

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

/// The operator's offline check of the whole audit log after the crash: must succeed; returns
/// its report.
fn verify_log_offline(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let verify = Command::new(env!("CARGO_BIN_EXE_medshare"))
        .args(["audit", "verify", "--offline", "--data-dir"])
        .arg(data_dir)
        .env("MEDSHARE_CONFIG_DIR", data_dir.join("cli"))
        .output()?;
    let report = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert!(
        verify.status.success(),
        "audit verify failed after the crash: {report}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    Ok(report)
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

/// What one writer was doing when the hub died: each action is recorded as attempted before it
/// is sent and as acknowledged when the hub answered it.
#[derive(Default)]
struct Journal {
    attempted: std::collections::BTreeSet<(&'static str, usize)>,
    acked: std::collections::BTreeSet<(&'static str, usize)>,
}

impl Journal {
    fn acked(&self, what: &'static str, i: usize) -> bool {
        self.acked.contains(&(what, i))
    }
    fn attempted(&self, what: &'static str, i: usize) -> bool {
        self.attempted.contains(&(what, i))
    }
}

type Shared = Arc<Mutex<Journal>>;

/// Record `what` on `i` around the call; stop the writer at the first failure (the hub died).
async fn step<T, E>(
    j: &Shared,
    what: &'static str,
    i: usize,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> bool {
    j.lock().unwrap().attempted.insert((what, i));
    let ok = call.await.is_ok();
    if ok {
        j.lock().unwrap().acked.insert((what, i));
    }
    ok
}

fn small_doc(i: usize) -> (DocumentMeta, Vec<u8>) {
    let meta = DocumentMeta {
        title: format!("note {i}"),
        file_name: format!("note-{i}.txt"),
        media_type: "text/plain".into(),
        category: "other".into(),
        date_of_service: None,
        classification: None,
        urgent: false,
    };
    (meta, format!("progress note {i}\n").repeat(64).into_bytes())
}

/// kill -9 of the real hub while every other write path runs at once: shares and revocations,
/// consent granted and withdrawn (a new patient key epoch each), break-glass, and members
/// removed (an institution key rotation each), all appending to the audit log. After a restart
/// every acknowledged action holds, whatever was cut off is either whole or absent (the patient
/// and institution key chains verify and open, every listed document opens), and the log
/// verifies with an entry for every acknowledged action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_every_write_path_keeps_what_was_acknowledged() -> anyhow::Result<()> {
    use medshare_client::{ConsentTarget, Share};
    use medshare_model::api::ConsentHolder;
    use medshare_sandbox::Person;

    const DOCS: usize = 40;
    const CONSENTS: usize = 12;
    const GLASS: usize = 12;
    const LEAVERS: usize = 8;

    let dir = tempfile::tempdir()?;
    let (hub, url) = start_hub(dir.path());
    let mut hub = Running(hub);
    let token = std::fs::read_to_string(dir.path().join("bootstrap-token"))?;
    let mut cast = story_cast();
    for x in 0..LEAVERS {
        cast.people.push(Person {
            handle: format!("dr.locum{x}"),
            name: format!("LOCUM Number {x}"),
            profession: medshare_model::registration::Profession::Doctor,
            registration: format!("M3{:04}", 100 + x),
            specialty: None,
            roles: vec![medshare_model::registration::Role::Clinician],
            institution: "HVC".into(),
        });
    }
    let mut world = World::build_at(&url, &token, &cast).await?;
    let kph = ConsentHolder::Institution {
        id: world.institutions["KPH"],
    };
    let kph_target = ConsentTarget::Institution(world.institutions["KPH"]);

    // Before the crash: dr.chan's patient with documents, patients whose consent will change,
    // and patients KPH holds consent for (break-glass needs it) but no one there cares for.
    let chan = Arc::new(world.login("dr.chan").await?);
    let main_patient = chan
        .ensure_patient(&patient_id(), &PatientCard::default())
        .await?;
    let mut docs = Vec::new();
    for i in 0..DOCS {
        let (meta, body) = small_doc(i);
        let d = chan
            .upload(std::io::Cursor::new(body), &main_patient, meta, &[], |_| {})
            .await?;
        docs.push(d.document_id);
    }
    let people = medshare_synth::patients(4242, CONSENTS + GLASS);
    let mut consent_patients = Vec::new();
    let mut glass_patients = Vec::new();
    for (k, sp) in people.iter().enumerate() {
        let hkid: PatientIdentifier = sp.hkid.parse()?;
        let p = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
        let (meta, body) = small_doc(1000 + k);
        chan.upload(std::io::Cursor::new(body), &p, meta, &[], |_| {})
            .await?;
        if k < CONSENTS {
            consent_patients.push((hkid, p));
        } else {
            chan.grant_consent(&p, &kph_target).await?;
            glass_patients.push(hkid);
        }
    }

    // The writers.
    let journal: Shared = Arc::default();
    let mut writers = Vec::new();
    {
        // Shares with dr.wong; every odd document is revoked again right after.
        let (chan, j, docs) = (chan.clone(), journal.clone(), docs.clone());
        writers.push(tokio::spawn(async move {
            let wong = Share {
                with: "dr.wong".parse().unwrap(),
                institution: None,
                expires_at: None,
            };
            for (i, d) in docs.iter().enumerate() {
                if !step(&j, "share", i, chan.share(*d, &wong)).await {
                    return;
                }
                if i % 2 == 1 && !step(&j, "revoke", i, chan.revoke(*d, &wong.with)).await {
                    return;
                }
            }
        }));
    }
    {
        // Consent to KPH granted; every odd patient's withdrawn again.
        let (chan, j) = (chan.clone(), journal.clone());
        let list: Vec<_> = consent_patients.iter().map(|(h, _)| h.clone()).collect();
        let target = kph_target.clone();
        writers.push(tokio::spawn(async move {
            for (i, hkid) in list.iter().enumerate() {
                let Ok(Some(p)) = chan.find_patient(hkid).await else {
                    return;
                };
                if !step(&j, "grant", i, chan.grant_consent(&p, &target)).await {
                    return;
                }
                if i % 2 == 1 {
                    let Ok(Some(p)) = chan.find_patient(hkid).await else {
                        return;
                    };
                    if !step(&j, "withdraw", i, chan.revoke_consent(&p, &target)).await {
                        return;
                    }
                }
            }
        }));
    }
    {
        // dr.ho breaks the glass for patients KPH holds consent for.
        let ho = world.login("dr.ho").await?;
        let (j, list) = (journal.clone(), glass_patients.clone());
        writers.push(tokio::spawn(async move {
            for (i, hkid) in list.iter().enumerate() {
                let Ok(Some(p)) = ho.find_patient(hkid).await else {
                    return;
                };
                if !step(
                    &j,
                    "glass",
                    i,
                    ho.break_glass(&p, "collapsed in the waiting room"),
                )
                .await
                {
                    return;
                }
            }
        }));
    }
    {
        // HVC's administrator removes the locums one by one (a key rotation each).
        let admin = world.login("admin.hvc").await?;
        let (j, ids) = (
            journal.clone(),
            (0..LEAVERS)
                .map(|x| world.id(&format!("dr.locum{x}")))
                .collect::<Vec<_>>(),
        );
        writers.push(tokio::spawn(async move {
            for (i, id) in ids.iter().enumerate() {
                if !step(&j, "remove", i, admin.remove_member(*id)).await {
                    return;
                }
            }
        }));
    }

    // Pull the plug once every writer has had something acknowledged.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        {
            let j = journal.lock().unwrap();
            let kinds = ["share", "grant", "glass", "remove"];
            if kinds
                .iter()
                .all(|k| j.acked.iter().any(|(what, _)| what == k))
            {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the writers made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(23)).await;
    hub.kill()?;
    hub.wait()?;
    for w in writers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    let journal = std::mem::take(&mut *journal.lock().unwrap());
    let cut_off = journal.attempted.len() - journal.acked.len();
    eprintln!(
        "acknowledged {} actions before the kill, {cut_off} cut off",
        journal.acked.len()
    );

    // Restart on the same folder.
    let (hub, url) = start_hub(dir.path());
    let mut hub = Running(hub);
    world.hub_url = url;

    // Shares and revocations, as dr.wong sees them.
    let wong = world.login("dr.wong").await?;
    for (i, d) in docs.iter().enumerate() {
        let opened = wong.open_document(*d).await;
        if journal.acked("revoke", i) {
            assert!(
                opened.is_err(),
                "document {i}: revocation acknowledged, still open"
            );
        } else if journal.acked("share", i) && !journal.attempted("revoke", i) {
            let opened = opened.map_err(|e| anyhow::anyhow!("document {i}: share lost: {e}"))?;
            wong.download(&opened, std::io::sink(), |_| {}).await?;
        } else if let Ok(opened) = opened {
            // Cut off: either way, what is visible is whole.
            wong.download(&opened, std::io::sink(), |_| {}).await?;
        }
    }

    // Consent: the verified chain names KPH exactly when the last acknowledged change says so,
    // and dr.chan still holds every epoch's key (no epoch without its wraps).
    let chan = world.login("dr.chan").await?;
    for (i, (hkid, _)) in consent_patients.iter().enumerate() {
        let p = chan
            .find_patient(hkid)
            .await?
            .ok_or_else(|| anyhow::anyhow!("patient {i} lost"))?;
        let holds = p.holders()?.contains(&kph);
        if journal.acked("withdraw", i) {
            assert!(
                !holds,
                "patient {i}: withdrawal acknowledged, KPH still holds consent"
            );
        } else if journal.acked("grant", i) && !journal.attempted("withdraw", i) {
            assert!(holds, "patient {i}: consent acknowledged, lost");
        }
        assert_eq!(
            chan.patient_keys(&p).await?.len(),
            p.epochs.len(),
            "patient {i}: an epoch without its key"
        );
        let t = chan.timeline(hkid).await?;
        for e in &t.entries {
            let opened = chan.open_document(e.document_id).await?;
            chan.download(&opened, std::io::sink(), |_| {}).await?;
        }
    }

    // Break-glass: an acknowledged window still lets dr.ho read.
    let ho = world.login("dr.ho").await?;
    for (i, hkid) in glass_patients.iter().enumerate() {
        if journal.acked("glass", i) {
            let t = ho.timeline(hkid).await?;
            assert!(!t.entries.is_empty(), "break-glass {i}: acknowledged, lost");
            let opened = ho.open_document(t.entries[0].document_id).await?;
            ho.download(&opened, std::io::sink(), |_| {}).await?;
        }
    }

    // Removals: an acknowledged removal holds; whoever stays still reads with the rotated keys.
    for x in 0..LEAVERS {
        let login = world.login(&format!("dr.locum{x}")).await;
        if journal.acked("remove", x) {
            assert!(
                login.is_err(),
                "locum {x}: removal acknowledged, can still log in"
            );
        }
    }
    let t = chan.timeline(&patient_id()).await?;
    assert_eq!(t.entries.len(), DOCS);
    for e in &t.entries {
        let opened = chan.open_document(e.document_id).await?;
        chan.download(&opened, std::io::sink(), |_| {}).await?;
    }
    let admin = world.login("admin.hvc").await?;
    admin.pending().await?;

    // The log: intact, and an allowed entry for every acknowledged action.
    let store = medshare_store::open(&format!(
        "sqlite://{}",
        dir.path().join("medshare.db").display()
    ))
    .await?;
    let entries = store.audit_entries(0, 1_000_000).await?;
    let allowed = |action: &'static str| {
        entries
            .iter()
            .filter(move |l| l.entry.action == action && l.entry.allowed())
    };
    for (i, d) in docs.iter().enumerate() {
        for (what, action) in [("share", "document.share"), ("revoke", "document.revoke")] {
            if journal.acked(what, i) {
                assert!(
                    allowed(action).any(|l| l.entry.document == Some(*d)),
                    "{what} of document {i} acknowledged but not logged"
                );
            }
        }
    }
    for (i, (_, p)) in consent_patients.iter().enumerate() {
        for (what, action) in [("grant", "consent.grant"), ("withdraw", "consent.revoke")] {
            if journal.acked(what, i) {
                assert!(
                    allowed(action).any(|l| l.entry.patient == Some(p.id())),
                    "{what} for patient {i} acknowledged but not logged"
                );
            }
        }
    }
    let glass = journal.acked.iter().filter(|(w, _)| *w == "glass").count();
    assert!(allowed("break-glass").count() >= glass);
    let removed = journal.acked.iter().filter(|(w, _)| *w == "remove").count();
    assert!(allowed("practitioner.remove").count() >= removed);
    verify_log_offline(dir.path())?;
    hub.kill()?;
    hub.wait()?;
    Ok(())
}
