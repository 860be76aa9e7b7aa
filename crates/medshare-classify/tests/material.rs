//! Classification of real outside material (DICOM from pydicom/pynetdicom, HL7 v2 from
//! simple-hl7, hl7-standard and python-hl7, FHIR from @medplum/mock) fetched by
//! `scripts/test-material.sh`, and of the synthetic documents of `medshare-synth`.
//!
//! The material must be present: these tests fail (never skip) without it.

use medshare_classify::{DocumentClass, Format, IdentifierKind, SkipCode, classify};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn material() -> PathBuf {
    let dir = std::env::var_os("MEDSHARE_TEST_MATERIAL")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/medshare-test-material"))
        })
        .expect("set MEDSHARE_TEST_MATERIAL");
    assert!(
        dir.join(".complete-v1").is_file(),
        "test material missing in {}: run `bash scripts/test-material.sh` \
         (or export MEDSHARE_TEST_MATERIAL=\"$(bash scripts/test-material.sh)\")",
        dir.display()
    );
    dir
}

fn read(rel: &str) -> Vec<u8> {
    let p = material().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn labelled_accuracy() {
    let labels = include_str!("labels.tsv");
    let mut total = 0;
    let mut right = 0;
    let mut wrong = Vec::new();
    let mut per_class: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for line in labels
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (file, expected) = line.split_once('\t').expect("file<TAB>class");
        let expected_class = DocumentClass::from_category(expected)
            .unwrap_or_else(|| panic!("unknown class {expected}"));
        let c = classify(&read(file));
        total += 1;
        let e = per_class.entry(expected).or_default();
        e.1 += 1;
        if c.class == expected_class {
            right += 1;
            e.0 += 1;
        } else {
            wrong.push(format!(
                "{file}: expected {expected}, got {}",
                c.class.category()
            ));
            // Every wrong answer must say it is unsure, so the app asks the doctor.
            assert!(
                c.low_confidence,
                "{file}: wrong ({}) at confidence {} without the low-confidence mark",
                c.class.category(),
                c.confidence
            );
        }
    }
    let accuracy = f64::from(right) / f64::from(total);
    eprintln!(
        "outside material: {right}/{total} correct ({:.1}%)",
        accuracy * 100.0
    );
    for (class, (r, n)) in &per_class {
        eprintln!("  {class:20} {r}/{n}");
    }
    for w in &wrong {
        eprintln!("  miss: {w}");
    }
    assert!(total >= 200, "labels file lost rows");
    assert!(accuracy >= 0.97, "accuracy fell to {accuracy}: {wrong:#?}");
}

#[test]
fn dicom_header_facts() {
    let c = classify(&read("pydicom/CT_small.dcm"));
    assert_eq!(
        c.format,
        Format::Dicom,
        "DICM at 128 wins over the TIFF-like preamble"
    );
    assert_eq!(c.class, DocumentClass::DiagnosticImaging);
    assert_eq!(c.modality, Some(medshare_classify::Modality::CT));
    assert_eq!(c.date_of_service.as_deref(), Some("2004-01-19"));
    assert_eq!(c.patient.name.as_deref(), Some("CompressedSamples CT1"));
    assert_eq!(c.patient.identifiers[0].value, "1CT1");
    assert_eq!(c.class_code.code, "18726-0");
    assert_eq!(c.type_code.as_ref().unwrap().code, "18748-4");
    assert!(c.evidence.iter().any(|e| e.source.contains("(0008,0060)")));

    let us = classify(&read("pydicom/examples_ybr_color.dcm"));
    assert_eq!(us.modality, Some(medshare_classify::Modality::US));
    let cr = classify(&read("pydicom/dicomdirtests/77654033/CR1/6154"));
    assert_eq!(cr.modality, Some(medshare_classify::Modality::CR));
    let nm = classify(&read("pydicom/JPEG2000.dcm"));
    assert_eq!(nm.modality, Some(medshare_classify::Modality::NM));
    let mr = classify(&read("pynetdicom/MRImageStorage_ExplicitVRBigEndian.dcm"));
    assert_eq!(mr.modality, Some(medshare_classify::Modality::MR));

    let sr = classify(&read("pydicom/reportsi.dcm"));
    assert_eq!(sr.class, DocumentClass::ImagingReport);
    assert!(sr.title.is_some());
    let ecg = classify(&read("pydicom/waveform_ecg.dcm"));
    assert_eq!(ecg.class, DocumentClass::Ecg);
    assert_eq!(ecg.class_code.code, "26441-6");
}

#[test]
fn dicom_pixel_data_is_never_read() {
    // Cut CT_small just after the pixel data element's header: the declared pixel data is
    // missing entirely, and the header must still classify completely.
    let b = read("pydicom/CT_small.dcm");
    let at = b
        .windows(4)
        .rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00])
        .expect("pixel data tag");
    let cut = &b[..at + 12];
    let c = classify(cut);
    assert_eq!(c.modality, Some(medshare_classify::Modality::CT));
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    // And a raw data set without meta or preamble.
    let raw = classify(&read("pydicom/ExplVR_LitEndNoMeta.dcm"));
    assert_eq!(raw.format, Format::DicomRaw);
    assert!(raw.imaging.unwrap().modality.is_some());
}

#[test]
fn hl7_lab_results_from_other_libraries() {
    // python-hl7's sample: ORU^R01 glucose, LOINC 1554-5, 182 mg/dl flagged H.
    let c = classify(&read("hl7py/sample_hl7.hl7"));
    assert_eq!(c.class, DocumentClass::LabReport);
    let g = c
        .observations
        .iter()
        .find(|o| o.loinc.as_deref() == Some("1554-5"))
        .expect("glucose");
    assert_eq!(g.unit.as_deref(), Some("mg/dL"));
    assert_eq!(g.flag.as_deref(), Some("H"));
    let n = g.normalised.as_ref().expect("normalised");
    assert_eq!(n.unit, "mmol/L");
    assert!((n.value - 182.0 / 18.016).abs() < 0.01);

    // simple-hl7's lipid panel (CR endings, local codes).
    let lipids = classify(&read("simple-hl7/oru.hl7"));
    assert_eq!(lipids.class, DocumentClass::LabReport);
    assert!(lipids.observations.len() >= 4);
    assert!(lipids.observations.iter().any(|o| {
        o.normalised
            .as_ref()
            .is_some_and(|n| n.analyte == "hdl-cholesterol")
    }));

    // hl7-standard's blood count with broken encoding characters: read, and reported.
    let cbc = classify(&read("hl7-standard/input.hl7"));
    assert_eq!(cbc.class, DocumentClass::LabReport);
    assert!(
        cbc.skipped
            .iter()
            .any(|s| s.code == SkipCode::Hl7BadEncodingCharacters)
    );

    // Vaccination report: observations without values are skipped with their line number.
    let imm = classify(&read("simple-hl7/oru-imm.hl7"));
    assert_eq!(imm.class, DocumentClass::ImmunisationRecord);
    assert!(imm.skipped.iter().all(|s| s.at.is_some()));

    // ADT demographics, FHS/BHS batches.
    let adt = classify(&read("simple-hl7/adt.hl7"));
    assert_eq!(adt.class, DocumentClass::Other);
    assert_eq!(adt.patient.name.as_deref(), Some("DOE JOHN"));
    let batch = classify(&read("hl7-standard/batch.hl7"));
    assert!(batch.evidence.iter().any(|e| e.source == "HL7 batch"));
    assert!(
        batch
            .patient
            .identifiers
            .iter()
            .all(|i| i.kind == IdentifierKind::Other)
    );
}

#[test]
fn fhir_resources_from_medplum() {
    let p = classify(&read("medplum/HomerSimpson.json"));
    assert_eq!(p.format, Format::FhirJson);
    assert_eq!(p.patient.name.as_deref(), Some("Simpson Homer"));
    assert_eq!(p.patient.birth_date.as_deref(), Some("1956-05-12"));
    let o = classify(&read("medplum/HomerObservation7.json"));
    assert_eq!(o.class, DocumentClass::LabReport);
    // 1000 mg/dL glucose is far above 25 mmol/L: critical.
    assert!(o.critical, "{:?}", o.observations);
    let r = classify(&read("medplum/HomerDiagnosticReport.json"));
    assert_eq!(r.class, DocumentClass::LabReport);
}

#[test]
fn synthetic_documents_classify_as_generated() {
    let mut total = 0;
    let mut wrong = Vec::new();
    for p in medshare_synth::patients(2026, 60) {
        let hkid = medshare_model::identifiers::PatientIdentifier::hkid(&p.hkid)
            .unwrap()
            .normalized();
        for d in &p.documents {
            total += 1;
            let c = classify(&d.bytes);
            if c.class.category() != d.category {
                wrong.push(format!("{}: got {}", d.file_name, c.class.category()));
                continue;
            }
            // PNG photos and CSV exports carry no identifier; the others name the patient.
            if d.media_type != "image/png" && d.media_type != "text/csv" {
                assert!(
                    c.patient.identifiers.iter().any(|i| i.value == hkid),
                    "{}: {:?}",
                    d.file_name,
                    c.patient.identifiers
                );
                assert_eq!(
                    c.date_of_service.as_deref(),
                    Some(d.date_of_service.to_string().as_str()),
                    "{}",
                    d.file_name
                );
            }
            if d.category == "lab-report" {
                assert!(c.observations.len() >= 4, "{}", d.file_name);
                assert!(
                    c.observations
                        .iter()
                        .all(|o| o.loinc.is_some() && o.normalised.is_some())
                );
            }
        }
    }
    eprintln!("synthetic: {}/{total} correct", total - wrong.len());
    assert!(wrong.is_empty(), "{wrong:#?}");
}
