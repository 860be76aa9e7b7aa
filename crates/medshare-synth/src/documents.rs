//! The fictional clinical documents attached to synthetic patients.

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use time::macros::date;
use time::{Date, Duration};

use crate::{
    INSTITUTIONS, Sex, SyntheticDocument, SyntheticPatient, lab_csv, oru_r01, pdf_report,
    png_image, random_date, random_name,
};

/// The first line of every synthetic PDF.
pub(crate) const BANNER: &str = "SYNTHETIC DEMO RECORD — NOT A REAL PATIENT";

const SERVICE_FROM: Date = date!(2024 - 01 - 01);
const SERVICE_TO: Date = date!(2026 - 03 - 31);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Angiography,
    ChestXray,
    LabCsv,
    LabHl7,
    WoundPhoto,
    Discharge,
    Referral,
    Ecg,
}

impl Kind {
    pub(crate) const ALL: [Kind; 8] = [
        Kind::Angiography,
        Kind::ChestXray,
        Kind::LabCsv,
        Kind::LabHl7,
        Kind::WoundPhoto,
        Kind::Discharge,
        Kind::Referral,
        Kind::Ecg,
    ];

    /// (file stem, title, category, media type, extension)
    fn meta(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            Kind::Angiography => (
                "angiography-report",
                "Coronary angiography report",
                "imaging-report",
                "application/pdf",
                "pdf",
            ),
            Kind::ChestXray => (
                "chest-xray-report",
                "Chest radiograph report",
                "imaging-report",
                "application/pdf",
                "pdf",
            ),
            Kind::LabCsv => (
                "lab-results",
                "Laboratory results export",
                "lab-report",
                "text/csv",
                "csv",
            ),
            Kind::LabHl7 => (
                "lab-results",
                "Laboratory results (HL7 ORU^R01)",
                "lab-report",
                "application/hl7-v2",
                "hl7",
            ),
            Kind::WoundPhoto => (
                "wound-photo",
                "Clinical photograph of wound",
                "clinical-photo",
                "image/png",
                "png",
            ),
            Kind::Discharge => (
                "discharge-summary",
                "Discharge summary",
                "discharge-summary",
                "application/pdf",
                "pdf",
            ),
            Kind::Referral => (
                "referral-letter",
                "Referral letter",
                "referral-letter",
                "application/pdf",
                "pdf",
            ),
            Kind::Ecg => (
                "ecg-report",
                "12-lead ECG report",
                "ecg",
                "application/pdf",
                "pdf",
            ),
        }
    }
}

pub(crate) fn generate(
    kind: Kind,
    patient: &SyntheticPatient,
    rng: &mut ChaCha8Rng,
) -> SyntheticDocument {
    let (stem, title, category, media_type, ext) = kind.meta();
    let date = random_date(rng, SERVICE_FROM, SERVICE_TO);
    let institution = *INSTITUTIONS.choose(rng).unwrap_or(&INSTITUTIONS[0]);
    let clinician = format!("Dr. {}", random_name(rng));
    let ctx = Context {
        patient,
        date,
        institution,
        clinician,
    };
    let bytes = match kind {
        Kind::Angiography => ctx.pdf(
            title,
            "Cardiac Catheterisation Laboratory",
            angiography(rng),
        ),
        Kind::ChestXray => ctx.pdf(title, "Department of Radiology", chest_xray(rng)),
        Kind::Discharge => ctx.pdf(title, "Department of Medicine", discharge(&ctx, rng)),
        Kind::Referral => ctx.pdf(title, "General Outpatient Clinic", referral(&ctx, rng)),
        Kind::Ecg => ctx.pdf(title, "Cardiac Investigation Unit", ecg(rng)),
        Kind::LabCsv => lab_csv(patient, date, rng.next_u64()),
        Kind::LabHl7 => oru_r01(patient, date, rng.next_u64()),
        Kind::WoundPhoto => {
            let w = rng.gen_range(96..=192);
            let h = rng.gen_range(72..=144);
            png_image(w, h, rng.next_u64())
        }
    };
    SyntheticDocument {
        file_name: format!("{stem}-{date}.{ext}"),
        media_type: media_type.to_owned(),
        title: title.to_owned(),
        category: category.to_owned(),
        date_of_service: date,
        bytes,
    }
}

struct Context<'a> {
    patient: &'a SyntheticPatient,
    date: Date,
    institution: &'static str,
    clinician: String,
}

impl Context<'_> {
    fn age(&self) -> i32 {
        let b = self.patient.birth_date;
        let mut age = self.date.year() - b.year();
        if (self.date.month() as u8, self.date.day()) < (b.month() as u8, b.day()) {
            age -= 1;
        }
        age
    }

    fn person(&self) -> &'static str {
        match self.patient.sex {
            Sex::Female => "woman",
            Sex::Male => "man",
            Sex::Other => "patient",
        }
    }

    fn pdf(&self, title: &str, department: &str, body: Vec<String>) -> Vec<u8> {
        let p = self.patient;
        let sex = match p.sex {
            Sex::Female => "Female",
            Sex::Male => "Male",
            Sex::Other => "Other",
        };
        let mut lines = vec![
            BANNER.to_owned(),
            format!(
                "{} (fictional institution) — {department}",
                self.institution
            ),
            String::new(),
            format!("Patient: {}    HKID: {}", p.name, p.hkid),
            format!(
                "Date of birth: {}    Sex: {sex}    Age: {}",
                p.birth_date,
                self.age()
            ),
            format!("Date of service: {}", self.date),
            String::new(),
        ];
        lines.extend(body);
        lines.extend([
            String::new(),
            format!("Signed: {} (fictional clinician), {}", self.clinician, self.institution),
            "Generated by medshare-synth for demonstration and testing only. Any resemblance to a real person is coincidental.".to_owned(),
        ]);
        pdf_report(title, &lines)
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, options: &[&'a str]) -> &'a str {
    options.choose(rng).copied().unwrap_or_default()
}

fn angiography(rng: &mut ChaCha8Rng) -> Vec<String> {
    let lad = [70, 75, 80, 90][rng.gen_range(0..4)];
    let indication = pick(
        rng,
        &[
            "Exertional chest pain with a positive treadmill exercise test.",
            "Non-ST-elevation myocardial infarction (troponin I rise).",
            "Crescendo angina despite medical therapy.",
        ],
    );
    let access = pick(rng, &["right radial", "left radial", "right femoral"]);
    let lcx = pick(
        rng,
        &[
            "Left circumflex: mild luminal irregularities, no significant stenosis.",
            "Left circumflex: 40% stenosis of the mid LCx, not haemodynamically significant.",
            "Left circumflex: non-dominant vessel, unobstructed.",
        ],
    );
    let rca = pick(
        rng,
        &[
            "Right coronary artery: dominant, unobstructed.",
            "Right coronary artery: dominant, 30% stenosis in the mid segment.",
        ],
    );
    let lvef = rng.gen_range(40..=65);
    let contrast = rng.gen_range(80..=180);
    let fluoro = f64::from(rng.gen_range(30..=150)) / 10.0;
    let plan = if lad >= 80 {
        "Proceed to percutaneous coronary intervention (PCI) to the proximal LAD; dual antiplatelet therapy loaded."
    } else {
        "Discuss at heart team meeting; consider FFR assessment of the proximal LAD lesion. Continue optimal medical therapy."
    };
    vec![
        format!("Procedure: Selective coronary angiography via {access} artery, 6F sheath."),
        format!("Indication: {indication}"),
        String::new(),
        "Findings:".to_owned(),
        "  Left main stem: normal calibre, no significant disease.".to_owned(),
        format!(
            "  Left anterior descending: {lad}% stenosis of the proximal LAD; TIMI 3 flow distally."
        ),
        format!("  {lcx}"),
        format!("  {rca}"),
        format!("  Left ventriculography: LVEF estimated at {lvef}%."),
        String::new(),
        format!(
            "Contrast: iohexol {contrast} mL. Fluoroscopy time {fluoro:.1} min. No complications."
        ),
        String::new(),
        format!(
            "Conclusion: Significant single-vessel coronary artery disease ({lad}% proximal LAD stenosis)."
        ),
        format!("Plan: {plan}"),
    ]
}

fn chest_xray(rng: &mut ChaCha8Rng) -> Vec<String> {
    let (findings, impression) = match rng.gen_range(0..3) {
        0 => (
            "Heart size is normal. Lungs are clear. No pleural effusion or pneumothorax. Bony thorax intact.",
            "No acute cardiopulmonary abnormality.",
        ),
        1 => (
            "Patchy consolidation in the right lower zone with air bronchograms. Heart size normal. Small right costophrenic angle blunting.",
            "Right lower lobe pneumonia with small parapneumonic effusion. Suggest follow-up film in 6 weeks.",
        ),
        _ => (
            "Cardiothoracic ratio 0.58. Upper lobe venous diversion and bilateral small pleural effusions. Kerley B lines at both bases.",
            "Cardiomegaly with features of pulmonary venous congestion, in keeping with heart failure.",
        ),
    };
    let view = pick(rng, &["PA erect", "AP sitting"]);
    vec![
        format!("Examination: Chest radiograph, {view}."),
        "Clinical details: Shortness of breath; please assess.".to_owned(),
        String::new(),
        format!("Findings: {findings}"),
        String::new(),
        format!("Impression: {impression}"),
    ]
}

struct Admission {
    diagnosis: &'static str,
    course: &'static [&'static str],
    medications: &'static [&'static str],
    follow_up: &'static str,
}

const ADMISSIONS: [Admission; 4] = [
    Admission {
        diagnosis: "Non-ST-elevation myocardial infarction",
        course: &[
            "Presented with 2 hours of central chest pain. Troponin I rose from 48 to 1250 ng/L.",
            "Coronary angiography showed significant proximal LAD stenosis; PCI with one drug-eluting stent.",
            "Uneventful recovery; mobilised on day 2; echocardiogram LVEF 50%.",
        ],
        medications: &[
            "Aspirin 80 mg daily",
            "Ticagrelor 90 mg twice daily (12 months)",
            "Atorvastatin 40 mg nocte",
            "Bisoprolol 2.5 mg daily",
            "Ramipril 2.5 mg daily",
        ],
        follow_up: "Cardiology clinic in 6 weeks; cardiac rehabilitation referral made.",
    },
    Admission {
        diagnosis: "Community-acquired pneumonia",
        course: &[
            "Admitted with fever, productive cough and right lower zone consolidation on chest radiograph.",
            "Treated with intravenous amoxicillin-clavulanate, stepped down to oral on day 3.",
            "Afebrile for 48 hours before discharge; oxygen saturation 97% on room air.",
        ],
        medications: &["Amoxicillin-clavulanate 625 mg three times daily to complete 7 days"],
        follow_up: "General outpatient clinic in 2 weeks; repeat chest radiograph in 6 weeks.",
    },
    Admission {
        diagnosis: "Cellulitis of the left lower limb",
        course: &[
            "Spreading erythema of the left shin with a small traumatic wound; no collection on ultrasound.",
            "Intravenous cloxacillin for 3 days with limb elevation; erythema receded within the marked margin.",
            "Wound photographed for the record; daily dressing arranged at the community nursing service.",
        ],
        medications: &[
            "Cloxacillin 500 mg four times daily to complete 10 days",
            "Paracetamol 500 mg as needed",
        ],
        follow_up: "Wound clinic in 1 week.",
    },
    Admission {
        diagnosis: "Type 2 diabetes mellitus with hyperglycaemia",
        course: &[
            "Admitted with polyuria and capillary glucose 24 mmol/L; no ketoacidosis. HbA1c 10.2%.",
            "Basal insulin started with diabetes nurse education; glucose 6-10 mmol/L by discharge.",
        ],
        medications: &[
            "Insulin glargine 14 units nocte",
            "Metformin 500 mg twice daily",
            "Empagliflozin 10 mg daily",
        ],
        follow_up: "Diabetes clinic in 4 weeks with HbA1c and renal function.",
    },
];

fn discharge(ctx: &Context<'_>, rng: &mut ChaCha8Rng) -> Vec<String> {
    let a = ADMISSIONS.choose(rng).unwrap_or(&ADMISSIONS[0]);
    let stay = rng.gen_range(2..=7);
    let admitted = ctx.date - Duration::days(stay);
    let mut lines = vec![
        format!(
            "Admitted: {admitted}    Discharged: {}    Length of stay: {stay} days",
            ctx.date
        ),
        format!("Principal diagnosis: {}", a.diagnosis),
        String::new(),
        "Hospital course:".to_owned(),
    ];
    lines.extend(a.course.iter().map(|l| format!("  {l}")));
    lines.push(String::new());
    lines.push("Medications on discharge:".to_owned());
    lines.extend(a.medications.iter().map(|m| format!("  - {m}")));
    lines.push(String::new());
    lines.push("Allergies: No known drug allergy.".to_owned());
    lines.push(format!("Follow-up: {}", a.follow_up));
    lines
}

fn referral(ctx: &Context<'_>, rng: &mut ChaCha8Rng) -> Vec<String> {
    let (specialty, reason, detail) = match rng.gen_range(0..4) {
        0 => (
            "Cardiology",
            "exertional chest tightness",
            "Symptoms after climbing two flights of stairs for 3 months, relieved by rest. ECG shows non-specific ST changes.",
        ),
        1 => (
            "Endocrinology",
            "poorly controlled type 2 diabetes",
            "HbA1c 9.1% despite metformin and gliclazide at maximal tolerated doses.",
        ),
        2 => (
            "Orthopaedics",
            "right knee pain",
            "Mechanical pain with effusion after a fall; unable to fully extend the knee.",
        ),
        _ => (
            "Dermatology",
            "a non-healing ulcer on the left shin",
            "Present for 8 weeks despite dressings; photographs attached to the shared record.",
        ),
    };
    let to = INSTITUTIONS
        .iter()
        .copied()
        .filter(|i| *i != ctx.institution)
        .collect::<Vec<_>>()
        .choose(rng)
        .copied()
        .unwrap_or(INSTITUTIONS[1]);
    let urgency = pick(rng, &["Routine", "Soon (within 4 weeks)", "Urgent"]);
    vec![
        format!("To: {specialty} Clinic, {to} (fictional institution)"),
        format!("Urgency: {urgency}"),
        String::new(),
        "Dear Colleague,".to_owned(),
        String::new(),
        format!("Re: {}, HKID {}", ctx.patient.name, ctx.patient.hkid),
        String::new(),
        format!(
            "Thank you for seeing this {}-year-old {} with {reason}. {detail}",
            ctx.age(),
            ctx.person()
        ),
        "Past history: hypertension on amlodipine 5 mg daily. Non-smoker. No known drug allergy."
            .to_owned(),
        "Relevant results and images have been shared with you through MedShare.".to_owned(),
        String::new(),
        "I would be grateful for your assessment and management.".to_owned(),
        String::new(),
        "Yours sincerely,".to_owned(),
    ]
}

fn ecg(rng: &mut ChaCha8Rng) -> Vec<String> {
    let af = rng.gen_bool(0.2);
    let rate = rng.gen_range(if af { 80..=130 } else { 55..=95 });
    let qrs = rng.gen_range(80..=110);
    let qtc = rng.gen_range(400..=460);
    let axis = rng.gen_range(-20..=80);
    let (rhythm, pr) = if af {
        (
            "Atrial fibrillation",
            "PR interval: not measurable".to_owned(),
        )
    } else {
        (
            "Sinus rhythm",
            format!("PR interval: {} ms", rng.gen_range(130..=200)),
        )
    };
    let st = if af {
        "No acute ST-segment changes."
    } else {
        pick(
            rng,
            &[
                "No acute ST-segment changes.",
                "Horizontal ST depression of 1 mm in V4-V6.",
                "T-wave inversion in leads III and aVF.",
            ],
        )
    };
    let conclusion = if af {
        "Atrial fibrillation with controlled ventricular response."
    } else if st.starts_with("No") {
        "Normal ECG."
    } else {
        "Abnormal ECG: repolarisation changes, correlate clinically (possible ischaemia)."
    };
    vec![
        "Recording: 12-lead resting ECG, 25 mm/s, 10 mm/mV.".to_owned(),
        String::new(),
        format!("Rhythm: {rhythm}, ventricular rate {rate} bpm"),
        pr,
        format!("QRS duration: {qrs} ms"),
        format!("QTc (Bazett): {qtc} ms"),
        format!("Frontal QRS axis: {axis:+} degrees"),
        format!("ST/T: {st}"),
        String::new(),
        format!("Interpretation: {conclusion}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patients;

    #[test]
    fn pdfs_extract_with_pdftotext() {
        let ps = patients(2026, 15);
        let mut checked = 0;
        for p in &ps {
            for d in p
                .documents
                .iter()
                .filter(|d| d.media_type == "application/pdf")
            {
                assert!(d.bytes.starts_with(b"%PDF-"));
                assert!(d.bytes.trim_ascii_end().ends_with(b"%%EOF"));
                let Some(text) = crate::pdf::tests::pdftotext(&d.bytes) else {
                    return;
                };
                assert!(text.contains(&d.title), "{}", d.file_name);
                assert!(text.contains(BANNER));
                assert!(text.contains(&p.name));
                assert!(text.contains(&p.hkid));
                assert!(text.contains(&d.date_of_service.to_string()));
                assert!(INSTITUTIONS.iter().any(|i| text.contains(i)));
                checked += 1;
            }
        }
        assert!(checked > 10);
    }

    #[test]
    fn story_angiography_mentions_lad() {
        let p = &patients(0, 1)[0];
        let text = String::from_utf8_lossy(&p.documents[0].bytes);
        assert!(text.contains("stenosis of the proximal LAD"));
    }
}
