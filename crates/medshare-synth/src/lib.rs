//! Synthetic, clearly fictional patients and clinical documents (PDF, PNG, CSV, HL7 v2) for the sandbox demo, tests and benchmarks; deterministic from a seed, no I/O.
//!
//! ```
//! let patients = medshare_synth::patients(7, 3);
//! assert_eq!(patients.len(), 3);
//! let story = &patients[0].documents[0];
//! assert_eq!(story.title, "Coronary angiography report");
//! assert!(story.bytes.starts_with(b"%PDF-1.4"));
//! // Same seed, same bytes.
//! assert_eq!(medshare_synth::patients(7, 3), patients);
//! ```
#![forbid(unsafe_code)]

mod documents;
mod hkid;
mod lab;
mod pdf;
mod photo;

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::date;

pub use hkid::hkid_check_digit;
pub use lab::{LAB_CSV_HEADER, lab_csv, oru_r01};
pub use pdf::pdf_report;
pub use photo::png_image;

/// The fictional institutions documents are attributed to.
pub const INSTITUTIONS: [&str; 3] = [
    "Harbour View Clinic",
    "Kowloon Public Hospital",
    "Peak Private Hospital",
];

/// The document categories produced (the `category` of a [`SyntheticDocument`]).
pub const CATEGORIES: [&str; 6] = [
    "imaging-report",
    "lab-report",
    "clinical-photo",
    "discharge-summary",
    "referral-letter",
    "ecg",
];

/// Administrative sex of a synthetic patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other or not stated.
    Other,
}

/// A fictional patient and their fictional documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticPatient {
    /// A valid HKID (correct check digit), formatted like `A123456(3)`.
    pub hkid: String,
    /// Cantonese-style romanised name, surname first in capitals, e.g. `CHAN Tai Man`.
    pub name: String,
    /// Date of birth.
    pub birth_date: Date,
    /// Administrative sex.
    pub sex: Sex,
    /// Their documents.
    pub documents: Vec<SyntheticDocument>,
}

/// One fictional clinical document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticDocument {
    /// e.g. `angiography-report-2026-03-14.pdf`.
    pub file_name: String,
    /// `application/pdf`, `image/png`, `text/csv` or `application/hl7-v2`.
    pub media_type: String,
    /// e.g. `Coronary angiography report`.
    pub title: String,
    /// One of [`CATEGORIES`].
    pub category: String,
    /// When the care it records took place.
    pub date_of_service: Date,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

const SURNAMES: [&str; 30] = [
    "CHAN", "WONG", "LEUNG", "LAM", "CHEUNG", "LI", "NG", "HO", "LAU", "CHOW", "TSANG", "YEUNG",
    "LEE", "FUNG", "KWOK", "MAK", "TANG", "YIP", "TSE", "SIU", "LO", "CHENG", "CHU", "POON", "LAI",
    "AU", "YUEN", "KWAN", "TAM", "CHOI",
];

const GIVEN_SYLLABLES: [&str; 32] = [
    "Tai", "Man", "Siu", "Ming", "Ka", "Yan", "Wing", "Sze", "Mei", "Ling", "Chi", "Keung", "Hoi",
    "Kit", "Wai", "Kwan", "Yee", "Lok", "Fai", "Hung", "Shan", "Ho", "Chun", "Kin", "Suet", "Pui",
    "Yuk", "Tsz", "Hin", "Long", "On", "Sum",
];

/// A fictional Cantonese-style romanised name, e.g. `CHAN Tai Man`.
pub(crate) fn random_name(rng: &mut impl Rng) -> String {
    let surname = SURNAMES.choose(rng).copied().unwrap_or("CHAN");
    let first = GIVEN_SYLLABLES.choose(rng).copied().unwrap_or("Tai");
    let mut second = GIVEN_SYLLABLES.choose(rng).copied().unwrap_or("Man");
    if second == first {
        second = "Man";
    }
    format!("{surname} {first} {second}")
}

/// A uniformly random date in `from..=to`.
pub(crate) fn random_date(rng: &mut impl Rng, from: Date, to: Date) -> Date {
    let day = rng.gen_range(from.to_julian_day()..=to.to_julian_day());
    Date::from_julian_day(day).unwrap_or(from)
}

/// `count` fictional patients, identical for the same `seed`. Each has 2..=6 documents of
/// distinct kinds; the first patient's first document is always a coronary angiography report
/// PDF (the demo's seed story). HKIDs are unique within one call.
pub fn patients(seed: u64, count: usize) -> Vec<SyntheticPatient> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = HashSet::new();
    (0..count)
        .map(|index| {
            let hkid = loop {
                let candidate = hkid::random_hkid(&mut rng);
                if seen.insert(candidate.clone()) {
                    break candidate;
                }
            };
            let mut prng = ChaCha8Rng::seed_from_u64(rng.next_u64());
            patient(index, hkid, &mut prng)
        })
        .collect()
}

fn patient(index: usize, hkid: String, rng: &mut ChaCha8Rng) -> SyntheticPatient {
    let sex = match rng.gen_range(0..100) {
        0..=48 => Sex::Female,
        49..=97 => Sex::Male,
        _ => Sex::Other,
    };
    let mut patient = SyntheticPatient {
        hkid,
        name: random_name(rng),
        // The seed-story patient is of an age where coronary disease is expected.
        birth_date: if index == 0 {
            random_date(rng, date!(1948 - 01 - 01), date!(1972 - 12 - 31))
        } else {
            random_date(rng, date!(1938 - 01 - 01), date!(2002 - 12 - 31))
        },
        sex,
        documents: Vec::new(),
    };
    let count = rng.gen_range(2..=6);
    let kinds: Vec<documents::Kind> = if index == 0 {
        let others: Vec<_> = documents::Kind::ALL
            .iter()
            .copied()
            .filter(|k| *k != documents::Kind::Angiography)
            .collect();
        std::iter::once(documents::Kind::Angiography)
            .chain(others.choose_multiple(rng, count - 1).copied())
            .collect()
    } else {
        documents::Kind::ALL
            .choose_multiple(rng, count)
            .copied()
            .collect()
    };
    for kind in kinds {
        let mut drng = ChaCha8Rng::seed_from_u64(rng.next_u64());
        let document = documents::generate(kind, &patient, &mut drng);
        patient.documents.push(document);
    }
    patient
}

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_model::identifiers::PatientIdentifier;

    #[test]
    fn deterministic() {
        let a = patients(42, 8);
        assert_eq!(a, patients(42, 8));
        assert_ne!(a, patients(43, 8));
        // A longer run starts with the same patients.
        assert_eq!(patients(42, 12)[..8], a[..]);
    }

    #[test]
    fn hkids_valid_and_unique() {
        let ps = patients(1, 200);
        let mut seen = HashSet::new();
        for p in &ps {
            PatientIdentifier::hkid(&p.hkid).unwrap_or_else(|e| panic!("{}: {e}", p.hkid));
            assert!(seen.insert(p.hkid.clone()), "duplicate {}", p.hkid);
            let b = p.hkid.as_bytes();
            assert_eq!(b[b.len() - 3], b'(');
            assert_eq!(b[b.len() - 1], b')');
        }
    }

    #[test]
    fn first_document_is_the_angiography_pdf() {
        for seed in 0..20 {
            let ps = patients(seed, 1);
            let d = &ps[0].documents[0];
            assert_eq!(d.title, "Coronary angiography report");
            assert_eq!(d.category, "imaging-report");
            assert_eq!(d.media_type, "application/pdf");
            assert_eq!(
                d.file_name,
                format!("angiography-report-{}.pdf", d.date_of_service)
            );
            assert!(d.bytes.starts_with(b"%PDF-"));
        }
    }

    #[test]
    fn documents_well_formed() {
        let ps = patients(9, 40);
        let mut categories = HashSet::new();
        for p in &ps {
            assert!((2..=6).contains(&p.documents.len()));
            let names: HashSet<_> = p.documents.iter().map(|d| &d.file_name).collect();
            assert_eq!(names.len(), p.documents.len(), "file names unique");
            assert!(p.name.split(' ').count() == 3);
            for d in &p.documents {
                assert!(CATEGORIES.contains(&d.category.as_str()));
                categories.insert(d.category.clone());
                assert!(d.date_of_service > p.birth_date);
                assert!(d.file_name.contains(&d.date_of_service.to_string()));
                match d.media_type.as_str() {
                    "application/pdf" => {
                        assert!(d.file_name.ends_with(".pdf"));
                        assert!(d.bytes.starts_with(b"%PDF-"));
                        assert!(d.bytes.trim_ascii_end().ends_with(b"%%EOF"));
                    }
                    "image/png" => {
                        assert!(d.file_name.ends_with(".png"));
                        assert!(d.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
                    }
                    "text/csv" => {
                        assert!(d.file_name.ends_with(".csv"));
                        assert!(d.bytes.starts_with(b"loinc,test,"));
                    }
                    "application/hl7-v2" => {
                        assert!(d.file_name.ends_with(".hl7"));
                        assert!(d.bytes.starts_with(b"MSH|^~\\&|"));
                    }
                    other => panic!("unexpected media type {other}"),
                }
            }
        }
        assert_eq!(categories.len(), CATEGORIES.len(), "all kinds appear");
    }

    #[test]
    fn sex_serde_kebab_case() {
        assert_eq!(serde_json::to_string(&Sex::Female).unwrap(), "\"female\"");
        assert_eq!(serde_json::to_string(&Sex::Other).unwrap(), "\"other\"");
        let male: Sex = serde_json::from_str("\"male\"").unwrap();
        assert_eq!(male, Sex::Male);
    }
}
