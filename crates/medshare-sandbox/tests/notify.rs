//! Notification channels against real local receivers: a generic webhook whose HMAC-SHA-256
//! signature the receiver checks, and a DingTalk-style robot whose signed timestamp it checks
//! as DingTalk documents it; no marker of the patient, document, question or consult in any
//! delivered request; deduplication, the per-recipient rate limit, retries with back-off, a
//! failure shown to the practitioner, and server-side request forgery refused.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use hmac::{Hmac, Mac};
use medshare_client::consults::{ConsultRequest, Recipient};
use medshare_model::ErrorCode;
use medshare_model::consults::{ChannelKind, NOTIFICATION_TEXT};
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use medshare_store::NotifyStore;
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

impl Got {
    /// Everything the request carried, as text, for the marker scan.
    fn all_text(&self) -> String {
        let mut s = format!("{}?{}\n", self.path, self.query);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        s.push_str(&String::from_utf8_lossy(&self.body));
        s
    }
}

type Log = Arc<Mutex<Vec<Got>>>;

async fn record(State(log): State<Log>, uri: OriginalUri, headers: HeaderMap, body: Bytes) -> Got {
    let g = Got {
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers,
        body,
    };
    log.lock().unwrap().push(g.clone());
    g
}

/// A local receiver: `/hook` (200), `/robot` (DingTalk's `{"errcode":0}`), `/fail` (500),
/// `/chat` (Slack's `ok`), `/chat-deleted` (Slack's 404 `no_service`).
async fn receiver() -> anyhow::Result<(String, Log)> {
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
        .route(
            "/fail",
            post(|s, u, h, b| async move {
                record(s, u, h, b).await;
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        // Slack's incoming webhook answers "ok"; a deleted hook answers 404 "no_service".
        .route(
            "/chat",
            post(|s, u, h, b| async move {
                record(s, u, h, b).await;
                (StatusCode::OK, "ok")
            }),
        )
        .route(
            "/chat-deleted",
            post(|s, u, h, b| async move {
                record(s, u, h, b).await;
                (StatusCode::NOT_FOUND, "no_service")
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

/// An urgent consult from `chan` to dr.wong about a new patient whose name and question carry a
/// random marker (the question ends with `clinical`); returns what no notification may carry:
/// the marker, the start of the HKID as written, the patient's and the consult's ids.
async fn urgent_consult_with_markers(
    chan: &medshare_client::Client,
    clinical: &str,
) -> anyhow::Result<Vec<String>> {
    let (written, hkid) = random_hkid();
    let marker = random_hex(12);
    let patient = chan
        .ensure_patient(
            &hkid,
            &PatientCard {
                name: Some(format!("PATIENTNAME{marker}")),
                birth_date: None,
                sex: None,
            },
        )
        .await?;
    let consult = chan
        .request_consult(
            &patient,
            &ConsultRequest {
                to: "dr.wong".parse::<Recipient>()?,
                question: format!("QUESTION{marker}: {clinical}"),
                documents: Vec::new(),
                ack_within_secs: 600,
                urgent: true,
            },
        )
        .await?;
    Ok(vec![
        marker,
        written[..7].to_string(),
        patient.id().to_string(),
        consult.consult_id.to_string(),
    ])
}

async fn wait_until(what: &str, f: impl Fn() -> bool) -> anyhow::Result<()> {
    for _ in 0..200 {
        if f() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {what}")
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// The generic webhook's signature as its documentation states it:
/// `X-Medshare-Signature: v1=hex(HMAC-SHA-256(secret, "{X-Medshare-Timestamp}.{body}"))`.
fn webhook_signature_ok(g: &Got, secret: &str) -> bool {
    let ts = g.headers["x-medshare-timestamp"].to_str().unwrap();
    let mut msg = format!("{ts}.").into_bytes();
    msg.extend_from_slice(&g.body);
    let want = format!("v1={}", hex::encode(hmac_sha256(secret.as_bytes(), &msg)));
    g.headers["x-medshare-signature"].to_str().unwrap() == want
}

/// DingTalk's custom robot: `timestamp` (ms) and `sign` = URL-encoded
/// base64(HMAC-SHA-256(secret, "{timestamp}\n{secret}")) in the query.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_deliver_signed_notifications_without_health_information() -> anyhow::Result<()> {
    let (recv, log) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let mut config = Backend::SqliteFolder.config(dir.path());
    config.notify.poll_ms = 100;
    config.notify.max_attempts = 2;
    config.notify.per_minute = 3;
    config.notify.link = "https://hub.example/".into();
    config.consults.poll_ms = 100;
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;

    // Server-side request forgery: cloud metadata, private networks, other schemes.
    for bad in [
        "http://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/hook",
        "file:///etc/passwd",
    ] {
        assert_api(
            wong.add_notify_channel(ChannelKind::Webhook, bad, None)
                .await,
            ErrorCode::BadRequest,
            bad,
        );
    }
    assert_api(
        wong.add_notify_channel(ChannelKind::Dingtalk, &format!("{recv}/robot"), None)
            .await,
        ErrorCode::BadRequest,
        "a robot without its secret",
    );
    let hook = wong
        .add_notify_channel(ChannelKind::Webhook, &format!("{recv}/hook"), None)
        .await?;
    let hook_secret = hook.secret.clone().expect("the hub made a secret");
    let robot_secret = "SECd3a9c0f2b71e4b5f8a6c1e0d9b7a5f3c2e1d0b9a8f7e6d5c4b3a2f1e0d9c8b";
    let robot = wong
        .add_notify_channel(
            ChannelKind::Dingtalk,
            &format!("{recv}/robot?access_token=robot-token"),
            Some(robot_secret.into()),
        )
        .await?;
    assert_eq!(robot.secret, None, "a given secret is never echoed");
    assert_eq!(wong.notify_channels().await?.len(), 2);

    // An urgent consult full of markers.
    let (written, hkid) = random_hkid();
    let marker = random_hex(12);
    let card = PatientCard {
        name: Some(format!("PATIENTNAME{marker}")),
        birth_date: Some("1961-02-03".into()),
        sex: None,
    };
    let patient = chan.ensure_patient(&hkid, &card).await?;
    let doc = chan
        .upload(
            std::io::Cursor::new(format!("%PDF-1.4 CONTENT{marker}").into_bytes()),
            &patient,
            meta(&format!("DOCTITLE{marker}"), &format!("FILE{marker}.pdf")),
            &[],
            |_| {},
        )
        .await?;
    let consult = chan
        .request_consult(
            &patient,
            &ConsultRequest {
                to: "dr.wong".parse::<Recipient>()?,
                question: format!("QUESTION{marker}: potassium 7.1"),
                documents: vec![doc.document_id],
                ack_within_secs: 600,
                urgent: true,
            },
        )
        .await?;
    wait_until("the webhook and the robot", || {
        got(&log, "/hook").len() == 1 && got(&log, "/robot").len() == 1
    })
    .await?;
    let h = &got(&log, "/hook")[0];
    assert!(webhook_signature_ok(h, &hook_secret), "webhook signature");
    assert!(!webhook_signature_ok(h, "another secret"));
    let body: serde_json::Value = serde_json::from_slice(&h.body)?;
    assert_eq!(body["text"], NOTIFICATION_TEXT);
    assert_eq!(body["link"], "https://hub.example/");
    let r = &got(&log, "/robot")[0];
    assert!(dingtalk_signature_ok(r, robot_secret), "DingTalk signature");
    assert!(!dingtalk_signature_ok(r, "SECother"));
    let body: serde_json::Value = serde_json::from_slice(&r.body)?;
    assert_eq!(body["msgtype"], "text");
    assert_eq!(
        body["text"]["content"],
        format!("{NOTIFICATION_TEXT}: https://hub.example/")
    );

    // Nothing about the patient, the document, the question or the consult in any request.
    let markers = [
        marker.clone(),
        written.clone(),
        written[..7].to_string(),
        patient.id().to_string(),
        doc.document_id.to_string(),
        consult.consult_id.to_string(),
        "1961-02-03".to_string(),
        "potassium".to_string(),
    ];
    for g in log.lock().unwrap().iter() {
        let text = g.all_text();
        for m in &markers {
            assert!(!text.contains(m.as_str()), "{m} reached {}", g.path);
        }
    }

    // Deduplicated: the same notification queued again is not queued twice.
    let store = medshare_store::SqliteStore::connect(&format!(
        "sqlite://{}",
        dir.path().join("medshare.db").display()
    ))
    .await?;
    let key = format!(
        "consult:{}:requested:{}",
        consult.consult_id,
        world.id("dr.wong")
    );
    assert_eq!(
        store
            .enqueue_notification(world.id("dr.wong"), None, &key, hub.clock.now())
            .await?,
        0
    );

    // Rate limit: 3 a minute for one practitioner; 2 went out, so one of three tests now.
    let hook_id = hook.channel.channel_id;
    for _ in 0..3 {
        wong.test_notify_channel(hook_id).await?;
    }
    wait_until("one test delivery", || got(&log, "/hook").len() == 2).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(got(&log, "/hook").len(), 2, "held back by the rate limit");
    let ch = wong.notify_channels().await?;
    let h_view = ch.iter().find(|c| c.channel_id == hook_id).unwrap();
    assert_eq!(h_view.pending, 2);
    hub.clock.advance(61);
    wait_until("the held-back tests", || got(&log, "/hook").len() == 4).await?;
    for g in got(&log, "/hook") {
        assert!(webhook_signature_ok(&g, &hook_secret));
    }

    // A receiver that fails: retried after a back-off, then given up on and shown.
    let fail = wong
        .add_notify_channel(ChannelKind::Webhook, &format!("{recv}/fail"), None)
        .await?;
    let fail_id = fail.channel.channel_id;
    wong.test_notify_channel(fail_id).await?;
    wait_until("a first attempt", || got(&log, "/fail").len() == 1).await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        got(&log, "/fail").len(),
        1,
        "not retried before the back-off"
    );
    let v = wong.notify_channels().await?;
    let f = v.iter().find(|c| c.channel_id == fail_id).unwrap();
    assert_eq!(f.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!((f.pending, f.failed), (1, 0));
    hub.clock.advance(16);
    wait_until("the retry", || got(&log, "/fail").len() == 2).await?;
    let f = wait_for_failed(&wong, fail_id).await?;
    assert_eq!((f.pending, f.failed), (0, 1));
    assert!(f.last_failed_at.is_some());
    // Removed: nothing more goes there; another's channel cannot be touched.
    assert_api(
        chan.remove_notify_channel(fail_id).await,
        ErrorCode::NotFound,
        "removing a colleague's channel",
    );
    wong.remove_notify_channel(fail_id).await?;
    assert_eq!(wong.notify_channels().await?.len(), 2);
    Ok(())
}

async fn wait_for_failed(
    c: &medshare_client::Client,
    id: medshare_model::consults::ChannelId,
) -> anyhow::Result<medshare_model::consults::ChannelView> {
    for _ in 0..100 {
        let v = c.notify_channels().await?;
        if let Some(f) = v.into_iter().find(|x| x.channel_id == id && x.failed == 1) {
            return Ok(f);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the failing channel was not given up on")
}

/// aiosmtpd (PyPI, `scripts/smtp-peer.sh`) on a free loopback port, delivering into a
/// Maildir; stopped when dropped.
struct Smtpd {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Smtpd {
    fn start() -> anyhow::Result<Self> {
        let python = std::env::var("MEDSHARE_SMTPD").expect(
            "MEDSHARE_SMTPD is not set: run `export MEDSHARE_SMTPD=\"$(bash scripts/smtp-peer.sh)\"` \
             (scripts/test.sh does)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let maildir = tempfile::tempdir()?;
        let child = std::process::Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // A folder that does not exist yet: the handler creates the Maildir only then.
            .arg(maildir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        Ok(Self {
            child,
            port,
            maildir,
        })
    }

    /// The messages delivered so far.
    fn messages(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.maildir.path().join("mail").join("new")) else {
            return Vec::new();
        };
        dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server_without_health_information() -> anyhow::Result<()> {
    let smtpd = Smtpd::start()?;
    wait_until("aiosmtpd to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", smtpd.port)).is_ok()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let mut config = Backend::SqliteFolder.config(dir.path());
    config.notify.poll_ms = 100;
    config.notify.link = "https://hub.example/".into();
    config.notify.smtp = Some(medshare_server::config::SmtpConfig {
        host: "127.0.0.1".into(),
        port: smtpd.port,
        from: "medshare <no-reply@hub.example>".into(),
        starttls: false,
        username: None,
        password: None,
    });
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    assert_api(
        wong.add_notify_channel(ChannelKind::Email, "not an address", None)
            .await,
        ErrorCode::BadRequest,
        "a malformed address",
    );
    wong.add_notify_channel(ChannelKind::Email, "wong@pph.example", None)
        .await?;

    let secrets = urgent_consult_with_markers(&chan, "troponin").await?;
    if let Err(e) = wait_until("the e-mail", || smtpd.messages().len() == 1).await {
        anyhow::bail!("{e}: {:?}", wong.notify_channels().await?);
    }
    let mail = &smtpd.messages()[0];
    assert!(mail.contains("wong@pph.example"), "{mail}");
    assert!(mail.contains(NOTIFICATION_TEXT), "{mail}");
    assert!(mail.contains("https://hub.example/"), "{mail}");
    for m in secrets.iter().map(String::as_str).chain(["troponin"]) {
        assert!(!mail.contains(m), "{m} is in the e-mail");
    }
    // The relay has the message before the hub records the delivery: wait for the record.
    let mut ch = wong.notify_channels().await?;
    for _ in 0..100 {
        if ch[0].last_delivered_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ch = wong.notify_channels().await?;
    }
    assert!(ch[0].last_delivered_at.is_some(), "{ch:?}");
    assert_eq!((ch[0].pending, ch[0].failed), (0, 0));
    Ok(())
}

/// The independent Web Push receiver (`scripts/push-receiver.py` with PyPI's http_ece and
/// py_vapid from `scripts/push-peer.sh`): its subscription, and each request it checked.
struct PushPeer {
    child: std::process::Child,
    first: serde_json::Value,
    got: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl PushPeer {
    fn start() -> anyhow::Result<Self> {
        use std::io::BufRead;
        let python = std::env::var("MEDSHARE_PUSH_PEER").expect(
            "MEDSHARE_PUSH_PEER is not set: run `export MEDSHARE_PUSH_PEER=\"$(bash scripts/push-peer.sh)\"` \
             (scripts/test.sh does)",
        );
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/push-receiver.py");
        let mut child = std::process::Command::new(python)
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()?;
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        let first: serde_json::Value = serde_json::from_str(
            &lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("the push receiver did not start"))??,
        )?;
        let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let sink = got.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Ok(Self { child, first, got })
    }

    fn keys(&self) -> medshare_model::consults::PushKeys {
        medshare_model::consults::PushKeys {
            p256dh: self.first["p256dh"].as_str().unwrap().to_string(),
            auth: self.first["auth"].as_str().unwrap().to_string(),
        }
    }

    fn got(&self, prefix: &str) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g["path"].as_str().unwrap_or("").starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl Drop for PushPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_push_is_decrypted_and_its_vapid_checked_by_an_independent_receiver()
-> anyhow::Result<()> {
    let peer = PushPeer::start()?;
    let endpoint = peer.first["endpoint"].as_str().unwrap().to_string();
    let gone = peer.first["gone"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir()?;
    let mut config = Backend::SqliteFolder.config(dir.path());
    config.notify.poll_ms = 100;
    config.notify.link = "https://hub.example/".into();
    config.notify.vapid_subject = "mailto:ops@hub.example".into();
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;

    // The VAPID key: made on first start, private to the hub's user, served for subscribing.
    let vapid = wong.vapid_key().await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("vapid.key"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Bad subscriptions are refused with a clear 400 and nothing is added.
    let mut bad_keys = peer.keys();
    bad_keys.p256dh = B64.encode([4u8; 65]);
    let mut short_auth = peer.keys();
    short_auth.auth = "AAAA".into();
    for (what, r) in [
        (
            "a point not on the curve",
            wong.add_push_channel(&endpoint, bad_keys).await,
        ),
        (
            "a short auth secret",
            wong.add_push_channel(&endpoint, short_auth).await,
        ),
        (
            "a private push endpoint",
            wong.add_push_channel("https://10.0.0.7/push", peer.keys())
                .await,
        ),
        (
            "no keys",
            wong.add_notify_channel(ChannelKind::WebPush, &endpoint, None)
                .await,
        ),
    ] {
        assert_api(r, ErrorCode::BadRequest, what);
    }
    assert!(wong.notify_channels().await?.is_empty());
    let push = wong.add_push_channel(&endpoint, peer.keys()).await?;
    assert_eq!(push.secret, None);
    let revoked = wong.add_push_channel(&gone, peer.keys()).await?;

    // An urgent consult full of markers.
    let secrets = urgent_consult_with_markers(&chan, "potassium 7.1").await?;
    wait_until("the push and the revoked subscription", || {
        peer.got("/push/").len() == 1 && peer.got("/gone/").len() == 1
    })
    .await?;
    let g = &peer.got("/push/")[0];
    assert_eq!(g["ok"], true, "the receiver refused it: {}", g["why"]);
    assert_eq!(g["k"], vapid.as_str(), "signed with the served VAPID key");
    assert_eq!(g["claims"]["sub"], "mailto:ops@hub.example");
    assert_eq!(g["headers"]["urgency"], "high");
    let shown: serde_json::Value = serde_json::from_str(g["plaintext"].as_str().unwrap())?;
    assert_eq!(shown["body"], NOTIFICATION_TEXT);
    assert_eq!(shown["link"], "https://hub.example/");
    for g in peer.got("/") {
        let text = g.to_string();
        for m in secrets.iter().map(String::as_str).chain(["potassium"]) {
            assert!(!text.contains(m), "{m} reached the push receiver");
        }
    }

    // 410 Gone: the channel is disabled at once (no retries) and shown so.
    let revoked_id = revoked.channel.channel_id;
    let mut view = None;
    for _ in 0..100 {
        let v = wong.notify_channels().await?;
        view = v.into_iter().find(|c| c.channel_id == revoked_id);
        if view.as_ref().is_some_and(|c| c.disabled_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let view = view.unwrap();
    assert!(view.disabled_at.is_some(), "{view:?}");
    assert_eq!((view.pending, view.failed), (0, 1));
    assert!(
        view.last_error.as_deref().unwrap_or("").contains("410"),
        "{view:?}"
    );
    assert_api(
        wong.test_notify_channel(revoked_id).await,
        ErrorCode::Conflict,
        "testing a disabled channel",
    );
    // The live subscription still works; the revoked one is not tried again.
    wong.test_notify_channel(push.channel.channel_id).await?;
    wait_until("the test push", || peer.got("/push/").len() == 2).await?;
    assert_eq!(peer.got("/push/")[1]["ok"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peer.got("/gone/").len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_incoming_webhooks_get_the_fixed_text_and_deleted_hooks_are_disabled()
-> anyhow::Result<()> {
    let (recv, log) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let mut config = Backend::SqliteFolder.config(dir.path());
    config.notify.poll_ms = 100;
    config.notify.link = "https://hub.example/".into();
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let wong = world.login("dr.wong").await?;
    assert_api(
        wong.add_notify_channel(
            ChannelKind::ChatWebhook,
            &format!("{recv}/chat"),
            Some("a secret".into()),
        )
        .await,
        ErrorCode::BadRequest,
        "an incoming webhook with a secret",
    );
    let chat = wong
        .add_notify_channel(ChannelKind::ChatWebhook, &format!("{recv}/chat"), None)
        .await?;
    assert_eq!(chat.secret, None);
    let deleted = wong
        .add_notify_channel(
            ChannelKind::ChatWebhook,
            &format!("{recv}/chat-deleted"),
            None,
        )
        .await?;
    wong.test_notify_channel(chat.channel.channel_id).await?;
    wong.test_notify_channel(deleted.channel.channel_id).await?;
    wait_until("both hooks", || {
        got(&log, "/chat").len() == 1 && got(&log, "/chat-deleted").len() == 1
    })
    .await?;
    let g = &got(&log, "/chat")[0];
    assert_eq!(g.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&g.body)?;
    assert_eq!(
        body,
        serde_json::json!({ "text": format!("{NOTIFICATION_TEXT}: https://hub.example/") }),
        "exactly the fixed text and link"
    );
    let id = deleted.channel.channel_id;
    let mut v = None;
    for _ in 0..100 {
        v = wong
            .notify_channels()
            .await?
            .into_iter()
            .find(|c| c.channel_id == id && c.disabled_at.is_some());
        if v.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = v.expect("the deleted hook is disabled");
    assert_eq!((v.pending, v.failed), (0, 1));
    assert!(v.last_error.as_deref().unwrap_or("").contains("404"));
    let ok = wong
        .notify_channels()
        .await?
        .into_iter()
        .find(|c| c.channel_id == chat.channel.channel_id)
        .unwrap();
    assert!(ok.disabled_at.is_none() && ok.last_delivered_at.is_some());
    Ok(())
}
