//! Speech as well as keys (`ATIENDE_SPEECH=true`): what a caller says at a one-key menu,
//! turned into the key it stands for.
//!
//! Each menu has a [`Vocabulary`]: for every option, the phrases that pick it (from the
//! catalogue's `[speech]` and `[speech_categories]`, and each category's own name). The same
//! phrases go to Twilio as recognition hints. An utterance picks an option when it contains one
//! of its phrases as whole words (accents and capitals ignored); one that matches phrases of two
//! options, or none, or that Twilio recognised with low confidence, is unclear, and the menu is
//! asked again. Keys always work, and a key pressed wins over anything said.

use super::VoiceCall;
use crate::prompts::{Key, Prompts};
use crate::store::Category;
use crate::twiml::Gather;

/// Below this `Confidence` (0 to 1) Twilio's transcript is not trusted: the menu is asked again.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// The options of a menu and the phrases that pick each.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    options: Vec<(String, Vec<String>)>,
}

impl Vocabulary {
    /// Adds an option: the key it stands for and the phrases that pick it.
    pub fn option(mut self, key: &str, phrases: Vec<String>) -> Vocabulary {
        self.options.push((key.to_owned(), phrases));
        self
    }

    /// An option from a `[speech]` entry of the catalogue.
    pub fn entry(self, key: &str, prompts: &Prompts, entry: Key) -> Vocabulary {
        let phrases = prompts.phrases(entry);
        self.option(key, phrases)
    }

    /// One option per category: its name and its `[speech_categories]` phrases pick its key
    /// (`prefix` and the category's digit: the main menu picks categories as `1/3`).
    pub fn categories(
        mut self,
        prefix: &str,
        categories: &[Category],
        prompts: &Prompts,
    ) -> Vocabulary {
        for c in categories {
            let Some(digit) = c.digit.as_deref() else {
                continue;
            };
            let mut phrases = vec![c.name.clone()];
            phrases.extend(prompts.category_phrases(&c.code));
            self.options.push((format!("{prefix}{digit}"), phrases));
        }
        self
    }

    /// The phrases as Twilio's `hints`: comma-separated, each once.
    pub fn hints(&self) -> String {
        let mut seen: Vec<&str> = Vec::new();
        for (_, phrases) in &self.options {
            for p in phrases {
                if !seen.iter().any(|s| s.eq_ignore_ascii_case(p)) {
                    seen.push(p);
                }
            }
        }
        seen.join(", ")
    }

    /// The option an utterance picks, if exactly one option's phrases occur in it. Among the
    /// phrases of one option the longest found decides nothing: any match counts once.
    pub fn pick(&self, said: &str) -> Option<&str> {
        let said = format!(" {} ", normalise(said));
        let mut picked: Option<&str> = None;
        for (key, phrases) in &self.options {
            let found = phrases
                .iter()
                .map(|p| normalise(p))
                .filter(|p| !p.is_empty())
                .any(|p| said.contains(&format!(" {p} ")));
            if found {
                match picked {
                    Some(other) if other != key => return None,
                    _ => picked = Some(key),
                }
            }
        }
        picked
    }
}

/// Lower case, without accents (ñ kept), punctuation as spaces, single spaces.
pub fn normalise(text: &str) -> String {
    let folded: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the caller did at a one-key menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// A key pressed, or the key of what they said.
    Key(String),
    /// They spoke, but what they said picks no single option, or was heard with low confidence.
    Unclear,
    /// Nothing at all.
    Nothing,
}

impl Choice {
    /// The key, for handlers that match on keys; an unclear utterance is an invalid key.
    pub fn key(&self) -> Option<&str> {
        match self {
            Choice::Key(k) => Some(k),
            Choice::Unclear => Some("?"),
            Choice::Nothing => None,
        }
    }
}

impl VoiceCall {
    /// What the caller chose at a menu that listens with `vocabulary`: the key pressed (always
    /// first), else what their words pick.
    pub fn choice(&self, vocabulary: &Vocabulary) -> Choice {
        if let Some(d) = self.digits() {
            return Choice::Key(d.to_owned());
        }
        let Some(said) = self.said() else {
            return Choice::Nothing;
        };
        let confident = self
            .form
            .get("Confidence")
            .and_then(|c| c.parse::<f64>().ok())
            .is_some_and(|c| c >= MIN_CONFIDENCE);
        match vocabulary.pick(said) {
            Some(key) if confident => Choice::Key(key.to_owned()),
            _ => Choice::Unclear,
        }
    }

    /// What the caller said, if Twilio recognised anything.
    pub fn said(&self) -> Option<&str> {
        self.form
            .get("SpeechResult")
            .filter(|s| !s.trim().is_empty())
    }
}

/// A keypad `<Gather>` that also listens for speech in es-MX, with the vocabulary as hints.
pub fn listening(gather: Gather, vocabulary: &Vocabulary) -> Gather {
    Gather {
        input: Some("dtmf speech".to_owned()),
        hints: Some(vocabulary.hints()),
        speech_timeout: Some("auto".to_owned()),
        ..gather
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        let p = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        Vocabulary::default()
            .option("1", p(&["Alumbrado público", "luminaria", "no hay luz"]))
            .option("3", p(&["Agua potable", "no hay agua", "fuga"]))
            .option("9", p(&["repetir"]))
    }

    #[test]
    fn phrases_pick_their_option_as_whole_words() {
        let v = vocabulary();
        assert_eq!(v.pick("No hay agua en mi colonia"), Some("3"));
        assert_eq!(v.pick("la LUMINARIA de la esquina"), Some("1"));
        assert_eq!(v.pick("alumbrado publico"), Some("1"));
        assert_eq!(v.pick("¡Fuga!"), Some("3"));
        // "fugaz" is not "fuga"; nothing else matches.
        assert_eq!(v.pick("una estrella fugaz"), None);
    }

    #[test]
    fn two_options_at_once_are_unclear() {
        assert_eq!(vocabulary().pick("no hay luz y no hay agua"), None);
    }

    #[test]
    fn hints_list_every_phrase_once() {
        let v = vocabulary().option("5", vec!["fuga".into()]);
        assert_eq!(
            v.hints(),
            "Alumbrado público, luminaria, no hay luz, Agua potable, no hay agua, fuga, repetir"
        );
    }
}
