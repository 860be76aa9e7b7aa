//! The page images of a scanned PDF, taken out by `medshare_classify::scan` (the same code the
//! browser's OCR uses, so both read the same pages) and decoded here: JPEG by `image`, grey and
//! RGB pixels as they are. A page whose image is not decoded (JBIG2, CCITT fax, JPEG 2000, over
//! `scan::MAX_PAGE_PIXELS`, a damaged JPEG) or past `scan::MAX_PAGES` is counted as unread, and
//! the classification says so ([`medshare_classify::ocr::note_unread_pages`]).

use crate::OcrError;
use image::{DynamicImage, GrayImage, RgbImage};
use medshare_classify::scan::{PagePixels, ScannedPdf};

/// The decoded page images (in page order) and the number of pages not read.
pub(crate) struct PdfPages {
    pub images: Vec<DynamicImage>,
    pub unread: usize,
}

pub(crate) fn page_images_decoded(bytes: &[u8], max_pages: usize) -> Result<PdfPages, OcrError> {
    let pdf = ScannedPdf::parse(bytes)?;
    let images: Vec<DynamicImage> = (0..pdf.pages_to_read().min(max_pages))
        .filter_map(|i| pdf.page_image(i))
        .filter_map(|p| match p.pixels {
            PagePixels::Jpeg(jpeg) => crate::prepare::decode(&jpeg).ok(),
            PagePixels::Gray(g) => {
                GrayImage::from_raw(p.width, p.height, g).map(DynamicImage::ImageLuma8)
            }
            PagePixels::Rgb(rgb) => {
                RgbImage::from_raw(p.width, p.height, rgb).map(DynamicImage::ImageRgb8)
            }
        })
        .collect();
    Ok(PdfPages {
        unread: pdf.page_count().saturating_sub(images.len()),
        images,
    })
}
