//! Patient identifiers: parsing, validation (HKID check digit) and the normalised form that is
//! hashed into a [`crate::PatientRef`]. Nothing here is ever sent to the hub in clear.

use std::fmt;
use std::str::FromStr;

/// Why an identifier was refused. Deliberately carries no part of the identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("not a valid HKID: expected 1-2 letters, 6 digits and a check digit, e.g. A123456(3)")]
    HkidFormat,
    #[error("HKID check digit does not match")]
    HkidCheckDigit,
    #[error("passport must be written PASSPORT:<country code>:<number>")]
    Passport,
    #[error("record number must be written MRN:<institution code>:<number>")]
    RecordNumber,
}

/// One identifier of a patient.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PatientIdentifier {
    /// Hong Kong Identity Card number, stored without brackets, e.g. `A1234563`.
    Hkid(String),
    /// Passport: issuing country (ISO 3166 alpha-2/3) and number.
    Passport { country: String, number: String },
    /// An institution's own medical record number.
    RecordNumber { institution: String, number: String },
}

// Identifiers are personal data: Debug must not print them.
impl fmt::Debug for PatientIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Hkid(_) => "Hkid",
            Self::Passport { .. } => "Passport",
            Self::RecordNumber { .. } => "RecordNumber",
        };
        write!(f, "PatientIdentifier::{kind}(<redacted>)")
    }
}

impl PatientIdentifier {
    /// The canonical text that is keyed-hashed: `HKID:A1234563`, `PASSPORT:GB:123456789`,
    /// `MRN:QMH:000123`.
    pub fn normalized(&self) -> String {
        match self {
            Self::Hkid(h) => format!("HKID:{h}"),
            Self::Passport { country, number } => format!("PASSPORT:{country}:{number}"),
            Self::RecordNumber {
                institution,
                number,
            } => format!("MRN:{institution}:{number}"),
        }
    }

    /// Parse and validate an HKID written in any common way (`A123456(3)`, `a1234563`,
    /// `AB 987654 (A)`).
    pub fn hkid(text: &str) -> Result<Self, IdentifierError> {
        let cleaned: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '(' | ')' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let b = cleaned.as_bytes();
        let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
        if !(1..=2).contains(&letters) || b.len() != letters + 7 {
            return Err(IdentifierError::HkidFormat);
        }
        let digits = &b[letters..letters + 6];
        let check = b[letters + 6];
        if !digits.iter().all(u8::is_ascii_digit) || !(check.is_ascii_digit() || check == b'A') {
            return Err(IdentifierError::HkidFormat);
        }
        if hkid_check_digit(&b[..letters], digits) != check {
            return Err(IdentifierError::HkidCheckDigit);
        }
        Ok(Self::Hkid(cleaned))
    }
}

/// The HKID check digit (`0`-`9` or `A`) for the letters and six digits.
fn hkid_check_digit(letters: &[u8], digits: &[u8]) -> u8 {
    let letter_value = |c: u8| u32::from(c - b'A') + 10;
    // A single-letter HKID is weighted as if preceded by a space, worth 36.
    let (first, second) = match letters {
        [one] => (36, letter_value(*one)),
        [a, b] => (letter_value(*a), letter_value(*b)),
        _ => unreachable!("caller checked 1..=2 letters"),
    };
    let mut sum = 9 * first + 8 * second;
    for (i, d) in digits.iter().enumerate() {
        sum += (7 - i as u32) * u32::from(d - b'0');
    }
    match 11 - sum % 11 {
        11 => b'0',
        10 => b'A',
        n => b'0' + n as u8,
    }
}

fn clean_token(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl FromStr for PatientIdentifier {
    type Err = IdentifierError;

    /// Accepts `HKID:A123456(3)`, `HKID A123456(3)`, a bare HKID, `PASSPORT:GB:123456789` and
    /// `MRN:QMH:000123`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        if let Some(rest) = upper.strip_prefix("PASSPORT:") {
            let (country, number) = rest.split_once(':').ok_or(IdentifierError::Passport)?;
            let (country, number) = (clean_token(country), clean_token(number));
            let ok = (2..=3).contains(&country.len())
                && country.bytes().all(|b| b.is_ascii_uppercase())
                && (5..=20).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_alphanumeric());
            return if ok {
                Ok(Self::Passport { country, number })
            } else {
                Err(IdentifierError::Passport)
            };
        }
        if let Some(rest) = upper.strip_prefix("MRN:") {
            let (inst, number) = rest.split_once(':').ok_or(IdentifierError::RecordNumber)?;
            let (institution, number) = (clean_token(inst), clean_token(number));
            let ok = (2..=16).contains(&institution.len())
                && institution.bytes().all(|b| b.is_ascii_alphanumeric())
                && (1..=32).contains(&number.len())
                && number
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/');
            return if ok {
                Ok(Self::RecordNumber {
                    institution,
                    number,
                })
            } else {
                Err(IdentifierError::RecordNumber)
            };
        }
        let hk = upper
            .strip_prefix("HKID:")
            .or_else(|| upper.strip_prefix("HKID "))
            .unwrap_or(&upper);
        Self::hkid(hk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkid_check_digits() {
        for ok in [
            "A123456(3)",
            "a1234563",
            "HKID: A123456(3)",
            "G123456(A)",
            "AB987654(3)",
        ] {
            let id: PatientIdentifier = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(id.normalized().starts_with("HKID:"));
        }
        assert_eq!(
            "A123456(4)".parse::<PatientIdentifier>(),
            Err(IdentifierError::HkidCheckDigit)
        );
        assert_eq!(
            "A12345(3)".parse::<PatientIdentifier>(),
            Err(IdentifierError::HkidFormat)
        );
        assert_eq!(
            "ABC123456(3)".parse::<PatientIdentifier>(),
            Err(IdentifierError::HkidFormat)
        );
    }

    #[test]
    fn normalised_forms_are_stable() {
        let a: PatientIdentifier = "hkid a123456 (3)".parse().unwrap();
        let b: PatientIdentifier = "A1234563".parse().unwrap();
        assert_eq!(a.normalized(), b.normalized());
        let p: PatientIdentifier = "passport:gb: 123456789".parse().unwrap();
        assert_eq!(p.normalized(), "PASSPORT:GB:123456789");
        let m: PatientIdentifier = "MRN:qmh:000123".parse().unwrap();
        assert_eq!(m.normalized(), "MRN:QMH:000123");
    }

    #[test]
    fn debug_hides_the_number() {
        let a: PatientIdentifier = "A123456(3)".parse().unwrap();
        assert!(!format!("{a:?}").contains("123456"));
    }
}
