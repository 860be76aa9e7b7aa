//! A hub that lies is refused by the client. The hub is stopped, its database or blob folder
//! edited the way a compromised hub could, and restarted on the same data: a practitioner's
//! public key swapped inside their certificate, a certificate signed by another institution,
//! an institution epoch key swapped, a document moved to another patient, ciphertext altered
//! or truncated. Every time the client must refuse with a trust error, and never hand out
//! plaintext as a success.

mod common;

use common::*;
use medshare_client::{Client, ClientError, ConsentTarget, Hub};
use medshare_crypto::EncryptionKey;
use medshare_model::api::ConsentHolder;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::statements::{PractitionerCert, Signed};
use medshare_model::{DocumentId, PractitionerId};
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

async fn db(dir: &Path) -> anyhow::Result<SqliteConnection> {
    Ok(SqliteConnectOptions::new()
        .filename(dir.join("medshare.db"))
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await?)
}

/// Start a hub on the same data folder and point the world at it.
async fn restart(world: &mut World, dir: &Path) -> anyhow::Result<TestHub> {
    let hub = TestHub::start(sandbox_config(dir)).await?;
    world.hub_url = hub.url.clone();
    Ok(hub)
}

async fn text(conn: &mut SqliteConnection, sql: &'static str, arg: &str) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar::<_, String>(sql)
        .bind(arg.to_string())
        .fetch_one(conn)
        .await?)
}

async fn execute(
    conn: &mut SqliteConnection,
    sql: &'static str,
    args: &[&str],
) -> anyhow::Result<()> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = q.bind(a.to_string());
    }
    let n = q.execute(conn).await?.rows_affected();
    assert_eq!(n, 1, "{sql}: one row changed");
    Ok(())
}

async fn cert_of(conn: &mut SqliteConnection, handle: &str) -> anyhow::Result<Signed> {
    let json = text(
        conn,
        "SELECT cert FROM practitioners WHERE handle = ?",
        handle,
    )
    .await?;
    Ok(serde_json::from_str(&json)?)
}

/// Store `cert` as the practitioner's certificate (and its recipient in the plain column).
async fn set_cert(conn: &mut SqliteConnection, handle: &str, cert: &Signed) -> anyhow::Result<()> {
    let payload: serde_json::Value = serde_json::from_str(&cert.payload)?;
    let recipient = payload["recipient"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    execute(
        conn,
        "UPDATE practitioners SET cert = ?, recipient = ? WHERE handle = ?",
        &[&serde_json::to_string(cert)?, &recipient, handle],
    )
    .await
}

/// The same statement with `recipient` replaced in its payload; the signature is kept.
fn with_recipient(s: &Signed, recipient: &str) -> Signed {
    let mut payload: serde_json::Value = serde_json::from_str(&s.payload).expect("JSON payload");
    assert!(payload.get("recipient").is_some());
    payload["recipient"] = recipient.into();
    Signed {
        payload: serde_json::to_string(&payload).expect("serialises"),
        ..s.clone()
    }
}

fn blob_path(dir: &Path, doc: DocumentId) -> PathBuf {
    let name = doc.to_string();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable folder") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name.as_str()) {
                return p;
            }
        }
    }
    panic!("no blob for {doc}");
}

fn card() -> PatientCard {
    PatientCard {
        name: Some("MAK Wing Yan".into()),
        birth_date: Some("1970-07-07".into()),
        sex: Some("female".into()),
    }
}

/// `login` must fail with a trust refusal.
async fn assert_login_refused(world: &World, handle: &str) {
    match world.login(handle).await {
        Ok(_) => panic!("{handle} logged in against a tampered hub"),
        Err(e) => assert!(
            matches!(client_error(&e), Some(ClientError::Trust(_))),
            "{handle}: expected a trust refusal, got {e:?}"
        ),
    }
}

/// What the scenario set up before any tampering.
struct Setup {
    hkid: PatientIdentifier,
    /// Documents of the patient listed in dr.chan's timeline.
    docs: usize,
    /// Not shared with anyone.
    unshared: DocumentId,
    wong: PractitionerId,
}

/// Sharing with dr.wong, at upload or afterwards, is refused, and nothing reaches the hub.
async fn assert_sharing_with_wong_refused(chan: &Client, s: &Setup, what: &str) {
    assert_trust(
        chan.practitioner_by_handle(&"dr.wong".parse().unwrap())
            .await,
        &format!("{what}: resolve dr.wong"),
    );
    let p = chan
        .find_patient(&s.hkid)
        .await
        .unwrap()
        .expect("patient exists");
    assert_trust(
        chan.upload(
            Cursor::new(b"%PDF-1.4 referral for the cardiologist".to_vec()),
            &p,
            meta("Referral", "referral.pdf"),
            &[share_with("dr.wong", None)],
            |_| {},
        )
        .await,
        &format!("{what}: upload shared with dr.wong"),
    );
    assert_trust(
        chan.share(s.unshared, &share_with("dr.wong", None)).await,
        &format!("{what}: share with dr.wong"),
    );
    let t = chan.timeline(&s.hkid).await.unwrap();
    assert_eq!(t.entries.len(), s.docs, "{what}: no document was added");
    assert!(
        chan.grants(s.unshared)
            .await
            .unwrap()
            .iter()
            .all(|g| g.grantee != s.wong),
        "{what}: no share was recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_hub_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let hub = TestHub::start(sandbox_config(dir)).await?;
    let mut world = World::build(&hub, &story_cast()).await?;
    let (chan, wong, admin_hvc) = tokio::try_join!(
        world.login("dr.chan"),
        world.login("dr.wong"),
        world.login("admin.hvc"),
    )?;
    let wong_session = wong.save();
    let hvc_signing = admin_hvc
        .context()
        .await?
        .institution_signing
        .clone()
        .expect("an administrator holds the institution signing key");
    let pph = world.institutions["PPH"];

    // The clinic's patients P and P2; documents of P shared with dr.wong (to be moved,
    // corrupted in the middle, truncated) and one not shared.
    let (_, hkid) = random_hkid();
    let (_, hkid2) = random_hkid();
    let p = chan.ensure_patient(&hkid, &card()).await?;
    let p2 = chan.ensure_patient(&hkid2, &card()).await?;
    let plain = b"%PDF-1.4 stress echo: inducible ischaemia in the LAD territory. ".repeat(3000);
    let mut shared = Vec::new();
    for name in ["moved", "flipped", "truncated"] {
        let v = chan
            .upload(
                Cursor::new(plain.clone()),
                &p,
                meta(&format!("Stress echo ({name})"), &format!("{name}.pdf")),
                &[share_with("dr.wong", None)],
                |_| {},
            )
            .await?;
        shared.push(v.document_id);
    }
    let [moved, flipped, truncated] = shared[..] else {
        unreachable!()
    };
    let unshared = chan
        .upload(
            Cursor::new(b"%PDF-1.4 clinic note".to_vec()),
            &p,
            meta("Clinic note", "note.pdf"),
            &[],
            |_| {},
        )
        .await?
        .document_id;
    let setup = Setup {
        hkid: hkid.clone(),
        docs: 4,
        unshared,
        wong: wong.id(),
    };
    assert_eq!(chan.timeline(&hkid).await?.entries.len(), setup.docs);
    for d in [moved, flipped, truncated] {
        let o = wong.open_document(d).await?;
        assert!(download_vec(&wong, &o).await? == plain);
    }
    drop((chan, wong, admin_hvc));
    hub.stop().await?;

    let mut conn = db(dir).await?;
    let wong_cert = cert_of(&mut conn, "dr.wong").await?;
    let hub_key = EncryptionKey::generate();

    // 1. The hub swaps dr.wong's encryption key inside the signed certificate.
    set_cert(
        &mut conn,
        "dr.wong",
        &with_recipient(&wong_cert, &hub_key.recipient()),
    )
    .await?;
    let hub = restart(&mut world, dir).await?;
    let chan = world.login("dr.chan").await?;
    assert_sharing_with_wong_refused(&chan, &setup, "swapped recipient").await;
    assert_login_refused(&world, "dr.wong").await;
    // Control: the same operations with an untampered colleague work.
    chan.practitioner_by_handle(&"dr.leung".parse().unwrap())
        .await?;
    drop(chan);
    hub.stop().await?;

    // 2. A certificate for dr.wong with the hub's key, signed by another (certified)
    // institution: honestly labelled with its signer, and relabelled as PPH's.
    let mut forged: PractitionerCert = wong_cert.payload_as()?;
    forged.recipient = hub_key.recipient();
    let by_hvc = hvc_signing.sign_statement(&forged);
    assert_ne!(by_hvc.signer, wong_cert.signer);
    let relabelled = Signed {
        signer: wong_cert.signer.clone(),
        ..by_hvc.clone()
    };
    for (what, cert) in [
        ("certificate signed by HVC", &by_hvc),
        ("HVC signature labelled as PPH's", &relabelled),
    ] {
        set_cert(&mut conn, "dr.wong", cert).await?;
        let hub = restart(&mut world, dir).await?;
        let chan = world.login("dr.chan").await?;
        assert_sharing_with_wong_refused(&chan, &setup, what).await;
        drop(chan);
        hub.stop().await?;
    }
    set_cert(&mut conn, "dr.wong", &wong_cert).await?;

    // 3. The hub swaps PPH's epoch key: consent to PPH, and PPH members, are refused.
    let epoch_sql =
        "SELECT statement FROM institution_epochs WHERE institution_id = ? AND epoch = 1";
    let pph_epoch: Signed =
        serde_json::from_str(&text(&mut conn, epoch_sql, &pph.to_string()).await?)?;
    let swapped = with_recipient(&pph_epoch, &hub_key.recipient());
    execute(
        &mut conn,
        "UPDATE institution_epochs SET statement = ? WHERE institution_id = ? AND epoch = 1",
        &[&serde_json::to_string(&swapped)?, &pph.to_string()],
    )
    .await?;
    let hub = restart(&mut world, dir).await?;
    let chan = world.login("dr.chan").await?;
    chan.practitioner_by_handle(&"dr.wong".parse().unwrap())
        .await
        .expect("dr.wong's restored certificate verifies");
    let p_now = chan.find_patient(&hkid).await?.expect("patient exists");
    assert_trust(
        chan.grant_consent(&p_now, &ConsentTarget::Institution(pph))
            .await,
        "consent to PPH with a swapped epoch key",
    );
    let consent = chan
        .find_patient(&hkid)
        .await?
        .expect("patient exists")
        .view
        .consent;
    assert_eq!(
        consent,
        vec![ConsentHolder::Institution {
            id: world.institutions["HVC"]
        }],
        "no consent was recorded"
    );
    assert_login_refused(&world, "dr.wong").await;
    let resumed = Client::resume(&Hub::new(&world.hub_url, None)?, &wong_session)?;
    let (_, new_hkid) = random_hkid();
    assert_trust(
        resumed.ensure_patient(&new_hkid, &card()).await,
        "a PPH member registers a patient under a swapped epoch key",
    );
    drop((chan, resumed));
    hub.stop().await?;
    execute(
        &mut conn,
        "UPDATE institution_epochs SET statement = ? WHERE institution_id = ? AND epoch = 1",
        &[&serde_json::to_string(&pph_epoch)?, &pph.to_string()],
    )
    .await?;

    // 4. The hub moves a document to another patient, and 5. alters ciphertext.
    execute(
        &mut conn,
        "UPDATE documents SET patient_id = ? WHERE id = ?",
        &[&p2.id().to_string(), &moved.to_string()],
    )
    .await?;
    conn.close().await?;
    let path = blob_path(dir, flipped);
    let mut bytes = std::fs::read(&path)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes)?;
    let path = blob_path(dir, truncated);
    let bytes = std::fs::read(&path)?;
    std::fs::write(&path, &bytes[..bytes.len() - 1])?;

    let hub = restart(&mut world, dir).await?;
    let (chan, wong) = tokio::try_join!(world.login("dr.chan"), world.login("dr.wong"))?;
    assert_trust(wong.open_document(moved).await, "moved document (reader)");
    assert_trust(chan.open_document(moved).await, "moved document (uploader)");
    assert_trust(
        chan.timeline(&hkid2).await,
        "timeline of the patient the document was moved to",
    );
    let t = chan.timeline(&hkid).await?;
    assert!(t.entries.iter().all(|e| e.document_id != moved));
    assert_eq!(t.entries.len(), setup.docs - 1);

    for (what, doc) in [
        ("a flipped ciphertext byte", flipped),
        ("a truncated ciphertext", truncated),
    ] {
        let opened = wong.open_document(doc).await?;
        let sink = SharedVec::default();
        let res = wong.download(&opened, sink.clone(), |_| {}).await;
        assert_trust(res, what);
        assert!(
            sink.bytes() != plain,
            "{what}: the plaintext was not produced"
        );
    }

    // Control: with PPH's key restored, consent to PPH now works.
    let p_now = chan.find_patient(&hkid).await?.expect("patient exists");
    chan.grant_consent(&p_now, &ConsentTarget::Institution(pph))
        .await?;
    drop((chan, wong));
    hub.stop().await
}

/// A hub that alters the age header of a ciphertext (here: one character of the recipient
/// stanza) is also misbehaving, and must be reported as such. The download fails without
/// producing plaintext, but as `ClientError::Crypto(NoMatchingKey)` ("no key opens this"),
/// because `Client::download` passes `open_reader`'s error through unchanged, unlike the
/// errors of the payload and of the final hash check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_ciphertext_header_is_a_trust_refusal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let hub = TestHub::start(sandbox_config(dir)).await?;
    let mut world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let p = chan.ensure_patient(&hkid, &card()).await?;
    let plain = b"%PDF-1.4 stress echo".repeat(5000);
    let doc = chan
        .upload(
            Cursor::new(plain.clone()),
            &p,
            meta("Stress echo", "echo.pdf"),
            &[share_with("dr.wong", None)],
            |_| {},
        )
        .await?
        .document_id;
    drop(chan);
    hub.stop().await?;

    let path = blob_path(dir, doc);
    let mut bytes = std::fs::read(&path)?;
    let at = bytes
        .windows(9)
        .position(|w| w == b"-> X25519")
        .expect("an age X25519 stanza")
        + 12;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes)?;

    let hub = restart(&mut world, dir).await?;
    let wong = world.login("dr.wong").await?;
    let opened = wong.open_document(doc).await?;
    let sink = SharedVec::default();
    let res = wong.download(&opened, sink.clone(), |_| {}).await;
    assert!(sink.bytes() != plain, "the plaintext was not produced");
    assert_trust(res, "a flipped header byte");
    drop(wong);
    hub.stop().await
}
