//! Everything about speaking Twilio's protocol that is not the call flow itself: checking that a
//! webhook really comes from Twilio, and reading its form into typed values.

pub mod rest;
pub mod signature;
pub mod webhook;

pub use webhook::{WebhookForm, verify_webhook};
