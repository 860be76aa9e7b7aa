//! Loading a PDF without letting it inflate without bound. `lopdf::Document::load_mem` inflates
//! every compressed object stream (`/Type /ObjStm`) and cross-reference stream (`/Type /XRef`)
//! while it loads, and text extraction inflates every page's content stream, all without a
//! size limit: a few kilobytes of deflated zeros (deflated twice, a few hundred bytes) become
//! gigabytes. So the file's streams are measured first, by inflating them into nothing with a
//! cap ([`MAX_INFLATED`] for all of one kind together), and then:
//!
//! - cross-reference streams over the cap: the PDF is not loaded ([`PdfError::Bomb`]);
//! - object streams over the cap: the PDF is loaded without its object streams (what is
//!   stored outside them, often the pages, is still read) and the caller says so;
//! - other streams (page contents, fonts' maps) over the cap: the caller does not extract text.
//!
//! Measured: streams filtered by `FlateDecode` (once or more) and by the ASCII filters, which
//! do not grow. An object or cross-reference stream with any other filter (`LZWDecode`,
//! `RunLengthDecode`, which common writers never use there) counts as over the cap. Image
//! streams are not measured here: `scan` inflates a page's image only within its pixel size.
//! The streams of an encrypted PDF cannot be measured before decryption and are loaded as
//! lopdf loads them.

use flate2::read::{DeflateDecoder, ZlibDecoder};
use lopdf::{Document, LoadOptions, Object, ObjectId};
use std::io::Read;

/// Most bytes the object streams of one PDF, its cross-reference streams, or its other
/// (non-image) streams may inflate to, each kind together. A 1000-page text PDF's object
/// streams are a few megabytes.
pub const MAX_INFLATED: u64 = 32 * 1024 * 1024;

/// Names in a stream's dictionary that mark a stream text extraction does not inflate: font
/// programs (`/Length1`, `/Length2`, `/Subtype /Type1C` ...), XMP metadata, attached files and
/// ICC profiles (`/Alternate`).
const NOT_INFLATED: &[&[u8]] = &[
    b"/Length1",
    b"/Length2",
    b"/Type1C",
    b"/CIDFontType0C",
    b"/OpenType",
    b"/Metadata",
    b"/EmbeddedFile",
    b"/Alternate",
];

/// Why a PDF was not loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PdfError {
    #[error("PDF could not be read")]
    Damaged,
    #[error(
        "PDF's compressed cross-reference inflates past {} MiB (a possible PDF bomb): not read",
        MAX_INFLATED >> 20
    )]
    Bomb,
}

/// A loaded PDF and what of it was left out.
pub(crate) struct Loaded {
    pub doc: Document,
    /// The object streams inflate past [`MAX_INFLATED`] and were not loaded.
    pub object_streams_dropped: bool,
    /// The other non-image streams (page contents) inflate past [`MAX_INFLATED`].
    pub contents_over: bool,
}

/// What the streams of a PDF inflate to, by kind, each capped at `MAX_INFLATED + 1`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Inflation {
    pub xref: u64,
    pub object_streams: u64,
    pub other: u64,
}

pub(crate) fn load(bytes: &[u8]) -> Result<Loaded, PdfError> {
    let m = measure(bytes);
    if m.xref > MAX_INFLATED {
        return Err(PdfError::Bomb);
    }
    let object_streams_dropped = m.object_streams > MAX_INFLATED;
    let options = if object_streams_dropped {
        LoadOptions {
            filter: Some(without_object_streams),
            ..Default::default()
        }
    } else {
        LoadOptions::default()
    };
    let doc = Document::load_mem_with_options(bytes, options).map_err(|_| PdfError::Damaged)?;
    Ok(Loaded {
        doc,
        object_streams_dropped,
        contents_over: m.other > MAX_INFLATED,
    })
}

/// lopdf keeps the object it passed (`None` drops it) and ignores the one returned, so this
/// leaves it in place; only the bomb case pays for the copy.
fn without_object_streams(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    match object {
        Object::Stream(s) if s.dict.has_type(b"ObjStm") => None,
        _ => Some((id, object.clone())),
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Measure every non-image stream of the raw file: `stream` keywords after a dictionary.
pub(crate) fn measure(bytes: &[u8]) -> Inflation {
    let mut totals = [0u64; 3];
    let cap = MAX_INFLATED + 1;
    let mut at = 0;
    while let Some(k) = find(bytes, b"stream", at) {
        at = k + 6;
        // `endstream` also contains the keyword; a stream keyword follows `>>` and white space.
        let before = bytes[..k].trim_ascii_end();
        if !before.ends_with(b">>") {
            continue;
        }
        // The stream's dictionary: from the `obj` keyword before it (at most 64 KiB back).
        let start = k.saturating_sub(65_536);
        let Some(obj) = bytes[start..k]
            .windows(3)
            .rposition(|w| w == b"obj")
            .map(|p| start + p)
        else {
            continue;
        };
        let dict = &bytes[obj..k];
        if has_name(dict, b"/Image") || has_name(dict, b"/Encrypt") {
            continue;
        }
        let mut data = &bytes[at..];
        if data.starts_with(b"\r\n") {
            data = &data[2..];
        } else if data.starts_with(b"\n") || data.starts_with(b"\r") {
            data = &data[1..];
        }
        // Totals: 0 cross-reference, 1 object streams, 2 the rest, less what reading text
        // never inflates: embedded font programs (a whole CJK font is 15-20 MB), metadata,
        // attached files, colour profiles.
        let kind = if has_name(dict, b"/XRef") {
            0
        } else if has_name(dict, b"/ObjStm") {
            1
        } else if NOT_INFLATED.iter().any(|n| has_name(dict, n)) {
            continue;
        } else {
            2
        };
        let left = cap.saturating_sub(totals[kind]);
        if left == 0 {
            continue;
        }
        let size = match chain(dict) {
            Chain::Flate(n) => inflated(data, n, left),
            Chain::Plain => 0,
            // Structure lopdf inflates as it loads: refused when it cannot be measured.
            Chain::Other if kind < 2 => left,
            Chain::Other => 0,
        };
        totals[kind] = totals[kind].saturating_add(size).min(cap);
        if let Some(end) = find(bytes, b"endstream", at) {
            at = end + 9;
        }
    }
    Inflation {
        xref: totals[0],
        object_streams: totals[1],
        other: totals[2],
    }
}

/// A name in a dictionary's text, not as the start of a longer name (`/XRef` is not `/XRefStm`).
fn has_name(dict: &[u8], name: &[u8]) -> bool {
    let mut from = 0;
    while let Some(p) = find(dict, name, from) {
        let next = dict.get(p + name.len()).copied().unwrap_or(b' ');
        if !next.is_ascii_alphanumeric() {
            return true;
        }
        from = p + 1;
    }
    false
}

enum Chain {
    /// Only `FlateDecode`, this many times.
    Flate(usize),
    /// No filter, or the ASCII ones that do not grow (and wrap no deflate).
    Plain,
    /// A filter that can grow and is not measured here.
    Other,
}

fn chain(dict: &[u8]) -> Chain {
    let count = |name: &[u8]| {
        let mut n = 0;
        let mut from = 0;
        while let Some(p) = find(dict, name, from) {
            n += 1;
            from = p + 1;
        }
        n
    };
    let flate = count(b"/FlateDecode");
    let growing = count(b"/LZWDecode") + count(b"/RunLengthDecode");
    let ascii = count(b"/ASCII85Decode") + count(b"/ASCIIHexDecode");
    match (flate, growing, ascii) {
        (0, 0, _) => Chain::Plain,
        (n, 0, 0) => Chain::Flate(n),
        _ => Chain::Other,
    }
}

/// Bytes `data` inflates to through `layers` of zlib (as lopdf: a bad zlib header or checksum
/// is tried as raw deflate), reading at most `cap`; output is thrown away as it comes.
fn inflated(data: &[u8], layers: usize, cap: u64) -> u64 {
    let zlib = count(nest(Box::new(ZlibDecoder::new(data)), layers), cap);
    if zlib > 0 {
        return zlib;
    }
    let raw = DeflateDecoder::new(data.get(2..).unwrap_or_default());
    count(nest(Box::new(raw), layers), cap)
}

fn nest<'a>(first: Box<dyn Read + 'a>, layers: usize) -> Box<dyn Read + 'a> {
    let mut r = first;
    for _ in 1..layers.min(8) {
        r = Box::new(ZlibDecoder::new(r));
    }
    r
}

/// Bytes read from `r` until its end, an error or `cap`.
fn count(mut r: Box<dyn Read + '_>, cap: u64) -> u64 {
    let mut buf = [0u8; 16 * 1024];
    let mut n = 0u64;
    while n < cap {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k as u64,
        }
    }
    n.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn streams_are_measured_by_kind() {
        let pdf =
            b"%PDF-1.5\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>\nstream\n";
        let mut pdf = pdf.to_vec();
        pdf.extend(deflate(&[b' '; 5000]));
        pdf.extend(b"\nendstream\nendobj\n2 0 obj\n<< /Length 3 >>\nstream\nabc\nendstream\nendobj\n3 0 obj\n<< /Type /XRef /Filter [/FlateDecode /FlateDecode] >>\nstream\n");
        pdf.extend(deflate(&deflate(&[0; 700])));
        pdf.extend(
            b"\nendstream\nendobj\n4 0 obj\n<< /Subtype /Image /Filter /FlateDecode >>\nstream\n",
        );
        pdf.extend(deflate(&[0; 100_000]));
        pdf.extend(
            b"\nendstream\nendobj\n5 0 obj\n<< /Length1 90000 /Filter /FlateDecode >>\nstream\n",
        );
        pdf.extend(deflate(&[0; 90_000]));
        pdf.extend(b"\nendstream\nendobj\n6 0 obj\n<< /Filter /FlateDecode >>\nstream\n");
        pdf.extend(deflate(&[b'q'; 1234]));
        pdf.extend(b"\nendstream\nendobj\n");
        assert_eq!(
            measure(&pdf),
            Inflation {
                xref: 700,
                object_streams: 5000,
                other: 1234
            }
        );
        assert!(has_name(b"<< /XRef >>", b"/XRef"));
        assert!(!has_name(b"<< /XRefStm 12 >>", b"/XRef"));
    }

    /// A PDF (classic cross-reference table) of objects numbered from 1; 1 is the catalog.
    fn raw_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"%PDF-1.5\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend(o);
            out.extend(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for o in offsets {
            out.extend(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut o = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        o.extend(data);
        o.extend(b"\nendstream");
        o
    }

    /// A one-page text PDF whose objects are plain, plus an object stream of `inflates` zero
    /// bytes deflated twice (a bomb when large).
    fn pdf_with_object_stream(inflates: usize) -> Vec<u8> {
        let content = b"BT /F1 24 Tf 72 720 Td (DISCHARGE SUMMARY) Tj ET";
        raw_pdf(&[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
            stream("", content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
            stream(
                "/Type /ObjStm /N 1 /First 4 /Filter [/FlateDecode /FlateDecode]",
                &deflate(&deflate(&vec![0u8; inflates])),
            ),
        ])
    }

    #[test]
    fn an_object_stream_bomb_is_not_inflated_and_the_rest_is_loaded() {
        // 48 MiB of zeros, deflated twice: a few hundred bytes.
        let pdf = pdf_with_object_stream(48 << 20);
        assert!(pdf.len() < 64 * 1024, "{}", pdf.len());
        let m = measure(&pdf);
        assert_eq!(m.object_streams, MAX_INFLATED + 1);
        let loaded = load(&pdf).unwrap();
        assert!(loaded.object_streams_dropped);
        assert!(!loaded.contents_over);
        assert_eq!(loaded.doc.get_pages().len(), 1, "the page is still there");
        // A small object stream is loaded as usual.
        let ok = load(&pdf_with_object_stream(1000)).unwrap();
        assert!(!ok.object_streams_dropped);

        // Classified: the text outside the bomb is read, the bomb is said, the doctor confirms.
        let c = crate::classify(&pdf);
        assert!(
            c.evidence
                .iter()
                .any(|e| e.source == "PDF" && e.found.contains("PDF bomb")),
            "{:?}",
            c.evidence
        );
        assert!(c.low_confidence);
        assert!(!c.skipped.iter().any(|s| s.code == crate::SkipCode::PdfText));
        let plain = crate::classify(&pdf_with_object_stream(1000));
        assert!(!plain.evidence.iter().any(|e| e.found.contains("PDF bomb")));
        assert!(
            !plain
                .skipped
                .iter()
                .any(|s| s.code == crate::SkipCode::PdfText)
        );
    }

    #[test]
    fn a_cross_reference_bomb_is_an_error() {
        let mut pdf = b"%PDF-1.5\n1 0 obj\n<< /Type /XRef /Size 2 /W [1 2 1] /Filter [/FlateDecode /FlateDecode] >>\nstream\n".to_vec();
        pdf.extend(deflate(&deflate(&vec![0u8; 48 << 20])));
        let at = pdf.len();
        pdf.extend(format!("\nendstream\nendobj\nstartxref\n9\n%%EOF\n{at}").as_bytes());
        assert_eq!(measure(&pdf).xref, MAX_INFLATED + 1);
        assert_eq!(load(&pdf).err(), Some(PdfError::Bomb));
        assert!(PdfError::Bomb.to_string().contains("PDF bomb"));
        let c = crate::classify(&pdf);
        assert_eq!(c.class, crate::DocumentClass::Other);
        assert!(c.low_confidence);
        assert!(
            c.evidence.iter().any(|e| e.found.contains("PDF bomb")),
            "{:?}",
            c.evidence
        );
        assert!(matches!(
            crate::scan::ScannedPdf::parse(&pdf).err(),
            Some(crate::scan::ScanError::Bomb(_))
        ));
    }
}
