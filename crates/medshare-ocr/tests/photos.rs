//! Photographed and scanned paper, end to end: synthetic lab reports, letters and summaries in
//! English, Traditional and Simplified Chinese are rendered, photographed badly (tilted, turned,
//! blurred, noisy, shadowed, small, JPEG), read by Tesseract and classified. Asserts the class,
//! the extracted lab values (precision must be 100 %: no value that was not on the page) and
//! reports recall, per class and per language.
//!
//! Needs Tesseract with eng, chi_tra and chi_sim, and the fonts: `bash scripts/test.sh`
//! installs them. Bounded: about twenty pages.

mod render;

use medshare_classify::{DocumentClass, Format, Value};
use medshare_ocr::{OcrOptions, classify_with};
use render::{Photo, Script, page, photograph};
use std::collections::BTreeMap;

struct Doc {
    name: &'static str,
    script: Script,
    class: DocumentClass,
    lines: &'static [&'static str],
    /// (analyte key, value) printed on the page.
    values: &'static [(&'static str, f64)],
    hkid: Option<&'static str>,
    date: Option<&'static str>,
}

const EN_LAB: Doc = Doc {
    name: "en-lab",
    script: Script::Latin,
    class: DocumentClass::LabReport,
    lines: &[
        "KOWLOON CENTRAL HOSPITAL - CHEMICAL PATHOLOGY",
        "LABORATORY REPORT",
        "Patient: CHAN Tai Man   HKID: A123456(3)",
        "Specimen collected: 20/08/2025 08:15",
        "Test              Result    Units      Ref range   Flag",
        "Potassium         6.8       mmol/L     3.5-5.1     H",
        "Sodium            139       mmol/L     135-145",
        "Creatinine        120       umol/L     64-104      H",
        "Glucose           5.2       mmol/L     3.9-5.5",
        "HbA1c             7.4       %          4.0-6.0     H",
        "Reported by: Dr WONG Siu Ming, pathologist (fictional)",
    ],
    values: &[
        ("potassium", 6.8),
        ("sodium", 139.0),
        ("creatinine", 120.0),
        ("glucose", 5.2),
        ("hba1c", 7.4),
    ],
    hkid: Some("HKID:A1234563"),
    date: Some("2025-08-20"),
};

const ZH_LAB: Doc = Doc {
    name: "zh-hant-lab",
    script: Script::Traditional,
    class: DocumentClass::LabReport,
    lines: &[
        "香港中央醫院 化驗報告",
        "姓名：陳大文   身份證號碼：A123456(3)",
        "採樣日期：2025年8月20日",
        "項目          結果     單位       參考範圍",
        "鉀            6.8      mmol/L     3.5-5.1   H",
        "鈉            139      mmol/L     135-145",
        "空腹血糖      5.2      mmol/L     3.9-5.5",
        "總膽固醇      6.1      mmol/L     <5.2      H",
        "報告醫生：黃小明（虛構）",
    ],
    values: &[
        ("potassium", 6.8),
        ("sodium", 139.0),
        ("glucose", 5.2),
        ("total-cholesterol", 6.1),
    ],
    hkid: Some("HKID:A1234563"),
    date: Some("2025-08-20"),
};

const ZH_HANS_LAB: Doc = Doc {
    name: "zh-hans-lab",
    script: Script::Simplified,
    class: DocumentClass::LabReport,
    lines: &[
        "深圳虚构医院 检验报告",
        "姓名：李小明",
        "采样日期：2025年9月3日",
        "项目          结果     单位       参考范围",
        "钾            3.9      mmol/L     3.5-5.1",
        "血红蛋白      128      g/L        130-175   L",
        "血小板        210      10^9/L     150-400",
    ],
    values: &[
        ("potassium", 3.9),
        ("haemoglobin", 128.0),
        ("platelets", 210.0),
    ],
    hkid: None,
    date: Some("2025-09-03"),
};

const EN_DISCHARGE: Doc = Doc {
    name: "en-discharge",
    script: Script::Latin,
    class: DocumentClass::DischargeSummary,
    lines: &[
        "QUEEN VICTORIA HOSPITAL (fictional)",
        "Patient: LEE Ka Ming    HKID: A123456(3)",
        "Admission date: 14/08/2025    Discharge date: 20/08/2025",
        "DISCHARGE DIAGNOSIS: Community acquired pneumonia",
        "HOSPITAL COURSE: Treated with intravenous antibiotics,",
        "improved and afebrile for 48 hours.",
        "DISCHARGE MEDICATIONS: Amoxicillin 500 mg three times daily",
        "FOLLOW-UP: Medical clinic in 4 weeks",
    ],
    values: &[],
    hkid: Some("HKID:A1234563"),
    date: Some("2025-08-20"),
};

const ZH_DISCHARGE: Doc = Doc {
    name: "zh-hant-discharge",
    script: Script::Traditional,
    class: DocumentClass::DischargeSummary,
    lines: &[
        "出院摘要",
        "病人姓名：陳大文",
        "入院日期：2025年8月14日",
        "出院日期：2025年8月20日",
        "出院診斷：社區性肺炎",
        "住院經過：靜脈注射抗生素後病情好轉。",
        "出院藥物：阿莫西林 500毫克 每日三次",
    ],
    values: &[],
    hkid: None,
    date: Some("2025-08-20"),
};

const EN_REFERRAL: Doc = Doc {
    name: "en-referral",
    script: Script::Latin,
    class: DocumentClass::ReferralLetter,
    lines: &[
        "Harbour View Family Clinic (fictional)",
        "Date: 02/09/2025",
        "Dear Dr Cheung,",
        "Re: Mr CHAN Tai Man, HKID A123456(3)",
        "Thank you for seeing this 64-year-old man with exertional",
        "chest pain for two months. I would be grateful for your",
        "assessment and further management.",
        "Yours sincerely,",
        "Dr HO Wing (fictional)",
    ],
    values: &[],
    hkid: Some("HKID:A1234563"),
    date: Some("2025-09-02"),
};

const ZH_REFERRAL: Doc = Doc {
    name: "zh-hans-referral",
    script: Script::Simplified,
    class: DocumentClass::ReferralLetter,
    lines: &[
        "转介信",
        "张医生台鉴：",
        "患者李小明，男，六十四岁，胸痛两个月。",
        "烦请诊治，谢谢。",
        "此致",
        "何医生（虚构）  2025年9月2日",
    ],
    values: &[],
    hkid: None,
    date: Some("2025-09-02"),
};

const EN_RADIOLOGY: Doc = Doc {
    name: "en-radiology",
    script: Script::Latin,
    class: DocumentClass::ImagingReport,
    lines: &[
        "EXAMINATION: CHEST PA AND LATERAL",
        "INDICATION: Cough and fever.",
        "TECHNIQUE: Two views of the chest.",
        "COMPARISON: None.",
        "FINDINGS: Right lower lobe consolidation.",
        "No pleural effusion or pneumothorax.",
        "IMPRESSION: Right lower lobe pneumonia.",
    ],
    values: &[],
    hkid: None,
    date: None,
};

fn options(script: Script) -> OcrOptions {
    OcrOptions {
        languages: match script {
            Script::Latin => "eng",
            Script::Traditional => "eng+chi_tra",
            Script::Simplified => "eng+chi_sim",
        }
        .into(),
        datapath: None,
    }
}

#[derive(Default)]
struct Tally {
    pages: u32,
    right: u32,
    values_on_pages: u32,
    values_found: u32,
    values_wrong: Vec<String>,
    misses: Vec<String>,
    wrong_but_sure: Vec<String>,
    ids_printed: u32,
    ids_found: u32,
    dates_printed: u32,
    dates_found: u32,
    dates_wrong: Vec<String>,
}

/// Photograph, read and classify one document; check what it says against the truth.
fn run(doc: &Doc, photo: Photo, seed: u64, t: &mut Tally, all_languages: bool) {
    let img = photograph(&page(doc.lines, doc.script), photo, seed);
    let opts = if all_languages {
        OcrOptions::default()
    } else {
        options(doc.script)
    };
    let c = classify_with(&img, &opts, &Default::default());
    let what = format!("{} {photo:?}", doc.name);
    assert!(
        matches!(c.format, Format::Png | Format::Jpeg),
        "{what}: {:?}",
        c.format
    );
    assert!(
        c.evidence.iter().any(|e| e.source == "OCR"),
        "{what}: {:?}",
        c.evidence
    );
    t.pages += 1;
    if c.class == doc.class {
        t.right += 1;
    } else {
        t.misses.push(format!(
            "{what}: got {} ({:.2}) {:?}",
            c.class.category(),
            c.confidence,
            c.evidence
        ));
        if !c.low_confidence {
            t.wrong_but_sure.push(what.clone());
        }
    }
    // Precision: every extracted value was printed on the page, for that analyte.
    t.values_on_pages += doc.values.len() as u32;
    for o in &c.observations {
        let key = o.normalised.as_ref().map(|n| n.analyte.as_str());
        let Value::Number(v) = o.value else {
            t.values_wrong
                .push(format!("{what}: text value {:?}", o.value));
            continue;
        };
        match doc.values.iter().find(|(k, _)| Some(*k) == key) {
            Some((_, want)) if (v - want).abs() < 1e-9 => t.values_found += 1,
            _ => t
                .values_wrong
                .push(format!("{what}: {} = {v} ({key:?})", o.name)),
        }
    }
    // Identifiers: an HKID found must be the one printed (the check digit guards the rest).
    for id in &c.patient.identifiers {
        if id.kind == medshare_classify::IdentifierKind::Hkid && Some(id.value.as_str()) != doc.hkid
        {
            t.values_wrong.push(format!("{what}: HKID {}", id.value));
        }
    }
    if doc.hkid.is_some() {
        t.ids_printed += 1;
        t.ids_found += u32::from(!c.patient.identifiers.is_empty());
    }
    if let Some(d) = doc.date {
        t.dates_printed += 1;
        match c.date_of_service.as_deref() {
            Some(found) if found == d => t.dates_found += 1,
            Some(found) => t.dates_wrong.push(format!("{what}: date {found}")),
            None => {}
        }
    }
}

fn report(name: &str, t: &Tally) {
    eprintln!(
        "{name}: {}/{} pages classified right; lab values: {} found of {} printed, {} wrong",
        t.right,
        t.pages,
        t.values_found,
        t.values_on_pages,
        t.values_wrong.len()
    );
    eprintln!(
        "  HKIDs {}/{}, dates of service {}/{} ({} wrong)",
        t.ids_found,
        t.ids_printed,
        t.dates_found,
        t.dates_printed,
        t.dates_wrong.len()
    );
    for d in &t.dates_wrong {
        eprintln!("  date: {d}");
    }
    for m in &t.misses {
        eprintln!("  miss: {m}");
    }
}

fn check(t: &Tally) {
    assert!(
        t.values_wrong.is_empty(),
        "invented values: {:#?}",
        t.values_wrong
    );
    assert!(
        t.wrong_but_sure.is_empty(),
        "wrong answers not marked low confidence: {:#?}",
        t.wrong_but_sure
    );
}

fn tilted(tilt: f32, jpeg: u8) -> Photo {
    Photo {
        tilt,
        jpeg,
        ..Photo::clean()
    }
}

#[test]
fn english_photos_of_reasonable_quality() {
    let mut t = Tally::default();
    let photos = [
        Photo::clean(),
        tilted(4.0, 85),
        Photo {
            tilt: -8.0,
            blur: 1.0,
            noise: 25,
            jpeg: 75,
            ..Photo::clean()
        },
        Photo {
            quarter_turns: 1,
            tilt: 2.0,
            jpeg: 85,
            ..Photo::clean()
        },
        Photo {
            quarter_turns: 2,
            jpeg: 85,
            ..Photo::clean()
        },
        Photo {
            shadow: 0.45,
            tilt: -3.0,
            jpeg: 80,
            ..Photo::clean()
        },
        Photo {
            scale: 0.6,
            jpeg: 85,
            ..Photo::clean()
        },
    ];
    for (i, p) in photos.into_iter().enumerate() {
        run(&EN_LAB, p, i as u64, &mut t, false);
    }
    for (i, d) in [&EN_DISCHARGE, &EN_REFERRAL, &EN_RADIOLOGY]
        .iter()
        .enumerate()
    {
        run(d, Photo::clean(), 10 + i as u64, &mut t, false);
        run(d, tilted(-5.0, 80), 20 + i as u64, &mut t, false);
    }
    report("photos, en", &t);
    check(&t);
    assert!(t.right * 10 >= t.pages * 9, "accuracy below 90 %");
    // The straight and the moderately damaged lab photos give every value.
    assert!(
        t.values_found * 10 >= t.values_on_pages * 8,
        "recall below 80 %"
    );
}

#[test]
fn chinese_photos_of_reasonable_quality() {
    let mut t = Tally::default();
    for (i, d) in [&ZH_LAB, &ZH_HANS_LAB, &ZH_DISCHARGE, &ZH_REFERRAL]
        .iter()
        .enumerate()
    {
        run(d, Photo::clean(), 30 + i as u64, &mut t, false);
        run(d, tilted(3.0, 85), 40 + i as u64, &mut t, false);
    }
    // The default language set (English, Traditional and Simplified) reads both scripts.
    run(&ZH_LAB, tilted(-2.0, 85), 50, &mut t, true);
    run(&ZH_HANS_LAB, Photo::clean(), 51, &mut t, true);
    report("photos, zh", &t);
    check(&t);
    assert!(t.right * 10 >= t.pages * 9, "accuracy below 90 %");
}

#[test]
fn unreadable_photos_say_so_and_invent_nothing() {
    let mut t = Tally::default();
    // Far too blurred and noisy to read: whatever comes out must be marked, with no values.
    let awful = Photo {
        blur: 4.5,
        noise: 70,
        scale: 0.35,
        jpeg: 30,
        ..Photo::clean()
    };
    let img = photograph(&page(EN_LAB.lines, Script::Latin), awful, 99);
    let c = classify_with(&img, &options(Script::Latin), &Default::default());
    run(&EN_LAB, awful, 99, &mut t, false);
    check(&t);
    for o in &c.observations {
        let Value::Number(v) = o.value else {
            panic!("{o:?}")
        };
        assert!(
            EN_LAB.values.iter().any(|(_, w)| (v - w).abs() < 1e-9),
            "invented {o:?}"
        );
    }
    assert!(
        c.low_confidence || c.class == DocumentClass::LabReport,
        "{c:?}"
    );

    // A photo with no text at all (a wound, say) stays a clinical photo.
    let mut g = image::GrayImage::from_pixel(900, 700, image::Luma([230]));
    imageproc::drawing::draw_filled_ellipse_mut(&mut g, (450, 350), 220, 140, image::Luma([90]));
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(g)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let c = classify_with(png.get_ref(), &options(Script::Latin), &Default::default());
    assert_eq!(c.class, DocumentClass::ClinicalPhoto, "{:?}", c.evidence);
}

#[test]
fn scanned_pdf_is_read_page_by_page() {
    let jpeg = photograph(&page(EN_LAB.lines, Script::Latin), tilted(1.5, 85), 7);
    let (w, h) = render::dimensions(&jpeg);
    let pdf = render::scanned_pdf(&jpeg, w, h);
    // Without OCR: a PDF with no text layer.
    let plain = medshare_classify::classify(&pdf);
    assert_eq!(plain.format, Format::Pdf);
    assert!(medshare_classify::needs_ocr(&plain));
    let c = classify_with(&pdf, &options(Script::Latin), &Default::default());
    assert_eq!(c.class, DocumentClass::LabReport, "{:?}", c.evidence);
    let mut found = BTreeMap::new();
    for o in &c.observations {
        if let (Some(n), Value::Number(v)) = (&o.normalised, &o.value) {
            found.insert(n.analyte.clone(), *v);
        }
    }
    assert_eq!(found.get("potassium"), Some(&6.8), "{found:?}");
    assert!(c.critical, "potassium 6.8 is critical");
    assert_eq!(c.date_of_service.as_deref(), Some("2025-08-20"));
}
