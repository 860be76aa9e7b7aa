//! CSV (or tab/semicolon separated) lab exports: a header row naming the columns, one result
//! per row. Columns are found by their header names (code/LOINC, test/name, value/result,
//! unit, range, flag, date), so exports from different labs are read alike.

use crate::labs::{Observation, parse_value};
use crate::{Classification, DocumentClass, Evidence, SkipCode};

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.iter().any(|n| h == n))
        .or_else(|| {
            headers
                .iter()
                .position(|h| names.iter().any(|n| h.contains(n)))
        })
}

pub(crate) fn read(bytes: &[u8], c: &mut Classification) {
    let text = String::from_utf8_lossy(bytes);
    let first = text.lines().next().unwrap_or("");
    let delimiter = [b',', b'\t', b';']
        .into_iter()
        .max_by_key(|d| first.matches(*d as char).count())
        .unwrap_or(b',');
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|s| s.to_lowercase()).collect(),
        Err(_) => Vec::new(),
    };
    let code = find(&headers, &["loinc", "code", "loinc_code"]);
    let name = find(
        &headers,
        &["test", "name", "analyte", "test_name", "description"],
    );
    let value = find(&headers, &["value", "result", "result_value"]);
    let unit = find(&headers, &["unit", "units"]);
    let range = find(
        &headers,
        &["reference_range", "range", "ref_range", "reference"],
    );
    let flag = find(
        &headers,
        &["flag", "abnormal_flag", "abnormal", "interpretation"],
    );
    let time = find(
        &headers,
        &[
            "collected_at",
            "collected",
            "date",
            "time",
            "datetime",
            "observed",
        ],
    );
    let (Some(value), Some(name_col)) = (value, name.or(code)) else {
        let why = vec![Evidence {
            source: "CSV header".into(),
            found: "no value/test columns".into(),
        }];
        c.decide(DocumentClass::Other, 0.3, why);
        return;
    };
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let Ok(rec) = rec else {
            c.skip(SkipCode::CsvRow, Some(row));
            continue;
        };
        let get = |col: Option<usize>| {
            col.and_then(|k| rec.get(k))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let (Some(n), Some(v)) = (get(Some(name_col)), get(Some(value))) else {
            c.skip(SkipCode::CsvRow, Some(row));
            continue;
        };
        let mut o = Observation::new(&n, parse_value(&v));
        o.loinc = get(code).filter(|s| looks_like_loinc(s));
        o.unit = get(unit);
        o.reference_range = get(range);
        o.flag = get(flag);
        o.time = get(time);
        if c.observations.len() < 20_000 {
            c.observations.push(o);
        }
    }
    let n = c.observations.len();
    let mut why = vec![Evidence {
        source: "CSV header".into(),
        found: headers.join(","),
    }];
    why.push(Evidence {
        source: "CSV rows".into(),
        found: format!("{n} results"),
    });
    if n > 0 {
        c.title = Some("Laboratory results".into());
        c.decide(
            DocumentClass::LabReport,
            if code.is_some() { 0.9 } else { 0.75 },
            why,
        );
    } else {
        c.decide(DocumentClass::Other, 0.3, why);
    }
}

/// `NNNNN-N`.
fn looks_like_loinc(s: &str) -> bool {
    let Some((a, b)) = s.split_once('-') else {
        return false;
    };
    (1..=6).contains(&a.len())
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.len() == 1
        && b.bytes().all(|c| c.is_ascii_digit())
}
