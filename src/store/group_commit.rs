//! Group commit of call steps, the one write every webhook makes, and of phone cases.
//!
//! Every webhook logs its step (the call's row, and one event). Written one transaction per
//! step, a burst of calls queues on SQLite's single writer, each step paying its own `BEGIN`,
//! statements and `COMMIT`, each a round trip to SQLite's thread (on PostgreSQL, a commit
//! each). Instead, [`record_call_step`](Store::record_call_step) hands its step to one writer
//! task per store and waits: the writer takes every step waiting at that moment (at most
//! [`MAX_BATCH`]; it never waits for more, so a lone step goes at once), writes them in one
//! transaction, and only after the commit answers each webhook. Nothing is answered before its
//! write is durable. While it commits, the next steps gather for the next batch.
//!
//! On SQLite a batch is three statements whatever its size (four with open cases to read): the
//! steps travel as one JSON array (`json_each`), upserted into `calls` (the caller's own steps
//! move `last_step`, callbacks do not) and inserted into `call_events` in order. On PostgreSQL each step keeps its two
//! statements, in the batch's one transaction (one commit, one WAL flush).
//!
//! The greeting also needs the caller's latest open case. Its step asks for it, and the writer
//! reads it for every caller in the batch with one statement, in the batch's transaction,
//! before the commit: the webhook waits for its own step anyway, and no longer also takes a
//! read connection (which sqlx pings on the way back, another trip to SQLite's thread).
//!
//! If a batch fails because the database is unavailable, every step in it gets
//! [`StoreError::Unavailable`] (the phone line then journals them). Any other failure is one
//! step's: the batch is written again one step at a time, so only that step fails.
//!
//! On SQLite, phone cases (the `recorded` and `recording-status` webhooks: a case, its folio,
//! history, outbox SMS and download job, about fourteen statements) go through the same
//! writer: the cases waiting at that moment are made one after another in one transaction,
//! committed once, and only then is each webhook answered. (On PostgreSQL they are not: there
//! cases are made in parallel on the pool, and the server flushes commits that arrive together
//! at once; queued through one writer they were slower.) Making a case is idempotent (one case per
//! recording), so if the shared transaction fails for any reason but the database being
//! unavailable, each case is made again in a transaction of its own.

use super::cases::{OwnedPhoneCase, OwnedWithCase};
use super::tx::{Inner, WriteTx, with_tx};
use super::{Backend, CallStep, CaseRecord, CaseStatusView, Health, StepKind, StoreError};
use crate::domain::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};

/// Most steps in one transaction.
pub const MAX_BATCH: usize = 256;

/// A step to write, owned (it crosses to the writer task).
#[derive(Debug, Clone, Serialize)]
pub(super) struct StepRow {
    pub sid: String,
    pub from: Option<String>,
    pub withheld: bool,
    pub to: Option<String>,
    pub step: String,
    pub detail: Option<String>,
    /// A caller's own step (moves `last_step`), not a callback.
    pub moves: bool,
    /// In the JSON for SQLite as it stores it (fixed-width RFC 3339 text).
    #[serde(serialize_with = "as_text")]
    pub at: Timestamp,
}

impl StepRow {
    pub fn of(step: &CallStep<'_>) -> StepRow {
        let number = step.caller.number().map(|n| n.as_str().to_owned());
        StepRow {
            sid: step.call_sid.as_str().to_owned(),
            withheld: number.is_none(),
            from: number,
            to: step.to.map(str::to_owned),
            step: step.step.to_owned(),
            detail: step.detail.map(str::to_owned),
            moves: step.kind == StepKind::Caller,
            at: step.at,
        }
    }
}

/// One step's call row (made, or its `updated_at` and, for a caller's step, `last_step`
/// moved), returning the call's id; the same text on both backends.
const UPSERT_CALL: &str = r#"
    insert into calls (call_sid, from_number, caller_withheld, to_number, started_at, updated_at, last_step)
    values ($1, $2, $3, $4, $5, $5, $6)
    on conflict (call_sid) do update set
        updated_at = excluded.updated_at,
        last_step = case when $7 then excluded.last_step else calls.last_step end
    returning id
"#;

/// One step's event in the call's log.
const INSERT_EVENT: &str =
    "insert into call_events (call_id, at, step, detail) values ($1, $2, $3, $4)";

impl WriteTx {
    /// Logs one step of a call in this transaction (a step that belongs with a change made in
    /// it: the webhook that makes a case logs its step with the case).
    pub(super) async fn log_step(&mut self, row: &StepRow) -> Result<(), StoreError> {
        with_tx!(self, |conn| {
            let (id,): (i64,) = sqlx::query_as(UPSERT_CALL)
                .bind(&row.sid)
                .bind(&row.from)
                .bind(row.withheld)
                .bind(&row.to)
                .bind(row.at)
                .bind(&row.step)
                .bind(row.moves)
                .fetch_one(&mut *conn)
                .await?;
            sqlx::query(INSERT_EVENT)
                .bind(id)
                .bind(row.at)
                .bind(&row.step)
                .bind(&row.detail)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// Logs a batch of steps. On SQLite in three statements whatever its size (the rows as one
    /// JSON array); on PostgreSQL one step after another, in the same transaction.
    async fn log_steps(&mut self, rows: &[&StepRow]) -> Result<(), StoreError> {
        let Inner::Sqlite(tx) = &mut self.inner else {
            for row in rows {
                self.log_step(row).await?;
            }
            return Ok(());
        };
        let json = serde_json::to_string(rows).map_err(|e| StoreError::Invalid(e.to_string()))?;
        for (moves, on_conflict) in [
            (
                true,
                "updated_at = excluded.updated_at, last_step = excluded.last_step",
            ),
            (false, "updated_at = excluded.updated_at"),
        ] {
            // Most batches are all the callers' own steps, or all callbacks: a statement with
            // nothing to write is not sent.
            if !rows.iter().any(|r| r.moves == moves) {
                continue;
            }
            sqlx::query(&format!(
                r#"
                insert into calls (call_sid, from_number, caller_withheld, to_number, started_at, updated_at, last_step)
                select value ->> 'sid', value ->> 'from', value ->> 'withheld', value ->> 'to',
                       value ->> 'at', value ->> 'at', value ->> 'step'
                from json_each($1)
                where value ->> 'moves' = $2
                order by key
                on conflict (call_sid) do update set {on_conflict}
                "#
            ))
            .bind(&json)
            .bind(moves)
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query(
            r#"
            insert into call_events (call_id, at, step, detail)
            select c.id, j.value ->> 'at', j.value ->> 'step', j.value ->> 'detail'
            from json_each($1) j join calls c on c.call_sid = j.value ->> 'sid'
            order by j.key
            "#,
        )
        .bind(&json)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

fn as_text<S: serde::Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(at)
}

pub(super) struct Pending {
    pub row: StepRow,
    /// Whether the webhook also wants the caller's latest open case (the greeting): it is read
    /// in the batch's transaction, one statement for every caller in the batch, rather than
    /// each webhook taking a connection of the read pool for it.
    pub open_case: bool,
    /// After the commit: the caller's latest open case, if asked for and there is one.
    pub done: oneshot::Sender<Result<Option<CaseStatusView>, StoreError>>,
}

impl Pending {
    /// The number whose open case this step asks for.
    fn asks(&self) -> Option<&str> {
        self.row.from.as_deref().filter(|_| self.open_case)
    }
}

/// A phone case to make, what its webhook writes with it, and where its answer goes.
pub(super) struct PhoneCaseWork {
    pub case: OwnedPhoneCase,
    pub with: OwnedWithCase,
    pub done: oneshot::Sender<Result<(CaseRecord, bool), StoreError>>,
}

/// What the writer is handed.
pub(super) enum Work {
    Step(Pending),
    PhoneCase(PhoneCaseWork),
}

/// Starts the writer task of a store; steps and cases go in through the returned sender.
pub(super) fn start(target: Backend, health: Arc<Health>) -> mpsc::Sender<Work> {
    let (tx, mut rx) = mpsc::channel::<Work>(MAX_BATCH * 16);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut steps = Vec::new();
            let mut cases = Vec::new();
            let mut take = |work: Work| match work {
                Work::Step(p) => steps.push(p),
                Work::PhoneCase(c) => cases.push(c),
            };
            take(first);
            for _ in 1..MAX_BATCH {
                match rx.try_recv() {
                    Ok(work) => take(work),
                    Err(_) => break,
                }
            }
            // While the breaker is open, a batch fails at once (its webhooks journal their
            // steps and reports) rather than waiting for a connection that will not come.
            if health.is_down() {
                for p in steps {
                    let _ = p.done.send(Err(StoreError::Unavailable));
                }
                for c in cases {
                    let _ = c.done.send(Err(StoreError::Unavailable));
                }
                continue;
            }
            if !steps.is_empty() {
                write_steps(&target, &health, steps).await;
            }
            if !cases.is_empty() {
                make_cases(&target, &health, cases).await;
            }
        }
    });
    tx
}

/// Makes `cases` in one transaction and answers each after the commit; see the module
/// documentation for failures.
async fn make_cases(target: &Backend, health: &Health, mut cases: Vec<PhoneCaseWork>) {
    let together = async {
        let mut tx = target.begin_write().await?;
        let mut made = Vec::with_capacity(cases.len());
        for c in &cases {
            made.push(tx.phone_case_with(&c.case.borrowed(), &c.with).await?);
        }
        tx.commit().await?;
        Ok::<_, StoreError>(made)
    }
    .await;
    match together {
        Ok(made) => {
            health.case_batches.fetch_add(1, Ordering::Relaxed);
            health
                .cases_written
                .fetch_add(made.len() as u64, Ordering::Relaxed);
            let steps = cases.iter().filter(|c| c.with.step.is_some()).count();
            health
                .steps_written
                .fetch_add(steps as u64, Ordering::Relaxed);
            for (c, made) in cases.into_iter().zip(made) {
                let _ = c.done.send(Ok(made));
            }
        }
        Err(e) if cases.len() == 1 => {
            health.note(&e);
            if let Some(c) = cases.pop() {
                let _ = c.done.send(Err(e));
            }
        }
        Err(e) if e.is_unavailable() => {
            health.note(&e);
            tracing::warn!(error = %e, cases = cases.len(), "a batch of phone cases could not be written");
            for c in cases {
                let _ = c.done.send(Err(StoreError::Unavailable));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, cases = cases.len(), "a batch of phone cases failed; making them one by one");
            for c in cases {
                let alone = async {
                    let mut tx = target.begin_write().await?;
                    let made = tx.phone_case_with(&c.case.borrowed(), &c.with).await?;
                    tx.commit().await?;
                    Ok(made)
                }
                .await;
                if let Err(e) = &alone {
                    health.note(e);
                }
                let _ = c.done.send(alone);
            }
        }
    }
}

/// Writes `batch` in one transaction and answers each step after the commit.
async fn write_steps(target: &Backend, health: &Health, mut batch: Vec<Pending>) {
    let written = write(target, &batch.iter().collect::<Vec<_>>()).await;
    if let Err(e) = &written {
        health.note(e);
    }
    match written {
        Ok(open_cases) => {
            health.step_batches.fetch_add(1, Ordering::Relaxed);
            health
                .steps_written
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            for p in batch {
                let open_case = p.asks().and_then(|n| open_cases.get(n)).cloned();
                let _ = p.done.send(Ok(open_case));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(p) = batch.pop() {
                let _ = p.done.send(Err(e));
            }
        }
        Err(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, steps = batch.len(), "a batch of call steps could not be written");
            for p in batch {
                let _ = p.done.send(Err(StoreError::Unavailable));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, steps = batch.len(), "a batch of call steps failed; writing them one by one");
            for p in batch {
                let result = write(target, &[&p])
                    .await
                    .map(|mut found| p.asks().and_then(|n| found.remove(n)));
                let _ = p.done.send(result);
            }
        }
    }
}

/// Writes the steps of `batch` in one transaction, and reads in it the latest open case of
/// each caller whose step asks for it (by number).
async fn write(
    target: &Backend,
    batch: &[&Pending],
) -> Result<HashMap<String, CaseStatusView>, StoreError> {
    let rows: Vec<&StepRow> = batch.iter().map(|p| &p.row).collect();
    let mut asked: Vec<&str> = batch.iter().filter_map(|p| p.asks()).collect();
    asked.sort_unstable();
    asked.dedup();
    let mut tx = target.begin_write().await?;
    tx.log_steps(&rows).await?;
    let found = tx.open_cases_of(&asked).await?;
    tx.commit().await?;
    Ok(found.into_iter().map(|f| (f.number, f.case)).collect())
}
