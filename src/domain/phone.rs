//! Phone numbers as callers present them.
//!
//! Twilio gives us the caller ID in `From`, which may be a proper E.164 number, a Mexican number
//! in an older format, or one of the values carriers and Twilio use for a withheld number
//! ("anonymous", "restricted", "+266696687", an empty string...). [`CallerId::parse`] turns all
//! of those into either a [`PhoneNumber`] or `Withheld`, so that no other module ever has to ask
//! "is this a real number?".

use std::fmt;

/// Twilio's and carriers' stand-ins for a withheld caller ID. Twilio documents "+266696687"
/// (Lesotho's prefix plus "ANONYMOUS" on a keypad) and a few other vanity numbers spelling
/// "restricted", "unknown", "unavailable" and "blocked".
const WITHHELD_NUMBERS: &[&str] = &[
    "+266696687",
    "+7378742833",
    "+2562533",
    "+8656696",
    "+86282452253",
];

/// Words carriers put in `From` when there is no number.
const WITHHELD_WORDS: &[&str] = &[
    "anonymous",
    "restricted",
    "unknown",
    "unavailable",
    "private",
    "blocked",
    "client:anonymous",
];

/// A phone number in E.164 form: `+`, a country code and the subscriber number, 8 to 15 digits
/// in all. Mexican numbers are always `+52` followed by ten digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// Why a string is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("not a phone number")]
    NotANumber,
    #[error("a Mexican number has ten digits after +52")]
    MexicanLength,
    #[error("a Mexican number does not start with 0 or 1 after +52")]
    MexicanPrefix,
}

impl PhoneNumber {
    /// Parses an E.164 number, accepting the legacy Mexican mobile form `+521` + ten digits
    /// (still sent by some carriers and by WhatsApp) and a bare ten-digit Mexican number.
    pub fn parse(input: &str) -> Result<PhoneNumber, PhoneError> {
        let s: String = input
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let (plus, digits) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s.as_str()),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotANumber);
        }
        if !plus {
            // Without a country code only a national Mexican number makes sense.
            return PhoneNumber::mexican(digits);
        }
        if let Some(national) = digits.strip_prefix("52") {
            let national = match national.len() {
                11 if national.starts_with('1') => &national[1..],
                _ => national,
            };
            return PhoneNumber::mexican(national);
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(PhoneError::NotANumber);
        }
        Ok(PhoneNumber(format!("+{digits}")))
    }

    /// A Mexican number from the ten national digits a caller types on the keypad.
    pub fn mexican(national: &str) -> Result<PhoneNumber, PhoneError> {
        if national.len() != 10 || !national.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::MexicanLength);
        }
        if national.starts_with('0') || national.starts_with('1') {
            return Err(PhoneError::MexicanPrefix);
        }
        Ok(PhoneNumber(format!("+52{national}")))
    }

    /// The most digits [`PhoneNumber::from_keypad`] takes: `044` or `045` and ten digits.
    pub const KEYPAD_MAX_DIGITS: u32 = 13;

    /// A Mexican number as a caller types it on the keypad: the ten national digits, optionally
    /// after the country code `52` or the old mobile prefixes `044` (local) and `045` (long
    /// distance), which many still dial out of habit. The prefix is dropped.
    pub fn from_keypad(typed: &str) -> Result<PhoneNumber, PhoneError> {
        let national = match typed.len() {
            12 => typed.strip_prefix("52"),
            13 => typed
                .strip_prefix("044")
                .or_else(|| typed.strip_prefix("045")),
            _ => None,
        };
        PhoneNumber::mexican(national.unwrap_or(typed))
    }

    /// A number as staff type it in a form: E.164 (`+525512345678`), or the ten national digits
    /// with spaces, dashes or parentheses, optionally after 52, 044 or 045 (see
    /// [`PhoneNumber::from_keypad`]).
    pub fn from_typed(typed: &str) -> Result<PhoneNumber, PhoneError> {
        PhoneNumber::parse(typed.trim()).or_else(|_| {
            let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
            PhoneNumber::from_keypad(&digits)
        })
    }

    /// The E.164 form, `+52...`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ten national digits of a Mexican number, or every digit after `+` otherwise.
    pub fn national_digits(&self) -> &str {
        self.0.strip_prefix("+52").unwrap_or(&self.0[1..])
    }

    /// The last four digits, which are enough for a caller to recognise the number and reveal
    /// nothing to someone overhearing.
    pub fn last_four(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    /// Phone numbers are personal data: debug output (and so logs) show only the last digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber(…{})", self.last_four())
    }
}

/// The text with every phone number in it (a run of eight or more digits, with or without `+`)
/// cut to its last four digits: for error messages from Twilio ("The 'To' number +52... is not a
/// valid phone number") that end up in logs and tables.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.trim_start_matches('+');
        if digits.len() >= 8 {
            out.push('…');
            out.push_str(&digits[digits.len() - 4..]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Who is calling, as far as the network tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerId {
    Known(PhoneNumber),
    /// No usable number: hidden by the caller, unknown to the carrier, or not a number at all.
    Withheld,
}

impl CallerId {
    /// Reads Twilio's `From` (or `Caller`). Never fails: anything that is not a number is
    /// treated as withheld, because the caller must still be able to make a report.
    pub fn parse(from: Option<&str>) -> CallerId {
        let Some(raw) = from.map(str::trim).filter(|s| !s.is_empty()) else {
            return CallerId::Withheld;
        };
        let raw = raw.strip_prefix("whatsapp:").unwrap_or(raw);
        if WITHHELD_WORDS.iter().any(|w| raw.eq_ignore_ascii_case(w))
            || WITHHELD_NUMBERS.contains(&raw)
        {
            return CallerId::Withheld;
        }
        match PhoneNumber::parse(raw) {
            Ok(n) => CallerId::Known(n),
            Err(_) => CallerId::Withheld,
        }
    }

    /// The number, if there is one.
    pub fn number(&self) -> Option<&PhoneNumber> {
        match self {
            CallerId::Known(n) => Some(n),
            CallerId::Withheld => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_staff_type_them() {
        for typed in [
            "+525512345678",
            "55 1234 5678",
            "(55) 1234-5678",
            "52 55 1234 5678",
            "044 55 1234 5678",
        ] {
            assert_eq!(
                PhoneNumber::from_typed(typed).unwrap().as_str(),
                "+525512345678",
                "{typed}"
            );
        }
        assert!(PhoneNumber::from_typed("12345").is_err());
        assert!(PhoneNumber::from_typed("").is_err());
    }

    #[test]
    fn mexican_numbers_in_every_common_form() {
        let want = "+525512345678";
        for input in [
            "+525512345678",
            "+5215512345678",
            "5512345678",
            "55 1234 5678",
            "(55) 1234-5678",
            " +52 55 1234 5678 ",
        ] {
            assert_eq!(PhoneNumber::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn bad_mexican_numbers_are_rejected() {
        assert_eq!(
            PhoneNumber::parse("+52551234567"),
            Err(PhoneError::MexicanLength)
        );
        assert_eq!(
            PhoneNumber::parse("+5255123456789"),
            Err(PhoneError::MexicanLength)
        );
        assert_eq!(
            PhoneNumber::parse("0512345678"),
            Err(PhoneError::MexicanPrefix)
        );
        assert_eq!(PhoneNumber::parse("12345"), Err(PhoneError::MexicanLength));
        assert_eq!(PhoneNumber::parse("abc"), Err(PhoneError::NotANumber));
        assert_eq!(PhoneNumber::parse("+"), Err(PhoneError::NotANumber));
        assert_eq!(
            PhoneNumber::parse("+0123456789"),
            Err(PhoneError::NotANumber)
        );
    }

    #[test]
    fn other_countries_keep_their_e164_form() {
        assert_eq!(
            PhoneNumber::parse("+14158675309").unwrap().as_str(),
            "+14158675309"
        );
        assert_eq!(
            PhoneNumber::parse("+1 415 867 5309")
                .unwrap()
                .national_digits(),
            "14158675309"
        );
    }

    #[test]
    fn withheld_values_are_recognised() {
        for from in [
            None,
            Some(""),
            Some("  "),
            Some("anonymous"),
            Some("Anonymous"),
            Some("restricted"),
            Some("UNKNOWN"),
            Some("+266696687"),
            Some("+7378742833"),
            Some("client:anonymous"),
            Some("garbage"),
        ] {
            assert_eq!(CallerId::parse(from), CallerId::Withheld, "{from:?}");
        }
        assert_eq!(
            CallerId::parse(Some("whatsapp:+5215512345678")),
            CallerId::Known(PhoneNumber::parse("+525512345678").unwrap())
        );
    }

    #[test]
    fn numbers_in_error_texts_are_masked() {
        assert_eq!(
            mask_numbers("The 'To' number +525512345678 is not a valid phone number (21211)"),
            "The 'To' number …5678 is not a valid phone number (21211)"
        );
        assert_eq!(mask_numbers("error 20003 at 12:30"), "error 20003 at 12:30");
        assert_eq!(mask_numbers("5512345678"), "…5678");
    }

    #[test]
    fn keypad_entry_and_display() {
        let n = PhoneNumber::mexican("5512345678").unwrap();
        assert_eq!(n.national_digits(), "5512345678");
        assert_eq!(n.last_four(), "5678");
        assert_eq!(format!("{n:?}"), "PhoneNumber(…5678)");
        assert!(PhoneNumber::mexican("551234567").is_err());
    }

    #[test]
    fn keypad_entry_drops_a_leading_52_044_or_045() {
        let want = "+525512345678";
        for typed in [
            "5512345678",
            "525512345678",
            "0445512345678",
            "0455512345678",
        ] {
            assert_eq!(
                PhoneNumber::from_keypad(typed).unwrap().as_str(),
                want,
                "{typed}"
            );
        }
        // A prefix only counts with ten digits after it.
        for typed in [
            "52551234567",
            "0525512345678",
            "04455123456789",
            "044551234567",
            "0435512345678",
            "",
        ] {
            assert!(PhoneNumber::from_keypad(typed).is_err(), "{typed}");
        }
        // Ten digits are the national number, even when they start with 52.
        assert_eq!(
            PhoneNumber::from_keypad("5255123456").unwrap().as_str(),
            "+525255123456"
        );
    }
}
