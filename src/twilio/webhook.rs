//! The gate in front of every `/twilio/*` route.
//!
//! [`verify_webhook`] reads the form body once, checks `X-Twilio-Signature` against the URL
//! Twilio requested (rebuilt from `ATIENDE_PUBLIC_URL`, never from the socket, so it works
//! behind a proxy), and answers 403 without touching anything if the signature is missing or
//! wrong. A request that passes carries its parsed fields to the handler as a [`WebhookForm`]
//! and runs inside a tracing span with its CallSid, so every log line of a call can be found.
//!
//! Without `TWILIO_AUTH_TOKEN` (demo mode) signatures are not checked.

use crate::config::Config;
use crate::twilio::signature;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tracing::Instrument;

/// The largest webhook body we read. Twilio's forms are a few kilobytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The form fields of a webhook, in the order received.
#[derive(Debug, Clone, Default)]
pub struct WebhookForm {
    pairs: Vec<(String, String)>,
    /// Whether the body could be read as a form at all.
    pub well_formed: bool,
}

impl WebhookForm {
    /// Parses an `application/x-www-form-urlencoded` body; anything else gives an empty,
    /// not well-formed form. So does a field whose name is not one Twilio could send (empty,
    /// or anything but a letter then letters, digits or `_`, at most 64): such a body is refused
    /// whatever its signature says, so no handler ever reads an odd name it did not expect.
    pub fn parse(body: &[u8]) -> WebhookForm {
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            Ok(pairs) if pairs.iter().all(|(k, _)| is_field_name(k)) => WebhookForm {
                pairs,
                well_formed: true,
            },
            _ => WebhookForm::default(),
        }
    }

    /// The first value of a field, trimmed, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// A field name as Twilio writes them: `CallSid`, `SpeechResult`, `AddOns`.
fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What the gate needs: the URL Twilio was given, and the token that signs (none in demo mode).
#[derive(Clone, Debug)]
pub struct WebhookAuth {
    config: Arc<Config>,
}

impl WebhookAuth {
    pub fn new(config: &Arc<Config>) -> WebhookAuth {
        WebhookAuth {
            config: config.clone(),
        }
    }
}

/// Checks the signature and hands the parsed form on. See the module documentation.
pub async fn verify_webhook(
    State(auth): State<WebhookAuth>,
    request: Request,
    next: Next,
) -> Response {
    let config = &auth.config;
    let (mut parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        // Too long, or not sent in time (the body deadline): either way nothing is read.
        Err(e) if format!("{e:?}").contains("LengthLimit") => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        }
        Err(e) => {
            tracing::warn!(error = %e, path = parts.uri.path(), "a webhook's body was not received");
            return (
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            )
                .into_response();
        }
    };
    let form = WebhookForm::parse(&bytes);
    // A body that is not a form of Twilio's field names is refused before its signature is
    // even looked at (in demo mode, with nothing to check, the handlers answer it politely).
    if !form.well_formed && config.auth_token().is_some() {
        tracing::warn!(
            path = parts.uri.path(),
            "rejected a /twilio request whose body is not a form of Twilio's field names"
        );
        return (StatusCode::BAD_REQUEST, "malformed form").into_response();
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let url = config.public_url(path_and_query);

    if let Some(token) = config.auth_token() {
        let given = parts
            .headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok());
        let valid = given.is_some_and(|sig| signature::is_valid(token, &url, form.pairs(), sig));
        if !valid {
            tracing::warn!(
                path = parts.uri.path(),
                signed = given.is_some(),
                "rejected a /twilio request with a missing or invalid X-Twilio-Signature"
            );
            return (StatusCode::FORBIDDEN, "invalid signature").into_response();
        }
    }

    let span = tracing::info_span!(
        "twilio",
        call_sid = form.get("CallSid").unwrap_or("-"),
        message_sid = tracing::field::Empty,
    );
    if let Some(sid) = form.get("MessageSid") {
        span.record("message_sid", sid);
    }
    parts.extensions.insert(form);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .instrument(span)
        .await
}
