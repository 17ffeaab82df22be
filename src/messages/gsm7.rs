//! The GSM-7 alphabet: what an SMS can carry at 160 characters a segment.
//!
//! One character outside it (such as á, í, ó, ú, which GSM-7 lacks, unlike é, ñ, ü, ¿, ¡) turns
//! the whole message into UCS-2, 70 characters a segment, and each segment is paid for. Our
//! templates are written in GSM-7; values put into them (a category, a department, a summary
//! typed by staff) are folded into it by [`fold`].

/// GSM 03.38 basic character set.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Characters of the extension table: each takes two septets (an escape and the character).
const EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// One segment of a single-part GSM-7 message, in septets.
pub const SEGMENT_SEPTETS: usize = 160;

/// Whether every character is in GSM-7 (basic or extension).
pub fn is_gsm7(text: &str) -> bool {
    text.chars()
        .all(|c| BASIC.contains(c) || EXTENSION.contains(c))
}

/// How many septets the text takes in GSM-7 (extension characters count twice).
pub fn septets(text: &str) -> usize {
    text.chars()
        .map(|c| if EXTENSION.contains(c) { 2 } else { 1 })
        .sum()
}

/// The text in GSM-7: accented vowels GSM-7 lacks lose their accent, typographic punctuation
/// becomes plain, white space is collapsed, anything else unknown becomes `?`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = false;
    for c in text.chars() {
        let mapped: &str = match c {
            'á' | 'â' | 'ã' => "a",
            'í' | 'î' | 'ï' => "i",
            'ó' | 'ô' | 'õ' => "o",
            'ú' | 'û' => "u",
            'ê' | 'ë' => "e",
            'Á' | 'À' | 'Â' | 'Ã' => "A",
            'Í' | 'Ì' | 'Î' | 'Ï' => "I",
            'Ó' | 'Ò' | 'Ô' | 'Õ' => "O",
            'Ú' | 'Ù' | 'Û' => "U",
            'È' | 'Ê' | 'Ë' => "E",
            'ç' => "c",
            '“' | '”' | '«' | '»' => "\"",
            '‘' | '’' | '´' | '`' => "'",
            '–' | '—' => "-",
            '…' => "...",
            '°' | 'º' => "o",
            'ª' => "a",
            c if c.is_whitespace() => " ",
            c if BASIC.contains(c) || EXTENSION.contains(c) => {
                out.push(c);
                last_space = false;
                continue;
            }
            _ => "?",
        };
        if mapped == " " {
            if !last_space && !out.is_empty() {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push_str(mapped);
            last_space = false;
        }
    }
    out.trim_end().to_owned()
}

/// Cuts the text to at most `max` septets, ending in "..." when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if septets(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = if EXTENSION.contains(c) { 2 } else { 1 };
        if used + w > max.saturating_sub(3) {
            break;
        }
        out.push(c);
        used += w;
    }
    format!("{}...", out.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_letters() {
        assert!(is_gsm7("ñ é ü ¿ ¡ Ñ É Ü"));
        assert!(!is_gsm7("á"));
        assert!(!is_gsm7("Protección"));
        assert_eq!(
            fold("Protección Civil, Alumbrado Público, Dirección"),
            "Proteccion Civil, Alumbrado Publico, Direccion"
        );
        assert_eq!(fold("¿Qué pasó?  “Niño”\n…"), "¿Qué paso? \"Niño\" ...");
        assert_eq!(fold("emoji 🚨"), "emoji ?");
        assert!(is_gsm7(&fold("ÁÉÍÓÚ áéíóú çÇ ñÑ “x” – — … ° ª 😀")));
    }

    #[test]
    fn septets_and_truncation() {
        assert_eq!(septets("abc"), 3);
        assert_eq!(septets("a€b"), 4);
        let long = "x".repeat(200);
        let cut = truncate(&long, 50);
        assert_eq!(septets(&cut), 50);
        assert!(cut.ends_with("..."));
        assert_eq!(truncate("corto", 50), "corto");
    }
}
