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

/// A phone photo of a paper lab report (rendered here, tilted, JPEG) is read on this machine
/// and classified with its values; `--no-ocr` leaves it a photo.
#[cfg(feature = "ocr")]
#[test]
fn classify_reads_a_photographed_lab_report() {
    use image::{GrayImage, Luma};
    let font_data = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .expect("fonts-dejavu-core (scripts/system-deps.sh)");
    let font = ab_glyph::FontRef::try_from_slice(&font_data).unwrap();
    let lines = [
        "LABORATORY REPORT",
        "Patient: CHAN Tai Man   HKID: A123456(3)",
        "Specimen collected: 20/08/2025",
        "Potassium      6.8     mmol/L     3.5-5.1",
        "Sodium         139     mmol/L     135-145",
        "Creatinine     120     umol/L     64-104",
    ];
    let mut g = GrayImage::from_pixel(1500, 700, Luma([255]));
    for (i, l) in lines.iter().enumerate() {
        imageproc::drawing::draw_text_mut(
            &mut g,
            Luma([20]),
            90,
            80 + 80 * i as i32,
            ab_glyph::PxScale::from(36.0),
            &font,
            l,
        );
    }
    let g = imageproc::geometric_transformations::rotate_about_center(
        &g,
        3f32.to_radians(),
        imageproc::geometric_transformations::Interpolation::Bilinear,
        Luma([255]),
    );
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("IMG_0001.jpg");
    g.save(&photo).unwrap();
    let out = medshare()
        .args(["classify", "--json"])
        .arg(&photo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v[0]["classification"];
    assert_eq!(c["class"], "lab-report", "{c}");
    assert_eq!(c["date_of_service"], "2025-08-20");
    assert_eq!(c["patient"]["identifiers"][0]["value"], "HKID:A1234563");
    assert_eq!(c["critical"], true, "potassium 6.8");
    assert!(
        c["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "OCR"),
        "{c}"
    );
    let out = medshare()
        .args(["classify", "--json", "--no-ocr"])
        .arg(&photo)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["classification"]["class"], "clinical-photo");
}
