//! Atiende: the phone line and case tracker of a municipality's citizen-participation office.
//!
//! Where things live, from the bottom up (each module imports only those above it in this
//! list, never one below):
//! - [`domain`]: validated values: folios, phone numbers, statuses, roles, timestamps, office
//!   hours, and the one way each enum is stored as text.
//! - [`config`]: the typed configuration, from the environment or `atiende.toml`.
//! - [`twiml`]: Twilio's document format; [`twilio`]: webhook signatures and forms, and the
//!   client of Twilio's REST API.
//! - [`prompts`]: the catalogue of everything citizens hear and read (IVR prompts, SMS texts).
//! - [`store`]: every SQL statement, on SQLite or PostgreSQL: calls, cases, jobs, messages.
//! - [`metrics`]: what `/metrics` shows (instruments of this instance, database totals).
//! - [`files`]: where recordings are kept, a folder or S3; [`recordings`]: what makes a
//!   recording acceptable (a checked WAV and its waveform).
//! - [`journal`]: what the phone line could not write while the database was down, on local
//!   disk, replayed when it is back.
//! - [`state`]: the [`AppState`] every handler and worker gets; [`reconcile`]: reports known
//!   only to Twilio (recordings whose webhooks never reached a live service) made into cases.
//! - [`voice`]: the phone line (the call flow, one handler per [`voice::Step`]).
//! - [`messages`]: text messages, in (`/twilio/messaging`) and out (templates).
//! - [`jobs`]: the workers and the durable jobs they run, one file per kind.
//! - [`staff`]: staff accounts (password hashing).
//! - [`console`]: the staff console (web pages at `/`): sign-in, inbox, case pages.
//! - [`serve`]: the HTTP server loop (header deadline, connection cap, graceful stop).
//! - [`backup`]: `atiende backup` and `restore` (a consistent copy of database and files);
//!   [`retention`]: `atiende retention` (files of cases closed long ago deleted).
//! - [`app`]: the one place that wires it all: builds the state, the router and the workers.
//! - [`sim`]: the call simulator and the fake of Twilio's REST API, used by `atiende simulate`,
//!   `atiende bench` and the integration tests.
//!
//! The command line (`atiende serve`, `user`, `simulate`, `jobs`, `bench`) is the binary's, in
//! `src/bin/atiende/`.
#![forbid(unsafe_code)]

pub mod app;
pub mod backup;
pub mod config;
pub mod console;
pub mod domain;
pub mod files;
pub mod jobs;
pub mod journal;
pub mod messages;
pub mod metrics;
pub mod prompts;
pub mod reconcile;
pub mod recordings;
pub mod retention;
pub mod serve;
pub mod sim;
pub mod staff;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod twilio;
pub mod twiml;
pub mod voice;

#[cfg(test)]
mod dependency_rules;

pub use app::Application;
pub use config::Config;
pub use state::{AppState, Clock};
