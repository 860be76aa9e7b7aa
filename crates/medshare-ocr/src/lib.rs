//! On-device OCR of photographed and scanned clinical documents, English and Chinese, on the
//! client (never on the hub): images (JPEG, PNG, TIFF, WebP) and image-only PDFs are decoded,
//! turned upright, straightened and read by Tesseract (Debian's `libtesseract` with the `eng`,
//! `chi_tra` and `chi_sim` language data) into words with confidences, which
//! `medshare-classify` then classifies ([`medshare_classify::classify_ocr`]). Native only: the
//! browser plugs tesseract.js into the same seam ([`medshare_classify::OcrText`]).
//!
//! ```no_run
//! let bytes = std::fs::read("photo-of-lab-report.jpg").unwrap();
//! // Classify as usual, and read the text when it is a photo or a scan:
//! let c = medshare_ocr::classify(&bytes);
//! println!("{} ({:.2})", c.class.category(), c.confidence);
//! // Or only the reading:
//! let text = medshare_ocr::ocr_image(&bytes).unwrap();
//! println!("{:.2}", text.mean_confidence());
//! ```
#![forbid(unsafe_code)]

pub mod engine;
mod pdf;
pub mod prepare;

use medshare_classify::ocr::{OcrLine, OcrPage, OcrText, OcrWord};
use medshare_classify::{Classification, Evidence, Options};
use std::sync::OnceLock;

/// Languages read by default: English, Traditional Chinese (Hong Kong), Simplified Chinese.
pub const DEFAULT_LANGUAGES: &str = "eng+chi_tra+chi_sim";

/// The result of reading a document: words with confidences, per page.
pub type OcrResult = OcrText;

/// A page is read again turned half round when its mean confidence is below this: an
/// upside-down page reads as confident-looking noise far less often than as low confidence.
const RETRY_BELOW: f32 = 0.60;

/// At most this many pages of a PDF are read.
pub const MAX_PAGES: usize = medshare_classify::scan::MAX_PAGES;

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// The engine or a language's data is missing on this machine.
    #[error(
        "Tesseract or its language data ({0}) is not installed: apt-get install libtesseract5 tesseract-ocr-eng tesseract-ocr-chi-tra tesseract-ocr-chi-sim"
    )]
    Engine(String),
    /// The image could not be decoded.
    #[error(transparent)]
    Image(#[from] prepare::DecodeError),
    /// The PDF could not be parsed, or its structure inflates past the bound (a PDF bomb).
    #[error(transparent)]
    Pdf(#[from] medshare_classify::scan::ScanError),
    /// The PDF holds no page image this reader decodes (its pages are JBIG2, CCITT fax or
    /// JPEG 2000 images, or larger than the limit); the number is the PDF's pages.
    #[error(
        "PDF has no page image this device decodes ({0} page(s): JBIG2, CCITT fax, JPEG 2000 or over the size limit)"
    )]
    NoPageImages(usize),
    /// Tesseract failed on the page.
    #[error("the OCR engine failed on this page")]
    Recognition,
}

/// How to read.
#[derive(Clone, Debug)]
pub struct OcrOptions {
    /// Tesseract languages, e.g. `eng` or `eng+chi_tra+chi_sim`.
    pub languages: String,
    /// Folder of the `.traineddata` files; `None`: Tesseract's own default.
    pub datapath: Option<String>,
}

impl Default for OcrOptions {
    fn default() -> Self {
        Self {
            languages: DEFAULT_LANGUAGES.into(),
            datapath: None,
        }
    }
}

/// Read an image (JPEG, PNG, TIFF, WebP) with the default languages.
pub fn ocr_image(bytes: &[u8]) -> Result<OcrResult, OcrError> {
    ocr_image_with(bytes, &OcrOptions::default())
}

/// Read an image.
pub fn ocr_image_with(bytes: &[u8], options: &OcrOptions) -> Result<OcrResult, OcrError> {
    let img = prepare::decode(bytes)?;
    let page = read_page(&img, options)?;
    Ok(OcrText {
        engine: engine_name(options),
        pages: vec![page],
    })
}

/// Read the page images of an image-only (scanned) PDF, at most [`MAX_PAGES`]. Pages that are
/// not read are left out; [`ocr_pdf_counted`] counts them.
pub fn ocr_pdf_with(bytes: &[u8], options: &OcrOptions) -> Result<OcrResult, OcrError> {
    ocr_pdf_counted(bytes, options).map(|(text, _)| text)
}

/// [`ocr_pdf_with`], and the number of the PDF's pages not read: past [`MAX_PAGES`], or with
/// an image not decoded here (JBIG2, CCITT fax, JPEG 2000, over the size limit). A PDF none of
/// whose pages can be read is [`OcrError::NoPageImages`].
pub fn ocr_pdf_counted(bytes: &[u8], options: &OcrOptions) -> Result<(OcrResult, usize), OcrError> {
    let pdf::PdfPages { images, unread } = pdf::page_images_decoded(bytes, MAX_PAGES)?;
    if images.is_empty() {
        return Err(OcrError::NoPageImages(unread));
    }
    let mut pages = Vec::new();
    for img in &images {
        pages.push(read_page(img, options)?);
    }
    let text = OcrText {
        engine: engine_name(options),
        pages,
    };
    Ok((text, unread))
}

/// Read an image or an image-only PDF, whichever `bytes` is.
pub fn ocr_with(bytes: &[u8], options: &OcrOptions) -> Result<OcrResult, OcrError> {
    if medshare_classify::detect(bytes) == medshare_classify::Format::Pdf {
        ocr_pdf_with(bytes, options)
    } else {
        ocr_image_with(bytes, options)
    }
}

/// Classify a document from its bytes; when it is a photo or a scan
/// ([`medshare_classify::needs_ocr`]), read it first and classify what was read. When reading
/// fails, the classification without OCR is returned with an evidence line saying why.
pub fn classify(bytes: &[u8]) -> Classification {
    classify_with(bytes, &OcrOptions::default(), &Options::default())
}

/// [`classify`] with options.
pub fn classify_with(bytes: &[u8], ocr: &OcrOptions, options: &Options) -> Classification {
    let c = medshare_classify::classify_with(bytes, options);
    read_if_needed(bytes, c, ocr, options)
}

/// Given the classification of `bytes` without OCR, read them when they are a photo or a scan
/// and return the classification of what was read; anything else is returned as it was.
pub fn read_if_needed(
    bytes: &[u8],
    mut c: Classification,
    ocr: &OcrOptions,
    options: &Options,
) -> Classification {
    if !medshare_classify::needs_ocr(&c) {
        return c;
    }
    let read = if c.format == medshare_classify::Format::Pdf {
        ocr_pdf_counted(bytes, ocr)
    } else {
        ocr_image_with(bytes, ocr).map(|text| (text, 0))
    };
    match read {
        Ok((text, unread)) => {
            let mut c = medshare_classify::classify_ocr(bytes, &text, options);
            medshare_classify::ocr::note_unread_pages(&mut c, unread);
            c
        }
        Err(e) => {
            // The error names the failure, never content; nothing was read, so the class
            // (from the file alone) is low confidence.
            c.evidence.push(Evidence {
                source: "OCR".into(),
                found: format!("not read: {e}"),
            });
            c.confidence = c.confidence.min(medshare_classify::LOW_CONFIDENCE);
            c.low_confidence = true;
            c
        }
    }
}

fn engine_name(options: &OcrOptions) -> String {
    static VERSION: OnceLock<String> = OnceLock::new();
    let v = VERSION.get_or_init(|| {
        tesseract::plumbing::version()
            .to_str()
            .unwrap_or("?")
            .to_string()
    });
    format!("tesseract {v} {}", options.languages)
}

/// Prepare one page and read it. A poorly read page is read again turned half round, then
/// a quarter either way (the profile cannot tell upside down, and can be fooled by tables);
/// the best reading wins.
fn read_page(img: &image::DynamicImage, options: &OcrOptions) -> Result<OcrPage, OcrError> {
    let p = prepare::prepare(img);
    let mut best = recognise(&p.image, options)?;
    best.rotation = p.rotation;
    best.skew_degrees = p.skew_degrees;
    for turn in [180u16, 90, 270] {
        if mean(&best) >= RETRY_BELOW {
            break;
        }
        let turned = match turn {
            180 => image::imageops::rotate180(&p.image),
            90 => image::imageops::rotate90(&p.image),
            _ => image::imageops::rotate270(&p.image),
        };
        let mut again = recognise(&turned, options)?;
        if mean(&again) > mean(&best) {
            again.rotation = (p.rotation + turn) % 360;
            again.skew_degrees = p.skew_degrees;
            best = again;
        }
    }
    Ok(best)
}

fn mean(p: &OcrPage) -> f32 {
    OcrText {
        engine: String::new(),
        pages: vec![p.clone()],
    }
    .mean_confidence()
}

/// Tesseract on one grey page; words and confidences from its TSV output. The engine (its
/// language models loaded) is taken from the process's [`engine`] pool and given back after.
fn recognise(g: &image::GrayImage, options: &OcrOptions) -> Result<OcrPage, OcrError> {
    let (w, h) = g.dimensions();
    let engine = engine::take(options)?;
    let mut t = engine
        .set_frame(g.as_raw(), w as i32, h as i32, 1, w as i32)
        .map_err(|_| OcrError::Recognition)?
        .set_source_resolution(300)
        .recognize()
        .map_err(|_| OcrError::Recognition)?;
    let tsv = t.get_tsv_text(0).map_err(|_| OcrError::Recognition)?;
    engine::give_back(options, t);
    Ok(parse_tsv(&tsv))
}

/// Tesseract's TSV: level, page, block, paragraph, line, word, left, top, width, height,
/// confidence (0-100), text. Level 5 rows are words.
fn parse_tsv(tsv: &str) -> OcrPage {
    let mut page = OcrPage::default();
    let mut key = None;
    for row in tsv.lines() {
        let f: Vec<&str> = row.split('\t').collect();
        if f.len() < 12 || f[0] != "5" {
            continue;
        }
        let text = f[11].trim();
        if text.is_empty() {
            continue;
        }
        let confidence = f[10].parse::<f32>().unwrap_or(0.0).clamp(0.0, 100.0) / 100.0;
        let k = (f[1], f[2], f[3], f[4]);
        if key != Some(k) {
            page.lines.push(OcrLine::default());
            key = Some(k);
        }
        if let Some(line) = page.lines.last_mut() {
            line.words.push(OcrWord {
                text: text.to_string(),
                confidence,
            });
        }
    }
    page
}

#[cfg(test)]
mod tests {
    #[test]
    fn tsv_rows_become_lines_of_words() {
        let tsv = "1\t1\t0\t0\t0\t0\t0\t0\t10\t10\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t96.5\tPotassium\n\
                   5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t91\t6.8\n\
                   5\t1\t1\t1\t2\t1\t0\t0\t10\t10\t12\tmmol/L\n";
        let p = super::parse_tsv(tsv);
        assert_eq!(p.lines.len(), 2);
        assert_eq!(p.lines[0].words[1].text, "6.8");
        assert!((p.lines[0].words[0].confidence - 0.965).abs() < 1e-6);
        assert!((p.lines[1].words[0].confidence - 0.12).abs() < 1e-6);
    }
}
