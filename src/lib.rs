//! Atiende: the phone line and case tracker of a municipality's citizen-participation office.
//!
//! Where things live:
//! - [`voice`]: the phone line (Twilio voice webhooks, the call flow, the prompts catalogue).
//! - [`store`]: every SQL statement, on SQLite or PostgreSQL; the call log and the cases.
//! - [`domain`]: validated values: folios, phone numbers, statuses, timestamps, office hours.
//! - [`twiml`] and [`twilio`]: Twilio's document format and its webhook signatures.
//! - [`recordings`], [`storage`]: our copies of the recordings, in a folder or on S3.
//! - [`sms`], [`messaging`]: text messages out (the outbox) and in.
//! - [`jobs`]: the workers that run durable jobs (downloads, SMS) with retries.
//! - [`sim`]: the call simulator behind `atiende simulate` and the integration tests.
//! - [`app`], [`config`], [`cli`]: how the service is configured, built and started.
#![forbid(unsafe_code)]

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod domain;
pub mod jobs;
pub mod messaging;
pub mod recordings;
pub mod sim;
pub mod sms;
pub mod staff;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod twilio;
pub mod twiml;
pub mod voice;

pub use app::{AppState, Application, Clock};
pub use config::Config;
