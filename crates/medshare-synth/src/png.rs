//! A hand-rolled RGB8 PNG (zlib "stored" blocks, CRC-32, Adler-32): a soft skin-toned gradient
//! with a reddish blob, standing in for a wound photograph.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Largest width and height produced.
pub(crate) const MAX_DIMENSION: u32 = 256;

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

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

    let mut raw = Vec::with_capacity((h * (1 + 3 * w)) as usize);
    for y in 0..h {
        raw.push(0); // filter: None
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

    let mut png = SIGNATURE.to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, adaptive filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"tEXt",
        b"Comment\0SYNTHETIC DEMO IMAGE - NOT A REAL PATIENT (medshare-synth)",
    );
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of uncompressed ("stored") deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(0xffff).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = block.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    c ^ 0xffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    /// Parses chunks, checks every CRC, returns (IHDR, concatenated IDAT).
    fn parse(png: &[u8]) -> (Vec<u8>, Vec<u8>) {
        assert!(png.starts_with(SIGNATURE));
        let mut at = 8;
        let mut kinds = Vec::new();
        let (mut ihdr, mut idat) = (Vec::new(), Vec::new());
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&png[at + 4..at + 8 + len]), "CRC of {kind:?}");
            match kind {
                b"IHDR" => ihdr = data.to_vec(),
                b"IDAT" => idat.extend_from_slice(data),
                _ => {}
            }
            kinds.push(kind.to_vec());
            at += 12 + len;
        }
        assert_eq!(at, png.len());
        assert_eq!(kinds.first().unwrap(), b"IHDR");
        assert_eq!(kinds.last().unwrap(), b"IEND");
        (ihdr, idat)
    }

    /// Inflates our stored-only zlib stream and checks Adler-32.
    fn inflate_stored(z: &[u8]) -> Vec<u8> {
        assert_eq!(((u16::from(z[0]) << 8) | u16::from(z[1])) % 31, 0);
        let mut at = 2;
        let mut out = Vec::new();
        loop {
            let header = z[at];
            assert_eq!(header & 0b110, 0, "stored block");
            let len = u16::from_le_bytes([z[at + 1], z[at + 2]]);
            let nlen = u16::from_le_bytes([z[at + 3], z[at + 4]]);
            assert_eq!(len, !nlen);
            out.extend_from_slice(&z[at + 5..at + 5 + len as usize]);
            at += 5 + len as usize;
            if header & 1 == 1 {
                break;
            }
        }
        assert_eq!(z[at..].to_vec(), adler32(&out).to_be_bytes().to_vec());
        out
    }

    #[test]
    fn known_checksums() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn valid_png() {
        for (w, h) in [(160, 120), (1, 1), (256, 256), (1000, 3)] {
            let png = png_image(w, h, 3);
            let (ihdr, idat) = parse(&png);
            let (w, h) = (w.min(256), h);
            assert_eq!(&ihdr[..4], &w.to_be_bytes());
            assert_eq!(&ihdr[4..8], &h.to_be_bytes());
            assert_eq!(&ihdr[8..], &[8, 2, 0, 0, 0]);
            let raw = inflate_stored(&idat);
            assert_eq!(raw.len(), (h * (1 + 3 * w)) as usize);
        }
        assert_eq!(png_image(64, 48, 9), png_image(64, 48, 9));
        assert_ne!(png_image(64, 48, 9), png_image(64, 48, 10));
    }

    #[test]
    fn python_zlib_decodes() {
        let png = png_image(200, 150, 11);
        let (_, idat) = parse(&png);
        let child = Command::new("python3")
            .args([
                "-c",
                "import sys,zlib; print(len(zlib.decompress(sys.stdin.buffer.read())))",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("note: python3 not available; skipping zlib cross-check");
            return;
        };
        child.stdin.take().unwrap().write_all(&idat).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            (150 * (1 + 3 * 200)).to_string()
        );
    }
}
