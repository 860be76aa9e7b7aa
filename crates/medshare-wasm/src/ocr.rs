//! Photographed and scanned paper in the browser: the page is read on the device by
//! tesseract.js in its own worker (the app's `web/src/ocr/`), and its words with their
//! confidences come here to be classified through the same seam the native `medshare-ocr`
//! uses (`medshare_classify::ocr::classify_ocr`): the same class rules, the same strict rules
//! for lab values read by OCR (a poorly read value is skipped, never guessed), the same
//! low-confidence marking. Conversions only; the OCR engine never runs in the client core.

use crate::{Core, IntakeView, invalid, ts};
use medshare_classify::ocr::{OcrLine, OcrPage, OcrText, OcrWord};
use medshare_classify::{SkipCode, Skipped};
use medshare_client::intake::{Intake, MAX_CLASSIFY_BYTES};
use serde::{Deserialize, Serialize};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

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

/// What classifying a file's OCR reading found: the usual intake view, plus how well the page
/// was read, for the app to say so.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct OcrIntakeView {
    pub intake: IntakeView,
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
    fn into_text(self) -> Result<OcrText, JsValue> {
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
        Ok(OcrText {
            engine: self.engine,
            pages,
        })
    }
}

#[wasm_bindgen]
impl Core {
    /// Whether the file classified under `key` is a photo or a scan whose class is only a guess
    /// until it is read (an image, or a PDF without a text layer).
    pub fn needs_ocr(&self, key: String) -> Result<bool, JsValue> {
        let s = self.state.borrow();
        let intake = s.intakes.get(&key).ok_or_else(|| invalid("no such file"))?;
        Ok(medshare_classify::needs_ocr(intake.classification()))
    }

    /// Classify a photo or scan from its first bytes (format, EXIF date) and what the browser's
    /// OCR engine read from it, and keep it under `key` in place of its classification without
    /// OCR, as [`Core::classify`] does.
    pub fn classify_ocr(
        &self,
        key: String,
        prefix: Vec<u8>,
        total_len: f64,
        file_name: String,
        reading: Ts<OcrReading>,
    ) -> Result<Ts<OcrIntakeView>, JsValue> {
        let text = reading
            .to_rust()
            .map_err(|_| invalid("the OCR reading is malformed"))?
            .into_text()?;
        let prefix = &prefix[..prefix.len().min(MAX_CLASSIFY_BYTES as usize)];
        let mut c = medshare_classify::classify_ocr(prefix, &text, &Default::default());
        if total_len > prefix.len() as f64 {
            c.skipped.push(Skipped {
                code: SkipCode::Truncated,
                at: Some(prefix.len()),
            });
        }
        let view = OcrIntakeView {
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
            intake: IntakeView::of(&Intake::new(c.clone(), file_name.clone())),
        };
        self.state
            .borrow_mut()
            .intakes
            .insert(key, Intake::new(c, file_name));
        ts(&view)
    }
}
