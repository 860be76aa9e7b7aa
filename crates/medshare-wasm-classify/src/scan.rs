//! Scanned PDFs in the browser: the page images of an image-only PDF, taken out by
//! `medshare_classify::scan` (the native OCR's own code, so both read the same pages), one page a
//! call, for the app to draw and hand to its OCR engine (`web/src/ocr/scan.ts`). A JPEG page is
//! handed over as the JPEG (the browser decodes it); grey and RGB pages as pixels. Conversions
//! only.
//!
//! Bounds: the PDF at most `MAX_CLASSIFY_BYTES` (what the worker reads of any file), the first
//! `scan::MAX_PAGES` pages, `scan::MAX_PAGE_PIXELS` a page. One page is decoded at a time, so a
//! long scan does not hold every page in memory at once.

use medshare_classify::scan::{PagePixels, ScannedPdf};
use medshare_client::intake::MAX_CLASSIFY_BYTES;
use wasm_bindgen::prelude::*;

use crate::invalid;

/// One page of a scanned PDF, as handed to the app.
#[wasm_bindgen(getter_with_clone)]
pub struct ScannedPage {
    /// Pages in the document.
    pub pages: u32,
    /// Pages that will be read: the first `scan::MAX_PAGES`.
    pub readable: u32,
    /// `jpeg` (a JPEG file for the browser's decoder), `gray` (a byte a pixel), `rgb` (three)
    /// or `none` (this page has no image decoded here: JBIG2, CCITT, JPEG 2000, too large).
    pub kind: String,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// The image of page `index` (from 0) of the scanned PDF `pdf`, with the document's page count.
#[wasm_bindgen]
pub fn scanned_page(pdf: &[u8], index: u32) -> Result<ScannedPage, JsValue> {
    if pdf.len() as u64 > MAX_CLASSIFY_BYTES {
        return Err(invalid("the scan is too large to read on this device"));
    }
    let doc = ScannedPdf::parse(pdf).map_err(|_| invalid("the PDF could not be read"))?;
    Ok(page(&doc, index as usize))
}

fn page(doc: &ScannedPdf, index: usize) -> ScannedPage {
    let (kind, width, height, data) = match doc.page_image(index) {
        None => ("none", 0, 0, Vec::new()),
        Some(p) => {
            let (kind, data) = match p.pixels {
                PagePixels::Jpeg(d) => ("jpeg", d),
                PagePixels::Gray(d) => ("gray", d),
                PagePixels::Rgb(d) => ("rgb", d),
            };
            (kind, p.width, p.height, data)
        }
    };
    ScannedPage {
        pages: doc.page_count() as u32,
        readable: doc.pages_to_read() as u32,
        kind: kind.into(),
        width,
        height,
        data,
    }
}
