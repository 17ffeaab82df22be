//! The `send_sms` job: one message of the outbox goes to Twilio, and its outcome is recorded on
//! it whatever happens.
//!
//! The template is rendered now, from the case as it is now (`messages::outbound`). A message
//! already sent, refused or kept is left alone, so a repeated job sends nothing twice; and
//! before a second attempt sends, Twilio's list of messages to the number is read, so that a
//! message Twilio took while our first attempt died (or timed out) before writing down its sid
//! is adopted rather than sent again. A citizen
//! who answered BAJA gets nothing; demo mode keeps the message in the outbox, rendered but not
//! sent. Twilio's answer decides the rest: accepted; retried later (429, 5xx, time-outs);
//! rejected for good (a permanent error code; 21610, a number that opted out with Twilio, is
//! also recorded as opted out); or, on bad credentials, an alert for staff and a dead job that
//! `atiende jobs retry` sends once the configuration is fixed.

use super::Outcome;
use crate::domain::MessageStatus;
use crate::domain::phone::mask_numbers;
use crate::messages::outbound::render_outbound;
use crate::state::AppState;
use crate::store::{MessageUpdate, OutboundMessage, StoreError};
use crate::twilio::RestError;
use crate::twilio::rest::SentMessage;
use crate::twilio::rest::{BAD_CREDENTIALS, UNSUBSCRIBED_RECIPIENT};

/// How many of the latest messages to a number are looked at for one already taken.
const LOOK_BACK: u32 = 20;

/// Runs a `send_sms` job, on its attempt number `attempt`. Its payload is the message's id.
pub async fn run(app: &AppState, payload: &str, attempt: i64) -> Outcome {
    let Ok(message_id) = payload.parse::<i64>() else {
        return Outcome::Dead(format!("bad payload {payload:?}"));
    };
    match send(app, message_id, attempt).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Retry(format!("store: {e}")),
    }
}

async fn send(app: &AppState, message_id: i64, attempt: i64) -> Result<Outcome, StoreError> {
    let store = &app.store;
    let now = || app.clock.now();
    let Some(m) = store.outbound_message(message_id).await? else {
        return Ok(Outcome::Dead(format!(
            "message {message_id} does not exist"
        )));
    };
    // Sent, refused or kept already: a repeated job does nothing twice.
    if m.status != MessageStatus::Pending {
        return Ok(Outcome::Done);
    }
    let Some(to) = m.to_number.clone() else {
        return Ok(Outcome::Dead("the message has no recipient".into()));
    };
    let Some(body) = render_outbound(&app.prompts, &m) else {
        return Ok(Outcome::Dead(format!(
            "cannot render template {:?}",
            m.template
        )));
    };
    if store.is_opted_out(&to).await? {
        let outcome = MessageUpdate::new(MessageStatus::OptedOut, &body);
        store.update_message(m.id, &outcome, now()).await?;
        return Ok(Outcome::Done);
    }
    if app.config.demo_mode() {
        tracing::info!(message_id, "demo mode: SMS kept in the outbox, not sent");
        let outcome = MessageUpdate {
            error_message: Some("demo mode"),
            ..MessageUpdate::new(MessageStatus::NotSent, &body)
        };
        store.update_message(m.id, &outcome, now()).await?;
        return Ok(Outcome::Done);
    }
    // A previous attempt may have reached Twilio and died (or timed out) before its answer was
    // written down: Twilio's API has no idempotency key, so ask it before sending again.
    if attempt > 1
        && let Some(taken) = already_taken(app, &to, &body).await
    {
        tracing::info!(
            message_id,
            "Twilio already has this message from an earlier attempt; not sent again"
        );
        let outcome = MessageUpdate {
            twilio_sid: Some(&taken.sid),
            segments: taken.segments(),
            ..MessageUpdate::new(
                MessageStatus::from_code(&taken.status).unwrap_or(MessageStatus::Queued),
                &body,
            )
        };
        store.update_message(m.id, &outcome, now()).await?;
        return Ok(Outcome::Done);
    }
    let callback = app
        .config
        .public_url(&format!("/twilio/messaging/status?m={}", m.id));
    match app.twilio.send_sms(&to, &body, &callback).await {
        Ok(sent) => {
            // Twilio answers "queued" or "accepted"; a status it adds later counts as queued.
            let status = MessageStatus::from_code(&sent.status).unwrap_or(MessageStatus::Queued);
            let outcome = MessageUpdate {
                twilio_sid: Some(&sent.sid),
                segments: sent.segments(),
                ..MessageUpdate::new(status, &body)
            };
            store.update_message(m.id, &outcome, now()).await?;
            Ok(Outcome::Done)
        }
        Err(e) => Ok(failed(app, &m, &body, &e).await?),
    }
}

/// The message Twilio already took with this body for `to`, among the latest it lists, that no
/// other message of ours claims. A failed lookup is logged and counts as none: the message is
/// sent (at least once, as before).
async fn already_taken(app: &AppState, to: &str, body: &str) -> Option<SentMessage> {
    let listed = match app.twilio.messages_to(to, LOOK_BACK).await {
        Ok(listed) => listed,
        Err(e) => {
            let error = mask_numbers(&e.to_string());
            tracing::warn!(error, "could not list Twilio's messages; sending again");
            return None;
        }
    };
    for message in listed {
        if message.body.as_deref() != Some(body) {
            continue;
        }
        // The same text sent for another message of ours (the same notice twice) is not this one.
        match app.store.message_by_twilio_sid(&message.sid).await {
            Ok(None) => return Some(message.as_sent()),
            Ok(Some(_)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not look up a message; sending again");
                return None;
            }
        }
    }
    None
}

/// Records why Twilio did not take a message, and what the job does next.
async fn failed(
    app: &AppState,
    m: &OutboundMessage,
    body: &str,
    e: &RestError,
) -> Result<Outcome, StoreError> {
    let store = &app.store;
    let now = || app.clock.now();
    // Twilio's error texts quote the number: keep it out of logs and tables.
    let error = mask_numbers(&e.to_string());
    if e.twilio_code() == Some(BAD_CREDENTIALS) {
        tracing::error!(
            error,
            "TWILIO CREDENTIALS REJECTED (error 20003): no SMS can be sent until TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are fixed"
        );
        store
            .raise_alert(
                "twilio_credentials",
                "Twilio rechazó las credenciales (error 20003): no se pueden enviar mensajes. Revise TWILIO_ACCOUNT_SID y TWILIO_AUTH_TOKEN.",
                now(),
            )
            .await?;
        // Trying again cannot help until someone fixes the credentials; then
        // `atiende jobs retry ID` sends it: the message stays pending.
        let outcome = MessageUpdate {
            error_code: Some("20003"),
            error_message: Some(&error),
            ..MessageUpdate::new(MessageStatus::Pending, body)
        };
        store.update_message(m.id, &outcome, now()).await?;
        return Ok(Outcome::Dead(error));
    }
    if e.is_retryable() {
        return Ok(Outcome::retry_rest(error, e));
    }
    let code = e.twilio_code().map(|c| c.to_string());
    // 21610: the number answered STOP (or another opt-out word) to Twilio itself, which now
    // refuses every message to it. Record it like a BAJA, so nothing more is tried until the
    // citizen answers ALTA or START.
    if e.twilio_code() == Some(UNSUBSCRIBED_RECIPIENT)
        && let Some(to) = m.to_number.as_deref()
    {
        store.opt_out(to, "21610", now()).await?;
    }
    tracing::warn!(
        message_id = m.id,
        error,
        "SMS refused by Twilio; not retried"
    );
    let outcome = MessageUpdate {
        error_code: code.as_deref(),
        error_message: Some(&error),
        ..MessageUpdate::new(MessageStatus::Rejected, body)
    };
    store.update_message(m.id, &outcome, now()).await?;
    Ok(Outcome::Done)
}
