//! Pages of a scanned PDF the native reader cannot decode (CCITT fax, JPEG 2000, JBIG2, over the
//! size limit) are said in the evidence and make the result low confidence, as in the browser.
//!
//! `tests/data/ccitt-g4-lab-report.pdf` is a real scan-like PDF made with Debian's tools: a
//! fictional lab report rendered by Tesseract's `text2image` (DejaVu Sans, 300 dpi, a CCITT
//! group 4 TIFF) and wrapped by `img2pdf` without re-encoding (`/CCITTFaxDecode`), as fax
//! machines and many office scanners store pages.

mod render;

use lopdf::{Document, Object, Stream, dictionary};
use medshare_classify::{DocumentClass, Format, Value};
use medshare_ocr::{OcrOptions, classify_with};
use render::{Photo, Script, page, photograph};

const CCITT_PDF: &[u8] = include_bytes!("data/ccitt-g4-lab-report.pdf");

fn eng() -> OcrOptions {
    OcrOptions {
        languages: "eng".into(),
        datapath: None,
    }
}

#[test]
fn a_pdf_of_fax_pages_says_none_was_read() {
    let plain = medshare_classify::classify(CCITT_PDF);
    assert_eq!(plain.format, Format::Pdf);
    assert!(medshare_classify::needs_ocr(&plain), "{:?}", plain.evidence);
    let c = classify_with(CCITT_PDF, &eng(), &Default::default());
    assert!(
        c.evidence.iter().any(|e| e.source == "OCR"
            && e.found.starts_with("not read")
            && e.found.contains("1 page(s)")
            && e.found.contains("CCITT")),
        "{:?}",
        c.evidence
    );
    assert!(c.low_confidence && c.confidence <= medshare_classify::LOW_CONFIDENCE);
    assert!(c.observations.is_empty());
}

/// A three-page scan: a JPEG page that reads, then the real fax page and a JPEG 2000 page.
fn mixed_pdf(jpeg: &[u8], width: u32, height: u32) -> Vec<u8> {
    let fax = Document::load_mem(CCITT_PDF).expect("the fax PDF loads");
    let fax_image = fax
        .objects
        .values()
        .find_map(|o| match o {
            Object::Stream(s) if s.dict.has_type(b"XObject") => Some(s.clone()),
            _ => None,
        })
        .expect("the fax page's image");
    let jpx = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 2480, "Height" => 3508,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8, "Filter" => "JPXDecode",
        },
        // A JPEG 2000 file's signature box and the start of its header.
        b"\0\0\0\x0cjP  \r\n\x87\n\0\0\0\x14ftypjp2 ".to_vec(),
    );
    let jpeg_image = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => width as i64,
            "Height" => height as i64, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            "Filter" => "DCTDecode",
        },
        jpeg.to_vec(),
    );
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for image in [jpeg_image, fax_image, jpx] {
        let (w, h) = (
            image.dict.get(b"Width").unwrap().as_i64().unwrap(),
            image.dict.get(b"Height").unwrap().as_i64().unwrap(),
        );
        let image_id = doc.add_object(image);
        let content = format!("q {w} 0 0 {h} 0 0 cm /Im0 Do Q");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        kids.push(Object::Reference(doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), w.into(), h.into()],
            "Contents" => content_id,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
        })));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => 3 }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("pdf");
    out
}

#[test]
fn pages_not_decoded_are_counted_and_the_result_is_low_confidence() {
    let lines = [
        "KOWLOON CENTRAL HOSPITAL - CHEMICAL PATHOLOGY",
        "LABORATORY REPORT",
        "Specimen collected: 20/08/2025 08:15",
        "Test              Result    Units      Ref range   Flag",
        "Potassium         6.8       mmol/L     3.5-5.1     H",
        "Sodium            139       mmol/L     135-145",
    ];
    let jpeg = photograph(&page(&lines, Script::Latin), Photo::clean(), 3);
    let (w, h) = render::dimensions(&jpeg);
    let pdf = mixed_pdf(&jpeg, w, h);
    let c = classify_with(&pdf, &eng(), &Default::default());
    assert_eq!(c.class, DocumentClass::LabReport, "{:?}", c.evidence);
    assert!(
        c.evidence
            .iter()
            .any(|e| e.source == "OCR" && e.found.starts_with("2 page(s) not read")),
        "{:?}",
        c.evidence
    );
    assert!(c.low_confidence && c.confidence <= medshare_classify::LOW_CONFIDENCE);
    // What was read is still used.
    assert!(c.observations.iter().any(|o| o.value == Value::Number(6.8)));

    // The same page alone: nothing unread, nothing said.
    let one = render::scanned_pdf(&jpeg, w, h);
    let c = classify_with(&one, &eng(), &Default::default());
    assert!(!c.evidence.iter().any(|e| e.found.contains("not read")));
}
