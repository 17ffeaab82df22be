//! Text messages, both ways: what we send (rendered from the catalogue into one GSM-7 segment)
//! and what citizens send us (answered at once, in TwiML).
//!
//! - [`outbound`]: the templates of the messages the office sends, rendered when their job runs
//!   (the sending itself is `jobs::send_sms`; the outbox is `store::messages`).
//! - [`inbound`]: `/twilio/messaging`, a citizen's SMS or WhatsApp message, and
//!   `/twilio/messaging/status`, Twilio's delivery reports on ours.
//! - [`gsm7`]: the GSM-7 alphabet, so that every message is one segment and reads right.

pub mod gsm7;
pub mod inbound;
pub mod outbound;

pub use inbound::router;
