//! Which format a document is, from its content alone (never its name). DICOM is checked
//! first: a Part 10 preamble may itself look like TIFF (`II*\0`), which fools generic sniffers.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Pdf,
    Jpeg,
    Png,
    Heic,
    Tiff,
    /// DICOM Part 10 file (`DICM` after the 128-byte preamble, or at the start).
    Dicom,
    /// A DICOM data set without preamble or file meta group.
    DicomRaw,
    Hl7v2,
    FhirJson,
    FhirXml,
    Csv,
    Text,
    Docx,
    Unknown,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Heic => "image/heic",
            Self::Tiff => "image/tiff",
            Self::Dicom | Self::DicomRaw => "application/dicom",
            Self::Hl7v2 => "application/hl7-v2",
            Self::FhirJson => "application/fhir+json",
            Self::FhirXml => "application/fhir+xml",
            Self::Csv => "text/csv",
            Self::Text => "text/plain",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Unknown => "application/octet-stream",
        }
    }
}

/// The format of `b`.
pub fn detect(b: &[u8]) -> Format {
    if b.len() >= 132 && &b[128..132] == b"DICM" || b.starts_with(b"DICM\x02\x00") {
        return Format::Dicom;
    }
    if is_raw_dicom(b) {
        return Format::DicomRaw;
    }
    if let Some(t) = infer::get(b) {
        match t.mime_type() {
            "application/pdf" => return Format::Pdf,
            "image/jpeg" => return Format::Jpeg,
            "image/png" => return Format::Png,
            "image/heif" | "image/heic" | "image/avif" => return Format::Heic,
            "image/tiff" => return Format::Tiff,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
                return Format::Docx;
            }
            _ => {}
        }
    }
    // A Word document is a zip with a main document part (infer needs a particular part order).
    if b.starts_with(b"PK\x03\x04")
        && zip::ZipArchive::new(std::io::Cursor::new(b))
            .is_ok_and(|z| z.file_names().any(|n| n == "word/document.xml"))
    {
        return Format::Docx;
    }
    // A PDF may carry a few bytes of junk before its header.
    if b.len() > 5 && b[..b.len().min(1024)].windows(5).any(|w| w == b"%PDF-") {
        return Format::Pdf;
    }
    let Some(text) = as_text(b) else {
        return Format::Unknown;
    };
    let t = text.trim_start_matches(['\u{feff}', '\u{0b}']).trim_start();
    if is_hl7(t) {
        return Format::Hl7v2;
    }
    if t.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(t)
            && v.get("resourceType").and_then(|r| r.as_str()).is_some()
        {
            return Format::FhirJson;
        }
        return Format::Text;
    }
    if t.starts_with('<') {
        if let Ok(doc) = roxmltree::Document::parse(t)
            && doc.root_element().tag_name().namespace() == Some("http://hl7.org/fhir")
        {
            return Format::FhirXml;
        }
        return Format::Text;
    }
    if is_csv(t) {
        return Format::Csv;
    }
    Format::Text
}

/// Text if `b` is UTF-8 (or nearly: a few invalid bytes, as in Latin-1 names) with almost no
/// control characters.
pub(crate) fn as_text(b: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    if b.is_empty() {
        return None;
    }
    let sample = &b[..b.len().min(64 * 1024)];
    let controls = sample
        .iter()
        .filter(|&&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1c))
        .count();
    if controls * 100 > sample.len() {
        return None;
    }
    let s = String::from_utf8_lossy(b);
    let bad = s.chars().filter(|&c| c == '\u{fffd}').count();
    if bad * 50 > s.len().max(1) {
        return None;
    }
    Some(s)
}

fn is_hl7(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() > 8
        && (t.starts_with("MSH") || t.starts_with("FHS") || t.starts_with("BHS"))
        && !b[3].is_ascii_alphanumeric()
        && !b[3].is_ascii_whitespace()
}

/// A DICOM data set without meta: the first element is a plausible group 0008 (or 0002/0010)
/// tag in little or big endian, with an explicit VR or a sane implicit length.
fn is_raw_dicom(b: &[u8]) -> bool {
    if b.len() < 16 {
        return false;
    }
    let le = u16::from_le_bytes([b[0], b[1]]);
    let be = u16::from_be_bytes([b[0], b[1]]);
    let group_ok = |g: u16| matches!(g, 0x0002 | 0x0008);
    let (group, elem, len32) = if group_ok(le) {
        (
            le,
            u16::from_le_bytes([b[2], b[3]]),
            u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        )
    } else if group_ok(be) {
        (
            be,
            u16::from_be_bytes([b[2], b[3]]),
            u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        )
    } else {
        return false;
    };
    let _ = group;
    if elem > 0x0100 {
        return false;
    }
    let explicit = b[4].is_ascii_uppercase() && b[5].is_ascii_uppercase();
    explicit && VRS.contains(&&b[4..6]) || !explicit && (len32 as usize) < b.len().min(1 << 20)
}

const VRS: [&[u8]; 34] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

/// At least two lines with the same number (>= 2) of commas, tabs or semicolons.
fn is_csv(t: &str) -> bool {
    let lines: Vec<&str> = t
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    if lines.len() < 2 {
        return false;
    }
    [',', '\t', ';'].iter().any(|&sep| {
        let n = lines[0].matches(sep).count();
        n >= 2
            && lines.iter().filter(|l| l.matches(sep).count() == n).count() * 10 >= lines.len() * 8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_formats() {
        assert_eq!(detect(b"MSH|^~\\&|A|B\rPID|1"), Format::Hl7v2);
        assert_eq!(detect(b"\x0bMSH|^~\\&|A|B\rPID|1\x1c\r"), Format::Hl7v2);
        assert_eq!(
            detect(b"FHS|^~\\&|A\nBHS|^~\\&|\nMSH|^~\\&|"),
            Format::Hl7v2
        );
        assert_eq!(
            detect(br#"{"resourceType":"Patient","id":"x"}"#),
            Format::FhirJson
        );
        assert_eq!(detect(br#"{"name":"x"}"#), Format::Text);
        assert_eq!(
            detect(br#"<Patient xmlns="http://hl7.org/fhir"><id value="x"/></Patient>"#),
            Format::FhirXml
        );
        assert_eq!(detect(b"<html><body>x</body></html>"), Format::Text);
        assert_eq!(detect(b"a,b,c\n1,2,3\n4,5,6\n"), Format::Csv);
        assert_eq!(detect(b"Dear colleague, thank you."), Format::Text);
        assert_eq!(
            detect(&[0u8, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0]),
            Format::Unknown
        );
    }

    #[test]
    fn dicom_before_tiff() {
        let mut b = vec![0u8; 200];
        b[..4].copy_from_slice(b"II*\0");
        b[128..132].copy_from_slice(b"DICM");
        assert_eq!(detect(&b), Format::Dicom);
        b[128..132].copy_from_slice(b"XXXX");
        assert_eq!(detect(&b), Format::Tiff);
    }

    #[test]
    fn raw_dicom() {
        // (0008,0005) CS "ISO_IR 100" explicit VR little endian.
        let mut b = vec![0x08, 0x00, 0x05, 0x00, b'C', b'S', 10, 0];
        b.extend_from_slice(b"ISO_IR 100");
        assert_eq!(detect(&b), Format::DicomRaw);
    }
}
