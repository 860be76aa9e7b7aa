//! Key and account lifecycle against a real hub: consent granted and withdrawn (new patient key
//! epoch), a member removed (institution key rotated, sessions revoked), lockout after failed
//! logins, TOTP required, logout revoking the session, and HTTP Range on ciphertext.

use medshare_client::{ConsentTarget, DocumentMeta, LoginOptions};
use medshare_model::ErrorCode;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast, totp_now};

fn meta(title: &str) -> DocumentMeta {
    DocumentMeta {
        title: title.into(),
        file_name: format!("{title}.txt"),
        media_type: "text/plain".into(),
        category: "lab-report".into(),
        date_of_service: Some("2026-11-01".into()),
        classification: None,
        urgent: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_rotation_lockout_and_sessions_sqlite_folder() -> anyhow::Result<()> {
    consent_rotation_lockout_and_sessions(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_rotation_lockout_and_sessions_postgres_s3() -> anyhow::Result<()> {
    consent_rotation_lockout_and_sessions(Backend::PostgresS3).await
}

async fn consent_rotation_lockout_and_sessions(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(backend.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    let hkid: PatientIdentifier = "C668668(9)".parse()?;
    let card = PatientCard {
        name: Some("MA Siu Ling".into()),
        ..PatientCard::default()
    };
    let patient = chan.ensure_patient(&hkid, &card).await?;
    let first = chan
        .upload(
            std::io::Cursor::new(b"HbA1c 7.9 %".to_vec()),
            &patient,
            meta("hba1c"),
            &[],
            |_| {},
        )
        .await?;

    // Without consent for PPH, the cardiologist sees nothing, even after declaring care.
    assert!(wong.timeline(&hkid).await?.entries.is_empty());
    let p_wong = wong.find_patient(&hkid).await?.expect("registered");
    let err = wong.declare_care(&p_wong, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));

    // The patient consents to share with PPH: with a care relationship dr.wong reads it all.
    let pph = world.institutions["PPH"];
    chan.grant_consent(&patient, &ConsentTarget::Institution(pph))
        .await?;
    let p_wong = wong.find_patient(&hkid).await?.expect("registered");
    wong.declare_care(&p_wong, None).await?;
    let t = wong.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.card.and_then(|c| c.name).as_deref(), Some("MA Siu Ling"));

    // Consent withdrawn: a new patient key epoch; PPH loses access to old and new documents.
    let patient = chan.find_patient(&hkid).await?.expect("registered");
    chan.revoke_consent(&patient, &ConsentTarget::Institution(pph))
        .await?;
    let patient = chan.find_patient(&hkid).await?.expect("registered");
    // Every consent change starts an epoch: 1 registered, 2 PPH added, 3 PPH withdrawn.
    assert_eq!(patient.current()?.0, 3);
    let second = chan
        .upload(
            std::io::Cursor::new(b"HbA1c 7.1 %".to_vec()),
            &patient,
            meta("hba1c-2"),
            &[],
            |_| {},
        )
        .await?;
    assert!(wong.timeline(&hkid).await?.entries.is_empty());
    assert_eq!(
        wong.open_document(first.document_id)
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::Forbidden)
    );
    let own = chan.timeline(&hkid).await?;
    assert_eq!(own.entries.len(), 2);
    assert!(
        own.entries
            .iter()
            .any(|e| e.document_id == second.document_id)
    );

    // A member leaves HVC: the institution key rotates, their session dies, colleagues go on.
    let admin = world.login("admin.hvc").await?;
    let lam = world.login("dt.lam").await?;
    admin.remove_member(world.id("dt.lam")).await?;
    assert_eq!(
        lam.me().await.unwrap_err().code(),
        Some(ErrorCode::SessionExpired)
    );
    assert!(world.login("dt.lam").await.is_err());
    let chan2 = world.login("dr.chan").await?;
    assert_eq!(chan2.context().await?.epochs.len(), 2);
    let fresh: PatientIdentifier = "D345678(2)".parse()?;
    let p2 = chan2
        .ensure_patient(&fresh, &PatientCard::default())
        .await?;
    assert_eq!(p2.view.wraps.len(), 1);
    assert!(matches!(
        p2.view.wraps[0].holder,
        medshare_model::api::Holder::Institution { epoch: 2, .. }
    ));
    // Documents sealed under epoch 1 stay readable to members who remain.
    assert_eq!(chan2.timeline(&hkid).await?.entries.len(), 2);

    // Logout revokes the session on the hub.
    let token = wong.save().token.clone();
    wong.logout().await?;
    let res = reqwest::Client::new()
        .get(format!("{}/v1/me", hub.url))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(res.status(), 401);

    // TOTP is required, and wrong passphrases lock the account with back-off.
    let h = hub.hub();
    let handle: medshare_model::Handle = "dr.leung".parse().expect("valid handle");
    let weak = LoginOptions {
        allow_weak_kdf: true,
    };
    let pass = &world.people["dr.leung"].passphrase;
    let err = medshare_client::login(&h, Some(world.root_public), &handle, pass, None, &weak)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some(ErrorCode::TotpRequired));
    for _ in 0..5 {
        let code = totp_now(world.people["dr.leung"].totp_secret.as_deref().unwrap())?;
        let err = medshare_client::login(
            &h,
            Some(world.root_public),
            &handle,
            "wrong passphrase",
            Some(&code),
            &weak,
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(
            err.code(),
            Some(ErrorCode::InvalidCredentials) | Some(ErrorCode::AccountLocked)
        ));
    }
    let err = world.login("dr.leung").await.err().unwrap();
    let client_err = err
        .downcast_ref::<medshare_client::ClientError>()
        .expect("client error");
    assert_eq!(client_err.code(), Some(ErrorCode::AccountLocked));

    // Ciphertext supports HTTP Range (resumable downloads).
    let token = chan.save().token.clone();
    let url = format!("{}/v1/documents/{}/content", hub.url, first.document_id);
    let full = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await?
        .bytes()
        .await?;
    let part = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .header("range", "bytes=10-19")
        .send()
        .await?;
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str()?,
        format!("bytes 10-19/{}", full.len())
    );
    assert_eq!(&part.bytes().await?[..], &full[10..20]);
    let tail = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .header("range", "bytes=-5")
        .send()
        .await?;
    assert_eq!(&tail.bytes().await?[..], &full[full.len() - 5..]);
    let bad = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .header("range", format!("bytes={}-", full.len() + 10))
        .send()
        .await?;
    assert_eq!(bad.status(), 416);
    hub.stop().await
}
