//! Photographs and scans: the EXIF capture date (via `kamadak-exif`) is the date of service.
//! A photo is a clinical photo unless the text it carries (EXIF ImageDescription/UserComment,
//! PNG text chunks) says it is another kind of document, e.g. a photographed referral letter.

use crate::{Classification, DocumentClass, Evidence, SkipCode};

pub(crate) fn read(bytes: &[u8], c: &mut Classification) {
    let mut words = String::new();
    match exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) {
        Ok(ex) => {
            for tag in [
                exif::Tag::DateTimeOriginal,
                exif::Tag::DateTimeDigitized,
                exif::Tag::DateTime,
            ] {
                if let Some(f) = ex.get_field(tag, exif::In::PRIMARY)
                    && let exif::Value::Ascii(v) = &f.value
                    && let Some(first) = v.first()
                    && let Ok(dt) = exif::DateTime::from_ascii(first)
                {
                    let d = format!("{:04}-{:02}-{:02}", dt.year, dt.month, dt.day);
                    if crate::valid_iso_date(&d) {
                        c.date_of_service = Some(d);
                        break;
                    }
                }
            }
            for tag in [exif::Tag::ImageDescription, exif::Tag::UserComment] {
                if let Some(f) = ex.get_field(tag, exif::In::PRIMARY) {
                    words.push_str(&f.display_value().to_string());
                    words.push('\n');
                }
            }
        }
        Err(exif::Error::NotFound(_)) => {}
        Err(_) => c.skip(SkipCode::ImageExif, None),
    }
    png_text(bytes, &mut words);
    if !words.trim().is_empty() {
        crate::text::extract(&words, c);
        if let Some((class, conf, why)) = crate::text::rules(&words) {
            c.decide(class, conf * 0.9, why);
            return;
        }
    }
    c.decide(
        DocumentClass::ClinicalPhoto,
        0.6,
        vec![Evidence {
            source: "image".into(),
            found: "a photograph with no text naming another document kind".into(),
        }],
    );
}

/// Text of PNG `tEXt` chunks (keyword NUL text), bounded.
fn png_text(b: &[u8], out: &mut String) {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return;
    }
    let mut i = 8;
    while i + 8 <= b.len() && out.len() < 16 * 1024 {
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let kind = &b[i + 4..i + 8];
        let Some(data) = b.get(i + 8..i + 8 + len) else {
            return;
        };
        if kind == b"tEXt"
            && let Some(nul) = data.iter().position(|&x| x == 0)
        {
            out.push_str(&String::from_utf8_lossy(&data[nul + 1..]));
            out.push('\n');
        }
        if kind == b"IEND" {
            return;
        }
        i += 12 + len;
    }
}
