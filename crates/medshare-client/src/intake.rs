//! The intake step before an upload, shared by every client (the CLI, the institution gateway,
//! the browser): classify a document's bytes on this machine, check that it names the patient
//! it is filed for, and build the metadata sealed into its manifest (category, title, date of
//! service, urgency, the classification itself). Pure functions over bytes: no file or network
//! I/O, so it builds for wasm32 as well.
//!
//! ```
//! use medshare_client::intake::Intake;
//! let oru = b"MSH|^~\\&|LAB|HOSP|||20260314093000||ORU^R01|1|P|2.5\r\
//! PID|1||A123456(3)^^^HKID||CHAN^TAI MAN||19610702|M\r\
//! OBX|1|NM|2823-3^Potassium^LN||6.8|mmol/L|3.5-5.1|HH|||F|||20260314090000\r";
//! let intake = Intake::from_bytes(oru, oru.len() as u64, "potassium.hl7");
//! intake.check_patient(&"A123456(3)".parse().unwrap(), false).unwrap();
//! let meta = intake.meta().unwrap();
//! assert_eq!(meta.category, "lab-report");
//! assert_eq!(meta.date_of_service.as_deref(), Some("2026-03-14"));
//! assert!(meta.urgent); // a critical potassium
//! // Filed under someone else's HKID, it stops here.
//! assert!(intake.check_patient(&"B123456(6)".parse().unwrap(), false).is_err());
//! ```

use crate::records::DocumentMeta;
use medshare_classify::{Classification, SkipCode, Skipped};
use medshare_model::identifiers::PatientIdentifier;

/// How much of a document is read for classification. DICOM headers, HL7, FHIR, CSV and
/// ordinary PDFs fit many times over; a larger document is classified from this prefix and its
/// classification says so ([`SkipCode::Truncated`]).
pub const MAX_CLASSIFY_BYTES: u64 = 64 * 1024 * 1024;

/// Longest title kept in a manifest (characters).
const MAX_TITLE: usize = 300;
/// Longest category (characters).
const MAX_CATEGORY: usize = 64;

/// Why a document cannot be filed as asked. Carries no document content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// The document names a patient identifier that contradicts the one it is filed under.
    #[error(
        "the document names a different patient identifier than the one it is filed under: \
         check that this is the right patient's document"
    )]
    IdentifierMismatch,
    /// A date of service that is not an ISO 8601 calendar date.
    #[error("the date of service must be a date written YYYY-MM-DD")]
    BadDate,
    /// A category that is empty, too long or not made of letters, digits and dashes.
    #[error("the category must be 1-64 letters, digits or dashes, e.g. lab-report")]
    BadCategory,
    /// A title that is empty or too long after trimming.
    #[error("the title must be 1-300 characters")]
    BadTitle,
}

/// Classify a document from (a prefix of) its bytes. `total_len` is the document's full length:
/// when it is longer than `prefix`, the classification records that it was cut short.
pub fn classify_prefix(prefix: &[u8], total_len: u64) -> Classification {
    let mut c = medshare_classify::classify(prefix);
    if total_len > prefix.len() as u64 {
        c.skipped.push(Skipped {
            code: SkipCode::Truncated,
            at: Some(prefix.len()),
        });
    }
    c
}

/// Does the document name a patient identifier that contradicts `patient`? Only identifiers of
/// the same scheme can be compared (an HKID with an HKID); a document naming none never does.
pub fn identifier_mismatch(c: &Classification, patient: &PatientIdentifier) -> bool {
    let PatientIdentifier::Hkid(_) = patient else {
        return false;
    };
    let want = patient.normalized();
    let named: Vec<String> = c
        .patient
        .identifiers
        .iter()
        .filter_map(|i| i.as_patient_identifier())
        .map(|i| i.normalized())
        .collect();
    !named.is_empty() && !named.contains(&want)
}

/// One document on its way to an upload: its classification and what the uploader chose to
/// override. Defaults come from the classification; an override replaces one field only.
#[derive(Clone, Debug)]
pub struct Intake {
    classification: Classification,
    file_name: String,
    title: Option<String>,
    category: Option<String>,
    date_of_service: Option<String>,
    urgent: Option<bool>,
}

impl Intake {
    /// A document already classified.
    pub fn new(classification: Classification, file_name: impl Into<String>) -> Self {
        Self {
            classification,
            file_name: file_name.into(),
            title: None,
            category: None,
            date_of_service: None,
            urgent: None,
        }
    }

    /// Classify (a prefix of at most [`MAX_CLASSIFY_BYTES`] of) a document; see
    /// [`classify_prefix`].
    pub fn from_bytes(prefix: &[u8], total_len: u64, file_name: impl Into<String>) -> Self {
        Self::new(classify_prefix(prefix, total_len), file_name)
    }

    /// Replace the title (default: the one classification found, else the file name).
    pub fn title(mut self, title: Option<String>) -> Self {
        if title.is_some() {
            self.title = title;
        }
        self
    }

    /// Replace the category (default: the classified document class, e.g. `lab-report`).
    pub fn category(mut self, category: Option<String>) -> Self {
        if category.is_some() {
            self.category = category;
        }
        self
    }

    /// Replace the date of service, `YYYY-MM-DD` (default: the one classification found).
    pub fn date_of_service(mut self, date: Option<String>) -> Self {
        if date.is_some() {
            self.date_of_service = date;
        }
        self
    }

    /// Decide urgency (default: urgent exactly when classification found critical values).
    pub fn urgent(mut self, urgent: Option<bool>) -> Self {
        if urgent.is_some() {
            self.urgent = urgent;
        }
        self
    }

    /// What classification found. Health information: never log it.
    pub fn classification(&self) -> &Classification {
        &self.classification
    }

    /// The file name the manifest will carry.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Whether classification found critical values.
    pub fn is_critical(&self) -> bool {
        self.classification.critical
    }

    /// Whether the manifest will flag the document urgent.
    pub fn is_urgent(&self) -> bool {
        self.urgent.unwrap_or(self.classification.critical)
    }

    /// Refuse a document that names another patient than `patient`, unless the uploader looked
    /// and accepts it (`accept_mismatch`).
    pub fn check_patient(
        &self,
        patient: &PatientIdentifier,
        accept_mismatch: bool,
    ) -> Result<(), IntakeError> {
        if identifier_mismatch(&self.classification, patient) && !accept_mismatch {
            return Err(IntakeError::IdentifierMismatch);
        }
        Ok(())
    }

    /// The metadata sealed into the manifest, overrides checked.
    pub fn meta(&self) -> Result<DocumentMeta, IntakeError> {
        let c = &self.classification;
        let title = self
            .title
            .as_deref()
            .or(c.title.as_deref())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(&self.file_name)
            .trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(IntakeError::BadTitle);
        }
        let category = match &self.category {
            Some(given) => {
                let given = given.trim().to_ascii_lowercase();
                let ok = (1..=MAX_CATEGORY).contains(&given.len())
                    && given
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if !ok {
                    return Err(IntakeError::BadCategory);
                }
                given
            }
            None => c.class.category().to_string(),
        };
        let date_of_service = match &self.date_of_service {
            Some(d) => {
                let d = d.trim();
                let fmt = time::macros::format_description!("[year]-[month]-[day]");
                time::Date::parse(d, &fmt).map_err(|_| IntakeError::BadDate)?;
                Some(d.to_string())
            }
            None => c.date_of_service.clone(),
        };
        Ok(DocumentMeta {
            title: title.to_string(),
            file_name: self.file_name.clone(),
            media_type: c.media_type.clone(),
            category,
            date_of_service,
            // A classification always serialises (plain data); `None` only if it somehow did not.
            classification: serde_json::to_value(c).ok(),
            urgent: self.is_urgent(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oru_for(p: &medshare_synth::SyntheticPatient) -> Vec<u8> {
        medshare_synth::oru_r01(p, time::macros::date!(2026 - 03 - 14), 1)
    }

    #[test]
    fn mismatch_only_between_comparable_identifiers() {
        let p = &medshare_synth::patients(5, 1)[0];
        let c = medshare_classify::classify(&oru_for(p));
        let same: PatientIdentifier = p.hkid.parse().unwrap();
        assert!(!identifier_mismatch(&c, &same));
        let other: PatientIdentifier = if p.hkid.starts_with("A123456") {
            "B123456(6)".parse().unwrap()
        } else {
            "A123456(3)".parse().unwrap()
        };
        assert!(identifier_mismatch(&c, &other));
        // A record number cannot be compared with an HKID.
        let mrn: PatientIdentifier = "MRN:QMH:000123".parse().unwrap();
        assert!(!identifier_mismatch(&c, &mrn));
        // A document naming no patient never blocks.
        let photo = medshare_classify::classify(&medshare_synth::png_image(32, 32, 1));
        assert!(!identifier_mismatch(&photo, &other));

        let intake = Intake::new(c, "lab.hl7");
        assert_eq!(
            intake.check_patient(&other, false),
            Err(IntakeError::IdentifierMismatch)
        );
        assert!(intake.check_patient(&other, true).is_ok());
        assert!(intake.check_patient(&same, false).is_ok());
    }

    #[test]
    fn defaults_come_from_classification_and_overrides_replace_one_field() {
        let p = &medshare_synth::patients(5, 1)[0];
        let bytes = oru_for(p);
        let intake = Intake::from_bytes(&bytes, bytes.len() as u64, "lab.hl7");
        let c = intake.classification().clone();
        let m = intake.meta().unwrap();
        assert_eq!(m.category, c.class.category());
        assert_eq!(m.date_of_service, c.date_of_service);
        assert_eq!(m.media_type, c.media_type);
        assert_eq!(m.file_name, "lab.hl7");
        assert_eq!(m.urgent, c.critical);
        assert_eq!(m.classification, Some(serde_json::to_value(&c).unwrap()));
        let title = c.title.clone().unwrap_or_else(|| "lab.hl7".into());
        assert_eq!(m.title, title);

        let m = intake
            .clone()
            .title(Some("  Renal panel ".into()))
            .category(Some("Discharge-Summary".into()))
            .date_of_service(Some("2026-01-02".into()))
            .urgent(Some(true))
            .meta()
            .unwrap();
        assert_eq!(m.title, "Renal panel");
        assert_eq!(m.category, "discharge-summary");
        assert_eq!(m.date_of_service.as_deref(), Some("2026-01-02"));
        assert!(m.urgent);
        // `None` keeps the default.
        let m = intake.clone().title(None).category(None).meta().unwrap();
        assert_eq!(m.title, title);
    }

    #[test]
    fn bad_overrides_are_refused() {
        let png = medshare_synth::png_image(8, 8, 1);
        let intake = Intake::from_bytes(&png, png.len() as u64, "photo.png");
        for bad in ["14/03/2026", "2026-02-30", ""] {
            assert_eq!(
                intake
                    .clone()
                    .date_of_service(Some(bad.into()))
                    .meta()
                    .unwrap_err(),
                IntakeError::BadDate
            );
        }
        for bad in ["", "lab report", "x".repeat(65).as_str(), "lab/../x"] {
            assert_eq!(
                intake
                    .clone()
                    .category(Some(bad.into()))
                    .meta()
                    .unwrap_err(),
                IntakeError::BadCategory
            );
        }
        assert_eq!(
            intake
                .clone()
                .title(Some("t".repeat(301)))
                .meta()
                .unwrap_err(),
            IntakeError::BadTitle
        );
        // A blank title falls back to the file name.
        assert_eq!(
            intake
                .clone()
                .title(Some("  ".into()))
                .meta()
                .unwrap()
                .title,
            "photo.png"
        );
    }

    #[test]
    fn a_prefix_is_marked_truncated() {
        let png = medshare_synth::png_image(8, 8, 1);
        let whole = classify_prefix(&png, png.len() as u64);
        assert!(!whole.skipped.iter().any(|s| s.code == SkipCode::Truncated));
        let cut = classify_prefix(&png, png.len() as u64 + 10);
        assert!(
            cut.skipped
                .iter()
                .any(|s| s.code == SkipCode::Truncated && s.at == Some(png.len()))
        );
    }
}
