//! Synthetic, clearly fictional paper documents rendered to images the way a phone photographs
//! them: turned, tilted, blurred, noisy, shadowed, small, JPEG-compressed. Fonts come from
//! Debian's `fonts-dejavu-core` and `fonts-noto-cjk` (installed by scripts/test.sh).

#![allow(dead_code)]

use ab_glyph::{FontRef, PxScale};
use image::{DynamicImage, GrayImage, ImageFormat, Luma, imageops};
use imageproc::geometric_transformations::{Interpolation, rotate_about_center};
use rand::{Rng, SeedableRng};
use std::io::Cursor;

const LATIN_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const CJK_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
/// Noto Sans CJK HK in the collection (Traditional Chinese as written in Hong Kong); 2 is SC.
const CJK_HK: u32 = 4;
const CJK_SC: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Script {
    Latin,
    Traditional,
    Simplified,
}

fn font_bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e}: run scripts/test.sh (installs fonts-dejavu-core and fonts-noto-cjk)")
    })
}

/// Draw `lines` on a white page, the title larger.
pub fn page(lines: &[&str], script: Script) -> GrayImage {
    let data = font_bytes(if script == Script::Latin {
        LATIN_FONT
    } else {
        CJK_FONT
    });
    let font = match script {
        Script::Latin => FontRef::try_from_slice(&data),
        Script::Traditional => FontRef::try_from_slice_and_index(&data, CJK_HK),
        Script::Simplified => FontRef::try_from_slice_and_index(&data, CJK_SC),
    }
    .expect("font");
    let (width, line_h, size) = (1500u32, 62i32, 34.0f32);
    let height = 140 + line_h as u32 * lines.len() as u32 + 60;
    let mut g = GrayImage::from_pixel(width, height, Luma([255]));
    for (i, l) in lines.iter().enumerate() {
        let scale = if i == 0 { size * 1.3 } else { size };
        imageproc::drawing::draw_text_mut(
            &mut g,
            Luma([20]),
            90,
            90 + i as i32 * line_h,
            PxScale::from(scale),
            &font,
            l,
        );
    }
    g
}

/// How the photo went wrong.
#[derive(Clone, Copy, Debug, Default)]
pub struct Photo {
    /// Degrees, clockwise positive in the image.
    pub tilt: f32,
    /// Quarter turns clockwise (0..=3).
    pub quarter_turns: u8,
    pub blur: f32,
    /// Noise amplitude, grey levels.
    pub noise: u8,
    /// Darkening of the left edge, 0..1 (a shadow across the page).
    pub shadow: f32,
    /// Scale of the final image (0.5 = half size).
    pub scale: f32,
    /// JPEG quality; 0 for PNG.
    pub jpeg: u8,
}

impl Photo {
    pub fn clean() -> Self {
        Self {
            scale: 1.0,
            ..Default::default()
        }
    }
}

/// The page as photographed, encoded.
pub fn photograph(page: &GrayImage, p: Photo, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // A margin of table around the paper, so turning it does not cut text off.
    let (w, h) = page.dimensions();
    let pad = 160;
    let mut g = GrayImage::from_pixel(w + 2 * pad, h + 2 * pad, Luma([255]));
    imageops::overlay(&mut g, page, i64::from(pad), i64::from(pad));
    if p.tilt != 0.0 {
        g = rotate_about_center(
            &g,
            p.tilt.to_radians(),
            Interpolation::Bilinear,
            Luma([255]),
        );
    }
    for _ in 0..p.quarter_turns % 4 {
        g = imageops::rotate90(&g);
    }
    if p.shadow > 0.0 {
        let w = g.width() as f32;
        for (x, _, px) in g.enumerate_pixels_mut() {
            let k = 1.0 - p.shadow * (1.0 - x as f32 / w);
            px.0[0] = (f32::from(px.0[0]) * k) as u8;
        }
    }
    if p.blur > 0.0 {
        g = imageops::blur(&g, p.blur);
    }
    if p.noise > 0 {
        let a = i16::from(p.noise);
        for px in g.pixels_mut() {
            let v = i16::from(px.0[0]) + rng.gen_range(-a..=a);
            px.0[0] = v.clamp(0, 255) as u8;
        }
    }
    if p.scale > 0.0 && (p.scale - 1.0).abs() > 0.01 {
        let (w, h) = g.dimensions();
        g = imageops::resize(
            &g,
            (w as f32 * p.scale) as u32,
            (h as f32 * p.scale) as u32,
            imageops::FilterType::Triangle,
        );
    }
    let mut out = Cursor::new(Vec::new());
    let img = DynamicImage::ImageLuma8(g);
    if p.jpeg > 0 {
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, p.jpeg);
        img.write_with_encoder(enc).expect("jpeg");
    } else {
        img.write_to(&mut out, ImageFormat::Png).expect("png");
    }
    out.into_inner()
}

/// A one-page image-only PDF (what a scanning app makes) holding `jpeg` as the page.
pub fn scanned_pdf(jpeg: &[u8], width: u32, height: u32) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let image = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => width as i64,
            "Height" => height as i64,
            "ColorSpace" => "DeviceGray",
            "BitsPerComponent" => 8,
            "Filter" => "DCTDecode",
        },
        jpeg.to_vec(),
    );
    let image_id = doc.add_object(image);
    let content = format!("q {width} 0 0 {height} 0 0 cm /Im0 Do Q");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), (width as i64).into(), (height as i64).into()],
        "Contents" => content_id,
        "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("pdf");
    out
}

/// Size of an encoded image.
pub fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(bytes).expect("image");
    (img.width(), img.height())
}
