//! Text messages from citizens (`/twilio/messaging`), and Twilio's delivery reports on ours
//! (`/twilio/messaging/status`).
//!
//! An incoming SMS or WhatsApp message is logged, then answered in one short GSM-7 message
//! (TwiML `<Message>`): a folio ("123456", "folio 123456", "FOLIO: 123 456") gets the case's
//! status; BAJA or STOP records the opt-out (no more messages from us), ALTA or START lifts it;
//! anything else gets a short help text. Like on the phone, nothing personal is ever sent back.

use super::gsm7;
use super::outbound::{self as sms, render};
use crate::domain::{
    CallerId, CaseStatus, Channel, Folio, MessageStatus, MessageTemplate, Timestamp,
};
use crate::prompts::Key;
use crate::state::AppState;
use crate::store::{CaseStatusView, InboundMessage, StoreError};
use crate::twilio::WebhookForm;
use crate::twiml::{Response, Twiml};
use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Extension, Router};

/// Failed folio lookups by SMS per number and hour before lookups are refused (guessing guard),
/// and lookups of any kind.
const MAX_FAILED_SMS_LOOKUPS: i64 = 3;
const MAX_SMS_LOOKUPS: i64 = 20;

/// Words that stop our messages, and words that allow them again (folded, upper case).
const OPT_OUT_WORDS: &[&str] = &[
    "BAJA",
    "STOP",
    "ALTO",
    "CANCELAR",
    "STOPALL",
    "UNSUBSCRIBE",
    "END",
    "QUIT",
];
const OPT_IN_WORDS: &[&str] = &["ALTA", "START", "UNSTOP", "INICIAR"];

/// The messaging routes (under the signature check).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/twilio/messaging", post(incoming))
        .route("/twilio/messaging/status", post(delivery_status))
}

/// What a citizen's message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    OptOut(String),
    OptIn,
    /// Digits that should be a folio (valid or not).
    Folio(String),
    Other,
}

impl Intent {
    /// Reads a message body.
    pub fn parse(body: &str) -> Intent {
        let text = gsm7::fold(body).to_uppercase();
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if let [word] = words.as_slice() {
            if OPT_OUT_WORDS.contains(word) {
                return Intent::OptOut((*word).to_owned());
            }
            if OPT_IN_WORDS.contains(word) {
                return Intent::OptIn;
            }
        }
        // A folio: digits, perhaps split by spaces or dashes, perhaps after "FOLIO", "NO" or "#".
        let rest: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| {
                !matches!(
                    *w,
                    "FOLIO" | "NO" | "NUM" | "NUMERO" | "MI" | "ES" | "EL" | "DE"
                )
            })
            .collect();
        if !rest.is_empty() && rest.iter().all(|w| w.chars().all(|c| c.is_ascii_digit())) {
            let digits: String = rest.concat();
            if (4..=12).contains(&digits.len()) {
                return Intent::Folio(digits);
            }
        }
        Intent::Other
    }
}

/// `POST /twilio/messaging`: a message came in.
pub async fn incoming(
    State(app): State<AppState>,
    Extension(form): Extension<WebhookForm>,
) -> Twiml {
    let (template, body, case_id) = match answer(&app, &form).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(error = %e, "could not handle an incoming message; answering with the help text");
            (MessageTemplate::Help, help_text(&app, &form), None)
        }
    };
    let channel = channel_of(form.get("From"));
    let to = CallerId::parse(form.get("From"));
    let to = to.number().map(|n| n.as_str());
    if let Err(e) = app
        .store
        .log_reply(channel, to, case_id, template, &body, app.clock.now())
        .await
    {
        tracing::error!(error = %e, "could not log the reply");
    }
    let mut r = Response::new("");
    r.message(&body);
    Twiml(r.to_xml())
}

fn channel_of(from: Option<&str>) -> Channel {
    if from.is_some_and(|f| f.starts_with("whatsapp:")) {
        Channel::Whatsapp
    } else {
        Channel::Sms
    }
}

/// Logs the message and decides the reply: `(template, text, case)`.
async fn answer(
    app: &AppState,
    form: &WebhookForm,
) -> Result<(MessageTemplate, String, Option<i64>), StoreError> {
    let store = &app.store;
    let now = app.clock.now();
    let from_raw = form.get("From");
    let from = CallerId::parse(from_raw);
    let number = from.number().map(|n| n.as_str().to_owned());
    let body = form.get("Body").unwrap_or("");
    let intent = Intent::parse(body);
    // The guessing guard: a few failed lookups, or many lookups, in an hour from one number
    // end lookups by SMS for that number for a while.
    let refused = match (&intent, &number) {
        (Intent::Folio(_), Some(n)) => {
            let since = Timestamp::from_utc(now.as_utc() - chrono::Duration::hours(1));
            let (failed, all) = store.recent_sms_lookups(n, since).await?;
            failed >= MAX_FAILED_SMS_LOOKUPS || all >= MAX_SMS_LOOKUPS
        }
        _ => false,
    };
    let found = match &intent {
        Intent::Folio(digits) if !refused => match Folio::parse(digits) {
            Ok(folio) => Some((folio.clone(), store.case_status_by_folio(&folio).await?)),
            Err(_) => None,
        },
        _ => None,
    };
    let case = match &found {
        Some((folio, Some(_))) => store.case_by_folio(folio).await?,
        _ => None,
    };
    let case_id = case.as_ref().map(|c| c.id);
    // The department's summary may name a place; it goes only to the number that reported.
    let own_case = case
        .as_ref()
        .is_some_and(|c| number.is_some() && (c.sms_number == number || c.caller_number == number));
    store
        .log_inbound_message(&InboundMessage {
            channel: channel_of(from_raw),
            from_number: number.as_deref(),
            to_number: form.get("To"),
            body,
            twilio_sid: form.get("MessageSid"),
            case_id,
            at: now,
        })
        .await?;
    let p = &app.prompts;
    Ok(match intent {
        Intent::OptOut(word) => {
            if let Some(n) = &number {
                store.opt_out(n, &word, now).await?;
            }
            tracing::info!(keyword = word, "a citizen opted out of messages");
            (
                MessageTemplate::OptedOut,
                render(p, Key::SmsOptedOut, &[], None),
                None,
            )
        }
        Intent::OptIn => {
            if let Some(n) = &number {
                store.opt_in(n).await?;
            }
            (
                MessageTemplate::OptedIn,
                render(p, Key::SmsOptedIn, &[], None),
                None,
            )
        }
        Intent::Folio(_) if refused => (
            MessageTemplate::StatusTooMany,
            render(p, Key::SmsStatusTooMany, &[], None),
            None,
        ),
        Intent::Folio(digits) => match found {
            None => (
                MessageTemplate::StatusInvalid,
                render(p, Key::SmsStatusInvalid, &[("folio", &digits)], None),
                None,
            ),
            Some((folio, None)) => (
                MessageTemplate::StatusUnknown,
                render(p, Key::SmsStatusUnknown, &[("folio", folio.as_str())], None),
                None,
            ),
            Some((_, Some(view))) => (
                MessageTemplate::StatusReply,
                status_reply(app, &view, own_case),
                case_id,
            ),
        },
        Intent::Other => (MessageTemplate::Help, help_text(app, form), None),
    })
}

/// The help text, with the office's number: the one the citizen wrote to, else ours.
fn help_text(app: &AppState, form: &WebhookForm) -> String {
    let ours = app.config.twilio.as_ref().map(|t| t.phone_number.clone());
    let number = match CallerId::parse(form.get("To")) {
        CallerId::Known(n) => Some(n),
        CallerId::Withheld => ours,
    };
    let phone = number.map_or_else(
        || "este mismo numero".to_owned(),
        |n| n.national_digits().to_owned(),
    );
    render(&app.prompts, Key::SmsHelp, &[("phone", &phone)], None)
}

/// "Folio 100014, alumbrado publico: canalizado a Direccion de ... Ultimo cambio: 27/11/2026."
fn status_reply(app: &AppState, view: &CaseStatusView, with_summary: bool) -> String {
    let department = sms::department_name(view.department_name.as_deref());
    let status = app.prompts.text(
        Key::sms_status(view.status, view.closure_reason),
        &[("department", department)],
    );
    let category = sms::category_name(view.category_name.as_deref());
    let date = sms::short_date(view.status_changed_at);
    let done = with_summary && matches!(view.status, CaseStatus::Attended | CaseStatus::Closed);
    match (done, view.action_summary.as_deref()) {
        (true, Some(summary)) => render(
            &app.prompts,
            Key::SmsStatusReplyAction,
            &[
                ("folio", &view.folio),
                ("category", &category),
                ("status", &status),
                ("date", &date),
                ("summary", summary),
            ],
            Some("summary"),
        ),
        _ => render(
            &app.prompts,
            Key::SmsStatusReply,
            &[
                ("folio", &view.folio),
                ("category", &category),
                ("status", &status),
                ("date", &date),
            ],
            None,
        ),
    }
}

/// The `m` (our message id) that we put in each StatusCallback URL.
#[derive(Debug, serde::Deserialize)]
pub struct StatusQuery {
    m: Option<String>,
}

/// `POST /twilio/messaging/status`: Twilio's delivery report on a message we sent.
pub async fn delivery_status(
    State(app): State<AppState>,
    Query(query): Query<StatusQuery>,
    Extension(form): Extension<WebhookForm>,
) -> Twiml {
    let sid = form.get("MessageSid").or(form.get("SmsSid"));
    let status = form.get("MessageStatus").or(form.get("SmsStatus"));
    let message_id = query.m.and_then(|m| m.parse::<i64>().ok());
    let known = status.and_then(MessageStatus::from_code);
    if known.is_none() {
        tracing::warn!(
            status,
            "delivery report with a status we do not know; ignored"
        );
    }
    if let (Some(sid), Some(status)) = (sid, known) {
        let result = app
            .store
            .record_delivery_status(
                sid,
                message_id,
                status,
                form.get("ErrorCode"),
                app.clock.now(),
            )
            .await;
        match result {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                message_sid = sid,
                "delivery report for a message we do not know"
            ),
            Err(e) => tracing::error!(error = %e, "could not record a delivery report"),
        }
    }
    Twiml::empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents() {
        assert_eq!(Intent::parse("baja"), Intent::OptOut("BAJA".into()));
        assert_eq!(Intent::parse(" STOP "), Intent::OptOut("STOP".into()));
        assert_eq!(Intent::parse("Alta"), Intent::OptIn);
        assert_eq!(Intent::parse("100014"), Intent::Folio("100014".into()));
        assert_eq!(
            Intent::parse("Folio: 100 014"),
            Intent::Folio("100014".into())
        );
        assert_eq!(
            Intent::parse("mi folio es el 100-014"),
            Intent::Folio("100014".into())
        );
        assert_eq!(
            Intent::parse("folio #100014"),
            Intent::Folio("100014".into())
        );
        assert_eq!(
            Intent::parse("hola, hay una fuga en mi calle"),
            Intent::Other
        );
        assert_eq!(Intent::parse("quiero darme de baja"), Intent::Other);
        assert_eq!(Intent::parse(""), Intent::Other);
    }
}
