//! The hub is the attacker (with, where said, one colluding insider): a real client talks to a
//! real hub through `medshare-hostile`, a proxy that rewrites, drops, reorders and replays the
//! hub's answers and captures everything the client sends. Each test is one attack from the
//! trust-gaps review; the client must refuse, and nothing it sent may open for the attacker.

mod common;

use common::*;
use medshare_client::Client;
use medshare_crypto::EncryptionKey;
use medshare_crypto::seal::{open_bytes, unwrap_key};
use medshare_hostile::{HostileHub, Method};
use medshare_model::records::PatientCard;
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use std::io::Cursor;

struct Scene {
    _dir: tempfile::TempDir,
    _hub: TestHub,
    world: World,
    evil: HostileHub,
}

async fn scene() -> anyhow::Result<Scene> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let evil = HostileHub::start(&hub.url).await?;
    Ok(Scene {
        _dir: dir,
        _hub: hub,
        world,
        evil,
    })
}

impl Scene {
    /// A cast member whose every request goes through the hostile hub.
    async fn victim(&self, handle: &str) -> anyhow::Result<Client> {
        self.world.login_at(&self.evil.url, handle).await
    }
}

fn card() -> PatientCard {
    PatientCard {
        name: Some("CHEUNG Ka Ming".into()),
        birth_date: Some("1961-04-02".into()),
        sex: Some("male".into()),
    }
}

/// The secret a test uploads; the attacker must never read it.
const SECRET: &[u8] = b"%PDF-1.4 coronary angiography: marker-7f3a stenosis of the LAD";

/// High 1: the hub answers "dr.wong" with another certified practitioner (dr.leung, a real
/// colleague at another desk). Sharing must refuse rather than seal the key to the substitute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_goes_only_to_the_handle_asked_for() -> anyhow::Result<()> {
    let s = scene().await?;
    let chan = s.victim("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &card()).await?;
    let doc = chan
        .upload(
            Cursor::new(SECRET.to_vec()),
            &patient,
            meta("r", "r.pdf"),
            &[],
            |_| {},
        )
        .await?;

    s.evil
        .rewrite_request(Method::GET, "/v1/practitioners/by-handle/dr.wong", |x| {
            x.path = "/v1/practitioners/by-handle/dr.leung".into()
        });
    let shared = chan
        .share(doc.document_id, &share_with("dr.wong", None))
        .await;
    assert_trust(shared, "share with a substituted practitioner");
    // Nothing was granted: the substitute cannot open it.
    let leung = s.world.login("dr.leung").await?;
    assert!(leung.open_document(doc.document_id).await.is_err());

    // The same at upload time.
    let up = chan
        .upload(
            Cursor::new(SECRET.to_vec()),
            &patient,
            meta("r2", "r2.pdf"),
            &[share_with("dr.wong", None)],
            |_| {},
        )
        .await;
    assert_trust(up, "upload shared with a substituted practitioner");
    Ok(())
}

/// High 1, by id: a practitioner fetched by id must be the one asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn practitioner_by_id_is_the_one_asked_for() -> anyhow::Result<()> {
    let s = scene().await?;
    let chan = s.victim("dr.chan").await?;
    let wong = s.world.id("dr.wong");
    let leung = s.world.id("dr.leung");
    s.evil.rewrite_request(
        Method::GET,
        &format!("/v1/practitioners/{wong}"),
        move |x| x.path = format!("/v1/practitioners/{leung}"),
    );
    let got = chan.trust().fetch_practitioner(chan.hub(), wong).await;
    assert_trust(got, "practitioner substituted by id");
    Ok(())
}

/// The insider's signature on "epoch n+1 of this patient is `recipient`, held by my
/// institution", as well-formed as an insider can make it (right previous digest, references).
fn forge_epoch(
    insider: &Client,
    insider_institution: medshare_model::InstitutionId,
    patient: &medshare_client::Patient,
    recipient: &str,
) -> medshare_model::statements::Signed {
    use base64::Engine;
    use medshare_model::api::ConsentHolder;
    let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&insider.save().signing)
        .unwrap()
        .try_into()
        .unwrap();
    let key = medshare_crypto::SigningKey::from_seed(&seed);
    let latest = patient.view.key_epochs.last().unwrap();
    let mut holders = patient.holders().unwrap().to_vec();
    holders.push(ConsentHolder::Institution {
        id: insider_institution,
    });
    key.sign_statement(&medshare_model::statements::PatientKeyEpoch {
        patient_id: patient.id(),
        epoch: patient.current().unwrap().0 + 1,
        previous: Some(latest.digest()),
        recipient: recipient.to_string(),
        refs: patient.latest().unwrap().refs.clone(),
        holders,
        signed_by: insider.id(),
        institution_id: insider_institution,
        issued_at: 1_800_000_000,
    })
}

/// High 2: a hub plus one colluding practitioner of an institution the patient never consented
/// to appends a patient key epoch whose key the insider holds. The next upload must not be
/// sealed to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_patient_key_epoch_is_refused() -> anyhow::Result<()> {
    let s = scene().await?;
    let ho = s.victim("dr.ho").await?; // KPH: registers the patient, consent KPH only
    let (_, hkid) = random_hkid();
    let patient = ho.ensure_patient(&hkid, &card()).await?;

    // The insider (HVC, no consent) signs epoch 2 with a key they hold.
    let insider = s.world.login("dr.chan").await?;
    let insider_key = EncryptionKey::generate();
    let forged = forge_epoch(
        &insider,
        s.world.institutions["HVC"],
        &patient,
        &insider_key.recipient(),
    );
    let inject = move |v: &mut serde_json::Value| {
        let epochs = if v.get("key_epochs").is_some() {
            v.get_mut("key_epochs")
        } else {
            v.get_mut("patient").and_then(|p| p.get_mut("key_epochs"))
        };
        if let Some(serde_json::Value::Array(a)) = epochs {
            a.push(serde_json::to_value(&forged).unwrap());
        }
    };
    let inject2 = inject.clone();
    s.evil
        .rewrite_json(Method::POST, "/v1/patients/lookup", inject);
    s.evil.rewrite_json(Method::POST, "/v1/search", inject2);

    let found = ho.find_patient(&hkid).await;
    let attempt = match found {
        Ok(Some(p)) => ho
            .upload(
                Cursor::new(SECRET.to_vec()),
                &p,
                meta("r", "r.pdf"),
                &[],
                |_| {},
            )
            .await
            .map(|_| ()),
        Ok(None) => panic!("the patient exists"),
        Err(e) => Err(e),
    };
    // Whatever the client did, the insider must not be able to read what it sent.
    if let Some(commit) = s.evil.last(Method::POST, "/v1/documents") {
        let body = commit.request_json();
        let upload = s.evil.last(Method::PUT, "/v1/uploads/*").expect("upload");
        for w in body["wraps"].as_array().unwrap() {
            if w["holder"]["kind"] == "patient" {
                let k = unwrap_key(&insider_key, w["wrap"].as_str().unwrap());
                if let Ok(doc_key) = k {
                    let plain = open_bytes(&doc_key, &upload.request)
                        .map(|p| p.to_vec())
                        .unwrap_or_default();
                    assert_ne!(plain.as_slice(), SECRET, "the insider read the upload");
                }
            }
        }
    }
    assert_trust(attempt, "upload to a patient with an injected key epoch");
    Ok(())
}

/// High 2, rollback: once a client saw epoch n of a patient's key, a hub serving the chain
/// truncated to an older epoch (whose key a party removed since still holds) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_patient_key_chain_is_refused() -> anyhow::Result<()> {
    let s = scene().await?;
    let ho = s.victim("dr.ho").await?;
    let (_, hkid) = random_hkid();
    let patient = ho.ensure_patient(&hkid, &card()).await?;
    let pph = medshare_client::ConsentTarget::Institution(s.world.institutions["PPH"]);
    ho.grant_consent(&patient, &pph).await?;
    let patient = ho.find_patient(&hkid).await?.expect("registered");
    ho.revoke_consent(&patient, &pph).await?;
    let now = ho.find_patient(&hkid).await?.expect("registered");
    assert_eq!(now.current()?.0, 3);

    // The hub hides epoch 3: epoch 2 is sealed to PPH, which no longer holds consent.
    let truncate = |v: &mut serde_json::Value| {
        let view = if v.get("key_epochs").is_some() {
            Some(v)
        } else {
            v.get_mut("patient")
        };
        if let Some(serde_json::Value::Array(a)) = view.and_then(|p| p.get_mut("key_epochs")) {
            a.pop();
        }
    };
    s.evil
        .rewrite_json(Method::POST, "/v1/patients/lookup", truncate);
    s.evil.rewrite_json(Method::POST, "/v1/search", truncate);
    assert_trust(ho.find_patient(&hkid).await, "truncated chain (lookup)");
    assert_trust(ho.timeline(&hkid).await, "truncated chain (search)");
    Ok(())
}

/// High 2, identifiers: the hub answers patient A's number with patient B (whose documents it
/// would show under A's number, and under whom it would file A's uploads). Refused: B's signed
/// record does not carry A's reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_patient_under_the_number_asked_for_is_refused() -> anyhow::Result<()> {
    let s = scene().await?;
    let ho = s.victim("dr.ho").await?;
    let (_, hkid_a) = random_hkid();
    let (_, hkid_b) = random_hkid();
    let a = ho.ensure_patient(&hkid_a, &card()).await?;
    let b = ho.ensure_patient(&hkid_b, &card()).await?;
    ho.upload(
        Cursor::new(b"B's record".to_vec()),
        &b,
        meta("b", "b.pdf"),
        &[],
        |_| {},
    )
    .await?;
    let (ref_a, ref_b) = (a.patient_ref.clone(), b.patient_ref.clone());
    let (ra, rb) = (ref_a.to_string(), ref_b.to_string());
    let swap = move |x: &mut medshare_hostile::Exchange| {
        let body = String::from_utf8_lossy(&x.request).replace(&ra, &rb);
        x.request = body.into_bytes().into();
    };
    let swap2 = swap.clone();
    s.evil
        .rewrite_request(Method::POST, "/v1/patients/lookup", swap);
    s.evil.rewrite_request(Method::POST, "/v1/search", swap2);
    assert_trust(ho.find_patient(&hkid_a).await, "B served for A (lookup)");
    assert_trust(ho.timeline(&hkid_a).await, "B served for A (search)");
    assert_trust(
        ho.ensure_patient(&hkid_a, &card()).await,
        "A's upload filed under B",
    );
    Ok(())
}

/// High 2, identifiers without patient-wide access: a colleague who only holds grants searches
/// A's number; the hub answers with B's granted documents and hides the patient record. The
/// bindings name B's reference: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_documents_of_another_patient_are_refused() -> anyhow::Result<()> {
    let s = scene().await?;
    let chan = s.world.login("dr.chan").await?;
    let (_, hkid_a) = random_hkid();
    let (_, hkid_b) = random_hkid();
    let a = chan.ensure_patient(&hkid_a, &card()).await?;
    let b = chan.ensure_patient(&hkid_b, &card()).await?;
    let wong_share = [share_with("dr.wong", None)];
    chan.upload(
        Cursor::new(b"A".to_vec()),
        &a,
        meta("a", "a.pdf"),
        &wong_share,
        |_| {},
    )
    .await?;
    chan.upload(
        Cursor::new(b"B".to_vec()),
        &b,
        meta("b", "b.pdf"),
        &wong_share,
        |_| {},
    )
    .await?;
    let wong = s.victim("dr.wong").await?;
    assert_eq!(wong.timeline(&hkid_a).await?.entries.len(), 1);
    let (ra, rb) = (a.patient_ref.to_string(), b.patient_ref.to_string());
    s.evil
        .rewrite_request(Method::POST, "/v1/search", move |x| {
            let body = String::from_utf8_lossy(&x.request).replace(&ra, &rb);
            x.request = body.into_bytes().into();
        });
    s.evil.rewrite_json(Method::POST, "/v1/search", |v| {
        v["patient"] = serde_json::Value::Null;
    });
    assert_trust(
        wong.timeline(&hkid_a).await,
        "B's documents under A's number",
    );
    Ok(())
}

/// High 2, institutions: after a member is removed the institution's key has a new epoch; a
/// hub serving the list truncated (so a patient key would be sealed to the epoch the removed
/// member holds) is refused, by a client that saw the new epoch and by the institution's own
/// members (their keyring knows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_institution_epochs_are_refused() -> anyhow::Result<()> {
    let s = scene().await?;
    let hvc = s.world.institutions["HVC"];
    let ho = s.victim("dr.ho").await?;
    // dr.ho (KPH) saw HVC at epoch 1; HVC then removes a member: epoch 2.
    ho.trust().institution(ho.hub(), hvc).await?;
    let admin = s.world.login("admin.hvc").await?;
    admin.remove_member(s.world.id("dt.lam")).await?;
    assert_eq!(ho.trust().institution(ho.hub(), hvc).await?.1.epoch, 2);
    s.evil
        .rewrite_json(Method::GET, &format!("/v1/institutions/{hvc}"), |v| {
            if let Some(serde_json::Value::Array(a)) = v.get_mut("epochs") {
                a.pop();
            }
        });
    assert_trust(
        ho.trust().institution(ho.hub(), hvc).await,
        "HVC's epoch list truncated",
    );
    // A member of HVC logging in fresh through the hostile hub: the keyring names epoch 2.
    let chan = s.victim("dr.chan").await;
    let refused = match chan {
        Err(e) => format!("{e:#}").contains("older institution key"),
        Ok(c) => {
            let (_, hkid) = random_hkid();
            matches!(
                c.ensure_patient(&hkid, &card()).await,
                Err(medshare_client::ClientError::Trust(_))
            )
        }
    };
    assert!(
        refused,
        "a member must not seal to an old epoch of their own institution"
    );
    Ok(())
}

/// Medium 5: a clinician of another institution under break-glass (or with a self-declared
/// care relationship through alliance-wide consent) cannot rewrite the patient's consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_cannot_change_consent() -> anyhow::Result<()> {
    let s = scene().await?;
    let ho = s.world.login("dr.ho").await?; // KPH registers
    let (_, hkid) = random_hkid();
    let patient = ho.ensure_patient(&hkid, &card()).await?;
    ho.grant_consent(&patient, &medshare_client::ConsentTarget::Alliance)
        .await?;
    let kph = medshare_client::ConsentTarget::Institution(s.world.institutions["KPH"]);

    let wong = s.world.login("dr.wong").await?; // PPH: alliance consent only
    let p = wong.find_patient(&hkid).await?.expect("registered");
    wong.break_glass(&p, "unconscious in ED, no history available")
        .await?;
    let p = wong.find_patient(&hkid).await?.expect("registered");
    let refused = wong.revoke_consent(&p, &kph).await;
    assert!(refused.is_err(), "break-glass rewrote the consent");
    // Even with the client's own check bypassed: the hub refuses a raw request too.
    let leung = s.world.login("dr.leung").await?;
    let p = leung.find_patient(&hkid).await?.expect("registered");
    leung.declare_care(&p, None).await?;
    let raw = http()
        .post(format!(
            "{}/v1/patients/{}/consent/revoke",
            s.evil.upstream(),
            p.id()
        ))
        .bearer_auth(token(&leung))
        .json(&serde_json::json!({
            "from": {"kind": "institution", "id": s.world.institutions["KPH"]},
            "new_epoch": p.view.key_epochs[0],
            "wraps": []
        }))
        .send()
        .await?;
    assert_eq!(
        raw.status(),
        403,
        "a consent change through alliance-wide consent"
    );
    // KPH still holds the patient and reads everything.
    let p = ho.find_patient(&hkid).await?.expect("registered");
    assert!(
        p.holders()?
            .contains(&medshare_model::api::ConsentHolder::Institution {
                id: s.world.institutions["KPH"]
            })
    );
    Ok(())
}

/// Medium 7: a removed member's revocation is signed by their institution; a client that saw it
/// never seals a key to them again, even when the hub later hides the revocation and says the
/// member is active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_member_stays_revoked() -> anyhow::Result<()> {
    let s = scene().await?;
    let chan = s.victim("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &card()).await?;
    let doc = chan
        .upload(
            Cursor::new(SECRET.to_vec()),
            &patient,
            meta("r", "r.pdf"),
            &[],
            |_| {},
        )
        .await?;
    let admin = s.world.login("admin.hvc").await?;
    admin.remove_member(s.world.id("dt.lam")).await?;
    assert_trust(
        chan.share(doc.document_id, &share_with("dt.lam", None))
            .await,
        "share with a revoked member",
    );
    s.evil
        .rewrite_json(Method::GET, "/v1/practitioners/by-handle/dt.lam", |v| {
            v["revocation"] = serde_json::Value::Null;
            v["active"] = serde_json::Value::Bool(true);
        });
    assert_trust(
        chan.share(doc.document_id, &share_with("dt.lam", None))
            .await,
        "share with a revoked member whose revocation the hub hides",
    );
    assert!(
        chan.trust()
            .memory()
            .snapshot()
            .revoked
            .contains_key(&s.world.id("dt.lam"))
    );
    Ok(())
}
