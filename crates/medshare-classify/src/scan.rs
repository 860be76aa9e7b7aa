//! The page images of a scanned (image-only) PDF, for an OCR engine to read: scanners, phone
//! scanning apps and `img2pdf` store one image per page, JPEG (`DCTDecode`) or deflated pixels
//! (`FlateDecode`, grey or RGB, 8 bits, or 1 bit grey). Each page's largest image is the page.
//! Other encodings (JBIG2, CCITT fax, JPEG 2000, indexed colours) are not decoded: such a page
//! has no image here, and the reader says so.
//!
//! Shared by the native OCR (`medshare-ocr`, which decodes the JPEG itself) and the browser's
//! (`medshare-wasm-classify`, which hands the JPEG to the browser's own decoder), so both read
//! the same pages. No I/O; builds for wasm.
//!
//! ```no_run
//! # fn main() -> Result<(), medshare_classify::scan::ScanError> {
//! let bytes = std::fs::read("scanned-referral.pdf").unwrap();
//! let pdf = medshare_classify::scan::ScannedPdf::parse(&bytes)?;
//! for i in 0..pdf.pages_to_read() {
//!     if let Some(page) = pdf.page_image(i) {
//!         println!("page {}: {} x {}", i + 1, page.width, page.height);
//!     }
//! }
//! # Ok(()) }
//! ```

use lopdf::{Document, Object, ObjectId};

/// At most this many pages of a scanned PDF are read (a referral letter is one or two; a
/// discharge summary a few). Pages past it are counted, not read.
pub const MAX_PAGES: usize = 20;

/// Largest page image decoded, in pixels: an A4 page scanned at 600 dpi is 34.8 million. A
/// larger image is not decoded (its page is unread), which bounds the memory one page takes
/// (one byte a pixel grey, three RGB; four in a browser's canvas).
pub const MAX_PAGE_PIXELS: u64 = 40_000_000;

/// Why a scanned PDF could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScanError {
    #[error("PDF could not be read")]
    Pdf,
    /// Its compressed cross-reference inflates past [`crate::MAX_PDF_INFLATED`].
    #[error(transparent)]
    Bomb(crate::PdfError),
}

/// A page image as the PDF stores it, or decoded to 8-bit pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PagePixels {
    /// A JPEG file (baseline or progressive; grey, RGB or CMYK), for an image decoder.
    Jpeg(Vec<u8>),
    /// One byte a pixel, rows top to bottom, 0 black.
    Gray(Vec<u8>),
    /// Three bytes a pixel (R, G, B), rows top to bottom.
    Rgb(Vec<u8>),
}

/// One page's image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageImage {
    pub width: u32,
    pub height: u32,
    pub pixels: PagePixels,
}

/// A parsed PDF whose pages are to be read by OCR.
pub struct ScannedPdf {
    doc: Document,
    pages: Vec<ObjectId>,
}

impl ScannedPdf {
    pub fn parse(bytes: &[u8]) -> Result<Self, ScanError> {
        // Bounded (`pdf_load`): object streams past the bound are left out, and their pages
        // with them (counted as unread only if the page tree outside them lists them).
        let doc = match crate::pdf_load::load(bytes) {
            Ok(loaded) => loaded.doc,
            Err(e @ crate::PdfError::Bomb) => return Err(ScanError::Bomb(e)),
            Err(_) => return Err(ScanError::Pdf),
        };
        let pages = doc.get_pages().into_values().collect();
        Ok(Self { doc, pages })
    }

    /// Pages in the document.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Pages to read: the first [`MAX_PAGES`].
    pub fn pages_to_read(&self) -> usize {
        self.pages.len().min(MAX_PAGES)
    }

    /// The image of page `index` (from 0), or `None` when the page has no image this module
    /// decodes (see the module's documentation) or is past [`MAX_PAGES`].
    pub fn page_image(&self, index: usize) -> Option<PageImage> {
        if index >= MAX_PAGES {
            return None;
        }
        let page = *self.pages.get(index)?;
        let images = self.doc.get_page_images(page).ok()?;
        let img = images
            .iter()
            .max_by_key(|i| i.width.saturating_mul(i.height))?;
        decode(&self.doc, img)
    }
}

/// The images of the first `max_pages` pages that have one (at most [`MAX_PAGES`]).
pub fn page_images(bytes: &[u8], max_pages: usize) -> Result<Vec<PageImage>, ScanError> {
    let pdf = ScannedPdf::parse(bytes)?;
    Ok((0..pdf.pages_to_read().min(max_pages))
        .filter_map(|i| pdf.page_image(i))
        .collect())
}

/// Components of a colour space: `DeviceGray` 1, `DeviceRGB` 3, an ICC-based space its `N`.
fn components(doc: &Document, dict: &lopdf::Dictionary) -> Option<u32> {
    let space = match dict.get(b"ColorSpace") {
        Err(_) => return Some(1), // an image mask, or grey by default
        Ok(Object::Reference(id)) => doc.get_object(*id).ok()?,
        Ok(o) => o,
    };
    match space {
        Object::Name(n) if n == b"DeviceGray" || n == b"CalGray" => Some(1),
        Object::Name(n) if n == b"DeviceRGB" || n == b"CalRGB" => Some(3),
        Object::Array(a) if a.first().and_then(|o| o.as_name().ok()) == Some(b"ICCBased") => {
            let profile = doc.get_object(a.get(1)?.as_reference().ok()?).ok()?;
            match profile
                .as_stream()
                .ok()?
                .dict
                .get(b"N")
                .ok()?
                .as_i64()
                .ok()?
            {
                1 => Some(1),
                3 => Some(3),
                _ => None,
            }
        }
        Object::Array(a) => match a.first().and_then(|o| o.as_name().ok()) {
            Some(b"CalGray") => Some(1),
            Some(b"CalRGB") => Some(3),
            _ => None,
        },
        _ => None,
    }
}

fn decode(doc: &Document, img: &lopdf::xobject::PdfImage<'_>) -> Option<PageImage> {
    let (width, height) = (
        u32::try_from(img.width).ok()?,
        u32::try_from(img.height).ok()?,
    );
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 || pixels > MAX_PAGE_PIXELS {
        return None;
    }
    let stream = match doc.get_object(img.id) {
        Ok(Object::Stream(s)) => s,
        _ => return None,
    };
    let filters = img.filters.clone().unwrap_or_default();
    let page = |pixels| {
        Some(PageImage {
            width,
            height,
            pixels,
        })
    };
    // JPEG, possibly deflated once more (`[/FlateDecode /DCTDecode]`).
    match filters
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        // An empty stream is no JPEG (found by fuzzing): the page is unread, not handed on.
        ["DCTDecode"] if img.content.is_empty() => return None,
        ["DCTDecode"] => return page(PagePixels::Jpeg(img.content.to_vec())),
        ["FlateDecode", "DCTDecode"] => {
            if !inflates_within(&stream.content, MAX_PAGE_PIXELS * 3) {
                return None;
            }
            let mut s = stream.clone();
            s.dict.set("Filter", Object::Name(b"FlateDecode".to_vec()));
            let jpeg = s.decompressed_content().ok()?;
            if jpeg.is_empty() {
                return None;
            }
            return page(PagePixels::Jpeg(jpeg));
        }
        [] | ["FlateDecode"] => {}
        _ => return None,
    }
    let bits = img.bits_per_component.unwrap_or(8);
    let channels = components(doc, &stream.dict)?;
    let data = if filters.is_empty() {
        img.content.to_vec()
    } else {
        // Rows of whole bytes, each with a predictor's tag byte, and some slack: a stream that
        // inflates to more is not a page image (or a bomb) and is not inflated.
        let row = (u64::from(width) * u64::from(channels) * bits.clamp(1, 16) as u64).div_ceil(8);
        if !inflates_within(&stream.content, (row + 1) * u64::from(height) + 4096) {
            return None;
        }
        stream.decompressed_content().ok()?
    };
    let (w, h) = (width as usize, height as usize);
    match (channels, bits) {
        (1, 8) => page(PagePixels::Gray(data.get(..w * h)?.to_vec())),
        (3, 8) => page(PagePixels::Rgb(data.get(..w * h * 3)?.to_vec())),
        (1, 1) => {
            // One bit a pixel, rows padded to whole bytes, 0 black (the default `Decode`; an
            // image mask paints its 0 bits, black on white paper, the same).
            let row = w.div_ceil(8);
            let data = data.get(..row * h)?;
            let mut grey = Vec::with_capacity(w * h);
            for r in data.chunks_exact(row) {
                grey.extend((0..w).map(|x| {
                    if (r[x / 8] >> (7 - (x % 8))) & 1 == 1 {
                        255
                    } else {
                        0
                    }
                }));
            }
            page(PagePixels::Gray(grey))
        }
        _ => None,
    }
}

/// Whether the zlib stream `data` inflates to at most `limit` bytes (read and thrown away, so
/// an inflated size is known before the page's bytes are held). As `lopdf`, a stream with a bad
/// zlib header or checksum is tried as raw deflate.
fn inflates_within(data: &[u8], limit: u64) -> bool {
    use flate2::read::{DeflateDecoder, ZlibDecoder};
    use std::io::{Read, copy, sink};
    let within = |r: &mut dyn Read| copy(&mut r.take(limit + 1), &mut sink()).map(|n| n <= limit);
    match within(&mut ZlibDecoder::new(data)) {
        Ok(fits) => fits,
        Err(_) => {
            within(&mut DeflateDecoder::new(data.get(2..).unwrap_or_default())).unwrap_or(false)
        }
    }
}

/// Scanned PDFs made for the tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use lopdf::{Document, Object, Stream, dictionary};

    /// One page's image: filter, colour space, bits, width, height, data.
    pub type Page<'a> = (&'a str, &'a str, i64, u32, u32, Vec<u8>);

    /// An image-only PDF: one page per image, drawn over the whole page.
    pub fn scanned_pdf(pages: &[Page<'_>]) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let mut kids = Vec::new();
        for (filter, space, bits, width, height, data) in pages {
            let mut dict = dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => i64::from(*width),
                "Height" => i64::from(*height),
                "ColorSpace" => *space,
                "BitsPerComponent" => *bits,
            };
            if !filter.is_empty() {
                dict.set("Filter", Object::Name(filter.as_bytes().to_vec()));
            }
            let image_id = doc.add_object(Stream::new(dict, data.clone()));
            let content = format!("q {width} 0 0 {height} 0 0 cm /Im0 Do Q");
            let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
            let page_id = doc.add_object(dictionary! {
                "Type" => "Page",
                "Parent" => pages_id,
                "MediaBox" => vec![0.into(), 0.into(), i64::from(*width).into(), i64::from(*height).into()],
                "Contents" => content_id,
                "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
            });
            kids.push(Object::Reference(page_id));
        }
        let count = kids.len() as i64;
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).expect("an in-memory PDF is written");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::scanned_pdf;
    use super::*;
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn each_encoding_a_scan_uses_is_taken_out() {
        let jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3];
        let grey: Vec<u8> = (0..=255).collect();
        let rgb: Vec<u8> = (0..48).collect();
        // 10 px wide, 2 rows: 2 bytes a row; the first row black then white, the second white.
        let bits = vec![0b0000_1111, 0b1100_0000, 0xff, 0xff];
        let pdf = scanned_pdf(&[
            ("DCTDecode", "DeviceGray", 8, 1654, 2339, jpeg.clone()),
            ("FlateDecode", "DeviceGray", 8, 16, 16, deflate(&grey)),
            ("FlateDecode", "DeviceRGB", 8, 4, 4, deflate(&rgb)),
            ("FlateDecode", "DeviceGray", 1, 10, 2, deflate(&bits)),
            ("JBIG2Decode", "DeviceGray", 1, 10, 2, vec![0; 8]),
            ("", "DeviceGray", 8, 100_000, 100_000, vec![]),
        ]);
        let scan = ScannedPdf::parse(&pdf).unwrap();
        assert_eq!(scan.page_count(), 6);
        let p = |i| scan.page_image(i).map(|p| (p.width, p.height, p.pixels));
        assert_eq!(p(0), Some((1654, 2339, PagePixels::Jpeg(jpeg))));
        assert_eq!(p(1), Some((16, 16, PagePixels::Gray(grey))));
        assert_eq!(p(2), Some((4, 4, PagePixels::Rgb(rgb))));
        let mut row1 = vec![0u8; 4];
        row1.extend([255; 6]);
        row1.extend([255; 10]);
        assert_eq!(p(3), Some((10, 2, PagePixels::Gray(row1))));
        assert_eq!(p(4), None, "JBIG2 is not decoded");
        assert_eq!(p(5), None, "10^10 pixels are not decoded");
        assert_eq!(p(6), None);
        assert_eq!(page_images(&pdf, 20).unwrap().len(), 4);
    }

    #[test]
    fn pages_past_the_bound_are_counted_not_read() {
        let page = ("", "DeviceGray", 8, 2, 2, vec![255u8; 4]);
        let pdf = scanned_pdf(&vec![page; MAX_PAGES + 3]);
        let scan = ScannedPdf::parse(&pdf).unwrap();
        assert_eq!(scan.page_count(), MAX_PAGES + 3);
        assert_eq!(scan.pages_to_read(), MAX_PAGES);
        assert!(scan.page_image(MAX_PAGES - 1).is_some());
        assert!(scan.page_image(MAX_PAGES).is_none());
    }

    #[test]
    fn a_stream_that_inflates_past_its_page_is_not_inflated() {
        // 16 x 16 grey is 256 bytes (plus a tag byte a row): 10 MB of zeros is a bomb.
        let bomb = deflate(&vec![0u8; 10_000_000]);
        let pdf = scanned_pdf(&[("FlateDecode", "DeviceGray", 8, 16, 16, bomb.clone())]);
        assert_eq!(ScannedPdf::parse(&pdf).unwrap().page_image(0), None);
        assert!(inflates_within(&deflate(&[7; 300]), 300));
        assert!(!inflates_within(&bomb, 1_000_000));
    }

    #[test]
    fn a_damaged_pdf_is_an_error_and_short_pixels_no_page() {
        assert_eq!(
            ScannedPdf::parse(b"%PDF-1.5 garbage").err(),
            Some(ScanError::Pdf)
        );
        let pdf = scanned_pdf(&[("", "DeviceGray", 8, 16, 16, vec![0; 10])]);
        assert_eq!(ScannedPdf::parse(&pdf).unwrap().page_image(0), None);
    }
}
