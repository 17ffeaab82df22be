//! The call log: one row per call, one event per step.

use super::group_commit::{Pending, StepRow, Work};
use super::{CaseStatusView, Store, StoreError, with_pool, with_read_pool};
use crate::domain::{CallOutcome, CallSid, CallerId, Timestamp};

/// Whether a logged step moves the caller through the menu or is a callback about the call.
/// Only the caller's own steps change `last_step`, the step an abandoned call ended at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Caller,
    Callback,
}

/// One step of a call, as a webhook saw it.
#[derive(Debug, Clone)]
pub struct CallStep<'a> {
    pub call_sid: &'a CallSid,
    pub caller: &'a CallerId,
    pub to: Option<&'a str>,
    pub step: &'a str,
    pub detail: Option<&'a str>,
    pub kind: StepKind,
    pub at: Timestamp,
}

/// The end of a call, from Twilio's call status callback.
#[derive(Debug, Clone)]
pub struct CallEnd<'a> {
    pub call_sid: &'a CallSid,
    pub status: &'a str,
    pub duration_seconds: Option<i64>,
    pub at: Timestamp,
}

/// A call as logged.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallRecord {
    pub id: i64,
    pub call_sid: String,
    pub from_number: Option<String>,
    pub caller_withheld: bool,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub last_step: String,
    pub status: Option<String>,
    pub duration_seconds: Option<i64>,
    pub outcome: Option<CallOutcome>,
    pub made_report: bool,
    pub found_case: bool,
    pub transferred: bool,
    pub failed_lookups: i64,
    /// Folio lookups that found a case in this call.
    pub found_lookups: i64,
    pub pending_sms_number: Option<String>,
}

impl Store {
    /// Logs a step of a call, creating the call's row if this is the first we hear of it. The
    /// step is committed with the others waiting at that moment (see `group_commit`); this
    /// returns once it is durable.
    #[tracing::instrument(skip_all, fields(step = step.step))]
    pub async fn record_call_step(&self, step: &CallStep<'_>) -> Result<(), StoreError> {
        self.send_step(step, false).await.map(drop)
    }

    /// Logs a call's first step as [`record_call_step`](Self::record_call_step) does, and
    /// returns the caller's latest open case (none when the caller ID is withheld), read in
    /// the same transaction: the greeting needs both, and on SQLite this makes one trip to
    /// the database's thread for the whole batch instead of one more per call.
    #[tracing::instrument(skip_all, fields(step = step.step))]
    pub async fn record_first_step(
        &self,
        step: &CallStep<'_>,
    ) -> Result<Option<CaseStatusView>, StoreError> {
        self.send_step(step, true).await
    }

    async fn send_step(
        &self,
        step: &CallStep<'_>,
        open_case: bool,
    ) -> Result<Option<CaseStatusView>, StoreError> {
        self.gate()?;
        let row = StepRow::of(step);
        let (done, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(Work::Step(Pending {
                row,
                open_case,
                done,
            }))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        answer.await.map_err(|_| StoreError::Unavailable)?
    }

    /// Records the end of a call and decides its outcome. A call that made no report, found no
    /// case and was not transferred is abandoned: a callback the office owes.
    pub async fn finish_call(&self, end: &CallEnd<'_>) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                r#"
                update calls set
                    status = $2,
                    duration_seconds = coalesce($3, duration_seconds),
                    ended_at = coalesce(ended_at, $4),
                    -- A number typed but never confirmed is not kept past the call.
                    pending_sms_number = null,
                    updated_at = $4,
                    outcome = case
                        when made_report then $5
                        when transferred then $6
                        when found_case then $7
                        else $8
                    end
                where call_sid = $1
                "#,
            )
            .bind(end.call_sid.as_str())
            .bind(end.status)
            .bind(end.duration_seconds)
            .bind(end.at)
            .bind(CallOutcome::Report)
            .bind(CallOutcome::Transferred)
            .bind(CallOutcome::Lookup)
            .bind(CallOutcome::Abandoned)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Counts one more failed folio lookup in this call; returns how many there have been.
    pub async fn note_failed_lookup(
        &self,
        call_sid: &CallSid,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                r#"update calls set failed_lookups = failed_lookups + 1, updated_at = $2 where call_sid = $1 returning failed_lookups"#,
            )
            .bind(call_sid.as_str())
            .bind(at)
            .fetch_optional(pool)
            .await?
        });
        Ok(n.unwrap_or(1))
    }

    /// Counts one more folio lookup that found a case in this call, and marks that the caller
    /// found one (the call was not abandoned: a lookup outranks "abandoned", whatever order the
    /// webhooks came in). Returns how many there have been in the call.
    ///
    /// A counter on the call rather than a count of the call log's `lookup` events: the log is
    /// written best effort (a step that cannot be logged does not interrupt the call) and its
    /// details are for people to read, while this guard must count every lookup it lets through.
    pub async fn note_found_lookup(
        &self,
        call_sid: &CallSid,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                r#"
                update calls set
                    found_lookups = found_lookups + 1,
                    found_case = true,
                    outcome = case when outcome = $3 then $4 else outcome end,
                    updated_at = $2
                where call_sid = $1
                returning found_lookups
                "#,
            )
            .bind(call_sid.as_str())
            .bind(at)
            .bind(CallOutcome::Abandoned)
            .bind(CallOutcome::Lookup)
            .fetch_optional(pool)
            .await?
        });
        Ok(n.unwrap_or(1))
    }

    /// Folio lookups that found a case in the calls from `number` active since `since` (the
    /// current one included): the per-number cap of the phone line.
    pub async fn recent_found_lookups(
        &self,
        number: &str,
        since: Timestamp,
    ) -> Result<i64, StoreError> {
        let n = with_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                r#"
                select cast(coalesce(sum(found_lookups), 0) as bigint) from calls
                where from_number = $1 and updated_at >= $2
                "#,
            )
            .bind(number)
            .bind(since)
            .fetch_one(pool)
            .await?
        });
        Ok(n)
    }

    /// Marks that the caller talked to staff; if the call already ended as abandoned, it was
    /// transferred instead (whatever order the webhooks came in).
    pub async fn note_transferred(&self, call_sid: &CallSid) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                r#"update calls set transferred = true, outcome = case when outcome = $2 then $3 else outcome end where call_sid = $1"#,
            )
            .bind(call_sid.as_str())
            .bind(CallOutcome::Abandoned)
            .bind(CallOutcome::Transferred)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Remembers (or forgets, with `None`) the number a caller typed for the SMS, until they
    /// confirm it.
    pub async fn set_pending_sms_number(
        &self,
        call_sid: &CallSid,
        number: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(r#"update calls set pending_sms_number = $2 where call_sid = $1"#)
                .bind(call_sid.as_str())
                .bind(number)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A call by its CallSid.
    pub async fn call(&self, call_sid: &CallSid) -> Result<Option<CallRecord>, StoreError> {
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CallRecord>(
                r#"
                select id, call_sid, from_number, caller_withheld, started_at, ended_at, last_step, status,
                       duration_seconds, outcome, made_report, found_case, transferred, failed_lookups,
                       found_lookups, pending_sms_number
                from calls where call_sid = $1
                "#,
            )
            .bind(call_sid.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// The steps of a call in order, as `(step, detail)`.
    pub async fn call_steps(
        &self,
        call_sid: &CallSid,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, (String, Option<String>)>(
                r#"
                select e.step, e.detail from call_events e join calls c on c.id = e.call_id
                where c.call_sid = $1 order by e.id
                "#,
            )
            .bind(call_sid.as_str())
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}
