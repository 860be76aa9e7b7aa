//! The page images of a scanned PDF (`lopdf`): scanners and phone scanning apps store one
//! image per page, JPEG (`DCTDecode`) or deflated pixels (`FlateDecode`, grey or RGB, 8 bits or
//! 1 bit). Each page's largest image is the page. Other encodings (JBIG2, CCITT fax, JPEG 2000)
//! are not decoded: such a page is skipped, and a PDF with no readable page says so.

use crate::OcrError;
use image::{DynamicImage, GrayImage, RgbImage};
use lopdf::{Document, Object};

pub(crate) fn page_images(bytes: &[u8], max_pages: usize) -> Result<Vec<DynamicImage>, OcrError> {
    let doc = Document::load_mem(bytes).map_err(|_| OcrError::Pdf)?;
    let mut out = Vec::new();
    for (_, page_id) in doc.get_pages().into_iter().take(max_pages) {
        let Ok(images) = doc.get_page_images(page_id) else {
            continue;
        };
        let Some(img) = images.iter().max_by_key(|i| i.width * i.height) else {
            continue;
        };
        if let Some(decoded) = decode(&doc, img) {
            out.push(decoded);
        }
    }
    Ok(out)
}

fn decode(doc: &Document, img: &lopdf::xobject::PdfImage<'_>) -> Option<DynamicImage> {
    let filters = img.filters.clone().unwrap_or_default();
    if filters.iter().any(|f| f == "DCTDecode") {
        return crate::prepare::decode(img.content).ok();
    }
    let (w, h) = (
        u32::try_from(img.width).ok()?,
        u32::try_from(img.height).ok()?,
    );
    if u64::from(w) * u64::from(h) > 100_000_000 {
        return None;
    }
    let data = match filters.as_slice() {
        [] => img.content.to_vec(),
        [f] if f == "FlateDecode" => match doc.get_object(img.id) {
            Ok(Object::Stream(s)) => s.decompressed_content().ok()?,
            _ => return None,
        },
        _ => return None,
    };
    let bits = img.bits_per_component.unwrap_or(8);
    let space = img.color_space.as_deref().unwrap_or("DeviceGray");
    match (space, bits) {
        ("DeviceGray", 8) => GrayImage::from_raw(w, h, data.get(..(w * h) as usize)?.to_vec())
            .map(DynamicImage::ImageLuma8),
        ("DeviceRGB", 8) => RgbImage::from_raw(w, h, data.get(..(w * h * 3) as usize)?.to_vec())
            .map(DynamicImage::ImageRgb8),
        ("DeviceGray", 1) => {
            // One bit per pixel, rows padded to whole bytes, 0 = black.
            let row = w.div_ceil(8) as usize;
            if data.len() < row * h as usize {
                return None;
            }
            let g = GrayImage::from_fn(w, h, |x, y| {
                let byte = data[y as usize * row + (x / 8) as usize];
                let bit = (byte >> (7 - (x % 8))) & 1;
                image::Luma([if bit == 1 { 255 } else { 0 }])
            });
            Some(DynamicImage::ImageLuma8(g))
        }
        _ => None,
    }
}
