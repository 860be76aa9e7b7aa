//! Photographed and scanned paper in the browser: whether a file must be read on the device
//! (by tesseract.js, the app's `web/src/ocr/`) before its class means anything. Classifying what
//! was read is the classification module's (`medshare-wasm-classify`, `classify_ocr`), loaded
//! on the first upload like the rest of classification; its result comes back through
//! [`Core::intake`] as for any other file. Only the format check lives here: it reads fields of
//! the classification the core already holds and adds no document parser to the core.

use crate::{Core, invalid};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl Core {
    /// Whether the file classified under `key` is a photo or a scan whose class is only a guess
    /// until it is read (an image, or a PDF without a text layer).
    pub fn needs_ocr(&self, key: String) -> Result<bool, JsValue> {
        let s = self.state.borrow();
        let intake = s.intakes.get(&key).ok_or_else(|| invalid("no such file"))?;
        Ok(medshare_classify::needs_ocr(intake.classification()))
    }
}
