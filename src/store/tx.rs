//! A write transaction with small named steps, so that a change that touches several tables
//! reads as what it does: "make the case, give it its folio, note it in its history, queue the
//! recording's download, put the folio SMS in the outbox".
//!
//! [`WriteTx`] holds the transaction of either backend; each step is written once inside
//! [`with_tx!`], which expands it per backend like `with_pool!` does for whole statements. A
//! step never commits: [`WriteTx::commit`] does, once, and dropping the value without it rolls
//! everything back, so a change is all there or not at all (the outbox pattern: a job and the
//! change that calls for it are written together).

use super::messages::after_quiet_hours;
use super::{BeginWrite, Store, StoreError};
use crate::domain::{
    CaseEventKind, CaseStatus, JobKind, JobState, MessageStatus, MessageTemplate, Timestamp,
};
use crate::domain::{Channel, Direction};
use sqlx::{Postgres, Sqlite, Transaction};

/// An open write transaction. See the module documentation.
pub struct WriteTx {
    pub(super) inner: Inner,
}

pub(super) enum Inner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Expands `$body` once for each backend, with `$conn` bound to the transaction's connection.
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match &mut $tx.inner {
            $crate::store::tx::Inner::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::tx::Inner::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

/// An entry of a case's history.
#[derive(Debug, Clone)]
pub struct NewCaseEvent<'a> {
    pub case_id: i64,
    pub at: Timestamp,
    /// Who: a user name, `system` or `caller`.
    pub actor: &'a str,
    pub kind: CaseEventKind,
    pub from_status: Option<CaseStatus>,
    pub to_status: Option<CaseStatus>,
    pub note: Option<&'a str>,
}

/// A message for the outbox, with the key of its send job.
#[derive(Debug, Clone)]
pub struct OutboxSms<'a> {
    pub case_id: i64,
    pub to: &'a str,
    pub template: MessageTemplate,
    /// The send job's key: a message whose key is taken already is not added (the same SMS is
    /// never queued twice, whatever the order of webhooks).
    pub dedup_key: String,
    pub at: Timestamp,
    /// Whether it may go at night, or waits for the end of the quiet hours.
    pub timing: SmsTiming,
}

/// When a message of the outbox may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsTiming {
    /// At once, whatever the hour: the citizen just asked for it (the folio after a call).
    AtOnce,
    /// Not between 21:00 and 09:00 in Mexico City (Twilio's Mexico guidelines): a message
    /// written at night, such as one caused by staff work, is due at 09:00 (see
    /// [`after_quiet_hours`]).
    Daytime,
}

impl Store {
    /// Starts a write transaction (on SQLite with `BEGIN IMMEDIATE`, see the store's
    /// documentation).
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        self.gate()?;
        self.backend.begin_write().await
    }
}

impl super::Backend {
    /// A write transaction on the connection (or pool) that writes, whoever asks: the store,
    /// or its group writer (see `group_commit`), which checks the breaker itself.
    pub(super) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let inner = match self {
            super::Backend::Sqlite { write, .. } => Inner::Sqlite(write.begin_write().await?),
            super::Backend::Postgres(pool) => Inner::Postgres(pool.begin_write().await?),
        };
        Ok(WriteTx { inner })
    }
}

impl WriteTx {
    /// Makes every step durable at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            Inner::Sqlite(t) => t.commit().await?,
            Inner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Enqueues a job unless one with the same key exists. Returns whether it was added. Written
    /// with the change that calls for it, the job exists exactly when the change does.
    pub async fn enqueue_job(
        &mut self,
        kind: JobKind,
        dedup_key: &str,
        payload: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.enqueue_job_due(kind, dedup_key, payload, at, at).await
    }

    /// [`enqueue_job`](Self::enqueue_job) for a job written at `at` but not due before `run_at`.
    pub async fn enqueue_job_due(
        &mut self,
        kind: JobKind,
        dedup_key: &str,
        payload: &str,
        at: Timestamp,
        run_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let added = with_tx!(self, |conn| {
            sqlx::query(
                r#"
                insert into jobs (kind, dedup_key, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
                values ($1, $2, $3, $6, 0, $4, $7, $5, $5)
                on conflict (dedup_key) do nothing
                "#,
            )
                .bind(kind)
                .bind(dedup_key)
                .bind(payload)
                .bind(kind.max_attempts())
                .bind(at)
                .bind(JobState::Queued)
                .bind(run_at)
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(added == 1)
    }

    /// Makes a queued job due at `at` if it was due later (see [`Store::hasten_job`]).
    pub async fn hasten_job(&mut self, dedup_key: &str, at: Timestamp) -> Result<(), StoreError> {
        with_tx!(self, |conn| {
            sqlx::query(super::jobs::HASTEN_JOB)
                .bind(dedup_key)
                .bind(at)
                .bind(JobState::Queued)
                .execute(conn)
                .await?;
        });
        Ok(())
    }

    /// Puts an SMS in the outbox with its send job (see [`OutboxSms`]), due at once or, for a
    /// [`SmsTiming::Daytime`] message written at night, at 09:00 Mexico City. Returns whether it
    /// was added.
    pub async fn put_sms_in_outbox(&mut self, sms: &OutboxSms<'_>) -> Result<bool, StoreError> {
        let message_id: i64 = with_tx!(self, |conn| {
            sqlx::query_scalar(
                r#"
                insert into messages (direction, case_id, channel, to_number, template, status, created_at, updated_at)
                values ($1, $2, $3, $4, $5, $6, $7, $7)
                returning id
                "#,
            )
            .bind(Direction::Outbound)
            .bind(sms.case_id)
            .bind(Channel::Sms)
            .bind(sms.to)
            .bind(sms.template)
            .bind(MessageStatus::Pending)
            .bind(sms.at)
            .fetch_one(conn)
            .await?
        });
        let run_at = match sms.timing {
            SmsTiming::AtOnce => sms.at,
            SmsTiming::Daytime => after_quiet_hours(sms.at),
        };
        let added = self
            .enqueue_job_due(
                JobKind::SendSms,
                &sms.dedup_key,
                &message_id.to_string(),
                sms.at,
                run_at,
            )
            .await?;
        if !added {
            with_tx!(self, |conn| {
                sqlx::query("delete from messages where id = $1")
                    .bind(message_id)
                    .execute(conn)
                    .await?;
            });
        }
        Ok(added)
    }

    /// Adds an entry to a case's history; returns its id.
    pub async fn add_case_event(&mut self, event: &NewCaseEvent<'_>) -> Result<i64, StoreError> {
        let id = with_tx!(self, |conn| {
            sqlx::query_scalar::<_, i64>(
                r#"
                insert into case_events (case_id, at, actor, kind, from_status, to_status, note)
                values ($1, $2, $3, $4, $5, $6, $7)
                returning id
                "#,
            )
            .bind(event.case_id)
            .bind(event.at)
            .bind(event.actor)
            .bind(event.kind)
            .bind(event.from_status)
            .bind(event.to_status)
            .bind(event.note)
            .fetch_one(conn)
            .await?
        });
        Ok(id)
    }
}
