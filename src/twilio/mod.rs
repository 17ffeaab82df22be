//! Everything about speaking Twilio's protocol that is not the call flow itself: checking that a
//! webhook really comes from Twilio, reading its form into typed values, and calling Twilio's
//! REST API.

pub mod rest;
pub mod signature;
pub mod webhook;

pub use rest::{RestError, TwilioClient};
pub use webhook::{WebhookAuth, WebhookForm, verify_webhook};
