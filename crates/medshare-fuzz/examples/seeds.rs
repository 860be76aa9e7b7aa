//! Writes the generated seed inputs of every fuzz target into `fuzz/corpus/<target>/`
//! (`seed-*` files): `cargo run -p medshare-fuzz --example seeds`. Seeds from outside
//! material are copied by `scripts/fuzz.sh`.

use std::path::Path;

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus folder");
    std::fs::write(dir.join(format!("seed-{name}")), data).expect("write a seed");
}

fn main() {
    let date = time::macros::date!(2026 - 03 - 14);
    let patients = medshare_synth::patients(7, 2);
    let p = &patients[0];
    write("classify", "oru.hl7", &medshare_synth::oru_r01(p, date, 1));
    write("classify", "lab.csv", &medshare_synth::lab_csv(p, date, 2));
    write(
        "classify",
        "report.pdf",
        &medshare_synth::pdf_report(
            "Discharge Summary",
            &["Diagnosis: pneumonia".into(), "Potassium 6.8 mmol/L".into()],
        ),
    );
    write(
        "classify",
        "photo.png",
        &medshare_synth::png_image(16, 16, 3),
    );
    write(
        "classify",
        "text.txt",
        b"RADIOLOGY REPORT\nCT chest 2026-03-14\nHKID A123456(3)\nImpression: no acute finding\n",
    );
    write(
        "classify",
        "fhir.json",
        br#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"http://hkid","value":"A1234563"}]}},{"resource":{"resourceType":"Observation","status":"final","category":[{"coding":[{"code":"laboratory"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"2823-3"}]},"valueQuantity":{"value":6.8,"unit":"mmol/L"},"effectiveDateTime":"2026-03-14"}}]}"#,
    );
    write(
        "classify",
        "fhir.xml",
        br#"<DiagnosticReport xmlns="http://hl7.org/fhir"><status value="final"/><category><coding><code value="RAD"/></coding></category><code><coding><system value="http://loinc.org"/><code value="18748-4"/></coding></code><conclusion value="No acute finding"/></DiagnosticReport>"#,
    );

    for (i, id) in [
        "A123456(3)",
        "a1234563",
        "AB987654(0)",
        "hkid:A1234563",
        "mrn:HN12345",
    ]
    .iter()
    .enumerate()
    {
        write("identifiers", &format!("{i}"), id.as_bytes());
    }
    for (i, r) in ["M12345", "RN123456", "S1234", "SYS1", "dt 01234"]
        .iter()
        .enumerate()
    {
        write("identifiers", &format!("reg{i}"), r.as_bytes());
    }

    for variant in medshare_fuzz::CHAIN_SEEDS {
        write("statements", variant, &medshare_fuzz::chain_seed(variant));
    }

    let recipient = medshare_crypto::EncryptionKey::from_secret_str(medshare_fuzz::SEALED_IDENTITY)
        .expect("the fixed identity")
        .recipient();
    for (name, len) in [("empty", 0usize), ("small", 100), ("two-chunks", 70_000)] {
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let sealed = medshare_crypto::seal::seal_bytes(std::slice::from_ref(&recipient), &plain)
            .expect("seal a seed");
        write("sealed", name, &sealed);
    }

    for n in [0u64, 1, 5, 12] {
        write("audit", &format!("log-{n}"), &medshare_fuzz::audit_seed(n));
    }
    write("audit", "consistency", &medshare_fuzz::consistency_seed(13));

    for (i, r) in [
        "bytes=0-99",
        "bytes=-500",
        "bytes=100-",
        "bytes=0-0,5-9",
        "bytes=-0",
    ]
    .iter()
    .enumerate()
    {
        let mut d = 1000u64.to_le_bytes().to_vec();
        d.extend_from_slice(r.as_bytes());
        write("range", &format!("{i}"), &d);
    }

    let bodies: &[(&str, &str)] = &[
        (
            "SearchRequest",
            r#"{"patient_ref":"00","classes":["lab-report"]}"#,
        ),
        ("LoginRequest", r#"{"handle":"dr-chan","proof":"abc"}"#),
        (
            "BreakGlassRequest",
            r#"{"patient_id":"5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c03","reason":"x","minutes":60}"#,
        ),
        ("ConsentGrant", r#"{"holder":{"kind":"alliance"}}"#),
    ];
    for (name, body) in bodies {
        let pick = medshare_fuzz::BODIES
            .iter()
            .position(|(n, _)| n == name)
            .expect("a known body") as u8;
        let mut d = vec![pick];
        d.extend_from_slice(body.as_bytes());
        write("api_json", name, &d);
    }
}
