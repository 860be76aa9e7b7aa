//! The wasm-bindgen surface of on-device classification for the web app: a second WebAssembly
//! module, apart from the client core (`medshare-wasm`), that the worker loads only when the
//! user first picks a file to upload. Conversions only: the logic is `medshare-client`'s
//! `intake::classify_prefix`, the CLI's own step, and for photos and scans read on the device
//! `medshare_classify::classify_ocr` (`ocr.rs`), the seam the CLI's OCR uses.
//!
//! Classification carries the parsers of every format a document may come in (PDF with its
//! font encodings, DICOM with its data dictionary and character sets, DOCX, HL7, FHIR, EXIF):
//! about as much code and data as the rest of the core, none of it needed to log in, read a
//! timeline or open a document. Keeping it out of the core halves what every visit downloads
//! and compiles.
//!
//! ```ignore
//! // worker.ts
//! const json = classify(prefix, file.size); // the Classification, as JSON
//! core.intake(key, json, file.name);        // the core keeps it for the upload
//! ```
#![forbid(unsafe_code)]

mod ocr;
mod scan;

use wasm_bindgen::prelude::*;

pub use ocr::*;
pub use scan::*;

/// An error named like the core's (`Error.name` is the kind the app translates).
fn invalid(msg: &str) -> JsValue {
    let err = js_sys::Error::new(msg);
    err.set_name("invalid");
    err.into()
}

/// Classify a file on this device from its first bytes (`total_len` is the whole size: a
/// classification from a cut prefix says so). Returns the `Classification` as JSON, which the
/// worker hands unchanged to the core's `Core::intake`; it is health information and stays in
/// the worker.
#[wasm_bindgen]
pub fn classify(prefix: &[u8], total_len: f64) -> Result<String, JsValue> {
    let c = medshare_client::intake::classify_prefix(prefix, total_len as u64);
    serde_json::to_string(&c)
        .map_err(|_| invalid("the classification cannot be handed to the core"))
}
