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

use lopdf::{Document, Object, Stream, dictionary};
use medshare_classify::{Classification, DocumentClass, classify};
use std::collections::BTreeMap;
use std::path::PathBuf;

struct Labelled {
    path: String,
    class: DocumentClass,
    held_out: bool,
    language: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/blind_zh")
}

fn labels() -> Vec<Labelled> {
    std::fs::read_to_string(dir().join("labels.tsv"))
        .expect("blind_zh/labels.tsv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "path<TAB>class<TAB>split<TAB>language: {l}");
            Labelled {
                path: f[0].to_owned(),
                class: DocumentClass::from_category(f[1])
                    .unwrap_or_else(|| panic!("unknown class {}", f[1])),
                held_out: match f[2] {
                    "heldout" => true,
                    "dev" => false,
                    s => panic!("unknown split {s}"),
                },
                language: f[3].to_owned(),
            }
        })
        .collect()
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

#[derive(Default)]
struct Tally {
    right: u32,
    total: u32,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.right += u32::from(ok);
    }
    fn rate(&self) -> f64 {
        f64::from(self.right) / f64::from(self.total.max(1))
    }
}

/// Per split, per path ("text"/"pdf"), per class or language: right/total.
type Table = BTreeMap<(&'static str, &'static str, String), Tally>;

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
    let labels = labels();
    assert_eq!(labels.len(), 150, "labels file lost rows");
    let mut table: Table = BTreeMap::new();
    let mut dev_misses = Vec::new();
    let mut held_out_misses = 0;
    let mut unmarked = Vec::new();
    for l in &labels {
        let p = dir().join(&l.path);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let text = String::from_utf8(bytes.clone()).expect("UTF-8 text");
        let split = if l.held_out { "held-out" } else { "dev" };
        for (route, c) in [
            ("text", classify(&bytes)),
            ("pdf", classify(&as_pdf(&text))),
        ] {
            let ok = c.class == l.class;
            for key in [
                l.class.category().to_owned(),
                format!("lang {}", l.language),
                "all".to_owned(),
            ] {
                table.entry((split, route, key)).or_default().add(ok);
            }
            if !ok {
                if !c.low_confidence {
                    unmarked.push(format!(
                        "{} ({route}): wrong at confidence {:.2} without the low-confidence mark",
                        if l.held_out {
                            "a held-out document"
                        } else {
                            &l.path
                        },
                        c.confidence
                    ));
                }
                if l.held_out {
                    held_out_misses += 1;
                } else {
                    dev_misses.push(miss(l, route, &c));
                }
            }
        }
    }
    for ((split, route, key), t) in &table {
        eprintln!(
            "{split:8} {route:4} {key:22} {:4}/{:<4} {:5.1}%",
            t.right,
            t.total,
            t.rate() * 100.0
        );
    }
    for m in &dev_misses {
        eprintln!("  dev miss: {m}");
    }
    eprintln!("  held-out misses: {held_out_misses}");
    for u in &unmarked {
        eprintln!("  unmarked: {u}");
    }
    for (route, floor) in HELD_OUT_FLOORS {
        let t = &table[&("held-out", *route, "all".to_owned())];
        assert!(
            t.rate() >= *floor,
            "held-out {route}: accuracy fell to {:.3} (floor {floor})",
            t.rate()
        );
    }
}

/// Floors under the held-out figures recorded in docs/classification.md. First run of the
/// held-out half, 2026-11-29, before any rule was changed for this set: text 66/90, PDF 66/90
/// (the held-out result). After tuning the rules on the development half only (its misses
/// read, the held-out half's never): text 75/90, PDF 75/90.
const HELD_OUT_FLOORS: &[(&str, f64)] = &[("text", 0.82), ("pdf", 0.82)];

fn miss(l: &Labelled, route: &str, c: &Classification) -> String {
    let evidence: Vec<String> = c
        .evidence
        .iter()
        .take(5)
        .map(|e| format!("{}: {}", e.source, e.found))
        .collect();
    format!(
        "{} ({route}, {}): expected {}, got {} at {:.2} [{}]",
        l.path,
        l.language,
        l.class.category(),
        c.class.category(),
        c.confidence,
        evidence.join("; ")
    )
}
