//! A synthetic RGB8 PNG (encoded by the `png` crate): a soft skin-toned gradient with a reddish
//! blob, standing in for a wound photograph.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Largest width and height produced.
pub(crate) const MAX_DIMENSION: u32 = 256;

const SKIN_TONES: [[f64; 3]; 4] = [
    [232.0, 190.0, 160.0],
    [214.0, 168.0, 130.0],
    [190.0, 140.0, 105.0],
    [150.0, 105.0, 80.0],
];

/// A valid PNG (8-bit RGB, non-interlaced) of a synthetic "wound photo" placeholder: a soft
/// skin-toned gradient with a reddish elliptical lesion and a little noise, identical for the
/// same arguments. `width` and `height` are clamped to `1..=256`. Carries a `tEXt` comment
/// marking it synthetic.
pub fn png_image(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let (w, h) = (
        width.clamp(1, MAX_DIMENSION),
        height.clamp(1, MAX_DIMENSION),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let skin = SKIN_TONES[rng.gen_range(0..SKIN_TONES.len())];
    let (wf, hf) = (f64::from(w), f64::from(h));
    let cx = wf * rng.gen_range(0.35..0.65);
    let cy = hf * rng.gen_range(0.35..0.65);
    let rx = (wf * rng.gen_range(0.12..0.3)).max(1.0);
    let ry = (hf * rng.gen_range(0.1..0.25)).max(1.0);
    let wound = [rng.gen_range(150.0..200.0), rng.gen_range(40.0..70.0), 55.0];
    let (gx, gy) = (rng.gen_range(-30.0..30.0), rng.gen_range(-30.0..30.0));

    let mut raw = Vec::with_capacity((h * 3 * w) as usize);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (f64::from(x), f64::from(y));
            let shade = gx * (xf / wf - 0.5) + gy * (yf / hf - 0.5);
            let (dx, dy) = ((xf - cx) / rx, (yf - cy) / ry);
            let d2 = dx * dx + dy * dy;
            // Soft edge: fully wound inside d2 < 0.5, blends out to skin at d2 = 1.2.
            let t = ((1.2 - d2) / 0.7).clamp(0.0, 1.0);
            let t = t * t * (3.0 - 2.0 * t);
            for c in 0..3 {
                let noise = f64::from(rng.gen_range(-3i8..=3));
                let v = skin[c] * (1.0 - t) + wound[c] * t + shade + noise;
                raw.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }

    let mut png = Vec::new();
    let mut enc = png::Encoder::new(&mut png, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.add_text_chunk(
        "Comment".into(),
        "SYNTHETIC DEMO IMAGE - NOT A REAL PATIENT (medshare-synth)".into(),
    )
    .expect("a Latin-1 comment is a valid tEXt chunk");
    let mut writer = enc.write_header().expect("in-memory PNG header");
    writer
        .write_image_data(&raw)
        .expect("in-memory PNG data of the declared size");
    writer.finish().expect("in-memory PNG end");
    png
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_png_with_its_synthetic_marker() {
        let bytes = png_image(40, 30, 7);
        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().expect("a PNG a decoder reads");
        let info = reader.info();
        assert_eq!((info.width, info.height), (40, 30));
        assert!(
            info.uncompressed_latin1_text
                .iter()
                .any(|t| t.text.contains("SYNTHETIC"))
        );
        let mut pixels = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut pixels).expect("pixels");
        assert_eq!(png_image(40, 30, 7), bytes, "deterministic");
        assert_ne!(png_image(40, 30, 8), bytes);
        assert_eq!(png_image(9999, 0, 1).len(), png_image(256, 1, 1).len());
    }
}
