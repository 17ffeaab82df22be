//! Status by folio: the caller types a folio and hears where the case stands.
//!
//! Only what is safe to say to anyone holding the folio is read out: category, status,
//! department, date of the last change and, once attended, the department's summary of what it
//! did. Never a name, a number or the recording. For a sensitive category (Seguridad pública),
//! only the status, without the department, and the date: the category, who handles it and what
//! was done go only by SMS to the number that reported, the one channel that reaches the real
//! phone (caller ID is easy to fake, and Mexican calls carry no STIR/SHAKEN attestation).
//!
//! Three failed lookups in one call (a wrong check digit or an unknown folio) end lookups for
//! that call, so folios cannot be guessed by trying; and successful ones are capped too, per call
//! and per number and hour, so that the line cannot be used to sweep through folios. A refused
//! caller goes back to the main menu: a report can always be made.

use super::listen::Vocabulary;
use super::menu::{self, push_main_menu, retry_or_goodbye};
use super::{
    Key, MAX_FAILED_LOOKUPS, Moment, Speaker, Step, StepQuery, Twiml, VoiceCall, answer, speech,
};
use crate::domain::{CaseStatus, Folio, Promise, Timestamp, promise};
use crate::state::AppState;
use crate::store::{CaseStatusView, StoreError};
use crate::twiml::{self, Gather};
use axum::extract::State;

/// Seconds between digits before a typed folio is taken as complete (so the final # is optional).
const FOLIO_TIMEOUT: u32 = 5;

/// Lookups that found a case, in one call, before lookups end for the call. A citizen follows one
/// or two reports; five leaves room for a family's or a neighbourhood's.
pub const MAX_FOUND_LOOKUPS_PER_CALL: i64 = 5;

/// Lookups that found a case, from one number in an hour (over all its calls), before lookups
/// by voice are refused to that number: two full calls' worth.
pub const MAX_FOUND_LOOKUPS_PER_NUMBER_HOUR: i64 = 10;

/// Why folio lookups are refused in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failed lookups in this call (the guessing guard).
    Failed,
    /// This call found as many cases as a call may.
    CallLimit,
    /// Calls from this number found as many cases as they may in an hour.
    NumberLimit,
}

impl Refusal {
    /// What the main menu logs when 2 is refused.
    pub fn menu_detail(self) -> &'static str {
        match self {
            Refusal::Failed => "2: lookup refused, too many failed lookups",
            Refusal::CallLimit => "2: lookup refused, lookup limit of the call",
            Refusal::NumberLimit => "2: lookup refused, hourly lookup limit of the number",
        }
    }

    /// Why, for the call log.
    fn reason(self) -> &'static str {
        match self {
            Refusal::Failed => "too many failed lookups",
            Refusal::CallLimit => "lookup limit of the call",
            Refusal::NumberLimit => "hourly lookup limit of the number",
        }
    }
}

/// Whether folio lookups are refused in this call now, and why.
pub async fn refusal(app: &AppState, call: &VoiceCall) -> Result<Option<Refusal>, StoreError> {
    let (failed, found) = app
        .store
        .call(&call.sid)
        .await?
        .map_or((0, 0), |c| (c.failed_lookups, c.found_lookups));
    if failed >= MAX_FAILED_LOOKUPS {
        return Ok(Some(Refusal::Failed));
    }
    if found >= MAX_FOUND_LOOKUPS_PER_CALL {
        return Ok(Some(Refusal::CallLimit));
    }
    // A withheld number has only the per-call cap; a faked one is still one number an hour.
    if let Some(number) = call.caller.number() {
        let since = Timestamp::from_utc(app.clock.now().as_utc() - chrono::Duration::hours(1));
        let recent = app
            .store
            .recent_found_lookups(number.as_str(), since)
            .await?;
        if recent >= MAX_FOUND_LOOKUPS_PER_NUMBER_HOUR {
            return Ok(Some(Refusal::NumberLimit));
        }
    }
    Ok(None)
}

/// Says that lookups are refused and goes back to the main menu, where a report can be made.
pub fn push_refusal(s: &mut Speaker<'_>, refusal: Refusal) {
    let key = match refusal {
        Refusal::Failed => Key::StatusTooMany,
        Refusal::CallLimit | Refusal::NumberLimit => Key::StatusLimit,
    };
    s.say(key, &[]);
    push_main_menu(s, &StepQuery::default());
}

/// "Type your folio, then #".
pub fn push_lookup_prompt(s: &mut Speaker<'_>, query: &StepQuery) {
    let prompts = s.prompt(Key::StatusPrompt, &[]);
    s.menu(
        Step::Lookup,
        query,
        Gather::keypad().timeout(FOLIO_TIMEOUT).finish_on_key("#"),
        prompts,
    );
}

/// How a case's status is said without its department ("canalizado al área responsable"): to
/// whoever calls from the number of an open case, and for sensitive cases.
pub fn short_status(app: &AppState, case: &CaseStatusView) -> String {
    app.prompts
        .text(Key::short_status(case.status, case.closure_reason), &[])
}

/// The name of a case's status prompt (`routed`, `closed_duplicate`): what a recorded language
/// plays the status with.
pub fn status_key(case: &CaseStatusView) -> &'static str {
    Key::short_status(case.status, case.closure_reason).name()
}

/// How a case's status is said: "canalizado al área responsable: Dirección de Agua Potable".
pub fn spoken_status(app: &AppState, case: &CaseStatusView) -> String {
    let department = case
        .department_name
        .as_deref()
        .unwrap_or("Dirección de Participación Ciudadana");
    app.prompts.text(
        Key::for_status(case.status, case.closure_reason),
        &[("department", department)],
    )
}

/// The date the office promised to answer by, as the caller should hear it now: "Le daremos
/// respuesta a más tardar el lunes 7 de diciembre", or, once that date has passed without an
/// answer, that it has and an apology. Nothing once the case has its answer.
pub fn promise_prompt(
    s: &Speaker<'_>,
    status: CaseStatus,
    answer_by: Option<chrono::NaiveDate>,
) -> Vec<twiml::Prompt> {
    let now = s.app().clock.now();
    let (key, date) = match Promise::of(status, answer_by, now) {
        Some(Promise::Pending(date)) => (Key::PromisePending, date),
        Some(Promise::Overdue(date)) => (Key::PromiseOverdue, date),
        None => return Vec::new(),
    };
    s.prompt(
        key,
        &[
            ("date", &promise::spoken(date, now)),
            ("date_iso", &date.to_string()),
        ],
    )
}

/// `POST /twilio/voice/lookup`: the caller typed a folio (or nothing).
pub async fn lookup(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, look_up(&app, &call)).await
}

async fn look_up(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::for_query(app, &call.query);
    // Checked before the folio is even read: a refused lookup says nothing about it.
    let detail = if let Some(refused) = refusal(app, call).await? {
        push_refusal(&mut s, refused);
        format!("refused, {}", refused.reason())
    } else {
        match call.digits() {
            None => retry_or_goodbye(&mut s, call, push_lookup_prompt).to_owned(),
            Some(typed) => match Folio::parse(typed) {
                Err(e) => {
                    failed_lookup(app, call, &mut s, Key::StatusInvalid, &[]).await?;
                    format!("invalid folio ({e})")
                }
                Ok(folio) => match app.store.case_status_by_folio(&folio).await? {
                    None => {
                        let spoken = speech::digits(folio.as_str());
                        failed_lookup(app, call, &mut s, Key::StatusUnknown, &[("folio", &spoken)])
                            .await?;
                        format!("unknown folio {folio}")
                    }
                    Some(case) => {
                        app.store
                            .note_found_lookup(&call.sid, app.clock.now())
                            .await?;
                        say_status(&mut s, &case);
                        let prompts = s.prompt(Key::StatusNext, &[]);
                        let gather = s.choices(
                            Gather::keypad().num_digits(1).timeout(menu::MENU_TIMEOUT),
                            &next_vocabulary(app),
                        );
                        s.menu(Step::LookupNext, &StepQuery::default(), gather, prompts);
                        format!("found folio {folio}: {}", case.status.code())
                    }
                },
            },
        }
    };
    call.log(app, "lookup", Some(&detail)).await;
    Ok(s.finish())
}

/// Counts a failed lookup and says why; after the last allowed one, lookups end.
async fn failed_lookup(
    app: &AppState,
    call: &VoiceCall,
    s: &mut Speaker<'_>,
    key: Key,
    args: &[(&str, &str)],
) -> Result<(), StoreError> {
    let failed = app
        .store
        .note_failed_lookup(&call.sid, app.clock.now())
        .await?;
    s.say(key, args);
    if failed >= MAX_FAILED_LOOKUPS {
        s.say(Key::StatusTooMany, &[]);
        push_main_menu(s, &StepQuery::default());
    } else {
        if key == Key::StatusInvalid {
            s.say(Key::StatusCheckDigits, &[]);
        }
        push_lookup_prompt(s, &StepQuery::default());
    }
    Ok(())
}

fn say_status(s: &mut Speaker<'_>, case: &CaseStatusView) {
    let app = s.app();
    let changed_on = case.status_changed_at.local_date().to_string();
    if case.sensitive {
        let status = short_status(app, case);
        s.say(
            Key::StatusFoundPrivate,
            &[
                ("folio", &speech::digits(&case.folio)),
                ("status", &status),
                ("status_key", status_key(case)),
                ("date", &case.status_changed_at.spoken_date_es()),
                ("date_iso", &changed_on),
            ],
        );
        say_promise(s, case);
        return;
    }
    let category = case
        .category_name
        .as_deref()
        .map_or_else(|| "atención ciudadana".to_owned(), speech::mid_sentence);
    let status = spoken_status(app, case);
    s.say(
        Key::StatusFound,
        &[
            ("folio", &speech::digits(&case.folio)),
            ("category", &category),
            (
                "category_code",
                case.category_code.as_deref().unwrap_or_default(),
            ),
            ("status", &status),
            ("status_key", status_key(case)),
            ("date", &case.status_changed_at.spoken_date_es()),
            ("date_iso", &changed_on),
        ],
    );
    say_promise(s, case);
    let done = matches!(case.status, CaseStatus::Attended | CaseStatus::Closed);
    if let (true, Some(summary)) = (done, case.action_summary.as_deref()) {
        s.say(Key::StatusAction, &[("summary", summary)]);
    }
}

fn say_promise(s: &mut Speaker<'_>, case: &CaseStatusView) {
    let prompts = promise_prompt(s, case.status, case.answer_by);
    s.push_prompts(prompts);
}

/// `POST /twilio/voice/lookup-next`: 1 another folio (unless lookups are refused by now), 2 main
/// menu, anything else goodbye.
pub async fn lookup_next(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, after_lookup(&app, &call)).await
}

/// After a lookup: another folio (1) or the main menu (2).
fn next_vocabulary(app: &AppState) -> Vocabulary {
    Vocabulary::default()
        .entry("1", &app.prompts, Key::SpeechAnotherFolio)
        .entry("2", &app.prompts, Key::SpeechMainMenu)
}

async fn after_lookup(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::for_query(app, &call.query);
    let detail = match call.choice(&next_vocabulary(app)).key() {
        Some("1") => match refusal(app, call).await? {
            Some(refused) => {
                push_refusal(&mut s, refused);
                format!("another folio refused, {}", refused.reason())
            }
            None => {
                push_lookup_prompt(&mut s, &StepQuery::default());
                "another folio".to_owned()
            }
        },
        Some("2") => {
            push_main_menu(&mut s, &StepQuery::default());
            "main menu".to_owned()
        }
        _ => {
            let office = app.config.phone.office_name.clone();
            s.say(Key::Goodbye, &[("office", &office)]).hangup();
            "goodbye".to_owned()
        }
    };
    call.log(app, "lookup_next", Some(&detail)).await;
    Ok(s.finish())
}
