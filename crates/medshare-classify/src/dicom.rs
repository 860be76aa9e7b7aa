//! DICOM: header only. Reading stops before the waveform sequence (5400,0100), overlays and
//! pixel data (7FE0,0010), so a 500 MB study costs the same as a 5 kB one. Modality (or the SOP
//! class when Modality is missing) decides: images are diagnostic imaging, structured reports
//! are imaging reports (refined by their title), waveform ECGs are ECGs.

use crate::{
    Classification, DocumentClass, Evidence, Format, Imaging, Modality, SkipCode, compact_date,
};
use dicom_core::Tag;
use dicom_core::dictionary::DataDictionary;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions, file::ReadPreamble};

/// Stop before the first waveform sequence: everything a header needs comes earlier. When a
/// damaged file cannot be read that far, one retry stops before the image group (0020) and
/// keeps the study, patient and equipment facts. Each failed attempt can cost the parser an
/// allocation of a declared length, so retries are few.
const STOPS: [Tag; 2] = [Tag(0x5400, 0x0100), Tag(0x0020, 0x0000)];

/// The bytes before the first pixel data or waveform tag (either byte order): the parser never
/// sees pixel data, however large or malformed.
fn header_only(b: &[u8]) -> &[u8] {
    const PATTERNS: [[u8; 4]; 4] = [
        [0xE0, 0x7F, 0x10, 0x00],
        [0x7F, 0xE0, 0x00, 0x10],
        [0x00, 0x54, 0x00, 0x01],
        [0x54, 0x00, 0x01, 0x00],
    ];
    let end = b
        .windows(4)
        .position(|w| PATTERNS.iter().any(|p| p == w))
        .unwrap_or(b.len());
    &b[..end]
}

/// Explicit VRs with a 2-byte length. Every other VR, including bytes that name no VR (which
/// the parser reads as UN), has 2 reserved bytes and a 4-byte length.
const SHORT_VRS: [&[u8]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

/// Cut the data set before the first top-level element that would make the parser allocate
/// more than the input holds: a declared length past the end (of the input, or of the item or
/// sequence it sits in), or a private/UN element of undefined length (private data this crate
/// never needs). Walks the data set from `at` in its byte order (explicit or implicit VR),
/// *into* sequences and items, defined or undefined length, so an element nested anywhere is
/// checked too: a single document can never make the parser allocate more than its own size.
fn sane_prefix(b: &[u8], at: usize, explicit: bool, big: bool) -> usize {
    let u16_at = |i: usize| {
        let v = [b[i], b[i + 1]];
        if big {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    };
    let u32_at = |i: usize| {
        let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if big {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    };
    let mut at = at;
    // Start of the current top-level element: where to cut when something inside it is bad.
    let mut top = at;
    // Containers open: undefined-length ones end at a delimiter, defined-length ones at an
    // offset.
    let mut open_undefined = 0usize;
    let mut ends: Vec<usize> = Vec::new();
    while at + 8 <= b.len() {
        while ends.last().is_some_and(|&e| at >= e) {
            ends.pop();
        }
        if open_undefined == 0 && ends.is_empty() {
            top = at;
        }
        let (group, element) = (u16_at(at), u16_at(at + 2));
        let limit = ends.last().copied().unwrap_or(b.len());
        if group == 0xFFFE {
            let len = u32_at(at + 4);
            at += 8;
            match element {
                0xE000 if len == u32::MAX => open_undefined += 1,
                0xE000 => {
                    let end = at + len as usize;
                    if end > limit {
                        return top;
                    }
                    ends.push(end);
                }
                0xE00D | 0xE0DD => open_undefined = open_undefined.saturating_sub(1),
                _ => return top,
            }
            continue;
        }
        let vr = &b[at + 4..at + 6];
        let (len, head) = if explicit && !SHORT_VRS.contains(&vr) {
            if at + 12 > b.len() {
                return top;
            }
            (u32_at(at + 8), 12)
        } else if explicit {
            (u32::from(u16_at(at + 6)), 8)
        } else {
            (u32_at(at + 4), 8)
        };
        let sequence = if explicit {
            vr == b"SQ"
        } else {
            dicom_dictionary_std::StandardDataDictionary
                .by_tag(Tag(group, element))
                .is_some_and(|d| d.vr.relaxed() == dicom_core::VR::SQ)
        };
        if len == u32::MAX {
            if group % 2 == 1 || (explicit && vr == b"UN") || (explicit && !sequence) {
                return top;
            }
            // A sequence (or, implicitly encoded, what can only be one): walk its items.
            open_undefined += 1;
            at += head;
            continue;
        }
        let next = at + head + len as usize;
        if next > limit {
            return top;
        }
        if sequence {
            ends.push(next);
            at += head;
        } else {
            at = next;
        }
    }
    b.len()
}

/// Most bytes a deflated data set is inflated to: far more than any header needs, far less than
/// a compression bomb would make.
const MAX_INFLATED: u64 = 16 * 1024 * 1024;

/// The inflated data set, cut at [`MAX_INFLATED`]; a damaged stream gives what inflated before
/// the damage.
fn inflate_bounded(deflated: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    let _ = flate2::read::DeflateDecoder::new(deflated)
        .take(MAX_INFLATED)
        .read_to_end(&mut out);
    out
}

/// The header, and whether it was read only in part.
fn open(bytes: &[u8], format: Format) -> Option<(DefaultDicomObject, bool)> {
    if format == Format::Dicom {
        let (preamble, start) = if bytes.starts_with(b"DICM") {
            (ReadPreamble::Never, 4)
        } else {
            (ReadPreamble::Always, 132)
        };
        let bytes = match skip_meta(bytes, start) {
            Some((after, ts)) if bytes.len() > after + 6 => {
                let explicit =
                    bytes[after + 4].is_ascii_uppercase() && bytes[after + 5].is_ascii_uppercase();
                let little = bytes[after + 1] == 0 || bytes[after] != 0;
                // Implicit VR data under an explicit transfer syntax (seen in the wild): the
                // parser would read garbage lengths. Read the data set as what it is.
                if little && !explicit && ts != "1.2.840.10008.1.2" && !ts.ends_with(".99") {
                    return raw(&bytes[after..]).map(|(o, _)| (o, true));
                }
                if ts.ends_with(".99") {
                    // Deflated: inflated here, at most MAX_INFLATED bytes, so its lengths are
                    // checked like any other data set's before the parser sees them.
                    let inflated = inflate_bounded(&bytes[after..]);
                    return raw(header_only(&inflated)).map(|(o, _)| (o, true));
                } else {
                    &bytes[..sane_prefix(bytes, after, explicit, !little)]
                }
            }
            Some(_) => bytes,
            // A meta group element whose declared length runs past the end of the file: the
            // parser's meta reader would allocate that length (found by fuzzing: 1.8 GB from a
            // 502-byte file), and the data set cannot be located behind it anyway.
            None => return None,
        };
        for (i, stop) in STOPS.iter().enumerate() {
            if let Ok(o) = OpenFileOptions::new()
                .read_preamble(preamble)
                .read_until(*stop)
                .from_reader(bytes)
            {
                return Some((o, i > 0));
            }
        }
        // A damaged meta group: skip it and read the data set on its own.
        let (after, _) = skip_meta(bytes, start)?;
        return raw(&bytes[after..]).map(|(o, _)| (o, true));
    }
    raw(bytes)
}

/// Offset just past the (explicit VR little endian) group 0002 elements starting at `at`, and
/// the transfer syntax UID found there.
fn skip_meta(b: &[u8], mut at: usize) -> Option<(usize, String)> {
    let mut ts = String::new();
    while at + 8 <= b.len() && b[at] == 0x02 && b[at + 1] == 0x00 {
        if b[at + 2] == 0x10 && b[at + 3] == 0x00 {
            let l = usize::from(u16::from_le_bytes([b[at + 6], b[at + 7]]));
            if let Some(v) = b.get(at + 8..at + 8 + l) {
                ts = String::from_utf8_lossy(v)
                    .trim_end_matches(['\0', ' '])
                    .to_string();
            }
        }
        let vr = &b[at + 4..at + 6];
        let long = !SHORT_VRS.contains(&vr);
        let (len, head) = if long {
            let l = b.get(at + 8..at + 12)?;
            (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, 12)
        } else {
            (u16::from_le_bytes([b[at + 6], b[at + 7]]) as usize, 8)
        };
        at = at.checked_add(head)?.checked_add(len)?;
    }
    (at < b.len()).then_some((at, ts))
}

/// A data set without file meta: give it a minimal meta group (transfer syntax guessed from the
/// first element) and read it like a file.
fn raw(bytes: &[u8]) -> Option<(DefaultDicomObject, bool)> {
    let big_endian = bytes.len() > 2 && bytes[0] == 0 && bytes[1] != 0;
    let explicit =
        bytes.len() > 6 && bytes[4].is_ascii_uppercase() && bytes[5].is_ascii_uppercase();
    let bytes = &bytes[..sane_prefix(bytes, 0, explicit, big_endian)];
    let ts = match (big_endian, explicit) {
        (true, _) => "1.2.840.10008.1.2.2",
        (false, true) => "1.2.840.10008.1.2.1",
        (false, false) => "1.2.840.10008.1.2",
    };
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid("")
        .media_storage_sop_instance_uid("2.25.0")
        .transfer_syntax(ts)
        .build()
        .ok()?;
    let mut head = b"DICM".to_vec();
    meta.write(&mut head).ok()?;
    for (i, stop) in STOPS.iter().enumerate() {
        let src = std::io::Read::chain(head.as_slice(), bytes);
        if let Ok(o) = OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .read_until(*stop)
            .from_reader(src)
        {
            return Some((o, i > 0));
        }
    }
    None
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    // An element sent with the UN (unknown) value representation arrives as raw bytes; every
    // element read here has a text VR in the dictionary (CS, LO, PN, DA, UI, SH...), so the
    // bytes are decoded as that text. Otherwise names and IDs would come out as byte lists.
    if e.vr() == dicom_core::VR::UN {
        if dicom_dictionary_std::StandardDataDictionary
            .by_tag(tag)
            .is_some_and(|d| matches!(d.vr.relaxed(), dicom_core::VR::UN | dicom_core::VR::SQ))
        {
            return None;
        }
        let bytes = e.to_bytes().ok()?;
        let v = String::from_utf8_lossy(&bytes);
        let v = v.trim_matches([' ', '\0']).trim();
        return (!v.is_empty()).then(|| v.to_string());
    }
    let v = e.to_str().ok()?;
    let v = v.trim_matches([' ', '\0']).trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Person name `Family^Given^Middle` as `Family Given Middle`.
fn person(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let v = text(obj, tag)?;
    let name = v
        .split('=')
        .next()
        .unwrap_or("")
        .split('^')
        .filter(|p| !p.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

fn ev(source: &str, found: impl Into<String>) -> Evidence {
    Evidence {
        source: source.into(),
        found: found.into(),
    }
}

/// Modality from the SOP class when (0008,0060) is missing.
fn modality_from_sop(uid: &str) -> Option<&'static str> {
    let m = match uid {
        "1.2.840.10008.5.1.4.1.1.2" | "1.2.840.10008.5.1.4.1.1.2.1" => "CT",
        "1.2.840.10008.5.1.4.1.1.4" | "1.2.840.10008.5.1.4.1.1.4.1" => "MR",
        "1.2.840.10008.5.1.4.1.1.6.1" | "1.2.840.10008.5.1.4.1.1.3.1" => "US",
        "1.2.840.10008.5.1.4.1.1.1" => "CR",
        "1.2.840.10008.5.1.4.1.1.1.1" | "1.2.840.10008.5.1.4.1.1.1.1.1" => "DX",
        "1.2.840.10008.5.1.4.1.1.1.2" | "1.2.840.10008.5.1.4.1.1.1.2.1" => "MG",
        "1.2.840.10008.5.1.4.1.1.12.1" | "1.2.840.10008.5.1.4.1.1.12.2" => "XA",
        "1.2.840.10008.5.1.4.1.1.20" => "NM",
        "1.2.840.10008.5.1.4.1.1.128" => "PT",
        _ if uid.starts_with("1.2.840.10008.5.1.4.1.1.88.") => "SR",
        _ if uid.starts_with("1.2.840.10008.5.1.4.1.1.9.1.") => "ECG",
        _ => return None,
    };
    Some(m)
}

/// Image storage SOP classes whose modality is not a diagnostic one (secondary capture and
/// friends) are still images; radiotherapy plans, doses and structure sets are not.
fn is_image(obj: &InMemDicomObject) -> bool {
    obj.get(tags::ROWS).is_some() || obj.get(tags::NUMBER_OF_FRAMES).is_some()
}

/// The concept name of an SR document (its title), and the text of its TEXT content items.
fn sr_text(obj: &InMemDicomObject, out: &mut String, depth: usize) {
    if depth > 8 || out.len() > 64 * 1024 {
        return;
    }
    if let Some(items) = obj
        .get(tags::CONCEPT_NAME_CODE_SEQUENCE)
        .and_then(|e| e.items())
    {
        for it in items {
            if let Some(m) = text(it, tags::CODE_MEANING) {
                out.push_str(&m);
                out.push('\n');
            }
        }
    }
    if let Some(t) = text(obj, tags::TEXT_VALUE) {
        out.push_str(&t);
        out.push('\n');
    }
    if let Some(items) = obj.get(tags::CONTENT_SEQUENCE).and_then(|e| e.items()) {
        for it in items {
            sr_text(it, out, depth + 1);
        }
    }
}

pub(crate) fn read(bytes: &[u8], format: Format, c: &mut Classification) {
    // A deflated data set is compressed: its bytes cannot be cut at a tag before `open`
    // inflates it.
    let start = if bytes.starts_with(b"DICM") { 4 } else { 132 };
    let deflated = format == Format::Dicom
        && skip_meta(bytes, start).is_some_and(|(_, ts)| ts.ends_with(".99"));
    let input = if deflated { bytes } else { header_only(bytes) };
    let Some((obj, partial)) = open(input, format) else {
        c.skip(SkipCode::DicomHeader, None);
        c.decide(
            DocumentClass::DiagnosticImaging,
            0.3,
            vec![ev("DICOM", "unreadable header")],
        );
        return;
    };
    if partial {
        c.skip(SkipCode::DicomHeader, None);
    }
    let meta_sop = obj
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        .to_string();
    let sop = text(&obj, tags::SOP_CLASS_UID).or((!meta_sop.is_empty()).then_some(meta_sop));
    let modality_tag = text(&obj, tags::MODALITY);
    let modality_term = modality_tag
        .clone()
        .or_else(|| sop.as_deref().and_then(modality_from_sop).map(String::from));
    let imaging = Imaging {
        modality: modality_term.clone(),
        body_part: text(&obj, tags::BODY_PART_EXAMINED),
        study_description: text(&obj, tags::STUDY_DESCRIPTION),
        series_description: text(&obj, tags::SERIES_DESCRIPTION),
        study_date: text(&obj, tags::STUDY_DATE).and_then(|d| compact_date(&d)),
        sop_class_uid: sop.clone(),
        study_instance_uid: text(&obj, tags::STUDY_INSTANCE_UID),
    };
    // Patient.
    if let Some(id) = text(&obj, tags::PATIENT_ID) {
        let src = match text(&obj, tags::ISSUER_OF_PATIENT_ID) {
            Some(issuer) => format!("DICOM (0010,0020) PatientID, issuer {issuer}"),
            None => "DICOM (0010,0020) PatientID".to_string(),
        };
        c.add_identifier(&id, &src);
    }
    if let Some(items) = obj
        .get(tags::OTHER_PATIENT_I_DS_SEQUENCE)
        .and_then(|e| e.items())
    {
        for it in items {
            if let Some(id) = text(it, tags::PATIENT_ID) {
                c.add_identifier(&id, "DICOM (0010,1002) OtherPatientIDsSequence");
            }
        }
    }
    c.patient.name = person(&obj, tags::PATIENT_NAME);
    c.patient.birth_date = text(&obj, tags::PATIENT_BIRTH_DATE).and_then(|d| compact_date(&d));
    c.patient.sex = text(&obj, tags::PATIENT_SEX);
    c.date_of_service = imaging
        .study_date
        .clone()
        .or_else(|| text(&obj, tags::SERIES_DATE).and_then(|d| compact_date(&d)))
        .or_else(|| text(&obj, tags::CONTENT_DATE).and_then(|d| compact_date(&d)))
        .or_else(|| text(&obj, tags::ACQUISITION_DATE).and_then(|d| compact_date(&d)));
    c.institution = text(&obj, tags::INSTITUTION_NAME);
    c.author = person(&obj, tags::NAME_OF_PHYSICIANS_READING_STUDY)
        .or_else(|| person(&obj, tags::PERFORMING_PHYSICIAN_NAME));

    let modality = modality_term.as_deref().map(Modality::from_dicom);
    let mut evidence = Vec::new();
    match (&modality_tag, &modality_term) {
        (Some(m), _) => evidence.push(ev("DICOM (0008,0060) Modality", m.clone())),
        (None, Some(m)) => evidence.push(ev(
            "DICOM (0008,0016) SOPClassUID",
            format!("{} ({m})", sop.clone().unwrap_or_default()),
        )),
        _ => {}
    }
    c.title = imaging
        .study_description
        .clone()
        .or_else(|| imaging.series_description.clone());
    let (class, conf) = match modality {
        Some(Modality::ECG) => (DocumentClass::Ecg, 0.95),
        Some(Modality::SR) => {
            let mut t = String::new();
            sr_text(&obj, &mut t, 0);
            let title = t.lines().next().unwrap_or("").to_string();
            if !title.is_empty() {
                evidence.push(ev(
                    "DICOM (0040,A043) ConceptNameCodeSequence",
                    title.clone(),
                ));
                c.title = Some(title);
            }
            match crate::rules::rules(&t) {
                Some((cl, conf, mut why))
                    if !matches!(cl, DocumentClass::ClinicalPhoto | DocumentClass::Other) =>
                {
                    evidence.append(&mut why);
                    (cl, 0.6 + conf * 0.35)
                }
                _ => (DocumentClass::ImagingReport, 0.8),
            }
        }
        // Radiotherapy plans, doses and structure sets, segmentations, registrations, key
        // object selections and presentation states are not diagnostic images.
        Some(Modality::Other)
            if !is_image(&obj)
                || modality_term.as_deref().is_some_and(|m| {
                    (m.starts_with("RT") && m != "RTIMAGE")
                        || matches!(m, "SEG" | "REG" | "KO" | "PR" | "PLAN" | "RWV" | "DOC")
                }) =>
        {
            (DocumentClass::Other, 0.7)
        }
        Some(_) => (DocumentClass::DiagnosticImaging, 0.95),
        None if is_image(&obj) => {
            evidence.push(ev("DICOM (0028,0010) Rows", "image without modality"));
            (DocumentClass::DiagnosticImaging, 0.7)
        }
        None => (DocumentClass::Other, 0.4),
    };
    if let Some(bp) = &imaging.body_part {
        evidence.push(ev("DICOM (0018,0015) BodyPartExamined", bp.clone()));
    }
    if let Some(sd) = &imaging.study_description {
        evidence.push(ev("DICOM (0008,1030) StudyDescription", sd.clone()));
    }
    c.modality = modality;
    c.imaging = Some(imaging);
    c.decide(class, conf, evidence);
}

#[cfg(test)]
mod tests {
    use crate::{DocumentClass, Format, Modality, classify};

    /// One explicit VR little endian element with the UN value representation.
    fn un(group: u16, element: u16, value: &[u8]) -> Vec<u8> {
        let mut v = value.to_vec();
        if v.len() % 2 == 1 {
            v.push(b' ');
        }
        let mut out = Vec::new();
        out.extend(group.to_le_bytes());
        out.extend(element.to_le_bytes());
        out.extend(b"UN\0\0");
        out.extend((v.len() as u32).to_le_bytes());
        out.extend(v);
        out
    }

    #[test]
    fn un_values_are_decoded_by_the_dictionary_vr() {
        let mut b = vec![0u8; 128];
        b.extend(b"DICM");
        // File meta: transfer syntax explicit VR little endian.
        let ts = b"1.2.840.10008.1.2.1\0";
        let mut meta = Vec::new();
        meta.extend([0x02, 0x00, 0x10, 0x00]);
        meta.extend(b"UI");
        meta.extend((ts.len() as u16).to_le_bytes());
        meta.extend(ts);
        b.extend([0x02, 0x00, 0x00, 0x00]);
        b.extend(b"UL");
        b.extend(4u16.to_le_bytes());
        b.extend((meta.len() as u32).to_le_bytes());
        b.extend(meta);
        b.extend(un(0x0008, 0x0020, b"20250820"));
        b.extend(un(0x0008, 0x0060, b"CT"));
        b.extend(un(0x0010, 0x0010, b"CHAN^TAI MAN"));
        b.extend(un(0x0010, 0x0020, b"A1234563"));
        let c = classify(&b);
        assert_eq!(c.format, Format::Dicom);
        assert_eq!(
            c.class,
            DocumentClass::DiagnosticImaging,
            "{:?}",
            c.evidence
        );
        assert_eq!(c.modality, Some(Modality::CT));
        assert_eq!(c.date_of_service.as_deref(), Some("2025-08-20"));
        assert_eq!(c.patient.name.as_deref(), Some("CHAN TAI MAN"));
        assert_eq!(c.patient.identifiers[0].value, "HKID:A1234563");
    }
}
