//! The main menu and the transfer to staff.

use super::{
    Key, MAX_FAILURES, Moment, Speaker, Step, StepQuery, Twiml, VoiceCall, answer, lookup, report,
};
use crate::state::AppState;
use crate::store::StoreError;
use crate::twiml::{Dial, Gather, Prompt};
use axum::extract::State;

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
    prompts.push(s.prompt(Key::MainMenu, &[]));
    if staff_available(s.app()) {
        prompts.push(s.prompt(Key::MainMenuStaff, &[]));
    }
    s.menu(
        Step::Main,
        query,
        Gather::keypad().num_digits(1).timeout(MENU_TIMEOUT),
        prompts,
    );
}

/// Whether "talk to staff" is on offer now: a transfer number is set and the office is open.
pub fn staff_available(app: &AppState) -> bool {
    app.config.phone.transfer_number.is_some()
        && app
            .config
            .phone
            .office_hours
            .is_open_at(app.clock.now().as_utc())
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
    let silent = call.digits().is_none();
    match next_try(&call.query) {
        Some(next) => {
            s.say(
                if silent {
                    Key::NoInput
                } else {
                    Key::InvalidOption
                },
                &[],
            );
            repeat(s, &next);
            if silent { "silence" } else { "invalid" }
        }
        None => {
            s.say(Key::TooManyFailures, &[]).hangup();
            "too many failures, goodbye"
        }
    }
}

/// `POST /twilio/voice/main`: the caller chose from the main menu (or said nothing).
pub async fn main(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, choose(&app, &call)).await
}

async fn choose(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::new(app);
    let detail = match call.digits() {
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
            let number = app.config.phone.transfer_number.as_ref().expect("checked");
            s.say(Key::Transfer, &[]);
            s.raw().dial(Dial {
                action: Some(app.config.public_url(Step::TransferDone.path())),
                method: Some("POST".to_owned()),
                timeout: Some(app.config.phone.transfer_timeout_seconds),
                caller_id: None,
                number: number.as_str().to_owned(),
            });
            "0: transfer"
        }
        Some("0") if app.config.phone.transfer_number.is_some() => {
            let hours = app.config.phone.office_hours.spoken_es();
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
    let mut s = Speaker::new(app);
    if status == "completed" {
        app.store.note_transferred(&call.sid).await?;
        s.hangup();
    } else {
        s.say(Key::TransferNoAnswer, &[]);
        report::push_category_menu(&mut s, &StepQuery::default()).await?;
    }
    call.log(app, "transfer_done", Some(status)).await;
    Ok(s.finish())
}

/// The log detail of a menu step: what was pressed and what it led to.
pub fn format_detail(call: &VoiceCall, outcome: &str) -> String {
    match call.digits() {
        Some(d) if !outcome.starts_with(d) => format!("{d}: {outcome}"),
        _ => outcome.to_owned(),
    }
}
