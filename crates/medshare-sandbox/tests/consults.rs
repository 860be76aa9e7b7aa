//! Urgent consults, real hub and real clients: a consult acknowledged in time (its question
//! and attached document readable by the recipient only, answered in a room); one asked of an
//! on-call list that escalates twice, with a hub restart in between, then goes unanswered;
//! two replicas on one PostgreSQL escalating once; bad input answered with a clear 4xx that
//! changes nothing; and a malicious hub (a substituted recipient, a substituted patient)
//! refused by the client.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use medshare_client::consults::{ConsultRequest, Recipient};
use medshare_client::rooms::{Content, RoomEvent};
use medshare_client::{Client, Patient, RoomKeys};
use medshare_hostile::{HostileHub, Method};
use medshare_model::api::EventKind;
use medshare_model::consults::{ConsultState, ConsultStepKind, ConsultView};
use medshare_model::registration::{Profession, Role};
use medshare_model::{ConsultId, ErrorCode};
use medshare_sandbox::{Backend, Cast, Person, TestHub, World, story_cast};
use medshare_server::config::Config;
use std::time::Duration;

/// The story's cast plus the head of cardiology at the private hospital (the on-call list's
/// owner).
fn cast() -> Cast {
    let mut c = story_cast();
    c.people.push(Person {
        handle: "dr.yeung".into(),
        name: "YEUNG Wai Man".into(),
        profession: Profession::Doctor,
        registration: "M20009".into(),
        specialty: Some("Cardiology".into()),
        roles: vec![Role::Clinician],
        institution: "PPH".into(),
    });
    c
}

fn config(backend: Backend, dir: &std::path::Path) -> Config {
    let mut c = backend.config(dir);
    c.consults.poll_ms = 100;
    c
}

const WINDOW: i64 = 600;

fn handle(h: &str) -> medshare_model::Handle {
    h.parse().expect("valid handle")
}

fn ask(to: &str, question: &str) -> ConsultRequest {
    ConsultRequest {
        to: to.parse::<Recipient>().expect("recipient"),
        question: question.into(),
        documents: Vec::new(),
        ack_within_secs: WINDOW,
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

/// Wait (bounded) until the consult as `c` sees it satisfies `done`.
async fn wait_for(
    c: &Client,
    id: ConsultId,
    done: impl Fn(&ConsultView) -> bool,
) -> anyhow::Result<ConsultView> {
    for _ in 0..200 {
        let v = c.consult(id).await?;
        if done(&v) {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the consult did not reach the expected state in 10 s")
}

fn steps(v: &ConsultView) -> Vec<(ConsultStepKind, medshare_model::PractitionerId)> {
    v.history
        .iter()
        .map(|s| (s.kind, s.practitioner_id))
        .collect()
}

async fn consult_events(c: &Client, id: ConsultId) -> anyhow::Result<Vec<ConsultStepKind>> {
    Ok(c.inbox(0)
        .await?
        .into_iter()
        .filter_map(|e| match e.event {
            EventKind::Consult {
                consult_id, step, ..
            } if consult_id == id => Some(step),
            _ => None,
        })
        .collect())
}

async fn acknowledged_in_time(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(config(backend, dir.path())).await?;
    let world = World::build(&hub, &cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    let leung = world.login("dr.leung").await?;
    let (chan_id, wong_id) = (world.id("dr.chan"), world.id("dr.wong"));
    let p = patient(&chan).await?;
    let doc = chan
        .upload(
            std::io::Cursor::new(b"%PDF-1.4 potassium 6.9 mmol/L".to_vec()),
            &p,
            meta("Renal panel", "renal.pdf"),
            &[],
            |_| {},
        )
        .await?;
    let mut req = ask("dr.wong", "K+ 6.9 with peaked T waves: dialysis tonight?");
    req.documents = vec![doc.document_id];
    let v = chan.request_consult(&p, &req).await?;
    assert_eq!(v.state, ConsultState::Open);
    assert_eq!(v.chain, vec![wong_id]);
    assert!(v.urgent);
    let due = v.due_at.expect("an open consult has a deadline");
    assert_eq!((due - v.created_at).whole_seconds(), WINDOW);

    // The recipient reads the question and the attached document (shared through a grant).
    let o = wong.open_consult(v.consult_id).await?;
    assert_eq!(
        o.question.as_str(),
        "K+ 6.9 with peaked T waves: dialysis tonight?"
    );
    assert_eq!(o.documents, vec![doc.document_id]);
    assert_eq!(o.requester.cert.practitioner_id, chan_id);
    let opened = wong.open_document(doc.document_id).await?;
    assert_eq!(
        download_vec(&wong, &opened).await?,
        b"%PDF-1.4 potassium 6.9 mmol/L"
    );
    assert_eq!(
        consult_events(&wong, v.consult_id).await?,
        vec![ConsultStepKind::Requested]
    );

    // Someone it did not reach can neither see nor acknowledge it; nothing changes.
    assert_api(
        leung.consult(v.consult_id).await,
        ErrorCode::Forbidden,
        "read",
    );
    assert_api(
        leung.ack_consult(v.consult_id).await,
        ErrorCode::Forbidden,
        "ack by a non-recipient",
    );
    assert!(leung.consults().await?.is_empty());
    assert_eq!(chan.consult(v.consult_id).await?.state, ConsultState::Open);

    // Acknowledged before the window ends: it never escalates.
    hub.clock.advance(WINDOW - 60);
    let acked = wong.ack_consult(v.consult_id).await?;
    assert_eq!(acked.view.state, ConsultState::Acknowledged);
    assert_eq!(acked.view.acked_by, Some(wong_id));
    assert_eq!(acked.view.due_at, None);
    assert_api(
        wong.ack_consult(v.consult_id).await,
        ErrorCode::Conflict,
        "second ack",
    );
    hub.clock.advance(2 * WINDOW);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let seen = chan.consult(v.consult_id).await?;
    assert_eq!(seen.state, ConsultState::Acknowledged);
    assert_eq!(
        steps(&seen),
        vec![
            (ConsultStepKind::Requested, wong_id),
            (ConsultStepKind::Acknowledged, wong_id)
        ]
    );
    assert_eq!(
        consult_events(&chan, v.consult_id).await?,
        vec![ConsultStepKind::Acknowledged]
    );

    // The answer goes into a room with the requester; the hub records only which room.
    let mut chan_keys = RoomKeys::new();
    chan.publish_key_packages(&mut chan_keys, 2).await?;
    let mut wong_keys = RoomKeys::new();
    wong.publish_key_packages(&mut wong_keys, 2).await?;
    let room = wong
        .answer_consult(
            &mut wong_keys,
            v.consult_id,
            "Yes: dialysis tonight, calcium now",
        )
        .await?;
    assert_eq!(chan.consult(v.consult_id).await?.room_id, Some(room));
    chan.sync_room(&mut chan_keys, room).await?;
    let said: Vec<String> = chan_keys
        .room(room)
        .expect("joined")
        .history
        .iter()
        .filter_map(|m| match &m.event {
            RoomEvent::Message {
                content: Content::Text { text, .. },
            } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(said, vec!["Yes: dialysis tonight, calcium now".to_string()]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_in_time_sqlite() -> anyhow::Result<()> {
    acknowledged_in_time(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_in_time_postgres() -> anyhow::Result<()> {
    acknowledged_in_time(Backend::PostgresS3).await
}

async fn set_cardiology(world: &World) -> anyhow::Result<()> {
    let admin = world.login("admin.pph").await?;
    let l = admin
        .set_oncall_list(
            "cardiology",
            &handle("dr.yeung"),
            &[handle("dr.wong"), handle("dr.leung")],
        )
        .await?;
    assert_eq!(
        l.list.members,
        vec![world.id("dr.wong"), world.id("dr.leung")]
    );
    Ok(())
}

async fn escalated_twice(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = config(backend, dir.path());
    let hub = TestHub::start(cfg.clone()).await?;
    let clock = hub.clock.clone();
    let world = World::build(&hub, &cast()).await?;
    set_cardiology(&world).await?;
    let (wong_id, leung_id, yeung_id) = (
        world.id("dr.wong"),
        world.id("dr.leung"),
        world.id("dr.yeung"),
    );
    // A clinician cannot sign lists (the hub's refusals are in oncall_lists.rs).
    let chan = world.login("dr.chan").await?;
    assert!(
        chan.set_oncall_list("cardiology", &handle("dr.chan"), &[handle("dr.chan")])
            .await
            .is_err(),
        "a clinician setting an on-call list"
    );
    let p = patient(&chan).await?;
    let v = chan
        .request_consult(
            &p,
            &ask("oncall:PPH/cardiology", "Troponin 5000 ng/L, STEMI?"),
        )
        .await?;
    assert_eq!(v.chain, vec![wong_id, leung_id, yeung_id]);
    let yeung = world.login("dr.yeung").await?;
    assert_api(
        yeung.ack_consult(v.consult_id).await,
        ErrorCode::Forbidden,
        "ack by someone the consult has not reached yet",
    );

    clock.advance(WINDOW + 1);
    let v1 = wait_for(&chan, v.consult_id, |v| v.step == 1).await?;
    assert_eq!(v1.current(), Some(leung_id));
    assert_eq!(v1.state, ConsultState::Open);

    // The hub restarts; the timer lives in the database.
    hub.stop().await?;
    let hub = TestHub::start_with_clock(cfg.clone(), clock.clone()).await?;
    let chan = world.login_at(&hub.url, "dr.chan").await?;
    clock.advance(WINDOW + 1);
    let v2 = wait_for(&chan, v.consult_id, |v| v.step == 2).await?;
    assert_eq!(v2.current(), Some(yeung_id));
    assert_eq!(
        steps(&v2),
        vec![
            (ConsultStepKind::Requested, wong_id),
            (ConsultStepKind::Escalated, leung_id),
            (ConsultStepKind::Escalated, yeung_id),
        ]
    );
    // Everyone it reached may read it, and the owner is told.
    let yeung = world.login_at(&hub.url, "dr.yeung").await?;
    let o = yeung.open_consult(v.consult_id).await?;
    assert_eq!(o.question.as_str(), "Troponin 5000 ng/L, STEMI?");
    assert_eq!(
        consult_events(&yeung, v.consult_id).await?,
        vec![ConsultStepKind::Escalated]
    );
    assert_eq!(
        consult_events(&chan, v.consult_id).await?,
        vec![ConsultStepKind::Escalated, ConsultStepKind::Escalated]
    );
    // Nobody acknowledges: after the owner's window it is unanswered, and late acks are refused.
    clock.advance(WINDOW + 1);
    let v3 = wait_for(&chan, v.consult_id, |v| v.state != ConsultState::Open).await?;
    assert_eq!(v3.state, ConsultState::Unanswered);
    assert_eq!(v3.due_at, None);
    assert_eq!(
        steps(&v3).last(),
        Some(&(ConsultStepKind::Unanswered, yeung_id))
    );
    assert_api(
        yeung.ack_consult(v.consult_id).await,
        ErrorCode::Conflict,
        "ack after the last window",
    );
    hub.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalated_twice_across_a_restart_sqlite() -> anyhow::Result<()> {
    escalated_twice(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalated_twice_across_a_restart_postgres() -> anyhow::Result<()> {
    escalated_twice(Backend::PostgresS3).await
}

/// Two replicas polling one PostgreSQL database (every 20 ms, so their polls overlap) escalate
/// each due consult once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_escalate_once() -> anyhow::Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut config_a = config(Backend::PostgresS3, dir_a.path());
    config_a.consults.poll_ms = 20;
    let config_b = second_replica(&mut config_a, dir_a.path(), dir_b.path());
    let clock = medshare_server::clock::Clock::system();
    let a = TestHub::start_with_clock(config_a, clock.clone()).await?;
    let b = TestHub::start_with_clock(config_b, clock.clone()).await?;
    let world = World::build(&a, &cast()).await?;
    set_cardiology(&world).await?;
    let chan = world.login_at(&b.url, "dr.chan").await?;
    let mut ids = Vec::new();
    for i in 0..5 {
        let p = patient(&chan).await?;
        let v = chan
            .request_consult(&p, &ask("oncall:PPH/cardiology", &format!("question {i}")))
            .await?;
        ids.push(v.consult_id);
    }
    clock.advance(WINDOW + 1);
    for id in &ids {
        wait_for(&chan, *id, |v| v.step == 1).await?;
    }
    // Let both replicas poll many more times: nothing moves twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let leung = world.login_at(&a.url, "dr.leung").await?;
    for id in &ids {
        let v = chan.consult(*id).await?;
        assert_eq!(v.step, 1, "escalated more than once");
        let escalations = v
            .history
            .iter()
            .filter(|s| s.kind == ConsultStepKind::Escalated)
            .count();
        assert_eq!(escalations, 1);
        assert_eq!(
            consult_events(&leung, *id).await?,
            vec![ConsultStepKind::Escalated],
            "the next recipient is told once"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(config(Backend::SqliteFolder, dir.path())).await?;
    let world = World::build(&hub, &cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    let p = patient(&chan).await?;
    // Unknown consult.
    let unknown = ConsultId::new();
    assert_api(
        wong.ack_consult(unknown).await,
        ErrorCode::NotFound,
        "unknown",
    );
    let status = http()
        .post(format!("{}/v1/consults/{unknown}/ack", hub.url))
        .bearer_auth(token(&wong))
        .send()
        .await?
        .status()
        .as_u16();
    assert_eq!(status, 404);
    // A deadline in the past (or none).
    let mut past = ask("dr.wong", "when?");
    past.ack_within_secs = 0;
    assert_api(
        chan.request_consult(&p, &past).await,
        ErrorCode::BadRequest,
        "window 0",
    );
    past.ack_within_secs = -60;
    assert_api(
        chan.request_consult(&p, &past).await,
        ErrorCode::BadRequest,
        "negative window",
    );
    // Unknown on-call list, asking oneself.
    assert_api(
        chan.request_consult(&p, &ask("oncall:PPH/neurology", "?"))
            .await,
        ErrorCode::NotFound,
        "unknown list",
    );
    assert_api(
        chan.request_consult(&p, &ask("dr.chan", "?")).await,
        ErrorCode::BadRequest,
        "asking oneself",
    );
    // An oversize sealed question, and a binding that is not the caller's.
    let body = serde_json::json!({
        "consult_id": ConsultId::new(),
        "to": {"kind": "practitioner", "practitioner_id": world.id("dr.wong")},
        "binding": {"kind": "consult-binding", "payload": "{}", "signer": "x", "signature": "AA=="},
        "question": B64.encode(vec![7u8; 20 * 1024]),
        "urgent": true,
    });
    let r = http()
        .post(format!("{}/v1/consults", hub.url))
        .bearer_auth(token(&chan))
        .json(&body)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(problem(&r.bytes().await?).code, ErrorCode::PayloadTooLarge);
    let mut small = body.clone();
    small["question"] = B64.encode(b"sealed").into();
    let r = http()
        .post(format!("{}/v1/consults", hub.url))
        .bearer_auth(token(&chan))
        .json(&small)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    // A consult about a patient the requester has no care relationship with (nor consent
    // reaching their institution): refused like a read of the patient's records, recorded.
    assert_api(
        wong.request_consult(&p, &ask("dr.ho", "about someone else's patient"))
            .await,
        ErrorCode::Forbidden,
        "a consult about a patient not in the requester's care",
    );
    assert!(wong.consults().await?.is_empty());
    // The client refuses an oversize question before sealing anything.
    assert!(
        chan.request_consult(&p, &ask("dr.wong", &"x".repeat(9000)))
            .await
            .is_err()
    );
    assert!(chan.consults().await?.is_empty(), "nothing was filed");
    assert!(wong.consults().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_hub_substitutions_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(config(Backend::SqliteFolder, dir.path())).await?;
    let world = World::build(&hub, &cast()).await?;
    let evil = HostileHub::start(&hub.url).await?;
    let chan_evil = world.login_at(&evil.url, "dr.chan").await?;
    let chan = world.login("dr.chan").await?;
    let wong_id = world.id("dr.wong");
    let p = patient(&chan).await?;

    // 1. Asking dr.wong, the hub answers with dr.leung's (genuinely certified) record: the
    //    question would be sealed to the wrong person. Refused; nothing filed.
    let leung_record: serde_json::Value = http()
        .get(format!("{}/v1/practitioners/by-handle/dr.leung", hub.url))
        .bearer_auth(token(&chan))
        .send()
        .await?
        .json()
        .await?;
    let rule = evil.rewrite_json(
        Method::GET,
        "/v1/practitioners/by-handle/dr.wong",
        move |v| *v = leung_record.clone(),
    );
    assert_trust(
        chan_evil
            .request_consult(&p, &ask("dr.wong", "substituted recipient"))
            .await,
        "a substituted recipient",
    );
    evil.remove(rule);
    assert!(chan.consults().await?.is_empty());

    // 2. A genuine consult; the hub shows dr.wong another patient (one of chan's others).
    let v = chan
        .request_consult(&p, &ask("dr.wong", "which patient?"))
        .await?;
    let other = patient(&chan).await?.id();
    let wong_evil = world.login_at(&evil.url, "dr.wong").await?;
    evil.rewrite_json(Method::GET, "/v1/consults/*", move |v| {
        v["patient_id"] = serde_json::json!(other);
    });
    assert_trust(
        wong_evil.open_consult(v.consult_id).await,
        "a substituted patient",
    );
    assert_trust(
        wong_evil.ack_consult(v.consult_id).await,
        "acknowledging a substituted consult",
    );
    // The hub also cannot hand wong a consult under another consult's id.
    evil.clear();
    let other_consult = chan
        .request_consult(&p, &ask("dr.wong", "another question"))
        .await?;
    let swapped = chan.consult(other_consult.consult_id).await?;
    let swapped = serde_json::to_value(&swapped)?;
    evil.rewrite_json(Method::GET, "/v1/consults/*", move |v| {
        let id = v["consult_id"].clone();
        *v = swapped.clone();
        v["consult_id"] = id;
    });
    assert_trust(
        wong_evil.open_consult(v.consult_id).await,
        "another consult's question",
    );
    evil.clear();
    // Untouched: still open, still for wong.
    let now = chan.consult(v.consult_id).await?;
    assert_eq!(now.state, ConsultState::Open);
    assert_eq!(now.chain, vec![wong_id]);
    let o = wong_evil.open_consult(v.consult_id).await?;
    assert_eq!(o.question.as_str(), "which patient?");
    Ok(())
}
