//! The ends of a call: the greeting, Twilio's call status callback, and the fallback URL.

use super::{Key, Moment, Speaker, StepQuery, Twiml, VoiceCall, answer, apology, menu, speech};
use crate::journal::Entry;
use crate::state::AppState;
use crate::store::{CallEnd, CaseStatusView, StepKind, StoreError};
use crate::twiml;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Call statuses after which the call is over.
const FINAL_STATUSES: &[&str] = &["completed", "busy", "failed", "no-answer", "canceled"];

/// `POST /twilio/voice`: a call comes in.
pub async fn incoming(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::FirstContact, greet(&app, &call)).await
}

/// What every caller hears before anything is recorded: the emergency number first, then the
/// office's name, and that the report is recorded, by whom, what for and where the full privacy
/// notice is. The greeting says them inside the main menu's `<Gather>`, so a caller who knows
/// the keys can skip them; the apology says them as they are.
pub fn notices(s: &Speaker<'_>) -> Vec<twiml::Prompt> {
    let phone = &s.app().config.phone;
    let office = [("office", phone.office_name.as_str())];
    // The configured notice is Spanish text; a recorded language plays its own recording.
    let privacy = match (&phone.privacy_notice, s.language()) {
        (Some(text), None) => vec![twiml::Prompt::Say(
            twiml::Response::new(&phone.voice).say_verb(text),
        )],
        _ => s.prompt(Key::Privacy, &office),
    };
    let mut prompts = s.prompt(Key::Emergency, &[]);
    prompts.extend(s.prompt(Key::Greeting, &office));
    prompts.extend(privacy);
    prompts
}

/// The notices as plain verbs, outside any `<Gather>` (for the apology at the first contact).
pub fn push_notices(s: &mut Speaker<'_>) {
    let prompts = notices(s);
    s.push_prompts(prompts);
}

/// The first menu's offer of the recorded languages, each in its own language ("Para náhuatl,
/// marque 7"), when any is installed.
fn language_offers(s: &Speaker<'_>) -> Vec<twiml::Prompt> {
    let audio_base = s.app().config.public_url("/audio/prompts");
    s.app()
        .prompts
        .languages()
        .iter()
        .map(|l| {
            twiml::Prompt::Play(twiml::Play {
                loop_count: None,
                url: format!("{audio_base}/{}/choose.wav", l.code),
            })
        })
        .collect()
}

async fn greet(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let detail = call
        .caller
        .number()
        .map_or("caller ID withheld", |_| "caller ID present");
    // The caller's open case comes with the step's write (one trip to the database).
    let open_case = call.log_first(app, "incoming", Some(detail)).await;
    // An admin's change of the hours or the transfer number reaches the next call.
    app.refresh_settings().await;
    let mut s = Speaker::new(app);
    let mut prompts = language_offers(&s);
    prompts.extend(notices(&s));
    greeting_menu(&mut s, open_case, prompts);
    Ok(s.finish())
}

/// The greeting again, in the language the caller just chose with its key.
pub async fn greet_in(s: &mut Speaker<'_>, call: &VoiceCall) {
    let prompts = notices(s);
    let open_case = match call.caller.number() {
        Some(number) => match s.app().store.latest_open_case_of(number).await {
            Ok(case) => case,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up the caller's open cases");
                None
            }
        },
        None => None,
    };
    greeting_menu(s, open_case, prompts);
}

/// The notices, the caller's open case if any, and the main menu, in one `<Gather>`.
///
/// The open case is a courtesy: if the database could not tell, the caller still gets the
/// menu. Caller ID can be faked, so whoever calls from the number hears no more than the folio
/// and the status, never the category or the department (those come by SMS, which reaches the
/// real phone, or with the folio at the lookup).
fn greeting_menu(
    s: &mut Speaker<'_>,
    open_case: Option<CaseStatusView>,
    mut prompts: Vec<twiml::Prompt>,
) {
    if let Some(case) = open_case {
        let status = super::lookup::short_status(s.app(), &case);
        prompts.extend(s.prompt(
            Key::OpenCase,
            &[
                ("folio", &speech::digits(&case.folio)),
                ("status", &status),
                ("status_key", super::lookup::status_key(&case)),
            ],
        ));
        prompts.extend(super::lookup::promise_prompt(
            s,
            case.status,
            case.answer_by,
        ));
    }
    menu::push_main_menu_after(s, &Default::default(), prompts);
}

/// `POST /twilio/voice/status`: the call's status changed; at the end, its outcome is decided.
/// If that cannot be written, Twilio gets a 503 (the end of a call decides whether the office
/// owes a callback: it must not be lost quietly).
pub async fn status(State(app): State<AppState>, call: VoiceCall) -> Response {
    let status = call.form.get("CallStatus").unwrap_or("unknown");
    let duration = call
        .form
        .get("CallDuration")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| *d >= 0);
    // Logging first also makes the call's row if this is the first we hear of the call.
    call.log_kind(&app, "call_status", Some(status), StepKind::Callback)
        .await;
    if FINAL_STATUSES.contains(&status) {
        let end = CallEnd {
            call_sid: &call.sid,
            status,
            duration_seconds: duration,
            at: app.clock.now(),
        };
        if let Err(e) = app.store.finish_call(&end).await {
            app.store.saw(&e);
            tracing::error!(error = %e, status, ?duration, "could not record the end of the call; keeping it in the journal");
            if let Err(io) = app.journal.append(&Entry::call_end(&end)).await {
                tracing::error!(error = %io, "could not write the end of the call to the journal either");
                return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
            }
        }
    }
    Twiml::empty().into_response()
}

/// `POST /twilio/voice/fallback`: Twilio could not get an answer from the URL in `ErrorUrl`
/// (our service was down, slow or broken). Apologise as that step would have, keeping its state
/// (category, urgency), and take the report anyway if it was not taken yet. When the step that
/// failed was the `<Record>` action, the report is in this request (Twilio sends the failed
/// request's fields along): it is made here, or found if the failed request made it before it
/// broke, so the caller hears the folio instead of being asked to record again.
pub async fn fallback(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    let code = call.form.get("ErrorCode").unwrap_or("-").to_owned();
    let failed = call
        .form
        .get("ErrorUrl")
        .and_then(|u| url::Url::parse(u).ok());
    let (moment, query) = match &failed {
        Some(url) => (Moment::of_path(url.path()), StepQuery::parse(url.query())),
        None => (Moment::FirstContact, call.query.clone()),
    };
    call.log(&app, "fallback", Some(&format!("error {code}")))
        .await;
    let failed_step = failed
        .as_ref()
        .and_then(|u| super::Step::from_path(u.path()));
    if failed_step == Some(super::Step::Recorded) && call.form.get("RecordingUrl").is_some() {
        let recorded = VoiceCall {
            query: StepQuery {
                fallback: true,
                ..query.clone()
            },
            ..call.clone()
        };
        return super::report::recorded_in_fallback(&app, &recorded).await;
    }
    apology(&app, &query, moment)
}
