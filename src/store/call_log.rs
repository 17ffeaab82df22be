//! The call log as staff read it: every call with its outcome and folio, one call's steps, the
//! calls the office owes back (grouped by number), the callbacks made, and a citizen's history.

use super::query::{Arg, Built, bind_all};
use super::{Store, StoreError, with_pool, with_read_pool};
use crate::domain::{CallOutcome, CallbackResult, Timestamp};

/// How far back an abandoned call is still owed: older ones are history, not a to-do.
pub const OWED_WINDOW_DAYS: i64 = 30;

/// A call as the log lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallLogRow {
    pub id: i64,
    pub call_sid: String,
    pub from_number: Option<String>,
    pub started_at: Timestamp,
    pub duration_seconds: Option<i64>,
    pub outcome: Option<CallOutcome>,
    pub last_step: String,
    pub status: Option<String>,
    /// The folio of the report made in the call, if any.
    pub folio: Option<String>,
}

/// What the call log is filtered by.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub outcome: Option<CallOutcome>,
    /// Calls still in progress (no outcome yet).
    pub in_progress: bool,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only calls from this number (E.164).
    pub number: Option<String>,
    /// Keyset: calls before this (started_at, id).
    pub before: Option<(Timestamp, i64)>,
}

/// One step of a call, for its page.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallEventRow {
    pub at: Timestamp,
    pub step: String,
    pub detail: Option<String>,
}

/// A number the office owes a call back: its abandoned calls since the last callback that
/// settled them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OwedCall {
    pub number: String,
    pub calls: i64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    /// The id of the latest abandoned call, for its page.
    pub last_call_id: i64,
    /// Callbacks nobody answered since the first owed call.
    pub attempts: i64,
}

/// A callback as made.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallbackRow {
    pub id: i64,
    pub number: String,
    pub result: CallbackResult,
    pub folio: Option<String>,
    pub note: Option<String>,
    pub user_name: String,
    pub at: Timestamp,
}

/// Another case of the same citizen (by number), for the case page's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CitizenCase {
    pub folio: String,
    pub created_at: Timestamp,
    pub status: crate::domain::CaseStatus,
    pub category_name: Option<String>,
}

/// A callback to record.
#[derive(Debug, Clone)]
pub struct NewCallback<'a> {
    pub number: &'a str,
    pub result: CallbackResult,
    pub case_id: Option<i64>,
    pub note: Option<&'a str>,
    pub user_id: i64,
    pub at: Timestamp,
}

/// The conditions that make an abandoned call `c` owed, with `?` for the window's start:
/// a number to call, no report from it since, no callback since that settled it.
pub(super) const OWED: &str = r#"
    c.outcome = ? and c.from_number is not null and c.started_at >= ?
    and not exists (select 1 from cases cs
                    where cs.caller_number = c.from_number and cs.created_at >= c.started_at)
    and not exists (select 1 from callbacks cb
                    where cb.number = c.from_number and cb.at >= c.started_at and cb.result <> ?)
"#;

/// The folio of the last case a call `c` made: the largest id read from `cases_call`, then
/// that case. (Written `order by cs.id desc limit 1`, SQLite 3.46 scanned every case by id
/// when its statistics said most cases have no call, half a second a call on the case page
/// with a million cases.)
const FOLIO_OF_CALL: &str = "(select cs.folio from cases cs \
     where cs.id = (select max(x.id) from cases x where x.call_id = c.id))";

pub(super) fn owed_args(now: Timestamp) -> [Arg; 3] {
    let since = Timestamp::from_utc(now.as_utc() - chrono::Duration::days(OWED_WINDOW_DAYS));
    [
        Arg::Outcome(CallOutcome::Abandoned),
        Arg::Time(since),
        Arg::Text(CallbackResult::NoAnswer.code().to_owned()),
    ]
}

impl Store {
    /// Calls, newest first, filtered; `limit` rows at most.
    pub async fn call_log(
        &self,
        filter: &CallFilter,
        limit: i64,
    ) -> Result<Vec<CallLogRow>, StoreError> {
        let mut q = Built::new(
            r#"
            select c.id, c.call_sid, c.from_number, c.started_at, c.duration_seconds, c.outcome,
                   c.last_step, c.status, "#,
        );
        q.push(FOLIO_OF_CALL, []);
        q.push(" as folio from calls c where true", []);
        if let Some(outcome) = filter.outcome {
            q.and("c.outcome = ?", [Arg::Outcome(outcome)]);
        }
        if filter.in_progress {
            q.and("c.outcome is null", []);
        }
        if let Some(from) = filter.from {
            q.and("c.started_at >= ?", [Arg::Time(from)]);
        }
        if let Some(until) = filter.until {
            q.and("c.started_at < ?", [Arg::Time(until)]);
        }
        if let Some(number) = &filter.number {
            q.and("c.from_number = ?", [Arg::Text(number.clone())]);
        }
        if let Some((at, id)) = filter.before {
            q.and(
                "(c.started_at, c.id) < (?, ?)",
                [Arg::Time(at), Arg::I64(id)],
            );
        }
        q.push(
            " order by c.started_at desc, c.id desc limit ?",
            [Arg::I64(limit)],
        );
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, CallLogRow>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// One call of the log, by id.
    pub async fn call_log_entry(&self, id: i64) -> Result<Option<CallLogRow>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CallLogRow>(&format!(
                r#"
                    select c.id, c.call_sid, c.from_number, c.started_at, c.duration_seconds,
                           c.outcome, c.last_step, c.status, {FOLIO_OF_CALL} as folio
                    from calls c where c.id = $1
                    "#
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(rows)
    }

    /// A call's steps, with their times, in order.
    pub async fn call_events(&self, call_id: i64) -> Result<Vec<CallEventRow>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CallEventRow>(
                r#"select at, step, detail from call_events where call_id = $1 order by id"#,
            )
            .bind(call_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// The numbers owed a call back at `now`, the longest-waiting first.
    pub async fn calls_owed(&self, now: Timestamp) -> Result<Vec<OwedCall>, StoreError> {
        let mut q = Built::new(
            r#"
            select c.from_number as number, count(*) as calls, min(c.started_at) as first_at,
                   max(c.started_at) as last_at, max(c.id) as last_call_id, "#,
        );
        q.push(
            r#"(select count(*) from callbacks cb
                where cb.number = c.from_number and cb.result = ? and cb.at >= min(c.started_at))
                   as attempts
            from calls c where "#,
            [Arg::Text(CallbackResult::NoAnswer.code().to_owned())],
        );
        q.push(OWED, owed_args(now));
        q.push(
            " group by c.from_number order by min(c.started_at), c.from_number",
            [],
        );
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, OwedCall>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// How many numbers are owed a call back (the navigation's count).
    pub async fn calls_owed_count(&self, now: Timestamp) -> Result<i64, StoreError> {
        let mut q = Built::new("select count(distinct c.from_number) from calls c where ");
        q.push(OWED, owed_args(now));
        let n = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_scalar::<_, i64>(&q.sql), &q.args)
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// The other cases reported from, or answered to, `number` (newest first, `limit` at most),
    /// but `except`. (Two index reads joined by `union`: an `or` of the two columns made SQLite
    /// read every case, 100 ms on 100,000.)
    pub async fn cases_of_number(
        &self,
        number: &str,
        except: i64,
        limit: i64,
    ) -> Result<Vec<CitizenCase>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CitizenCase>(
                r#"
                select cs.folio, cs.created_at, cs.status, c.name as category_name
                from cases cs left join categories c on c.id = cs.category_id
                where cs.id in (select id from cases where caller_number = $1
                                union
                                select id from cases where sms_number = $1)
                  and cs.id <> $2
                order by cs.created_at desc, cs.id desc limit $3
                "#,
            )
            .bind(number)
            .bind(except)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Records a callback.
    pub async fn add_callback(&self, c: &NewCallback<'_>) -> Result<i64, StoreError> {
        let id = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                r#"
                insert into callbacks (number, result, case_id, note, user_id, at)
                values ($1, $2, $3, $4, $5, $6) returning id
                "#,
            )
            .bind(c.number)
            .bind(c.result)
            .bind(c.case_id)
            .bind(c.note)
            .bind(c.user_id)
            .bind(c.at)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// The callbacks to a number, newest first.
    pub async fn callbacks_to(&self, number: &str) -> Result<Vec<CallbackRow>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CallbackRow>(
                r#"
                select cb.id, cb.number, cb.result, cs.folio, cb.note, u.name as user_name, cb.at
                from callbacks cb
                join users u on u.id = cb.user_id
                left join cases cs on cs.id = cb.case_id
                where cb.number = $1
                order by cb.at desc, cb.id desc limit 50
                "#,
            )
            .bind(number)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}
