//! Incoming text messages (`/twilio/messaging`).
//!
//! The route exists so the number's messaging webhook can be configured from day one; messages
//! are logged and acknowledged with an empty TwiML answer. Answering a folio by SMS and the
//! BAJA/ALTA opt-out come with the SMS outbox.

use crate::twilio::WebhookForm;
use crate::voice::Twiml;
use axum::Extension;

/// `POST /twilio/messaging`.
pub async fn incoming(Extension(form): Extension<WebhookForm>) -> Twiml {
    tracing::info!(
        message_sid = form.get("MessageSid").unwrap_or("-"),
        "incoming message acknowledged"
    );
    Twiml(crate::twiml::Response::new("").to_xml())
}
