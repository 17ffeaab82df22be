//! The workers that run durable jobs, and the jobs themselves: one file per kind.
//!
//! - `download_recording`: copy a call's recording from Twilio into our files.
//! - `send_sms`: send one message of the outbox.
//!
//! Adding a kind is adding a file with its `run(app, payload, ...) -> Outcome`, a [`JobKind`] variant
//! (its stored code and how many attempts it gets) and its line in `run_kind`; the queue, the
//! retries and the leases are shared.
//!
//! `atiende serve` starts `ATIENDE_WORKERS` workers beside the web server. Each claims one due
//! job at a time from the store (with a lease, see `store::jobs`), runs it, and records the
//! outcome: done; retried later with exponential backoff and jitter (its error kept), never
//! sooner than a `Retry-After` Twilio sent; or dead after its last attempt (listed by `atiende jobs`, retried by `atiende jobs retry ID`).
//! Workers wake when a webhook enqueues work on this instance, and poll otherwise, so work
//! enqueued by another instance or due after a backoff is picked up too.
//!
//! A claim's lease is short (`ATIENDE_JOB_LEASE_SECONDS`, 20 s) and the worker renews it while
//! the job runs (a heartbeat every quarter of the lease), so a long download keeps its job while
//! a job whose process died is taken again within one lease. On shutdown a worker finishes the
//! job in hand and stops. If the process dies instead, the job's lease runs out and a worker
//! claims it again: every job is written to be run twice without doing anything twice.

mod download_recording;
mod send_sms;

use crate::domain::{JobKind, Timestamp};
use crate::state::AppState;
use crate::store::Job;
use rand::Rng;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What running a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Finished; nothing more to do.
    Done,
    /// Failed in a way that may pass: try again later.
    Retry(String),
    /// The same, and the other side said how long to wait first (Twilio's `Retry-After` on a
    /// 429 or a 503): the next try comes no sooner than that, whatever the backoff says.
    RetryAfter(String, Duration),
    /// Will never succeed: stop trying.
    Dead(String),
}

/// The wait before attempt `attempts + 1`: base × 2^(attempts-1), at most `max`, with jitter
/// (between half and all of it) so that jobs failing together do not retry together.
pub fn backoff(base: Duration, max: Duration, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let full = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    let jitter = rand::rng().random_range(0.5..=1.0);
    full.mul_f64(jitter)
}

impl Outcome {
    /// A failed call to Twilio that may pass: retried, after Twilio's `Retry-After` if it sent
    /// one. `error` is what is kept on the job (the caller may have masked it).
    pub fn retry_rest(error: String, e: &crate::twilio::RestError) -> Outcome {
        match e.retry_after() {
            Some(wait) => Outcome::RetryAfter(error, wait),
            None => Outcome::Retry(error),
        }
    }
}

/// Runs the work of one job of `kind`, on its attempt number `attempt` (1 the first time).
async fn run_kind(app: &AppState, kind: JobKind, payload: &str, attempt: i64) -> Outcome {
    match kind {
        JobKind::DownloadRecording => download_recording::run(app, payload).await,
        JobKind::SendSms => send_sms::run(app, payload, attempt).await,
    }
}

/// The running workers.
pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts the configured number of workers.
    pub fn start(app: &AppState) -> Workers {
        let (stop, _) = watch::channel(false);
        let instance = format!("{}-{:04x}", std::process::id(), rand::rng().random::<u16>());
        let handles = (0..app.config.jobs.workers)
            .map(|n| {
                let app = app.clone();
                let stop = stop.subscribe();
                let name = format!("{instance}-{n}");
                tokio::spawn(async move { work(app, name, stop).await })
            })
            .collect();
        Workers { stop, handles }
    }

    /// Asks every worker to stop after its current job, and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

async fn work(app: AppState, name: String, mut stop: watch::Receiver<bool>) {
    let poll = app.config.jobs.poll;
    loop {
        if *stop.borrow() {
            break;
        }
        let now = app.clock.now();
        let lease = Timestamp::from_utc(now.as_utc() + app.config.jobs.lease);
        match app.store.claim_job(&name, now, lease).await {
            Ok(Some(job)) => run(&app, &name, job).await,
            Ok(None) => {
                tokio::select! {
                    _ = app.jobs_wakeup.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, worker = name, "could not claim a job; the database may be down");
                tokio::select! {
                    _ = tokio::time::sleep(poll.max(Duration::from_secs(1))) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

/// Runs `work`, renewing the job's lease every quarter of it until the work ends. A renewal that
/// finds the job taken (its lease had run out) is logged; the work goes on, as every job may run
/// twice without doing anything twice. A renewal that fails (the database) is retried at the
/// next beat.
async fn with_heartbeat(
    app: &AppState,
    worker: &str,
    job: &Job,
    work: impl Future<Output = Outcome>,
) -> Outcome {
    let lease = app.config.jobs.lease;
    let mut beat = tokio::time::interval(lease / 4);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    tokio::pin!(work);
    loop {
        tokio::select! {
            outcome = &mut work => return outcome,
            _ = beat.tick() => {
                let now = app.clock.now();
                let until = Timestamp::from_utc(now.as_utc() + lease);
                match app.store.renew_lease(job.id, worker, until, now).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("the job's lease ran out before its heartbeat; another worker may run it too"),
                    Err(e) => tracing::warn!(error = %e, "could not renew the job's lease"),
                }
            }
        }
    }
}

/// Runs one claimed job and records its outcome.
#[tracing::instrument(skip_all, fields(job = job.id, kind = %job.kind, attempt = job.attempts))]
async fn run(app: &AppState, worker: &str, job: Job) {
    let outcome = with_heartbeat(
        app,
        worker,
        &job,
        run_kind(app, job.kind, &job.payload, job.attempts),
    )
    .await;
    let now = app.clock.now();
    if !matches!(outcome, Outcome::Done) {
        app.metrics.job_failed(job.kind.code());
    }
    let settled = match &outcome {
        Outcome::Done => app.store.finish_job(job.id, worker, now).await,
        Outcome::Retry(error) | Outcome::RetryAfter(error, _)
            if job.attempts < job.max_attempts =>
        {
            let mut wait = backoff(
                app.config.jobs.backoff,
                app.config.jobs.max_backoff,
                job.attempts,
            );
            if let Outcome::RetryAfter(_, asked) = &outcome {
                wait = wait.max(*asked);
            }
            let run_at = Timestamp::from_utc(now.as_utc() + wait);
            tracing::info!(
                error,
                retry_in_ms = wait.as_millis() as u64,
                "job failed; will retry"
            );
            app.store
                .retry_job(job.id, worker, error, run_at, now)
                .await
        }
        Outcome::Retry(error) | Outcome::RetryAfter(error, _) | Outcome::Dead(error) => {
            tracing::error!(
                error,
                "job is dead; `atiende jobs retry {}` runs it again",
                job.id
            );
            app.store.bury_job(job.id, worker, error, now).await
        }
    };
    match settled {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("the job's lease ran out while it ran; another worker owns it now")
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record the job's outcome; its lease will expire and it will run again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(3600);
        for attempts in 1..=30 {
            let full = base
                .saturating_mul(2u32.saturating_pow((attempts - 1).min(20) as u32))
                .min(max);
            let wait = backoff(base, max, i64::from(attempts));
            assert!(
                wait <= full && wait >= full / 2,
                "attempt {attempts}: {wait:?} vs {full:?}"
            );
        }
        assert!(backoff(base, max, 1) <= Duration::from_secs(5));
        assert!(backoff(base, max, 100) <= max);
    }
}
