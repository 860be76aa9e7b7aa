//! HL7 v2: ORU^R01 results into observations (one per OBX), ADT demographics, reports carried
//! as text in ORU/MDM, vaccination (VXU) and pharmacy (RDE/RDS/OMP) messages, FHS/BHS batches.
//!
//! Real messages are messy: segment terminators may be `\r`, `\n` or `\r\n`, MLLP framing may
//! be left in, encoding characters may be broken and text may contain unescaped line breaks.
//! Segments are split here (any terminator), each is parsed with `hl7-parser`, and whatever
//! cannot be read is reported in `skipped` with a code and its line number, never its content.

use crate::labs::{Observation, Value, parse_value};
use crate::{Classification, DocumentClass, Evidence, SkipCode, compact_date, compact_datetime};
use hl7_parser::message::{Segment, Separators};

struct Line {
    /// 1-based line number in the input.
    no: usize,
    text: String,
}

/// One message: MSH fields split by hand (MSH-1 is the separator itself) and the other
/// segments as they were.
struct RawMessage {
    msh: Line,
    segments: Vec<Line>,
}

fn is_segment_start(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 4
        && b[..3]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b[0].is_ascii_uppercase()
        && !b[3].is_ascii_alphanumeric()
        && !b[3].is_ascii_whitespace()
}

pub(crate) fn read(bytes: &[u8], c: &mut Classification) {
    let text = String::from_utf8_lossy(bytes);
    let mut messages: Vec<RawMessage> = Vec::new();
    let mut batch_headers = 0;
    let mut field_sep = '|';
    for (i, raw) in text.split(['\r', '\n']).enumerate() {
        let no = i + 1;
        let line = raw.trim_matches(['\u{0b}', '\u{1c}', '\u{feff}']);
        if line.trim().is_empty() {
            continue;
        }
        if !is_segment_start(line)
            || line.as_bytes()[3] as char != field_sep
                && !line.starts_with("MSH")
                && !line.starts_with("FHS")
                && !line.starts_with("BHS")
        {
            // An unescaped line break inside a field: join the text to the previous segment.
            if let Some(m) = messages.last_mut() {
                let last = m.segments.last_mut().unwrap_or(&mut m.msh);
                last.text.push(' ');
                last.text.push_str(line.trim());
                c.skip(SkipCode::Hl7NotASegment, Some(no));
            } else {
                c.skip(SkipCode::Hl7OutsideMessage, Some(no));
            }
            continue;
        }
        let l = Line {
            no,
            text: line.to_string(),
        };
        match &line[..3] {
            "FHS" | "BHS" => {
                batch_headers += 1;
                field_sep = line.as_bytes()[3] as char;
            }
            "FTS" | "BTS" => {}
            "MSH" => {
                field_sep = line.as_bytes()[3] as char;
                messages.push(RawMessage {
                    msh: l,
                    segments: Vec::new(),
                });
            }
            _ => match messages.last_mut() {
                Some(m) => m.segments.push(l),
                None => c.skip(SkipCode::Hl7OutsideMessage, Some(no)),
            },
        }
    }
    let mut state = State::default();
    for m in &messages {
        read_message(m, c, &mut state);
    }
    decide(c, &state, messages.len(), batch_headers);
}

#[derive(Default)]
struct State {
    /// (message type, trigger) of the first message, e.g. ("ORU", "R01").
    types: Vec<(String, String)>,
    /// OBR-24 diagnostic service sections and OBR-4 service names.
    sections: Vec<String>,
    services: Vec<String>,
    /// Narrative carried in OBX TX/FT/ST and NTE: an embedded report.
    narrative: String,
    /// OBX-3 names mentioning vaccines.
    vaccine_obx: usize,
    numeric_obx: usize,
    /// TXA-2 document type (MDM).
    document_type: Option<String>,
    rxa: usize,
    pharmacy: usize,
}

fn separators(msh: &str, c: &mut Classification, no: usize) -> Separators {
    let mut s = Separators::default();
    let b: Vec<char> = msh.chars().collect();
    s.field = b[3];
    let enc: Vec<char> = b[4..]
        .iter()
        .take_while(|&&ch| ch != s.field)
        .copied()
        .collect();
    let usable = enc.len() >= 3
        && enc
            .iter()
            .all(|ch| !ch.is_alphanumeric() && !ch.is_whitespace())
        && enc.iter().collect::<std::collections::HashSet<_>>().len() == enc.len()
        && !enc.contains(&s.field);
    if usable {
        s.component = enc[0];
        s.repetition = enc[1];
        s.escape = enc[2];
        if let Some(&sub) = enc.get(3) {
            s.subcomponent = sub;
        }
    } else {
        c.skip(SkipCode::Hl7BadEncodingCharacters, Some(no));
    }
    s
}

/// MSH-n (1-based; MSH-1 is the field separator).
fn msh_field(msh: &str, sep: char, n: usize) -> Option<&str> {
    if n < 2 {
        return None;
    }
    msh.split(sep).nth(n - 1).filter(|s| !s.is_empty())
}

/// Field `n`, repeat 1, component `k` (1-based), escapes decoded.
fn comp(seg: &Segment<'_>, seps: &Separators, n: usize, k: usize) -> Option<String> {
    let f = seg.field(n)?;
    let r = f.repeat(1)?;
    let v = r.component(k)?.display(seps).to_string();
    present(&v)
}

/// A whole field (first repeat), escapes decoded, components joined by the component separator.
fn field(seg: &Segment<'_>, seps: &Separators, n: usize) -> Option<String> {
    let f = seg.field(n)?;
    let r = f.repeat(1)?;
    let v = r.display(seps).to_string();
    present(&v)
}

/// A value, unless empty or the HL7 explicit null `""`.
fn present(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty() && v != "\"\"").then(|| v.to_string())
}

fn person_name(seg: &Segment<'_>, seps: &Separators, n: usize) -> Option<String> {
    let family = comp(seg, seps, n, 1);
    let given = comp(seg, seps, n, 2);
    let name = [family, given]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// XCN (provider): id^family^given; the name part.
fn provider(seg: &Segment<'_>, seps: &Separators, n: usize) -> Option<String> {
    let prefix = comp(seg, seps, n, 6);
    let family = comp(seg, seps, n, 2);
    let given = comp(seg, seps, n, 3);
    let name = [prefix, given, family]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

fn read_message(m: &RawMessage, c: &mut Classification, st: &mut State) {
    let msh = m.msh.text.as_str();
    let seps = separators(msh, c, m.msh.no);
    let fs = seps.field;
    let kind = msh_field(msh, fs, 9).unwrap_or("");
    let mut parts = kind.split(seps.component);
    st.types.push((
        parts.next().unwrap_or("").trim().to_string(),
        parts.next().unwrap_or("").trim().to_string(),
    ));
    if c.institution.is_none() {
        c.institution = msh_field(msh, fs, 4)
            .map(|f| {
                f.split(seps.component)
                    .next()
                    .unwrap_or(f)
                    .trim()
                    .to_string()
            })
            .filter(|s| !s.is_empty());
    }
    let message_time = msh_field(msh, fs, 7).and_then(compact_datetime);
    let mut obr_time: Option<String> = None;
    for line in &m.segments {
        let seg = match hl7_parser::parser::parse_segment_with_separators(&line.text, seps) {
            Ok(s) => s,
            Err(_) => {
                c.skip(SkipCode::Hl7UnparsableSegment, Some(line.no));
                continue;
            }
        };
        match seg.name {
            "PID" => {
                if let Some(f) = seg.field(3) {
                    for r in f.repeats() {
                        let id = r.component(1).map(|x| x.display(&seps).to_string());
                        let auth = r.component(4).map(|x| x.display(&seps).to_string());
                        if let Some(id) = id.filter(|s| !s.trim().is_empty()) {
                            let src = match auth.filter(|a| !a.trim().is_empty()) {
                                Some(a) => format!("PID-3 ({})", a.trim()),
                                None => "PID-3".to_string(),
                            };
                            c.add_identifier(&id, &src);
                        }
                    }
                }
                for n in [2, 4] {
                    if let Some(id) = comp(&seg, &seps, n, 1) {
                        c.add_identifier(&id, &format!("PID-{n}"));
                    }
                }
                if c.patient.name.is_none() {
                    c.patient.name = person_name(&seg, &seps, 5);
                }
                if c.patient.birth_date.is_none() {
                    c.patient.birth_date = field(&seg, &seps, 7).and_then(|d| compact_date(&d));
                }
                if c.patient.sex.is_none() {
                    c.patient.sex = field(&seg, &seps, 8);
                }
            }
            "OBR" => {
                obr_time = field(&seg, &seps, 7).and_then(|d| compact_datetime(&d));
                if c.date_of_service.is_none() {
                    c.date_of_service = obr_time.as_deref().map(|t| t[..10].to_string());
                }
                if let Some(s) = comp(&seg, &seps, 24, 1) {
                    st.sections.push(s.to_ascii_uppercase());
                }
                if let Some(s) = comp(&seg, &seps, 4, 2).or_else(|| comp(&seg, &seps, 4, 1)) {
                    st.services.push(s);
                }
                if c.author.is_none() {
                    c.author = comp(&seg, &seps, 32, 1)
                        .map(|s| s.replace(seps.subcomponent, " "))
                        .or_else(|| provider(&seg, &seps, 16));
                }
            }
            "OBX" => read_obx(
                &seg,
                &seps,
                line.no,
                obr_time.as_ref().or(message_time.as_ref()),
                c,
                st,
            ),
            "NTE" => {
                if let Some(t) = field(&seg, &seps, 3) {
                    st.narrative.push_str(&t);
                    st.narrative.push('\n');
                }
            }
            "TXA" => {
                st.document_type = field(&seg, &seps, 2);
                if c.date_of_service.is_none() {
                    c.date_of_service = field(&seg, &seps, 4).and_then(|d| compact_date(&d));
                }
            }
            "RXA" => {
                st.rxa += 1;
                if c.date_of_service.is_none() {
                    c.date_of_service = field(&seg, &seps, 3).and_then(|d| compact_date(&d));
                }
            }
            "RXE" | "RXO" | "RXD" => st.pharmacy += 1,
            _ => {}
        }
    }
    if c.date_of_service.is_none() && st.types.last().is_some_and(|(t, _)| t != "ADT") {
        c.date_of_service = message_time.map(|t| t[..10].to_string());
    }
}

fn read_obx(
    seg: &Segment<'_>,
    seps: &Separators,
    no: usize,
    default_time: Option<&String>,
    c: &mut Classification,
    st: &mut State,
) {
    let vtype = field(seg, seps, 2).unwrap_or_default().to_ascii_uppercase();
    let id = comp(seg, seps, 3, 1);
    let text = comp(seg, seps, 3, 2);
    let system = comp(seg, seps, 3, 3).unwrap_or_default();
    // A local code may carry the LOINC as its alternate (components 4-6).
    let alt = comp(seg, seps, 3, 4);
    let alt_system = comp(seg, seps, 3, 6).unwrap_or_default();
    let loinc = if system.eq_ignore_ascii_case("LN") {
        id.clone()
    } else if alt_system.eq_ignore_ascii_case("LN") {
        alt
    } else {
        // An unlabelled code with a valid LOINC check digit is taken as LOINC.
        id.clone().filter(|i| crate::labs::is_loinc(i))
    };
    let name = text.clone().or(id.clone()).unwrap_or_default();
    let lname = name.to_lowercase();
    if lname.contains("vaccin") || lname.contains("immuniz") || lname.contains("immunis") {
        st.vaccine_obx += 1;
    }
    match vtype.as_str() {
        "TX" | "FT" | "ST" if loinc.is_none() || vtype != "ST" => {
            // Narrative: an embedded report (all repeats of OBX-5).
            if let Some(f) = seg.field(5) {
                for r in f.repeats() {
                    st.narrative.push_str(&r.display(seps).to_string());
                    st.narrative.push('\n');
                }
            }
            return;
        }
        _ => {}
    }
    let value = match vtype.as_str() {
        "NM" => field(seg, seps, 5).map(|v| parse_value(&v)),
        // Structured numeric: comparator^num1^separator^num2; a plain "^182" is 182.
        "SN" => {
            let cmp = comp(seg, seps, 5, 1);
            let n1 = comp(seg, seps, 5, 2);
            match (cmp.as_deref(), n1) {
                (None | Some("="), Some(n)) => Some(parse_value(&n)),
                (Some(cmp), Some(n)) => Some(Value::Text(format!("{cmp}{n}"))),
                _ => None,
            }
        }
        "CE" | "CWE" | "CNE" => comp(seg, seps, 5, 2)
            .or_else(|| comp(seg, seps, 5, 1))
            .map(Value::Text),
        "TS" | "DT" | "DTM" => {
            field(seg, seps, 5).map(|v| Value::Text(compact_datetime(&v).unwrap_or(v)))
        }
        _ => field(seg, seps, 5).map(|v| parse_value(&v)),
    };
    let Some(value) = value else {
        c.skip(SkipCode::Hl7ObservationWithoutValue, Some(no));
        return;
    };
    if matches!(value, Value::Number(_)) {
        st.numeric_obx += 1;
    }
    let mut o = Observation::new(&name, value);
    o.loinc = loinc;
    // OBX-6 is a coded element: identifier^text. Some senders put a local code first and the
    // unit in the text.
    let (u1, u2) = (comp(seg, seps, 6, 1), comp(seg, seps, 6, 2));
    o.unit = match (&u1, &u2) {
        (Some(a), _) if crate::labs::known_unit(a).is_some() => u1,
        (_, Some(b)) if crate::labs::known_unit(b).is_some() => u2,
        _ => u1.or(u2),
    };
    o.reference_range = field(seg, seps, 7);
    o.flag = field(seg, seps, 8);
    o.time = field(seg, seps, 14)
        .and_then(|d| compact_datetime(&d))
        .or_else(|| default_time.cloned());
    // Bounded: a hostile message must not grow the manifest without limit.
    if c.observations.len() < 2000 {
        c.observations.push(o);
    }
}

fn ev(source: &str, found: impl Into<String>) -> Evidence {
    Evidence {
        source: source.into(),
        found: found.into(),
    }
}

fn decide(c: &mut Classification, st: &State, messages: usize, batches: usize) {
    let Some((kind, trigger)) = st.types.first() else {
        c.decide(DocumentClass::Other, 0.2, vec![ev("HL7", "no MSH segment")]);
        return;
    };
    let msg = if trigger.is_empty() {
        kind.clone()
    } else {
        format!("{kind}^{trigger}")
    };
    let mut evidence = vec![ev("MSH-9", msg.clone())];
    if batches > 0 || messages > 1 {
        evidence.push(ev("HL7 batch", format!("{messages} messages")));
    }
    // An embedded report's words decide when the message structure does not.
    let narrative = crate::rules::rules(&st.narrative);
    let section = st.sections.first().map(String::as_str).unwrap_or("");
    let (class, conf, mut why) = match kind.as_str() {
        "VXU" | "VXR" => (DocumentClass::ImmunisationRecord, 0.95, vec![]),
        "RDE" | "RDS" | "OMP" | "RRE" | "RAS" => (DocumentClass::Medication, 0.9, vec![]),
        "ADT" => (
            DocumentClass::Other,
            0.8,
            vec![ev(
                "MSH-9",
                "ADT: patient administration (demographics only)",
            )],
        ),
        "MDM" => match st
            .document_type
            .as_deref()
            .and_then(crate::fhir::class_for_document_code)
        {
            Some(cl) => (
                cl,
                0.9,
                vec![ev("TXA-2", st.document_type.clone().unwrap_or_default())],
            ),
            None => match narrative {
                Some((cl, conf, ev)) => (cl, conf * 0.9, ev),
                None => (DocumentClass::Other, 0.3, vec![]),
            },
        },
        "ORU" | "OUL" => {
            if st.rxa > 0 || st.vaccine_obx >= 2 {
                (
                    DocumentClass::ImmunisationRecord,
                    0.85,
                    vec![ev(
                        "OBX-3",
                        format!("{} vaccine observations", st.vaccine_obx.max(st.rxa)),
                    )],
                )
            } else if let Some(cl) = class_for_section(section) {
                (cl, 0.9, vec![ev("OBR-24", section.to_string())])
            } else if st.numeric_obx > 0 && st.numeric_obx * 2 >= c.observations.len() {
                (
                    DocumentClass::LabReport,
                    0.9,
                    vec![ev("OBX", format!("{} numeric results", st.numeric_obx))],
                )
            } else if let Some((cl, conf, e)) = narrative {
                (cl, conf * 0.9, e)
            } else if !c.observations.is_empty() {
                (
                    DocumentClass::LabReport,
                    0.6,
                    vec![ev("OBX", format!("{} results", c.observations.len()))],
                )
            } else {
                (DocumentClass::Other, 0.3, vec![])
            }
        }
        _ => (DocumentClass::Other, 0.4, vec![]),
    };
    evidence.append(&mut why);
    if let Some(s) = st.services.first() {
        evidence.push(ev("OBR-4", s.clone()));
    }
    c.decide(class, conf, evidence);
}

/// HL7 table 0074 diagnostic service sections that name a class.
fn class_for_section(s: &str) -> Option<DocumentClass> {
    Some(match s {
        "RAD" | "CT" | "CUS" | "RUS" | "NMR" | "NMS" | "RX" | "VUS" | "XRC" | "OUS" | "CTH" => {
            DocumentClass::ImagingReport
        }
        "EC" | "EKG" | "ECG" | "CTH-ECG" => DocumentClass::Ecg,
        "SP" | "PAT" | "CP" | "HM-PATH" | "SR-PATH" => DocumentClass::PathologyReport,
        "CH" | "HM" | "LAB" | "MB" | "SR" | "IMM" | "BLB" | "TX" | "VR" | "CG" | "MCB" | "HEM" => {
            DocumentClass::LabReport
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::{DocumentClass, SkipCode, classify};

    const ORU: &str = "MSH|^~\\&|LAB|Harbour View Clinic|||20260314093000||ORU^R01|1|P|2.5\r\
PID|1||A123456(3)^^^HKID^NNHKG||CHAN^TAI MAN||19610702|M\r\
OBR|1||F1|PANEL^Chemistry^L|||20260314080000\r\
OBX|1|NM|2345-7^Glucose^LN||126|mg/dL|70-99|H|||F\r\
OBX|2|NM|2823-3^Potassium^LN||6.8|mmol/L|3.5-5.1|HH|||F\r\
OBX|3|SN|2160-0^Creatinine^LN||^1.2|mg/dL|0.6-1.3||||F\r";

    #[test]
    fn oru_observations() {
        let c = classify(ORU.as_bytes());
        assert_eq!(c.class, DocumentClass::LabReport);
        assert_eq!(c.observations.len(), 3);
        assert_eq!(c.patient.identifiers[0].value, "HKID:A1234563");
        assert_eq!(c.patient.name.as_deref(), Some("CHAN TAI MAN"));
        assert_eq!(c.patient.birth_date.as_deref(), Some("1961-07-02"));
        assert_eq!(c.date_of_service.as_deref(), Some("2026-03-14"));
        assert_eq!(c.institution.as_deref(), Some("Harbour View Clinic"));
        let g = &c.observations[0];
        assert!((g.normalised.as_ref().unwrap().value - 6.99).abs() < 0.01);
        assert_eq!(g.time.as_deref(), Some("2026-03-14T08:00:00"));
        assert!(c.observations[1].critical.is_some());
        assert!(c.critical);
        let cr = &c.observations[2];
        assert!((cr.normalised.as_ref().unwrap().value - 106.1).abs() < 0.1);
    }

    #[test]
    fn any_line_ending_and_mllp() {
        let base = classify(ORU.as_bytes());
        for ending in ["\n", "\r\n"] {
            let s = ORU.replace('\r', ending);
            let c = classify(s.as_bytes());
            assert_eq!(c.observations, base.observations, "{ending:?}");
        }
        let framed = format!("\u{0b}{ORU}\u{1c}\r");
        assert_eq!(classify(framed.as_bytes()).observations, base.observations);
    }

    #[test]
    fn messy_input_is_reported_not_fatal() {
        let s = ORU.replace(
            "OBX|3|",
            "this line lost its escape\rOBX|4|NM|2823-3^Potassium^LN||||\rOBX|3|",
        );
        let c = classify(s.as_bytes());
        assert_eq!(c.observations.len(), 3);
        let codes: Vec<SkipCode> = c.skipped.iter().map(|s| s.code).collect();
        assert!(codes.contains(&SkipCode::Hl7NotASegment), "{codes:?}");
        assert!(
            codes.contains(&SkipCode::Hl7ObservationWithoutValue),
            "{codes:?}"
        );
        // Skips carry positions, not content.
        assert!(
            !serde_json::to_string(&c.skipped)
                .unwrap()
                .contains("escape")
        );
    }

    #[test]
    fn embedded_report_decides() {
        let s = "MSH|^~\\&|RIS|QMH|||20260301||ORU^R01|9|P|2.3\r\
PID|1||X1||WONG^MEI\r\
OBR|1||R1|71020^CHEST XRAY\r\
OBX|1|TX|||Examination: Chest radiograph PA.\r\
OBX|2|TX|||Findings: lungs clear. Impression: no acute abnormality on the radiograph.\r";
        let c = classify(s.as_bytes());
        assert_eq!(c.class, DocumentClass::ImagingReport, "{:?}", c.evidence);
    }
}
