//! Turning numbers into what a caller can follow by ear.

use crate::domain::folio::digit_groups;

/// Digits spoken one by one, in small groups: "100427" → "1 0 0, 4 2 7". Every voice reads a
/// lone digit as a digit, and the comma gives the listener a breath to write.
pub fn digits(number: &str) -> String {
    digit_groups(number)
        .iter()
        .map(|group| {
            group
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A length of time in Spanish: "3 minutos", "1 minuto", "90 segundos".
pub fn duration(seconds: u32) -> String {
    match (seconds / 60, seconds % 60) {
        (1, 0) => "1 minuto".to_owned(),
        (m, 0) => format!("{m} minutos"),
        _ => format!("{seconds} segundos"),
    }
}

/// A category's name in the middle of a sentence: "Alumbrado público" → "alumbrado público",
/// but acronyms ("CFE") keep their capitals.
pub fn mid_sentence(name: &str) -> String {
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(name.chars().skip(1)).collect()
        }
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folios_and_numbers_are_read_in_groups() {
        assert_eq!(digits("100427"), "1 0 0, 4 2 7");
        assert_eq!(digits("1004271"), "1 0 0, 4 2, 7 1");
        assert_eq!(digits("5512345678"), "5 5 1, 2 3 4, 5 6, 7 8");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(180), "3 minutos");
        assert_eq!(duration(60), "1 minuto");
        assert_eq!(duration(90), "90 segundos");
    }

    #[test]
    fn names_mid_sentence() {
        assert_eq!(mid_sentence("Alumbrado público"), "alumbrado público");
        assert_eq!(mid_sentence("CFE"), "CFE");
        assert_eq!(mid_sentence(""), "");
    }
}
