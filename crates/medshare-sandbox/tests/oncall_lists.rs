//! On-call lists signed by their institution, real hub and real clients: an administrator
//! signs a list and replaces it with a newer version; a clinician's client uses only the
//! signed order for the escalation chain; the hub refuses a replayed (older) or misnamed
//! statement and a list signed by nobody of the institution; a list stored before lists were
//! signed is refused by clients until re-signed (both backends). Then a malicious hub: a list
//! swapped for another institution's, rolled back to an older version, a member inserted, the
//! members reordered (in the signed list or in the consult's chain): each refused.

mod common;

use common::*;
use medshare_client::consults::{ConsultRequest, Recipient};
use medshare_client::{Client, Patient};
use medshare_hostile::{HostileHub, Method};
use medshare_model::registration::{Profession, Role};
use medshare_model::{ErrorCode, InstitutionId, PractitionerId};
use medshare_sandbox::{Backend, Cast, Person, TestHub, World, story_cast};

/// The story's cast plus a cardiologist at each hospital, so both have a cardiology list.
fn cast() -> Cast {
    let mut c = story_cast();
    for (handle, name, reg, inst) in [
        ("dr.yeung", "YEUNG Wai Man", "M20009", "PPH"),
        ("dr.siu", "SIU Ka Ho", "M10009", "KPH"),
    ] {
        c.people.push(Person {
            handle: handle.into(),
            name: name.into(),
            profession: Profession::Doctor,
            registration: reg.into(),
            specialty: Some("Cardiology".into()),
            roles: vec![Role::Clinician],
            institution: inst.into(),
        });
    }
    c
}

fn handle(h: &str) -> medshare_model::Handle {
    h.parse().expect("valid handle")
}

fn ask(to: &str) -> ConsultRequest {
    ConsultRequest {
        to: to.parse::<Recipient>().expect("recipient"),
        question: "Troponin 5000 ng/L, STEMI?".into(),
        documents: Vec::new(),
        ack_within_secs: 600,
        urgent: true,
    }
}

async fn patient(c: &Client) -> anyhow::Result<Patient> {
    let (_, hkid) = random_hkid();
    Ok(
        c.ensure_patient(&hkid, &medshare_model::records::PatientCard::default())
            .await?,
    )
}

async fn institution_of(c: &Client) -> anyhow::Result<InstitutionId> {
    Ok(c.context().await?.institution.cert.institution_id)
}

/// PUT a list body as `c`, returning the status and problem code.
async fn put_raw(
    hub: &str,
    c: &Client,
    inst: InstitutionId,
    name: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, ErrorCode)> {
    let r = http()
        .put(format!("{hub}/v1/institutions/{inst}/oncall/{name}"))
        .bearer_auth(token(c))
        .json(body)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, problem(&r.bytes().await?).code))
}

async fn signed_lists(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = backend.config(dir.path());
    let hub = TestHub::start(config.clone()).await?;
    let world = World::build(&hub, &cast()).await?;
    let admin = world.login("admin.pph").await?;
    let chan = world.login("dr.chan").await?;
    let pph = institution_of(&admin).await?;
    let (wong, leung, yeung) = (
        world.id("dr.wong"),
        world.id("dr.leung"),
        world.id("dr.yeung"),
    );

    let v1 = admin
        .set_oncall_list(
            "cardiology",
            &handle("dr.yeung"),
            &[handle("dr.wong"), handle("dr.leung")],
        )
        .await?;
    assert_eq!(v1.list.version, 1);
    assert_eq!(v1.list.institution_id, pph);
    assert_eq!(v1.list.signed_by, world.id("admin.pph"));
    let seen = chan.oncall_list(Some("PPH"), "cardiology").await?;
    assert_eq!(seen.list, v1.list);
    assert_eq!(seen.list.chain(), vec![wong, leung, yeung]);

    // Replaced, reordered: version 2, and the consult's chain follows the signed order.
    let v2 = admin
        .set_oncall_list(
            "cardiology",
            &handle("dr.yeung"),
            &[handle("dr.leung"), handle("dr.wong")],
        )
        .await?;
    assert_eq!(v2.list.version, 2);
    let p = patient(&chan).await?;
    let c = chan
        .request_consult(&p, &ask("oncall:PPH/cardiology"))
        .await?;
    assert_eq!(c.chain, vec![leung, wong, yeung]);
    let listed = chan.oncall_lists(Some("PPH")).await?;
    assert_eq!(listed.verified.len(), 1);
    assert_eq!(listed.verified[0].list.version, 2);
    assert!(listed.unsigned.is_empty());

    // The hub refuses the old statement replayed, a statement naming another list, and
    // anyone but an administrator of the institution; the stored list is unchanged.
    let replay = serde_json::json!({ "statement": v1.statement });
    assert_eq!(
        put_raw(&hub.url, &admin, pph, "cardiology", &replay).await?,
        (409, ErrorCode::Conflict)
    );
    assert_eq!(
        put_raw(&hub.url, &admin, pph, "neurology", &replay).await?,
        (400, ErrorCode::BadSignature)
    );
    let wong_client = world.login("dr.wong").await?;
    assert_eq!(
        put_raw(&hub.url, &wong_client, pph, "cardiology", &replay).await?,
        (403, ErrorCode::Forbidden)
    );
    let admin_kph = world.login("admin.kph").await?;
    assert_eq!(
        put_raw(&hub.url, &admin_kph, pph, "cardiology", &replay).await?,
        (403, ErrorCode::Forbidden)
    );
    match wong_client
        .set_oncall_list("cardiology", &handle("dr.wong"), &[handle("dr.wong")])
        .await
    {
        Err(medshare_client::ClientError::Invalid(_)) => {}
        other => panic!("a clinician signing a list: {other:?}"),
    }
    assert_eq!(
        chan.oncall_list(Some("PPH"), "cardiology").await?.list,
        v2.list
    );

    // A list stored before lists were signed (what migration 0012 leaves): refused by
    // clients, shown as unsigned, usable again once an administrator signs it.
    let store = medshare_store::open(&config.database_url()).await?;
    store
        .set_oncall(&medshare_store::OncallRow {
            institution_id: pph,
            name: "renal".into(),
            owner: yeung,
            members: vec![wong],
            updated_at: 0,
            version: 0,
            statement: None,
        })
        .await?;
    assert_trust(
        chan.oncall_list(Some("PPH"), "renal").await,
        "an unsigned list",
    );
    assert_trust(
        chan.request_consult(&p, &ask("oncall:PPH/renal")).await,
        "a consult to an unsigned list",
    );
    assert_eq!(chan.oncall_lists(Some("PPH")).await?.unsigned, ["renal"]);
    let resigned = admin
        .set_oncall_list("renal", &handle("dr.yeung"), &[handle("dr.wong")])
        .await?;
    assert_eq!(resigned.list.version, 1);
    assert_eq!(
        chan.oncall_list(Some("PPH"), "renal").await?.list.chain(),
        vec![wong, yeung]
    );
    hub.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_lists_sqlite() -> anyhow::Result<()> {
    signed_lists(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_lists_postgres() -> anyhow::Result<()> {
    signed_lists(Backend::PostgresS3).await
}

/// Where the malicious-hub cases start: a hub on SQLite with the cast, both institutions'
/// administrators and institutions, and the doctors the lists name (wong, leung, yeung, ho).
struct Setting {
    _dir: tempfile::TempDir,
    hub: TestHub,
    world: World,
    admin: Client,
    admin_kph: Client,
    pph: InstitutionId,
    kph: InstitutionId,
    doctors: [PractitionerId; 4],
}

impl Setting {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let hub = TestHub::start(Backend::SqliteFolder.config(dir.path())).await?;
        let world = World::build(&hub, &cast()).await?;
        let admin = world.login("admin.pph").await?;
        let admin_kph = world.login("admin.kph").await?;
        let pph = institution_of(&admin).await?;
        let kph = institution_of(&admin_kph).await?;
        let doctors = ["dr.wong", "dr.leung", "dr.yeung", "dr.ho"].map(|h| world.id(h));
        Ok(Self {
            _dir: dir,
            hub,
            world,
            admin,
            admin_kph,
            pph,
            kph,
            doctors,
        })
    }
}

/// Rewrite the signed payload of a list (JSON) with `f`, keeping the signature.
fn tamper(v: &mut serde_json::Value, f: impl Fn(&mut serde_json::Value)) {
    let mut payload: serde_json::Value =
        serde_json::from_str(v["statement"]["payload"].as_str().expect("payload")).expect("json");
    f(&mut payload);
    v["statement"]["payload"] = payload.to_string().into();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_hub_list_edits_are_refused() -> anyhow::Result<()> {
    let Setting {
        _dir,
        hub,
        world,
        admin,
        admin_kph,
        pph,
        kph,
        doctors: [wong, leung, yeung, ho],
    } = Setting::start().await?;
    admin
        .set_oncall_list("cardiology", &handle("dr.yeung"), &[handle("dr.wong")])
        .await?;
    admin_kph
        .set_oncall_list("cardiology", &handle("dr.siu"), &[handle("dr.ho")])
        .await?;
    let fetch = |inst: InstitutionId| {
        let url = format!("{}/v1/institutions/{inst}/oncall/cardiology", hub.url);
        let t = token(&admin);
        async move {
            anyhow::Ok(
                http()
                    .get(url)
                    .bearer_auth(t)
                    .send()
                    .await?
                    .json::<serde_json::Value>()
                    .await?,
            )
        }
    };
    let pph_v1 = fetch(pph).await?;
    let kph_list = fetch(kph).await?;
    admin
        .set_oncall_list(
            "cardiology",
            &handle("dr.yeung"),
            &[handle("dr.wong"), handle("dr.leung")],
        )
        .await?;

    let evil = HostileHub::start(&hub.url).await?;
    let chan = world.login_at(&evil.url, "dr.chan").await?;
    let p = patient(&world.login("dr.chan").await?).await?;
    let list_path = format!("/v1/institutions/{pph}/oncall/cardiology");
    // The client sees the genuine version 2 first (and remembers it).
    let genuine = chan.oncall_list(Some("PPH"), "cardiology").await?;
    assert_eq!(genuine.list.version, 2);
    assert_eq!(genuine.list.chain(), vec![wong, leung, yeung]);

    // 1. Swapped for another institution's (genuinely signed) list of the same name.
    let swapped = kph_list.clone();
    let rule = evil.rewrite_json(Method::GET, &list_path, move |v| *v = swapped.clone());
    assert_trust(
        chan.oncall_list(Some("PPH"), "cardiology").await,
        "another institution's list",
    );
    assert_trust(
        chan.request_consult(&p, &ask("oncall:PPH/cardiology"))
            .await,
        "a consult through another institution's list",
    );
    evil.remove(rule);

    // 2. Rolled back to the (genuinely signed) version 1.
    let old = pph_v1.clone();
    let rule = evil.rewrite_json(Method::GET, &list_path, move |v| *v = old.clone());
    assert_trust(
        chan.oncall_list(Some("PPH"), "cardiology").await,
        "a rolled-back list",
    );
    assert_trust(
        chan.request_consult(&p, &ask("oncall:PPH/cardiology"))
            .await,
        "a consult through a rolled-back list",
    );
    evil.remove(rule);

    // 3. A member inserted into the signed list, or the members reordered: the signature
    //    no longer verifies.
    let rule = evil.rewrite_json(Method::GET, &list_path, move |v| {
        tamper(v, |p| {
            p["members"]
                .as_array_mut()
                .expect("members")
                .insert(1, serde_json::json!(ho))
        })
    });
    assert_trust(
        chan.oncall_list(Some("PPH"), "cardiology").await,
        "a member inserted",
    );
    evil.remove(rule);
    let rule = evil.rewrite_json(Method::GET, &list_path, move |v| {
        tamper(v, |p| {
            p["members"].as_array_mut().expect("members").reverse()
        })
    });
    assert_trust(
        chan.oncall_list(Some("PPH"), "cardiology").await,
        "members reordered",
    );
    evil.remove(rule);

    // 4. The hub's unsigned account of the list lengthened: ignored, the chain is the signed one.
    let rule = evil.rewrite_json(Method::GET, &list_path, move |v| {
        v["members"] = serde_json::json!([ho, wong, leung]);
    });
    let c = chan
        .request_consult(&p, &ask("oncall:PPH/cardiology"))
        .await?;
    assert_eq!(c.chain, vec![wong, leung, yeung]);
    evil.remove(rule);

    // 5. The consult filed with a chain other than the signed order: inserted, shortened,
    //    reordered. The client refuses the hub's account.
    for (what, chain) in [
        ("a member inserted", vec![wong, ho, leung, yeung]),
        ("shortened", vec![wong, yeung]),
        ("reordered", vec![leung, wong, yeung]),
    ] {
        let rule = evil.rewrite_json(Method::POST, "/v1/consults", move |v| {
            v["chain"] = serde_json::json!(chain);
        });
        assert_trust(
            chan.request_consult(&p, &ask("oncall:PPH/cardiology"))
                .await,
            what,
        );
        evil.remove(rule);
    }
    // Untouched: the genuine list still verifies.
    assert_eq!(
        chan.oncall_list(Some("PPH"), "cardiology").await?.list,
        genuine.list
    );
    hub.stop().await?;
    Ok(())
}

/// A rewrite of a JSON answer.
type Edit = dyn Fn(&mut serde_json::Value) + Send + Sync;

/// A recipient checks a consult to an on-call list against the list its requester's binding
/// names (signed by the institution, kept by the hub with the consult): the chain is the
/// list's order, and the hub's account of who was reached when follows it. A malicious hub
/// that shows another list, withholds it, re-addresses the consult, escalates it to someone
/// not on the list, out of order, or at a step its history does not show, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_check_the_chain_against_the_signed_list() -> anyhow::Result<()> {
    let Setting {
        _dir,
        hub,
        world,
        admin,
        admin_kph: _,
        pph,
        kph,
        doctors: [wong, leung, yeung, ho],
    } = Setting::start().await?;
    let v1 = admin
        .set_oncall_list("cardiology", &handle("dr.yeung"), &[handle("dr.leung")])
        .await?;
    admin
        .set_oncall_list(
            "cardiology",
            &handle("dr.yeung"),
            &[handle("dr.wong"), handle("dr.leung")],
        )
        .await?;
    let chan = world.login("dr.chan").await?;
    let p = patient(&chan).await?;
    let asked = chan
        .request_consult(&p, &ask("oncall:PPH/cardiology"))
        .await?;
    assert_eq!(asked.chain, vec![wong, leung, yeung]);

    let evil = HostileHub::start(&hub.url).await?;
    let wong_c = world.login_at(&evil.url, "dr.wong").await?;
    let leung_c = world.login_at(&evil.url, "dr.leung").await?;
    let path = format!("/v1/consults/{}", asked.consult_id);
    // Honest: the first recipient opens it and sees the list it came from.
    let opened = wong_c.open_consult(asked.consult_id).await?;
    let list = opened.oncall_list.expect("the consult's signed list");
    assert_eq!((list.version, list.chain()), (2, vec![wong, leung, yeung]));
    assert_eq!(list.institution_id, pph);
    let genuine = evil.last(Method::GET, &path).expect("dr.wong's answer");
    // The second recipient has not been reached yet: the hub refuses it.
    assert!(leung_c.open_consult(asked.consult_id).await.is_err());

    // Edits of the consult's list and address, each refused by the first recipient.
    let old = serde_json::to_value(&v1.statement)?;
    let edits: Vec<(&str, Box<Edit>)> = vec![
        (
            "an older version of the list",
            Box::new(move |v| v["oncall_list"] = old.clone()),
        ),
        (
            "the list withheld",
            Box::new(|v| {
                v.as_object_mut().expect("object").remove("oncall_list");
            }),
        ),
        (
            "re-addressed to another institution's list",
            Box::new(move |v| v["to"]["institution_id"] = serde_json::json!(kph)),
        ),
        (
            "shown as a consult to a colleague",
            Box::new(move |v| {
                v["to"] = serde_json::json!({"kind": "practitioner", "practitioner_id": wong})
            }),
        ),
    ];
    for (what, f) in edits {
        let rule = evil.rewrite_json(Method::GET, &path, f);
        assert_trust(wong_c.open_consult(asked.consult_id).await, what);
        evil.remove(rule);
    }

    // The hub's account of its progress. Forged consistently ("escalated to dr.leung"), the
    // second recipient accepts it: the timer is the hub's. Anything else is refused.
    let requested = asked.history[0].clone();
    let escalate = move |step: i64, to: &[medshare_model::PractitionerId]| {
        let mut history = vec![serde_json::to_value(&requested).expect("step")];
        for p in to {
            let mut s = history[0].clone();
            s["kind"] = "escalated".into();
            s["practitioner_id"] = serde_json::json!(p);
            history.push(s);
        }
        let history = serde_json::Value::Array(history);
        move |v: &mut serde_json::Value| {
            v["step"] = step.into();
            v["history"] = history.clone();
        }
    };
    // (The real hub refuses dr.leung, whom it has not reached: the evil one answers with
    // dr.wong's genuine answer, forged.)
    let forge = escalate(1, &[leung]);
    let rule = evil.rewrite(Method::GET, &path, move |x| {
        let mut v = genuine.json();
        forge(&mut v);
        x.status = genuine.status;
        x.headers = genuine.headers.clone();
        x.set_json(&v);
    });
    let seen = leung_c.open_consult(asked.consult_id).await?;
    assert_eq!(seen.view.current(), Some(leung));
    evil.remove(rule);
    for (what, step, to) in [
        ("escalated to someone not on the list", 1, vec![ho]),
        (
            "escalated out of order (the owner before dr.leung)",
            1,
            vec![yeung],
        ),
        ("a step without its escalation", 1, vec![]),
        ("escalated twice but shown at step 1", 1, vec![leung, yeung]),
        ("escalated to dr.leung twice", 2, vec![leung, leung]),
        ("a step beyond the chain", 3, vec![leung, yeung]),
    ] {
        let rule = evil.rewrite_json(Method::GET, &path, escalate(step, &to));
        // dr.wong was reached in every one of these accounts.
        assert_trust(wong_c.open_consult(asked.consult_id).await, what);
        evil.remove(rule);
    }
    // Acknowledged by someone it never reached.
    let rule = evil.rewrite_json(Method::GET, &path, move |v| {
        let mut s = v["history"][0].clone();
        s["kind"] = "acknowledged".into();
        s["practitioner_id"] = serde_json::json!(yeung);
        v["history"].as_array_mut().expect("history").push(s);
        v["state"] = "acknowledged".into();
        v["acked_by"] = serde_json::json!(yeung);
    });
    assert_trust(
        wong_c.open_consult(asked.consult_id).await,
        "acknowledged by someone not reached",
    );
    evil.remove(rule);
    // Honest again: it opens, and dr.wong acknowledges it.
    let acked = wong_c.ack_consult(asked.consult_id).await?;
    assert_eq!(acked.view.acked_by, Some(wong));
    hub.stop().await?;
    Ok(())
}

/// A list is valid until the date its administrator signed into it: afterwards clients refuse
/// it (a hub can hide a newer list only until then), list it as expired, and ask no consult
/// through it; setting it again makes it usable. Validity beyond 90 days is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lists_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(Backend::SqliteFolder.config(dir.path())).await?;
    let world = World::build(&hub, &cast()).await?;
    let admin = world.login("admin.pph").await?;
    let chan = world.login("dr.chan").await?;
    let p = patient(&chan).await?;
    match admin
        .set_oncall_list_valid_for(
            "cardiology",
            &handle("dr.yeung"),
            &[handle("dr.wong")],
            91 * 24 * 3600,
        )
        .await
    {
        Err(medshare_client::ClientError::Invalid(_)) => {}
        other => panic!("a list valid for 91 days: {other:?}"),
    }
    let v = admin
        .set_oncall_list_valid_for("cardiology", &handle("dr.yeung"), &[handle("dr.wong")], 2)
        .await?;
    assert_eq!(v.list.valid_until, Some(v.list.issued_at + 2));
    chan.oncall_list(Some("PPH"), "cardiology").await?;
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
    assert_trust(
        chan.oncall_list(Some("PPH"), "cardiology").await,
        "an expired list",
    );
    assert_trust(
        chan.request_consult(&p, &ask("oncall:PPH/cardiology"))
            .await,
        "a consult through an expired list",
    );
    let listed = chan.oncall_lists(Some("PPH")).await?;
    assert!(listed.verified.is_empty());
    assert_eq!(listed.expired.len(), 1);
    assert_eq!(listed.expired[0].list.name, "cardiology");
    // Set again (default validity, 14 days): usable.
    let again = admin
        .set_oncall_list("cardiology", &handle("dr.yeung"), &[handle("dr.wong")])
        .await?;
    assert_eq!(
        again.list.valid_until,
        Some(again.list.issued_at + 14 * 24 * 3600)
    );
    chan.request_consult(&p, &ask("oncall:PPH/cardiology"))
        .await?;
    hub.stop().await?;
    Ok(())
}
