//! Format detection, document classification (LOINC document classes, imaging modality) and
//! extraction (patient identifiers, dates, author, lab observations normalised to LOINC/UCUM,
//! critical values) from a document's bytes; no I/O, builds for wasm.
//!
//! The data flow is one file per step: [`detect`] decides the format from content (never a file
//! name), then one reader per family (`dicom`, `hl7`, `fhir`, `text` for PDF/DOCX/plain text,
//! `tabular` for CSV exports, `image`) fills a [`Classification`]; `labs` normalises
//! observations and `critical` marks the ones that make an upload urgent.
//!
//! ```
//! use medshare_classify::{classify, DocumentClass, Format};
//! let oru = b"MSH|^~\\&|LAB|HOSP|||20260314093000||ORU^R01|1|P|2.5\r\
//! PID|1||A123456(3)^^^HKID||CHAN^TAI MAN||19610702|M\r\
//! OBX|1|NM|2823-3^Potassium^LN||6.8|mmol/L|3.5-5.1|HH|||F|||20260314090000\r";
//! let c = classify(oru);
//! assert_eq!(c.format, Format::Hl7v2);
//! assert_eq!(c.class, DocumentClass::LabReport);
//! assert_eq!(c.patient.identifiers[0].value, "HKID:A1234563");
//! assert!(c.critical);
//! ```
#![forbid(unsafe_code)]

pub mod class;
pub mod critical;
pub mod detect;
mod dicom;
mod fhir;
mod hl7;
mod image;
pub mod labs;
pub mod ngram;
pub mod ocr;
mod pdf_load;
mod rules;
pub mod scan;
mod tabular;
mod text;

pub use class::{Code, DocumentClass, Modality};
pub use critical::{CriticalRules, Threshold};
pub use detect::{Format, detect};
pub use labs::{Observation, Value};
pub use ocr::{OcrText, classify_ocr, needs_ocr};
pub use pdf_load::{MAX_INFLATED as MAX_PDF_INFLATED, PdfError};

use medshare_model::identifiers::PatientIdentifier;
use serde::{Deserialize, Serialize};

/// Everything classification learned about one document. Serialised into the sealed manifest;
/// it is health information and must never be logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub format: Format,
    /// IANA media type of the detected format.
    pub media_type: String,
    pub class: DocumentClass,
    /// XDS classCode (LOINC).
    pub class_code: Code,
    /// XDS typeCode (LOINC), when one fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<Code>,
    /// Imaging modality (DICOM), for images and imaging reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    /// 0.0..=1.0: how sure the deciding rule is.
    pub confidence: f32,
    /// The confidence is at or below [`LOW_CONFIDENCE`]: the app should ask the doctor to
    /// confirm the class (and, for OCR, the values) before relying on it.
    #[serde(default)]
    pub low_confidence: bool,
    /// Which fields or words decided the class, strongest first.
    pub evidence: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub patient: Patient,
    /// ISO 8601 date of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// DICOM header facts, for DICOM input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imaging: Option<Imaging>,
    /// Lab observations, normalised (see [`labs`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<Observation>,
    /// True when any observation is critical: the upload should be flagged urgent.
    pub critical: bool,
    /// What could not be read and why (fixed codes and positions, never content).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// One reason for the class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Where: e.g. `DICOM (0008,0060) Modality`, `MSH-9`, `text`, `FHIR resourceType`.
    pub source: String,
    /// What was found there: the value or the words that matched.
    pub found: String,
}

/// Who the document is about, as far as the document says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<FoundIdentifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ISO 8601 date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
}

/// A patient identifier named in the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundIdentifier {
    pub kind: IdentifierKind,
    /// For HKIDs the validated normalised form (`HKID:A1234563`); otherwise as written.
    pub value: String,
    /// Where it was found, e.g. `PID-3`, `DICOM (0010,0020) PatientID`, `text`.
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierKind {
    /// A Hong Kong Identity Card number whose check digit is valid.
    Hkid,
    /// Any other patient identifier (record number, national id of unknown scheme).
    Other,
}

impl FoundIdentifier {
    /// The identifier as [`PatientIdentifier`], when it is an HKID.
    pub fn as_patient_identifier(&self) -> Option<PatientIdentifier> {
        match self.kind {
            IdentifierKind::Hkid => self.value.parse().ok(),
            IdentifierKind::Other => None,
        }
    }
}

/// DICOM header facts (no pixel data is ever read).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imaging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_part: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sop_class_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study_instance_uid: Option<String>,
}

/// Something that could not be read. Carries a fixed code and a position, never content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub code: SkipCode,
    /// Where: segment/line/row number (1-based) or byte offset, depending on the format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipCode {
    /// HL7: a line that is not a segment (no 3-character name and field separator).
    Hl7NotASegment,
    /// HL7: a segment before the first MSH (other than FHS/BHS).
    Hl7OutsideMessage,
    /// HL7: MSH-2 encoding characters were unusable; the standard ones were assumed.
    Hl7BadEncodingCharacters,
    /// HL7: the segment could not be parsed.
    Hl7UnparsableSegment,
    /// HL7: an OBX without a usable value.
    Hl7ObservationWithoutValue,
    /// HL7: an unknown escape sequence was kept as written.
    Hl7BadEscape,
    /// DICOM: the header could not be parsed.
    DicomHeader,
    /// PDF: text could not be extracted.
    PdfText,
    /// DOCX: the document part could not be read.
    DocxText,
    /// FHIR: the resource could not be parsed.
    FhirParse,
    /// FHIR: a Bundle entry without a resource, or of a type not read.
    FhirEntry,
    /// CSV: a row that could not be read as an observation.
    CsvRow,
    /// Image: EXIF metadata could not be read.
    ImageExif,
    /// The input was cut short before classification (the caller read a prefix).
    Truncated,
    /// OCR: a lab result line whose value, unit, range or flag was read with too little
    /// confidence to be used; nothing was extracted from it.
    OcrLowConfidence,
}

/// A classification at or below this confidence is marked [`Classification::low_confidence`].
/// Every rule keeps weak or contested evidence at or below it, and the evaluation tests check
/// that every wrong answer on the labelled sets is marked.
pub const LOW_CONFIDENCE: f32 = 0.5;

/// Options for [`classify_with`].
#[derive(Clone, Debug)]
pub struct Options {
    pub critical: CriticalRules,
    /// An n-gram model ([`ngram`]) read beside the rules on free text with Chinese in it: it
    /// decides where the rules' answer is low confidence and marks low confidence where it
    /// disagrees with them (it never raises confidence). The shipped model ([`ngram::builtin`])
    /// by default; `None` is the rules alone.
    pub text_model: Option<std::sync::Arc<ngram::Model>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            critical: CriticalRules::default(),
            text_model: Some(ngram::builtin()),
        }
    }
}

/// Classify a document from its bytes with the default critical-value rules.
pub fn classify(bytes: &[u8]) -> Classification {
    classify_with(bytes, &Options::default())
}

/// Classify a document from its bytes.
pub fn classify_with(bytes: &[u8], options: &Options) -> Classification {
    let format = detect(bytes);
    let mut c = Classification::new(format);
    match format {
        Format::Dicom | Format::DicomRaw => dicom::read(bytes, format, &mut c),
        Format::Hl7v2 => hl7::read(bytes, &mut c),
        Format::FhirJson => fhir::read_json(bytes, &mut c),
        Format::FhirXml => fhir::read_xml(bytes, &mut c),
        Format::Csv => tabular::read(bytes, &mut c),
        Format::Pdf => text::read_pdf(bytes, &mut c, options.text_model.as_deref()),
        Format::Docx => text::read_docx(bytes, &mut c, options.text_model.as_deref()),
        Format::Text => text::read_text(bytes, &mut c, options.text_model.as_deref()),
        Format::Jpeg | Format::Png | Format::Heic | Format::Tiff => image::read(bytes, &mut c),
        Format::Unknown => {}
    }
    c.finish(options);
    c
}

impl Classification {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            media_type: format.media_type().into(),
            class: DocumentClass::Other,
            class_code: DocumentClass::Other.class_code(),
            type_code: None,
            modality: None,
            confidence: 0.0,
            low_confidence: true,
            evidence: Vec::new(),
            title: None,
            patient: Patient::default(),
            date_of_service: None,
            author: None,
            institution: None,
            imaging: None,
            observations: Vec::new(),
            critical: false,
            skipped: Vec::new(),
        }
    }

    /// Set the class with its confidence and the evidence that decided it.
    pub(crate) fn decide(
        &mut self,
        class: DocumentClass,
        confidence: f32,
        evidence: Vec<Evidence>,
    ) {
        self.class = class;
        self.confidence = confidence.clamp(0.0, 1.0);
        self.evidence = evidence;
    }

    pub(crate) fn skip(&mut self, code: SkipCode, at: Option<usize>) {
        // Bounded: a hostile file must not grow the manifest without limit.
        if self.skipped.len() < 200 {
            self.skipped.push(Skipped { code, at });
        }
    }

    /// Add an identifier once; HKIDs are validated with `medshare_model::identifiers`.
    pub(crate) fn add_identifier(&mut self, raw: &str, source: &str) {
        let raw = raw.trim();
        if raw.is_empty() {
            return;
        }
        let found = match PatientIdentifier::hkid(raw) {
            Ok(id) => FoundIdentifier {
                kind: IdentifierKind::Hkid,
                value: id.normalized(),
                source: source.into(),
            },
            Err(_) => FoundIdentifier {
                kind: IdentifierKind::Other,
                value: raw.into(),
                source: source.into(),
            },
        };
        if !self
            .patient
            .identifiers
            .iter()
            .any(|i| i.value == found.value)
        {
            self.patient.identifiers.push(found);
        }
    }

    pub(crate) fn finish(&mut self, options: &Options) {
        self.low_confidence = self.confidence <= LOW_CONFIDENCE;
        self.class_code = self.class.class_code();
        self.type_code = self.class.type_code();
        for o in &mut self.observations {
            labs::normalise(o);
            critical::mark(o, &options.critical);
        }
        self.critical = self.observations.iter().any(|o| o.critical.is_some());
        if self.date_of_service.is_none() {
            self.date_of_service = self
                .observations
                .iter()
                .filter_map(|o| o.time.as_deref())
                .map(|t| t.get(..10).unwrap_or(t).to_string())
                .min();
        }
    }
}

/// `YYYYMMDD...` (HL7, DICOM) as `YYYY-MM-DD`, when it is a real date.
pub(crate) fn compact_date(s: &str) -> Option<String> {
    let d = s.trim().get(..8)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let iso = format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]);
    valid_iso_date(&iso).then_some(iso)
}

/// `YYYYMMDD[HHMM[SS]][+ZZZZ]` as RFC 3339-ish `YYYY-MM-DDTHH:MM:SS[+ZZ:ZZ]` (or the date alone).
pub(crate) fn compact_datetime(s: &str) -> Option<String> {
    let s = s.trim();
    let date = compact_date(s)?;
    let rest = &s[8..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() < 4 {
        return Some(date);
    }
    let sec = digits.get(4..6).unwrap_or("00");
    let mut out = format!("{date}T{}:{}:{sec}", &digits[..2], &digits[2..4]);
    let tz = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    if tz.len() == 5 && (tz.starts_with('+') || tz.starts_with('-')) {
        out.push_str(&format!("{}:{}", &tz[..3], &tz[3..5]));
    }
    Some(out)
}

pub(crate) fn valid_iso_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).is_ok()
}
