//! Lab trends: every result for one analyte across a patient's readable documents, from every
//! laboratory, in one unit, ordered by when the specimen was taken.
//!
//! The results come from the lab tables classification sealed into each manifest (never from
//! the hub). A result joins a trend through its normalised form (`medshare_classify::labs`:
//! glucose mg/dL and mmol/L line up, HbA1c % and mmol/mol...), else through its LOINC code and
//! unit as reported; text results (`<0.5`, `positive`) are not drawn. Reference ranges are
//! converted into the trend's unit the same way as the values, so the bands line up too.

use crate::records::Timeline;
use medshare_classify::labs::{Observation, Value, normalise};
use medshare_model::DocumentId;
use medshare_model::records::Manifest;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// One analyte over time.
#[derive(Clone, Debug, PartialEq)]
pub struct Trend {
    /// What joins the points: the normalised analyte's LOINC code, or the code as reported.
    pub loinc: String,
    /// The test's name (the normalised analyte key when there is one, else the name the first
    /// laboratory used).
    pub name: String,
    /// The unit every value and bound is in.
    pub unit: String,
    /// Oldest first.
    pub points: Vec<TrendPoint>,
}

/// One result in a trend.
#[derive(Clone, Debug, PartialEq)]
pub struct TrendPoint {
    /// The document it was read from.
    pub document_id: DocumentId,
    /// Index of that document in the timeline's entries (for its verified uploader).
    pub entry: usize,
    /// When the specimen was taken (ISO 8601), else the document's date of service.
    pub taken: String,
    /// The value in the trend's unit.
    pub value: f64,
    /// As the laboratory wrote it: value and unit.
    pub reported: String,
    /// The reference range's lower bound in the trend's unit, when the laboratory gave one
    /// that could be read.
    pub low: Option<f64>,
    /// Its upper bound, likewise.
    pub high: Option<f64>,
    /// The abnormal flag as given (`H`, `LL`...).
    pub flag: Option<String>,
    /// Why the value is critical, when classification marked it so.
    pub critical: Option<String>,
}

/// The lab trends of a timeline, one per analyte with at least one numeric result, ordered by
/// name.
pub fn lab_trends(t: &Timeline) -> Vec<Trend> {
    trends_of(
        t.entries
            .iter()
            .map(|e| (e.document_id, &e.manifest, e.created_at)),
    )
}

fn trends_of<'a>(
    docs: impl Iterator<Item = (DocumentId, &'a Manifest, OffsetDateTime)>,
) -> Vec<Trend> {
    let mut by_key: BTreeMap<String, Trend> = BTreeMap::new();
    for (i, (document_id, manifest, created_at)) in docs.enumerate() {
        for o in observations(manifest) {
            let Some((key, name, unit, value)) = placed(&o) else {
                continue;
            };
            let (low, high) = o
                .reference_range
                .as_deref()
                .map(|r| bounds(&o, r))
                .unwrap_or_default();
            let point = TrendPoint {
                document_id,
                entry: i,
                taken: o
                    .time
                    .clone()
                    .or_else(|| manifest.date_of_service.clone())
                    .unwrap_or_else(|| created_at.date().to_string()),
                value,
                reported: reported(&o),
                low,
                high,
                flag: o.flag.clone(),
                critical: o.critical.clone(),
            };
            by_key
                .entry(format!("{key}\u{0}{unit}"))
                .or_insert_with(|| Trend {
                    loinc: key,
                    name,
                    unit,
                    points: Vec::new(),
                })
                .points
                .push(point);
        }
    }
    let mut trends: Vec<Trend> = by_key.into_values().collect();
    for tr in &mut trends {
        tr.points.sort_by(|a, b| a.taken.cmp(&b.taken));
    }
    trends.sort_by_key(|a| a.name.to_lowercase());
    trends
}

/// The lab results a manifest carries (normalised now if the uploader's client did not).
fn observations(m: &Manifest) -> Vec<Observation> {
    let Some(list) = m
        .classification
        .as_ref()
        .and_then(|c| c.get("observations"))
        .and_then(|o| o.as_array())
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|o| serde_json::from_value::<Observation>(o.clone()).ok())
        .map(|mut o| {
            if o.normalised.is_none() {
                normalise(&mut o);
            }
            o
        })
        .collect()
}

/// Where a result goes: (code, name, unit, value in that unit). None for text results.
fn placed(o: &Observation) -> Option<(String, String, String, f64)> {
    if let Some(n) = &o.normalised {
        return Some((n.loinc.clone(), n.analyte.clone(), n.unit.clone(), n.value));
    }
    let Value::Number(v) = o.value else {
        return None;
    };
    let code = o.loinc.clone().unwrap_or_else(|| o.name.to_lowercase());
    Some((code, o.name.clone(), o.unit.clone().unwrap_or_default(), v))
}

fn reported(o: &Observation) -> String {
    let v = match &o.value {
        Value::Number(n) => n.to_string(),
        Value::Text(t) => t.clone(),
    };
    match &o.unit {
        Some(u) if !u.is_empty() => format!("{v} {u}"),
        _ => v,
    }
}

/// A reference range (`3.5-5.1`, `<5.2`, `>= 1.0`) in the trend's unit: each bound goes
/// through the same normalisation as the value.
fn bounds(o: &Observation, range: &str) -> (Option<f64>, Option<f64>) {
    let r = range.trim();
    let num = |s: &str| {
        s.trim()
            .trim_start_matches(['<', '>', '='])
            .trim()
            .parse::<f64>()
            .ok()
    };
    let (low, high) = if let Some(rest) = r.strip_prefix('<') {
        (None, num(rest))
    } else if let Some(rest) = r.strip_prefix('>') {
        (num(rest), None)
    } else if let Some((a, b)) = r
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '-' || *c == '–')
        .map(|(i, c)| (&r[..i], &r[i + c.len_utf8()..]))
    {
        (num(a), num(b))
    } else {
        (None, None)
    };
    let convert = |b: f64| {
        if o.normalised.is_none() {
            return Some(b);
        }
        let mut probe = o.clone();
        probe.value = Value::Number(b);
        normalise(&mut probe);
        probe.normalised.map(|n| n.value)
    };
    (low.and_then(convert), high.and_then(convert))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(date: &str, obs: serde_json::Value) -> Manifest {
        serde_json::from_value(serde_json::json!({
            "title": "Lab", "file_name": "lab.hl7", "media_type": "text/plain",
            "category": "lab-report", "date_of_service": date, "size": 1, "sha256": "00",
            "classification": { "observations": obs },
        }))
        .expect("manifest")
    }

    #[test]
    fn units_line_up_across_laboratories() {
        let docs = [
            manifest(
                "2026-03-01",
                serde_json::json!([{ "loinc": "2345-7", "name": "Glucose", "value": 126.0,
                        "unit": "mg/dL", "reference_range": "70-99", "flag": "H" }]),
            ),
            manifest(
                "2026-01-01",
                serde_json::json!([
                        { "loinc": "14749-6", "name": "GLU", "value": 5.5, "unit": "mmol/L",
                          "reference_range": "3.9-5.5" },
                        { "name": "Comment", "value": "see note" },
                        { "loinc": "2823-3", "name": "Potassium", "value": 6.9, "unit": "mmol/L",
                          "reference_range": "3.5-5.1", "flag": "HH",
                          "critical": "potassium above 6.0 mmol/L" }]),
            ),
        ];
        let trends = trends_of(
            docs.iter()
                .map(|m| (DocumentId::new(), m, OffsetDateTime::UNIX_EPOCH)),
        );
        let glucose = trends
            .iter()
            .find(|t| t.name == "glucose")
            .expect("glucose");
        assert_eq!(glucose.unit, "mmol/L");
        assert_eq!(glucose.points.len(), 2);
        // Oldest first; the mg/dL result and its range converted.
        assert_eq!(glucose.points[0].taken, "2026-01-01");
        assert!((glucose.points[1].value - 7.0).abs() < 0.01);
        assert_eq!(glucose.points[1].reported, "126 mg/dL");
        assert!((glucose.points[1].low.unwrap() - 3.885).abs() < 0.01);
        assert!((glucose.points[1].high.unwrap() - 5.495).abs() < 0.01);
        let k = trends
            .iter()
            .find(|t| t.name == "potassium")
            .expect("potassium");
        assert_eq!(
            k.points[0].critical.as_deref(),
            Some("potassium above 6.0 mmol/L")
        );
        assert_eq!((k.points[0].low, k.points[0].high), (Some(3.5), Some(5.1)));
        // Text results are not drawn.
        assert!(trends.iter().all(|t| t.name != "Comment"));
    }

    #[test]
    fn ranges_read() {
        let o = Observation::new("x", Value::Number(1.0));
        assert_eq!(bounds(&o, "<5.2"), (None, Some(5.2)));
        assert_eq!(bounds(&o, "> 1.0"), (Some(1.0), None));
        assert_eq!(bounds(&o, "3.5 - 5.1"), (Some(3.5), Some(5.1)));
        assert_eq!(bounds(&o, "-1-2"), (Some(-1.0), Some(2.0)));
        assert_eq!(bounds(&o, "negative"), (None, None));
    }
}
