//! Service identities (institution gateways) against a real hub: enrolled without a passphrase,
//! certified by the institution administrator, logged in with a single-use signed statement;
//! marked as a service in the certificate, in what it signs and in the audit log; refused what
//! only a person may do.

use base64::Engine;
use medshare_client::audit::LogFilter;
use medshare_client::service::login_service;
use medshare_client::{ConsentTarget, Intake, LoginOptions, Share, login};
use medshare_crypto::SigningKey;
use medshare_model::ErrorCode;
use medshare_model::api::{NewEnrolment, ServiceLoginRequest};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::registration::{Profession, Role};
use medshare_model::statements::ServiceLogin;
use medshare_sandbox::{TestHub, World, story_cast};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn service_login_status(url: &str, key: &SigningKey, proof: &ServiceLogin) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/v1/auth/service-login"))
        .json(&ServiceLoginRequest {
            proof: key.sign_statement(proof),
        })
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_is_a_certified_service_marked_everywhere() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(medshare_sandbox::sandbox_config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let key = world
        .enrol_gateway("admin.kph", "kph-lab-gw", "KPH laboratory gateway")
        .await?;
    let gw = login_service(&hub.hub(), &key).await?;

    // It files a lab result: registers the patient and uploads, shared with a clinician.
    let p = &medshare_synth::patients(41, 1)[0];
    let hkid: PatientIdentifier = p.hkid.parse()?;
    let oru = medshare_synth::oru_r01(p, time::macros::date!(2026 - 03 - 14), 2);
    let intake = Intake::from_bytes(&oru, oru.len() as u64, "result.hl7");
    intake.check_patient(&hkid, false)?;
    let patient = gw.ensure_patient(&hkid, &PatientCard::default()).await?;
    assert!(patient.epochs[&1].service, "the gateway's epoch says so");
    let doc = gw
        .upload(
            std::io::Cursor::new(oru),
            &patient,
            intake.meta()?,
            &[Share::parse("dr.ho", None)?],
            |_| {},
        )
        .await?;

    // A clinician sees who filed it: a service, by its certificate and its signature.
    let ho = world.login("dr.ho").await?;
    let opened = ho.open_document(doc.document_id).await?;
    assert!(opened.binding.service);
    assert_eq!(opened.uploader.cert.profession, Profession::Service);
    assert_eq!(opened.manifest.category, "lab-report");
    let seen = ho.find_patient(&hkid).await?.expect("registered");
    assert!(seen.epochs[&1].service);

    // No passphrase opens a service account, whatever was sealed at enrolment.
    let err = login(
        &hub.hub(),
        Some(world.root_public),
        &"kph-lab-gw".parse().unwrap(),
        "any passphrase",
        None,
        &LoginOptions {
            allow_weak_kdf: true,
        },
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(err.code(), Some(ErrorCode::InvalidCredentials));

    // What only a person may do.
    let forbidden = |e: medshare_client::ClientError| e.code() == Some(ErrorCode::Forbidden);
    assert!(forbidden(
        gw.break_glass(&patient, "integration test")
            .await
            .unwrap_err()
    ));
    assert!(forbidden(
        gw.declare_care(&patient, None).await.unwrap_err()
    ));
    assert!(forbidden(
        gw.grant_consent(&patient, &ConsentTarget::Alliance)
            .await
            .unwrap_err()
    ));

    // A login proof is single use and fresh; a person's key does not open a service session.
    let keys = key.keys()?;
    let proof = ServiceLogin {
        practitioner_id: key.practitioner_id,
        nonce: "0123456789abcdef0123".into(),
        issued_at: now(),
    };
    assert_eq!(
        service_login_status(&hub.url, &keys.signing, &proof).await,
        200
    );
    assert_eq!(
        service_login_status(&hub.url, &keys.signing, &proof).await,
        401
    );
    let stale = ServiceLogin {
        nonce: "fedcba9876543210fedc".into(),
        issued_at: now() - 3600,
        ..proof.clone()
    };
    assert_eq!(
        service_login_status(&hub.url, &keys.signing, &stale).await,
        401
    );
    let ho_seed: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&ho.save().signing)?
        .try_into()
        .unwrap();
    let as_person = ServiceLogin {
        practitioner_id: world.id("dr.ho"),
        nonce: "00112233445566778899".into(),
        issued_at: now(),
    };
    assert_eq!(
        service_login_status(&hub.url, &SigningKey::from_seed(&ho_seed), &as_person).await,
        401
    );
    // Another key for the gateway's id fails too.
    let forged = ServiceLogin {
        nonce: "99887766554433221100".into(),
        ..as_person.clone()
    };
    let forged = ServiceLogin {
        practitioner_id: key.practitioner_id,
        ..forged
    };
    assert_eq!(
        service_login_status(&hub.url, &SigningKey::generate(), &forged).await,
        401
    );

    // The audit log marks every entry the service caused.
    let officer = world.login("privacy.kph").await?;
    let entries = officer
        .audit_log(&LogFilter {
            practitioner: Some(key.practitioner_id),
            ..Default::default()
        })
        .await?;
    assert!(entries.len() >= 5, "{}", entries.len());
    for e in &entries {
        assert!(
            e.entry
                .detail
                .as_deref()
                .is_some_and(|d| d == "service" || d.starts_with("service;")),
            "{e:?}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|e| e.entry.action == "document.upload" && e.entry.allowed())
    );
    assert!(
        entries
            .iter()
            .any(|e| e.entry.action == "break-glass" && e.entry.purpose == "service-identity")
    );

    // A service is never an administrator or auditor.
    let admin = world.login("admin.kph").await?;
    let err = admin
        .invite(NewEnrolment {
            handle: "kph-admin-gw".parse().unwrap(),
            name: "A gateway that administers".into(),
            profession: Profession::Service,
            registration: "SYS2".into(),
            specialty: None,
            roles: vec![Role::Clinician, Role::InstitutionAdmin],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest));
    hub.stop().await
}
