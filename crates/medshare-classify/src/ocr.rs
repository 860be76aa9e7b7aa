//! The seam between an OCR engine and classification. An engine (Tesseract natively through
//! `medshare-ocr`, tesseract.js in the browser later) turns a photographed or scanned page into
//! [`OcrText`]: lines of words, each with the engine's confidence. [`classify_ocr`] classifies
//! that text like any other document, with two differences that keep a doctor safe:
//!
//! - the class confidence is scaled by how sure the engine was, and a page the engine read
//!   poorly says so in the evidence (`OCR` evidence line) and is marked low confidence;
//! - a lab value is extracted only when its value was read with at least
//!   [`MIN_VALUE_CONFIDENCE`], its unit is a known unit (or surely read), its analyte is named
//!   by words read well, and it is not ten times outside its reference range (a lost decimal
//!   point); otherwise the line is skipped with [`SkipCode::OcrLowConfidence`] and its line
//!   number. A poorly read range or flag is left out. OCR never invents a value.
//!
//! This crate never runs an engine: it takes the engine's output, so it stays free of I/O and
//! builds for wasm.
//!
//! ```
//! use medshare_classify::ocr::{OcrLine, OcrPage, OcrText, OcrWord, classify_ocr};
//! use medshare_classify::DocumentClass;
//! let line = |words: &[(&str, f32)]| OcrLine {
//!     words: words.iter().map(|(t, c)| OcrWord { text: t.to_string(), confidence: *c }).collect(),
//! };
//! let ocr = OcrText {
//!     engine: "example".into(),
//!     pages: vec![OcrPage {
//!         rotation: 0,
//!         skew_degrees: 0.0,
//!         lines: vec![
//!             line(&[("LABORATORY", 0.95), ("REPORT", 0.96)]),
//!             line(&[("Potassium", 0.93), ("6.8", 0.94), ("mmol/L", 0.9), ("3.5-5.1", 0.9), ("H", 0.9)]),
//!             line(&[("Sodium", 0.93), ("1?9", 0.31), ("mmol/L", 0.9)]),
//!         ],
//!     }],
//! };
//! let c = classify_ocr(b"", &ocr, &Default::default());
//! assert_eq!(c.class, DocumentClass::LabReport);
//! assert_eq!(c.observations.len(), 1, "the unreadable sodium value is not guessed");
//! ```

use crate::labs::Observation;
use crate::{Classification, DocumentClass, Evidence, Format, Options, SkipCode};
use serde::{Deserialize, Serialize};

/// A word whose confidence is below this is not used as a lab value, reference range or flag
/// (a unit may be, when it is one the lab tables know: misreadings are not).
pub const MIN_VALUE_CONFIDENCE: f32 = 0.60;

/// Words below this are left out of the text the class rules read (engines emit noise words
/// with confidence near zero).
pub const MIN_WORD_CONFIDENCE: f32 = 0.30;

/// A page whose mean word confidence is below this is said to be poorly read.
pub const POOR_PAGE_CONFIDENCE: f32 = 0.70;

/// What an OCR engine read from one document (one or more pages).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OcrText {
    /// Engine and language data, e.g. `tesseract 5.3.0 eng+chi_tra+chi_sim`.
    pub engine: String,
    pub pages: Vec<OcrPage>,
}

/// One page as read, after the engine's caller turned it upright and straightened it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OcrPage {
    /// Clockwise rotation (0, 90, 180, 270) applied to make the page upright.
    pub rotation: u16,
    /// Skew removed before recognition, degrees (counter-clockwise positive).
    pub skew_degrees: f32,
    /// Lines in reading order.
    pub lines: Vec<OcrLine>,
}

/// One line of text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OcrLine {
    pub words: Vec<OcrWord>,
}

/// One word with the engine's confidence, 0.0..=1.0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OcrWord {
    pub text: String,
    pub confidence: f32,
}

impl OcrLine {
    /// The line as text: words joined by a space, except between two CJK characters
    /// (engines split Chinese into one word per character or two).
    pub fn text(&self, min_confidence: f32) -> String {
        join_words(
            self.words
                .iter()
                .filter(|w| w.confidence >= min_confidence)
                .map(|w| w.text.as_str()),
        )
    }
}

impl OcrText {
    /// Mean word confidence over all pages (0 when nothing was read).
    pub fn mean_confidence(&self) -> f32 {
        let (sum, n) = self
            .words()
            .fold((0.0f32, 0usize), |(s, n), w| (s + w.confidence, n + 1));
        if n == 0 { 0.0 } else { sum / n as f32 }
    }

    /// The number of words read.
    pub fn word_count(&self) -> usize {
        self.words().count()
    }

    fn words(&self) -> impl Iterator<Item = &OcrWord> {
        self.pages
            .iter()
            .flat_map(|p| p.lines.iter())
            .flat_map(|l| l.words.iter())
            .filter(|w| !w.text.trim().is_empty())
    }

    /// All pages' text, one line per OCR line, without words below `min_confidence`.
    pub fn text(&self, min_confidence: f32) -> String {
        let mut out = String::new();
        for p in &self.pages {
            for l in &p.lines {
                let t = l.text(min_confidence);
                if !t.trim().is_empty() {
                    out.push_str(&t);
                    out.push('\n');
                }
            }
        }
        out
    }
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F
        | 0x3000..=0x303F | 0xFF00..=0xFF0F | 0xFF1A..=0xFF20)
}

fn join_words<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for w in words {
        let w = w.trim();
        if w.is_empty() {
            continue;
        }
        let glue = match (out.chars().next_back(), w.chars().next()) {
            (None, _) => false,
            (Some(a), Some(b)) => !(is_cjk(a) && is_cjk(b)),
            _ => true,
        };
        if glue {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Does this document need OCR before it can be classified: an image, or a PDF with no text
/// layer (a scan)?
pub fn needs_ocr(c: &Classification) -> bool {
    match c.format {
        Format::Jpeg | Format::Png | Format::Heic | Format::Tiff => true,
        Format::Pdf => c.skipped.iter().any(|s| s.code == SkipCode::PdfText),
        _ => false,
    }
}

/// Classify a photographed or scanned document from its bytes (for the format and, for photos,
/// the EXIF date) and the text an OCR engine read from it.
pub fn classify_ocr(bytes: &[u8], ocr: &OcrText, options: &Options) -> Classification {
    let format = crate::detect(bytes);
    let mut c = Classification::new(format);
    if matches!(
        format,
        Format::Jpeg | Format::Png | Format::Heic | Format::Tiff
    ) {
        crate::image::read_metadata(bytes, &mut c);
    }
    read(ocr, &mut c, options.text_model.as_deref());
    c.finish(options);
    c
}

/// Say that `unread` pages of a scanned PDF were not read (past the first
/// [`crate::scan::MAX_PAGES`], or with an image the reader does not decode: JBIG2, CCITT fax,
/// JPEG 2000, over [`crate::scan::MAX_PAGE_PIXELS`]), and mark the result low confidence: what
/// was read may not be the whole document, so the doctor confirms the class and values. The
/// native reader (`medshare-ocr`) and the browser's (`medshare-wasm-classify`) both call this.
pub fn note_unread_pages(c: &mut Classification, unread: usize) {
    if unread == 0 {
        return;
    }
    c.evidence.push(ev(
        "OCR",
        format!(
            "{unread} page(s) not read (past the first {} or an image this device does not decode); low confidence: confirm the class and values",
            crate::scan::MAX_PAGES
        ),
    ));
    c.confidence = c.confidence.min(crate::LOW_CONFIDENCE);
    c.low_confidence = true;
}

fn ev(source: &str, found: impl Into<String>) -> Evidence {
    Evidence {
        source: source.into(),
        found: found.into(),
    }
}

fn read(ocr: &OcrText, c: &mut Classification, model: Option<&crate::ngram::Model>) {
    let mean = ocr.mean_confidence();
    let words = ocr.word_count();
    let rotation: Vec<String> = ocr
        .pages
        .iter()
        .filter(|p| p.rotation != 0 || p.skew_degrees.abs() >= 0.5)
        .map(|p| {
            format!(
                "turned {}°, straightened {:.1}°",
                p.rotation, p.skew_degrees
            )
        })
        .collect();
    let mut ocr_evidence = vec![ev(
        "OCR",
        format!(
            "{} page(s), {words} words, mean confidence {mean:.2} ({})",
            ocr.pages.len(),
            ocr.engine
        ),
    )];
    if let Some(r) = rotation.first() {
        ocr_evidence.push(ev("OCR page", r.clone()));
    }
    let poor = mean < POOR_PAGE_CONFIDENCE;
    if poor {
        ocr_evidence.push(ev(
            "OCR",
            "low confidence: the text was read poorly, confirm the class and values",
        ));
    }
    let text = ocr.text(MIN_WORD_CONFIDENCE);
    // A photo of a wound or a rash yields a few stray "words" from edges and shadows.
    let real_words = ocr
        .words()
        .filter(|w| {
            w.confidence >= MIN_WORD_CONFIDENCE
                && w.text.chars().filter(|c| c.is_alphanumeric()).count() >= 2
        })
        .count();
    if real_words < 4 {
        // No text at all: a photo stays a clinical photo, a scan stays unknown.
        let photo = c.format != Format::Pdf;
        let (class, conf) = if photo {
            (DocumentClass::ClinicalPhoto, 0.5)
        } else {
            (DocumentClass::Other, 0.1)
        };
        ocr_evidence.push(ev("OCR", "no text found"));
        ocr_evidence.retain(|e| !e.found.starts_with("low confidence"));
        c.decide(class, conf, ocr_evidence);
        return;
    }
    crate::text::extract_fields(&text, c);
    let mut line_no = 0;
    for page in &ocr.pages {
        for line in &page.lines {
            line_no += 1;
            if let Some(o) = lab_line(line) {
                match o {
                    Ok(o) if c.observations.len() < 2000 => c.observations.push(o),
                    Ok(_) => {}
                    Err(()) => c.skip(SkipCode::OcrLowConfidence, Some(line_no)),
                }
            }
        }
    }
    let (class, conf, mut why) = crate::text::decide_text(&text, c.observations.len(), model);
    // Photographs of text are only as sure as the reading: scale by the page's confidence.
    let conf = conf * mean.clamp(0.0, 1.0);
    why.splice(0..0, ocr_evidence);
    c.decide(class, conf, why);
    if class == DocumentClass::ImagingReport {
        c.modality = crate::text::modality_from_text(&text);
    }
}

/// A lab result line read by OCR. `None`: not a result line; `Err`: it is one, but a word
/// that carries its value, unit, range or flag was read with less than
/// [`MIN_VALUE_CONFIDENCE`], so nothing is extracted from it.
fn lab_line(line: &OcrLine) -> Option<Result<Observation, ()>> {
    // Every word the engine offered takes part, so a misread word cannot shift the columns;
    // adjacent Chinese words are one token (an analyte name split per character).
    let mut tokens: Vec<(String, f32)> = Vec::new();
    for w in &line.words {
        let folded = crate::rules::fold_width(&w.text);
        for (k, t) in crate::text::result_tokens(&folded).into_iter().enumerate() {
            // Engines glue stray marks to numbers ("“5.2", "。6.1"): they are not the value.
            let t = t.trim_matches(|c: char| {
                !(c.is_alphanumeric() || "<>.-/%*^()".contains(c)) || c == '。'
            });
            if t.is_empty() {
                continue;
            }
            let joins = k == 0
                && tokens.last().is_some_and(|(p, _)| {
                    p.chars().next_back().is_some_and(is_cjk)
                        && t.chars().next().is_some_and(is_cjk)
                });
            match tokens.last_mut() {
                Some((p, c)) if joins => {
                    p.push_str(t);
                    *c = c.min(w.confidence);
                }
                _ => tokens.push((t.to_string(), w.confidence)),
            }
        }
    }
    let texts: Vec<&str> = tokens.iter().map(|(t, _)| t.as_str()).collect();
    let (mut o, at) = crate::text::result_from_tokens(&texts)?;
    let conf = |i: usize| tokens.get(i).map_or(0.0, |(_, c)| *c);
    let sure = |i: usize| conf(i) >= MIN_VALUE_CONFIDENCE;
    // The analyte must be named by words read well enough (or by a whole name of five or more
    // characters from the dictionary, which a misreading does not produce by chance), and be
    // the same analyte the whole name gives: a misread word can never move a value to another
    // test.
    let name: Vec<&str> = at
        .name
        .clone()
        .filter(|&i| conf(i) >= MIN_WORD_CONFIDENCE || texts[i].chars().count() >= 5)
        .map(|i| texts[i].trim_end_matches(':'))
        .collect();
    let name = name.join(" ");
    let same_analyte = crate::labs::analyte_key(&name)
        .is_some_and(|k| Some(k) == crate::labs::analyte_key(&o.name));
    // The unit must be a known unit (a misread one is not) or surely read.
    let unit_ok = sure(at.unit) || crate::labs::known_unit(texts[at.unit]).is_some();
    if !sure(at.value) || !unit_ok || !same_analyte {
        return Some(Err(()));
    }
    // A range or flag read poorly is left out, never guessed; the value stands without it.
    if at.range.is_some_and(|i| !sure(i)) {
        o.reference_range = None;
        o.flag = None;
    }
    if at.flag.is_some_and(|i| !sure(i)) {
        o.flag = None;
    }
    // The printed range (however well read) can only veto: a value ten times outside it, or
    // a whole number outside a range written with decimals, is a lost decimal point.
    if let Some(r) = at.range.map(|i| texts[i])
        && implausible(texts[at.value], r)
    {
        return Some(Err(()));
    }
    o.name = name;
    Some(Ok(o))
}

/// Is `value` implausible against the printed reference range `range` (`3.5-5.1`)?
fn implausible(value: &str, range: &str) -> bool {
    let Ok(v) = value.parse::<f64>() else {
        return true;
    };
    let Some((lo_s, hi_s)) = range.split_once('-') else {
        return false;
    };
    let (Ok(lo), Ok(hi)) = (lo_s.trim().parse::<f64>(), hi_s.trim().parse::<f64>()) else {
        return false;
    };
    let decimals = lo_s.contains('.') && hi_s.contains('.');
    v > hi * 10.0 || v < lo / 10.0 || (decimals && !value.contains('.') && (v > hi || v < lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_decimal_points_are_caught() {
        assert!(implausible("52", "3.9-5.5"));
        assert!(implausible("68", "3.5-5.1"));
        assert!(!implausible("5.2", "3.9-5.5"));
        assert!(!implausible("139", "135-145"));
        assert!(
            !implausible("12.4", "3.9-5.5"),
            "high, but written as a lab writes it"
        );
        assert!(
            implausible("1.39", "135-145"),
            "a decimal point read into a whole number"
        );
    }

    #[test]
    fn cjk_words_join_without_spaces() {
        let l = OcrLine {
            words: ["香港", "中", "央", "醫院", "Lab", "6.8"]
                .iter()
                .map(|t| OcrWord {
                    text: t.to_string(),
                    confidence: 0.9,
                })
                .collect(),
        };
        assert_eq!(l.text(0.0), "香港中央醫院 Lab 6.8");
    }
}
