//! Status by folio: the caller types a folio and hears where the case stands.
//!
//! Only what is safe to say to anyone holding the folio is read out: category, status,
//! department, date of the last change and, once attended, the department's summary of what it
//! did. Never a name, a number or the recording. Three failed lookups in one call (a wrong check
//! digit or an unknown folio) end lookups for that call, so folios cannot be guessed by trying.

use super::menu::{self, push_main_menu, retry_or_goodbye};
use super::{
    Key, MAX_FAILED_LOOKUPS, Moment, Speaker, Step, StepQuery, Twiml, VoiceCall, answer, speech,
};
use crate::domain::{CaseStatus, Folio};
use crate::state::AppState;
use crate::store::{CaseStatusView, StoreError};
use crate::twiml::Gather;
use axum::extract::State;

/// Seconds between digits before a typed folio is taken as complete (so the final # is optional).
const FOLIO_TIMEOUT: u32 = 5;

/// "Type your folio, then #".
pub fn push_lookup_prompt(s: &mut Speaker<'_>, query: &StepQuery) {
    let prompts = vec![s.prompt(Key::StatusPrompt, &[])];
    s.menu(
        Step::Lookup,
        query,
        Gather::keypad().timeout(FOLIO_TIMEOUT).finish_on_key("#"),
        prompts,
    );
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

/// `POST /twilio/voice/lookup`: the caller typed a folio (or nothing).
pub async fn lookup(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, look_up(&app, &call)).await
}

async fn look_up(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::new(app);
    let failed = app
        .store
        .call(&call.sid)
        .await?
        .map_or(0, |c| c.failed_lookups);
    let detail = if failed >= MAX_FAILED_LOOKUPS {
        s.say(Key::StatusTooMany, &[]);
        push_main_menu(&mut s, &StepQuery::default());
        "refused, too many failed lookups".to_owned()
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
                        app.store.note_case_found(&call.sid).await?;
                        say_status(&mut s, &case);
                        let prompts = vec![s.prompt(Key::StatusNext, &[])];
                        s.menu(
                            Step::LookupNext,
                            &StepQuery::default(),
                            Gather::keypad().num_digits(1).timeout(menu::MENU_TIMEOUT),
                            prompts,
                        );
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
            ("status", &status),
            ("date", &case.status_changed_at.spoken_date_es()),
        ],
    );
    let done = matches!(case.status, CaseStatus::Attended | CaseStatus::Closed);
    if let (true, Some(summary)) = (done, case.action_summary.as_deref()) {
        s.say(Key::StatusAction, &[("summary", summary)]);
    }
}

/// `POST /twilio/voice/lookup-next`: 1 another folio, 2 main menu, anything else goodbye.
pub async fn lookup_next(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, after_lookup(&app, &call)).await
}

async fn after_lookup(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::new(app);
    let detail = match call.digits() {
        Some("1") => {
            push_lookup_prompt(&mut s, &StepQuery::default());
            "another folio"
        }
        Some("2") => {
            push_main_menu(&mut s, &StepQuery::default());
            "main menu"
        }
        _ => {
            let office = app.config.phone.office_name.clone();
            s.say(Key::Goodbye, &[("office", &office)]).hangup();
            "goodbye"
        }
    };
    call.log(app, "lookup_next", Some(detail)).await;
    Ok(s.finish())
}
