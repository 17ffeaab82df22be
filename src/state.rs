//! The one state every handler and worker gets: [`AppState`].
//!
//! It is a single struct, because every part of the service needs the same few things: the
//! configuration, the store, the prompts, the recording files, Twilio's REST API and the clock.
//! It holds values, not behaviour: the routes live in their own modules and `app` wires them
//! together, so nothing here imports a handler back.
//!
//! axum clones the state for every layer of every request, so it is one `Arc` around the
//! [`Services`]: one reference count to move, where a dozen handles (each its own atomic count,
//! some with strings) took about 7 % of the incoming webhook's CPU time.

use crate::config::{Config, PhoneLineConfig};
use crate::domain::{OfficeHours, PhoneNumber, Timestamp};
use crate::files::Files;
use crate::prompts::Prompts;
use crate::store::Store;
use crate::twilio::TwilioClient;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::Notify;

/// Where "now" comes from. Tests fix it to check office hours and dates, and move it forward
/// (see [`Clock::advance`]) to see what hours later looks like.
#[derive(Clone)]
pub struct Clock {
    source: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// Microseconds added by [`Clock::advance`]; shared by every clone.
    ahead: Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    fn of(source: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock {
            source: Arc::new(source),
            ahead: Arc::default(),
        }
    }

    pub fn system() -> Clock {
        Clock::of(Utc::now)
    }

    /// A clock stopped at one instant.
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock::of(move || at)
    }

    /// A clock that starts at `at` and then runs (tests: a known date, and jobs still come due).
    pub fn starting_at(at: DateTime<Utc>) -> Clock {
        let started = std::time::Instant::now();
        Clock::of(move || at + chrono::TimeDelta::from_std(started.elapsed()).unwrap_or_default())
    }

    /// Moves this clock and every clone of it forward by `by` (for tests: nothing in the
    /// service calls it).
    pub fn advance(&self, by: chrono::TimeDelta) {
        self.ahead.fetch_add(
            by.num_microseconds().unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    pub fn now(&self) -> Timestamp {
        let ahead = self.ahead.load(std::sync::atomic::Ordering::SeqCst);
        Timestamp::from_utc((self.source)() + chrono::TimeDelta::microseconds(ahead))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// What every handler gets: the [`Services`], shared. See the module documentation.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// Everything the handlers and workers share.
#[derive(Debug)]
pub struct Services {
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
    /// The office hours and transfer number in force (configuration, or an admin's change).
    pub live: LiveSettings,
    /// Where the phone line keeps what it could not write while the database was down.
    pub journal: Arc<crate::journal::Journal>,
    /// What this instance measures for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// How long an instance trusts its copy of the admin's settings before reading them again (so
/// a change made on another instance reaches this one's calls within this time).
const LIVE_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// The office hours and the transfer number as they are now: the configuration's, unless an
/// admin set them in the console (the `settings` table, which then wins). The instance that
/// saves applies the change at once; every instance reads the table again, when its copy is
/// older than [`LIVE_REFRESH`], at the start of a call.
#[derive(Clone, Debug)]
pub struct LiveSettings {
    inner: Arc<std::sync::RwLock<Live>>,
}

#[derive(Debug)]
struct Live {
    office_hours: OfficeHours,
    transfer_number: Option<PhoneNumber>,
    /// Whether each came from the settings table (else the configuration).
    overridden: (bool, bool),
    loaded: Option<std::time::Instant>,
}

impl LiveSettings {
    /// The configuration's values, until the table is read.
    pub fn new(phone: &PhoneLineConfig) -> LiveSettings {
        LiveSettings {
            inner: Arc::new(std::sync::RwLock::new(Live {
                office_hours: phone.office_hours.clone(),
                transfer_number: phone.transfer_number.clone(),
                overridden: (false, false),
                loaded: None,
            })),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Live> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn office_hours(&self) -> OfficeHours {
        self.read().office_hours.clone()
    }

    pub fn transfer_number(&self) -> Option<PhoneNumber> {
        self.read().transfer_number.clone()
    }

    /// Whether the hours and the transfer number come from an admin's change.
    pub fn overridden(&self) -> (bool, bool) {
        self.read().overridden
    }

    /// Takes the table's rows over the configuration's values. A stored value that does not
    /// parse (the console checks before saving) is logged and the configuration's kept.
    pub fn apply(&self, phone: &PhoneLineConfig, rows: &[(String, String)]) {
        let get = |key: &str| rows.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let hours = get(crate::store::OFFICE_HOURS).and_then(|v| match v.parse::<OfficeHours>() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(value = v, error = %e, "stored office hours do not parse; using the configuration's");
                None
            }
        });
        let transfer = get(crate::store::TRANSFER_NUMBER).and_then(|v| match PhoneNumber::parse(v) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(value = v, error = %e, "stored transfer number does not parse; using the configuration's");
                None
            }
        });
        let mut live = self.inner.write().unwrap_or_else(|e| e.into_inner());
        live.overridden = (hours.is_some(), transfer.is_some());
        live.office_hours = hours.unwrap_or_else(|| phone.office_hours.clone());
        live.transfer_number = transfer.or_else(|| phone.transfer_number.clone());
        live.loaded = Some(std::time::Instant::now());
    }

    fn stale(&self) -> bool {
        self.read()
            .loaded
            .is_none_or(|at| at.elapsed() >= LIVE_REFRESH)
    }
}

impl AppState {
    /// Tells the workers there is work, so it starts now rather than at the next poll.
    pub fn wake_workers(&self) {
        self.jobs_wakeup.notify_waiters();
    }

    /// Reads the admin's settings again if this instance's copy is old (see [`LiveSettings`]).
    /// A database error keeps the copy: a call is never refused over it.
    pub async fn refresh_settings(&self) {
        if !self.live.stale() {
            return;
        }
        match self.store.settings().await {
            Ok(rows) => self.live.apply(&self.config.phone, &rows),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the settings; keeping the last ones")
            }
        }
    }

    /// Reads the admin's settings now (after a change in this instance, and at start-up).
    pub async fn reload_settings(&self) -> Result<(), crate::store::StoreError> {
        let rows = self.store.settings().await?;
        self.live.apply(&self.config.phone, &rows);
        Ok(())
    }
}
