//! The main menu and the transfer to staff.
//!
//! A transfer is screened: when the staff phone answers, whoever answered hears "Llamada de la
//! línea ciudadana, marque 1 para tomarla" before being connected. Twilio reports a `<Dial>`
//! answered by a voicemail box as `completed`, like one answered by a person; only the key
//! tells them apart. No key (a voicemail, a pocket, a colleague who hung up) is a transfer not
//! taken, and the caller is offered to leave a report instead.

use super::listen::{Choice, Vocabulary};
use super::{
    Key, MAX_FAILURES, Moment, Speaker, Step, StepQuery, Twiml, VoiceCall, answer, lookup, report,
};
use crate::domain::{CallSid, CallerId};
use crate::state::AppState;
use crate::store::{Category, StepKind, StoreError};
use crate::twilio::WebhookForm;
use crate::twiml::{self, Dial, Gather, Number, Prompt};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

/// Seconds the staff member who answers has to press 1.
const SCREEN_TIMEOUT: u32 = 5;

/// The key that takes a transferred call.
const TAKE_CALL: &str = "1";

/// Seconds a caller has to press a key in a one-key menu.
pub const MENU_TIMEOUT: u32 = 6;

/// The main menu, with "0, staff" only when someone can answer.
pub fn push_main_menu(s: &mut Speaker<'_>, query: &StepQuery) {
    push_main_menu_after(s, query, Vec::new());
}

/// The main menu, inside the same `<Gather>` as `lead` (the greeting's notices): a key pressed
/// while they are said interrupts them.
pub fn push_main_menu_after(s: &mut Speaker<'_>, query: &StepQuery, lead: Vec<Prompt>) {
    let mut prompts = lead;
    let listens = s.listens();
    prompts.extend(s.prompt(
        if listens {
            Key::MainMenuSpeech
        } else {
            Key::MainMenu
        },
        &[],
    ));
    let staff = staff_available(s.app());
    if staff {
        prompts.extend(s.prompt(Key::MainMenuStaff, &[]));
    }
    // The hints name the categories by their phrases (the menu is said without reading the
    // categories); the answer recognises their names too.
    let prompts_catalogue = &s.app().prompts;
    let hints =
        main_vocabulary(s.app(), staff, &[]).option("1/", prompts_catalogue.all_category_phrases());
    let gather = s.choices(Gather::keypad().num_digits(1).timeout(MENU_TIMEOUT), &hints);
    s.menu(Step::Main, query, gather, prompts);
}

/// What the main menu understands: report, lookup, staff (when on offer), and any category by
/// name or phrase, which starts that report at once (`1/` and its key).
fn main_vocabulary(app: &AppState, staff: bool, categories: &[Category]) -> Vocabulary {
    let p = &app.prompts;
    let v = Vocabulary::default()
        .entry("1", p, Key::SpeechReport)
        .entry("2", p, Key::SpeechLookup);
    let v = if staff {
        v.entry("0", p, Key::SpeechStaff)
    } else {
        v
    };
    v.categories("1/", categories, p)
}

/// Whether "talk to staff" is on offer now: a transfer number is set and the office is open.
pub fn staff_available(app: &AppState) -> bool {
    app.live.transfer_number().is_some()
        && app.live.office_hours().is_open_at(app.clock.now().as_utc())
}

/// After a wrong key or a silence at a menu: the state for the next try, or `None` when that was
/// the last one.
pub fn next_try(query: &StepQuery) -> Option<StepQuery> {
    let tries = query.tries + 1;
    (tries < MAX_FAILURES).then(|| query.with_tries(tries))
}

/// A wrong key or silence at some menu: say so and repeat it, or say goodbye after the third.
/// `repeat` re-renders the menu with the new state. Returns the log detail.
pub fn retry_or_goodbye(
    s: &mut Speaker<'_>,
    call: &VoiceCall,
    repeat: impl FnOnce(&mut Speaker<'_>, &StepQuery),
) -> &'static str {
    match next_try(&call.query) {
        Some(next) => {
            let (key, detail) = why_again(call);
            s.say(key, &[]);
            repeat(s, &next);
            detail
        }
        None => {
            s.say(Key::TooManyFailures, &[]).hangup();
            "too many failures, goodbye"
        }
    }
}

/// Why a menu is asked again, and the log's word for it: nothing pressed or said, words that
/// pick no option, or a key that is none.
pub fn why_again(call: &VoiceCall) -> (Key, &'static str) {
    match (call.digits(), call.said()) {
        (None, None) => (Key::NoInput, "silence"),
        (None, Some(_)) => (Key::SpeechUnclear, "not understood"),
        (Some(_), _) => (Key::InvalidOption, "invalid"),
    }
}

/// `POST /twilio/voice/main`: the caller chose from the main menu (or said nothing).
pub async fn main(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, choose(&app, &call)).await
}

async fn choose(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::for_query(app, &call.query);
    // A recorded language's key (offered at the greeting): the greeting again, in it.
    let chosen_language = match (s.language(), call.digits()) {
        (None, Some(d)) => app.prompts.languages().iter().find(|l| l.key == d).cloned(),
        _ => None,
    };
    if let Some(language) = chosen_language {
        let detail = format!("{}: language {}", language.key, language.code);
        let mut s = Speaker::in_language(app, language);
        super::calls::greet_in(&mut s, call).await;
        call.log(app, "main_menu", Some(&detail)).await;
        return Ok(s.finish());
    }
    // Speech is matched against the categories too: "no hay agua" starts that report.
    let choice = match call.said() {
        Some(_) if call.digits().is_none() => {
            let categories = app.store.phone_menu_categories().await?;
            let vocabulary = main_vocabulary(app, staff_available(app), &categories);
            let choice = call.choice(&vocabulary);
            if let Choice::Key(key) = &choice {
                let chosen = key
                    .strip_prefix("1/")
                    .and_then(|d| categories.iter().find(|c| c.digit.as_deref() == Some(d)));
                if let Some(category) = chosen {
                    report::begin_report(&mut s, category);
                    let detail = format_detail(call, &format!("1: report, {}", category.code));
                    call.log(app, "main_menu", Some(&detail)).await;
                    return Ok(s.finish());
                }
            }
            choice
        }
        _ => call.choice(&Vocabulary::default()),
    };
    let detail = match choice.key() {
        Some("1") => {
            report::push_category_menu(&mut s, &StepQuery::default()).await?;
            "1: report"
        }
        Some("2") => match lookup::refusal(app, call).await? {
            Some(refused) => {
                lookup::push_refusal(&mut s, refused);
                refused.menu_detail()
            }
            None => {
                lookup::push_lookup_prompt(&mut s, &StepQuery::default());
                "2: lookup"
            }
        },
        Some("0") if staff_available(app) => {
            let number = app.live.transfer_number().expect("checked");
            s.say(Key::Transfer, &[]);
            s.raw().dial(Dial {
                action: Some(app.config.public_url(Step::TransferDone.path())),
                method: Some("POST".to_owned()),
                timeout: Some(app.config.phone.transfer_timeout_seconds),
                caller_id: None,
                number: Number {
                    url: Some(app.config.public_url(Step::Screen.path())),
                    method: Some("POST".to_owned()),
                    phone: number.as_str().to_owned(),
                },
            });
            "0: transfer"
        }
        Some("0") if app.live.transfer_number().is_some() => {
            let hours = app.live.office_hours().spoken_es();
            s.say(Key::TransferClosed, &[("hours", &hours)]);
            push_main_menu(&mut s, &call.query);
            "0: outside office hours"
        }
        _ => retry_or_goodbye(&mut s, call, push_main_menu),
    };
    call.log(app, "main_menu", Some(&format_detail(call, detail)))
        .await;
    Ok(s.finish())
}

/// `POST /twilio/voice/transfer-done`: the `<Dial>` to staff ended.
pub async fn transfer_done(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, after_transfer(&app, &call)).await
}

async fn after_transfer(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let status = call.form.get("DialCallStatus").unwrap_or("unknown");
    let mut s = Speaker::for_query(app, &call.query);
    // Taken only if someone pressed the key at the screening: `completed` alone may be a
    // voicemail box that answered.
    let taken = status == "completed"
        && app
            .store
            .call(&call.sid)
            .await?
            .is_some_and(|c| c.transferred);
    let detail = if taken {
        s.hangup();
        "completed, taken by staff".to_owned()
    } else {
        s.say(Key::TransferNoAnswer, &[]);
        report::push_category_menu(&mut s, &StepQuery::default()).await?;
        match status {
            "completed" => "completed, not taken (no key at the screening)".to_owned(),
            other => other.to_owned(),
        }
    };
    call.log(app, "transfer_done", Some(&detail)).await;
    Ok(s.finish())
}

/// The caller's call, from a request about the staff leg of its transfer (Twilio sends the
/// leg's own `CallSid` and the caller's as `ParentCallSid`).
fn parent_call(form: &WebhookForm) -> Option<VoiceCall> {
    let sid = form.get("ParentCallSid").and_then(CallSid::parse)?;
    Some(VoiceCall {
        sid,
        caller: CallerId::parse(None),
        to: None,
        form: form.clone(),
        query: StepQuery::default(),
    })
}

/// `POST /twilio/voice/screen`: staff answered the transfer. They hear who calls and take the
/// call with 1; with no key the leg hangs up and the caller is offered to leave a report.
pub async fn screen(State(app): State<AppState>, Extension(form): Extension<WebhookForm>) -> Twiml {
    let mut s = Speaker::new(&app);
    let Some(parent) = parent_call(&form) else {
        tracing::warn!("screening request without a ParentCallSid; hanging up the staff leg");
        s.hangup();
        return s.finish();
    };
    parent
        .log_kind(
            &app,
            "transfer_screen",
            Some("staff answered"),
            StepKind::Callback,
        )
        .await;
    let offer = s.prompt(Key::ScreenOffer, &[]);
    let mut prompts = offer.clone();
    prompts.push(twiml::Prompt::Pause(Default::default()));
    prompts.extend(offer);
    let url = app.config.public_url(Step::ScreenAnswer.path());
    s.raw().gather(Gather {
        action: Some(url),
        children: prompts,
        ..Gather::keypad().num_digits(1).timeout(SCREEN_TIMEOUT)
    });
    s.hangup();
    s.finish()
}

/// `POST /twilio/voice/screen-answer`: the key pressed at the screening. 1 takes the call (an
/// empty answer connects the two); anything else declines it.
pub async fn screen_answer(
    State(app): State<AppState>,
    Extension(form): Extension<WebhookForm>,
) -> axum::response::Response {
    match take_or_decline(&app, &form).await {
        Ok(twiml) => twiml.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not note the transfer as taken");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn take_or_decline(app: &AppState, form: &WebhookForm) -> Result<Twiml, StoreError> {
    let mut s = Speaker::new(app);
    let Some(parent) = parent_call(form) else {
        s.hangup();
        return Ok(s.finish());
    };
    let digits = form.get("Digits");
    if digits == Some(TAKE_CALL) {
        // Written before the two are connected: if it cannot be, the leg hangs up (the safety
        // net) and the caller can still leave a report.
        app.store.note_transferred(&parent.sid).await?;
        parent
            .log_kind(app, "transfer_screen", Some("1: taken"), StepKind::Callback)
            .await;
    } else {
        let detail = format!("{}: declined", digits.unwrap_or("-"));
        parent
            .log_kind(app, "transfer_screen", Some(&detail), StepKind::Callback)
            .await;
        s.hangup();
    }
    Ok(s.finish())
}

/// The log detail of a menu step: what was pressed (or said, and how surely) and what it led to.
pub fn format_detail(call: &VoiceCall, outcome: &str) -> String {
    match (call.digits(), call.said()) {
        (Some(d), _) if !outcome.starts_with(d) => format!("{d}: {outcome}"),
        (None, Some(said)) => format!(
            "said {said:?} ({}): {outcome}",
            call.form.get("Confidence").unwrap_or("?")
        ),
        _ => outcome.to_owned(),
    }
}
