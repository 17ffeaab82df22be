//! The catalogue of what the service says to citizens, on the phone and by SMS:
//! `prompts/es-MX.toml`, plus optional recordings of the phone prompts.
//!
//! Loaded once at start-up and checked whole: every key present, no unknown key, no unknown
//! `{placeholder}`, every recording a PCM mono WAV at 8 or 16 kHz. Any problem stops start-up
//! with a message naming the key or the file, rather than surfacing mid-call as silence.
//! When `ATIENDE_PROMPTS_DIR` has no catalogue, the copy built into the binary is used, so an
//! installed binary speaks without the source tree beside it.

pub mod recorded;

pub use recorded::RecordedLanguage;

use crate::domain::{CaseStatus, ClosureReason};
use crate::twiml::{self, Response};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The catalogue shipped in the binary.
const BUILT_IN: &str = include_str!("../../prompts/es-MX.toml");

/// The catalogue's file name inside the prompts folder.
pub const CATALOGUE_FILE: &str = "es-MX.toml";

/// Placeholders fixed for the whole deployment: a prompt using only these may be recorded.
const DEPLOYMENT_PLACEHOLDERS: &[&str] = &["office", "hours", "max_length", "privacy"];

macro_rules! keys {
    ($($variant:ident = $section:literal . $name:literal [$($ph:literal),*]),+ $(,)?) => {
        /// A prompt of the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Key { $($variant),+ }

        impl Key {
            pub const ALL: &'static [Key] = &[$(Key::$variant),+];

            /// The TOML section the key lives in.
            pub fn section(self) -> &'static str {
                match self { $(Key::$variant => $section),+ }
            }

            /// The key's name in its section, also the stem of its recording (`greeting.wav`).
            pub fn name(self) -> &'static str {
                match self { $(Key::$variant => $name),+ }
            }

            /// The placeholders the text may use.
            pub fn placeholders(self) -> &'static [&'static str] {
                match self { $(Key::$variant => &[$($ph),*]),+ }
            }
        }
    };
}

keys! {
    Greeting = "ivr"."greeting" ["office"],
    Emergency = "ivr"."emergency" [],
    Privacy = "ivr"."privacy" ["office"],
    OpenCase = "ivr"."open_case" ["folio", "status"],
    MainMenu = "ivr"."main_menu" [],
    MainMenuStaff = "ivr"."main_menu_staff" [],
    MainMenuSpeech = "ivr"."main_menu_speech" [],
    SpeechUnclear = "ivr"."speech_unclear" [],
    InvalidOption = "ivr"."invalid_option" [],
    NoInput = "ivr"."no_input" [],
    TooManyFailures = "ivr"."too_many_failures" [],
    CategoryOption = "ivr"."category_option" ["category", "digit"],
    CategoryOptionShort = "ivr"."category_option_short" ["category", "digit"],
    CategoryNavigation = "ivr"."category_navigation" [],
    CfeAdvice = "ivr"."cfe_advice" [],
    UrgencyQuestion = "ivr"."urgency_question" [],
    RecordInstructions = "ivr"."record_instructions" ["max_length"],
    NothingRecordedRetry = "ivr"."nothing_recorded_retry" [],
    NothingRecordedGoodbye = "ivr"."nothing_recorded_goodbye" [],
    FolioCreated = "ivr"."folio_created" ["folio"],
    FolioRepeat = "ivr"."folio_repeat" ["folio"],
    PromisePending = "ivr"."promise_pending" ["date"],
    PromiseOverdue = "ivr"."promise_overdue" ["date"],
    FolioSms = "ivr"."folio_sms" [],
    FolioHearAgain = "ivr"."folio_hear_again" [],
    ReportGoodbye = "ivr"."report_goodbye" [],
    NumberEntry = "ivr"."number_entry" [],
    NumberReadback = "ivr"."number_readback" ["number"],
    NumberInvalid = "ivr"."number_invalid" [],
    NumberConfirmed = "ivr"."number_confirmed" ["last_four"],
    StatusPrompt = "ivr"."status_prompt" [],
    StatusInvalid = "ivr"."status_invalid" [],
    StatusCheckDigits = "ivr"."status_check_digits" [],
    StatusUnknown = "ivr"."status_unknown" ["folio"],
    StatusFound = "ivr"."status_found" ["folio", "category", "status", "date"],
    StatusFoundPrivate = "ivr"."status_found_private" ["folio", "status", "date"],
    StatusAction = "ivr"."status_action" ["summary"],
    StatusTooMany = "ivr"."status_too_many" [],
    StatusLimit = "ivr"."status_limit" [],
    StatusNext = "ivr"."status_next" [],
    Transfer = "ivr"."transfer" [],
    ScreenOffer = "ivr"."screen_offer" [],
    TransferNoAnswer = "ivr"."transfer_no_answer" [],
    TransferClosed = "ivr"."transfer_closed" ["hours"],
    Goodbye = "ivr"."goodbye" ["office"],
    TechnicalError = "ivr"."technical_error" [],
    TechnicalErrorFinal = "ivr"."technical_error_final" [],
    TechnicalErrorAfterReport = "ivr"."technical_error_after_report" [],
    ReportKept = "ivr"."report_kept" [],
    ReportKeptNoNumber = "ivr"."report_kept_no_number" [],
    InvalidRequest = "ivr"."invalid_request" [],
    SpeechReport = "speech"."report" [],
    SpeechLookup = "speech"."lookup" [],
    SpeechStaff = "speech"."staff" [],
    SpeechRepeat = "speech"."repeat" [],
    SpeechBack = "speech"."back" [],
    SpeechUrgent = "speech"."urgent" [],
    SpeechNotUrgent = "speech"."not_urgent" [],
    SpeechAnotherFolio = "speech"."another_folio" [],
    SpeechMainMenu = "speech"."main_menu" [],
    StatusReceived = "status"."received" [],
    StatusInReview = "status"."in_review" [],
    StatusRouted = "status"."routed" ["department"],
    StatusInProgress = "status"."in_progress" ["department"],
    StatusAttended = "status"."attended" ["department"],
    StatusClosed = "status"."closed" [],
    StatusClosedDuplicate = "status"."closed_duplicate" [],
    StatusClosedNotApplicable = "status"."closed_not_applicable" [],
    StatusClosedNotMunicipal = "status"."closed_not_municipal" [],
    StatusReopened = "status"."reopened" [],
    StatusShortReceived = "status_short"."received" [],
    StatusShortInReview = "status_short"."in_review" [],
    StatusShortRouted = "status_short"."routed" [],
    StatusShortInProgress = "status_short"."in_progress" [],
    StatusShortAttended = "status_short"."attended" [],
    StatusShortClosed = "status_short"."closed" [],
    StatusShortClosedDuplicate = "status_short"."closed_duplicate" [],
    StatusShortClosedNotApplicable = "status_short"."closed_not_applicable" [],
    StatusShortClosedNotMunicipal = "status_short"."closed_not_municipal" [],
    StatusShortReopened = "status_short"."reopened" [],
    SmsFolioCreated = "sms"."folio_created" ["category", "folio", "promise"],
    SmsRouted = "sms"."routed" ["folio", "department"],
    SmsAttended = "sms"."attended" ["folio", "department", "summary"],
    SmsClosed = "sms"."closed" ["folio"],
    SmsClosedDuplicate = "sms"."closed_duplicate" ["folio"],
    SmsClosedNotApplicable = "sms"."closed_not_applicable" ["folio"],
    SmsClosedNotMunicipal = "sms"."closed_not_municipal" ["folio"],
    SmsDepartmentRouted = "sms"."department_routed" ["folio", "category", "address"],
    SmsStatusReply = "sms"."status_reply" ["folio", "category", "status", "date", "promise"],
    SmsStatusReplyAction = "sms"."status_reply_action" ["folio", "category", "status", "date", "summary"],
    SmsStatusUnknown = "sms"."status_unknown" ["folio"],
    SmsStatusInvalid = "sms"."status_invalid" ["folio"],
    SmsStatusTooMany = "sms"."status_too_many" [],
    SmsOptedOut = "sms"."opted_out" [],
    SmsOptedIn = "sms"."opted_in" [],
    SmsHelp = "sms"."help" ["phone"],
    SmsPromisePending = "sms_promise"."pending" ["date"],
    SmsPromiseOverdue = "sms_promise"."overdue" ["date"],
    SmsStatusReceived = "sms_status"."received" [],
    SmsStatusInReview = "sms_status"."in_review" [],
    SmsStatusRouted = "sms_status"."routed" ["department"],
    SmsStatusInProgress = "sms_status"."in_progress" ["department"],
    SmsStatusAttended = "sms_status"."attended" ["department"],
    SmsStatusClosed = "sms_status"."closed" [],
    SmsStatusClosedDuplicate = "sms_status"."closed_duplicate" [],
    SmsStatusClosedNotApplicable = "sms_status"."closed_not_applicable" [],
    SmsStatusClosedNotMunicipal = "sms_status"."closed_not_municipal" [],
    SmsStatusReopened = "sms_status"."reopened" [],
}

impl Key {
    /// How a status (and closing reason) is written in an SMS.
    pub fn sms_status(status: CaseStatus, reason: Option<ClosureReason>) -> Key {
        Key::of_status("sms_status", status, reason)
    }

    /// How a status (and closing reason) is said.
    pub fn for_status(status: CaseStatus, reason: Option<ClosureReason>) -> Key {
        Key::of_status("status", status, reason)
    }

    /// How a status (and closing reason) is said without naming the department: to whoever
    /// calls from a case's number (caller ID can be faked), and in lookups of sensitive cases.
    pub fn short_status(status: CaseStatus, reason: Option<ClosureReason>) -> Key {
        Key::of_status("status_short", status, reason)
    }

    /// The key of a status in `section`: named after the status's code, or, for a case closed
    /// without action, `closed_` and the reason's code.
    fn of_status(section: &str, status: CaseStatus, reason: Option<ClosureReason>) -> Key {
        let reason = match (status, reason) {
            (CaseStatus::Closed, Some(r)) if r != ClosureReason::Resolved => Some(r.code()),
            _ => None,
        };
        let found = Key::ALL.iter().copied().find(|k| {
            k.section() == section
                && match reason {
                    Some(r) => k.name().strip_prefix("closed_") == Some(r),
                    None => k.name() == status.code(),
                }
        });
        found.expect("every status and closing reason has its prompt (checked by a test)")
    }

    fn recordable(self) -> bool {
        self.placeholders()
            .iter()
            .all(|p| DEPLOYMENT_PLACEHOLDERS.contains(p))
    }
}

/// A problem with the catalogue or a recording; start-up stops on it.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{file}: {message}")]
    Catalogue { file: String, message: String },
    #[error("{file}: {message}")]
    Recording { file: String, message: String },
}

/// The loaded catalogue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Prompts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    texts: HashMap<Key, String>,
    /// What callers may say for a category, by its code (`[speech_categories]`).
    category_phrases: HashMap<String, String>,
    /// Recordings by key, as bytes to serve at `/audio/prompts/KEY.wav`.
    recordings: HashMap<Key, Arc<[u8]>>,
    /// Languages spoken from recordings (`DIR/<code>/`), in the order of their keys.
    languages: Vec<Arc<RecordedLanguage>>,
}

impl Prompts {
    /// Loads `DIR/es-MX.toml` (or the built-in catalogue if the folder has none) and every
    /// `DIR/KEY.wav`.
    pub fn load(dir: &Path) -> Result<Prompts, PromptError> {
        let file = dir.join(CATALOGUE_FILE);
        let (text, file_name) = match std::fs::read_to_string(&file) {
            Ok(text) => (text, file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (BUILT_IN.to_owned(), format!("built-in {CATALOGUE_FILE}"))
            }
            Err(e) => {
                return Err(PromptError::Catalogue {
                    file: file.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        let Catalogue {
            texts,
            category_phrases,
        } = parse_catalogue(&text, &file_name)?;
        let mut recordings = HashMap::new();
        for key in Key::ALL {
            let path = dir.join(format!("{}.wav", key.name()));
            if !path.exists() {
                continue;
            }
            if key.section() != "ivr" || !key.recordable() {
                return Err(PromptError::Recording {
                    file: path.display().to_string(),
                    message: "this prompt changes on every call and cannot be a recording".into(),
                });
            }
            recordings.insert(*key, check_recording(&path)?);
        }
        let languages = load_languages(dir)?;
        Ok(Prompts {
            inner: Arc::new(Inner {
                texts,
                category_phrases,
                recordings,
                languages,
            }),
        })
    }

    /// The built-in catalogue, without recordings.
    pub fn built_in() -> Prompts {
        let Catalogue {
            texts,
            category_phrases,
        } = parse_catalogue(BUILT_IN, "built-in").expect("the built-in catalogue is valid");
        Prompts {
            inner: Arc::new(Inner {
                texts,
                category_phrases,
                recordings: HashMap::new(),
                languages: Vec::new(),
            }),
        }
    }

    /// The text of a prompt with its placeholders filled. Arguments the prompt does not use are
    /// ignored (a status said without its department, say).
    pub fn text(&self, key: Key, args: &[(&str, &str)]) -> String {
        let mut text = self.inner.texts[&key].clone();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// The phrases of a `[speech]` entry (or any prompt), split at commas.
    pub fn phrases(&self, key: Key) -> Vec<String> {
        split_phrases(&self.inner.texts[&key])
    }

    /// The phrases callers may say for the category `code` besides its name.
    pub fn category_phrases(&self, code: &str) -> Vec<String> {
        self.inner
            .category_phrases
            .get(code)
            .map(|text| split_phrases(text))
            .unwrap_or_default()
    }

    /// Every phrase of `[speech_categories]`, for recognition hints where the categories
    /// themselves are not at hand.
    pub fn all_category_phrases(&self) -> Vec<String> {
        let mut codes: Vec<&String> = self.inner.category_phrases.keys().collect();
        codes.sort();
        codes
            .into_iter()
            .flat_map(|code| self.category_phrases(code))
            .collect()
    }

    /// The languages spoken from recordings, in the order of their keys.
    pub fn languages(&self) -> &[Arc<RecordedLanguage>] {
        &self.inner.languages
    }

    /// A recorded language by its code.
    pub fn language(&self, code: &str) -> Option<&Arc<RecordedLanguage>> {
        self.inner.languages.iter().find(|l| l.code == code)
    }

    /// Checks that every recorded language has a recording of every category of the phone
    /// menu (categories live in the database, so this runs once it is open).
    pub fn check_categories(
        &self,
        categories: &[crate::store::Category],
    ) -> Result<(), PromptError> {
        for language in self.languages() {
            let missing = language.missing_categories(categories);
            if !missing.is_empty() {
                return Err(PromptError::Recording {
                    file: format!("prompts/{}", language.code),
                    message: format!(
                        "the {} catalogue has no recording of {} categor{} of the phone menu: {}",
                        language.name,
                        missing.len(),
                        if missing.len() == 1 { "y" } else { "ies" },
                        missing.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// The recording of a prompt, if it has one.
    pub fn recording(&self, name: &str) -> Option<Arc<[u8]>> {
        let key = Key::ALL
            .iter()
            .find(|k| k.section() == "ivr" && k.name() == name)?;
        self.inner.recordings.get(key).cloned()
    }

    /// The prompt as something a `<Gather>` can hold: `<Play>` of its recording when there is
    /// one, `<Say>` of its text otherwise. `audio_base` is the public URL of `/audio/prompts`.
    pub fn prompt(
        &self,
        r: &Response,
        key: Key,
        args: &[(&str, &str)],
        audio_base: &str,
    ) -> twiml::Prompt {
        if self.inner.recordings.contains_key(&key) {
            twiml::Prompt::Play(twiml::Play {
                loop_count: None,
                url: format!("{audio_base}/{}.wav", key.name()),
            })
        } else {
            twiml::Prompt::Say(r.say_verb(&self.text(key, args)))
        }
    }
}

fn split_phrases(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The recorded languages in `dir`: every sub-folder with a `language.toml`.
fn load_languages(dir: &Path) -> Result<Vec<Arc<RecordedLanguage>>, PromptError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut folders: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(recorded::LANGUAGE_FILE).is_file())
        .collect();
    folders.sort();
    let mut languages: Vec<Arc<RecordedLanguage>> = Vec::new();
    for folder in folders {
        let language = RecordedLanguage::load(&folder)?;
        if let Some(other) = languages.iter().find(|l| l.key == language.key) {
            return Err(PromptError::Catalogue {
                file: folder.join(recorded::LANGUAGE_FILE).display().to_string(),
                message: format!(
                    "key {} already chooses {} ({})",
                    language.key, other.name, other.code
                ),
            });
        }
        languages.push(Arc::new(language));
    }
    languages.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(languages)
}

/// The section of extra phrases by category code: free keys, since categories are data.
const SPEECH_CATEGORIES: &str = "speech_categories";

/// A catalogue as read: the prompts, and the phrases by category code.
struct Catalogue {
    texts: HashMap<Key, String>,
    category_phrases: HashMap<String, String>,
}

fn parse_catalogue(text: &str, file: &str) -> Result<Catalogue, PromptError> {
    let err = |message: String| PromptError::Catalogue {
        file: file.to_owned(),
        message,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err(e.message().to_owned()))?;
    let mut texts = HashMap::new();
    let mut category_phrases = HashMap::new();
    for (section, value) in &table {
        let toml::Value::Table(entries) = value else {
            return Err(err(format!("{section:?} must be a [section]")));
        };
        if section == SPEECH_CATEGORIES {
            for (code, value) in entries {
                let toml::Value::String(s) = value else {
                    return Err(err(format!("{section}.{code} must be a string")));
                };
                category_phrases.insert(code.clone(), s.trim().to_owned());
            }
            continue;
        }
        for (name, value) in entries {
            let key = Key::ALL
                .iter()
                .find(|k| k.section() == section && k.name() == name)
                .ok_or_else(|| err(format!("unknown prompt {section}.{name}")))?;
            let toml::Value::String(s) = value else {
                return Err(err(format!("{section}.{name} must be a string")));
            };
            check_placeholders(*key, s).map_err(|m| err(format!("{section}.{name}: {m}")))?;
            texts.insert(*key, s.trim().to_owned());
        }
    }
    if let Some(missing) = Key::ALL.iter().find(|k| !texts.contains_key(k)) {
        return Err(err(format!(
            "missing prompt {}.{}",
            missing.section(),
            missing.name()
        )));
    }
    Ok(Catalogue {
        texts,
        category_phrases,
    })
}

fn check_placeholders(key: Key, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("empty text".into());
    }
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| "unclosed {".to_owned())?;
        let name = &rest[start + 1..start + end];
        if !key.placeholders().contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; this prompt may use {:?}",
                key.placeholders()
            ));
        }
        rest = &rest[start + end + 1..];
    }
    Ok(())
}

/// Reads a prompt recording and checks it is something Twilio plays well on a phone line.
fn check_recording(path: &Path) -> Result<Arc<[u8]>, PromptError> {
    let err = |message: String| PromptError::Recording {
        file: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let reader = hound::WavReader::new(std::io::Cursor::new(&bytes))
        .map_err(|e| err(format!("not a WAV file: {e}")))?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int {
        return Err(err("must be PCM (integer samples)".into()));
    }
    if spec.channels != 1 {
        return Err(err(format!("must be mono, has {} channels", spec.channels)));
    }
    if !matches!(spec.sample_rate, 8000 | 16000) {
        return Err(err(format!(
            "must be 8000 or 16000 Hz, is {} Hz",
            spec.sample_rate
        )));
    }
    if reader.duration() == 0 {
        return Err(err("has no samples".into()));
    }
    Ok(bytes.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(path: &Path, rate: u32, channels: u16) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..rate {
            for _ in 0..channels {
                w.write_sample(((i as f32 * 0.1).sin() * 8000.0) as i16)
                    .unwrap();
            }
        }
        w.finalize().unwrap();
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("atiende-prompts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn every_status_and_closing_reason_has_its_prompt_and_its_sms_text() {
        let reasons = std::iter::once(None).chain(ClosureReason::ALL.iter().copied().map(Some));
        for status in CaseStatus::ALL {
            for reason in reasons.clone() {
                let said = Key::for_status(*status, reason);
                let written = Key::sms_status(*status, reason);
                let short = Key::short_status(*status, reason);
                assert_eq!(
                    (said.section(), written.section(), short.section()),
                    ("status", "sms_status", "status_short")
                );
                assert_eq!(said.name(), written.name(), "{status:?} {reason:?}");
                assert_eq!(said.name(), short.name(), "{status:?} {reason:?}");
                assert!(short.placeholders().is_empty(), "never the department");
            }
        }
        let closed = |r| Key::for_status(CaseStatus::Closed, r);
        assert_eq!(
            Key::for_status(CaseStatus::InReview, None),
            Key::StatusInReview
        );
        assert_eq!(closed(None), Key::StatusClosed);
        assert_eq!(closed(Some(ClosureReason::Resolved)), Key::StatusClosed);
        assert_eq!(
            closed(Some(ClosureReason::Duplicate)),
            Key::StatusClosedDuplicate
        );
        assert_eq!(
            Key::sms_status(CaseStatus::Closed, Some(ClosureReason::NotMunicipal)),
            Key::SmsStatusClosedNotMunicipal
        );
        // A reason on a status that is not "closed" changes nothing.
        assert_eq!(
            Key::sms_status(CaseStatus::Routed, Some(ClosureReason::Duplicate)),
            Key::SmsStatusRouted
        );
    }

    #[test]
    fn built_in_catalogue_is_complete() {
        let p = Prompts::built_in();
        for key in Key::ALL {
            assert!(!p.text(*key, &[]).is_empty(), "{key:?}");
        }
        assert_eq!(
            p.text(
                Key::Greeting,
                &[("office", "la Dirección de Participación Ciudadana")]
            ),
            "Gracias por llamar a la Dirección de Participación Ciudadana."
        );
    }

    #[test]
    fn catalogue_errors_name_the_prompt() {
        let e = parse_catalogue("[ivr]\ngreeting = \"Hola {nombre}\"\n", "x.toml")
            .err()
            .unwrap();
        assert!(e.to_string().contains("ivr.greeting"), "{e}");
        let e = parse_catalogue("[ivr]\nnope = \"x\"\n", "x.toml")
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown prompt ivr.nope"), "{e}");
        let e = parse_catalogue("[ivr]\ngreeting = \"Hola\"\n", "x.toml")
            .err()
            .unwrap();
        assert!(e.to_string().contains("missing prompt"), "{e}");
    }

    #[test]
    fn recordings_are_checked_and_played() {
        let dir = temp_dir("ok");
        std::fs::write(dir.join(CATALOGUE_FILE), BUILT_IN).unwrap();
        tone(&dir.join("greeting.wav"), 8000, 1);
        let p = Prompts::load(&dir).unwrap();
        let r = Response::new("v");
        assert!(matches!(
            p.prompt(&r, Key::Greeting, &[], "https://x/audio/prompts"),
            twiml::Prompt::Play(ref play) if play.url == "https://x/audio/prompts/greeting.wav"
        ));
        assert!(matches!(
            p.prompt(&r, Key::MainMenu, &[], "u"),
            twiml::Prompt::Say(_)
        ));
        assert!(p.recording("greeting").is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_recordings_stop_start_up_naming_the_file() {
        for (name, rate, channels, wav) in [
            ("stereo", 8000, 2, "greeting.wav"),
            ("rate", 44100, 1, "greeting.wav"),
            ("dynamic", 8000, 1, "folio_created.wav"),
        ] {
            let dir = temp_dir(name);
            tone(&dir.join(wav), rate, channels);
            let e = Prompts::load(&dir).unwrap_err();
            assert!(e.to_string().contains(wav), "{e}");
            std::fs::remove_dir_all(dir).unwrap();
        }
        let dir = temp_dir("garbage");
        std::fs::write(dir.join("goodbye.wav"), b"not a wav").unwrap();
        let e = Prompts::load(&dir).unwrap_err();
        assert!(
            e.to_string().contains("goodbye.wav") && e.to_string().contains("not a WAV"),
            "{e}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
