//! The folio: the number a citizen keeps to follow a case.
//!
//! A folio is digits only, so it can be typed on any phone keypad, at most ten digits long, and
//! ends in a Damm check digit. Damm's algorithm catches every single wrong digit and every swap
//! of two neighbouring digits, the two mistakes people make most when they copy or type a number;
//! that lets the phone line tell "you mistyped" apart from "no such case" without a database
//! lookup, and makes guessing other people's folios much harder.
//!
//! Folios are made from the case's sequence number plus [`FOLIO_OFFSET`], so the first ones are
//! six digits long (five plus the check digit): short enough to write down from one hearing.

use std::fmt;

/// Added to a case's sequence number so that folios start at six digits and never begin with 0.
pub const FOLIO_OFFSET: i64 = 10_000;

/// The longest folio, check digit included.
pub const MAX_FOLIO_DIGITS: usize = 10;

/// The shortest folio a caller could have been given (five digits of base plus the check digit).
pub const MIN_FOLIO_DIGITS: usize = 6;

/// Damm's weakly totally anti-symmetric quasigroup of order 10.
const DAMM: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/// The Damm interim digit of a string of ASCII digits (0 when the string is valid with its check
/// digit included).
fn damm_interim(digits: &[u8]) -> u8 {
    digits
        .iter()
        .fold(0, |interim, d| DAMM[interim as usize][(d - b'0') as usize])
}

/// A case's folio: ASCII digits, at most ten, the last one a valid Damm check digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Folio(String);

/// Why a typed folio was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FolioError {
    #[error("a folio has digits only")]
    NotDigits,
    #[error("a folio has between {MIN_FOLIO_DIGITS} and {MAX_FOLIO_DIGITS} digits")]
    Length,
    #[error("the check digit does not match")]
    CheckDigit,
}

impl Folio {
    /// The folio of the case with this sequence number.
    ///
    /// # Panics
    /// When the sequence is negative or so large that the folio would exceed ten digits
    /// (nearly a billion cases): the store never hands out such a number.
    pub fn from_sequence(sequence: i64) -> Folio {
        let base = sequence
            .checked_add(FOLIO_OFFSET)
            .filter(|b| *b > 0)
            .expect("case sequence out of range");
        let mut digits = base.to_string();
        assert!(
            digits.len() < MAX_FOLIO_DIGITS,
            "case sequence out of range"
        );
        let check = damm_interim(digits.as_bytes());
        digits.push(char::from(b'0' + check));
        Folio(digits)
    }

    /// Parses what a caller typed or a citizen wrote: digits, with spaces, dashes or a final `#`
    /// tolerated.
    pub fn parse(input: &str) -> Result<Folio, FolioError> {
        let digits: String = input
            .trim()
            .trim_end_matches('#')
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FolioError::NotDigits);
        }
        // No folio starts with 0, and leading zeros do not change a Damm check: a caller who
        // typed one too many still finds the case.
        let digits = digits.trim_start_matches('0').to_owned();
        if !(MIN_FOLIO_DIGITS..=MAX_FOLIO_DIGITS).contains(&digits.len()) {
            return Err(FolioError::Length);
        }
        if damm_interim(digits.as_bytes()) != 0 {
            return Err(FolioError::CheckDigit);
        }
        Ok(Folio(digits))
    }

    /// The digits, as stored and as printed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits in the small groups a person can hold in mind: threes, with a final four
    /// split into twos so that no digit is left alone ("100 427", "100 42 71").
    pub fn groups(&self) -> Vec<&str> {
        digit_groups(&self.0)
    }
}

/// Splits a string of digits into groups of three, ending in two groups of two where a lone
/// digit would otherwise be left at the end.
pub fn digit_groups(digits: &str) -> Vec<&str> {
    let n = digits.len();
    let mut sizes = vec![3; n / 3];
    match n % 3 {
        0 => {}
        2 => sizes.push(2),
        _ if sizes.is_empty() => sizes.push(1),
        _ => {
            // ...3 + 1 becomes 2 + 2.
            sizes.pop();
            sizes.extend([2, 2]);
        }
    }
    let mut groups = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for size in sizes {
        groups.push(&digits[start..start + size]);
        start += size;
    }
    groups
}

impl fmt::Display for Folio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Folio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Folio({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_damm_vector() {
        // The textbook example: 572 has check digit 4.
        assert_eq!(damm_interim(b"572"), 4);
        assert_eq!(damm_interim(b"5724"), 0);
    }

    #[test]
    fn first_folios_have_six_digits() {
        let f = Folio::from_sequence(1);
        assert_eq!(f.as_str().len(), 6);
        assert!(f.as_str().starts_with("10001"));
        assert_eq!(Folio::parse(f.as_str()), Ok(f));
    }

    #[test]
    fn every_single_digit_error_and_adjacent_swap_is_rejected() {
        let folio = Folio::from_sequence(90_417);
        let digits: Vec<u8> = folio.as_str().bytes().collect();
        for i in 0..digits.len() {
            for d in b'0'..=b'9' {
                if d == digits[i] {
                    continue;
                }
                let mut wrong = digits.clone();
                wrong[i] = d;
                let wrong = String::from_utf8(wrong).unwrap();
                // A leading 0 is dropped and leaves too few digits: rejected as too short.
                let expected = if wrong.starts_with('0') {
                    FolioError::Length
                } else {
                    FolioError::CheckDigit
                };
                assert_eq!(Folio::parse(&wrong), Err(expected), "{wrong}");
            }
        }
        for i in 0..digits.len() - 1 {
            if digits[i] == digits[i + 1] {
                continue;
            }
            let mut swapped = digits.clone();
            swapped.swap(i, i + 1);
            let swapped = String::from_utf8(swapped).unwrap();
            assert_eq!(
                Folio::parse(&swapped),
                Err(FolioError::CheckDigit),
                "{swapped}"
            );
        }
    }

    #[test]
    fn typed_forms_are_tolerated() {
        let f = Folio::from_sequence(427);
        let typed = format!("{}#", f.as_str());
        assert_eq!(Folio::parse(&typed), Ok(f.clone()));
        let spaced = format!(" {} {} ", &f.as_str()[..3], &f.as_str()[3..]);
        assert_eq!(Folio::parse(&spaced), Ok(f.clone()));
        assert_eq!(Folio::parse(&format!("00{f}")), Ok(f));
        assert_eq!(Folio::parse(""), Err(FolioError::NotDigits));
        assert_eq!(Folio::parse("000000"), Err(FolioError::Length));
        assert_eq!(Folio::parse("12a456"), Err(FolioError::NotDigits));
        assert_eq!(Folio::parse("1234"), Err(FolioError::Length));
        assert_eq!(Folio::parse("12345678901"), Err(FolioError::Length));
    }

    #[test]
    fn groups_never_leave_a_lone_digit() {
        assert_eq!(digit_groups("100427"), ["100", "427"]);
        assert_eq!(digit_groups("1004271"), ["100", "42", "71"]);
        assert_eq!(digit_groups("10042712"), ["100", "427", "12"]);
        assert_eq!(digit_groups("5512345678"), ["551", "234", "56", "78"]);
        assert_eq!(digit_groups("1234"), ["12", "34"]);
        assert_eq!(digit_groups("7"), ["7"]);
    }

    proptest! {
        #[test]
        fn every_made_folio_parses_back(seq in 0i64..999_989_999) {
            let f = Folio::from_sequence(seq);
            prop_assert!(f.as_str().len() <= MAX_FOLIO_DIGITS);
            prop_assert_eq!(Folio::parse(f.as_str()), Ok(f.clone()));
            prop_assert_eq!(f.groups().concat(), f.as_str());
        }

        #[test]
        fn any_single_substitution_is_caught(seq in 0i64..999_989_999, pos in 0usize..10, delta in 1u8..10) {
            let f = Folio::from_sequence(seq);
            let mut bytes = f.as_str().as_bytes().to_vec();
            let pos = pos % bytes.len();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let wrong = String::from_utf8(bytes).unwrap();
            prop_assert!(Folio::parse(&wrong).is_err());
        }
    }
}
