//! Photographed and scanned paper in the browser: the page is read on the device by
//! tesseract.js in its own worker (the app's `web/src/ocr/`), and its words with their
//! confidences come here to be classified through the same seam the native `medshare-ocr`
//! uses (`medshare_classify::ocr::classify_ocr`): the same class rules, the same strict rules
//! for lab values read by OCR (a poorly read value is skipped, never guessed), the same
//! low-confidence marking. Conversions only; the OCR engine never runs in WebAssembly.
//!
//! The result carries the `Classification` as JSON, which the worker hands unchanged to the
//! core's `Core::intake` as for any other file, and how well the page was read, for the app to
//! say so.

use medshare_classify::ocr::{OcrLine, OcrPage, OcrText, OcrWord};
use medshare_classify::{SkipCode, Skipped};
use medshare_client::intake::MAX_CLASSIFY_BYTES;
use serde::{Deserialize, Serialize};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use crate::invalid;

/// Most pages one reading may carry (a phone photo is one; a scanned letter a few).
const MAX_PAGES: usize = 50;
/// Most words one reading may carry (a dense A4 page has about a thousand).
const MAX_WORDS: usize = 200_000;

/// What the browser's OCR engine read from one file, page by page.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct OcrReading {
    /// Engine and language data, e.g. `tesseract.js 7.0.0 eng+chi_tra+chi_sim`.
    pub engine: String,
    pub pages: Vec<OcrReadingPage>,
    /// Pages of a scanned PDF that were not read: past the first `scan::MAX_PAGES`, or with an
    /// image this device does not decode (said in the evidence).
    #[serde(default)]
    pub pages_unread: u32,
}

/// One page, after the app turned it upright.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct OcrReadingPage {
    /// Clockwise quarter turns applied (0, 90, 180, 270).
    pub rotation: u16,
    /// Skew the engine removed, degrees (counter-clockwise positive).
    pub skew_degrees: f32,
    /// Lines in reading order, each a list of words.
    pub lines: Vec<Vec<OcrReadingWord>>,
}

/// One word and the engine's confidence in it, 0..=1.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct OcrReadingWord {
    pub text: String,
    pub confidence: f32,
}

/// What classifying a file's OCR reading found.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct OcrClassified {
    /// The `Classification` as JSON, for the core's `Core::intake` (health information: it
    /// stays in the worker).
    pub classification: String,
    /// The class (and the values) rest on weak evidence or a poor reading: ask the user to
    /// confirm them.
    pub low_confidence: bool,
    /// Mean word confidence, 0..=1.
    pub mean_confidence: f32,
    pub words: u32,
    /// Lab lines left out because a value, unit or analyte was not read surely.
    pub skipped_lines: u32,
    /// The evidence lines, strongest first (`OCR: 1 page(s), 212 words, ...`).
    pub evidence: Vec<String>,
}

impl OcrReading {
    fn into_text(self) -> Result<(OcrText, u32), JsValue> {
        let words: usize = self
            .pages
            .iter()
            .flat_map(|p| p.lines.iter())
            .map(Vec::len)
            .sum();
        if self.pages.len() > MAX_PAGES || words > MAX_WORDS {
            return Err(invalid("the OCR reading is too large"));
        }
        let pages = self
            .pages
            .into_iter()
            .map(|p| OcrPage {
                rotation: p.rotation % 360,
                skew_degrees: if p.skew_degrees.is_finite() {
                    p.skew_degrees
                } else {
                    0.0
                },
                lines: p
                    .lines
                    .into_iter()
                    .map(|l| OcrLine {
                        words: l
                            .into_iter()
                            .map(|w| OcrWord {
                                text: w.text,
                                // An engine's confidence out of range (or NaN) counts as unread.
                                confidence: if w.confidence.is_finite() {
                                    w.confidence.clamp(0.0, 1.0)
                                } else {
                                    0.0
                                },
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        Ok((
            OcrText {
                engine: self.engine,
                pages,
            },
            self.pages_unread,
        ))
    }
}

/// Classify a photo or scan from its first bytes (format, EXIF date; `total_len` is the whole
/// size) and what the browser's OCR engine read from it.
fn classify_reading(
    prefix: &[u8],
    total_len: f64,
    reading: OcrReading,
) -> Result<OcrClassified, JsValue> {
    let (text, unread) = reading.into_text()?;
    let prefix = &prefix[..prefix.len().min(MAX_CLASSIFY_BYTES as usize)];
    let mut c = medshare_classify::classify_ocr(prefix, &text, &Default::default());
    // Said in the evidence, and the result marked low confidence (the same as natively).
    medshare_classify::ocr::note_unread_pages(&mut c, unread as usize);
    if total_len > prefix.len() as f64 {
        c.skipped.push(Skipped {
            code: SkipCode::Truncated,
            at: Some(prefix.len()),
        });
    }
    Ok(OcrClassified {
        classification: serde_json::to_string(&c)
            .map_err(|_| invalid("the classification cannot be handed to the core"))?,
        low_confidence: c.low_confidence,
        mean_confidence: text.mean_confidence(),
        words: text.word_count() as u32,
        skipped_lines: c
            .skipped
            .iter()
            .filter(|s| s.code == SkipCode::OcrLowConfidence)
            .count() as u32,
        evidence: c
            .evidence
            .iter()
            .map(|e| format!("{}: {}", e.source, e.found))
            .collect(),
    })
}

/// Classify a photo or scan from its first bytes and what the browser's OCR engine read from
/// it. The worker hands `classification` to `Core::intake`, in place of the file's
/// classification without OCR.
#[wasm_bindgen]
pub fn classify_ocr(
    prefix: &[u8],
    total_len: f64,
    reading: Ts<OcrReading>,
) -> Result<Ts<OcrClassified>, JsValue> {
    let reading = reading
        .to_rust()
        .map_err(|_| invalid("the OCR reading is malformed"))?;
    let done = classify_reading(prefix, total_len, reading)?;
    Ts::from_rust(&done).map_err(|_| invalid("a value could not be handed to the app"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_classify::{Classification, DocumentClass};

    fn line(words: &[(&str, f32)]) -> Vec<OcrReadingWord> {
        words
            .iter()
            .map(|(t, c)| OcrReadingWord {
                text: t.to_string(),
                confidence: *c,
            })
            .collect()
    }

    fn reading() -> OcrReading {
        OcrReading {
            engine: "tesseract.js test".into(),
            pages: vec![OcrReadingPage {
                rotation: 450,
                skew_degrees: f32::NAN,
                lines: vec![
                    line(&[("LABORATORY", 0.95), ("REPORT", 0.96)]),
                    line(&[
                        ("Potassium", 0.93),
                        ("6.8", 0.94),
                        ("mmol/L", 0.9),
                        ("3.5-5.1", 0.9),
                        ("H", 0.9),
                    ]),
                    line(&[("Sodium", 0.93), ("139", 0.45), ("mmol/L", f32::NAN)]),
                ],
            }],
            pages_unread: 0,
        }
    }

    #[test]
    fn a_reading_becomes_a_classification_for_the_core() {
        let done = classify_reading(b"", 0.0, reading()).unwrap();
        let c: Classification = serde_json::from_str(&done.classification).unwrap();
        assert_eq!(c.class, DocumentClass::LabReport);
        assert_eq!(
            c.observations.len(),
            1,
            "the unreadable sodium is not guessed"
        );
        assert_eq!(done.skipped_lines, 1);
        assert_eq!(done.words, 10);
        assert!(done.mean_confidence > 0.0 && done.mean_confidence < 1.0);
        assert!(!c.skipped.iter().any(|s| s.code == SkipCode::Truncated));
        assert!(done.evidence.iter().any(|e| e.starts_with("OCR")));
    }

    #[test]
    fn unread_pages_of_a_scan_are_said() {
        let done = classify_reading(b"", 0.0, reading()).unwrap();
        assert!(!done.evidence.iter().any(|e| e.contains("not read")));
        let mut r = reading();
        r.pages_unread = 3;
        let done = classify_reading(b"", 0.0, r).unwrap();
        assert!(
            done.evidence
                .iter()
                .any(|e| e.starts_with("OCR: 3 page(s) not read")),
            "{:?}",
            done.evidence
        );
        assert!(
            done.low_confidence,
            "a reading missing pages is confirmed by the doctor"
        );
    }

    #[test]
    fn a_cut_prefix_is_marked_truncated() {
        let done = classify_reading(b"", 1e6, reading()).unwrap();
        let c: Classification = serde_json::from_str(&done.classification).unwrap();
        assert!(c.skipped.iter().any(|s| s.code == SkipCode::Truncated));
    }
}
