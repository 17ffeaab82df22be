//! Languages no text-to-speech voice speaks (Náhuatl, Otomí, Mixteco, Maya, ...), spoken from
//! recordings: a folder `prompts/<code>/` with `language.toml` and a WAV for every prompt.
//!
//! The variable parts are played from recorded pieces, as classic IVRs concatenate them:
//!
//! ```text
//! prompts/nah/language.toml        name, the key that chooses it, optional orders
//! prompts/nah/choose.wav           "Para náhuatl, marque 7", said in Náhuatl at the first menu
//! prompts/nah/<prompt>.wav         every phone prompt of es-MX.toml's [ivr] that is played
//! prompts/nah/digits/0.wav … 9.wav folios and phone numbers, digit by digit
//! prompts/nah/status/<status>.wav  received, routed, closed_duplicate, … (without department)
//! prompts/nah/categories/<code>.wav  every category of the phone menu, by code
//! prompts/nah/weekdays/1.wav … 7.wav, months/1.wav … 12.wav, days/1.wav … 31.wav
//! ```
//!
//! A prompt with variable parts plays its own recording and then the parts in the order of its
//! placeholders, unless `[sequences]` in `language.toml` gives another order, with pieces of its
//! own between them (word order differs between languages):
//! `status_found = ["status_found_1", "{folio}", "status_found_2", "{status}", "{date}"]`.
//! Free text (a department's summary, a department's name) cannot be recorded and is not said;
//! the SMS, which reaches the reporting phone, keeps it. Speech recognition stays Spanish-only.
//!
//! Everything is checked at start-up: a language with any piece missing is refused with the
//! list of every missing file.

use super::{Key, PromptError, check_recording};
use crate::store::Category;
use crate::twiml;
use chrono::{Datelike, NaiveDate};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

/// The description file of a recorded language.
pub const LANGUAGE_FILE: &str = "language.toml";

/// Prompts never played in a recorded language: heard by staff (the transfer screening), made
/// of free text (what the department did), or about speech, which is recognised in Spanish only.
const NOT_RECORDED: &[Key] = &[
    Key::ScreenOffer,
    Key::StatusAction,
    Key::MainMenuSpeech,
    Key::SpeechUnclear,
];

/// Placeholders the recording of the prompt itself already says (fixed for the deployment), or
/// that hold free text: no piece is played for them.
const SILENT_SLOTS: &[&str] = &[
    "office",
    "hours",
    "max_length",
    "privacy",
    "summary",
    "department",
    "phone",
];

/// Keys a language may be chosen with: not those of the main menu (1, 2, 0).
const LANGUAGE_KEYS: &[&str] = &["3", "4", "5", "6", "7", "8", "9"];

/// One piece of a prompt: a recording of the language's folder, or a variable part.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Clip(String),
    Slot(String),
}

/// A language spoken from recordings.
#[derive(Debug)]
pub struct RecordedLanguage {
    /// The folder's name: `nah`, `oto`, `yua`.
    pub code: String,
    /// Its name, for the logs and the call log: "Náhuatl".
    pub name: String,
    /// The key that chooses it at the first menu.
    pub key: String,
    sequences: HashMap<Key, Vec<Piece>>,
    date: Vec<Piece>,
    /// Every recording, by its path inside the folder without `.wav` (`digits/7`).
    clips: HashMap<String, Arc<[u8]>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageFile {
    name: String,
    key: String,
    #[serde(default)]
    date: Option<Vec<String>>,
    #[serde(default)]
    sequences: HashMap<String, Vec<String>>,
}

impl RecordedLanguage {
    /// Loads `dir` (named after the language's code) and checks that every piece is there.
    pub fn load(dir: &Path) -> Result<RecordedLanguage, PromptError> {
        let code = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let file = dir.join(LANGUAGE_FILE);
        let err = |message: String| PromptError::Catalogue {
            file: file.display().to_string(),
            message,
        };
        let valid_code = (2..=8).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_code {
            return Err(err(format!(
                "the folder name {code:?} must be a language code (lower case letters, like nah, oto, yua)"
            )));
        }
        let text = std::fs::read_to_string(&file).map_err(|e| err(e.to_string()))?;
        let spec: LanguageFile = toml::from_str(&text).map_err(|e| err(e.message().to_owned()))?;
        if !LANGUAGE_KEYS.contains(&spec.key.as_str()) {
            return Err(err(format!(
                "key {:?}: a language is chosen with one of {} (1, 2 and 0 are the main menu's)",
                spec.key,
                LANGUAGE_KEYS.join(", ")
            )));
        }
        let mut sequences = HashMap::new();
        for (name, items) in &spec.sequences {
            let key = recorded_keys()
                .find(|k| k.name() == name)
                .ok_or_else(|| err(format!("[sequences]: unknown or unrecorded prompt {name}")))?;
            let pieces = parse_pieces(items, key.placeholders())
                .map_err(|m| err(format!("[sequences].{name}: {m}")))?;
            sequences.insert(key, pieces);
        }
        for key in recorded_keys() {
            sequences
                .entry(key)
                .or_insert_with(|| default_sequence(key));
        }
        let date = match &spec.date {
            Some(items) => parse_pieces(items, &["weekday", "day", "month"])
                .map_err(|m| err(format!("date: {m}")))?,
            None => ["weekday", "day", "month"]
                .iter()
                .map(|s| Piece::Slot((*s).to_owned()))
                .collect(),
        };
        let mut language = RecordedLanguage {
            code,
            name: spec.name,
            key: spec.key,
            sequences,
            date,
            clips: HashMap::new(),
        };
        let mut missing = Vec::new();
        for clip in language.required_clips() {
            let path = dir.join(format!("{clip}.wav"));
            if path.exists() {
                language.clips.insert(clip, check_recording(&path)?);
            } else {
                missing.push(format!("{clip}.wav"));
            }
        }
        // Category recordings are checked against the menu when the database is open; load
        // those present now.
        if let Ok(entries) = std::fs::read_dir(dir.join("categories")) {
            for entry in entries.flatten() {
                let path = entry.path();
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                let is_wav = path.extension().is_some_and(|e| e == "wav");
                if is_wav && is_clip_name(stem) {
                    language
                        .clips
                        .insert(format!("categories/{stem}"), check_recording(&path)?);
                }
            }
        }
        if !missing.is_empty() {
            return Err(PromptError::Recording {
                file: dir.display().to_string(),
                message: format!(
                    "the {} catalogue is incomplete; missing {} file(s): {}",
                    language.name,
                    missing.len(),
                    missing.join(", ")
                ),
            });
        }
        Ok(language)
    }

    /// Every recording the language needs, categories aside: its prompts and their pieces, the
    /// offer at the first menu, digits, statuses, weekdays, months and days.
    pub fn required_clips(&self) -> BTreeSet<String> {
        let mut clips: BTreeSet<String> = self
            .sequences
            .values()
            .flatten()
            .filter_map(|p| match p {
                Piece::Clip(c) => Some(c.clone()),
                Piece::Slot(_) => None,
            })
            .collect();
        clips.extend(required_pieces());
        clips
    }

    /// The category recordings the phone menu needs that are missing.
    pub fn missing_categories(&self, categories: &[Category]) -> Vec<String> {
        categories
            .iter()
            .filter(|c| c.digit.is_some())
            .map(|c| format!("categories/{}", c.code))
            .filter(|clip| !self.clips.contains_key(clip))
            .map(|clip| format!("{clip}.wav"))
            .collect()
    }

    /// A recording of the folder, by path without `.wav`.
    pub fn clip(&self, path: &str) -> Option<Arc<[u8]>> {
        self.clips.get(path).cloned()
    }

    /// The `<Play>`s of a prompt, its variable parts from `args` (see [`super::Prompts::prompt`]
    /// for the companion values `category_code`, `status_key`, `date_iso`). `audio_base` is the
    /// public URL of `/audio/prompts`.
    pub fn prompt(&self, key: Key, args: &[(&str, &str)], audio_base: &str) -> Vec<twiml::Prompt> {
        let Some(sequence) = self.sequences.get(&key) else {
            return Vec::new();
        };
        let arg = |name: &str| args.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let mut clips = Vec::new();
        for piece in sequence {
            match piece {
                Piece::Clip(c) => clips.push(c.clone()),
                Piece::Slot(slot) => clips.extend(self.slot(slot, &arg)),
            }
        }
        clips
            .into_iter()
            .filter(|c| {
                let known = self.clips.contains_key(c);
                if !known {
                    tracing::warn!(language = %self.code, clip = %c, "no recording for this piece; skipped");
                }
                known
            })
            .map(|c| {
                twiml::Prompt::Play(twiml::Play {
                    loop_count: None,
                    url: format!("{audio_base}/{}/{c}.wav", self.code),
                })
            })
            .collect()
    }

    /// The recordings a variable part is said with.
    fn slot<'a>(&self, slot: &str, arg: &impl Fn(&str) -> Option<&'a str>) -> Vec<String> {
        match slot {
            "folio" | "number" | "last_four" | "digit" => arg(slot)
                .unwrap_or_default()
                .chars()
                .filter(char::is_ascii_digit)
                .map(|d| format!("digits/{d}"))
                .collect(),
            "category" => arg("category_code")
                .map(|c| vec![format!("categories/{c}")])
                .unwrap_or_default(),
            "status" => arg("status_key")
                .map(|s| vec![format!("status/{s}")])
                .unwrap_or_default(),
            "date" => arg("date_iso")
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .map(|d| self.date_clips(d))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn date_clips(&self, date: NaiveDate) -> Vec<String> {
        self.date
            .iter()
            .map(|p| match p {
                Piece::Clip(c) => c.clone(),
                Piece::Slot(s) if s == "weekday" => {
                    format!("weekdays/{}", date.weekday().number_from_monday())
                }
                Piece::Slot(s) if s == "day" => format!("days/{}", date.day()),
                Piece::Slot(_) => format!("months/{}", date.month()),
            })
            .collect()
    }
}

/// Every recording a language needs when its `language.toml` gives no `[sequences]` (each
/// prompt's own recording, then its parts), categories aside: what a new catalogue starts from.
pub fn required_clips_by_default() -> BTreeSet<String> {
    let mut clips: BTreeSet<String> = recorded_keys()
        .flat_map(default_sequence)
        .filter_map(|p| match p {
            Piece::Clip(c) => Some(c),
            Piece::Slot(_) => None,
        })
        .collect();
    clips.extend(required_pieces());
    clips
}

/// What to record for a new language, file by file, with the Spanish it stands for: every
/// prompt (its variable parts noted), every piece, and the phone menu's `categories`. The
/// checklist `atiende prompts checklist` prints for the people who record.
pub fn checklist(prompts: &super::Prompts, categories: &[Category]) -> Vec<(String, String)> {
    use crate::domain::promise::{MONTHS, WEEKDAYS};
    let mut items = vec![(
        "choose.wav".to_owned(),
        "Para <este idioma>, marque <la tecla de language.toml>.".to_owned(),
    )];
    for key in recorded_keys() {
        let parts: Vec<String> = default_sequence(key)
            .into_iter()
            .skip(1)
            .map(|p| match p {
                Piece::Slot(s) => format!("{{{s}}}"),
                Piece::Clip(c) => c,
            })
            .collect();
        let mut text = prompts.text(key, &[]);
        if !parts.is_empty() {
            text.push_str(&format!(
                "  [then, played from pieces: {}]",
                parts.join(" ")
            ));
        }
        items.push((format!("{}.wav", key.name()), text));
    }
    items.extend((0..=9).map(|d| (format!("digits/{d}.wav"), d.to_string())));
    for key in Key::ALL.iter().filter(|k| k.section() == "status_short") {
        items.push((
            format!("status/{}.wav", key.name()),
            prompts.text(*key, &[]),
        ));
    }
    for (i, day) in WEEKDAYS.iter().enumerate() {
        items.push((format!("weekdays/{}.wav", i + 1), (*day).to_owned()));
    }
    for (i, month) in MONTHS.iter().enumerate() {
        items.push((format!("months/{}.wav", i + 1), (*month).to_owned()));
    }
    items.extend((1..=31).map(|d| (format!("days/{d}.wav"), d.to_string())));
    for c in categories.iter().filter(|c| c.digit.is_some()) {
        items.push((format!("categories/{}.wav", c.code), c.name.clone()));
    }
    items
}

/// The prompts a recorded language plays.
pub fn recorded_keys() -> impl Iterator<Item = Key> {
    Key::ALL
        .iter()
        .copied()
        .filter(|k| k.section() == "ivr" && !NOT_RECORDED.contains(k))
}

/// The pieces every recorded language needs besides its prompts.
fn required_pieces() -> Vec<String> {
    let mut pieces = vec!["choose".to_owned()];
    pieces.extend((0..=9).map(|d| format!("digits/{d}")));
    pieces.extend(
        Key::ALL
            .iter()
            .filter(|k| k.section() == "status_short")
            .map(|k| format!("status/{}", k.name())),
    );
    pieces.extend((1..=7).map(|d| format!("weekdays/{d}")));
    pieces.extend((1..=12).map(|m| format!("months/{m}")));
    pieces.extend((1..=31).map(|d| format!("days/{d}")));
    pieces
}

/// A prompt's own recording, then its variable parts in the order of its placeholders.
fn default_sequence(key: Key) -> Vec<Piece> {
    let mut pieces = vec![Piece::Clip(key.name().to_owned())];
    pieces.extend(
        key.placeholders()
            .iter()
            .filter(|p| !SILENT_SLOTS.contains(p))
            .map(|p| Piece::Slot((*p).to_owned())),
    );
    pieces
}

fn is_clip_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_pieces(items: &[String], slots: &[&str]) -> Result<Vec<Piece>, String> {
    items
        .iter()
        .map(
            |item| match item.strip_prefix('{').and_then(|i| i.strip_suffix('}')) {
                Some(slot) if slots.contains(&slot) => Ok(Piece::Slot(slot.to_owned())),
                Some(slot) => Err(format!(
                    "unknown part {{{slot}}}; this one may use {slots:?}"
                )),
                None if is_clip_name(item) => Ok(Piece::Clip(item.clone())),
                None => Err(format!(
                    "{item:?} is not a recording name (lower case letters, digits and _)"
                )),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_without_its_own_order_plays_its_recording_then_its_parts() {
        assert_eq!(
            default_sequence(Key::FolioCreated),
            vec![
                Piece::Clip("folio_created".into()),
                Piece::Slot("folio".into())
            ]
        );
        // Parts fixed for the deployment are in the recording itself.
        assert_eq!(
            default_sequence(Key::Greeting),
            vec![Piece::Clip("greeting".into())]
        );
    }

    #[test]
    fn sequences_are_checked() {
        let ok = parse_pieces(
            &["a_1".into(), "{folio}".into()],
            Key::FolioCreated.placeholders(),
        );
        assert!(ok.is_ok());
        let unknown = parse_pieces(&["{nombre}".into()], Key::FolioCreated.placeholders());
        assert!(unknown.unwrap_err().contains("{nombre}"));
        let path = parse_pieces(&["../etc".into()], &[]);
        assert!(path.is_err());
    }

    #[test]
    fn every_status_has_its_piece() {
        let pieces = required_pieces();
        for name in [
            "status/received",
            "status/closed_duplicate",
            "days/31",
            "months/12",
        ] {
            assert!(pieces.contains(&name.to_owned()), "{name}");
        }
    }
}
