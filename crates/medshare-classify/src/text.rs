//! Text documents: PDF (text layer via `lopdf`), DOCX (`word/document.xml` via `zip` and
//! `roxmltree`) and plain text. The class is decided by weighted phrase rules (a title match
//! counts double); dates, HKIDs (check digit validated), names and lab result lines with units
//! are pulled out of the text.

use crate::labs::{Observation, is_known_test, parse_value};
pub(crate) use crate::rules::modality_from_text;
use crate::rules::{fold_width, rules_with};
use crate::{Classification, DocumentClass, Evidence, SkipCode, valid_iso_date};
use std::io::Read;

/// Largest uncompressed DOCX document part read (a defence against zip bombs).
const MAX_DOCX_XML: u64 = 64 * 1024 * 1024;

pub(crate) fn read_pdf(bytes: &[u8], c: &mut Classification, model: Option<&crate::ngram::Model>) {
    let loaded = match crate::pdf_load::load(bytes) {
        Ok(l) => l,
        Err(e) => {
            c.skip(SkipCode::PdfText, None);
            let why = match e {
                crate::PdfError::Bomb => e.to_string(),
                crate::PdfError::Damaged => "no extractable text (scanned?)".into(),
            };
            c.decide(DocumentClass::Other, 0.1, vec![ev("PDF", why)]);
            return;
        }
    };
    let text = if loaded.contents_over {
        None
    } else {
        pdf_text(&loaded.doc)
    };
    match text {
        Some(text) => read_text_str(&text, c, model),
        None => {
            c.skip(SkipCode::PdfText, None);
            let why = if loaded.contents_over {
                format!(
                    "page contents inflate past {} MiB (a possible PDF bomb): text not read",
                    crate::MAX_PDF_INFLATED >> 20
                )
            } else {
                "no extractable text (scanned?)".into()
            };
            c.decide(DocumentClass::Other, 0.1, vec![ev("PDF", why)]);
        }
    }
    if loaded.object_streams_dropped {
        // What was read may be part of the document only: the doctor confirms.
        c.evidence.push(ev(
            "PDF",
            format!(
                "compressed object streams inflate past {} MiB (a possible PDF bomb): not read; low confidence",
                crate::MAX_PDF_INFLATED >> 20
            ),
        ));
        c.confidence = c.confidence.min(crate::LOW_CONFIDENCE);
        c.low_confidence = true;
    }
}

/// The PDF's text layer, page by page (`lopdf`: fonts' encodings and ToUnicode maps applied).
/// A page whose text cannot be read is left out; no text at all is `None`.
fn pdf_text(doc: &lopdf::Document) -> Option<String> {
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let mut out = String::new();
    for chunk in doc.extract_text_chunks(&pages).into_iter().flatten() {
        out.push_str(&chunk);
    }
    (!out.trim().is_empty()).then_some(out)
}

pub(crate) fn read_docx(bytes: &[u8], c: &mut Classification, model: Option<&crate::ngram::Model>) {
    match docx_text(bytes) {
        Some(text) => read_text_str(&text, c, model),
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

pub(crate) fn read_text(bytes: &[u8], c: &mut Classification, model: Option<&crate::ngram::Model>) {
    let text = String::from_utf8_lossy(bytes);
    read_text_str(&text, c, model);
}

pub(crate) fn read_text_str(
    text: &str,
    c: &mut Classification,
    model: Option<&crate::ngram::Model>,
) {
    extract(text, c);
    let (class, conf, evidence) = decide_text(text, c.observations.len(), model);
    c.decide(class, conf, evidence);
    if matches!(class, DocumentClass::ImagingReport) {
        c.modality = modality_from_text(text);
    }
}

/// The class of a text by the phrase and section rules, counting `result_lines` (lab result
/// lines with units) as evidence for a lab report; with `model`, the n-gram model decides where
/// the rules' answer is low confidence ([`crate::ngram::refine`]).
pub(crate) fn decide_text(
    text: &str,
    result_lines: usize,
    model: Option<&crate::ngram::Model>,
) -> (DocumentClass, f32, Vec<Evidence>) {
    let ruled = rules_with(text, result_lines).unwrap_or_else(|| {
        (
            DocumentClass::Other,
            0.3,
            vec![ev("text", "no class phrase")],
        )
    });
    match model {
        Some(m) => crate::ngram::refine(m, text, ruled),
        None => ruled,
    }
}

fn ev(source: &str, found: impl Into<String>) -> Evidence {
    Evidence {
        source: source.into(),
        found: found.into(),
    }
}

/// Identifiers, names, dates, author, institution and lab result lines found in `text`.
pub(crate) fn extract(text: &str, c: &mut Classification) {
    let text = fold_width(text);
    extract_fields(&text, c);
    for line in text.lines() {
        if let Some(o) = result_line(line)
            && c.observations.len() < 2000
        {
            c.observations.push(o);
        }
    }
}

/// Labels before a date of birth.
const BIRTH: &[&str] = &["birth", "dob", "d.o.b", "出生"];

/// Labels before the date of service.
const SERVICE: &[&str] = &[
    "date of service",
    "service date",
    "date of examination",
    "exam date",
    "examination date",
    "date of procedure",
    "procedure date",
    "date of operation",
    "collected",
    "date of report",
    "report date",
    "discharged",
    "date of discharge",
    "discharge date",
    "採樣日期",
    "采样日期",
    "收集日期",
    "檢查日期",
    "检查日期",
    "報告日期",
    "报告日期",
    "出院日期",
    "手術日期",
    "手术日期",
    "就診日期",
    "就诊日期",
];

/// Bare date labels: the date of service only when they start the line (`Date:`), not inside
/// another label (`Admission date:`).
const BARE_DATE: &[&str] = &["date:", "日期:"];

/// Identifiers, names, dates, author and institution found in `text` (no result lines).
pub(crate) fn extract_fields(text: &str, c: &mut Classification) {
    let text = fold_width(text);
    let text = text.as_ref();
    for id in hkids(text) {
        c.add_identifier(&id, "text");
    }
    let mut service: Option<String> = None;
    let mut any_date: Option<String> = None;
    for line in text.lines() {
        let l = line.to_lowercase();
        let dates = dates_in(line);
        if BIRTH.iter().any(|k| l.contains(k)) {
            if c.patient.birth_date.is_none() {
                c.patient.birth_date = dates.first().cloned();
            }
        } else if let Some(d) = dates.first() {
            // The date after the label: "Admission date: 14/08 Discharge date: 20/08".
            let after_label = SERVICE
                .iter()
                .filter_map(|k| l.find(k).map(|i| i + k.len()))
                .min()
                .or_else(|| {
                    BARE_DATE
                        .iter()
                        .find(|k| l.trim_start().starts_with(*k))
                        .map(|_| 0)
                });
            if let Some(at) = after_label
                && service.is_none()
            {
                service = line
                    .get(at..)
                    .and_then(|rest| dates_in(rest).into_iter().next())
                    .or_else(|| Some(d.clone()));
            }
            if any_date.is_none() {
                any_date = Some(d.clone());
            }
        }
        if c.patient.name.is_none() {
            c.patient.name = labelled_value(
                line,
                &[
                    "patient name:",
                    "patient:",
                    "name:",
                    "病人姓名:",
                    "患者姓名:",
                    "姓名:",
                ],
            );
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
                    "報告醫生:",
                    "报告医生:",
                    "主診醫生:",
                    "主诊医生:",
                    "醫生:",
                    "医生:",
                ],
            );
        }
        if c.institution.is_none() {
            c.institution = institution(line);
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
            let Some(rest) = line.get(i + label.len()..) else {
                continue;
            };
            let rest = rest.trim();
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
    // Chinese names end with their kind: 香港中央醫院 (and the line may go on with a title).
    for w in [
        "醫院",
        "医院",
        "診所",
        "诊所",
        "醫療中心",
        "医疗中心",
        "健康院",
    ] {
        if let Some(i) = t.find(w) {
            let name = t[..i + w.len()].trim();
            let start = name
                .char_indices()
                .rev()
                .find(|(_, c)| !crate::ocr::is_cjk(*c))
                .map_or(0, |(i, c)| i + c.len_utf8());
            let name = &name[start..];
            if name.chars().count() > w.chars().count() && name.chars().count() <= 20 {
                return Some(name.to_string());
            }
        }
    }
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
/// `14 Mar 2026`, `14-Mar-2026`, `March 14, 2026`, `2026年3月14日` (spaces allowed, as OCR
/// leaves them).
pub(crate) fn dates_in(line: &str) -> Vec<String> {
    let mut out = cjk_dates(line);
    for d in latin_dates(line) {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// `2026年3月14日` / `2026 年 3 月 14 日` / `2026年3月14号`.
fn cjk_dates(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = Vec::new();
    let number = |at: usize, max: usize| {
        let n = chars[at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n == 0 || n > max {
            return None;
        }
        let v: String = chars[at..at + n].iter().collect();
        v.parse::<u32>().ok().map(|v| (v, at + n))
    };
    let mut i = 0;
    while i < chars.len() {
        let starts = i == 0 || !chars[i - 1].is_ascii_digit();
        if starts
            && let Some((y, j)) = number(i, 4)
            && j - i == 4
            && chars.get(j) == Some(&'年')
            && let Some((m, k)) = number(j + 1, 2)
            && chars.get(k) == Some(&'月')
            && let Some((d, e)) = number(k + 1, 2)
        {
            let iso = format!("{y:04}-{m:02}-{d:02}");
            if (1900..=2100).contains(&y) && valid_iso_date(&iso) && !out.contains(&iso) {
                out.push(iso);
            }
            i = e;
            continue;
        }
        i += 1;
    }
    out
}

fn latin_dates(line: &str) -> Vec<String> {
    // Chinese labels run into the date without a space (出院日期:20/08/2025).
    let tokens: Vec<&str> = line
        .split(|c: char| {
            c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | ':') || crate::ocr::is_cjk(c)
        })
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
            .position(|m| {
                l.starts_with(m) && l.get(..3).is_some_and(|p| m.starts_with(p) && l.is_ascii())
            })
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
/// a known test name (English or Chinese), a number, a unit, then optionally a range and a flag.
fn result_line(line: &str) -> Option<Observation> {
    let tokens = result_tokens(line);
    result_from_tokens(&tokens).map(|(o, _)| o)
}

/// A line split the way [`result_from_tokens`] reads it.
pub(crate) fn result_tokens(line: &str) -> Vec<&str> {
    line.split(|c: char| c.is_whitespace() || c == '|' || c == '\t' || c == ',')
        .filter(|t| !t.is_empty())
        .collect()
}

/// Which tokens of a result row carry what.
pub(crate) struct RowTokens {
    pub name: std::ops::Range<usize>,
    pub value: usize,
    pub unit: usize,
    pub range: Option<usize>,
    pub flag: Option<usize>,
}

/// The observation in a result row, and which tokens carry its name, value, unit, range and
/// flag (so OCR can check how surely each was read).
pub(crate) fn result_from_tokens(tokens: &[&str]) -> Option<(Observation, RowTokens)> {
    let num_at = tokens.iter().position(|t| t.parse::<f64>().is_ok())?;
    if num_at == 0 || num_at > 6 {
        return None;
    }
    let name = tokens[..num_at].join(" ");
    let name = name.trim_end_matches(':');
    if !is_known_test(name) {
        return None;
    }
    // A flag printed as an arrow may stand between the value and its unit (`5.3 ↑ mmol/L`).
    let early_flag = tokens
        .get(num_at + 1)
        .and_then(|t| arrow_flag(t))
        .map(|f| (num_at + 1, f));
    let unit_at = num_at + 1 + usize::from(early_flag.is_some());
    let unit = tokens.get(unit_at)?;
    let looks_like_unit =
        unit.contains('/') || *unit == "%" || unit.contains("mol") || unit.starts_with("10");
    if !looks_like_unit {
        return None;
    }
    let mut at = RowTokens {
        name: 0..num_at,
        value: num_at,
        unit: unit_at,
        range: None,
        flag: None,
    };
    let mut o = Observation::new(name, parse_value(tokens[num_at]));
    o.unit = Some(unit.to_string());
    const FLAGS: [&str; 7] = ["H", "L", "HH", "LL", "A", "AA", "N"];
    // A flag as letters, or as arrows written as Hong Kong and mainland reports print them.
    let flag_at = |i: usize, letters: &[&str]| {
        let t = tokens.get(i)?;
        if letters.contains(t) {
            Some(t.to_string())
        } else {
            arrow_flag(t).map(str::to_string)
        }
    };
    let (r, f) = (unit_at + 1, unit_at + 2);
    if let Some(range) = tokens.get(r) {
        if range.contains('-') || range.starts_with('<') || range.starts_with('>') {
            o.reference_range = Some(range.to_string());
            at.range = Some(r);
            if let Some(flag) = flag_at(f, &FLAGS) {
                o.flag = Some(flag);
                at.flag = Some(f);
            }
        } else if let Some(flag) = flag_at(r, &FLAGS[..6]) {
            o.flag = Some(flag);
            at.flag = Some(r);
        }
    }
    if o.flag.is_none()
        && let Some((i, flag)) = early_flag
    {
        o.flag = Some(flag.to_string());
        at.flag = Some(i);
    }
    Some((o, at))
}

/// A flag printed as arrows, as the letters the rest of the code reads (`↑` high, `↓↓` critically
/// low); full-width and plain arrows alike.
fn arrow_flag(t: &str) -> Option<&'static str> {
    match t {
        "↑" | "⬆" => Some("H"),
        "↓" | "⬇" => Some("L"),
        "↑↑" => Some("HH"),
        "↓↓" => Some("LL"),
        _ => None,
    }
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

    /// Arrows as flags: between the value and its unit, after the range, or in the flag's place.
    #[test]
    fn lab_rows_with_arrow_flags() {
        let o = result_line("Potassium 6.8 ↑ mmol/L 3.5-5.1").unwrap();
        assert_eq!(o.unit.as_deref(), Some("mmol/L"));
        assert_eq!(o.reference_range.as_deref(), Some("3.5-5.1"));
        assert_eq!(o.flag.as_deref(), Some("H"));
        assert!(matches!(o.value, crate::labs::Value::Number(v) if v == 6.8));
        let o = result_line("空腹血糖 5.3 ↑ mmol/L 3.9-6.1").unwrap();
        assert_eq!(o.flag.as_deref(), Some("H"));
        let o = result_line("Potassium 2.9 mmol/L 3.5-5.1 ↓↓").unwrap();
        assert_eq!(o.flag.as_deref(), Some("LL"));
        let o = result_line("Potassium 2.9 mmol/L ↓").unwrap();
        assert_eq!(o.flag.as_deref(), Some("L"));
        assert_eq!(o.reference_range, None);
        // An arrow is never read as a unit or a value.
        assert!(result_line("Potassium 6.8 ↑").is_none());
        assert!(result_line("Potassium ↑ mmol/L").is_none());
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

    #[test]
    fn chinese_and_bilingual_documents() {
        let lab = "香港中央醫院 化驗報告 LABORATORY REPORT\n\
            姓名 Name：陳大文 CHAN Tai Man  身份證號碼 HKID：A123456（3）\n\
            出生日期：1961年7月2日\n\
            採樣日期 Collected：2025年8月20日\n\
            鉀 Potassium 6.8 mmol/L 3.5-5.1 H\n\
            鈉 139 mmol/L 135-145\n\
            空腹血糖 5.2 mmol/L 3.9-5.5\n\
            糖化血紅蛋白 53 mmol/mol 20-42 H\n";
        let c = classify(lab.as_bytes());
        assert_eq!(c.class, DocumentClass::LabReport, "{:?}", c.evidence);
        assert!(!c.low_confidence);
        assert_eq!(c.patient.identifiers[0].value, "HKID:A1234563");
        assert_eq!(c.patient.birth_date.as_deref(), Some("1961-07-02"));
        assert_eq!(c.date_of_service.as_deref(), Some("2025-08-20"));
        assert_eq!(c.institution.as_deref(), Some("香港中央醫院"));
        let keys: Vec<&str> = c
            .observations
            .iter()
            .filter_map(|o| o.normalised.as_ref().map(|n| n.analyte.as_str()))
            .collect();
        assert_eq!(keys, ["potassium", "sodium", "glucose", "hba1c"]);
        assert!(c.critical, "potassium 6.8 is critical");

        let simplified = "出院小结\n患者姓名：李小明\n入院日期：2025年8月1日\n出院日期：20/08/2025\n\
            出院诊断：社区获得性肺炎\n住院经过：予抗生素治疗，病情好转。";
        let d = classify(simplified.as_bytes());
        assert_eq!(d.class, DocumentClass::DischargeSummary, "{:?}", d.evidence);
        assert_eq!(
            d.date_of_service.as_deref(),
            Some("2025-08-20"),
            "day first"
        );
        assert_eq!(d.patient.name.as_deref(), Some("李小明"));

        for (text, want) in [
            (
                "放射科報告\n電腦掃描 腦部\n檢查所見：未見出血。",
                DocumentClass::ImagingReport,
            ),
            (
                "手術紀錄\n手術名稱：腹腔鏡膽囊切除術\n主刀醫生：王醫生\n麻醉方式：全身麻醉",
                DocumentClass::OperativeNote,
            ),
            (
                "病理報告\n肉眼所見：皮膚組織一塊。\n顯微鏡所見：基底細胞癌。",
                DocumentClass::PathologyReport,
            ),
            (
                "處方\n二甲雙胍 500mg 用法：每日兩次",
                DocumentClass::Medication,
            ),
            (
                "轉介信\n陳醫生台鑒：\n煩請跟進此病人之胸痛。\n此致",
                DocumentClass::ReferralLetter,
            ),
        ] {
            let c = classify(text.as_bytes());
            assert_eq!(c.class, want, "{text}: {:?}", c.evidence);
        }
    }
}
