//! The `medshare classify` command and upload's patient check, through the real binary (no hub
//! is needed: both run before anything is sent).

use std::process::Command;

fn medshare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medshare"));
    // Never touch the developer's own session.
    c.env(
        "MEDSHARE_CONFIG_DIR",
        std::env::temp_dir().join("medshare-classify-test-config"),
    );
    c
}

#[test]
fn classify_json_reports_class_patient_and_results() {
    let dir = tempfile::tempdir().unwrap();
    let p = &medshare_synth::patients(11, 1)[0];
    let oru = dir.path().join("results.txt"); // the extension must not matter
    std::fs::write(
        &oru,
        medshare_synth::oru_r01(p, time::macros::date!(2026 - 03 - 14), 3),
    )
    .unwrap();
    let out = medshare()
        .arg("classify")
        .arg("--json")
        .arg(&oru)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v[0]["classification"];
    assert_eq!(c["class"], "lab-report");
    assert_eq!(c["format"], "hl7v2");
    assert_eq!(c["class_code"]["code"], "26436-6");
    assert_eq!(c["date_of_service"], "2026-03-14");
    assert!(c["observations"].as_array().unwrap().len() >= 4);
    let human = medshare().arg("classify").arg(&oru).output().unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("lab-report"));
}

#[test]
fn upload_refuses_a_document_of_another_patient() {
    let dir = tempfile::tempdir().unwrap();
    let p = &medshare_synth::patients(12, 1)[0];
    let doc = dir.path().join("report.pdf");
    std::fs::write(&doc, &p.documents[0].bytes).unwrap();
    let other = if p.hkid.starts_with("A123456") {
        "B123456(6)"
    } else {
        "A123456(3)"
    };
    let out = medshare()
        .args(["upload", "--patient", other])
        .arg(&doc)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--accept-identifier-mismatch"), "{err}");
    // The error names neither identifier.
    assert!(!err.contains(&p.hkid) && !err.contains(other), "{err}");
    // With the override the check passes and the command goes on to need a session.
    let out = medshare()
        .args(["upload", "--accept-identifier-mismatch", "--patient", other])
        .arg(&doc)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("--accept-identifier-mismatch"), "{err}");
}
