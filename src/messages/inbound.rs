//! Text messages from citizens (`/twilio/messaging`), and Twilio's delivery reports on ours
//! (`/twilio/messaging/status`).
//!
//! An incoming SMS or WhatsApp message is logged, then answered in one short GSM-7 message
//! (TwiML `<Message>`): a folio ("123456", "folio 123456", "FOLIO: 123 456") gets the case's
//! status; BAJA, STOP or another of Twilio's opt-out words records the opt-out (no more messages
//! from us), ALTA, START, YES or UNSTOP lifts it; AYUDA or HELP, and anything else, gets a short
//! help text. Like on the phone, nothing personal is ever sent back.

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

/// Automatic replies to one number in an hour, at most: past them a message is still read and
/// acted on (an opt-out, a folio looked up), but not answered, so that a loop with another
/// automaton, or someone flooding the line, costs nothing.
pub const MAX_REPLIES_PER_NUMBER_HOUR: i64 = 10;

/// Words that stop our messages, and words that allow them again (folded, upper case): ours in
/// Spanish, and Twilio's standard set, which Twilio itself honours on long codes and Messaging
/// Services (so we must too, or our records would disagree with what Twilio lets through).
const OPT_OUT_WORDS: &[&str] = &[
    "BAJA",
    "ALTO",
    "CANCELAR",
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
];
const OPT_IN_WORDS: &[&str] = &["ALTA", "INICIAR", "START", "YES", "UNSTOP"];
/// Words that ask for the help text (Twilio's HELP and INFO, and AYUDA).
const HELP_WORDS: &[&str] = &["AYUDA", "HELP", "INFO"];

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
    /// AYUDA or HELP: the help text.
    Help,
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
            if HELP_WORDS.contains(word) {
                return Intent::Help;
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

/// Our answer to a citizen's message: its template, its text, and the case it is about.
struct Reply {
    template: MessageTemplate,
    text: String,
    case_id: Option<i64>,
}

impl Reply {
    fn new(template: MessageTemplate, text: String) -> Reply {
        Reply {
            template,
            text,
            case_id: None,
        }
    }
}

/// `POST /twilio/messaging`: a message came in.
pub async fn incoming(
    State(app): State<AppState>,
    Extension(form): Extension<WebhookForm>,
) -> Twiml {
    // A message Twilio sends again (a retry after a time-out, a replay): answered as it was the
    // first time, and acted on only once (no second lookup counted, no second reply logged).
    if let Some(sid) = form.get("MessageSid") {
        match app.store.earlier_reply(sid).await {
            Ok(Some(earlier)) => {
                tracing::info!(message_sid = sid, "a message seen before; answered as then");
                let mut r = Response::new("");
                if let Some(text) = earlier {
                    r.message(&text);
                }
                return Twiml(r.to_xml());
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not check whether the message was seen before")
            }
        }
    }
    let reply = match answer(&app, &form).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(error = %e, "could not handle an incoming message; answering with the help text");
            Reply::new(MessageTemplate::Help, help_text(&app, &form))
        }
    };
    let channel = channel_of(form.get("From"));
    let to = CallerId::parse(form.get("From"));
    let to = to.number().map(|n| n.as_str());
    if let Some(why) = no_reply(&app, &form, to).await {
        tracing::info!(why, "incoming message read; no automatic reply");
        return Twiml::empty();
    }
    let logged = app
        .store
        .log_reply(
            channel,
            to,
            reply.case_id,
            reply.template,
            &reply.text,
            form.get("MessageSid"),
            app.clock.now(),
        )
        .await;
    if let Err(e) = logged {
        tracing::error!(error = %e, "could not log the reply");
    }
    let mut r = Response::new("");
    r.message(&reply.text);
    Twiml(r.to_xml())
}

/// Why an incoming message gets no automatic reply, if it gets none: a sender that is not a
/// phone number (a short code, an alphanumeric sender), our own number (a loop), or a number
/// answered [`MAX_REPLIES_PER_NUMBER_HOUR`] times in the last hour.
async fn no_reply(app: &AppState, form: &WebhookForm, from: Option<&str>) -> Option<&'static str> {
    let Some(from) = from else {
        return Some("the sender is not a phone number (a short code or a name)");
    };
    let ours = app
        .config
        .twilio
        .as_ref()
        .and_then(|t| t.phone_number.as_ref())
        .map(|n| n.as_str());
    let to = CallerId::parse(form.get("To"));
    if Some(from) == ours || Some(from) == to.number().map(|n| n.as_str()) {
        return Some("the sender is our own number");
    }
    let since = Timestamp::from_utc(app.clock.now().as_utc() - chrono::Duration::hours(1));
    match app.store.recent_replies(from, since).await {
        Ok(n) if n >= MAX_REPLIES_PER_NUMBER_HOUR => {
            Some("the hourly cap of replies to the number")
        }
        Ok(_) => None,
        // The cap cannot be checked: answer (one reply is cheaper than a citizen left unanswered).
        Err(e) => {
            tracing::warn!(error = %e, "could not count the replies to the number");
            None
        }
    }
}

fn channel_of(from: Option<&str>) -> Channel {
    if from.is_some_and(|f| f.starts_with("whatsapp:")) {
        Channel::Whatsapp
    } else {
        Channel::Sms
    }
}

/// Logs the message, does what it asks, and decides the reply.
async fn answer(app: &AppState, form: &WebhookForm) -> Result<Reply, StoreError> {
    let now = app.clock.now();
    let from = CallerId::parse(form.get("From"));
    let number = from.number().map(|n| n.as_str());
    let body = form.get("Body").unwrap_or("");
    let intent = Intent::parse(body);
    let lookup = match &intent {
        Intent::Folio(digits) => Some(look_up(app, digits, number, now).await?),
        _ => None,
    };
    let case_id = match &lookup {
        Some(Lookup::Found { case_id, .. }) => *case_id,
        _ => None,
    };
    app.store
        .log_inbound_message(&InboundMessage {
            channel: channel_of(form.get("From")),
            from_number: number,
            to_number: form.get("To"),
            body,
            twilio_sid: form.get("MessageSid"),
            case_id,
            at: now,
        })
        .await?;
    let p = &app.prompts;
    Ok(match (intent, lookup) {
        (Intent::OptOut(word), _) => {
            if let Some(n) = number {
                app.store.opt_out(n, &word, now).await?;
            }
            tracing::info!(keyword = word, "a citizen opted out of messages");
            let text = render(p, Key::SmsOptedOut, &[], None);
            Reply::new(MessageTemplate::OptedOut, text)
        }
        (Intent::OptIn, _) => {
            if let Some(n) = number {
                app.store.opt_in(n).await?;
            }
            Reply::new(
                MessageTemplate::OptedIn,
                render(p, Key::SmsOptedIn, &[], None),
            )
        }
        (Intent::Folio(digits), Some(lookup)) => lookup.reply(app, &digits),
        (Intent::Help | Intent::Other | Intent::Folio(_), _) => {
            Reply::new(MessageTemplate::Help, help_text(app, form))
        }
    })
}

/// What a folio sent by SMS came to.
enum Lookup {
    /// The guessing guard: too many lookups from this number lately.
    TooMany,
    /// Not a folio (a wrong check digit, say).
    Invalid,
    /// A valid folio no case has.
    Unknown(Folio),
    /// The case's status; `own` when the message comes from the number that reported it.
    Found {
        view: CaseStatusView,
        case_id: Option<i64>,
        own: bool,
    },
}

/// Looks a folio up for the number that sent it. A few failed lookups, or many lookups, in an
/// hour from one number end lookups by SMS for that number for a while.
async fn look_up(
    app: &AppState,
    digits: &str,
    number: Option<&str>,
    now: Timestamp,
) -> Result<Lookup, StoreError> {
    if let Some(n) = number {
        let since = Timestamp::from_utc(now.as_utc() - chrono::Duration::hours(1));
        let (failed, all) = app.store.recent_sms_lookups(n, since).await?;
        if failed >= MAX_FAILED_SMS_LOOKUPS || all >= MAX_SMS_LOOKUPS {
            return Ok(Lookup::TooMany);
        }
    }
    let Ok(folio) = Folio::parse(digits) else {
        return Ok(Lookup::Invalid);
    };
    let Some(view) = app.store.case_status_by_folio(&folio).await? else {
        return Ok(Lookup::Unknown(folio));
    };
    let case = app.store.case_by_folio(&folio).await?;
    // The department's summary may name a place; it goes only to the number that reported.
    let own = case.as_ref().is_some_and(|c| {
        number.is_some()
            && (c.sms_number.as_deref() == number || c.caller_number.as_deref() == number)
    });
    Ok(Lookup::Found {
        view,
        case_id: case.map(|c| c.id),
        own,
    })
}

impl Lookup {
    /// The answer to the folio `digits`.
    fn reply(self, app: &AppState, digits: &str) -> Reply {
        let p = &app.prompts;
        match self {
            Lookup::TooMany => Reply::new(
                MessageTemplate::StatusTooMany,
                render(p, Key::SmsStatusTooMany, &[], None),
            ),
            Lookup::Invalid => Reply::new(
                MessageTemplate::StatusInvalid,
                render(p, Key::SmsStatusInvalid, &[("folio", digits)], None),
            ),
            Lookup::Unknown(folio) => Reply::new(
                MessageTemplate::StatusUnknown,
                render(p, Key::SmsStatusUnknown, &[("folio", folio.as_str())], None),
            ),
            Lookup::Found { view, case_id, own } => Reply {
                template: MessageTemplate::StatusReply,
                text: status_reply(app, &view, own),
                case_id,
            },
        }
    }
}

/// The help text, with the office's number (`TWILIO_PHONE_NUMBER`), else the one the citizen
/// wrote to. The office number comes first: with a Messaging Service the citizen may have
/// written to a number of its pool, which takes messages but not calls.
fn help_text(app: &AppState, form: &WebhookForm) -> String {
    let ours = app
        .config
        .twilio
        .as_ref()
        .and_then(|t| t.phone_number.clone());
    let number = ours.or_else(|| CallerId::parse(form.get("To")).number().cloned());
    let phone = number.map_or_else(
        || "este mismo numero".to_owned(),
        |n| n.national_digits().to_owned(),
    );
    render(&app.prompts, Key::SmsHelp, &[("phone", &phone)], None)
}

/// "Folio 100014, alumbrado publico: canalizado a Direccion de ... desde el 27/11/2026.
/// Respuesta a mas tardar: 04/12/2026."
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
                (
                    "promise",
                    &sms::promise_sentence(
                        &app.prompts,
                        view.status,
                        view.answer_by,
                        app.clock.now(),
                    ),
                ),
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
        // Twilio's standard words, whatever the case.
        for word in ["stop", "STOPALL", "Unsubscribe", "cancel", "END", "quit"] {
            assert_eq!(
                Intent::parse(word),
                Intent::OptOut(word.to_uppercase()),
                "{word}"
            );
        }
        for word in ["start", "YES", "Unstop"] {
            assert_eq!(Intent::parse(word), Intent::OptIn, "{word}");
        }
        for word in ["ayuda", "AYUDA", "Help", "info"] {
            assert_eq!(Intent::parse(word), Intent::Help, "{word}");
        }
        assert_eq!(Intent::parse("ayuda con mi folio"), Intent::Other);
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
