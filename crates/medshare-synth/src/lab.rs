//! Synthetic laboratory panels, exported as CSV and as HL7 v2.5 ORU^R01.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::Date;

use crate::{INSTITUTIONS, Sex, SyntheticPatient};

/// The CSV header of [`lab_csv`].
pub const LAB_CSV_HEADER: &str = "loinc,test,value,unit,reference_range,flag,collected_at";

#[derive(Clone, Copy)]
enum Range {
    /// Normal within `low..=high`.
    Between(f64, f64),
    /// Normal strictly below the limit.
    Below(f64),
}

struct Test {
    loinc: &'static str,
    name: &'static str,
    unit: &'static str,
    decimals: usize,
}

const TESTS: [Test; 6] = [
    Test {
        loinc: "2345-7",
        name: "Glucose",
        unit: "mmol/L",
        decimals: 1,
    },
    Test {
        loinc: "4548-4",
        name: "HbA1c",
        unit: "%",
        decimals: 1,
    },
    Test {
        loinc: "2160-0",
        name: "Creatinine",
        unit: "umol/L",
        decimals: 0,
    },
    Test {
        loinc: "2823-3",
        name: "Potassium",
        unit: "mmol/L",
        decimals: 1,
    },
    Test {
        loinc: "13457-7",
        name: "LDL cholesterol",
        unit: "mmol/L",
        decimals: 1,
    },
    Test {
        loinc: "10839-9",
        name: "Troponin I",
        unit: "ng/L",
        decimals: 0,
    },
];

/// One result of a panel.
pub(crate) struct LabResult {
    test: &'static Test,
    value: String,
    range: String,
    flag: &'static str,
}

/// A panel: 4..=6 of [`TESTS`] (in table order), values and collection time, all from `seed`.
pub(crate) struct Panel {
    results: Vec<LabResult>,
    hour: u8,
    minute: u8,
    institution: &'static str,
}

fn reference_range(index: usize, sex: Sex) -> Range {
    match index {
        0 => Range::Between(3.9, 5.5),
        1 => Range::Between(4.0, 5.6),
        2 => match sex {
            Sex::Female => Range::Between(49.0, 90.0),
            Sex::Male => Range::Between(64.0, 104.0),
            Sex::Other => Range::Between(49.0, 104.0),
        },
        3 => Range::Between(3.5, 5.1),
        4 => Range::Below(3.4),
        _ => Range::Below(26.0),
    }
}

fn random_value(index: usize, rng: &mut ChaCha8Rng) -> f64 {
    match index {
        0 => rng.gen_range(3.4..11.5),
        1 => rng.gen_range(4.6..9.8),
        2 => {
            if rng.gen_bool(0.8) {
                rng.gen_range(50.0..110.0)
            } else {
                rng.gen_range(110.0..320.0)
            }
        }
        3 => rng.gen_range(3.2..5.6),
        4 => rng.gen_range(1.4..5.2),
        _ => {
            if rng.gen_bool(0.7) {
                rng.gen_range(1.0..22.0)
            } else {
                rng.gen_range(30.0..1800.0)
            }
        }
    }
}

pub(crate) fn panel(patient: &SyntheticPatient, seed: u64) -> Panel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let count = rng.gen_range(4..=TESTS.len());
    let mut chosen: Vec<usize> = (0..TESTS.len()).collect();
    chosen.shuffle(&mut rng);
    chosen.truncate(count);
    chosen.sort_unstable();
    let results = chosen
        .into_iter()
        .map(|i| {
            let test = &TESTS[i];
            let d = test.decimals;
            let value = format!("{:.*}", d, random_value(i, &mut rng));
            // Flag the value as displayed.
            let shown: f64 = value.parse().unwrap_or_default();
            let (range, flag) = match reference_range(i, patient.sex) {
                Range::Between(low, high) => (
                    format!("{low:.d$}-{high:.d$}"),
                    if shown < low {
                        "L"
                    } else if shown > high {
                        "H"
                    } else {
                        ""
                    },
                ),
                Range::Below(limit) => (
                    format!("<{limit:.d$}"),
                    if shown >= limit { "H" } else { "" },
                ),
            };
            LabResult {
                test,
                value,
                range,
                flag,
            }
        })
        .collect();
    Panel {
        results,
        hour: rng.gen_range(7..=11),
        minute: rng.gen_range(0..60),
        institution: INSTITUTIONS[rng.gen_range(0..INSTITUTIONS.len())],
    }
}

/// A CSV lab export (header [`LAB_CSV_HEADER`], 4-6 rows, `\n` line ends) for `patient`,
/// collected on `date` (Hong Kong time). Values are random within plausible ranges and flagged
/// `H`/`L` when outside the reference range (creatinine's range depends on sex). The same
/// `seed` gives the same results as [`oru_r01`].
pub fn lab_csv(patient: &SyntheticPatient, date: Date, seed: u64) -> Vec<u8> {
    let panel = panel(patient, seed);
    let collected = format!("{date}T{:02}:{:02}:00+08:00", panel.hour, panel.minute);
    let mut out = String::from(LAB_CSV_HEADER);
    out.push('\n');
    for r in &panel.results {
        out.push_str(&format!(
            "{},{},{},{},{},{},{collected}\n",
            r.test.loinc, r.test.name, r.value, r.test.unit, r.range, r.flag
        ));
    }
    out.into_bytes()
}

/// Escapes HL7 v2 delimiters in free text.
fn hl7_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A segment from its fields (index 0 is the segment name).
fn segment(fields: &[&str]) -> String {
    let last = fields.iter().rposition(|f| !f.is_empty()).unwrap_or(0);
    fields[..=last].join("|")
}

/// An HL7 v2.5 ORU^R01 message (segments MSH, PID, OBR, NTE, OBX…, each ended by `\r`) for
/// `patient`'s lab panel collected on `date`: HKID in PID-3 (`A123456(3)^^^HKID^NNHKG`), name in
/// PID-5 (`CHAN^TAI MAN`), birth date PID-7, sex PID-8, one numeric OBX per test with a LOINC CE
/// (`2345-7^Glucose^LN`), units, reference range and abnormal flag (`H`, `L` or `N`). Processing
/// ID is `T` (training). The same `seed` gives the same results as [`lab_csv`].
pub fn oru_r01(patient: &SyntheticPatient, date: Date, seed: u64) -> Vec<u8> {
    let panel = panel(patient, seed);
    let ymd = format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let collected = format!("{ymd}{:02}{:02}+0800", panel.hour, panel.minute);
    let reported = format!("{ymd}{:02}{:02}+0800", panel.hour + 2, panel.minute);
    let control_id = format!("SYN{:012}", seed % 1_000_000_000_000);
    let filler = format!("LAB{:08}", seed % 100_000_000);

    let (family, given) = patient
        .name
        .split_once(' ')
        .unwrap_or((patient.name.as_str(), ""));
    let name = format!(
        "{}^{}",
        hl7_escape(&family.to_uppercase()),
        hl7_escape(&given.to_uppercase())
    );
    let birth = patient.birth_date;
    let birth = format!(
        "{:04}{:02}{:02}",
        birth.year(),
        u8::from(birth.month()),
        birth.day()
    );
    let sex = match patient.sex {
        Sex::Female => "F",
        Sex::Male => "M",
        Sex::Other => "O",
    };
    let pid3 = format!("{}^^^HKID^NNHKG", hl7_escape(&patient.hkid));
    let facility = hl7_escape(panel.institution);

    let mut segments = vec![
        // MSH-1 is the field separator itself, so fields here start at MSH-2.
        segment(&[
            "MSH",
            "^~\\&",
            "MEDSHARE-SYNTH",
            &facility,
            "MEDSHARE",
            "SANDBOX",
            &reported,
            "",
            "ORU^R01^ORU_R01",
            &control_id,
            "T",
            "2.5",
        ]),
        segment(&["PID", "1", "", &pid3, "", &name, "", &birth, sex]),
    ];
    let mut obr = vec![""; 26];
    obr[0] = "OBR";
    obr[1] = "1";
    obr[3] = &filler;
    obr[4] = "PANEL^Synthetic chemistry panel^L";
    obr[7] = &collected;
    obr[22] = &reported;
    obr[25] = "F";
    segments.push(segment(&obr));
    segments.push(segment(&[
        "NTE",
        "1",
        "L",
        "SYNTHETIC DEMO RECORD - NOT A REAL PATIENT",
    ]));
    for (i, r) in panel.results.iter().enumerate() {
        let set_id = (i + 1).to_string();
        let code = format!("{}^{}^LN", r.test.loinc, r.test.name);
        let flag = if r.flag.is_empty() { "N" } else { r.flag };
        let mut obx = vec![""; 15];
        obx[0] = "OBX";
        obx[1] = &set_id;
        obx[2] = "NM";
        obx[3] = &code;
        obx[5] = &r.value;
        obx[6] = r.test.unit;
        obx[7] = &r.range;
        obx[8] = flag;
        obx[11] = "F";
        obx[14] = &collected;
        segments.push(segment(&obx));
    }
    let mut out = segments.join("\r");
    out.push('\r');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn patient() -> SyntheticPatient {
        SyntheticPatient {
            hkid: "A123456(3)".into(),
            name: "CHAN Tai Man".into(),
            birth_date: date!(1961 - 07 - 02),
            sex: Sex::Male,
            documents: Vec::new(),
        }
    }

    #[test]
    fn csv_shape() {
        for seed in 0..50 {
            let csv = String::from_utf8(lab_csv(&patient(), date!(2026 - 03 - 14), seed)).unwrap();
            let mut lines = csv.lines();
            assert_eq!(lines.next(), Some(LAB_CSV_HEADER));
            let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
            assert!((4..=6).contains(&rows.len()));
            for row in &rows {
                assert_eq!(row.len(), 7, "{row:?}");
                assert!(TESTS.iter().any(|t| t.loinc == row[0] && t.name == row[1]));
                let v: f64 = row[2].parse().unwrap();
                assert!(v > 0.0);
                assert!(["", "H", "L"].contains(&row[5]));
                assert!(row[6].starts_with("2026-03-14T"));
                assert!(row[6].ends_with("+08:00"));
                if let Some(limit) = row[4].strip_prefix('<') {
                    let limit: f64 = limit.parse().unwrap();
                    assert_eq!(row[5] == "H", v >= limit);
                } else {
                    let (lo, hi) = row[4].split_once('-').unwrap();
                    let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
                    assert_eq!(row[5] == "H", v > hi);
                    assert_eq!(row[5] == "L", v < lo);
                }
            }
        }
        let a = lab_csv(&patient(), date!(2026 - 03 - 14), 1);
        assert_eq!(a, lab_csv(&patient(), date!(2026 - 03 - 14), 1));
    }

    #[test]
    fn flags_both_ways_across_seeds() {
        let all: String = (0..100)
            .map(|s| String::from_utf8(lab_csv(&patient(), date!(2026 - 01 - 01), s)).unwrap())
            .collect();
        assert!(all.contains(",H,"));
        assert!(all.contains(",L,"));
        assert!(all.contains(",,"));
    }

    #[test]
    fn oru_shape() {
        let p = patient();
        let msg = String::from_utf8(oru_r01(&p, date!(2026 - 03 - 14), 7)).unwrap();
        assert!(msg.starts_with("MSH|^~\\&|"));
        assert!(msg.ends_with('\r'));
        assert!(!msg.contains('\n'));
        let segs: Vec<&str> = msg.trim_end_matches('\r').split('\r').collect();
        let msh: Vec<&str> = segs[0].split('|').collect();
        assert_eq!(msh[8], "ORU^R01^ORU_R01"); // MSH-9
        assert_eq!(msh[11], "2.5"); // MSH-12
        let pid: Vec<&str> = segs[1].split('|').collect();
        assert_eq!(pid[0], "PID");
        assert_eq!(pid[3], "A123456(3)^^^HKID^NNHKG");
        assert_eq!(pid[5], "CHAN^TAI MAN");
        assert_eq!(pid[7], "19610702");
        assert_eq!(pid[8], "M");
        let obr: Vec<&str> = segs[2].split('|').collect();
        assert_eq!(obr[0], "OBR");
        assert_eq!(obr[25], "F");
        let obx: Vec<Vec<&str>> = segs
            .iter()
            .filter(|s| s.starts_with("OBX|"))
            .map(|s| s.split('|').collect())
            .collect();
        assert!(obx.len() >= 4);
        for (i, o) in obx.iter().enumerate() {
            assert_eq!(o[1], (i + 1).to_string());
            assert_eq!(o[2], "NM");
            assert!(o[3].ends_with("^LN"));
            assert!(["H", "L", "N"].contains(&o[8]));
            assert_eq!(o[11], "F");
            assert!(o[14].starts_with("20260314"));
        }
        // Same panel as the CSV with the same seed.
        let csv = String::from_utf8(lab_csv(&p, date!(2026 - 03 - 14), 7)).unwrap();
        for (row, o) in csv.lines().skip(1).zip(&obx) {
            let row: Vec<&str> = row.split(',').collect();
            assert_eq!(o[3], format!("{}^{}^LN", row[0], row[1]));
            assert_eq!(o[5], row[2]);
            assert_eq!(o[6], row[3]);
            assert_eq!(o[7], row[4]);
        }
        assert_eq!(csv.lines().count() - 1, obx.len());
    }

    #[test]
    fn glucose_code_format() {
        let all: String = (0..20)
            .map(|s| String::from_utf8(oru_r01(&patient(), date!(2026 - 01 - 01), s)).unwrap())
            .collect();
        assert!(all.contains("|2345-7^Glucose^LN||"));
        assert!(all.contains("|10839-9^Troponin I^LN||"));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            hl7_escape("a|b^c&d~e\\f"),
            "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
        );
    }
}
