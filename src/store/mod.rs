//! The store: every SQL statement of the service, on SQLite or PostgreSQL.
//!
//! [`Store`] is the one domain-level interface the rest of the service sees (`record_call_step`,
//! `create_phone_case`, `case_status_by_folio`, ...). Behind it sits one of two sqlx pools,
//! chosen at start-up from the URL scheme: SQLite (the embedded default: a file created if
//! missing, in WAL mode) or PostgreSQL (for several instances behind a balancer). Each backend has
//! its own `migrations/` folder with the same version numbers.
//!
//! Almost every statement is the same text on both databases (lowercase SQL, `$N` placeholders,
//! `returning`, `on conflict`), so each method is written once inside `with_pool!`, which
//! expands its body once per backend: the compiler checks the body against each driver's types,
//! and there is no generic-bounds maze. Where the dialects differ, the method matches on the
//! backend itself. The macros take the pool like a closure takes its argument
//! (`with_pool!(self, |pool| { ... })`) so that `cargo fmt` formats the bodies like any code.
//! A change that writes several tables goes through a [`WriteTx`] and its named steps.
//!
//! Write transactions on SQLite begin with `BEGIN IMMEDIATE`, which takes the write lock up
//! front: a deferred transaction that reads first and writes later can fail with SQLITE_BUSY when
//! another connection wrote in between, and no busy timeout can save it.

mod call_log;
mod calls;
mod cases;
mod catalog;
mod checkpoint;
mod console;
mod figures;
mod group_commit;
pub(crate) mod jobs;
mod messages;
pub(crate) mod query;
mod recordings;
mod replies;
mod retention;
mod seed;
mod service;
mod settings;
mod tx;
mod users;

pub use call_log::{
    CallEventRow, CallFilter, CallLogRow, CallbackRow, CitizenCase, NewCallback, OWED_WINDOW_DAYS,
    OwedCall,
};
pub use calls::{CallEnd, CallRecord, CallStep, StepKind};
pub use cases::{
    CaseEvent, CaseRecord, CaseStatusView, DescribeStep, FOUND_AT_TWILIO_NOTE, NewPhoneCase,
    NewStaffCase, RECOVERED_NOTE, Recovered, StatusChange, WithCase, download_key,
};
pub use catalog::Category;
pub use console::{
    ActionReport, Attachment, CaseFilter, CaseView, Cursor, Department, InboxRow, NewActionReport,
    NewAttachment, Triage, Visibility,
};
pub use figures::{
    CallCount, CaseExportRow, FigureScope, OpenCount, Progress, ReceivedCount, TimeSpread,
};
pub use jobs::Job;
pub use messages::{InboundMessage, MessageRecord, MessageUpdate, OutboundMessage};
pub use recordings::{RecordingRecord, StoredRecording};
pub use retention::ExpiredFile;
pub use seed::{SeedCall, SeedCase, SeedEvent};
pub use service::ServiceFigures;
pub use settings::{
    CategoryEdit, CategorySettings, DepartmentEdit, DepartmentSettings, OFFICE_HOURS,
    SettingsEvent, SettingsRefusal, TRANSFER_NUMBER,
};
pub use tx::{NewCaseEvent, OutboxSms, WriteTx};
pub use users::{
    FailureScope, Failures, LoginFailure, NewLoginAttempt, NewUser, SessionRow, StaffUser,
    UserChange,
};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Postgres, Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Expands `$body` once for each backend, with `$pool` bound to the pool that writes: on
/// SQLite its single write connection, on PostgreSQL the pool.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {{
        $store.gate()?;
        match &$store.backend {
            $crate::store::Backend::Sqlite { write: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    }};
}
pub(crate) use with_pool;

/// Like [`with_pool!`], for statements that only read: on SQLite they use the read pool, so they
/// never wait behind a write.
macro_rules! with_read_pool {
    ($store:expr, |$pool:ident| $body:expr) => {{
        $store.gate()?;
        match &$store.backend {
            $crate::store::Backend::Sqlite { read: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    }};
}
pub(crate) use with_read_pool;

// A connection handed back still inside a transaction is closed rather than kept (both pools,
// `after_release`): when a write fails for want of disk, SQLite rolls the transaction back on
// its own, sqlx's later ROLLBACK fails, and the connection would otherwise keep believing it
// is inside a transaction and refuse every `BEGIN` until the service restarts (found by
// `outage::sqlite_full_disk_during_calls_loses_no_report`).

/// Every pool reports how long each connection took to get, as a trace event of sqlx's own
/// (`sqlx::pool::acquire`); `telemetry` turns them into the `/metrics` histogram of pool waits
/// (see `metrics::PoolWaits`). sqlx exposes no other way to see a pool's queue.
const ACQUIRE_TIME_LEVEL: log::LevelFilter = log::LevelFilter::Trace;

/// Which database is behind the store.
///
/// SQLite allows one writer at a time. Rather than let several connections queue for its write
/// lock (SQLite's busy handler sleeps in growing steps, which turned into hundreds of
/// milliseconds of tail latency under load), every write goes through one connection, in
/// order; reads use a pool of their own, which WAL lets run alongside the writer.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(PgPool),
}

/// The service's store. Cheap to clone: it is a pool handle.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
    health: Arc<Health>,
    /// The writer task that commits call steps, and on SQLite phone cases, in groups (see
    /// `group_commit`).
    writer: tokio::sync::mpsc::Sender<group_commit::Work>,
}

/// Whether the database is taken for unreachable: a circuit breaker. While it is open, every
/// statement fails at once with [`StoreError::Unavailable`] instead of waiting for a connection
/// that will not come (a caller is on the line: the phone line answers from its journal
/// instead). It opens when a caller of the store reports an error that says the database cannot
/// be reached or written ([`Store::saw`]) and closes when [`Store::probe`] gets an answer.
#[derive(Debug, Default)]
pub(crate) struct Health {
    down: AtomicBool,
    /// Call-step transactions committed, and the steps in them (see `group_commit`).
    pub(crate) step_batches: std::sync::atomic::AtomicU64,
    pub(crate) steps_written: std::sync::atomic::AtomicU64,
    /// Phone-case transactions committed, and the cases in them.
    pub(crate) case_batches: std::sync::atomic::AtomicU64,
    pub(crate) cases_written: std::sync::atomic::AtomicU64,
}

impl Health {
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Opens the breaker if `error` says the database cannot be reached or written; returns
    /// whether it did say so.
    pub(crate) fn note(&self, error: &StoreError) -> bool {
        let unavailable = error.is_unavailable();
        if unavailable && !self.down.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %error, "the database is unavailable; the phone line answers from its journal");
        }
        unavailable
    }
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Someone else changed the row first (optimistic concurrency); reload and try again.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database was found unreachable or unwritable a moment ago; not tried again until a
    /// probe gets an answer.
    #[error("the database is unavailable")]
    Unavailable,
}

impl StoreError {
    /// Whether the error says the database cannot be reached or written (as opposed to a
    /// statement's own failure): no connection, a connection lost, no disk space, a read-only
    /// file, the server shutting down.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable => true,
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    // SQLite's primary result codes (extended codes keep them in the low byte):
                    // READONLY 8, IOERR 10, FULL 13, CANTOPEN 14.
                    let sqlite = code
                        .parse::<i32>()
                        .is_ok_and(|c| matches!(c & 0xff, 8 | 10 | 13 | 14));
                    // PostgreSQL's classes: 08 connection exception, 53 insufficient
                    // resources, 57P operator intervention (shutdown, cannot connect now).
                    let postgres =
                        code.starts_with("08") || code.starts_with("53") || code.starts_with("57P");
                    sqlite || postgres
                }),
                _ => false,
            },
            _ => false,
        }
    }
}

/// Starting a transaction that will write, the right way for each database.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Postgres>, sqlx::Error>> + Send {
        self.begin()
    }
}

impl Store {
    /// Opens the database named by `url` (`sqlite://PATH` or `postgres://...`). A SQLite file and
    /// its folder are created if missing.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let mut checkpoints = None;
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // In WAL mode NORMAL is safe against a crash of the process; only a power cut
                // can lose the last commits.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Invalid(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(5))
                .acquire_time_level(ACQUIRE_TIME_LEVEL)
                .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
                // Checkpoints run on a connection of their own (see `checkpoint`).
                .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
                .await?;
            checkpoints = Some(options.clone());
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(5))
                .acquire_time_level(ACQUIRE_TIME_LEVEL)
                .connect_with(options.read_only(true))
                .await?;
            Backend::Sqlite { write, read }
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .acquire_time_level(ACQUIRE_TIME_LEVEL)
                .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
                .connect(url)
                .await?;
            Backend::Postgres(pool)
        };
        let health = Arc::<Health>::default();
        if let Some(options) = checkpoints {
            checkpoint::start(options, &health);
        }
        let writer = group_commit::start(backend.clone(), health.clone());
        Ok(Store {
            backend,
            health,
            writer,
        })
    }

    /// Fails fast while the breaker is open (see [`Health`]).
    pub(crate) fn gate(&self) -> Result<(), StoreError> {
        if self.health.is_down() {
            Err(StoreError::Unavailable)
        } else {
            Ok(())
        }
    }

    /// Call-step transactions committed by this store and the steps they held: the second
    /// over the first is how many webhooks shared a commit, on average.
    pub fn step_batches(&self) -> (u64, u64) {
        (
            self.health.step_batches.load(Ordering::Relaxed),
            self.health.steps_written.load(Ordering::Relaxed),
        )
    }

    /// The same for phone cases: transactions committed, and the cases made in them.
    pub fn case_batches(&self) -> (u64, u64) {
        (
            self.health.case_batches.load(Ordering::Relaxed),
            self.health.cases_written.load(Ordering::Relaxed),
        )
    }

    /// Whether the database is taken for unreachable right now.
    pub fn is_down(&self) -> bool {
        self.health.is_down()
    }

    /// Takes note of an error the store returned: one that says the database cannot be reached
    /// or written opens the breaker. Returns whether it was such an error.
    pub fn saw(&self, error: &StoreError) -> bool {
        self.health.note(error)
    }

    /// Asks the database for an answer on the connection that writes, bypassing the breaker,
    /// within `limit`; closes the breaker if it answered.
    pub async fn probe(&self, limit: Duration) -> bool {
        let answered = tokio::time::timeout(limit, async {
            match &self.backend {
                Backend::Sqlite { write, .. } => {
                    sqlx::query("select 1").execute(write).await.is_ok()
                }
                Backend::Postgres(pool) => sqlx::query("select 1").execute(pool).await.is_ok(),
            }
        })
        .await
        .unwrap_or(false);
        if answered && self.health.down.swap(false, Ordering::AcqRel) {
            tracing::info!("the database answers again");
        }
        answered
    }

    /// Applies the backend's pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { write, .. } => sqlx::migrate!("migrations/sqlite").run(write).await?,
            Backend::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_read_pool!(self, |pool| {
            sqlx::query("select 1").execute(pool).await?;
        });
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`, for logs and the console.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Writes a consistent copy of a SQLite database to `path` while the service runs
    /// (`VACUUM INTO`: one read transaction, so the copy is the database at one instant).
    /// PostgreSQL is copied with its own tool, `pg_dump`.
    pub async fn snapshot_sqlite(&self, path: &std::path::Path) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { read, .. } => {
                sqlx::query("vacuum into $1")
                    .bind(path.display().to_string())
                    .execute(read)
                    .await?;
                Ok(())
            }
            Backend::Postgres(_) => Err(StoreError::Invalid(
                "a PostgreSQL database is copied with pg_dump".into(),
            )),
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}
