//! The ends of a call: the greeting, Twilio's call status callback, and the fallback URL.

use super::{Key, Speaker, Twiml, VoiceCall, answer, apology, menu, speech};
use crate::app::AppState;
use crate::store::{CallEnd, StepKind, StoreError};
use axum::extract::State;

/// Call statuses after which the call is over.
const FINAL_STATUSES: &[&str] = &["completed", "busy", "failed", "no-answer", "canceled"];

/// `POST /twilio/voice`: a call comes in.
pub async fn incoming(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, greet(&app, &call)).await
}

async fn greet(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let detail = call
        .caller
        .number()
        .map_or("caller ID withheld", |_| "caller ID present");
    call.log(app, "incoming", Some(detail)).await?;
    let phone = &app.config.phone;
    let mut s = Speaker::new(app);
    s.say(Key::Greeting, &[("office", &phone.office_name)])
        .say(Key::Emergency, &[]);
    match &phone.privacy_notice {
        Some(text) => s.say_text(text),
        None => s.say(Key::Privacy, &[("office", &phone.office_name)]),
    };
    if let Some(number) = call.caller.number() {
        if let Some(case) = app.store.latest_open_case_of(number).await? {
            let status = super::lookup::spoken_status(app, &case);
            s.say(
                Key::OpenCase,
                &[("folio", &speech::digits(&case.folio)), ("status", &status)],
            );
        }
    }
    menu::push_main_menu(&mut s, &Default::default());
    Ok(s.finish())
}

/// `POST /twilio/voice/status`: the call's status changed; at the end, its outcome is decided.
pub async fn status(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    let result: Result<(), StoreError> = async {
        let status = call.form.get("CallStatus").unwrap_or("unknown");
        let duration = call
            .form
            .get("CallDuration")
            .and_then(|d| d.parse::<i64>().ok())
            .filter(|d| *d >= 0);
        call.log_kind(&app, "call_status", Some(status), StepKind::Callback)
            .await?;
        if FINAL_STATUSES.contains(&status) {
            app.store
                .finish_call(&CallEnd {
                    call_sid: &call.sid,
                    status,
                    duration_seconds: duration,
                    at: app.clock.now(),
                })
                .await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        // Twilio does not retry status callbacks; the call's steps are already logged.
        tracing::error!(error = %e, "could not record the end of the call");
    }
    Twiml(crate::twiml::Response::new("").to_xml())
}

/// `POST /twilio/voice/fallback`: Twilio could not get an answer from the primary URL (our
/// service was down, slow or broken). Apologise and take the report anyway.
pub async fn fallback(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    let detail = call.form.get("ErrorCode").unwrap_or("-").to_owned();
    if let Err(e) = call.log(&app, "fallback", Some(&detail)).await {
        tracing::error!(error = %e, "could not log the fallback request");
    }
    apology(&app, &call.query)
}
