//! Document classes and their LOINC codes, following IHE XDS conventions: `classCode` from the
//! FHIR R4 `document-classcodes` value set (LOINC), `typeCode` a LOINC document type, and for
//! imaging the DICOM modality as XDS-I.b's `eventCodeList` (DCM code system).

use serde::{Deserialize, Serialize};

/// What kind of clinical document this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentClass {
    LabReport,
    /// Images themselves (a DICOM study, series or instance).
    DiagnosticImaging,
    ImagingReport,
    Ecg,
    DischargeSummary,
    ReferralLetter,
    ConsultationNote,
    Medication,
    OperativeNote,
    PathologyReport,
    ImmunisationRecord,
    ClinicalPhoto,
    Other,
}

/// A coded concept: system URI, code and display text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    pub system: String,
    pub code: String,
    pub display: String,
}

pub const LOINC: &str = "http://loinc.org";
pub const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

fn loinc(code: &str, display: &str) -> Code {
    Code {
        system: LOINC.into(),
        code: code.into(),
        display: display.into(),
    }
}

impl DocumentClass {
    pub const ALL: [DocumentClass; 13] = [
        Self::LabReport,
        Self::DiagnosticImaging,
        Self::ImagingReport,
        Self::Ecg,
        Self::DischargeSummary,
        Self::ReferralLetter,
        Self::ConsultationNote,
        Self::Medication,
        Self::OperativeNote,
        Self::PathologyReport,
        Self::ImmunisationRecord,
        Self::ClinicalPhoto,
        Self::Other,
    ];

    /// The manifest category, e.g. `lab-report` (the same spelling as the serde form).
    pub fn category(self) -> &'static str {
        match self {
            Self::LabReport => "lab-report",
            Self::DiagnosticImaging => "diagnostic-imaging",
            Self::ImagingReport => "imaging-report",
            Self::Ecg => "ecg",
            Self::DischargeSummary => "discharge-summary",
            Self::ReferralLetter => "referral-letter",
            Self::ConsultationNote => "consultation-note",
            Self::Medication => "medication",
            Self::OperativeNote => "operative-note",
            Self::PathologyReport => "pathology-report",
            Self::ImmunisationRecord => "immunisation-record",
            Self::ClinicalPhoto => "clinical-photo",
            Self::Other => "other",
        }
    }

    /// Parse a category as written by [`Self::category`].
    pub fn from_category(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.category() == s)
    }

    /// A human title, used when the user gives none.
    pub fn title(self) -> &'static str {
        match self {
            Self::LabReport => "Laboratory report",
            Self::DiagnosticImaging => "Diagnostic imaging",
            Self::ImagingReport => "Imaging report",
            Self::Ecg => "ECG",
            Self::DischargeSummary => "Discharge summary",
            Self::ReferralLetter => "Referral letter",
            Self::ConsultationNote => "Consultation note",
            Self::Medication => "Prescription / medication list",
            Self::OperativeNote => "Operative note",
            Self::PathologyReport => "Pathology report",
            Self::ImmunisationRecord => "Immunisation record",
            Self::ClinicalPhoto => "Clinical photograph",
            Self::Other => "Document",
        }
    }

    /// XDS `classCode` (LOINC, from the `document-classcodes` value set).
    pub fn class_code(self) -> Code {
        match self {
            Self::LabReport => loinc("26436-6", "Laboratory Studies (set)"),
            Self::DiagnosticImaging | Self::ImagingReport => {
                loinc("18726-0", "Radiology studies (set)")
            }
            Self::Ecg => loinc("26441-6", "Cardiology studies (set)"),
            Self::DischargeSummary => loinc("18842-5", "Discharge summary"),
            Self::ReferralLetter => loinc("57133-1", "Referral note"),
            Self::ConsultationNote => loinc("11488-4", "Consult Note"),
            Self::Medication => loinc("56445-0", "Medication Summary Document"),
            Self::OperativeNote => loinc("11504-8", "Surgical operation note"),
            Self::PathologyReport => loinc("27898-6", "Pathology studies (set)"),
            Self::ImmunisationRecord => loinc("11369-6", "History of Immunization"),
            Self::ClinicalPhoto | Self::Other => loinc("28634-4", "Miscellaneous studies (set)"),
        }
    }

    /// XDS `typeCode` (a LOINC document type), when one fits.
    pub fn type_code(self) -> Option<Code> {
        Some(match self {
            Self::LabReport => loinc("11502-2", "Laboratory report"),
            Self::DiagnosticImaging | Self::ImagingReport => {
                loinc("18748-4", "Diagnostic imaging study")
            }
            Self::Ecg => loinc("11524-6", "EKG study"),
            Self::DischargeSummary => loinc("18842-5", "Discharge summary"),
            Self::ReferralLetter => loinc("57133-1", "Referral note"),
            Self::ConsultationNote => loinc("11488-4", "Consult note"),
            Self::Medication => loinc("57833-6", "Prescription for medication"),
            Self::OperativeNote => loinc("11504-8", "Surgical operation note"),
            Self::PathologyReport => loinc("11526-1", "Pathology study"),
            Self::ImmunisationRecord => loinc("11369-6", "History of Immunization"),
            Self::ClinicalPhoto => loinc("72170-4", "Photographic image"),
            Self::Other => return None,
        })
    }
}

/// Imaging modality (DICOM (0008,0060) terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Modality {
    CT,
    MR,
    /// X-ray angiography.
    XA,
    US,
    /// Computed radiography.
    CR,
    /// Digital radiography.
    DX,
    NM,
    /// Mammography.
    MG,
    PT,
    /// Structured report.
    SR,
    ECG,
    /// Any other DICOM modality (secondary capture, radiotherapy objects, segmentation...).
    Other,
}

impl Modality {
    pub fn from_dicom(term: &str) -> Self {
        match term.trim().to_ascii_uppercase().as_str() {
            "CT" => Self::CT,
            "MR" => Self::MR,
            "XA" | "RF" => Self::XA,
            "US" => Self::US,
            "CR" => Self::CR,
            "DX" => Self::DX,
            "NM" => Self::NM,
            "MG" => Self::MG,
            "PT" => Self::PT,
            "SR" => Self::SR,
            "ECG" | "HD" => Self::ECG,
            _ => Self::Other,
        }
    }

    /// The DCM code for XDS-I.b's event code list.
    pub fn code(self) -> Code {
        let (code, display) = match self {
            Self::CT => ("CT", "Computed Tomography"),
            Self::MR => ("MR", "Magnetic Resonance"),
            Self::XA => ("XA", "X-Ray Angiography"),
            Self::US => ("US", "Ultrasound"),
            Self::CR => ("CR", "Computed Radiography"),
            Self::DX => ("DX", "Digital Radiography"),
            Self::NM => ("NM", "Nuclear Medicine"),
            Self::MG => ("MG", "Mammography"),
            Self::PT => ("PT", "Positron emission tomography"),
            Self::SR => ("SR", "SR Document"),
            Self::ECG => ("ECG", "Electrocardiography"),
            Self::Other => ("OT", "Other"),
        };
        Code {
            system: DCM.into(),
            code: code.into(),
            display: display.into(),
        }
    }
}
