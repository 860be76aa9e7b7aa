//! The Tesseract engine is loaded once per language set and reused for every page and file of
//! the process, also when pages are read on several threads at once.

mod render;

use medshare_ocr::{OcrOptions, engine, ocr_with};
use render::{Photo, Script, page, photograph};

const LINES: &[&str] = &[
    "LABORATORY REPORT",
    "Potassium         6.8       mmol/L     3.5-5.1     H",
    "Sodium            139       mmol/L     135-145",
];

#[test]
fn models_are_loaded_once_for_many_pages_and_threads() {
    let photo = photograph(&page(LINES, Script::Latin), Photo::clean(), 1);
    let options = OcrOptions {
        languages: "eng".into(),
        datapath: None,
    };
    assert_eq!(engine::loaded(&options), 0);
    let first = ocr_with(&photo, &options).expect("read");
    assert!(first.word_count() > 5, "{first:?}");
    for _ in 0..2 {
        let again = ocr_with(&photo, &options).expect("read");
        assert_eq!(
            again.text(0.0),
            first.text(0.0),
            "the same page reads the same"
        );
    }
    assert_eq!(engine::loaded(&options), 1, "three pages, one engine");

    // Two threads at once: each takes an engine, a second is loaded only when the first is
    // busy, and both are kept.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| assert!(ocr_with(&photo, &options).expect("read").word_count() > 5));
        }
    });
    assert!(engine::loaded(&options) <= 2);
    let before = engine::loaded(&options);
    ocr_with(&photo, &options).expect("read");
    assert_eq!(engine::loaded(&options), before, "an idle engine is reused");

    // Another language set has its own engines.
    let zh = OcrOptions {
        languages: "eng+chi_tra".into(),
        datapath: None,
    };
    engine::warm_up(&zh).expect("chi_tra installed");
    assert_eq!(engine::loaded(&zh), 1);
    engine::release_all();
    ocr_with(&photo, &options).expect("read");
    assert_eq!(
        engine::loaded(&options),
        before + 1,
        "released engines are loaded again"
    );

    // A language that is not installed is a clear error, and loads nothing.
    let missing = OcrOptions {
        languages: "xyz_missing".into(),
        datapath: None,
    };
    assert!(matches!(
        ocr_with(&photo, &missing),
        Err(medshare_ocr::OcrError::Engine(_))
    ));
    assert_eq!(engine::loaded(&missing), 0);
}
