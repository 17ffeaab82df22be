//! The one state every handler and worker gets: [`AppState`].
//!
//! It is a single struct, cheap to clone (each field is a handle), because every part of the
//! service needs the same few things: the configuration, the store, the prompts, the recording
//! files, Twilio's REST API and the clock. It holds values, not behaviour: the routes live in
//! their own modules and `app` wires them together, so nothing here imports a handler back.

use crate::config::Config;
use crate::domain::Timestamp;
use crate::files::Files;
use crate::prompts::Prompts;
use crate::store::Store;
use crate::twilio::TwilioClient;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::Notify;

/// Where "now" comes from. Tests fix it to check office hours and dates.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(Utc::now))
    }

    /// A clock stopped at one instant.
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock(Arc::new(move || at))
    }

    /// A clock that starts at `at` and then runs (tests: a known date, and jobs still come due).
    pub fn starting_at(at: DateTime<Utc>) -> Clock {
        let started = std::time::Instant::now();
        Clock(Arc::new(move || {
            at + chrono::TimeDelta::from_std(started.elapsed()).unwrap_or_default()
        }))
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_utc((self.0)())
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// What every handler gets. See the module documentation.
#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub prompts: Prompts,
    pub clock: Clock,
    /// Twilio's REST API (recordings, SMS), over the one shared HTTP client.
    pub twilio: TwilioClient,
    /// Where recordings are kept: a folder or S3.
    pub files: Files,
    /// Wakes this instance's job workers when a webhook enqueues work.
    pub jobs_wakeup: Arc<Notify>,
}

impl AppState {
    /// Tells the workers there is work, so it starts now rather than at the next poll.
    pub fn wake_workers(&self) {
        self.jobs_wakeup.notify_waiters();
    }
}
