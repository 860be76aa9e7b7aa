//! Commands against a real `medshare serve`: the `medshare audit` commands as a privacy officer
//! would use them (head, verify intact and after an edit in the database, log, history,
//! break-glass review, data access request export, inclusion proof), and `medshare upload`
//! filing classified documents whose sealed manifests a colleague then reads.

mod common;

use common::start_hub;
use medshare_client::ConsentTarget;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{World, story_cast, totp_now};
use sqlx::{ConnectOptions, Executor};
use std::path::Path;
use std::process::{Command, Output};

struct Cli<'a> {
    config: &'a Path,
    hub: String,
}

impl Cli<'_> {
    /// `medshare login` as a sandbox person (passphrase from the environment, current TOTP).
    fn login(&self, world: &World, handle: &str) -> anyhow::Result<()> {
        let who = &world.people[handle];
        let code = totp_now(who.totp_secret.as_deref().expect("totp"))?;
        let out = Command::new(env!("CARGO_BIN_EXE_medshare"))
            .args([
                "login",
                "--hub",
                &self.hub,
                "--handle",
                handle,
                "--weak-kdf",
                "--totp",
                &code,
            ])
            .env("MEDSHARE_CONFIG_DIR", self.config)
            .env("MEDSHARE_PASSPHRASE", &who.passphrase)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_medshare"))
            .args(args)
            .env("MEDSHARE_CONFIG_DIR", self.config)
            .env("MEDSHARE_HUB", &self.hub)
            .env("MEDSHARE_LOG", "error")
            .output()
            .expect("medshare runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "medshare {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_privacy_officer_audits_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut hub, url) = start_hub(dir.path());
    let token = std::fs::read_to_string(dir.path().join("bootstrap-token"))?;
    let world = World::build_at(&url, &token, &story_cast()).await?;

    // A clinic files a record; an ED physician at another hospital breaks the glass.
    let chan = world.login("dr.chan").await?;
    let hkid: PatientIdentifier = "K987654(5)".parse()?;
    let p = chan.ensure_patient(&hkid, &PatientCard::default()).await?;
    chan.grant_consent(&p, &ConsentTarget::Alliance).await?;
    chan.upload(
        std::io::Cursor::new(b"%PDF-1.4 discharge summary".to_vec()),
        &p,
        medshare_client::DocumentMeta {
            title: "Discharge summary".into(),
            file_name: "discharge.pdf".into(),
            media_type: "application/pdf".into(),
            category: "discharge-summary".into(),
            date_of_service: None,
            classification: None,
            urgent: false,
        },
        &[],
        |_| {},
    )
    .await?;
    let ho = world.login("dr.ho").await?;
    let hp = ho.find_patient(&hkid).await?.expect("patient");
    ho.break_glass(&hp, "collapsed in the waiting room").await?;
    ho.timeline(&hkid).await?;

    // The privacy officer logs in with the CLI.
    let config = dir.path().join("officer");
    let cli = Cli {
        config: &config,
        hub: url.to_string(),
    };
    cli.login(&world, "privacy.kph")?;
    // The verified head is remembered, 0600.
    let heads = config.join("audit_heads.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&heads)?.permissions().mode() & 0o777,
            0o600
        );
    }

    let head = cli.ok(&["audit", "head"]);
    assert!(head.contains("Consistent with every head"), "{head}");
    let verify = cli.ok(&["audit", "verify"]);
    assert!(verify.contains("The log is intact"), "{verify}");

    let log = cli.ok(&["audit", "log", "--practitioner", "dr.ho"]);
    assert!(log.contains("break-glass"), "{log}");
    assert!(log.contains("HO Ka Lok") || log.contains("dr.ho"), "{log}");
    let id = log
        .split("[break-glass:")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .expect("break-glass id")
        .to_string();
    let review = cli.ok(&["audit", "break-glass", &id]);
    assert!(
        review.contains("reason: collapsed in the waiting room"),
        "{review}"
    );

    let history = cli.ok(&["audit", "history", "--patient", "K987654(5)"]);
    assert!(history.contains("patient.search"), "{history}");

    let export = dir.path().join("dar.json");
    cli.ok(&[
        "audit",
        "export",
        "--patient",
        "K987654(5)",
        "--out",
        export.to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&export)?)?;
    assert!(json["accesses"].as_array().is_some_and(|a| !a.is_empty()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&export)?.permissions().mode() & 0o777,
            0o600
        );
    }
    let seq = json["accesses"][0]["seq"]
        .as_i64()
        .expect("seq")
        .to_string();
    let proved = cli.ok(&["audit", "prove", &seq]);
    assert!(
        proved.contains("is included in the signed head"),
        "{proved}"
    );

    // Someone edits an entry in the database: verify fails and says where.
    let db = dir.path().join("medshare.db");
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .connect()
        .await?;
    c.execute("DROP TRIGGER access_log_no_update").await?;
    c.execute("UPDATE access_log SET basis = 'care-relationship' WHERE action = 'break-glass'")
        .await?;
    let out = cli.run(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "verify passed a tampered log: {stdout}"
    );
    assert!(
        stdout.contains("TAMPERED  position") && stdout.contains("edited after it was logged"),
        "{stdout}"
    );
    hub.kill()?;
    hub.wait()?;
    Ok(())
}

/// `medshare upload` classifies on the client and the sealed manifest carries the result: a
/// colleague's timeline, decrypted, shows class, date of service and lab observations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_files_classified_documents_through_a_real_hub() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut hub, url) = start_hub(dir.path());
    let token = std::fs::read_to_string(dir.path().join("bootstrap-token"))?;
    let world = World::build_at(&url, &token, &story_cast()).await?;
    let p = &medshare_synth::patients(21, 1)[0];
    let pdf = dir.path().join("scan-0001.bin"); // the name says nothing
    std::fs::write(&pdf, &p.documents[0].bytes)?;
    let oru = dir.path().join("results.txt");
    std::fs::write(
        &oru,
        medshare_synth::oru_r01(p, time::macros::date!(2026 - 03 - 14), 3),
    )?;

    let config = dir.path().join("chan");
    let cli = Cli {
        config: &config,
        hub: url.to_string(),
    };
    cli.login(&world, "dr.chan")?;
    cli.ok(&[
        "upload",
        "--patient",
        &p.hkid,
        "--share",
        "dr.wong",
        pdf.to_str().unwrap(),
        oru.to_str().unwrap(),
    ]);

    let wong = world.login("dr.wong").await?;
    let hkid: PatientIdentifier = p.hkid.parse()?;
    let t = wong.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 2);
    let lab = t
        .entries
        .iter()
        .find(|e| e.manifest.category == "lab-report")
        .expect("the ORU^R01 is filed as a lab report");
    assert_eq!(lab.manifest.date_of_service.as_deref(), Some("2026-03-14"));
    let c = lab
        .manifest
        .classification
        .as_ref()
        .expect("classification");
    assert!(
        c["observations"].as_array().is_some_and(|o| o.len() >= 3),
        "{c}"
    );
    // Critical values make the document urgent in its sealed manifest, and only then.
    assert_eq!(lab.manifest.urgent, c["critical"] == true);
    let report = t
        .entries
        .iter()
        .find(|e| e.manifest.file_name == "scan-0001.bin")
        .expect("the PDF");
    assert_ne!(report.manifest.category, "other");
    assert_eq!(report.manifest.media_type, "application/pdf");
    assert!(report.manifest.classification.is_some());
    assert!(!report.manifest.urgent);
    hub.kill()?;
    hub.wait()?;
    Ok(())
}
