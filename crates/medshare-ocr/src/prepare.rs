//! Turning a photo or scan into a page Tesseract reads well: decoded (`image`), turned by its
//! EXIF orientation, grey, scaled to a working size, turned a quarter when its text runs
//! vertically, and straightened.
//!
//! Skew and quarter turns are found from projection profiles of the dark pixels of a small
//! binarised copy: text lines make the row sums of a straight page peak sharply, so the angle
//! whose profile is sharpest (largest sum of squared differences between neighbouring rows) is
//! the page's skew. Leptonica has the same method (`pixFindSkew`), but only behind unsafe FFI;
//! this is a few dozen lines of safe Rust over `image`/`imageproc`, unit-tested below.

use image::{DynamicImage, GrayImage, ImageDecoder, ImageReader, Luma, imageops};
use imageproc::geometric_transformations::{Interpolation, rotate_about_center};
use std::io::Cursor;

/// Pages are read at most this many pixels on their long side (about 300 dpi for A4).
const MAX_SIDE: u32 = 3600;
/// Smaller pages are enlarged to about this width (small text reads poorly).
const MIN_WIDTH: u32 = 1600;
/// Skew searched, degrees either way.
const MAX_SKEW: f32 = 20.0;

/// A page ready for recognition and what was done to it.
pub struct Prepared {
    /// The page, upright and straightened, ready for recognition.
    pub image: GrayImage,
    /// Clockwise quarter turns applied (0, 90, 180, 270), EXIF orientation aside.
    pub rotation: u16,
    /// Skew removed, degrees.
    pub skew_degrees: f32,
}

/// Why an image could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not an image format the OCR reads.
    #[error("image format not supported for OCR")]
    Unsupported,
    /// The bytes do not decode as the format they claim.
    #[error("image could not be decoded")]
    Corrupt,
    /// More pixels than the OCR accepts (width, height).
    #[error("image too large ({0} x {1} pixels)")]
    TooLarge(u32, u32),
}

/// Decode image bytes (JPEG, PNG, TIFF, WebP) and apply their EXIF orientation.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, DecodeError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| DecodeError::Unsupported)?;
    if reader.format().is_none() {
        return Err(DecodeError::Unsupported);
    }
    let mut decoder = reader.into_decoder().map_err(|_| DecodeError::Corrupt)?;
    let (w, h) = decoder.dimensions();
    // 100 megapixels is more than any phone or scanner page: refuse, rather than allocate.
    if u64::from(w) * u64::from(h) > 100_000_000 {
        return Err(DecodeError::TooLarge(w, h));
    }
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|_| DecodeError::Corrupt)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// Grey, working size, upright, straight.
pub fn prepare(img: &DynamicImage) -> Prepared {
    let grey = scale(img.to_luma8());
    let (quarter, skew) = find_orientation_and_skew(&grey);
    let grey = if quarter {
        imageops::rotate90(&grey)
    } else {
        grey
    };
    let image = if skew.abs() >= 0.2 {
        // The profile's angle is how far the text lines are turned; turn them back.
        rotate_about_center(
            &grey,
            (-skew).to_radians(),
            Interpolation::Bilinear,
            Luma([255]),
        )
    } else {
        grey
    };
    Prepared {
        image,
        rotation: if quarter { 90 } else { 0 },
        skew_degrees: skew,
    }
}

fn scale(g: GrayImage) -> GrayImage {
    let (w, h) = g.dimensions();
    let long = w.max(h);
    let factor = if long > MAX_SIDE {
        MAX_SIDE as f32 / long as f32
    } else if w < MIN_WIDTH {
        (MIN_WIDTH as f32 / w.max(1) as f32).min(3.0)
    } else {
        1.0
    };
    if (factor - 1.0).abs() < 0.05 {
        return g;
    }
    let nw = ((w as f32 * factor).round() as u32).max(1);
    let nh = ((h as f32 * factor).round() as u32).max(1);
    imageops::resize(&g, nw, nh, imageops::FilterType::Triangle)
}

/// Coordinates of the dark pixels of a copy at most 1000 pixels wide.
fn dark_points(g: &GrayImage) -> Vec<(f32, f32)> {
    let (w, h) = g.dimensions();
    let f = (1000.0 / w.max(h) as f32).min(1.0);
    let small = if f < 1.0 {
        imageops::resize(
            g,
            ((w as f32 * f) as u32).max(1),
            ((h as f32 * f) as u32).max(1),
            imageops::FilterType::Triangle,
        )
    } else {
        g.clone()
    };
    // A local threshold: a shadow across a photo must not count as ink.
    // Ink is clearly darker than its neighbourhood (flat paper with noise is not).
    let local = imageproc::filter::box_filter(&small, 12, 12);
    let (sw, sh) = small.dimensions();
    let (cx, cy) = (sw as f32 / 2.0, sh as f32 / 2.0);
    small
        .enumerate_pixels()
        .filter(|(x, y, p)| i16::from(p.0[0]) < i16::from(local.get_pixel(*x, *y).0[0]) - 20)
        .map(|(x, y, _)| (x as f32 - cx, y as f32 - cy))
        .collect()
}

/// Sharpness of the row profile when the points are turned by `deg`.
fn sharpness(points: &[(f32, f32)], deg: f32, vertical: bool) -> f64 {
    let (s, c) = deg.to_radians().sin_cos();
    // Points are centred and come from a copy at most 1000 pixels wide: rows fit in +-1500.
    const HALF: i32 = 1500;
    let mut rows = vec![0u32; (2 * HALF + 2) as usize];
    for &(x, y) in points {
        let (x, y) = if vertical { (y, -x) } else { (x, y) };
        let r = ((y * c - x * s).round() as i32).clamp(-HALF, HALF);
        rows[(r + HALF) as usize] += 1;
    }
    rows.windows(2)
        .map(|w| {
            let d = f64::from(w[1]) - f64::from(w[0]);
            d * d
        })
        .sum()
}

/// (turn a quarter clockwise?, skew in degrees) from the projection profiles.
pub fn find_orientation_and_skew(g: &GrayImage) -> (bool, f32) {
    let points = dark_points(g);
    if points.len() < 50 {
        return (false, 0.0);
    }
    let best = |vertical: bool| {
        let mut best = (f64::MIN, 0.0f32);
        let mut a = -MAX_SKEW;
        while a <= MAX_SKEW {
            let s = sharpness(&points, a, vertical);
            if s > best.0 {
                best = (s, a);
            }
            a += 1.0;
        }
        let centre = best.1;
        let mut a = centre - 1.0;
        while a <= centre + 1.0 {
            let s = sharpness(&points, a, vertical);
            if s > best.0 {
                best = (s, a);
            }
            a += 0.1;
        }
        best
    };
    let (h_score, h_angle) = best(false);
    let (v_score, v_angle) = best(true);
    // Vertical text lines must be clearly sharper: a table's columns also make peaks.
    if v_score > h_score * 1.3 {
        (true, round1(v_angle))
    } else {
        (false, round1(h_angle))
    }
}

fn round1(a: f32) -> f32 {
    (a * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Horizontal bars like text lines, turned by `deg`.
    fn lines(deg: f32) -> GrayImage {
        let mut g = GrayImage::from_pixel(800, 600, Luma([255]));
        for row in 0..12 {
            let y = 60 + row * 40;
            for x in 80..720 {
                if (x / 9) % 5 != 4 {
                    for dy in 0..12 {
                        g.put_pixel(x, y + dy, Luma([0]));
                    }
                }
            }
        }
        rotate_about_center(&g, deg.to_radians(), Interpolation::Bilinear, Luma([255]))
    }

    #[test]
    fn finds_skew() {
        for deg in [-7.0f32, -2.5, 0.0, 4.0, 11.0] {
            let (quarter, skew) = find_orientation_and_skew(&lines(deg));
            assert!(!quarter);
            assert!((skew - deg).abs() <= 0.5, "{deg}: found {skew}");
        }
    }

    #[test]
    fn finds_quarter_turns() {
        let g = imageops::rotate270(&lines(3.0));
        let (quarter, _) = find_orientation_and_skew(&g);
        assert!(quarter);
        let p = prepare(&DynamicImage::ImageLuma8(g));
        assert_eq!(p.rotation, 90);
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        assert!(matches!(decode(b"hello"), Err(DecodeError::Unsupported)));
    }
}
