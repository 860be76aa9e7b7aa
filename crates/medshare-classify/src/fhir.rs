//! FHIR R4, JSON or XML: DiagnosticReport, Observation, DocumentReference, Composition
//! (discharge summaries and other documents), Patient, Immunization, MedicationRequest /
//! MedicationStatement, and Bundles of them. XML is turned into the JSON shape first
//! (every child as a list, primitives from their `value` attribute), so one reader serves both.

use crate::labs::{Observation, Value as ObsValue};
use crate::{Classification, DocumentClass, Evidence, SkipCode};
use serde_json::{Map, Value};

/// A LOINC document type or class code -> document class.
pub(crate) fn class_for_document_code(code: &str) -> Option<DocumentClass> {
    Some(match code.trim() {
        "18842-5" | "11490-0" | "28655-9" | "34105-7" | "18761-7" => {
            DocumentClass::DischargeSummary
        }
        "57133-1" | "34140-4" => DocumentClass::ReferralLetter,
        "11488-4" | "34109-9" | "11506-3" | "34117-2" | "28569-2" => {
            DocumentClass::ConsultationNote
        }
        "11504-8" | "34874-8" | "28583-7" | "29752-3" => DocumentClass::OperativeNote,
        "11526-1" | "60567-5" | "27898-6" | "22634-0" | "11529-5" | "34122-2" => {
            DocumentClass::PathologyReport
        }
        "11524-6" | "28010-7" | "18844-1" => DocumentClass::Ecg,
        "18748-4" | "18726-0" | "18782-3" | "55113-5" | "68604-8" => DocumentClass::ImagingReport,
        "11502-2" | "26436-6" => DocumentClass::LabReport,
        "11369-6" | "82593-5" => DocumentClass::ImmunisationRecord,
        "57833-6" | "56445-0" | "10160-0" | "29549-3" => DocumentClass::Medication,
        "72170-4" => DocumentClass::ClinicalPhoto,
        _ => return None,
    })
}

/// First element when `v` is a list, else `v`.
fn one(v: &Value) -> &Value {
    match v {
        Value::Array(a) => a.first().unwrap_or(&Value::Null),
        _ => v,
    }
}

fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    one(v).get(key).unwrap_or(&Value::Null)
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn s(v: &Value) -> Option<String> {
    match one(v) {
        Value::String(x) if !x.trim().is_empty() => Some(x.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn num(v: &Value) -> Option<f64> {
    match one(v) {
        Value::Number(n) => n.as_f64(),
        Value::String(x) => x.trim().parse().ok(),
        _ => None,
    }
}

/// (LOINC code, display) of a CodeableConcept, preferring LOINC codings.
fn loinc(cc: &Value) -> (Option<String>, Option<String>) {
    let codings = list(get(cc, "coding"));
    let ln = codings
        .iter()
        .find(|c| s(get(c, "system")).is_some_and(|x| x.contains("loinc")));
    let display = ln
        .and_then(|c| s(get(c, "display")))
        .or_else(|| codings.iter().find_map(|c| s(get(c, "display"))))
        .or_else(|| s(get(cc, "text")));
    (ln.and_then(|c| s(get(c, "code"))), display)
}

fn codes(cc: &Value) -> Vec<String> {
    list(get(cc, "coding"))
        .iter()
        .filter_map(|c| s(get(c, "code")))
        .collect()
}

fn ev(source: &str, found: impl Into<String>) -> Evidence {
    Evidence {
        source: source.into(),
        found: found.into(),
    }
}

fn date(v: &Value) -> Option<String> {
    let d = s(v)?;
    let d = d.get(..10).unwrap_or(&d).to_string();
    crate::valid_iso_date(&d).then_some(d)
}

pub(crate) fn read_json(bytes: &[u8], c: &mut Classification) {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => read_value(&v, c),
        Err(e) => {
            c.skip(SkipCode::FhirParse, Some(e.line()));
            c.decide(
                DocumentClass::Other,
                0.1,
                vec![ev("FHIR", "unparsable JSON")],
            );
        }
    }
}

pub(crate) fn read_xml(bytes: &[u8], c: &mut Classification) {
    let text = String::from_utf8_lossy(bytes);
    match roxmltree::Document::parse(&text) {
        Ok(doc) => {
            let root = doc.root_element();
            let mut v = xml_to_json(root);
            if let Value::Object(m) = &mut v {
                m.insert(
                    "resourceType".into(),
                    Value::String(root.tag_name().name().into()),
                );
            }
            read_value(&v, c);
        }
        Err(e) => {
            c.skip(SkipCode::FhirParse, Some(e.pos().row as usize));
            c.decide(
                DocumentClass::Other,
                0.1,
                vec![ev("FHIR", "unparsable XML")],
            );
        }
    }
}

/// FHIR XML -> the JSON shape: children become lists, `value` attributes become strings,
/// `resource`/`contained` wrappers become the resource with its `resourceType`, xhtml `div`
/// becomes its text.
fn xml_to_json(node: roxmltree::Node<'_, '_>) -> Value {
    if node.tag_name().name() == "div" {
        let t: String = node
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join(" ");
        return Value::String(t);
    }
    let mut m = Map::new();
    if let Some(v) = node.attribute("value") {
        if node.children().all(|c| !c.is_element()) {
            return Value::String(v.to_string());
        }
        m.insert("value".into(), Value::String(v.to_string()));
    }
    for child in node.children().filter(|c| c.is_element()) {
        let name = child.tag_name().name();
        let value = if matches!(name, "resource" | "contained") {
            match child.children().find(|c| c.is_element()) {
                Some(inner) => {
                    let mut v = xml_to_json(inner);
                    if let Value::Object(o) = &mut v {
                        o.insert(
                            "resourceType".into(),
                            Value::String(inner.tag_name().name().into()),
                        );
                    }
                    v
                }
                None => Value::Null,
            }
        } else {
            xml_to_json(child)
        };
        if let Value::Array(a) = m
            .entry(name.to_string())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            a.push(value);
        }
    }
    Value::Object(m)
}

/// Per-resource outcome: a class with its weight (a Composition outranks what it contains).
struct Vote {
    class: DocumentClass,
    rank: u8,
    confidence: f32,
    evidence: Vec<Evidence>,
}

fn read_value(v: &Value, c: &mut Classification) {
    let rt = s(get(v, "resourceType")).unwrap_or_default();
    let mut votes = Vec::new();
    if rt == "Bundle" {
        let entries = list(get(v, "entry"));
        for (i, e) in entries.iter().enumerate() {
            let r = get(e, "resource");
            if r.is_null() {
                c.skip(SkipCode::FhirEntry, Some(i + 1));
                continue;
            }
            if let Some(vote) = resource(r, c) {
                votes.push(vote);
            }
        }
        if c.date_of_service.is_none() {
            c.date_of_service = date(get(v, "timestamp"));
        }
    } else if let Some(vote) = resource(v, c) {
        votes.push(vote);
    }
    // Contained resources (e.g. Observations inside a DiagnosticReport) are read too.
    for inner in list(get(v, "contained")) {
        resource(inner, c);
    }
    let mut evidence = vec![ev("FHIR resourceType", rt.clone())];
    let best = votes.iter().max_by(|a, b| {
        a.rank
            .cmp(&b.rank)
            .then(a.confidence.total_cmp(&b.confidence))
    });
    match best {
        Some(b) => {
            evidence.extend(b.evidence.iter().cloned());
            let (class, conf) = (b.class, b.confidence);
            c.decide(class, conf, evidence);
        }
        None => c.decide(DocumentClass::Other, 0.3, evidence),
    }
}

fn resource(r: &Value, c: &mut Classification) -> Option<Vote> {
    let rt = s(get(r, "resourceType")).unwrap_or_default();
    let vote = |class, rank, confidence, evidence| {
        Some(Vote {
            class,
            rank,
            confidence,
            evidence,
        })
    };
    match rt.as_str() {
        "Patient" => {
            patient(r, c);
            vote(
                DocumentClass::Other,
                0,
                0.7,
                vec![ev("FHIR Patient", "demographics only")],
            )
        }
        "Composition" => {
            let (code, display) = loinc(get(r, "type"));
            if c.title.is_none() {
                c.title = s(get(r, "title")).or(display.clone());
            }
            // The document's own date outranks dates of what it contains.
            c.date_of_service = date(get(r, "date")).or(c.date_of_service.take());
            if c.author.is_none() {
                c.author = s(get(get(r, "author"), "display"));
            }
            if c.institution.is_none() {
                c.institution = s(get(get(r, "custodian"), "display"));
            }
            let mut text = String::new();
            text.push_str(&s(get(r, "title")).unwrap_or_default());
            text.push('\n');
            for sec in list(get(r, "section")) {
                text.push_str(&s(get(sec, "title")).unwrap_or_default());
                text.push('\n');
                text.push_str(&s(get(get(sec, "text"), "div")).unwrap_or_default());
                text.push('\n');
            }
            crate::text::extract(&text, c);
            decide_document(code, display, &text, 3)
        }
        "DocumentReference" => {
            let (code, display) = loinc(get(r, "type"));
            if c.title.is_none() {
                c.title = s(get(r, "description"))
                    .or_else(|| s(get(get(get(r, "content"), "attachment"), "title")))
                    .or(display.clone());
            }
            c.date_of_service = c
                .date_of_service
                .take()
                .or_else(|| {
                    date(
                        get(get(r, "context"), "period")
                            .get("start")
                            .unwrap_or(&Value::Null),
                    )
                })
                .or_else(|| date(get(r, "date")));
            let cat = list(get(r, "category"))
                .iter()
                .flat_map(|x| codes(x))
                .collect::<Vec<_>>();
            let code = code.or_else(|| {
                cat.iter()
                    .find(|x| class_for_document_code(x).is_some())
                    .cloned()
            });
            let text = c.title.clone().unwrap_or_default();
            decide_document(code, display, &text, 2)
        }
        "DiagnosticReport" => {
            let (code, display) = loinc(get(r, "code"));
            if c.title.is_none() {
                c.title = display.clone();
            }
            c.date_of_service = c
                .date_of_service
                .take()
                .or_else(|| date(get(r, "effectiveDateTime")))
                .or_else(|| date(get(get(r, "effectivePeriod"), "start")))
                .or_else(|| date(get(r, "issued")));
            if c.author.is_none() {
                c.author = s(get(get(r, "resultsInterpreter"), "display"))
                    .or_else(|| s(get(get(r, "performer"), "display")));
            }
            let cats: Vec<String> = list(get(r, "category"))
                .iter()
                .flat_map(|x| codes(x))
                .collect();
            let mut why = vec![];
            let class = cats.iter().find_map(|x| {
                let cl = match x.as_str() {
                    "LAB" | "CH" | "HM" | "MB" | "SR" | "IMM" | "BLB" | "CG" | "VR" => {
                        DocumentClass::LabReport
                    }
                    "RAD" | "CT" | "RUS" | "NMR" | "NMS" | "CUS" | "RX" | "VUS" | "XRC" | "OUS" => {
                        DocumentClass::ImagingReport
                    }
                    "EC" | "CTH" => DocumentClass::Ecg,
                    "SP" | "PAT" | "CP" => DocumentClass::PathologyReport,
                    _ => return None,
                };
                Some((cl, x.clone()))
            });
            let (class, conf) = match class {
                Some((cl, x)) => {
                    why.push(ev("DiagnosticReport.category", x));
                    (cl, 0.9)
                }
                None => match code.as_deref().and_then(class_for_document_code) {
                    Some(cl) => (cl, 0.8),
                    None => {
                        // No category and no document code: the report's own words (code
                        // display, conclusion, narrative) decide; results alone make it a lab
                        // report only at low confidence, and nothing at all is not a lab panel.
                        let text = format!(
                            "{}\n{}\n{}",
                            display.clone().unwrap_or_default(),
                            s(get(r, "conclusion")).unwrap_or_default(),
                            s(get(get(r, "text"), "div")).unwrap_or_default()
                        );
                        let results = list(get(r, "result")).len();
                        match crate::rules::rules(&text) {
                            Some((cl, conf, mut w)) => {
                                why.append(&mut w);
                                (cl, conf)
                            }
                            None if results > 0 => {
                                why.push(ev("DiagnosticReport.result", results.to_string()));
                                (DocumentClass::LabReport, 0.5)
                            }
                            None => {
                                why.push(ev("DiagnosticReport", "no category, code or words"));
                                (DocumentClass::Other, 0.3)
                            }
                        }
                    }
                },
            };
            if let Some(d) = display {
                why.push(ev("DiagnosticReport.code", d));
            }
            vote(class, 2, conf, why)
        }
        "Observation" => {
            observation(r, c);
            let cats: Vec<String> = list(get(r, "category"))
                .iter()
                .flat_map(|x| codes(x))
                .collect();
            let lab = cats.iter().any(|x| x == "laboratory");
            let (code, display) = loinc(get(r, "code"));
            let name = display.unwrap_or_default();
            let mut why = vec![ev("Observation.category", cats.join(","))];
            let (class, conf) = if lab {
                (DocumentClass::LabReport, 0.85)
            } else if cats.iter().any(|x| x == "imaging") {
                (DocumentClass::ImagingReport, 0.7)
            } else if !get(r, "valueSampledData").is_null()
                || list(get(r, "component"))
                    .iter()
                    .any(|p| !get(p, "valueSampledData").is_null())
            {
                // A waveform: an ECG is sampled data.
                why.push(ev("Observation.valueSampledData", "waveform"));
                (DocumentClass::Ecg, 0.8)
            } else if code.as_deref().is_some_and(crate::labs::is_lab_loinc)
                || crate::labs::is_known_test(&name)
                || crate::labs::is_lab_procedure(&name)
                || c.observations
                    .last()
                    .is_some_and(|o| o.normalised.is_some() || crate::labs::is_known_test(&o.name))
            {
                // A lab result even without a value yet (pending, cancelled, "unsatisfactory
                // specimen"): the test itself says so.
                why.push(ev("Observation.code", code.unwrap_or(name)));
                (DocumentClass::LabReport, 0.7)
            } else {
                (DocumentClass::Other, 0.5)
            };
            vote(class, 1, conf, why)
        }
        "Immunization" => {
            c.date_of_service = c
                .date_of_service
                .take()
                .or_else(|| date(get(r, "occurrenceDateTime")));
            let (_, display) = loinc(get(r, "vaccineCode"));
            if c.title.is_none() {
                c.title = display.clone();
            }
            vote(
                DocumentClass::ImmunisationRecord,
                2,
                0.95,
                vec![ev("Immunization.vaccineCode", display.unwrap_or_default())],
            )
        }
        "MedicationRequest" | "MedicationStatement" | "MedicationDispense" => {
            c.date_of_service = c
                .date_of_service
                .take()
                .or_else(|| date(get(r, "authoredOn")))
                .or_else(|| date(get(r, "effectiveDateTime")));
            let (_, display) = loinc(get(r, "medicationCodeableConcept"));
            vote(
                DocumentClass::Medication,
                2,
                0.9,
                vec![ev(&format!("{rt}.medication"), display.unwrap_or_default())],
            )
        }
        "" => None,
        _ => {
            c.skip(SkipCode::FhirEntry, None);
            None
        }
    }
}

fn decide_document(
    code: Option<String>,
    display: Option<String>,
    text: &str,
    rank: u8,
) -> Option<Vote> {
    if let Some((cl, code)) = code
        .as_deref()
        .and_then(|k| class_for_document_code(k).map(|cl| (cl, k.to_string())))
    {
        let mut why = vec![ev("type (LOINC)", code)];
        if let Some(d) = display {
            why.push(ev("type.display", d));
        }
        return Some(Vote {
            class: cl,
            rank,
            confidence: 0.95,
            evidence: why,
        });
    }
    let words = format!("{}\n{text}", display.unwrap_or_default());
    let (class, confidence, evidence) = crate::rules::rules(&words).unwrap_or((
        DocumentClass::Other,
        0.3,
        vec![ev("type", "not a known document code")],
    ));
    Some(Vote {
        class,
        rank,
        confidence,
        evidence,
    })
}

fn patient(r: &Value, c: &mut Classification) {
    for id in list(get(r, "identifier")) {
        if let Some(value) = s(get(id, "value")) {
            let system = s(get(id, "system")).unwrap_or_default();
            let src = if system.is_empty() {
                "Patient.identifier".to_string()
            } else {
                format!("Patient.identifier ({system})")
            };
            c.add_identifier(&value, &src);
        }
    }
    if c.patient.name.is_none() {
        let n = get(r, "name");
        let text = s(get(n, "text")).or_else(|| {
            let given: Vec<String> = list(get(n, "given")).iter().filter_map(|g| s(g)).collect();
            let family = s(get(n, "family"));
            let all: Vec<String> = family.into_iter().chain(given).collect();
            (!all.is_empty()).then(|| all.join(" "))
        });
        c.patient.name = text;
    }
    if c.patient.birth_date.is_none() {
        c.patient.birth_date = date(get(r, "birthDate"));
    }
    if c.patient.sex.is_none() {
        c.patient.sex = s(get(r, "gender"));
    }
}

fn observation(r: &Value, c: &mut Classification) {
    let (code, display) = loinc(get(r, "code"));
    let name = display.clone().or(code.clone()).unwrap_or_default();
    let q = get(r, "valueQuantity");
    let value = if let Some(v) = num(get(q, "value")) {
        ObsValue::Number(v)
    } else if let Some(t) = s(get(r, "valueString")) {
        ObsValue::Text(t)
    } else if let (_, Some(d)) = loinc(get(r, "valueCodeableConcept")) {
        ObsValue::Text(d)
    } else {
        // A panel (e.g. blood pressure) carries its values in components.
        let parts = list(get(r, "component"));
        if parts.is_empty() {
            c.skip(SkipCode::FhirEntry, None);
        }
        for part in parts {
            let mut p = part.clone();
            if let (Value::Object(m), Some(t)) = (&mut p, get(r, "effectiveDateTime").as_str()) {
                m.insert("effectiveDateTime".into(), Value::String(t.to_string()));
            }
            observation(&p, c);
        }
        return;
    };
    let mut o = Observation::new(&name, value);
    o.loinc = code;
    o.unit = s(get(q, "code")).or_else(|| s(get(q, "unit")));
    let rr = get(r, "referenceRange");
    let low = num(get(get(rr, "low"), "value"));
    let high = num(get(get(rr, "high"), "value"));
    o.reference_range = match (low, high) {
        (Some(l), Some(h)) => Some(format!("{l}-{h}")),
        (None, Some(h)) => Some(format!("<{h}")),
        (Some(l), None) => Some(format!(">{l}")),
        _ => s(get(rr, "text")),
    };
    o.flag = list(get(r, "interpretation"))
        .iter()
        .flat_map(|x| codes(x))
        .next();
    o.time = s(get(r, "effectiveDateTime")).or_else(|| s(get(r, "issued")));
    if c.date_of_service.is_none() {
        c.date_of_service = o
            .time
            .as_deref()
            .and_then(|t| date(&Value::String(t.to_string())));
    }
    if c.observations.len() < 20_000 {
        c.observations.push(o);
    }
}

#[cfg(test)]
mod tests {
    use crate::{DocumentClass, Format, classify};

    #[test]
    fn composition_bundle_json_and_xml_agree() {
        let json = br#"{"resourceType":"Bundle","type":"document","entry":[
          {"resource":{"resourceType":"Composition","status":"final",
            "type":{"coding":[{"system":"http://loinc.org","code":"18842-5","display":"Discharge summary"}]},
            "date":"2026-03-20","title":"Discharge summary","author":[{"display":"Dr. LEE Ka Ming"}]}},
          {"resource":{"resourceType":"Patient","identifier":[{"system":"urn:hk:hkid","value":"A123456(3)"}],
            "name":[{"family":"CHAN","given":["Tai Man"]}],"birthDate":"1961-07-02"}},
          {"resource":{"resourceType":"Observation","category":[{"coding":[{"code":"laboratory"}]}],
            "code":{"coding":[{"system":"http://loinc.org","code":"2823-3","display":"Potassium"}]},
            "valueQuantity":{"value":6.4,"unit":"mmol/L","code":"mmol/L"},"effectiveDateTime":"2026-03-18T08:00:00+08:00"}}]}"#;
        let c = classify(json);
        assert_eq!(c.format, Format::FhirJson);
        assert_eq!(c.class, DocumentClass::DischargeSummary);
        assert_eq!(c.date_of_service.as_deref(), Some("2026-03-20"));
        assert_eq!(c.patient.identifiers[0].value, "HKID:A1234563");
        assert_eq!(c.author.as_deref(), Some("Dr. LEE Ka Ming"));
        assert!(c.critical);
        let xml = br#"<Bundle xmlns="http://hl7.org/fhir"><type value="document"/>
          <entry><resource><Composition><status value="final"/>
            <type><coding><system value="http://loinc.org"/><code value="18842-5"/><display value="Discharge summary"/></coding></type>
            <date value="2026-03-20"/><author><display value="Dr. LEE Ka Ming"/></author><title value="Discharge summary"/></Composition></resource></entry>
          <entry><resource><Patient><identifier><system value="urn:hk:hkid"/><value value="A123456(3)"/></identifier>
            <name><family value="CHAN"/><given value="Tai Man"/></name><birthDate value="1961-07-02"/></Patient></resource></entry>
          <entry><resource><Observation><category><coding><code value="laboratory"/></coding></category>
            <code><coding><system value="http://loinc.org"/><code value="2823-3"/><display value="Potassium"/></coding></code>
            <effectiveDateTime value="2026-03-18T08:00:00+08:00"/>
            <valueQuantity><value value="6.4"/><unit value="mmol/L"/><code value="mmol/L"/></valueQuantity></Observation></resource></entry>
        </Bundle>"#;
        let x = classify(xml);
        assert_eq!(x.format, Format::FhirXml);
        assert_eq!(x.class, c.class);
        assert_eq!(x.patient, c.patient);
        assert_eq!(x.observations, c.observations);
        assert_eq!(x.date_of_service, c.date_of_service);
    }

    #[test]
    fn immunization_and_medication() {
        let c = classify(br#"{"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"COVID-19 mRNA"},"occurrenceDateTime":"2025-10-01"}"#);
        assert_eq!(c.class, DocumentClass::ImmunisationRecord);
        assert_eq!(c.date_of_service.as_deref(), Some("2025-10-01"));
        let m = classify(br#"{"resourceType":"MedicationRequest","status":"active","intent":"order","medicationCodeableConcept":{"text":"Metformin 500 mg"},"authoredOn":"2026-01-05"}"#);
        assert_eq!(m.class, DocumentClass::Medication);
    }

    #[test]
    fn the_long_tail_of_coded_results() {
        // A culture without category or value yet is still a lab result.
        let c = classify(br#"{"resourceType":"Observation","status":"registered",
            "code":{"coding":[{"system":"http://loinc.org","code":"600-7","display":"Bacteria identified in Blood by Culture"}]}}"#);
        assert_eq!(c.class, DocumentClass::LabReport, "{:?}", c.evidence);
        // A cancelled potassium, by its LOINC code alone.
        let k = classify(
            br#"{"resourceType":"Observation","status":"cancelled",
            "code":{"coding":[{"system":"http://loinc.org","code":"2823-3"}]},
            "dataAbsentReason":{"text":"unsatisfactory specimen"}}"#,
        );
        assert_eq!(k.class, DocumentClass::LabReport, "{:?}", k.evidence);
        // An ECG waveform.
        let e = classify(br#"{"resourceType":"Observation","status":"final",
            "code":{"coding":[{"system":"urn:oid:2.16.840.1.113883.6.24","code":"131328","display":"MDC_ECG_ELEC_POTL"}]},
            "component":[{"code":{"text":"lead I"},"valueSampledData":{"origin":{"value":2048},"period":10,"dimensions":1,"data":"2041 2043 2047"}}]}"#);
        assert_eq!(e.class, DocumentClass::Ecg, "{:?}", e.evidence);
        // A DiagnosticReport without category is not a lab panel by default.
        let d = classify(
            br#"{"resourceType":"DiagnosticReport","status":"final",
            "code":{"text":"Bone densitometry"},
            "conclusion":"DEXA scan: T-score -2.7 at the femoral neck, osteoporosis."}"#,
        );
        assert_ne!(d.class, DocumentClass::LabReport, "{:?}", d.evidence);
        let empty = classify(
            br#"{"resourceType":"DiagnosticReport","status":"final","code":{"text":"Report"}}"#,
        );
        assert_eq!(empty.class, DocumentClass::Other);
        assert!(empty.low_confidence);
    }

    #[test]
    fn document_types_outside_the_table_are_read_by_their_kind() {
        let c = classify(br#"{"resourceType":"DocumentReference","status":"current",
            "type":{"coding":[{"system":"http://loinc.org","code":"34108-1","display":"Outpatient Note"}]}}"#);
        assert_eq!(c.class, DocumentClass::ConsultationNote, "{:?}", c.evidence);
        let p = classify(br#"{"resourceType":"DocumentReference","status":"current",
            "type":{"coding":[{"system":"http://loinc.org","code":"28570-0","display":"Procedure note"}]}}"#);
        assert_eq!(p.class, DocumentClass::OperativeNote, "{:?}", p.evidence);
    }
}
