//! `medshare oncall|notify|consult ...` and `upload --urgent-to` against a real `medshare serve`
//! (one hub, each practitioner with their own config folder): an administrator signs an on-call
//! list that a clinician lists and checks; a doctor adds a signed webhook and a DingTalk robot
//! (local receivers that check the signatures as documented), tests and removes one; a consult
//! to the on-call list is listed, shown (the question decrypted), acknowledged and answered in a
//! room; a critical potassium uploaded with `--urgent-to` becomes an urgent consult whose
//! sealed question the recipient reads. Every `--json` output parses; no notification carries
//! the question or the patient.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Cli, Running, start_hub_with};
use hmac::{Hmac, Mac};
use medshare_model::registration::{Profession, Role};
use medshare_sandbox::{Cast, Person, World, story_cast};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Got {
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Got>>>;

/// A local receiver: `/hook` answers 200, `/robot` DingTalk's `{"errcode":0}`.
async fn receiver() -> anyhow::Result<(String, Log)> {
    async fn record(State(log): State<Log>, uri: OriginalUri, headers: HeaderMap, body: Bytes) {
        log.lock().unwrap().push(Got {
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            headers,
            body,
        });
    }
    let log: Log = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|s, u, h, b| async move {
                record(s, u, h, b).await;
                StatusCode::OK
            }),
        )
        .route(
            "/robot",
            post(|s, u, h, b| async move {
                record(s, u, h, b).await;
                axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
            }),
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, log))
}

fn got(log: &Log, path: &str) -> Vec<Got> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|g| g.path == path)
        .cloned()
        .collect()
}

async fn wait_for(log: &Log, path: &str, n: usize) -> anyhow::Result<Vec<Got>> {
    for _ in 0..200 {
        let g = got(log, path);
        if g.len() >= n {
            return Ok(g);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{path} did not receive {n} notifications in 10 s")
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// `X-Medshare-Signature: v1=hex(HMAC-SHA-256(secret, "{X-Medshare-Timestamp}.{body}"))`.
fn webhook_signature_ok(g: &Got, secret: &str) -> bool {
    let ts = g.headers["x-medshare-timestamp"].to_str().unwrap();
    let mut msg = format!("{ts}.").into_bytes();
    msg.extend_from_slice(&g.body);
    let want = format!("v1={}", hex::encode(hmac_sha256(secret.as_bytes(), &msg)));
    g.headers["x-medshare-signature"].to_str().unwrap() == want
}

/// DingTalk: `sign` = base64(HMAC-SHA-256(secret, "{timestamp}\n{secret}")) in the query.
fn dingtalk_signature_ok(g: &Got, secret: &str) -> bool {
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(g.query.as_bytes())
            .into_owned()
            .collect();
    let (Some(ts), Some(sign)) = (q.get("timestamp"), q.get("sign")) else {
        return false;
    };
    let want = B64.encode(hmac_sha256(
        secret.as_bytes(),
        format!("{ts}\n{secret}").as_bytes(),
    ));
    q.get("access_token").map(String::as_str) == Some("robot-token") && *sign == want
}

/// The value after `prefix` on the line that starts with it.
fn after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in {out}"))
        .trim()
}

/// An HL7 v2 lab result with a critical potassium, for the patient `hkid` (`A123456(3)`).
fn critical_potassium(hkid: &str) -> String {
    format!(
        "MSH|^~\\&|LAB|Harbour View Clinic|||20261129093000||ORU^R01|1|P|2.5\r\
         PID|1||{hkid}^^^HKID^NNHKG||CHAN^TAI MAN||19610702|M\r\
         OBR|1||F1|PANEL^Chemistry^L|||20261129080000\r\
         OBX|1|NM|2823-3^Potassium^LN||6.9|mmol/L|3.5-5.1|HH|||F\r"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consults_oncall_and_notifications_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (recv, log) = receiver().await?;
    let (hub, url) = start_hub_with(
        &dir.path().join("hub"),
        &[
            // The receivers are plain HTTP on loopback, as in the sandbox.
            ("MEDSHARE_AUDIT__WEBHOOK_ALLOW_HTTP", "true"),
            ("MEDSHARE_OUTBOUND__ALLOW_NETWORKS", "[\"127.0.0.0/8\"]"),
            ("MEDSHARE_OUTBOUND__ALLOW_PORTS", "[]"),
            ("MEDSHARE_NOTIFY__POLL_MS", "100"),
            ("MEDSHARE_CONSULTS__POLL_MS", "100"),
        ],
    );
    let _hub = Running(hub);
    let token = std::fs::read_to_string(dir.path().join("hub").join("bootstrap-token"))?;
    let mut cast: Cast = story_cast();
    cast.people.push(Person {
        handle: "dr.yeung".into(),
        name: "YEUNG Wai Man".into(),
        profession: Profession::Doctor,
        registration: "M20009".into(),
        specialty: Some("Cardiology".into()),
        roles: vec![Role::Clinician],
        institution: "PPH".into(),
    });
    let world = World::build_at(&url, &token, &cast).await?;
    let root = dir.path().join("cli");
    let admin = Cli::login(&world, &url, &root, "admin.pph")?;
    let chan = Cli::login(&world, &url, &root, "dr.chan")?;
    let wong = Cli::login(&world, &url, &root, "dr.wong")?;
    let id = |h: &str| serde_json::json!(world.id(h));

    // On-call lists: signed by the administrator, checked by a clinician of another institution.
    let set = admin.ok(&[
        "oncall",
        "set",
        "cardiology",
        "--owner",
        "dr.yeung",
        "--member",
        "dr.wong",
        "--member",
        "dr.leung",
    ]);
    assert!(set.contains("version 1"), "{set}");
    wong.fails(
        &[
            "oncall",
            "set",
            "cardiology",
            "--owner",
            "dr.wong",
            "--member",
            "dr.wong",
        ],
        "only an institution administrator",
    );
    let lists = chan.json(&["oncall", "list", "--institution", "PPH", "--json"]);
    let l = &lists["verified"][0]["list"];
    assert_eq!(l["name"], "cardiology");
    assert_eq!(l["version"], 1);
    assert_eq!(
        l["members"],
        serde_json::json!([id("dr.wong"), id("dr.leung")])
    );
    assert_eq!(l["owner"], id("dr.yeung"));
    assert_eq!(lists["unsigned"], serde_json::json!([]));
    let table = chan.ok(&["oncall", "list", "--institution", "PPH"]);
    assert!(
        table.contains("cardiology") && table.contains("v1"),
        "{table}"
    );

    // Notification channels: a signed webhook and a DingTalk robot; test one, remove one.
    let hook = wong.ok(&[
        "notify",
        "add",
        "--kind",
        "webhook",
        "--url",
        &format!("{recv}/hook"),
    ]);
    let hook_id = after(&hook, "Channel ")
        .trim_end_matches(" added")
        .to_string();
    let hook_secret = after(&hook, "Signing secret")
        .rsplit(": ")
        .next()
        .unwrap()
        .to_string();
    let robot_secret = "SECd3a9c0f2b71e4b5f8a6c1e0d9b7a5f3c2e1d0b9a8f7e6d5c4b3a2f1e0d9c8b";
    let robot = wong.ok(&[
        "notify",
        "add",
        "--kind",
        "dingtalk",
        "--url",
        &format!("{recv}/robot?access_token=robot-token"),
        "--secret",
        robot_secret,
    ]);
    let robot_id = after(&robot, "Channel ")
        .trim_end_matches(" added")
        .to_string();
    wong.fails(
        &[
            "notify",
            "add",
            "--kind",
            "carrier-pigeon",
            "--url",
            "https://x.example/",
        ],
        "--kind",
    );
    let channels = wong.json(&["notify", "channels", "--json"]);
    assert_eq!(channels.as_array().map(Vec::len), Some(2), "{channels}");
    wong.ok(&["notify", "test", &robot_id]);
    let robot_got = wait_for(&log, "/robot", 1).await?;
    assert!(dingtalk_signature_ok(&robot_got[0], robot_secret));
    let body: serde_json::Value = serde_json::from_slice(&robot_got[0].body)?;
    assert!(
        body.to_string()
            .contains(medshare_model::consults::NOTIFICATION_TEXT),
        "{body}"
    );
    let listed = wong.ok(&["notify", "channels"]);
    assert!(
        listed.contains("dingtalk") && listed.contains("webhook"),
        "{listed}"
    );
    wong.ok(&["notify", "remove", &robot_id]);
    let channels = wong.json(&["notify", "channels", "--json"]);
    assert_eq!(channels[0]["channel_id"], serde_json::json!(hook_id));
    assert_eq!(channels.as_array().map(Vec::len), Some(1));

    // A consult to the on-call list: listed, shown, acknowledged, answered in a room.
    let patient = &medshare_synth::patients(13, 1)[0];
    let question = "Troponin 5000 ng/L at 02:10, ST elevation V2-V4: cath lab?";
    let asked = chan.json(&[
        "consult",
        "request",
        "--to",
        "oncall:PPH/cardiology",
        "--patient",
        &patient.hkid,
        "--question",
        question,
        "--within",
        "10m",
        "--json",
    ]);
    let consult = asked["consult_id"].as_str().unwrap().to_string();
    assert_eq!(
        asked["chain"],
        serde_json::json!([id("dr.wong"), id("dr.leung"), id("dr.yeung")])
    );
    assert_eq!(asked["ack_within_secs"], 600);
    let hooked = wait_for(&log, "/hook", 1).await?;
    assert!(webhook_signature_ok(&hooked[0], &hook_secret));
    let mine = wong.json(&["consult", "list", "--json"]);
    assert_eq!(mine[0]["consult_id"], serde_json::json!(consult));
    assert_eq!(mine[0]["state"], "open");
    assert!(wong.ok(&["consult", "list"]).contains(&consult));
    let shown = wong.json(&["consult", "show", &consult, "--json"]);
    assert_eq!(shown["question"], question);
    assert_eq!(shown["consult"]["requester"], id("dr.chan"));
    let acked = wong.ok(&["consult", "ack", &consult]);
    assert!(
        acked.contains("Acknowledged") && acked.contains(question),
        "{acked}"
    );
    wong.fails(&["consult", "ack", &consult], "onflict");
    // The requester publishes key packages (any room command) so the answer's room can add them.
    chan.ok(&["room", "list"]);
    let answered = wong.ok(&[
        "consult",
        "answer",
        &consult,
        "Cath lab now; load ticagrelor",
    ]);
    let room = after(&answered, "Answered in room ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let shown = chan.json(&["consult", "show", &consult, "--json"]);
    assert_eq!(shown["consult"]["state"], "acknowledged");
    assert_eq!(shown["consult"]["room_id"], serde_json::json!(room));
    let text = chan.ok(&["consult", "show", &consult]);
    assert!(
        text.contains("acknowledged") && text.contains(&room),
        "{text}"
    );
    let history = chan.json(&["room", "history", &room, "--json"]);
    assert!(
        history
            .to_string()
            .contains("Cath lab now; load ticagrelor"),
        "{history}"
    );

    // A critical potassium uploaded with --urgent-to: an urgent consult the recipient reads.
    let lab = dir.path().join("results.hl7");
    std::fs::write(&lab, critical_potassium(&patient.hkid))?;
    let up = chan.ok(&[
        "upload",
        "--patient",
        &patient.hkid,
        "--urgent-to",
        "dr.wong",
        "--urgent-within",
        "15m",
        lab.to_str().unwrap(),
    ]);
    assert!(up.contains("URGENT:"), "{up}");
    let urgent = after(&up, "URGENT consult ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let shown = wong.json(&["consult", "show", &urgent, "--json"]);
    assert_eq!(shown["consult"]["urgent"], true);
    assert_eq!(shown["consult"]["ack_within_secs"], 900);
    assert!(
        shown["question"]
            .as_str()
            .unwrap()
            .starts_with("Critical result filed:"),
        "{shown}"
    );
    assert_eq!(shown["documents"].as_array().map(Vec::len), Some(1));

    // No notification carried the question, the patient or the consult.
    let hooked = wait_for(&log, "/hook", 2).await?;
    for g in hooked.iter().chain(&robot_got) {
        let all = format!(
            "{}?{} {:?} {}",
            g.path,
            g.query,
            g.headers,
            String::from_utf8_lossy(&g.body)
        );
        for marker in [
            "Troponin",
            "Potassium",
            &patient.hkid[..7],
            &consult,
            &urgent,
        ] {
            assert!(!all.contains(marker), "a notification carried {marker}");
        }
    }
    Ok(())
}
