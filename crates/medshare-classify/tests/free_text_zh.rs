//! Accuracy of the text rules on Chinese and bilingual clinical free text written blind:
//! fictional documents (Traditional Chinese as Hong Kong writes it, Simplified Chinese as the
//! mainland writes it, and English-Chinese bilingual) by four separate authors who never saw the
//! classifier, the project's test material or each other's sets (`blind_zh*/AUTHOR.md`, copied
//! unchanged with the documents and `labels.tsv` from the authors' folders on 2026-11-29/30):
//! 150, 216, 220 and 220 documents. Each set's first run was measured once before any rule was
//! changed for it (docs/classification.md); since then all four are development data, both
//! halves of the first two included, and every miss is listed with its evidence.
//!
//! Every document goes through the path an upload takes, twice: as the plain-text file, and
//! rendered to a PDF whose text is in a CID font (`Identity-H` with a `ToUnicode` map, as PDF
//! writers store Chinese), read back through the PDF text layer.

mod common;

use common::{Report, cjk_pdf, evaluate_set, set_labels};
use medshare_classify::{DocumentClass, classify};
use std::path::PathBuf;

fn dir(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(set)
}

/// Every document of `set` classified as its text file and as a PDF of it.
fn run(set: &str) -> Report {
    let text = |b: &[u8]| classify(b);
    let pdf = |b: &[u8]| classify(&cjk_pdf(std::str::from_utf8(b).expect("UTF-8 text")));
    let r = evaluate_set(
        &dir(set),
        &set_labels(&dir(set)),
        &[("text", &text), ("pdf", &pdf)],
    );
    r.print(set);
    r
}

#[test]
fn the_pdf_rendering_keeps_the_chinese_text() {
    let pdf = cjk_pdf("出院摘要 Discharge Summary\n診斷：社區性肺炎\n出院医嘱：按时服药");
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

/// One set's figures asserted: the labels all there, every route's accuracy over the whole set
/// (both halves: every set is development data once measured) at or above its floor, and every
/// wrong answer marked low confidence, so the app asks the doctor (the property issue 15 asks
/// for, tested as the English suite tests it).
fn check(set: &str, documents: usize, floors: &[(&'static str, f64)]) -> Report {
    assert_eq!(
        set_labels(&dir(set)).len(),
        documents,
        "labels file lost rows"
    );
    let r = run(set);
    for (route, floor) in floors {
        let (dev, held) = (
            r.tally("dev", route, "all"),
            r.tally("held-out", route, "all"),
        );
        let rate = f64::from(dev.right + held.right) / f64::from(dev.total + held.total);
        assert!(
            rate >= *floor,
            "{set} {route}: accuracy fell to {rate:.3} (floor {floor})"
        );
    }
    assert!(
        r.unmarked_dev.is_empty() && r.unmarked_held_out.is_empty(),
        "{set}: wrong answers not marked low confidence: {:#?} {:#?}",
        r.unmarked_dev,
        r.unmarked_held_out
    );
    r
}

/// The held-out half's accuracy at or above its floor (the first two sets' held-out figures,
/// recorded in docs/classification.md, must not fall).
fn held_out_floor(set: &str, r: &Report, floors: &[(&'static str, f64)]) {
    for (route, floor) in floors {
        let t = r.tally("held-out", route, "all");
        assert!(
            t.rate() >= *floor,
            "{set} held-out {route}: accuracy fell to {:.3} (floor {floor})",
            t.rate()
        );
    }
}

#[test]
fn chinese_free_text_written_blind() {
    let r = check("blind_zh", 150, FLOORS_1);
    held_out_floor("blind_zh", &r, HELD_OUT_FLOORS);
}

/// The second blind set (`blind_zh2/AUTHOR.md`, copied unchanged with its documents and labels
/// on 2026-11-30): 216 documents by another author who never saw the classifier or the first
/// set, a development half (128) and a held-out half (88).
#[test]
fn chinese_free_text_written_blind_second_set() {
    let r = check("blind_zh2", 216, FLOORS_2);
    held_out_floor("blind_zh2", &r, HELD_OUT_FLOORS_2);
}

/// The third and fourth blind sets (`blind_zh3/AUTHOR.md`, `blind_zh4/AUTHOR.md`, copied
/// unchanged with their documents and labels on 2026-11-30): 220 documents each by two more
/// authors who never saw the classifier or any earlier set, all development data (their
/// first-run figures, before any rule was changed for them, are in docs/classification.md).
#[test]
fn chinese_free_text_written_blind_third_set() {
    check("blind_zh3", 220, FLOORS_3);
}

#[test]
fn chinese_free_text_written_blind_fourth_set() {
    check("blind_zh4", 220, FLOORS_4);
}

/// The fifth blind set (`blind_zh5/AUTHOR.md`, copied unchanged with its documents and labels on
/// 2026-11-30): 200 documents by a fifth author who never saw the classifier or any other set,
/// all held out: run once with the classifier as it was frozen for this session (the n-gram
/// model trained on sets 1-4), never read, never tuned on. Its misses are counted, not listed.
#[test]
fn chinese_free_text_written_blind_fifth_set_held_out() {
    assert_eq!(
        set_labels(&dir("blind_zh5")).len(),
        200,
        "labels file lost rows"
    );
    let r = run("blind_zh5");
    held_out_floor("blind_zh5", &r, HELD_OUT_FLOORS_5);
}

/// Whole-set floors (both halves), 2026-11-30, the n-gram model trained on sets 1-4 (so these
/// are in-sample figures): set 1 text 145/150, PDF 145/150.
const FLOORS_1: &[(&str, f64)] = &[("text", 0.96), ("pdf", 0.96)];
/// Whole-set floors, 2026-11-30 (in-sample): set 2 text 204/216, PDF 205/216.
const FLOORS_2: &[(&str, f64)] = &[("text", 0.94), ("pdf", 0.94)];
/// Whole-set floors, 2026-11-30 (in-sample): set 3 text 207/220, PDF 207/220.
const FLOORS_3: &[(&str, f64)] = &[("text", 0.94), ("pdf", 0.94)];
/// Whole-set floors, 2026-11-30 (in-sample): set 4 text 208/220, PDF 208/220.
const FLOORS_4: &[(&str, f64)] = &[("text", 0.94), ("pdf", 0.94)];

/// The fifth set's floors: its one run, 2026-11-30 05:14 UTC (text 177/200, PDF 177/200; 2 of
/// the 23 wrong answers per route not marked low confidence, at 0.62 and 0.74).
const HELD_OUT_FLOORS_5: &[(&str, f64)] = &[("text", 0.88), ("pdf", 0.88)];

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
