//! Photographs and scans: the EXIF capture date (via `kamadak-exif`) is the date of service.
//! A photo is a clinical photo unless the text it carries (EXIF ImageDescription/UserComment,
//! PNG text chunks) says it is another kind of document, e.g. a photographed referral letter.

use crate::{Classification, DocumentClass, Evidence, SkipCode};

pub(crate) fn read(bytes: &[u8], c: &mut Classification) {
    let mut words = read_metadata(bytes, c);
    png_text(bytes, &mut words);
    if !words.trim().is_empty() {
        crate::text::extract(&words, c);
        if let Some((class, conf, why)) = crate::rules::rules(&words) {
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

/// The EXIF capture date (as the date of service); returns the EXIF description and comment.
pub(crate) fn read_metadata(bytes: &[u8], c: &mut Classification) -> String {
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
    words
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

#[cfg(test)]
mod tests {
    use crate::{DocumentClass, Format, classify};

    /// A minimal JPEG whose EXIF says it was taken on 2026-03-14, optionally with a description.
    fn jpeg(description: Option<&str>) -> Vec<u8> {
        let date = b"2026:03:14 10:22:01\0";
        let desc = description.map(|d| {
            let mut v = d.as_bytes().to_vec();
            v.push(0);
            v
        });
        let entries0: u16 = if desc.is_some() { 2 } else { 1 };
        // TIFF header (8) + IFD0 (2 + 12n + 4) + Exif IFD (2 + 12 + 4) + data.
        let ifd0_len = 2 + 12 * u32::from(entries0) + 4;
        let exif_ifd = 8 + ifd0_len;
        let date_at = exif_ifd + 18;
        let desc_at = date_at + date.len() as u32;
        let mut t = b"II*\0".to_vec();
        t.extend(8u32.to_le_bytes());
        t.extend(entries0.to_le_bytes());
        if let Some(d) = &desc {
            // ImageDescription, ASCII.
            t.extend(0x010Eu16.to_le_bytes());
            t.extend(2u16.to_le_bytes());
            t.extend((d.len() as u32).to_le_bytes());
            t.extend(desc_at.to_le_bytes());
        }
        // ExifIFDPointer, LONG.
        t.extend(0x8769u16.to_le_bytes());
        t.extend(4u16.to_le_bytes());
        t.extend(1u32.to_le_bytes());
        t.extend(exif_ifd.to_le_bytes());
        t.extend(0u32.to_le_bytes());
        // Exif IFD: DateTimeOriginal.
        t.extend(1u16.to_le_bytes());
        t.extend(0x9003u16.to_le_bytes());
        t.extend(2u16.to_le_bytes());
        t.extend((date.len() as u32).to_le_bytes());
        t.extend(date_at.to_le_bytes());
        t.extend(0u32.to_le_bytes());
        t.extend(date);
        if let Some(d) = &desc {
            t.extend(d);
        }
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(t);
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE1];
        j.extend(((app1.len() + 2) as u16).to_be_bytes());
        j.extend(app1);
        j.extend([0xFF, 0xD9]);
        j
    }

    #[test]
    fn exif_date_and_photo_by_default() {
        let c = classify(&jpeg(None));
        assert_eq!(c.format, Format::Jpeg);
        assert_eq!(c.class, DocumentClass::ClinicalPhoto);
        assert_eq!(c.date_of_service.as_deref(), Some("2026-03-14"));
    }

    #[test]
    fn text_in_the_image_can_say_otherwise() {
        let c = classify(&jpeg(Some(
            "Referral letter - Dear colleague, thank you for seeing",
        )));
        assert_eq!(c.class, DocumentClass::ReferralLetter, "{:?}", c.evidence);
    }
}
