//! Routing and sharing rules (a TOML file, see `docs/gateway.md`): which identifier files a
//! message under which patient, and, by message type, document class, sending facility,
//! modality and critical values, with whom the record is shared (named practitioners, the
//! ordering doctor, an on-call list), until when, and whether it is urgent.
//!
//! Every route whose conditions all hold applies (an empty condition holds for anything):
//! their shares add up, a share named twice keeps its longest expiry, and the record is
//! urgent when a route says so (or, when no route decides, when it has critical values).
//!
//! ```
//! let rules = medshare_gateway::rules::Rules::parse(r#"
//! [patients]
//! record_number_institution = "KPH"
//! [on_call]
//! cardiology = ["dr.wong@PPH"]
//! [[route]]
//! name = "critical labs to cardiology"
//! message_type = ["ORU^R01"]
//! critical = true
//! share_with = ["on-call:cardiology"]
//! expires = "7d"
//! urgent = true
//! "#).unwrap();
//! assert_eq!(rules.routes().len(), 1);
//! ```

use crate::envelope::Source;
use crate::hl7::Candidate;
use medshare_model::identifiers::PatientIdentifier;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Why a rules file cannot be used (names the route or key, never a patient).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("the rules file is not valid TOML: {0}")]
    Parse(String),
    #[error("rules: {0}")]
    Invalid(String),
}

/// How identifiers become the patient a record is filed under.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatientRules {
    /// Record numbers (PID-3 repetitions other than national, passport, social security,
    /// licence, account or visit numbers; DICOM PatientID) are this institution's: filed as
    /// `MRN:<code>:<number>`. Unset: record numbers are not used.
    pub record_number_institution: Option<String>,
    /// Assigning authorities (CX.4, DICOM IssuerOfPatientID) of other institutions' record
    /// numbers: authority -> institution code.
    pub record_number_authorities: BTreeMap<String, String>,
    /// Prefer a record number over an HKID when both are present (default: HKID first).
    pub prefer_record_number: bool,
}

/// One route.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Route {
    pub name: String,
    /// `hl7`, `dicom`, `fhir`, `folder`.
    pub source: Vec<String>,
    /// HL7 MSH-9, e.g. `ORU^R01`; `ADT^*` matches every event.
    pub message_type: Vec<String>,
    /// HL7 MSH-4.
    pub sending_facility: Vec<String>,
    /// HL7 MSH-3.
    pub sending_application: Vec<String>,
    /// Document class as classified, e.g. `lab-report`, `imaging-report`.
    pub class: Vec<String>,
    /// DICOM modality, e.g. `CT`.
    pub modality: Vec<String>,
    /// DICOM calling AE title.
    pub calling_ae: Vec<String>,
    /// Only records with (true) or without (false) critical values.
    pub critical: Option<bool>,
    /// `handle`, `handle@CODE` or `on-call:LIST`.
    pub share_with: Vec<String>,
    /// Also share with the ordering doctor (OBR-16 / ORC-12) when they are a medshare user.
    pub share_with_ordering: bool,
    /// `7d`, `12h`, `30m`; unset: shares do not expire.
    pub expires: Option<String>,
    pub urgent: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct File {
    patients: PatientRules,
    /// The hospital's ids of doctors (OBR-16/ORC-12 XCN.1) -> medshare handles.
    practitioners: BTreeMap<String, String>,
    on_call: BTreeMap<String, Vec<String>>,
    route: Vec<Route>,
}

/// The parsed, checked rules.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    file: File,
    expiries: Vec<Option<time::Duration>>,
}

/// What is known about a record when the rules run. Facts about systems, never content.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    pub source: Option<Source>,
    pub message_type: Option<&'a str>,
    pub sending_facility: Option<&'a str>,
    pub sending_application: Option<&'a str>,
    pub class: Option<&'a str>,
    pub modality: Option<&'a str>,
    pub calling_ae: Option<&'a str>,
    pub critical: bool,
}

/// One share to give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareTo {
    /// `handle` or `handle@CODE`.
    pub with: String,
    pub expires_in: Option<time::Duration>,
}

/// What the rules decided for one record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub shares: Vec<ShareTo>,
    /// Share with the ordering doctor(s), with this expiry.
    pub share_with_ordering: Option<Option<time::Duration>>,
    pub urgent: Option<bool>,
    /// Names of the routes that applied (for logs and metrics).
    pub routes: Vec<String>,
}

fn parse_duration(s: &str) -> Option<time::Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "d" => Some(time::Duration::days(n)),
        "h" => Some(time::Duration::hours(n)),
        "m" => Some(time::Duration::minutes(n)),
        _ => None,
    }
}

fn check_handle(what: &str, h: &str) -> Result<(), RulesError> {
    medshare_client::Share::parse(h, None)
        .map(|_| ())
        .map_err(|_| RulesError::Invalid(format!("{what}: `{h}` is not a handle or handle@CODE")))
}

fn matches(list: &[String], value: Option<&str>) -> bool {
    if list.is_empty() {
        return true;
    }
    let Some(v) = value else { return false };
    list.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => v
            .to_ascii_uppercase()
            .starts_with(&prefix.to_ascii_uppercase()),
        None => p.eq_ignore_ascii_case(v),
    })
}

impl Rules {
    /// Parse and check a rules file.
    pub fn parse(text: &str) -> Result<Self, RulesError> {
        let file: File = toml::from_str(text).map_err(|e| RulesError::Parse(e.message().into()))?;
        let inst_code = |c: &str| {
            let ok = (2..=16).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric());
            if ok {
                Ok(())
            } else {
                Err(RulesError::Invalid(format!(
                    "`{c}` is not an institution code (2-16 letters or digits)"
                )))
            }
        };
        if let Some(c) = &file.patients.record_number_institution {
            inst_code(c)?;
        }
        for c in file.patients.record_number_authorities.values() {
            inst_code(c)?;
        }
        for (id, h) in &file.practitioners {
            check_handle(&format!("practitioners.{id}"), h)?;
        }
        for (list, hs) in &file.on_call {
            for h in hs {
                check_handle(&format!("on_call.{list}"), h)?;
            }
        }
        let mut expiries = Vec::new();
        for (i, r) in file.route.iter().enumerate() {
            let name = if r.name.is_empty() {
                format!("route {}", i + 1)
            } else {
                r.name.clone()
            };
            for s in &r.source {
                if Source::parse(s).is_none() {
                    return Err(RulesError::Invalid(format!(
                        "{name}: source `{s}` must be hl7, dicom, fhir or folder"
                    )));
                }
            }
            for w in &r.share_with {
                match w.strip_prefix("on-call:") {
                    Some(list) if file.on_call.contains_key(list) => {}
                    Some(list) => {
                        return Err(RulesError::Invalid(format!(
                            "{name}: no on-call list `{list}`"
                        )));
                    }
                    None => check_handle(&name, w)?,
                }
            }
            let e = match &r.expires {
                Some(e) => Some(parse_duration(e).ok_or_else(|| {
                    RulesError::Invalid(format!("{name}: expires must look like 7d, 12h or 30m"))
                })?),
                None => None,
            };
            expiries.push(e);
        }
        Ok(Self { file, expiries })
    }

    /// Read a rules file.
    pub fn load(path: &std::path::Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RulesError::Parse(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text)
    }

    pub fn routes(&self) -> &[Route] {
        &self.file.route
    }

    pub fn patients(&self) -> &PatientRules {
        &self.file.patients
    }

    /// The handle a hospital doctor id maps to.
    pub fn practitioner(&self, hospital_id: &str) -> Option<&str> {
        self.file.practitioners.get(hospital_id).map(String::as_str)
    }

    /// Apply every matching route.
    pub fn decide(&self, f: &Facts<'_>) -> Decision {
        let mut d = Decision::default();
        for (r, expires) in self.file.route.iter().zip(&self.expiries) {
            let ok = matches(&r.source, f.source.map(Source::as_str))
                && matches(&r.message_type, f.message_type)
                && matches(&r.sending_facility, f.sending_facility)
                && matches(&r.sending_application, f.sending_application)
                && matches(&r.class, f.class)
                && matches(&r.modality, f.modality)
                && matches(&r.calling_ae, f.calling_ae)
                && r.critical.is_none_or(|c| c == f.critical);
            if !ok {
                continue;
            }
            d.routes.push(r.name.clone());
            let mut add = |with: &str| {
                match d.shares.iter_mut().find(|s| s.with == with) {
                    Some(s) => {
                        s.expires_in = match (s.expires_in, *expires) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            _ => None,
                        }
                    }
                    None => d.shares.push(ShareTo {
                        with: with.to_string(),
                        expires_in: *expires,
                    }),
                };
            };
            for w in &r.share_with {
                match w.strip_prefix("on-call:") {
                    Some(list) => {
                        for h in self.file.on_call.get(list).into_iter().flatten() {
                            add(h);
                        }
                    }
                    None => add(w),
                }
            }
            if r.share_with_ordering {
                d.share_with_ordering = Some(match d.share_with_ordering {
                    Some(Some(a)) => expires.map(|b| a.max(b)),
                    Some(None) => None,
                    None => *expires,
                });
            }
            if let Some(u) = r.urgent {
                d.urgent = Some(d.urgent.unwrap_or(false) || u);
            }
        }
        d
    }

    /// The identifier to file under, from what the message names: a valid HKID, a passport
    /// (CX.5 `PPN`, CX.4 the country), or a record number of an institution the rules name.
    pub fn choose_patient(&self, candidates: &[Candidate]) -> Option<PatientIdentifier> {
        let p = &self.file.patients;
        let hkid = candidates
            .iter()
            .find_map(|c| PatientIdentifier::hkid(&c.id).ok());
        let passport = candidates
            .iter()
            .filter(|c| c.kind == "PPN")
            .find_map(|c| format!("PASSPORT:{}:{}", c.authority, c.id).parse().ok());
        let record = candidates
            .iter()
            .filter(|c| {
                // Not national, travel, social-security, licence or visit/account numbers.
                let kind = c.kind.as_str();
                !matches!(
                    kind,
                    "NI" | "PPN" | "SS" | "SSN" | "DL" | "AN" | "VN" | "PEN"
                ) && !kind.starts_with("NN")
                    && PatientIdentifier::hkid(&c.id).is_err()
            })
            .find_map(|c| {
                let code = p
                    .record_number_authorities
                    .get(&c.authority)
                    .or_else(|| {
                        p.record_number_authorities
                            .iter()
                            .find(|(a, _)| a.eq_ignore_ascii_case(&c.authority))
                            .map(|(_, v)| v)
                    })
                    .or(p.record_number_institution.as_ref())?;
                format!("MRN:{code}:{}", c.id).parse().ok()
            });
        if p.prefer_record_number {
            record.or(hkid).or(passport)
        } else {
            hkid.or(passport).or(record)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
[patients]
record_number_institution = "KPH"
[patients.record_number_authorities]
QMH = "QMH"

[practitioners]
"M12345" = "dr.wong@PPH"

[on_call]
cardiology = ["dr.wong@PPH", "dr.leung"]

[[route]]
name = "labs to the family doctor"
source = ["hl7"]
message_type = ["ORU^R01"]
share_with = ["dr.chan"]
share_with_ordering = true
expires = "30d"

[[route]]
name = "critical labs"
class = ["lab-report"]
critical = true
share_with = ["on-call:cardiology", "dr.chan"]
expires = "7d"
urgent = true

[[route]]
name = "CT from the ED"
source = ["dicom"]
modality = ["CT", "MR"]
calling_ae = ["ED-CT*"]
share_with = ["dr.ho"]
"#;

    fn c(id: &str, authority: &str, kind: &str) -> Candidate {
        Candidate {
            id: id.into(),
            authority: authority.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn routes_match_and_add_up() {
        let r = Rules::parse(RULES).unwrap();
        let lab = Facts {
            source: Some(Source::Hl7),
            message_type: Some("ORU^R01"),
            class: Some("lab-report"),
            ..Default::default()
        };
        let d = r.decide(&lab);
        assert_eq!(d.routes, vec!["labs to the family doctor"]);
        assert_eq!(d.shares.len(), 1);
        assert_eq!(d.share_with_ordering, Some(Some(time::Duration::days(30))));
        assert_eq!(d.urgent, None);

        let d = r.decide(&Facts {
            critical: true,
            ..lab.clone()
        });
        assert_eq!(d.routes.len(), 2);
        assert_eq!(d.urgent, Some(true));
        let with: Vec<&str> = d.shares.iter().map(|s| s.with.as_str()).collect();
        assert_eq!(with, vec!["dr.chan", "dr.wong@PPH", "dr.leung"]);
        // dr.chan is named by both routes: the longest expiry wins.
        assert_eq!(d.shares[0].expires_in, Some(time::Duration::days(30)));
        assert_eq!(d.shares[1].expires_in, Some(time::Duration::days(7)));

        let ct = Facts {
            source: Some(Source::Dicom),
            modality: Some("CT"),
            calling_ae: Some("ED-CT-2"),
            class: Some("imaging"),
            ..Default::default()
        };
        assert_eq!(r.decide(&ct).routes, vec!["CT from the ED"]);
        assert!(
            r.decide(&Facts {
                calling_ae: Some("WARD-CT"),
                ..ct.clone()
            })
            .routes
            .is_empty()
        );
        assert!(
            r.decide(&Facts {
                source: Some(Source::Folder),
                ..Default::default()
            })
            .shares
            .is_empty()
        );
        assert_eq!(r.practitioner("M12345"), Some("dr.wong@PPH"));
    }

    #[test]
    fn patients_are_chosen_by_the_rules() {
        let r = Rules::parse(RULES).unwrap();
        let both = [c("000123", "KPH", "MR"), c("A123456(3)", "HKID", "NI")];
        assert_eq!(
            r.choose_patient(&both).unwrap().normalized(),
            "HKID:A1234563"
        );
        let mrn = [c("000123", "", "MR")];
        assert_eq!(
            r.choose_patient(&mrn).unwrap().normalized(),
            "MRN:KPH:000123"
        );
        let other = [c("555", "QMH", "MR")];
        assert_eq!(
            r.choose_patient(&other).unwrap().normalized(),
            "MRN:QMH:555"
        );
        // Account numbers are not the patient's.
        assert!(r.choose_patient(&[c("77", "KPH", "AN")]).is_none());
        let passport = [c("K1234567", "GB", "PPN")];
        assert_eq!(
            r.choose_patient(&passport).unwrap().normalized(),
            "PASSPORT:GB:K1234567"
        );
        // An invalid HKID is no identifier at all; without record-number rules nothing fits.
        let bare = Rules::parse("").unwrap();
        assert!(
            bare.choose_patient(&[c("A123456(4)", "HKID", "NI")])
                .is_none()
        );
        assert!(bare.choose_patient(&mrn).is_none());
        let prefer = Rules::parse(
            "[patients]\nrecord_number_institution = \"KPH\"\nprefer_record_number = true\n",
        )
        .unwrap();
        assert_eq!(
            prefer.choose_patient(&both).unwrap().normalized(),
            "MRN:KPH:000123"
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (bad, says) in [
            (
                "[[route]]\nname = \"x\"\nshare_with = [\"on-call:nobody\"]\n",
                "no on-call list",
            ),
            ("[[route]]\nname = \"x\"\nexpires = \"7 days\"\n", "expires"),
            ("[[route]]\nname = \"x\"\nsource = [\"email\"]\n", "source"),
            (
                "[[route]]\nname = \"x\"\nshare_with = [\"not a handle\"]\n",
                "handle",
            ),
            (
                "[[route]]\nname = \"x\"\nmodalty = [\"CT\"]\n",
                "unknown field",
            ),
            (
                "[patients]\nrecord_number_institution = \"K P H\"\n",
                "institution code",
            ),
        ] {
            let e = Rules::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
