//! Durable jobs: enqueue, claim with a lease, finish, retry, bury, list.
//!
//! A job is claimed by one worker at a time: on PostgreSQL with `for update skip locked`, so
//! several instances share the queue without blocking each other; on SQLite the claim is one
//! statement inside a `BEGIN IMMEDIATE` transaction, which is atomic for the single writer.
//! A claim carries a lease: if the worker dies, the lease runs out and another worker claims the
//! job again. Every state change is guarded by the worker's id, so a worker whose lease was taken
//! over cannot overwrite the new owner's result.

use super::{Backend, Store, StoreError, with_pool, with_read_pool};
use crate::domain::{JobKind, JobState, Timestamp};

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub dedup_key: String,
    pub payload: String,
    pub state: JobState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const JOB_COLUMNS: &str = "id, kind, dedup_key, payload, state, attempts, max_attempts, run_at, last_error, created_at, updated_at";

/// Makes a queued job (`$1`, its key) due at `$2` if it was due later.
pub(super) const HASTEN_JOB: &str =
    "update jobs set run_at = $2 where dedup_key = $1 and state = $3 and run_at > $2";

impl Store {
    /// Enqueues a job unless one with the same key exists. Returns whether it was added.
    pub async fn enqueue_job(
        &self,
        kind: JobKind,
        dedup_key: &str,
        payload: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let added = tx.enqueue_job(kind, dedup_key, payload, at).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Claims a job that is due: a running one whose lease expired (its worker died) first, then
    /// the queued one that has waited longest. The claim counts as an attempt.
    ///
    /// On PostgreSQL the two are asked apart, each walking `jobs_ready` (state, run_at) in order
    /// and stopping at the first row it can lock. One condition with `or` made PostgreSQL
    /// gather every ready job in a bitmap and sort it at each claim: with thousands queued in a
    /// flood of calls, 1 ms a claim and the most expensive statement of the run.
    pub async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Job>, StoreError> {
        let pick = r#"
            select id from jobs
            where (state = $4 and run_at <= $3) or (state = $5 and lease_until < $3)
            order by run_at, id
            limit 1
        "#;
        let lock = match &self.backend {
            Backend::Sqlite { read, .. } => {
                self.gate()?;
                // SQLite's one write connection is what every webhook's commit waits for. A
                // worker that would find nothing (woken with the others, or polling) asks a
                // read connection first, and does not take it.
                let due = sqlx::query_scalar::<_, i64>(&format!("select exists ({pick})"))
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .bind(JobState::Queued)
                    .bind(JobState::Running)
                    .fetch_one(read)
                    .await?;
                if due == 0 {
                    return Ok(None);
                }
                ""
            }
            Backend::Postgres(_) => "for update skip locked",
        };
        let sql = match &self.backend {
            Backend::Sqlite { .. } => format!(
                r#"
                update jobs set state = $5, attempts = attempts + 1, worker = $1,
                                lease_until = $2, updated_at = $3
                where id = ({pick} {lock})
                returning {JOB_COLUMNS}
                "#
            ),
            // `coalesce` asks the second only when the first found nothing.
            Backend::Postgres(_) => format!(
                r#"
                update jobs set state = $5, attempts = attempts + 1, worker = $1,
                                lease_until = $2, updated_at = $3
                where id = coalesce(
                    (select id from jobs where state = $5 and lease_until < $3
                     order by run_at, id limit 1 {lock}),
                    (select id from jobs where state = $4 and run_at <= $3
                     order by run_at, id limit 1 {lock}))
                returning {JOB_COLUMNS}
                "#
            ),
        };
        // One statement, so its own transaction: no `BEGIN` and `COMMIT` to wait for.
        let job = with_pool!(self, |pool| {
            sqlx::query_as::<_, Job>(&sql)
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .bind(JobState::Queued)
                .bind(JobState::Running)
                .fetch_optional(pool)
                .await?
        });
        Ok(job)
    }

    /// Extends a running job's lease to `until` (the worker's heartbeat). Returns false if the
    /// worker no longer owns it.
    pub async fn renew_lease(
        &self,
        id: i64,
        worker: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                r#"
                update jobs set lease_until = $3, updated_at = $4
                where id = $1 and worker = $2 and state = $5
                "#,
            )
            .bind(id)
            .bind(worker)
            .bind(until)
            .bind(at)
            .bind(JobState::Running)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Marks a claimed job done. Returns false if the worker no longer owns it.
    pub async fn finish_job(
        &self,
        id: i64,
        worker: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle_job(id, worker, JobState::Done, None, None, at)
            .await
    }

    /// Puts a claimed job back in the queue to run at `run_at`, keeping why it failed.
    pub async fn retry_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        run_at: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle_job(id, worker, JobState::Queued, Some(error), Some(run_at), at)
            .await
    }

    /// Gives up on a claimed job: it stays visible as dead until someone retries it.
    pub async fn bury_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle_job(id, worker, JobState::Dead, Some(error), None, at)
            .await
    }

    async fn settle_job(
        &self,
        id: i64,
        worker: &str,
        state: JobState,
        error: Option<&str>,
        run_at: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let finished = (state != JobState::Queued).then_some(at);
        let n = with_pool!(self, |pool| {
            sqlx::query(
                r#"
                update jobs set state = $3, last_error = coalesce($4, last_error),
                                run_at = coalesce($5, run_at), lease_until = null, worker = null,
                                updated_at = $6, finished_at = $7
                where id = $1 and worker = $2 and state = $8
                "#,
            )
            .bind(id)
            .bind(worker)
            .bind(state)
            .bind(error)
            .bind(run_at)
            .bind(at)
            .bind(finished)
            .bind(JobState::Running)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Jobs in a state, or every job not done when `state` is `None`, oldest first.
    pub async fn jobs(&self, state: Option<JobState>, limit: i64) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "select {JOB_COLUMNS} from jobs where ($1 is null and state <> $3) or state = $1 order by id limit $2"
        );
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, Job>(&sql)
                .bind(state)
                .bind(limit)
                .bind(JobState::Done)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Makes a queued job due now (a recording became ready before its next retry).
    pub async fn hasten_job(&self, dedup_key: &str, at: Timestamp) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(HASTEN_JOB)
                .bind(dedup_key)
                .bind(at)
                .bind(JobState::Queued)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// One job by its key.
    pub async fn job_by_key(&self, dedup_key: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("select {JOB_COLUMNS} from jobs where dedup_key = $1");
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, Job>(&sql)
                .bind(dedup_key)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Puts a dead job back in the queue with its attempts reset. Returns false if there is no
    /// dead job with that id.
    pub async fn requeue_dead_job(&self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                r#"
                update jobs set state = $3, attempts = 0,
                                -- Due now whatever the service's clock says (the command's clock
                                -- may be ahead of it).
                                run_at = case when run_at < $2 then run_at else $2 end,
                                updated_at = $2,
                                finished_at = null
                where id = $1 and state = $4
                "#,
            )
            .bind(id)
            .bind(at)
            .bind(JobState::Queued)
            .bind(JobState::Dead)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }
}
