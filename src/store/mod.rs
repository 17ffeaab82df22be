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
mod console;
mod figures;
pub(crate) mod jobs;
mod messages;
pub(crate) mod query;
mod recordings;
mod retention;
mod seed;
mod settings;
mod tx;
mod users;

pub use call_log::{
    CallEventRow, CallFilter, CallLogRow, CallbackRow, CitizenCase, NewCallback, OWED_WINDOW_DAYS,
    OwedCall,
};
pub use calls::{CallEnd, CallRecord, CallStep, StepKind};
pub use cases::{CaseEvent, CaseRecord, CaseStatusView, NewPhoneCase, NewStaffCase, StatusChange};
pub use catalog::Category;
pub use console::{
    ActionReport, Attachment, CaseFilter, CaseView, Cursor, Department, InboxRow, NewActionReport,
    NewAttachment, Triage, Visibility,
};
pub use figures::{CallCount, CaseExportRow, CaseTimes, FigureScope, OpenCount, ReceivedCount};
pub use jobs::Job;
pub use messages::{InboundMessage, MessageRecord, MessageUpdate, OutboundMessage};
pub use recordings::{RecordingRecord, StoredRecording};
pub use retention::ExpiredFile;
pub use seed::{SeedCall, SeedCase, SeedEvent};
pub use settings::{
    CategoryEdit, CategorySettings, DepartmentEdit, DepartmentSettings, OFFICE_HOURS,
    SettingsEvent, SettingsRefusal, TRANSFER_NUMBER,
};
pub use tx::{NewCaseEvent, OutboxSms, WriteTx};
pub use users::{NewUser, SessionRow, StaffUser, UserChange};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// Expands `$body` once for each backend, with `$pool` bound to the pool that writes: on
/// SQLite its single write connection, on PostgreSQL the pool.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { write: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Like [`with_pool!`], for statements that only read: on SQLite they use the read pool, so they
/// never wait behind a write.
macro_rules! with_read_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { read: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_read_pool;

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
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.read_only(true))
                .await?;
            Backend::Sqlite { write, read }
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            Backend::Postgres(pool)
        };
        Ok(Store { backend })
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
