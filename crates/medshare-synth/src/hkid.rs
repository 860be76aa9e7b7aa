//! Valid (check-digit-correct) fictional HKID numbers.

use rand::Rng;
use rand::seq::SliceRandom;

const SINGLE_PREFIXES: &[u8] = b"ACDEGHKMPRVYZ";
const DOUBLE_PREFIXES: [&str; 4] = ["XA", "XB", "XC", "WX"];

/// The HKID check digit (`'0'`-`'9'` or `'A'`) for 1-2 prefix letters and six digits, e.g.
/// `hkid_check_digit("A", "123456") == '3'`. Lowercase letters are accepted.
///
/// # Panics
///
/// If `letters` is not one or two ASCII letters or `digits` is not six ASCII digits.
pub fn hkid_check_digit(letters: &str, digits: &str) -> char {
    assert!(
        (1..=2).contains(&letters.len()) && letters.bytes().all(|c| c.is_ascii_alphabetic()),
        "HKID prefix must be one or two ASCII letters"
    );
    assert!(
        digits.len() == 6 && digits.bytes().all(|c| c.is_ascii_digit()),
        "HKID body must be six ASCII digits"
    );
    let value = |c: u8| u32::from(c.to_ascii_uppercase() - b'A') + 10;
    let l = letters.as_bytes();
    // A single-letter prefix is weighted as if preceded by a space (worth 36).
    let (first, second) = if l.len() == 1 {
        (36, value(l[0]))
    } else {
        (value(l[0]), value(l[1]))
    };
    let mut sum = 9 * first + 8 * second;
    for (weight, d) in (2..=7u32).rev().zip(digits.bytes()) {
        sum += weight * u32::from(d - b'0');
    }
    match 11 - sum % 11 {
        11 => '0',
        10 => 'A',
        n => char::from(b'0' + n as u8),
    }
}

/// A random valid HKID formatted like `A123456(3)`.
pub(crate) fn random_hkid(rng: &mut impl Rng) -> String {
    let letters = if rng.gen_bool(0.08) {
        DOUBLE_PREFIXES
            .choose(rng)
            .copied()
            .unwrap_or("XA")
            .to_owned()
    } else {
        char::from(*SINGLE_PREFIXES.choose(rng).unwrap_or(&b'A')).to_string()
    };
    let digits = format!("{:06}", rng.gen_range(0..1_000_000u32));
    let check = hkid_check_digit(&letters, &digits);
    format!("{letters}{digits}({check})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_model::identifiers::PatientIdentifier;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn known_check_digits() {
        assert_eq!(hkid_check_digit("A", "123456"), '3');
        assert_eq!(hkid_check_digit("G", "123456"), 'A');
        assert_eq!(hkid_check_digit("AB", "987654"), '3');
        assert_eq!(hkid_check_digit("a", "123456"), '3');
    }

    #[test]
    fn random_hkids_accepted_by_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..2000 {
            let h = random_hkid(&mut rng);
            assert!(PatientIdentifier::hkid(&h).is_ok(), "{h}");
        }
    }

    #[test]
    #[should_panic(expected = "six ASCII digits")]
    fn rejects_bad_digits() {
        hkid_check_digit("A", "12345");
    }
}
