//! Professions, roles and professional registration numbers, validated per registering body.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A practitioner's profession, which decides how the registration number is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Profession {
    /// Medical Council of Hong Kong: `M` and five digits (e.g. `M12345`).
    Doctor,
    /// Dental Council of Hong Kong: `D` and five digits.
    Dentist,
    /// Nursing Council of Hong Kong: `RN` or `EN` and six digits.
    Nurse,
    /// Pharmacy and Poisons Board: `P` and five digits.
    Pharmacist,
    /// Dietitian (accredited, no statutory register): `DT` and five digits.
    Dietitian,
    /// Supplementary Medical Professions Council, physiotherapists: `PT` and five digits.
    Physiotherapist,
    /// Supplementary Medical Professions Council, radiographers: `RD` and five digits.
    Radiographer,
    /// Non-clinical staff (administrators, privacy officers): institution staff number
    /// `S` and four to eight digits.
    Administrative,
    /// Not a person: a system of the institution that files records for it (an institution
    /// gateway). Certified like a practitioner, marked as a service in its certificate, in the
    /// audit log and in what it signs; logs in with its key, never a passphrase. Registration
    /// is the institution's own system number: `SYS` and one to eight digits.
    Service,
}

impl Profession {
    /// All professions, for help texts.
    pub const ALL: [Profession; 9] = [
        Self::Doctor,
        Self::Dentist,
        Self::Nurse,
        Self::Pharmacist,
        Self::Dietitian,
        Self::Physiotherapist,
        Self::Radiographer,
        Self::Administrative,
        Self::Service,
    ];

    fn rule(
        self,
    ) -> (
        &'static [&'static str],
        std::ops::RangeInclusive<usize>,
        &'static str,
    ) {
        match self {
            Self::Doctor => (&["M"], 5..=5, "M followed by 5 digits, e.g. M12345"),
            Self::Dentist => (&["D"], 5..=5, "D followed by 5 digits, e.g. D01234"),
            Self::Nurse => (&["RN", "EN"], 6..=6, "RN or EN followed by 6 digits"),
            Self::Pharmacist => (&["P"], 5..=5, "P followed by 5 digits"),
            Self::Dietitian => (&["DT"], 5..=5, "DT followed by 5 digits"),
            Self::Physiotherapist => (&["PT"], 5..=5, "PT followed by 5 digits"),
            Self::Radiographer => (&["RD"], 5..=5, "RD followed by 5 digits"),
            Self::Administrative => (&["S"], 4..=8, "S followed by 4 to 8 digits (staff number)"),
            Self::Service => (
                &["SYS"],
                1..=8,
                "SYS followed by 1 to 8 digits (system number)",
            ),
        }
    }

    /// Normalise and check a registration number for this profession.
    pub fn validate_registration(self, number: &str) -> Result<String, String> {
        let n: String = number
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let (prefixes, digits, expect) = self.rule();
        let ok = prefixes.iter().any(|p| {
            n.strip_prefix(p).is_some_and(|rest| {
                digits.contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit())
            })
        });
        if ok {
            Ok(n)
        } else {
            Err(format!("registration number for a {self} must be {expect}"))
        }
    }

    /// Whether this profession reads clinical records (a service files and reads them for its
    /// institution's systems).
    pub fn is_clinical(self) -> bool {
        !matches!(self, Self::Administrative)
    }

    /// Whether this is a service identity rather than a person.
    pub fn is_service(self) -> bool {
        matches!(self, Self::Service)
    }
}

impl fmt::Display for Profession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Doctor => "doctor",
            Self::Dentist => "dentist",
            Self::Nurse => "nurse",
            Self::Pharmacist => "pharmacist",
            Self::Dietitian => "dietitian",
            Self::Physiotherapist => "physiotherapist",
            Self::Radiographer => "radiographer",
            Self::Administrative => "administrative",
            Self::Service => "service",
        };
        f.write_str(s)
    }
}

impl FromStr for Profession {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.to_string() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                let all: Vec<String> = Self::ALL.iter().map(|p| p.to_string()).collect();
                format!("unknown profession; expected one of {}", all.join(", "))
            })
    }
}

/// What a practitioner may do besides clinical work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads and shares records.
    Clinician,
    /// Enrols and certifies the institution's staff.
    InstitutionAdmin,
    /// Reads the audit trail and is told of every break-glass.
    PrivacyOfficer,
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "clinician" => Ok(Self::Clinician),
            "institution-admin" | "admin" => Ok(Self::InstitutionAdmin),
            "privacy-officer" => Ok(Self::PrivacyOfficer),
            _ => {
                Err("unknown role; expected clinician, institution-admin or privacy-officer".into())
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Clinician => "clinician",
            Self::InstitutionAdmin => "institution-admin",
            Self::PrivacyOfficer => "privacy-officer",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_numbers_per_profession() {
        assert_eq!(
            Profession::Doctor
                .validate_registration(" m12345 ")
                .unwrap(),
            "M12345"
        );
        assert!(Profession::Doctor.validate_registration("M1234").is_err());
        assert!(Profession::Doctor.validate_registration("D12345").is_err());
        assert!(Profession::Nurse.validate_registration("RN123456").is_ok());
        assert!(Profession::Nurse.validate_registration("XN123456").is_err());
        assert!(
            Profession::Dietitian
                .validate_registration("DT00042")
                .is_ok()
        );
        assert!(
            Profession::Administrative
                .validate_registration("S0042")
                .is_ok()
        );
        assert_eq!(
            Profession::Service.validate_registration("sys 7").unwrap(),
            "SYS7"
        );
        assert!(Profession::Service.validate_registration("S0042").is_err());
        assert!(Profession::Service.validate_registration("SYS").is_err());
    }

    #[test]
    fn professions_round_trip() {
        for p in Profession::ALL {
            assert_eq!(p.to_string().parse::<Profession>().unwrap(), p);
        }
    }
}
