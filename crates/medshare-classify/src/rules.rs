//! The text rules: which class a clinical text is, from three kinds of evidence, each reported
//! as an evidence line:
//!
//! - **phrases** (English, Traditional and Simplified Chinese), a match in the title region
//!   (the first six non-empty lines) counting double: `title: discharge summary`,
//!   `text: 出院摘要`;
//! - **section headers**, the structure clinicians write even without a title line
//!   (EXAMINATION / TECHNIQUE / COMPARISON / FINDINGS / IMPRESSION; HOSPITAL COURSE /
//!   DISCHARGE MEDICATIONS; GROSS / MICROSCOPIC; 主訴 / 現病史 ...): `section: technique`;
//!   three or more headers of one class add a structure bonus;
//! - **lab result lines** (analyte, number, unit) found by the extractor: `lab lines: 6`.
//!
//! Phrases are matched on word boundaries in English; Chinese has no spaces, so Chinese
//! phrases are matched as substrings. Full-width forms (`：`, `（`) are folded to ASCII first.

use crate::ocr::is_cjk;
use crate::{DocumentClass, Evidence, Modality};
use std::borrow::Cow;

type Rule = (&'static str, u32);

/// The class's confidence is at most this when it rests on weak evidence (total score below
/// [`SURE_SCORE`]) or a close second class: such results are flagged for confirmation.
pub(crate) const SURE_SCORE: u32 = 8;

/// A phrase of at least this weight names the kind of document (`discharge summary`,
/// `出院摘要`); lighter ones are the vocabulary of its subject (`mri`, `sinus rhythm`).
const KIND_WEIGHT: u32 = 5;

/// The evidence behind one class's score, by kind: how confidence is judged.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Features {
    score: u32,
    /// Phrases naming the kind of document, and whether one is in the title region.
    kind: u32,
    title_kind: bool,
    /// The title names the kind in words (a phrase or a title line, not only a letterhead).
    title_named: bool,
    /// Section headers of the class.
    sections: u32,
    /// Other phrases (the subject's vocabulary), distinct.
    vocabulary: u32,
    /// Lab result lines (lab reports only).
    lab_lines: usize,
}

/// The title region is at most this many characters.
const TITLE_CHARS: usize = 300;

/// Phrase rules per class (lower case).
const PHRASES: &[(DocumentClass, &[Rule])] = &[
    (
        DocumentClass::DischargeSummary,
        &[
            ("discharge summary", 6),
            ("discharge note", 5),
            ("discharge letter", 5),
            ("discharged", 2),
            ("date of discharge", 3),
            ("discharge date", 3),
            ("hospital course", 3),
            ("course in hospital", 3),
            ("medications on discharge", 3),
            ("discharge medications", 3),
            ("discharge diagnosis", 3),
            ("discharge diagnoses", 3),
            ("discharge instructions", 3),
            ("discharge condition", 3),
            ("condition on discharge", 3),
            ("length of stay", 2),
            ("principal diagnosis", 2),
            ("admission date", 1),
            ("date of admission", 1),
            ("admitted", 1),
            ("出院摘要", 6),
            ("出院小結", 6),
            ("出院小结", 6),
            ("出院記錄", 6),
            ("出院紀錄", 6),
            // Hong Kong: leaving hospital for a care home (離院), and its dates.
            ("離院摘要", 6),
            ("离院摘要", 6),
            ("離院通知書", 6),
            ("離院通知", 5),
            ("留院日期", 3),
            ("出院记录", 6),
            ("出院日期", 3),
            ("出院診斷", 3),
            ("出院诊断", 3),
            ("出院藥物", 3),
            ("出院带药", 3),
            ("出院帶藥", 3),
            ("住院經過", 3),
            ("住院经过", 3),
            ("住院期間", 2),
            ("住院期间", 2),
            ("入院日期", 1),
            // Hong Kong and mainland variants of the title and its sections.
            ("出院撮要", 6),
            ("出院醫囑", 3),
            ("出院医嘱", 3),
            ("出院情況", 2),
            ("出院情况", 2),
        ],
    ),
    (
        DocumentClass::ReferralLetter,
        &[
            ("referral letter", 6),
            ("referral note", 6),
            ("letter of referral", 6),
            ("referral", 2),
            ("reason for referral", 4),
            ("dear colleague", 3),
            ("dear dr", 2),
            ("thank you for seeing", 4),
            ("kindly see", 3),
            ("please see", 2),
            ("please assess", 3),
            ("for your assessment", 3),
            ("for your expert", 3),
            ("for further management", 2),
            ("i am writing", 2),
            ("i would be grateful", 2),
            ("grateful for your", 2),
            ("many thanks", 1),
            ("yours sincerely", 1),
            ("yours faithfully", 1),
            ("轉介信", 6),
            ("轉介表", 6),
            ("转介表", 6),
            ("referral form", 6),
            ("dear doctor", 3),
            ("grateful if you could", 3),
            ("轉介西醫", 4),
            ("麻煩你", 3),
            ("麻烦你", 3),
            ("麻煩安排", 3),
            ("转介信", 6),
            ("轉介", 2),
            ("转介", 2),
            ("轉診", 3),
            ("转诊", 3),
            ("煩請", 3),
            ("烦请", 3),
            ("敬請", 2),
            ("敬请", 2),
            ("台鑒", 2),
            ("台鉴", 2),
            ("此致", 1),
            // A letter's salutation and request, and a request for a consultation (the reply
            // is a consultation note).
            ("敬啟者", 3),
            ("敬启者", 3),
            ("懇請", 3),
            ("恳请", 3),
            ("貴科", 3),
            ("贵科", 3),
            ("會診申請", 5),
            ("会诊申请", 5),
            ("邀請會診", 5),
            ("邀请会诊", 5),
            ("請會診", 3),
            ("请会诊", 3),
        ],
    ),
    (
        DocumentClass::ConsultationNote,
        &[
            ("consultation note", 6),
            ("consult note", 6),
            // LOINC document ontology: outpatient, progress and H&P notes are the consult
            // kind of document (34108-1 Outpatient Note, 11506-3 Progress note, 34117-2 H&P).
            ("outpatient note", 6),
            ("office note", 5),
            ("history and physical", 5),
            ("history & physical", 5),
            ("evaluation and management note", 5),
            ("consultation report", 6),
            ("consultation", 2),
            ("clinic note", 4),
            ("progress note", 4),
            ("office visit", 3),
            ("reason for consultation", 4),
            // A consultant's reply to the referring doctor is the consultation's report.
            ("thank you for referring", 5),
            ("thank you for this consult", 4),
            ("kind referral", 2),
            ("history of present illness", 2),
            ("chief complaint", 2),
            ("presenting complaint", 2),
            ("assessment and plan", 2),
            ("impression and plan", 2),
            ("review of systems", 2),
            ("physical examination", 1),
            ("past medical history", 1),
            ("social history", 1),
            ("會診記錄", 6),
            ("会诊记录", 6),
            ("門診記錄", 5),
            ("门诊记录", 5),
            ("會診", 2),
            ("会诊", 2),
            ("主訴", 2),
            ("主诉", 2),
            ("現病史", 2),
            ("现病史", 2),
            ("既往史", 1),
            ("體格檢查", 1),
            ("体格检查", 1),
            ("覆診記錄", 6),
            ("复诊记录", 6),
            ("隨訪記錄", 6),
            ("随访记录", 6),
            ("門診病歷", 6),
            ("门诊病历", 6),
            ("病程記錄", 5),
            ("病程记录", 5),
            ("會診意見", 6),
            ("会诊意见", 6),
            ("覆診", 2),
            ("复诊", 2),
            ("隨訪", 2),
            ("随访", 2),
            ("follow-up note", 5),
            ("follow up note", 5),
            ("fu note", 5),
            ("soap note", 6),
            ("follow-up", 1),
            ("診症紀錄", 6),
            ("诊症记录", 6),
            ("專科門診", 2),
            ("专科门诊", 2),
        ],
    ),
    (
        DocumentClass::ImagingReport,
        &[
            ("radiology report", 6),
            ("imaging report", 6),
            ("angiography report", 6),
            ("coronary angiography", 4),
            ("angiogram", 3),
            ("angiography", 3),
            ("radiograph", 3),
            ("radiographs", 3),
            ("x-ray", 3),
            ("xray", 3),
            ("cxr", 3),
            ("computed tomography", 4),
            ("ct scan", 4),
            ("ct", 2),
            ("mri", 4),
            ("magnetic resonance", 4),
            ("ultrasound", 3),
            ("sonography", 3),
            ("doppler", 2),
            ("mammogram", 4),
            ("mammography", 4),
            ("scintigraphy", 3),
            ("nuclear medicine", 3),
            ("radiologist", 3),
            ("pa and lateral", 3),
            ("frontal and lateral", 3),
            ("axial", 2),
            ("sagittal", 2),
            ("coronal", 1),
            ("without contrast", 3),
            ("with contrast", 2),
            ("contrast-enhanced", 2),
            ("unenhanced", 3),
            ("cardiomediastinal", 3),
            ("pneumothorax", 1),
            ("pleural effusion", 1),
            ("no acute", 1),
            // The words of a chest radiograph report (MIMIC-CXR style): views, lines and tubes,
            // and findings each count a little; together they decide a report without headers.
            ("wet read", 5),
            ("chest film", 3),
            ("ap chest", 3),
            ("frontal view", 3),
            ("lateral view", 2),
            ("frontal", 1),
            ("portable", 1),
            ("comparison is made", 3),
            ("prior study", 2),
            ("prior studies", 2),
            ("interval change", 2),
            ("standard position", 2),
            ("cardiomegaly", 1),
            ("atelectasis", 1),
            ("opacity", 1),
            ("opacities", 1),
            ("opacification", 1),
            ("consolidation", 1),
            ("hemidiaphragm", 2),
            ("costophrenic", 2),
            ("mediastinum", 1),
            ("mediastinal", 1),
            ("hilar", 1),
            ("carina", 2),
            ("vascular congestion", 2),
            ("pulmonary edema", 1),
            ("lung volumes", 2),
            ("myocardial perfusion", 4),
            ("perfusion imaging", 3),
            ("spect", 3),
            ("impression", 1),
            ("findings", 1),
            ("contrast", 1),
            ("stenosis", 1),
            ("放射科報告", 6),
            ("放射科报告", 6),
            ("影像報告", 6),
            ("影像报告", 6),
            ("放射診斷", 4),
            ("放射诊断", 4),
            ("電腦掃描", 4),
            ("电脑扫描", 4),
            ("電腦斷層", 4),
            ("电脑断层", 4),
            ("磁力共振", 4),
            ("磁共振", 4),
            ("超聲波", 3),
            ("超声波", 3),
            ("超聲", 2),
            ("超声", 2),
            ("x光", 3),
            ("造影", 2),
            ("檢查所見", 2),
            ("检查所见", 2),
        ],
    ),
    (
        DocumentClass::Ecg,
        &[
            ("ecg report", 6),
            ("electrocardiogram", 5),
            ("ecg", 3),
            ("ekg", 3),
            ("12-lead", 4),
            ("qrs", 3),
            ("qtc", 3),
            ("pr interval", 3),
            ("sinus rhythm", 2),
            ("ventricular rate", 2),
            ("心電圖", 5),
            ("心电图", 5),
            ("竇性心律", 2),
            ("窦性心律", 2),
        ],
    ),
    (
        DocumentClass::LabReport,
        &[
            ("laboratory report", 6),
            ("lab report", 6),
            ("laboratory results", 5),
            ("lab results", 5),
            ("reference range", 3),
            ("ref range", 3),
            ("reference interval", 3),
            ("specimen collected", 2),
            ("haematology", 2),
            ("hematology", 2),
            ("biochemistry", 2),
            ("clinical chemistry", 2),
            ("化驗報告", 6),
            ("化验报告", 6),
            ("檢驗報告", 6),
            ("检验报告", 6),
            ("化驗結果", 5),
            ("化验结果", 5),
            ("參考範圍", 3),
            ("参考范围", 3),
            ("參考值", 3),
            ("参考值", 3),
            ("生化", 2),
            ("血液學", 2),
            ("血液学", 2),
            ("laboratory", 2),
            ("ref. range", 3),
            ("blood gas", 4),
            ("tumour markers", 4),
            ("tumor markers", 4),
            ("化學病理", 3),
            ("化学病理", 3),
            ("檢驗科", 3),
            ("检验科", 3),
            ("化驗", 2),
            ("化验", 2),
            ("採樣", 2),
            ("采样", 2),
            ("標本", 1),
            ("标本", 1),
            ("腫瘤標誌物", 4),
            ("肿瘤标志物", 4),
            ("血氣", 3),
            // Panels and sections of the laboratory, as their reports are titled.
            ("血常規", 4),
            ("血常规", 4),
            ("尿常規", 4),
            ("尿常规", 4),
            ("凝血", 3),
            ("肝功能", 3),
            ("腎功能", 3),
            ("肾功能", 3),
            ("血清學", 3),
            ("血清学", 3),
            ("microbiology", 4),
            ("微生物", 4),
            ("culture", 2),
            ("sensitivity", 2),
            ("藥物敏感", 3),
            ("药敏", 3),
            ("檢驗日期", 3),
            ("检验日期", 3),
            ("送检", 2),
            ("送檢", 2),
            ("检验者", 3),
            ("檢驗者", 3),
            ("审核者", 2),
            ("樣本", 2),
            ("样本", 2),
            ("血气", 3),
        ],
    ),
    (
        DocumentClass::PathologyReport,
        &[
            ("pathology report", 6),
            ("histopathology", 5),
            ("surgical pathology", 5),
            ("histology", 4),
            ("cytology", 4),
            ("microscopic description", 4),
            ("macroscopic description", 4),
            ("gross description", 4),
            ("received in formalin", 5),
            ("immunohistochemistry", 3),
            ("final diagnosis", 2),
            ("frozen section", 3),
            ("biopsy", 2),
            ("carcinoma", 2),
            ("margins", 2),
            ("病理報告", 6),
            ("病理报告", 6),
            ("組織病理", 5),
            ("组织病理", 5),
            ("細胞學", 4),
            ("细胞学", 4),
            ("肉眼所見", 4),
            ("肉眼所见", 4),
            ("顯微鏡所見", 4),
            ("显微镜所见", 4),
            ("病理診斷", 3),
            ("病理诊断", 3),
            ("活檢", 2),
            ("細胞檢查", 4),
            ("细胞检查", 4),
            ("細胞病理", 3),
            ("细胞病理", 3),
            ("子宮頸抹片", 4),
            ("子宫颈涂片", 4),
            ("液基", 3),
            ("活检", 2),
        ],
    ),
    (
        DocumentClass::OperativeNote,
        &[
            ("operation note", 6),
            ("operative note", 6),
            ("operative report", 6),
            ("operation record", 6),
            ("procedure note", 5),
            ("surgical operation note", 6),
            ("procedure performed", 3),
            ("operation performed", 3),
            ("surgeon", 3),
            ("anaesthesia", 2),
            ("anesthesia", 2),
            ("incision", 3),
            ("estimated blood loss", 4),
            ("pre-operative diagnosis", 3),
            ("preoperative diagnosis", 3),
            ("post-operative diagnosis", 3),
            ("postoperative diagnosis", 3),
            ("prepped and draped", 5),
            ("sterile fashion", 3),
            ("tolerated the procedure", 2),
            ("post-operative", 1),
            ("closure", 2),
            ("手術紀錄", 6),
            ("手術記錄", 6),
            ("手术记录", 6),
            ("手術名稱", 3),
            ("手术名称", 3),
            ("術前診斷", 3),
            ("术前诊断", 3),
            ("術後診斷", 3),
            ("术后诊断", 3),
            ("主刀", 3),
            ("麻醉", 2),
            ("切口", 3),
            ("出血量", 3),
            // Endoscopies are procedure notes (the English set files them as operative notes).
            ("endoscopy", 3),
            ("colonoscopy", 4),
            ("gastroscopy", 4),
            ("ogd", 3),
            ("polypectomy", 4),
            ("內窺鏡", 4),
            ("内窥镜", 4),
            ("胃鏡", 2),
            ("胃镜", 2),
            ("大腸鏡", 2),
            ("肠镜", 2),
        ],
    ),
    (
        DocumentClass::Medication,
        &[
            ("prescription", 5),
            ("medication list", 5),
            ("medication record", 5),
            ("dispense", 3),
            ("refill", 2),
            ("refills", 2),
            ("tablets", 2),
            ("tablet", 1),
            ("capsules", 2),
            ("dosage", 2),
            ("pharmacy", 2),
            ("twice daily", 1),
            ("once daily", 1),
            ("處方", 5),
            ("处方", 5),
            ("藥物清單", 5),
            ("药物清单", 5),
            ("配藥", 3),
            ("配药", 3),
            ("用法", 2),
            ("每日兩次", 1),
            ("每日两次", 1),
            ("每日一次", 1),
            ("rx", 3),
            ("medication reconciliation", 5),
            ("藥劑部", 3),
            ("药剂科", 3),
            ("藥劑師", 2),
            ("药剂师", 2),
            ("藥物標籤", 5),
            ("药物标签", 5),
            ("用藥清單", 5),
            ("用药清单", 5),
            ("藥物重整", 5),
            ("药物重整", 5),
            ("每日三次", 1),
            ("飯後", 1),
            ("insulin", 2),
            ("regimen", 2),
            ("胰島素", 2),
            ("胰岛素", 2),
            ("饭后", 1),
        ],
    ),
    (
        DocumentClass::ImmunisationRecord,
        &[
            ("immunisation record", 6),
            ("immunization record", 6),
            ("vaccination record", 6),
            ("immunisation", 4),
            ("immunization", 4),
            ("vaccination", 4),
            ("vaccine", 3),
            ("booster", 2),
            ("dose number", 2),
            ("疫苗接種", 6),
            ("疫苗接种", 6),
            ("預防接種", 6),
            ("预防接种", 6),
            ("疫苗", 3),
            ("接種", 2),
            ("接种", 2),
        ],
    ),
    (
        // Neurophysiology studies (EEG, EMG and nerve conduction, evoked potentials, sleep
        // studies) have an IMPRESSION and name imaging in passing, but are not imaging reports
        // and no class of ours fits them: their own words make them `other`.
        DocumentClass::Other,
        &[
            ("electroencephalogram", 5),
            ("eeg", 4),
            ("electromyography", 5),
            ("electrodiagnostic", 5),
            ("nerve conduction", 5),
            ("needle emg", 5),
            ("emg", 3),
            ("conduction velocity", 3),
            ("distal latency", 3),
            ("evoked potential", 4),
            ("evoked potentials", 4),
            ("evoked response", 3),
            ("polysomnography", 5),
            ("polysomnogram", 5),
            ("background activity", 2),
            // Papers about care that are not records of it, as a records officer files them:
            // certificates, appointment slips, consent forms, claims and receipts.
            ("medical certificate", 6),
            ("sick leave", 4),
            ("attendance certificate", 6),
            ("certificate", 3),
            ("consent form", 6),
            ("claim form", 5),
            ("receipt", 4),
            ("醫生證明書", 6),
            ("医生证明书", 6),
            ("診斷證明書", 6),
            ("诊断证明书", 6),
            ("證明書", 5),
            ("证明书", 5),
            ("病假", 4),
            ("同意書", 6),
            ("同意书", 6),
            ("索償", 5),
            ("索偿", 5),
            ("收據", 5),
            ("收据", 5),
            ("預約通知", 6),
            ("预约通知", 6),
            ("appointment slip", 6),
            ("預約紙", 3),
            ("費用清單", 6),
            ("费用清单", 6),
            ("住院費用", 5),
            ("住院费用", 5),
            ("invoice", 5),
            ("發票", 5),
            ("发票", 5),
            ("檢查前須知", 3),
            ("检查前须知", 3),
        ],
    ),
    (
        DocumentClass::ClinicalPhoto,
        &[
            ("clinical photograph", 5),
            ("clinical photo", 5),
            ("wound photograph", 5),
            ("臨床照片", 5),
            ("临床照片", 5),
        ],
    ),
];

/// Section headers per class: a header is a line's leading label followed by `:` (or `：`), or
/// a short line of its own in capitals. They score once each, wherever they are.
const HEADERS: &[(DocumentClass, &[Rule])] = &[
    (
        DocumentClass::ImagingReport,
        &[
            ("examination", 2),
            ("exam", 1),
            ("study", 1),
            ("indication", 2),
            ("clinical indication", 2),
            ("technique", 4),
            ("comparison", 4),
            ("findings", 2),
            ("impression", 3),
            ("reason for exam", 4),
            ("myocardial perfusion imaging", 4),
            ("reason for examination", 4),
            ("wet read", 4),
            ("final report", 1),
            ("檢查所見", 3),
            ("检查所见", 3),
            ("影像所見", 3),
            ("影像所见", 3),
        ],
    ),
    (
        DocumentClass::DischargeSummary,
        &[
            ("hospital course", 5),
            ("brief hospital course", 5),
            ("course in hospital", 5),
            ("discharge diagnosis", 5),
            ("discharge diagnoses", 5),
            ("discharge medications", 5),
            ("discharge instructions", 4),
            ("discharge condition", 4),
            ("condition on discharge", 4),
            ("discharge disposition", 4),
            ("disposition", 2),
            ("admission date", 2),
            ("date of admission", 2),
            ("discharge date", 3),
            ("date of discharge", 3),
            ("admitting diagnosis", 3),
            ("admission diagnosis", 3),
            ("follow-up", 1),
            ("出院診斷", 5),
            ("出院诊断", 5),
            ("住院經過", 5),
            ("住院经过", 5),
            ("出院藥物", 5),
            ("出院带药", 5),
            ("出院日期", 3),
            ("入院日期", 2),
        ],
    ),
    (
        DocumentClass::OperativeNote,
        &[
            ("preoperative diagnosis", 5),
            ("pre-operative diagnosis", 5),
            ("postoperative diagnosis", 5),
            ("post-operative diagnosis", 5),
            ("procedure", 2),
            ("procedures", 2),
            ("procedure performed", 4),
            ("operation", 2),
            ("name of operation", 4),
            ("surgeon", 3),
            ("assistant", 2),
            ("anesthesia", 3),
            ("anaesthesia", 3),
            ("estimated blood loss", 5),
            ("ebl", 4),
            ("specimens", 2),
            ("drains", 3),
            ("complications", 2),
            ("description of procedure", 4),
            ("operative findings", 4),
            ("indications for surgery", 3),
            ("術前診斷", 5),
            ("术前诊断", 5),
            ("術後診斷", 5),
            ("术后诊断", 5),
            ("手術名稱", 4),
            ("手术名称", 4),
            ("手術經過", 4),
            ("手术经过", 4),
            ("主刀醫生", 3),
            ("主刀医生", 3),
            ("麻醉方式", 3),
        ],
    ),
    (
        DocumentClass::PathologyReport,
        &[
            ("gross description", 5),
            ("gross", 4),
            ("macroscopic", 4),
            ("macroscopic description", 5),
            ("microscopic description", 5),
            ("microscopic", 4),
            ("final diagnosis", 4),
            ("specimen", 2),
            ("specimens submitted", 3),
            ("immunohistochemistry", 3),
            ("synoptic report", 3),
            ("肉眼所見", 5),
            ("肉眼所见", 5),
            ("顯微鏡所見", 5),
            ("显微镜所见", 5),
            ("病理診斷", 4),
            ("病理诊断", 4),
            ("標本", 2),
            ("标本", 2),
        ],
    ),
    (
        DocumentClass::ConsultationNote,
        &[
            ("chief complaint", 3),
            ("reason for consultation", 5),
            ("history of present illness", 3),
            ("hpi", 3),
            ("past medical history", 2),
            ("pmh", 2),
            ("social history", 2),
            ("family history", 2),
            ("review of systems", 2),
            ("ros", 2),
            ("physical examination", 2),
            ("physical exam", 2),
            ("assessment", 2),
            ("plan", 2),
            ("assessment and plan", 3),
            ("impression and plan", 3),
            ("subjective", 3),
            ("objective", 3),
            ("allergies", 2),
            ("current medications", 1),
            // Therapists' assessments (physical, speech, occupational therapy).
            ("short-term goals", 2),
            ("long-term goals", 2),
            ("short term goals", 2),
            ("long term goals", 2),
            ("treatment plan", 2),
            ("vital signs", 2),
            ("heent", 3),
            ("extremities", 2),
            ("主訴", 3),
            ("主诉", 3),
            ("現病史", 3),
            ("现病史", 3),
            ("既往史", 2),
            ("體格檢查", 2),
            ("体格检查", 2),
            ("診斷", 1),
            ("诊断", 1),
            ("處理", 1),
            ("处理", 1),
        ],
    ),
    (
        DocumentClass::ReferralLetter,
        &[
            ("reason for referral", 5),
            ("re", 1),
            ("to", 2),
            ("request", 2),
            ("轉介原因", 5),
            ("转介原因", 5),
        ],
    ),
    (
        DocumentClass::Medication,
        &[
            ("sig", 3),
            ("rx", 3),
            ("dispense", 3),
            ("refills", 3),
            ("quantity", 2),
            ("dose", 1),
            ("frequency", 2),
            ("medications", 1),
            ("用法", 3),
            ("劑量", 2),
            ("剂量", 2),
        ],
    ),
    (
        DocumentClass::LabReport,
        &[
            ("units", 2),
            ("unit", 1),
            ("reference range", 3),
            ("ref range", 3),
            ("result", 1),
            ("specimen type", 2),
            ("collected", 1),
            ("參考範圍", 3),
            ("参考范围", 3),
            ("結果", 1),
            ("结果", 1),
            ("單位", 2),
            ("单位", 2),
        ],
    ),
    (
        DocumentClass::Ecg,
        &[
            ("rhythm", 2),
            ("intervals", 3),
            ("axis", 3),
            ("qrs", 2),
            ("rate", 1),
        ],
    ),
    (
        DocumentClass::Other,
        &[
            ("nerve conduction studies", 4),
            ("nerve conduction study", 4),
            ("needle emg", 4),
            ("emg", 3),
            ("eeg", 3),
            ("background activity", 3),
            ("activation procedures", 3),
        ],
    ),
    (
        DocumentClass::ImmunisationRecord,
        &[
            ("vaccine", 3),
            ("lot number", 3),
            ("lot", 1),
            ("dose", 1),
            ("疫苗", 3),
            ("批號", 3),
            ("批号", 3),
        ],
    ),
];

fn ev(source: &str, found: impl Into<String>) -> Evidence {
    Evidence {
        source: source.into(),
        found: found.into(),
    }
}

/// Words that make a short title line name a kind of document when the line also holds one of
/// a class's words: `產科超聲波報告` (an ultrasound report), `CYTOLOGY REPORT`, `双向转诊单`.
const DOCUMENT_WORDS: &[&str] = &[
    "report", "record", "note", "form", "報告", "报告", "紀錄", "記錄", "记录", "單", "单", "表",
];

/// Words that name a kind of document for one class only: a clinic's name over a follow-up or
/// consultation (`骨科專科門診 覆診`, `Cardiology Clinic — Consultation`) is a clinic note.
const CLASS_DOCUMENT_WORDS: &[(DocumentClass, &[&str])] = &[
    (
        DocumentClass::ConsultationNote,
        &["clinic", "門診", "门诊", "診所", "诊所"],
    ),
    (DocumentClass::ReferralLetter, &["letter", "信"]),
];

/// A title line is at most this many characters (longer lines are sentences).
const TITLE_LINE_CHARS: usize = 48;

/// Departments whose letterhead, with one of the class's words in the title region, names the
/// kind of document (`放射部` over `電腦掃描（胸部）`).
const DEPARTMENTS: &[(DocumentClass, &[&str])] = &[
    (
        DocumentClass::ImagingReport,
        &[
            "department of radiology",
            "radiology department",
            "diagnostic radiology",
            "放射部",
            "放射科",
            "放射診斷科",
            "放射诊断科",
            "超聲科",
            "超声科",
            "影像科",
            "影像中心",
        ],
    ),
    (
        DocumentClass::PathologyReport,
        &[
            "department of pathology",
            "pathology department",
            "anatomical pathology",
            "病理部",
            "病理科",
        ],
    ),
    (
        DocumentClass::LabReport,
        &[
            "chemical pathology",
            "laboratory",
            "檢驗科",
            "检验科",
            "化學病理科",
            "化学病理科",
            "化驗室",
            "化验室",
            "化驗中心",
            "化验中心",
        ],
    ),
];

/// Does the title region name the document as one of `class`'s kind? A short title line holding
/// a document word and one of the class's words (scores 4, as the title it is), a title line
/// that is one of the class's phrases and nothing else (`Rx`, `腫瘤標誌物`), or the class's
/// department in the letterhead with one of its words in the title region.
fn title_kind(
    class: DocumentClass,
    rules: &[Rule],
    head: &str,
    score: &mut u32,
    why: &mut Vec<Evidence>,
    f: &mut Features,
) {
    for line in head.lines().map(str::trim) {
        // A line that ends with a full stop is a sentence (`切除活檢報告：原位黑色素瘤。` quotes a
        // report), not a title.
        if line.chars().count() > TITLE_LINE_CHARS || line.ends_with('。') {
            continue;
        }
        let bare = line.trim_matches(|c: char| !c.is_alphanumeric());
        if let Some((p, _)) = rules.iter().find(|(p, w)| *w >= 2 && bare == *p) {
            f.title_kind = true;
            f.title_named = true;
            why.push(ev("title line", *p));
            return;
        }
        let own = CLASS_DOCUMENT_WORDS
            .iter()
            .filter(|(c, _)| *c == class)
            .flat_map(|(_, w)| w.iter());
        let Some(doc) = DOCUMENT_WORDS
            .iter()
            .chain(own)
            .find(|d| contains_word(line, d))
        else {
            continue;
        };
        if let Some((p, _)) = rules
            .iter()
            .find(|(p, w)| *w < KIND_WEIGHT && !p.contains(doc) && contains_word(line, p))
        {
            f.title_kind = true;
            f.title_named = true;
            f.kind += 1;
            *score += 4;
            why.push(ev("title line", format!("{p} + {doc}")));
            return;
        }
    }
    let Some((_, depts)) = DEPARTMENTS.iter().find(|(c, _)| *c == class) else {
        return;
    };
    // 化學病理科 (chemical pathology) is the laboratory, not the pathology department.
    let chemical = ["化學病理", "化学病理", "chemical pathology"]
        .iter()
        .any(|c| head.contains(c));
    let dept = depts
        .iter()
        .find(|d| contains_word(head, d) && !(class == DocumentClass::PathologyReport && chemical));
    if let Some(d) = dept
        && rules
            .iter()
            .any(|(p, _)| !d.contains(p) && !p.contains(d) && contains_word(head, p))
    {
        f.title_kind = true;
        why.push(ev("letterhead", *d));
    }
}

/// A letter: a salutation (`Dear Dr`, `敬啟者`) and a closing (`Yours sincerely`, `此致`).
fn is_letter(lower: &str) -> bool {
    // A note that opens by naming its reader: `李醫生:` (in its first three lines).
    let named = lower
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .any(|l| l.chars().count() <= 10 && (l.ends_with("醫生:") || l.ends_with("医生:")));
    let salutation = named
        || [
            "dear dr",
            "dear doctor",
            "dear colleague",
            "dear sir",
            "敬啟者",
            "敬启者",
            "台鑒",
            "台鉴",
        ]
        .iter()
        .any(|s| contains_word(lower, s));
    let closing = [
        "yours sincerely",
        "yours faithfully",
        "kind regards",
        "best regards",
        "many thanks",
        "thank you",
        "此致",
        "謹啟",
        "谨启",
        "謝謝",
        "谢谢",
    ]
    .iter()
    .any(|s| contains_word(lower, s));
    salutation && closing
}

/// Full-width ASCII (`：`, `（`, `Ａ`) and the ideographic space folded to ASCII, so one set
/// of rules serves text typed with a Chinese input method.
pub(crate) fn fold_width(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c) || c == '\u{3000}')
    {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                '\u{3000}' => ' ',
                c => c,
            })
            .collect(),
    )
}

/// The section headers of `text`, lower case: a line's leading label before a colon (at most
/// five words, no digits), a short line of its own in capitals (`FINDINGS`), or a label in
/// capitals before a colon inside a line, after a `,`, `.` or `;` (`...,HISTORY: , ...`: text
/// whose line breaks were lost in transcription or copying).
pub(crate) fn headers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |label: &str| {
        let label = label.trim().trim_end_matches(['.', ':']).trim();
        let words = label.split_whitespace().count();
        if label.is_empty()
            || words > 5
            || label.chars().any(|c| c.is_ascii_digit())
            || label.chars().count() > 40
        {
            return;
        }
        let l = label.to_lowercase().replace(" / ", "/");
        if !out.contains(&l) {
            out.push(l);
        }
    };
    for line in text.lines() {
        for label in inline_headers(line) {
            add(label);
        }
        let t = line.trim().trim_start_matches(['#', '*', '-', '•']).trim();
        if t.is_empty() {
            continue;
        }
        let label = match t.find(':') {
            Some(i) => Some(&t[..i]),
            None => {
                let letters = t.chars().filter(|c| c.is_alphabetic()).count();
                let short = t.split_whitespace().count() <= 5 && letters >= 2;
                let caps = t
                    .chars()
                    .filter(|c| c.is_alphabetic())
                    .all(|c| c.is_uppercase() || is_cjk(c));
                (short && caps).then_some(t)
            }
        };
        if let Some(label) = label {
            add(label);
        }
    }
    out
}

/// Labels in capitals followed by a colon inside a line, each after a `,`, `.` or `;` (the
/// line's own leading label is found by [`headers`]): `...unchanged.,IMPRESSION: , ...`.
fn inline_headers(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices(':').filter(|(i, _)| *i > 0) {
        let before = &line[..i];
        let Some(start) = before.rfind([',', '.', ';']).map(|j| j + 1) else {
            continue;
        };
        let label = before[start..].trim();
        let letters = label.chars().filter(|c| c.is_alphabetic()).count();
        let caps = label
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(|c| c.is_uppercase());
        if letters >= 3 && caps {
            out.push(label);
        }
    }
    out
}

/// The best class for `text` by the phrase and section rules, with confidence and the evidence;
/// `None` when no class scores at least 3.
pub(crate) fn rules(text: &str) -> Option<(DocumentClass, f32, Vec<Evidence>)> {
    rules_with(text, 0)
}

/// [`rules`], with the number of lab result lines the extractor found counted for lab reports.
pub(crate) fn rules_with(
    text: &str,
    lab_lines: usize,
) -> Option<(DocumentClass, f32, Vec<Evidence>)> {
    let folded = fold_width(text);
    let lower = folded.to_lowercase();
    // The title region: the first six non-empty lines, at most TITLE_CHARS characters (text
    // whose line breaks were lost is one long line: its title region is its beginning).
    let head: String = lower
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("\n")
        .chars()
        .take(TITLE_CHARS)
        .collect();
    let found_headers = headers(&folded);
    let mut scores: Vec<(DocumentClass, u32, Vec<Evidence>, Features)> = PHRASES
        .iter()
        .map(|(class, rules)| {
            let mut score = 0;
            let mut why = Vec::new();
            let mut f = Features::default();
            for (phrase, w) in rules.iter() {
                if contains_word(&lower, phrase) {
                    let in_title = contains_word(&head, phrase);
                    score += if in_title { w * 2 } else { *w };
                    why.push(ev(if in_title { "title" } else { "text" }, *phrase));
                    if *w >= KIND_WEIGHT {
                        f.kind += 1;
                        // Named by a title line, not by a sentence near the top (or of a text
                        // whose line breaks were lost).
                        let named = in_title
                            && head.lines().any(|l| {
                                l.chars().count() <= TITLE_LINE_CHARS && contains_word(l, phrase)
                            });
                        f.title_kind |= named;
                        f.title_named |= named;
                    } else {
                        f.vocabulary += 1;
                    }
                }
            }
            title_kind(*class, rules, &head, &mut score, &mut why, &mut f);
            if let Some((_, hs)) = HEADERS.iter().find(|(c, _)| c == class) {
                let mut n = 0;
                for (h, w) in hs.iter() {
                    if found_headers.iter().any(|f| f == h) {
                        score += w;
                        n += 1;
                        why.push(ev("section", *h));
                    }
                }
                f.sections = n;
                // A report laid out in its class's sections is strong evidence on its own.
                if n >= 3 {
                    score += 3;
                }
            }
            if *class == DocumentClass::ReferralLetter && is_letter(&lower) {
                // A letter's salutation and closing are its structure.
                f.sections += 2;
                score += 3;
                why.push(ev("layout", "letter (salutation and closing)"));
            }
            if *class == DocumentClass::LabReport && lab_lines > 0 {
                score += (2 * lab_lines as u32).min(10);
                why.push(ev("lab lines", lab_lines.to_string()));
                f.lab_lines = lab_lines;
            }
            f.score = score;
            (*class, score, why, f)
        })
        .collect();
    scores.sort_by_key(|s| std::cmp::Reverse(s.1));
    // The title decides over the words of the subject: a document whose title names its kind is
    // that kind even when it discusses another's subject at length (a procedure note about an
    // ultrasound-guided drain), unless the winner is laid out in its own sections. The answer
    // stays contested (low confidence): its runner-up scored more.
    if !scores[0].3.title_named
        && scores[0].3.sections < 3
        && let Some(i) = scores
            .iter()
            .position(|s| s.3.title_named && s.1 >= SURE_SCORE)
    {
        let titled = scores.remove(i);
        scores.insert(0, titled);
    }
    let (class, best, mut why, f) = scores.swap_remove(0);
    let runner = scores
        .iter()
        .max_by_key(|s| s.1)
        .map(|s| s.3)
        .unwrap_or_default();
    if best < 3 {
        return None;
    }
    let (conf, unsure) = judge(&f, &runner);
    if let Some(reason) = unsure {
        why.push(ev("low confidence", reason));
    }
    Some((class, conf, why))
}

/// How sure a score makes the class: the margin over the runner-up times the strength of the
/// evidence. Weak evidence (below [`SURE_SCORE`]) or a runner-up within a third of the winner
/// stays at or below 0.5: "low confidence, ask the doctor".
pub(crate) fn confidence(best: u32, second: u32) -> f32 {
    let margin = (best - second.min(best)) as f32 / best.max(1) as f32;
    let strength = 1.0 - (-(best as f32) / 6.0).exp();
    let conf = (0.35 + 0.6 * margin * strength).min(0.95);
    if best < SURE_SCORE || margin < 0.34 {
        conf.min(crate::LOW_CONFIDENCE)
    } else {
        conf
    }
}

/// The confidence of the winner's features against the runner-up's, and why it is low when
/// the evidence does not agree. Beyond [`confidence`]'s score and margin, a confident answer
/// needs evidence of the *kind of document*, not only of its subject: a phrase naming the kind
/// in the title region (`出院摘要`, `CT report`), two or more of the class's section headers, two
/// or more lab result lines, or a broad vocabulary (four or more of the class's words) that no
/// title or other class's layout contradicts (a letter quoting a radiograph's findings). A note that mentions an MRI is about imaging without being an imaging
/// report; a document whose title names another kind than the one its words add up to is
/// contested.
fn judge(f: &Features, runner: &Features) -> (f32, Option<&'static str>) {
    let conf = confidence(f.score, runner.score);
    let unsure = if conf <= crate::LOW_CONFIDENCE {
        None // already low: weak or close scores
    } else if runner.title_kind && !f.title_kind {
        Some("the title names another kind of document")
    } else if !(f.title_kind
        || f.sections >= 2
        || f.lab_lines >= 2
        || (f.vocabulary >= 4 && !runner.title_kind && runner.sections < 2))
    {
        Some("no title or sections name the kind of document")
    } else {
        None
    };
    match unsure {
        Some(_) => (conf.min(crate::LOW_CONFIDENCE), unsure),
        None => (conf, None),
    }
}

/// Does `hay` contain `needle` as a word (English) or at all (a Chinese phrase)?
pub(crate) fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.chars().next().is_some_and(is_cjk) || needle.chars().last().is_some_and(is_cjk) {
        return hay.contains(needle);
    }
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        let word = |c: char| c.is_alphanumeric() && !is_cjk(c);
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

pub(crate) fn modality_from_text(text: &str) -> Option<Modality> {
    let l = text.to_lowercase();
    let has = |p: &str| contains_word(&l, p);
    Some(if has("angiography") || has("angiogram") || has("造影") {
        Modality::XA
    } else if has("computed tomography")
        || has("ct scan")
        || has("ct")
        || has("電腦掃描")
        || has("电脑扫描")
        || has("電腦斷層")
    {
        Modality::CT
    } else if has("mri") || has("magnetic resonance") || has("磁力共振") || has("磁共振") {
        Modality::MR
    } else if has("mammogram") || has("mammography") {
        Modality::MG
    } else if has("ultrasound") || has("sonography") || has("超聲") || has("超声") {
        Modality::US
    } else if has("scintigraphy") || has("nuclear medicine") {
        Modality::NM
    } else if has("radiograph") || has("x-ray") || has("xray") || has("cxr") || has("x光") {
        Modality::CR
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_pick_the_title() {
        let (c, conf, why) = rules(
            "Discharge summary\nPatient: X\nAdmitted with chest pain. ECG showed ST changes.",
        )
        .unwrap();
        assert_eq!(c, DocumentClass::DischargeSummary);
        assert!(conf > 0.5);
        assert!(why.iter().any(|e| e.found == "discharge summary"));
        assert!(rules("hello world").is_none());
    }

    #[test]
    fn sections_decide_a_report_without_a_title() {
        let report = "EXAMINATION: CHEST (PA AND LAT)\nINDICATION: ___ with cough\n\
            TECHNIQUE: Chest PA and lateral\nCOMPARISON: None.\n\
            FINDINGS: The lungs are clear. No pleural effusion or pneumothorax.\n\
            IMPRESSION: No acute cardiopulmonary process.";
        let (c, conf, why) = rules(report).unwrap();
        assert_eq!(c, DocumentClass::ImagingReport, "{why:?}");
        assert!(conf > crate::LOW_CONFIDENCE, "{conf}");
        assert!(
            why.iter()
                .any(|e| e.source == "section" && e.found == "technique")
        );
    }

    #[test]
    fn headers_inside_a_line_whose_breaks_were_lost() {
        let note = "CHIEF COMPLAINT:,  Leg pain.,HISTORY OF PRESENT ILLNESS: , A 56-year-old \
            with pain.  She states: it hurts.,PHYSICAL EXAMINATION:,  Normal.,\
            ASSESSMENT AND PLAN: , Rest.";
        let mut h = headers(note);
        h.sort();
        assert_eq!(
            h,
            [
                "assessment and plan",
                "chief complaint",
                "history of present illness",
                "physical examination",
            ],
            "a label in lower case inside a sentence is not a header"
        );
        let (c, conf, why) = rules(note).unwrap();
        assert_eq!(c, DocumentClass::ConsultationNote, "{why:?}");
        assert!(conf > crate::LOW_CONFIDENCE, "{conf}");
    }

    #[test]
    fn chest_film_wording_without_headers() {
        let report = "FINAL REPORT\nSINGLE FRONTAL VIEW OF THE CHEST\n\n\
            Mild cardiomegaly and widened mediastinum are stable. There is no pneumothorax. \
            Comparison is made with prior study. Bibasilar atelectasis is unchanged.";
        let (c, _, why) = rules(report).unwrap();
        assert_eq!(c, DocumentClass::ImagingReport, "{why:?}");
    }

    #[test]
    fn neurophysiology_studies_are_not_imaging_reports() {
        let study = "HISTORY: , Arm numbness.,NERVE CONDUCTION STUDIES: , The left median motor \
            distal latency is prolonged.,NEEDLE EMG: , Normal.,IMPRESSION: , Carpal tunnel \
            syndrome. An MRI of the spine is recommended.";
        let (c, _, why) = rules(study).unwrap();
        assert_eq!(c, DocumentClass::Other, "{why:?}");
        assert!(why.iter().any(|e| e.found == "nerve conduction studies"));
    }

    #[test]
    fn chinese_phrases_and_full_width_forms() {
        let (c, _, why) =
            rules("香港中央醫院\n出院摘要\n出院診斷：肺炎\n住院經過：抗生素治療").unwrap();
        assert_eq!(c, DocumentClass::DischargeSummary, "{why:?}");
        let (c, _, _) = rules("转介信\n烦请诊治。此致\n李医生").unwrap();
        assert_eq!(c, DocumentClass::ReferralLetter);
        assert_eq!(
            fold_width("姓名：陳大文（A123456（3））"),
            "姓名:陳大文(A123456(3))"
        );
        assert!(contains_word("空腹血糖", "血糖"));
        assert!(!contains_word("practically", "ct"));
    }

    #[test]
    fn a_note_about_imaging_is_not_a_confident_imaging_report() {
        // Only the subject's words (a scan mentioned in a clinic note): not the kind.
        let (_, conf, why) = rules(
            "內科覆診
上次MRI腦部正常。
CT胸部：無異常。
繼續現有藥物。",
        )
        .unwrap();
        assert!(conf <= crate::LOW_CONFIDENCE, "{conf} {why:?}");
        // The title names the kind: a report of that subject.
        let (c, conf, why) = rules(
            "腹部超聲波報告
肝臟大小正常，回聲均勻。
膽囊無結石。",
        )
        .unwrap();
        assert_eq!(c, DocumentClass::ImagingReport, "{why:?}");
        assert!(conf > crate::LOW_CONFIDENCE, "{conf} {why:?}");
        assert!(why.iter().any(|e| e.source == "title line"), "{why:?}");
        // A radiology letterhead over the examination's name.
        let (c, conf, why) = rules(
            "虛構醫院 放射科
電腦掃描（腹部）
病人：陳大文
肝臟無異常。",
        )
        .unwrap();
        assert_eq!(c, DocumentClass::ImagingReport, "{why:?}");
        assert!(conf > crate::LOW_CONFIDENCE, "{conf} {why:?}");
    }

    #[test]
    fn a_title_naming_another_kind_contests_the_words() {
        let note = "PROCEDURE NOTE
Ultrasound-guided pleural tap
Indication: pleural effusion \
            on CXR and ultrasound.
USG confirmed a large effusion; 1 L drained.";
        let (_, conf, why) = rules(note).unwrap();
        assert!(conf <= crate::LOW_CONFIDENCE, "{conf} {why:?}");
    }

    #[test]
    fn weak_or_close_evidence_is_low_confidence() {
        assert!(confidence(4, 0) <= crate::LOW_CONFIDENCE);
        assert!(confidence(12, 10) <= crate::LOW_CONFIDENCE);
        assert!(confidence(12, 2) > crate::LOW_CONFIDENCE);
    }
}
