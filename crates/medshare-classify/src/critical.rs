//! Critical values: a result is critical when its HL7 abnormal flag says so (HH, LL, AA, or
//! the `<`/`>` panic flags) or when its normalised value crosses a configured threshold.
//! A critical result lets the upload be flagged urgent.

use crate::labs::{Observation, Value};
use serde::{Deserialize, Serialize};

/// Which flags and thresholds make a result critical. Deserialisable, so deployments can
/// configure their own (e.g. a lab's troponin cut-off).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriticalRules {
    /// HL7 v2 table 0078 flags that mean "critical".
    pub flags: Vec<String>,
    pub thresholds: Vec<Threshold>,
}

/// A limit on a normalised analyte (see `labs`), in the analyte's common unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub analyte: String,
    pub unit: String,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
}

fn t(analyte: &str, unit: &str, below: Option<f64>, above: Option<f64>) -> Threshold {
    Threshold {
        analyte: analyte.into(),
        unit: unit.into(),
        above,
        below,
    }
}

impl Default for CriticalRules {
    /// Common critical limits; the troponin cut-offs are typical 99th-percentile limits of
    /// high-sensitivity assays (TnI 26 ng/L, TnT 14 ng/L): labs should set their own.
    fn default() -> Self {
        Self {
            flags: ["HH", "LL", "AA", "<", ">"].map(String::from).to_vec(),
            thresholds: vec![
                t("potassium", "mmol/L", Some(2.5), Some(6.0)),
                t("sodium", "mmol/L", Some(120.0), Some(160.0)),
                t("glucose", "mmol/L", Some(2.5), Some(25.0)),
                t("troponin-i", "ng/L", None, Some(26.0)),
                t("troponin-t", "ng/L", None, Some(14.0)),
                t("haemoglobin", "g/dL", Some(7.0), None),
            ],
        }
    }
}

/// Set `o.critical` to the reason, when there is one.
pub fn mark(o: &mut Observation, rules: &CriticalRules) {
    o.critical = None;
    if let Some(flag) = o.flag.as_deref() {
        let flag = flag.trim();
        if rules.flags.iter().any(|f| f.eq_ignore_ascii_case(flag)) {
            o.critical = Some(format!("abnormal flag {flag}"));
            return;
        }
    }
    let Some(n) = &o.normalised else {
        // Without a normalised value only an unconverted value in the rule's unit counts.
        return;
    };
    if !matches!(o.value, Value::Number(_)) {
        return;
    }
    for r in rules
        .thresholds
        .iter()
        .filter(|r| r.analyte == n.analyte && r.unit == n.unit)
    {
        if let Some(a) = r.above
            && n.value > a
        {
            o.critical = Some(format!("{} above {a} {}", n.analyte, r.unit));
            return;
        }
        if let Some(b) = r.below
            && n.value < b
        {
            o.critical = Some(format!("{} below {b} {}", n.analyte, r.unit));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labs::normalise;

    fn obs(code: &str, v: f64, unit: &str, flag: Option<&str>) -> Observation {
        let mut o = Observation::new("x", Value::Number(v));
        o.loinc = Some(code.into());
        o.unit = Some(unit.into());
        o.flag = flag.map(Into::into);
        normalise(&mut o);
        mark(&mut o, &CriticalRules::default());
        o
    }

    #[test]
    fn flags_and_thresholds() {
        assert!(obs("2823-3", 6.1, "mmol/L", None).critical.is_some());
        assert!(obs("2823-3", 6.0, "mmol/L", None).critical.is_none());
        assert!(obs("2823-3", 5.0, "mmol/L", Some("HH")).critical.is_some());
        assert!(obs("2823-3", 5.0, "mmol/L", Some("H")).critical.is_none());
        assert!(obs("2823-3", 2.4, "mmol/L", None).critical.is_some());
        // Troponin in ng/mL is compared after conversion to ng/L.
        assert!(obs("10839-9", 0.03, "ng/mL", None).critical.is_some());
        assert!(obs("10839-9", 0.02, "ng/mL", None).critical.is_none());
        // Glucose 460 mg/dL is above 25 mmol/L.
        assert!(obs("2345-7", 460.0, "mg/dL", None).critical.is_some());
    }

    #[test]
    fn configurable() {
        let mut rules = CriticalRules::default();
        rules.thresholds.retain(|t| t.analyte != "potassium");
        let mut o = Observation::new("K", Value::Number(7.0));
        o.loinc = Some("2823-3".into());
        o.unit = Some("mmol/L".into());
        normalise(&mut o);
        mark(&mut o, &rules);
        assert!(o.critical.is_none());
        let json = serde_json::to_string(&CriticalRules::default()).unwrap();
        let back: CriticalRules = serde_json::from_str(&json).unwrap();
        assert_eq!(back, CriticalRules::default());
    }
}
