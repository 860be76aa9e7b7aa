//! Abuse of the hub's own door and resources, from the trust-gaps review: parallel password
//! guessing, locking a doctor out from a stranger's address, floods of unauthenticated
//! requests, uploads staged and never committed, event streams that outlive their session,
//! webhooks aimed at the hub's own network, two commits racing for one document id, and audit
//! views wider than the auditor's institution.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use futures::StreamExt;
use medshare_model::api::PatientContact;
use medshare_model::records::PatientCard;
use medshare_model::statements::{DocumentBinding, key_id};
use medshare_model::{DocumentId, ErrorCode, UploadId};
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use medshare_server::config::Config;
use sha2::Digest;
use std::net::IpAddr;
use std::time::Duration;

struct Scene {
    _dir: tempfile::TempDir,
    hub: TestHub,
    world: World,
}

async fn scene(tweak: impl FnOnce(&mut Config)) -> anyhow::Result<Scene> {
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    tweak(&mut c);
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    Ok(Scene {
        _dir: dir,
        hub,
        world,
    })
}

/// A raw HTTP client whose requests come from `from` (any 127/8 address is this machine).
fn from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn wrong_login(http: &reqwest::Client, hub: &str, handle: &str) -> (u16, String) {
    let res = http
        .post(format!("{hub}/v1/auth/login"))
        .json(&serde_json::json!({
            "handle": handle,
            "credential": B64.encode([7u8; 32]),
            "totp": "000000",
        }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

async fn failed_logins(dir: &std::path::Path, handle: &str) -> i64 {
    use sqlx::{ConnectOptions, sqlite::SqliteConnectOptions};
    let mut db = SqliteConnectOptions::new()
        .filename(dir.join("medshare.db"))
        .connect()
        .await
        .unwrap();
    sqlx::query_scalar("SELECT failed_logins FROM practitioners WHERE handle = ?")
        .bind(handle)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// Medium 3: 60 wrong passphrases at once. Each one that was verified is counted (the counter
/// is incremented atomically before verifying); the others were refused before verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_each_counted_or_refused() -> anyhow::Result<()> {
    let s = scene(|_| {}).await?;
    let http = from("127.0.0.1");
    let url = s.hub.url.clone();
    let answers =
        futures::future::join_all((0..60).map(|_| wrong_login(&http, &url, "dr.leung"))).await;
    let verified = answers
        .iter()
        .filter(|(_, code)| code == "invalid_credentials")
        .count() as i64;
    for (status, code) in &answers {
        assert!(
            matches!(
                code.as_str(),
                "invalid_credentials" | "too_many_requests" | "account_locked"
            ),
            "{status} {code}"
        );
    }
    assert!(verified >= 1);
    assert_eq!(
        failed_logins(&s.hub.data_dir, "dr.leung").await,
        verified,
        "every verified guess is counted"
    );
    Ok(())
}

/// Low 9: a stranger guessing from their own address locks only that address: the doctor
/// logs in from theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_a_doctor_out() -> anyhow::Result<()> {
    let s = scene(|_| {}).await?;
    let stranger = from("127.0.0.2");
    let mut last = String::new();
    for _ in 0..8 {
        last = wrong_login(&stranger, &s.hub.url, "dr.leung").await.1;
    }
    assert_eq!(last, "account_locked", "the stranger's address is locked");
    s.world.login("dr.leung").await?;
    // Unknown handles cost the same verification and answer the same way.
    assert_eq!(
        wrong_login(&from("127.0.0.3"), &s.hub.url, "dr.nobody")
            .await
            .1,
        "invalid_credentials"
    );
    Ok(())
}

/// Low 10: unauthenticated requests are limited per client address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_are_limited_per_address() -> anyhow::Result<()> {
    let s = scene(|c| c.auth.auth_requests_per_minute = 6000).await?;
    // World built; now tighten the limit on a second hub over the same data.
    let dir = s.hub.data_dir.clone();
    s.hub.stop().await?;
    let mut c = sandbox_config(&dir);
    c.auth.auth_requests_per_minute = 10;
    let hub = TestHub::start(c).await?;
    let flood = from("127.0.0.4");
    let mut limited = 0;
    let mut retry_after = false;
    for _ in 0..30 {
        let res = flood
            .post(format!("{}/v1/auth/prelogin", hub.url))
            .json(&serde_json::json!({"handle": "dr.leung"}))
            .send()
            .await?;
        if res.status() == 429 {
            limited += 1;
            retry_after |= res.headers().contains_key("retry-after");
        }
    }
    assert!(limited >= 20, "only {limited} of 30 limited");
    assert!(retry_after);
    let other = from("127.0.0.5")
        .post(format!("{}/v1/auth/prelogin", hub.url))
        .json(&serde_json::json!({"handle": "dr.leung"}))
        .send()
        .await?;
    assert_eq!(other.status(), 200, "another address is not limited");
    Ok(())
}

/// Low 10: what a practitioner may leave staged is bounded, and abandoned uploads expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_uploads_are_bounded_and_expire() -> anyhow::Result<()> {
    let s = scene(|c| {
        c.limits.max_staged_uploads = 3;
        c.limits.staging_ttl_secs = 2;
    })
    .await?;
    let chan = s.world.login("dr.chan").await?;
    let t = token(&chan);
    let stage = || async {
        http()
            .put(format!("{}/v1/uploads/{}", s.hub.url, UploadId::new()))
            .bearer_auth(&t)
            .body(vec![1u8; 1000])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    for _ in 0..3 {
        assert_eq!(stage().await, 201);
    }
    assert_eq!(stage().await, 429, "over the staging quota");
    // The scheduled purge frees the quota (polled, not slept on).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if stage().await == 201 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "staged uploads never expired"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Medium 4: a live event stream ends when its session is logged out, and when its holder is
/// removed from the institution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_end_with_their_session() -> anyhow::Result<()> {
    let s = scene(|_| {}).await?;
    let wong = s.world.login("dr.wong").await?;
    let mut stream = Box::pin(wong.follow(0).await?);
    wong.logout().await?;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = stream.next().await {
            if e.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream outlived the logout");

    let lam = s.world.login("dt.lam").await?;
    let mut stream = Box::pin(lam.follow(0).await?);
    let admin = s.world.login("admin.hvc").await?;
    admin.remove_member(s.world.id("dt.lam")).await?;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = stream.next().await {
            if e.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream outlived the member's removal");
    Ok(())
}

/// Medium 6: a patient's notice webhook cannot point at the hub's own network, and only a
/// privacy officer of (or a clinician caring at) an institution holding the patient's consent
/// may set it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_cannot_reach_the_hubs_network() -> anyhow::Result<()> {
    let s = scene(|c| {
        // Not the sandbox's loopback allowance: the production default.
        c.outbound = Default::default();
        c.audit.webhook_allow_http = true;
    })
    .await?;
    let chan = s.world.login("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let p = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
        "http://127.0.0.1:8443/v1/alliance",
        "https://[fd00:ec2::254]/",
        "http://2130706433/",
    ] {
        assert_api(
            chan.set_patient_contact(p.id(), &PatientContact::Webhook { url: url.into() })
                .await,
            ErrorCode::BadRequest,
            url,
        );
    }
    chan.set_patient_contact(
        p.id(),
        &PatientContact::Webhook {
            url: "https://notices.example.org/medshare".into(),
        },
    )
    .await?;
    // Alliance-wide consent does not let another institution's privacy officer redirect it.
    chan.grant_consent(&p, &medshare_client::ConsentTarget::Alliance)
        .await?;
    let officer = s.world.login("privacy.kph").await?;
    assert_api(
        officer
            .set_patient_contact(
                p.id(),
                &PatientContact::Webhook {
                    url: "https://attacker.example.net/".into(),
                },
            )
            .await,
        ErrorCode::Forbidden,
        "a privacy officer of another institution",
    );
    Ok(())
}

/// Low 11: two commits naming one document id, each with its own staged bytes, race. Exactly
/// one wins, and the winner's bytes are the ones kept (the loser can neither overwrite nor
/// delete them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_keep_the_winners_bytes() -> anyhow::Result<()> {
    let s = scene(|_| {}).await?;
    let chan = s.world.login("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    let t = token(&chan);
    let seed: [u8; 32] = B64.decode(&chan.save().signing)?.try_into().unwrap();
    let key = medshare_crypto::SigningKey::from_seed(&seed);
    for round in 0..10 {
        let document_id = DocumentId::new();
        let mut commits = Vec::new();
        for who in 0..2u8 {
            let bytes = vec![who + 1; 4096 + round];
            let upload_id = UploadId::new();
            let staged: serde_json::Value = http()
                .put(format!("{}/v1/uploads/{upload_id}", s.hub.url))
                .bearer_auth(&t)
                .body(bytes.clone())
                .send()
                .await?
                .json()
                .await?;
            let manifest = vec![who; 16];
            let binding = key.sign_statement(&DocumentBinding {
                document_id,
                patient_id: patient.id(),
                patient_ref: patient.patient_ref.clone(),
                ciphertext_sha256: staged["sha256"].as_str().unwrap().to_string(),
                ciphertext_size: bytes.len() as u64,
                manifest_sha256: hex::encode(sha2::Sha256::digest(&manifest)),
                uploader: chan.id(),
                uploader_key: key_id(&key.public()),
                signed_at: 1_800_000_000,
                service: false,
                document_key_commitment: None,
                ciphertext_blake3: None,
            });
            let body = serde_json::json!({
                "document_id": document_id,
                "upload_id": upload_id,
                "patient_id": patient.id(),
                "binding": binding,
                "manifest": B64.encode(&manifest),
                "wraps": [{"holder": {"kind": "practitioner", "id": chan.id()}, "wrap": B64.encode(b"w")}],
                "grants": [],
            });
            commits.push((body, bytes));
        }
        let sent = futures::future::join_all(commits.iter().map(|(body, _)| {
            http()
                .post(format!("{}/v1/documents", s.hub.url))
                .bearer_auth(&t)
                .json(body)
                .send()
        }))
        .await;
        let ok: Vec<usize> = sent
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_ok_and(|r| r.status().is_success()))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ok.len(), 1, "round {round}: exactly one commit wins");
        let kept = http()
            .get(format!("{}/v1/documents/{document_id}/content", s.hub.url))
            .bearer_auth(&t)
            .send()
            .await?;
        assert_eq!(
            kept.status(),
            200,
            "round {round}: the winner's bytes are gone"
        );
        assert_eq!(
            kept.bytes().await?.to_vec(),
            commits[ok[0]].1,
            "round {round}: the winner's bytes were overwritten"
        );
    }
    Ok(())
}

/// Low 8: auditors see the entries of their institution's scope in full and only the leaf of
/// the others; a data access request export covers only what the institution holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_views_stay_within_the_institution() -> anyhow::Result<()> {
    let s = scene(|_| {}).await?;
    // HVC files a record for its own patient; KPH never touches it.
    let chan = s.world.login("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let p = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    chan.upload(
        std::io::Cursor::new(b"HVC's record".to_vec()),
        &p,
        meta("r", "r.pdf"),
        &[],
        |_| {},
    )
    .await?;
    for who in ["privacy.kph", "admin.kph"] {
        let auditor = s.world.login(who).await?;
        let entries: Vec<serde_json::Value> = http()
            .get(format!("{}/v1/audit/entries?after=0&limit=5000", s.hub.url))
            .bearer_auth(token(&auditor))
            .send()
            .await?
            .json()
            .await?;
        assert!(!entries.is_empty());
        for e in &entries {
            let text = e.to_string();
            assert!(
                !text.contains(&p.id().to_string()) && !text.contains(&chan.id().to_string()),
                "{who} sees another institution's entry: {text}"
            );
        }
        assert!(
            entries.iter().any(|e| e.get("action").is_none()),
            "leaves only"
        );
        // The whole log still verifies from what they may see.
        let (report, _) = auditor.verify_log(None).await?;
        assert!(report.is_intact(), "{:?}", report.findings);
        assert!(report.hidden > 0);
    }
    let officer = s.world.login("privacy.kph").await?;
    assert_api(
        officer.access_export(p.id()).await,
        ErrorCode::NotFound,
        "an export of another institution's patient",
    );
    Ok(())
}
