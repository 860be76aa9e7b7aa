//! Text documents: PDF (text layer via `pdf-extract`), DOCX (`word/document.xml` via `zip` and
//! `roxmltree`) and plain text. The class is decided by weighted phrase rules (a title match
//! counts double); dates, HKIDs (check digit validated), names and lab result lines with units
//! are pulled out of the text.

use crate::labs::{Observation, is_known_test, parse_value};
use crate::{Classification, DocumentClass, Evidence, Modality, SkipCode, valid_iso_date};
use std::io::Read;

/// Largest uncompressed DOCX document part read (a defence against zip bombs).
const MAX_DOCX_XML: u64 = 64 * 1024 * 1024;

pub(crate) fn read_pdf(bytes: &[u8], c: &mut Classification) {
    match pdf_text(bytes) {
        Some(text) => read_text_str(&text, c),
        None => {
            c.skip(SkipCode::PdfText, None);
            c.decide(
                DocumentClass::Other,
                0.1,
                vec![ev("PDF", "no extractable text (scanned?)")],
            );
        }
    }
}

/// The PDF's text layer. `pdf-extract` can panic on malformed input; natively that is caught
/// and reported like any other failure.
fn pdf_text(bytes: &[u8]) -> Option<String> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let owned = bytes.to_vec();
        let r = std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem(&owned));
        match r {
            Ok(Ok(t)) if !t.trim().is_empty() => Some(t),
            _ => None,
        }
    }
    #[cfg(target_arch = "wasm32")]
    {
        pdf_extract::extract_text_from_mem(bytes)
            .ok()
            .filter(|t| !t.trim().is_empty())
    }
}

pub(crate) fn read_docx(bytes: &[u8], c: &mut Classification) {
    match docx_text(bytes) {
        Some(text) => read_text_str(&text, c),
        None => {
            c.skip(SkipCode::DocxText, None);
            c.decide(
                DocumentClass::Other,
                0.1,
                vec![ev("DOCX", "no readable text")],
            );
        }
    }
}

fn docx_text(bytes: &[u8]) -> Option<String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let part = zip.by_name("word/document.xml").ok()?;
    let mut xml = String::new();
    part.take(MAX_DOCX_XML).read_to_string(&mut xml).ok()?;
    let doc = roxmltree::Document::parse(&xml).ok()?;
    let mut out = String::new();
    for n in doc.descendants() {
        match n.tag_name().name() {
            "t" => out.push_str(n.text().unwrap_or("")),
            "tab" => out.push('\t'),
            "br" | "p" if n.is_element() => out.push('\n'),
            _ => {}
        }
    }
    Some(out)
}

pub(crate) fn read_text(bytes: &[u8], c: &mut Classification) {
    let text = String::from_utf8_lossy(bytes);
    read_text_str(&text, c);
}

pub(crate) fn read_text_str(text: &str, c: &mut Classification) {
    extract(text, c);
    match rules(text) {
        Some((class, conf, evidence)) => {
            c.decide(class, conf, evidence);
            if matches!(class, DocumentClass::ImagingReport) {
                c.modality = modality_from_text(text);
            }
        }
        None => c.decide(
            DocumentClass::Other,
            0.3,
            vec![ev("text", "no class phrase")],
        ),
    }
    // Result lines with units make a text a lab report when nothing stronger spoke.
    if c.class == DocumentClass::Other && c.observations.len() >= 3 {
        let n = c.observations.len();
        c.decide(
            DocumentClass::LabReport,
            0.6,
            vec![ev("text", format!("{n} result lines with units"))],
        );
    }
}

fn ev(source: &str, found: impl Into<String>) -> Evidence {
    Evidence {
        source: source.into(),
        found: found.into(),
    }
}

type Rule = (&'static str, u32);

/// Phrase rules per class (lower case, matched on word boundaries).
const RULES: &[(DocumentClass, &[Rule])] = &[
    (
        DocumentClass::DischargeSummary,
        &[
            ("discharge summary", 6),
            ("discharge note", 5),
            ("discharged", 2),
            ("date of discharge", 3),
            ("discharge date", 3),
            ("hospital course", 3),
            ("course in hospital", 3),
            ("medications on discharge", 3),
            ("discharge medications", 3),
            ("length of stay", 2),
            ("principal diagnosis", 2),
            ("admitted", 1),
        ],
    ),
    (
        DocumentClass::ReferralLetter,
        &[
            ("referral letter", 6),
            ("referral", 2),
            ("dear colleague", 3),
            ("dear dr", 2),
            ("thank you for seeing", 4),
            ("kindly see", 3),
            ("i would be grateful", 2),
            ("grateful for your", 2),
            ("yours sincerely", 1),
            ("yours faithfully", 1),
        ],
    ),
    (
        DocumentClass::ConsultationNote,
        &[
            ("consultation note", 6),
            ("consult note", 6),
            ("consultation", 2),
            ("clinic note", 4),
            ("progress note", 4),
            ("history of present illness", 2),
            ("chief complaint", 2),
            ("presenting complaint", 2),
            ("assessment and plan", 2),
            ("physical examination", 1),
        ],
    ),
    (
        DocumentClass::ImagingReport,
        &[
            ("radiology report", 6),
            ("imaging report", 6),
            ("angiography report", 6),
            ("coronary angiography", 4),
            ("angiogram", 3),
            ("angiography", 3),
            ("radiograph", 3),
            ("x-ray", 3),
            ("xray", 3),
            ("computed tomography", 4),
            ("ct scan", 4),
            ("mri", 4),
            ("magnetic resonance", 4),
            ("ultrasound", 3),
            ("sonography", 3),
            ("mammogram", 4),
            ("mammography", 4),
            ("scintigraphy", 3),
            ("nuclear medicine", 3),
            ("radiologist", 3),
            ("impression", 1),
            ("findings", 1),
            ("contrast", 1),
            ("stenosis", 1),
        ],
    ),
    (
        DocumentClass::Ecg,
        &[
            ("ecg report", 6),
            ("electrocardiogram", 5),
            ("ecg", 3),
            ("ekg", 3),
            ("12-lead", 4),
            ("qrs", 3),
            ("qtc", 3),
            ("pr interval", 3),
            ("sinus rhythm", 2),
            ("ventricular rate", 2),
        ],
    ),
    (
        DocumentClass::LabReport,
        &[
            ("laboratory report", 6),
            ("lab report", 6),
            ("laboratory results", 5),
            ("lab results", 5),
            ("reference range", 3),
            ("ref range", 3),
            ("specimen collected", 2),
            ("haematology", 2),
            ("hematology", 2),
            ("biochemistry", 2),
            ("clinical chemistry", 2),
        ],
    ),
    (
        DocumentClass::PathologyReport,
        &[
            ("pathology report", 6),
            ("histopathology", 5),
            ("surgical pathology", 5),
            ("histology", 4),
            ("cytology", 4),
            ("microscopic description", 4),
            ("macroscopic description", 4),
            ("gross description", 4),
            ("frozen section", 3),
            ("biopsy", 2),
            ("carcinoma", 2),
            ("margins", 2),
        ],
    ),
    (
        DocumentClass::OperativeNote,
        &[
            ("operation note", 6),
            ("operative note", 6),
            ("operative report", 6),
            ("operation record", 6),
            ("procedure performed", 3),
            ("operation performed", 3),
            ("surgeon", 3),
            ("anaesthesia", 2),
            ("anesthesia", 2),
            ("incision", 3),
            ("estimated blood loss", 4),
            ("pre-operative diagnosis", 3),
            ("preoperative diagnosis", 3),
            ("post-operative", 1),
            ("closure", 2),
        ],
    ),
    (
        DocumentClass::Medication,
        &[
            ("prescription", 5),
            ("medication list", 5),
            ("medication record", 5),
            ("dispense", 3),
            ("refill", 2),
            ("tablets", 2),
            ("tablet", 1),
            ("capsules", 2),
            ("dosage", 2),
            ("pharmacy", 2),
            ("twice daily", 1),
            ("once daily", 1),
        ],
    ),
    (
        DocumentClass::ImmunisationRecord,
        &[
            ("immunisation record", 6),
            ("immunization record", 6),
            ("vaccination record", 6),
            ("immunisation", 4),
            ("immunization", 4),
            ("vaccination", 4),
            ("vaccine", 3),
            ("booster", 2),
            ("dose number", 2),
        ],
    ),
    (
        DocumentClass::ClinicalPhoto,
        &[
            ("clinical photograph", 5),
            ("clinical photo", 5),
            ("wound photograph", 5),
        ],
    ),
];

/// The best class for `text` by the phrase rules, with confidence and the matched phrases;
/// `None` when no class scores at least 3.
pub(crate) fn rules(text: &str) -> Option<(DocumentClass, f32, Vec<Evidence>)> {
    let lower = text.to_lowercase();
    // The title region: the first six non-empty lines.
    let head: String = lower
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("\n");
    let mut scores: Vec<(DocumentClass, u32, Vec<Evidence>)> = RULES
        .iter()
        .map(|(class, rules)| {
            let mut score = 0;
            let mut why = Vec::new();
            for (phrase, w) in rules.iter() {
                if contains_word(&lower, phrase) {
                    let in_title = contains_word(&head, phrase);
                    score += if in_title { w * 2 } else { *w };
                    why.push(ev(if in_title { "title" } else { "text" }, *phrase));
                }
            }
            (*class, score, why)
        })
        .collect();
    scores.sort_by_key(|s| std::cmp::Reverse(s.1));
    let (class, best, why) = scores.swap_remove(0);
    let second = scores.iter().map(|s| s.1).max().unwrap_or(0);
    if best < 3 {
        return None;
    }
    let margin = (best - second) as f32 / best as f32;
    let strength = 1.0 - (-(best as f32) / 6.0).exp();
    let conf = (0.35 + 0.6 * margin * strength).min(0.95);
    Some((class, conf, why))
}

fn contains_word(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric()) && !after.is_some_and(|c| c.is_alphanumeric())
    })
}

fn modality_from_text(text: &str) -> Option<Modality> {
    let l = text.to_lowercase();
    let has = |p: &str| contains_word(&l, p);
    Some(if has("angiography") || has("angiogram") {
        Modality::XA
    } else if has("computed tomography") || has("ct scan") || has("ct") {
        Modality::CT
    } else if has("mri") || has("magnetic resonance") {
        Modality::MR
    } else if has("mammogram") || has("mammography") {
        Modality::MG
    } else if has("ultrasound") || has("sonography") {
        Modality::US
    } else if has("scintigraphy") || has("nuclear medicine") {
        Modality::NM
    } else if has("radiograph") || has("x-ray") || has("xray") {
        Modality::CR
    } else {
        return None;
    })
}

/// Identifiers, names, dates, author, institution and lab result lines found in `text`.
pub(crate) fn extract(text: &str, c: &mut Classification) {
    for id in hkids(text) {
        c.add_identifier(&id, "text");
    }
    let mut service: Option<String> = None;
    let mut any_date: Option<String> = None;
    for line in text.lines() {
        let l = line.to_lowercase();
        let dates = dates_in(line);
        if l.contains("birth") || l.contains("dob") || l.contains("d.o.b") {
            if c.patient.birth_date.is_none() {
                c.patient.birth_date = dates.first().cloned();
            }
        } else if let Some(d) = dates.first() {
            let labelled = [
                "date of service",
                "service date",
                "date of examination",
                "exam date",
                "examination date",
                "date of procedure",
                "procedure date",
                "collected",
                "date of report",
                "report date",
                "discharged",
                "date of discharge",
                "date:",
            ]
            .iter()
            .any(|k| l.contains(k));
            if labelled && service.is_none() {
                service = Some(d.clone());
            }
            if any_date.is_none() {
                any_date = Some(d.clone());
            }
        }
        if c.patient.name.is_none() {
            c.patient.name = labelled_value(line, &["patient name:", "patient:", "name:"]);
        }
        if c.author.is_none() {
            c.author = labelled_value(
                line,
                &[
                    "signed:",
                    "reported by:",
                    "signed by:",
                    "author:",
                    "surgeon:",
                    "radiologist:",
                ],
            );
        }
        if c.institution.is_none() {
            c.institution = institution(line);
        }
        if let Some(o) = result_line(line)
            && c.observations.len() < 2000
        {
            c.observations.push(o);
        }
    }
    if c.date_of_service.is_none() {
        c.date_of_service = service.or(any_date);
    }
}

/// The value after one of `labels` (case-insensitive), up to a double space or another label.
fn labelled_value(line: &str, labels: &[&str]) -> Option<String> {
    let lower = line.to_lowercase();
    for label in labels {
        if let Some(i) = lower.find(label) {
            // Labels like "name:" must not match inside "surname:" or "patient name:" twice.
            if i > 0
                && lower[..i]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
            {
                continue;
            }
            let rest = line[i + label.len()..].trim();
            let end = rest
                .find("  ")
                .or_else(|| rest.find('\t'))
                .or_else(|| rest.find(" HKID"))
                .or_else(|| rest.find(" ("))
                .or_else(|| rest.find(", "))
                .unwrap_or(rest.len());
            let v = rest[..end].trim().trim_end_matches([',', ';']);
            if !v.is_empty() && v.len() < 80 {
                return Some(v.to_string());
            }
        }
    }
    None
}

fn institution(line: &str) -> Option<String> {
    let words = [
        "Hospital",
        "Clinic",
        "Medical Centre",
        "Medical Center",
        "Health Centre",
    ];
    let t = line.trim();
    if t.len() > 120 || !words.iter().any(|w| t.contains(w)) {
        return None;
    }
    // Letters' greetings and sentences are not institution headers.
    if t.contains(':') || t.ends_with('.') || t.starts_with(|c: char| c.is_lowercase()) {
        return None;
    }
    let end = [" (", " —", " – ", " - ", ","]
        .iter()
        .filter_map(|s| t.find(s))
        .min()
        .unwrap_or(t.len());
    let v = t[..end].trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Valid HKIDs in the text (check digit verified by `medshare_model`), as written.
pub(crate) fn hkids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts_word = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if starts_word && b[i].is_ascii_uppercase() {
            let letters = b[i..].iter().take_while(|c| c.is_ascii_uppercase()).count();
            if (1..=2).contains(&letters) {
                let d0 = i + letters;
                let digits = b[d0..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 6 || digits == 7 {
                    // A123456(3), A123456 (3), A1234563
                    let mut j = d0 + 6;
                    let check = if digits == 7 {
                        j += 1;
                        Some(b[d0 + 6])
                    } else {
                        let mut k = j;
                        while k < b.len() && b[k] == b' ' {
                            k += 1;
                        }
                        if k + 2 < b.len() && b[k] == b'(' && b[k + 2] == b')' {
                            j = k + 3;
                            Some(b[k + 1])
                        } else {
                            None
                        }
                    };
                    let ends_word = j >= b.len() || !b[j].is_ascii_alphanumeric();
                    if let Some(ch) = check
                        && ends_word
                    {
                        let candidate = format!("{}{}", &text[i..d0 + 6], ch as char);
                        if medshare_model::identifiers::PatientIdentifier::hkid(&candidate).is_ok()
                            && !out.contains(&candidate)
                        {
                            out.push(candidate);
                        }
                    }
                    i = j.max(i + 1);
                    continue;
                }
            }
            i += letters;
            continue;
        }
        i += 1;
    }
    out
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// ISO dates in `line`: `2026-03-14`, `14/03/2026` (day first, as in Hong Kong),
/// `14 Mar 2026`, `14-Mar-2026`, `March 14, 2026`.
pub(crate) fn dates_in(line: &str) -> Vec<String> {
    let tokens: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(' || c == ')')
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    let push = |y: i32, m: u32, d: u32, out: &mut Vec<String>| {
        let iso = format!("{y:04}-{m:02}-{d:02}");
        if (1900..=2100).contains(&y) && valid_iso_date(&iso) && !out.contains(&iso) {
            out.push(iso);
        }
    };
    let month = |s: &str| {
        let l = s.to_lowercase();
        MONTHS
            .iter()
            .position(|m| l.len() >= 3 && l.starts_with(m) && m.starts_with(&l[..3]))
            .map(|p| p as u32 + 1)
    };
    for (k, tok) in tokens.iter().enumerate() {
        let t = tok.trim_matches(|c: char| !c.is_alphanumeric());
        let parts: Vec<&str> = t.split(['-', '/', '.']).collect();
        if parts.len() == 3 {
            let n: Vec<Option<i32>> = parts.iter().map(|p| p.parse().ok()).collect();
            match (n[0], n[1], n[2]) {
                (Some(y), Some(m), Some(d)) if parts[0].len() == 4 => {
                    push(y, m as u32, d as u32, &mut out)
                }
                (Some(d), Some(m), Some(y)) if parts[2].len() == 4 => {
                    push(y, m as u32, d as u32, &mut out)
                }
                (Some(d), None, Some(y)) if parts[2].len() == 4 => {
                    if let Some(m) = month(parts[1]) {
                        push(y, m, d as u32, &mut out)
                    }
                }
                _ => {}
            }
            continue;
        }
        // 14 Mar 2026 / March 14 2026
        if k + 2 < tokens.len() {
            let a = tokens[k].trim_end_matches('.');
            let b = tokens[k + 1].trim_end_matches('.');
            let y = tokens[k + 2].trim_end_matches(['.', ':']);
            if y.len() == 4
                && let Ok(y) = y.parse::<i32>()
            {
                if let (Ok(d), Some(m)) = (a.parse::<u32>(), month(b)) {
                    push(y, m, d, &mut out);
                } else if let (Some(m), Ok(d)) = (month(a), b.parse::<u32>()) {
                    push(y, m, d, &mut out);
                }
            }
        }
    }
    out
}

/// A table row like `Potassium  6.8  mmol/L  3.5-5.1  H` (or separated by `|`, tabs, commas):
/// a known test name, a number, a unit, then optionally a range and a flag.
fn result_line(line: &str) -> Option<Observation> {
    let tokens: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == '|' || c == '\t' || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let num_at = tokens.iter().position(|t| t.parse::<f64>().is_ok())?;
    if num_at == 0 || num_at > 6 {
        return None;
    }
    let name = tokens[..num_at].join(" ");
    let name = name.trim_end_matches(':');
    if !is_known_test(name) {
        return None;
    }
    let unit = tokens.get(num_at + 1)?;
    let looks_like_unit =
        unit.contains('/') || *unit == "%" || unit.contains("mol") || unit.starts_with("10");
    if !looks_like_unit {
        return None;
    }
    let mut o = Observation::new(name, parse_value(tokens[num_at]));
    o.unit = Some(unit.to_string());
    let mut rest = tokens[num_at + 2..].iter();
    if let Some(r) = rest.next() {
        if r.contains('-') || r.starts_with('<') || r.starts_with('>') {
            o.reference_range = Some(r.to_string());
            if let Some(f) = rest.next()
                && ["H", "L", "HH", "LL", "A", "AA", "N"].contains(f)
            {
                o.flag = Some(f.to_string());
            }
        } else if ["H", "L", "HH", "LL", "A", "AA"].contains(r) {
            o.flag = Some(r.to_string());
        }
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_valid_hkids_only() {
        let t = "Patient: CHAN Tai Man    HKID: A123456(3)\nOld card A123456(4), AB987654 (3), G1234560";
        let ids = hkids(t);
        assert!(ids.contains(&"A1234563".to_string()), "{ids:?}");
        assert!(ids.contains(&"AB9876543".to_string()), "{ids:?}");
        assert!(!ids.iter().any(|i| i == "A1234564"));
    }

    #[test]
    fn dates() {
        assert_eq!(dates_in("Date of service: 2026-03-14"), vec!["2026-03-14"]);
        assert_eq!(
            dates_in("seen 14/03/2026 and 1-Apr-2026"),
            vec!["2026-03-14", "2026-04-01"]
        );
        assert_eq!(dates_in("on 14 March 2026."), vec!["2026-03-14"]);
        assert_eq!(dates_in("on March 14, 2026"), vec!["2026-03-14"]);
        assert!(dates_in("ratio 31/02/2026").is_empty());
    }

    #[test]
    fn lab_rows() {
        let o = result_line("Potassium   6.8  mmol/L  3.5-5.1  H").unwrap();
        assert_eq!(o.unit.as_deref(), Some("mmol/L"));
        assert_eq!(o.flag.as_deref(), Some("H"));
        assert!(result_line("Dear colleague 5 mg/dL").is_none());
        assert!(result_line("Aspirin 80 mg daily").is_none());
    }

    #[test]
    fn rules_pick_the_title() {
        let (c, conf, why) = rules(
            "Discharge summary\nPatient: X\nAdmitted with chest pain. ECG showed ST changes.",
        )
        .unwrap();
        assert_eq!(c, DocumentClass::DischargeSummary);
        assert!(conf > 0.5);
        assert!(why.iter().any(|e| e.found == "discharge summary"));
        assert!(rules("hello world").is_none());
    }
}

#[cfg(test)]
mod class_tests {
    use crate::{DocumentClass, Format, classify};

    #[test]
    fn every_text_class_is_reachable() {
        let cases = [
            (
                "OPERATION NOTE\nSurgeon: Dr X\nProcedure performed: laparoscopic cholecystectomy.\nIncision: umbilical. Estimated blood loss 20 mL.",
                DocumentClass::OperativeNote,
            ),
            (
                "Histopathology report\nMacroscopic description: skin ellipse.\nMicroscopic description: basal cell carcinoma, margins clear.",
                DocumentClass::PathologyReport,
            ),
            (
                "Consultation note\nChief complaint: cough.\nHistory of present illness: two weeks.\nAssessment and plan: reassure.",
                DocumentClass::ConsultationNote,
            ),
            (
                "PRESCRIPTION\nMetformin 500 mg tablets, twice daily. Dispense 60 tablets, 2 refills.",
                DocumentClass::Medication,
            ),
            (
                "Immunisation record\nVaccine: influenza, dose number 1, batch AB12.",
                DocumentClass::ImmunisationRecord,
            ),
            (
                "Laboratory report\nPotassium 6.8 mmol/L 3.5-5.1 HH\nCreatinine 120 umol/L 64-104 H\nGlucose 5.2 mmol/L 3.9-5.5",
                DocumentClass::LabReport,
            ),
            (
                "MRI brain\nFindings: no acute infarct. Impression: normal magnetic resonance study.",
                DocumentClass::ImagingReport,
            ),
        ];
        for (text, want) in cases {
            let c = classify(text.as_bytes());
            assert_eq!(c.format, Format::Text);
            assert_eq!(c.class, want, "{text}: {:?}", c.evidence);
        }
        let lab = classify(cases[5].0.as_bytes());
        assert!(lab.critical, "HH potassium is critical");
        assert_eq!(lab.observations.len(), 3);
    }

    #[test]
    fn docx_text_is_read() {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default();
            z.start_file("[Content_Types].xml", opts).unwrap();
            z.write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#).unwrap();
            z.start_file("word/document.xml", opts).unwrap();
            z.write_all(br#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
              <w:p><w:r><w:t>Referral letter</w:t></w:r></w:p>
              <w:p><w:r><w:t>Dear colleague, thank you for seeing Mr CHAN, HKID A123456(3), on 14/03/2026.</w:t></w:r></w:p>
            </w:body></w:document>"#).unwrap();
            z.finish().unwrap();
        }
        let c = classify(buf.get_ref());
        assert_eq!(c.format, Format::Docx);
        assert_eq!(c.class, DocumentClass::ReferralLetter, "{:?}", c.evidence);
        assert_eq!(c.patient.identifiers[0].value, "HKID:A1234563");
        assert_eq!(c.date_of_service.as_deref(), Some("2026-03-14"));
    }
}
