//! Accuracy of the text rules on Chinese and bilingual clinical free text written blind: 150
//! fictional documents (Traditional Chinese as Hong Kong writes it, Simplified Chinese as the
//! mainland writes it, and English-Chinese bilingual) by a separate author who never saw the
//! classifier or the project's test material (`blind_zh/AUTHOR.md`, copied unchanged with the
//! documents and `labels.tsv` from the author's folder on 2026-11-29). A development half (60,
//! rules may be tuned on it) and a held-out half (90, only measured; its misses are counted,
//! never listed).
//!
//! Every document goes through the path an upload takes, twice: as the plain-text file, and
//! rendered to a PDF whose text is in a CID font (`Identity-H` with a `ToUnicode` map, as PDF
//! writers store Chinese), read back through the PDF text layer.

mod common;

use common::{Labelled, Report, evaluate, parse_labels};
use lopdf::{Document, Object, Stream, dictionary};
use medshare_classify::{DocumentClass, classify};
use std::path::PathBuf;

fn dir(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(set)
}

fn labels(set: &str) -> Vec<Labelled> {
    let p = dir(set).join("labels.tsv");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    parse_labels(&text, "heldout")
}

/// Every document of `set` classified as its text file and as a PDF of it.
fn run(set: &str) -> Report {
    let labels = labels(set);
    let text = |b: &[u8]| classify(b);
    let pdf = |b: &[u8]| classify(&as_pdf(std::str::from_utf8(b).expect("UTF-8 text")));
    let r = evaluate(
        &labels,
        |l| {
            let p = dir(set).join(&l.path);
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        },
        &[("text", &text), ("pdf", &pdf)],
        |l| {
            vec![
                l.class.category().to_owned(),
                format!("lang {}", l.language),
            ]
        },
    );
    r.print(set);
    r
}

/// Characters a line holds at 10 pt on an A4 page with 50 pt margins (CJK are 1 em wide).
const LINE_EMS: f64 = 49.0;
const LINES_PER_PAGE: usize = 60;

/// The document as a PDF: each source line one paragraph, wrapped by width, 60 lines a page,
/// in a Type 0 font whose codes are the characters' UTF-16 units (`Identity-H`), mapped back to
/// Unicode by its `ToUnicode` CMap.
fn as_pdf(text: &str) -> Vec<u8> {
    let mut lines: Vec<String> = Vec::new();
    for l in text.lines() {
        let mut cur = String::new();
        let mut width = 0.0;
        for ch in l.chars() {
            let w = if ch.is_ascii() { 0.5 } else { 1.0 };
            if width + w > LINE_EMS {
                lines.push(std::mem::take(&mut cur));
                width = 0.0;
            }
            cur.push(ch);
            width += w;
        }
        lines.push(cur);
    }
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    for chunk in (0u32..256).collect::<Vec<_>>().chunks(100) {
        cmap.push_str(&format!("{} beginbfrange\n", chunk.len()));
        for hi in chunk {
            cmap.push_str(&format!("<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>\n"));
        }
        cmap.push_str("endbfrange\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    let to_unicode = doc.add_object(Stream::new(dictionary! {}, cmap.into_bytes()));
    let descriptor = doc.add_object(dictionary! {
        "Type" => "FontDescriptor", "FontName" => "NotoSansCJKtc-Regular", "Flags" => 4,
        "FontBBox" => vec![0.into(), (-120).into(), 1000.into(), 880.into()],
        "ItalicAngle" => 0, "Ascent" => 880, "Descent" => -120, "CapHeight" => 733, "StemV" => 80,
    });
    let cid_font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "CIDFontType0", "BaseFont" => "NotoSansCJKtc-Regular",
        "CIDSystemInfo" => dictionary! {
            "Registry" => Object::string_literal("Adobe"),
            "Ordering" => Object::string_literal("Identity"),
            "Supplement" => 0,
        },
        "FontDescriptor" => descriptor, "DW" => 1000,
    });
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type0", "BaseFont" => "NotoSansCJKtc-Regular",
        "Encoding" => "Identity-H", "DescendantFonts" => vec![cid_font.into()],
        "ToUnicode" => to_unicode,
    });
    let mut kids = Vec::new();
    for page in lines.chunks(LINES_PER_PAGE) {
        let mut content = String::from("BT /F1 10 Tf 13 TL 50 792 Td\n");
        for l in page {
            let hex: String = l
                .chars()
                .map(|c| if (c as u32) < 0x10000 { c } else { '?' })
                .flat_map(|c| {
                    let mut b = [0u16; 2];
                    c.encode_utf16(&mut b).to_vec()
                })
                .map(|u| format!("{u:04X}"))
                .collect();
            content.push_str(&format!("<{hex}> Tj T*\n"));
        }
        content.push_str("ET\n");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        kids.push(Object::Reference(doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => content_id,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
        })));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("an in-memory PDF is written");
    out
}

#[test]
fn the_pdf_rendering_keeps_the_chinese_text() {
    let pdf = as_pdf("出院摘要 Discharge Summary\n診斷：社區性肺炎\n出院医嘱：按时服药");
    let c = classify(&pdf);
    assert!(
        !c.skipped
            .iter()
            .any(|s| s.code == medshare_classify::SkipCode::PdfText),
        "{:?}",
        c.evidence
    );
    assert_eq!(c.class, DocumentClass::DischargeSummary, "{:?}", c.evidence);
}

#[test]
fn chinese_free_text_written_blind() {
    assert_eq!(labels("blind_zh").len(), 150, "labels file lost rows");
    let r = run("blind_zh");
    for (route, floor) in HELD_OUT_FLOORS {
        let t = r.tally("held-out", route, "all");
        assert!(
            t.rate() >= *floor,
            "held-out {route}: accuracy fell to {:.3} (floor {floor})",
            t.rate()
        );
    }
}

/// The second blind set (`blind_zh2/AUTHOR.md`, copied unchanged with its documents and labels
/// on 2026-11-30): 216 documents by another author who never saw the classifier or the first
/// set, a development half (128) and a held-out half (88).
#[test]
fn chinese_free_text_written_blind_second_set() {
    assert_eq!(labels("blind_zh2").len(), 216, "labels file lost rows");
    let r = run("blind_zh2");
    for (route, floor) in HELD_OUT_FLOORS_2 {
        let t = r.tally("held-out", route, "all");
        assert!(
            t.rate() >= *floor,
            "held-out {route}: accuracy fell to {:.3} (floor {floor})",
            t.rate()
        );
    }
}

/// The second set's held-out floors (docs/classification.md). First run, 2026-11-30, with the
/// rules of commit 37a0bef (tuned on the first set's development half only) before any rule
/// was changed for this set: held-out text 68/88, PDF 68/88 (the second set's held-out result);
/// development half 110/128 both. After tuning on both development halves (2026-11-30):
/// held-out text 70/88, PDF 70/88; development 128/128.
const HELD_OUT_FLOORS_2: &[(&str, f64)] = &[("text", 0.79), ("pdf", 0.79)];

/// Floors under the held-out figures recorded in docs/classification.md. First run of the
/// held-out half, 2026-11-29, before any rule was changed for this set: text 66/90, PDF 66/90
/// (the held-out result). After tuning the rules on the development half only (its misses
/// read, the held-out half's never): text 75/90, PDF 75/90. After the second round of
/// development-half tuning (2026-11-30: titles decide over the subject's words, title lines,
/// letterheads): text 77/90, PDF 77/90. After tuning on both sets' development halves
/// (2026-11-30): text 78/90, PDF 78/90.
const HELD_OUT_FLOORS: &[(&str, f64)] = &[("text", 0.86), ("pdf", 0.86)];
