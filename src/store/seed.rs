//! Synthetic cases in bulk, for benchmarks (`atiende bench --seed-cases N`): the shapes and
//! spreads of a real office (categories, statuses, urgency, dates over years, repeat callers),
//! written fast enough to fill a scratch database with a hundred thousand cases in seconds.
//! Never used by the service itself.

use super::{Backend, Store, StoreError, with_pool};
use crate::domain::{
    CallOutcome, CaseEventKind, CaseStatus, Channel, ClosureReason, Folio, RecordingStatus,
    Timestamp, Urgency,
};

/// One synthetic case.
#[derive(Debug, Clone)]
pub struct SeedCase {
    pub category_id: i64,
    pub department_id: i64,
    pub urgency: Urgency,
    pub status: CaseStatus,
    pub closure_reason: Option<ClosureReason>,
    pub caller_number: String,
    pub created_at: Timestamp,
    pub routed_at: Option<Timestamp>,
    pub due_at: Option<Timestamp>,
    /// The date promised to the citizen (see `domain::promise`).
    pub answer_by: Option<chrono::NaiveDate>,
    pub recording_seconds: i64,
}

/// A synthetic move of a case, in its history (what `change_case_status` writes, without
/// changing the case itself: the seed case already has its final status).
#[derive(Debug, Clone)]
pub struct SeedEvent {
    pub case_id: i64,
    pub at: Timestamp,
    pub from_status: Option<CaseStatus>,
    pub to_status: CaseStatus,
}

/// A synthetic call of the log, already ended.
#[derive(Debug, Clone)]
pub struct SeedCall {
    /// `None`: a withheld caller ID.
    pub from_number: Option<String>,
    pub started_at: Timestamp,
    pub duration_seconds: i64,
    pub outcome: CallOutcome,
    /// The case the call made (a report), linked as the phone line links them.
    pub case_id: Option<i64>,
}

impl Store {
    /// Inserts `cases` after the last case there is, with their folios; returns the first id.
    pub async fn insert_seed_cases(&self, cases: &[SeedCase]) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let first: i64 = super::tx::with_tx!(tx, |conn| {
            sqlx::query_scalar::<_, i64>("select coalesce(max(id), 0) + 1 from cases")
                .fetch_one(&mut *conn)
                .await?
        });
        for (n, case) in cases.iter().enumerate() {
            let id = first + n as i64;
            super::tx::with_tx!(tx, |conn| {
                sqlx::query(
                    r#"
                    insert into cases (id, folio, channel, category_id, department_id, urgency, status,
                                       closure_reason, caller_number, sms_number, recording_status,
                                       recording_duration_seconds, created_at, updated_at,
                                       status_changed_at, priority, routed_at, due_at, description,
                                       answer_by, recording_sid)
                    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $12, $12, $13, $14,
                            $15, $16, $17, $18)
                    "#,
                )
                .bind(id)
                .bind(Folio::from_sequence(id).as_str())
                .bind(Channel::Phone)
                .bind(case.category_id)
                .bind(case.department_id)
                .bind(case.urgency)
                .bind(case.status)
                .bind(case.closure_reason)
                .bind(&case.caller_number)
                .bind(RecordingStatus::Stored)
                .bind(case.recording_seconds)
                .bind(case.created_at)
                .bind(i64::from(case.urgency == Urgency::Urgent))
                .bind(case.routed_at)
                .bind(case.due_at)
                .bind("Caso de prueba para medir la consola")
                .bind(case.answer_by)
                .bind(format!("RE{:032x}", rand::random::<u128>()))
                .execute(conn)
                .await?;
            });
        }
        tx.commit().await?;
        // PostgreSQL hands out ids from a sequence that explicit ids did not move.
        if let Backend::Postgres(pool) = &self.backend {
            sqlx::query(
                "select setval(pg_get_serial_sequence('cases', 'id'), (select max(id) from cases))",
            )
            .execute(pool)
            .await?;
        }
        Ok(first)
    }

    /// Inserts status moves into the cases' histories.
    pub async fn insert_seed_events(&self, events: &[SeedEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for event in events {
            super::tx::with_tx!(tx, |conn| {
                sqlx::query(
                    r#"
                    insert into case_events (case_id, at, actor, kind, from_status, to_status, note)
                    values ($1, $2, $3, $4, $5, $6, null)
                    "#,
                )
                .bind(event.case_id)
                .bind(event.at)
                .bind("seed")
                .bind(CaseEventKind::Status)
                .bind(event.from_status)
                .bind(event.to_status)
                .execute(conn)
                .await?;
            });
        }
        tx.commit().await
    }

    /// Inserts ended calls into the call log (one step each, `incoming`), each report's linked
    /// to its case.
    pub async fn insert_seed_calls(&self, calls: &[SeedCall]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for call in calls {
            let sid = format!("CA{:032x}", rand::random::<u128>());
            let ended = Timestamp::from_utc(
                call.started_at.as_utc() + chrono::Duration::seconds(call.duration_seconds),
            );
            super::tx::with_tx!(tx, |conn| {
                let id = sqlx::query(
                    r#"
                    insert into calls (call_sid, from_number, caller_withheld, started_at, updated_at,
                                       ended_at, last_step, status, duration_seconds, outcome,
                                       made_report)
                    values ($1, $2, $3, $4, $5, $5, 'incoming', 'completed', $6, $7, $8)
                    returning id
                    "#,
                )
                .bind(&sid)
                .bind(call.from_number.as_deref())
                .bind(call.from_number.is_none())
                .bind(call.started_at)
                .bind(ended)
                .bind(call.duration_seconds)
                .bind(call.outcome)
                .bind(call.outcome == CallOutcome::Report)
                .fetch_one(&mut *conn)
                .await?;
                if let Some(case_id) = call.case_id {
                    sqlx::query("update cases set call_id = $1 where id = $2")
                        .bind(sqlx::Row::get::<i64, _>(&id, 0))
                        .bind(case_id)
                        .execute(&mut *conn)
                        .await?;
                }
            });
        }
        tx.commit().await
    }

    /// What a database does on its own some time after a bulk load (PostgreSQL's autovacuum,
    /// SQLite's `PRAGMA optimize`), done at once so the figures are those of a settled
    /// database: statistics for the planner, and (PostgreSQL) the visibility map that lets a
    /// count be read from an index alone.
    pub async fn settle_after_seed(&self) -> Result<(), StoreError> {
        let sql = match self.backend {
            Backend::Sqlite { .. } => "analyze",
            Backend::Postgres(_) => "vacuum analyze cases, case_events, calls",
        };
        with_pool!(self, |pool| {
            sqlx::query(sql).execute(pool).await?;
        });
        Ok(())
    }
}
