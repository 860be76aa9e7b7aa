//! The page images of a scanned PDF, taken out by `medshare_classify::scan` (the same code the
//! browser's OCR uses, so both read the same pages) and decoded here: JPEG by `image`, grey and
//! RGB pixels as they are. A page whose image is not decoded (JBIG2, CCITT fax, JPEG 2000, over
//! `scan::MAX_PAGE_PIXELS`) is skipped, and a PDF with no readable page says so.

use crate::OcrError;
use image::{DynamicImage, GrayImage, RgbImage};
use medshare_classify::scan::{PagePixels, page_images};

pub(crate) fn page_images_decoded(
    bytes: &[u8],
    max_pages: usize,
) -> Result<Vec<DynamicImage>, OcrError> {
    let pages = page_images(bytes, max_pages).map_err(|_| OcrError::Pdf)?;
    Ok(pages
        .into_iter()
        .filter_map(|p| match p.pixels {
            PagePixels::Jpeg(jpeg) => crate::prepare::decode(&jpeg).ok(),
            PagePixels::Gray(g) => {
                GrayImage::from_raw(p.width, p.height, g).map(DynamicImage::ImageLuma8)
            }
            PagePixels::Rgb(rgb) => {
                RgbImage::from_raw(p.width, p.height, rgb).map(DynamicImage::ImageRgb8)
            }
        })
        .collect())
}
