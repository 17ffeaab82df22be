//! Faults from outside: Twilio's API slow, failing or rate-limiting for a while. Reports keep coming in meanwhile; once the fault passes,
//! the jobs catch up: every recording stored once and whole, every folio SMS sent once, no job
//! dead.
//!
//! Retries are made quick here with the configuration's own job settings (backoff and
//! time-out), never by reaching into the workers.

use crate::helpers::{CALLER, Db, HANG_GUARD, Options, TestApp, WATER, at_the_beep, recording_job};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{JobState, RecordingSid, RecordingStatus};
use atiende::sim::RecordingEnd;
use atiende::sim::audio::tone_wav;
use atiende::sim::fake_api::Trouble;
use atiende::store::Job;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

on_both_databases!(
    jobs_catch_up_after_twilio_answered_slowly,
    jobs_catch_up_after_twilio_failed_with_500s,
    jobs_catch_up_after_twilio_rate_limited_with_429s,
    a_429s_retry_after_is_waited_for,
);

/// The recording every call of these tests makes (the fake serves it for every sid).
fn served_wav() -> Vec<u8> {
    tone_wav(3)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Waits until `check` holds, polling every 25 ms, for at most `HANG_GUARD` (a guard against
/// hanging, not a timing assertion); panics with `what` and the jobs as they stand.
async fn wait_until<F, Fut>(app: &TestApp, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + HANG_GUARD;
    while !check().await {
        if Instant::now() > deadline {
            let jobs = app.state.store.jobs(None, 100).await.unwrap();
            panic!("never happened: {what}\njobs not done: {jobs:#?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// One report from `from` with its recording, the caller hanging up after the folio. Returns
/// the recording's sid and the keys of its two jobs (download, folio SMS).
///
/// Twilio's `completed` callback comes first here (it may come either way): the callback makes
/// the download due at once, and coming first it does so before any attempt, so the attempts
/// a test counts are the workers' alone.
async fn report(app: &TestApp, from: &str) -> (String, [String; 2]) {
    let mut call = at_the_beep(&app.caller, Some(from), WATER).await;
    let recording = call.new_recording(3);
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.send_record_action(&recording, RecordingEnd::Key)
        .await
        .unwrap();
    call.hang_up(40).await.unwrap();
    let case = app.case_of(&call).await;
    let keys = [recording_job(&recording), format!("sms-folio:{}", case.id)];
    (recording.sid, keys)
}

async fn job(app: &TestApp, key: &str) -> Option<Job> {
    app.state.store.job_by_key(key).await.unwrap()
}

/// Reports come in while Twilio's API is in `trouble`; every job meets it at least once; then
/// it passes, one more report comes, and everything catches up exactly once.
async fn jobs_catch_up_after_trouble(app: TestApp, trouble: Trouble) {
    // Arrange: Twilio in trouble before the first report.
    app.api.set_trouble(Some(trouble.clone()));

    // Act: three reports in trouble.
    let mut reports = Vec::new();
    for n in 0..3 {
        reports.push(report(&app, &format!("+5255123400{n:02}")).await);
    }
    let keys: Vec<String> = reports.iter().flat_map(|(_, k)| k.clone()).collect();
    wait_until(
        &app,
        "every job has failed against Twilio at least once",
        || async {
            let mut all = true;
            for key in &keys {
                all &= job(&app, key).await.is_some_and(|j| j.last_error.is_some());
            }
            all
        },
    )
    .await;
    let troubled_requests = app.api.troubled();
    for key in &keys {
        let j = job(&app, key).await.unwrap();
        assert_ne!(
            j.state,
            JobState::Dead,
            "dead while Twilio was in trouble: {j:?}"
        );
        assert_ne!(
            j.state,
            JobState::Done,
            "done while Twilio was in trouble: {j:?}"
        );
    }
    assert_eq!(app.api.recordings_served(), 0, "nothing served in trouble");
    assert!(
        app.api.sms().is_empty(),
        "nothing sent in trouble: {:?}",
        app.api.sms()
    );
    assert!(
        troubled_requests >= keys.len(),
        "{trouble:?} met only {troubled_requests} requests for {} jobs",
        keys.len()
    );
    // Twilio recovers; the stream of reports goes on.
    app.api.set_trouble(None);
    reports.push(report(&app, "+525512340099").await);

    // Assert: everything catches up.
    let keys: Vec<String> = reports.iter().flat_map(|(_, k)| k.clone()).collect();
    wait_until(&app, "every job done after Twilio recovered", || async {
        let mut all = true;
        for key in &keys {
            all &= job(&app, key)
                .await
                .is_some_and(|j| j.state == JobState::Done);
        }
        all
    })
    .await;
    let store = &app.state.store;
    assert_eq!(
        store.jobs(None, 100).await.unwrap(),
        Vec::<Job>::new(),
        "no job left queued, running or dead"
    );
    let expected_hash = sha256_hex(&served_wav());
    let mut expected_keys = Vec::new();
    for (sid, _) in &reports {
        assert_eq!(app.api.requests_for_recording(sid), 1, "{sid} served once");
        let row = store
            .recording(&RecordingSid::parse(sid).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, RecordingStatus::Stored, "{row:?}");
        assert_eq!(row.sha256.as_deref(), Some(expected_hash.as_str()));
        expected_keys.push(format!("{sid}.wav"));
    }
    expected_keys.sort();
    assert_eq!(app.state.files.list().await.unwrap(), expected_keys);
    let sent = app.api.sms();
    let mut to: Vec<&str> = sent.iter().filter_map(|m| m.get("To")).collect();
    to.sort();
    to.dedup();
    assert_eq!(
        sent.len(),
        reports.len(),
        "one folio SMS per report: {sent:?}"
    );
    assert_eq!(to.len(), reports.len(), "each to its caller: {sent:?}");
    assert!(sent.iter().all(|m| m.sid.is_some()), "all accepted");
    app.stop().await;
}

/// Retries quick enough for a test, slow enough that eight attempts (an SMS's) outlast the
/// trouble: 100 ms doubling to 400 ms, four workers.
fn quick_retries() -> Options {
    Options::default()
        .with("ATIENDE_WORKERS", "4")
        .with("ATIENDE_JOB_BACKOFF_MS", "100")
        .with("ATIENDE_JOB_MAX_BACKOFF_MS", "400")
}

async fn jobs_catch_up_after_twilio_answered_slowly(db: Db) {
    // Twilio answers after 1.5 s; the service gives up after 1 s.
    let app = app_or_skip!(
        db,
        quick_retries().with("ATIENDE_HTTP_TIMEOUT_SECONDS", "1")
    );
    jobs_catch_up_after_trouble(app, Trouble::Slow(Duration::from_millis(1500))).await;
}

async fn jobs_catch_up_after_twilio_failed_with_500s(db: Db) {
    let app = app_or_skip!(db, quick_retries());
    jobs_catch_up_after_trouble(app, Trouble::Failing(500)).await;
}

async fn jobs_catch_up_after_twilio_rate_limited_with_429s(db: Db) {
    let app = app_or_skip!(db, quick_retries());
    jobs_catch_up_after_trouble(
        app,
        Trouble::RateLimited {
            retry_after_seconds: 1,
        },
    )
    .await;
}

async fn a_429s_retry_after_is_waited_for(db: Db) {
    // Arrange: a backoff of 20 ms (the tests' default), and Twilio asking for 2 s.
    let app = app_or_skip!(db);
    app.api.set_trouble(Some(Trouble::RateLimited {
        retry_after_seconds: 2,
    }));

    // Act
    let (sid, [download, sms]) = report(&app, CALLER).await;
    wait_until(&app, "both jobs were rate-limited once", || async {
        let mut both = true;
        for key in [&download, &sms] {
            both &= job(&app, key)
                .await
                .is_some_and(|j| j.state == JobState::Queued && j.last_error.is_some());
        }
        both
    })
    .await;

    // Assert: each retry is set no sooner than Twilio asked, not after the 20 ms backoff...
    for key in [&download, &sms] {
        let j = job(&app, key).await.unwrap();
        assert!(
            j.last_error.as_deref().is_some_and(|e| e.contains("429")),
            "{j:?}"
        );
        let wait = j.run_at.as_utc() - j.updated_at.as_utc();
        assert!(
            wait >= chrono::Duration::seconds(2),
            "{key} retries after {wait:?}: {j:?}"
        );
    }
    // ...and nothing asked again meanwhile.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        app.api.troubled(),
        2,
        "one request per job until Retry-After"
    );
    for key in [&download, &sms] {
        assert_eq!(job(&app, key).await.unwrap().attempts, 1);
    }
    // Twilio lets us in again: both go through on their second attempt.
    app.api.set_trouble(None);
    for key in [&download, &sms] {
        assert_eq!(app.job_done(key).await.attempts, 2);
    }
    assert_eq!(app.api.requests_for_recording(&sid), 1);
    assert_eq!(app.api.sms().len(), 1);
    app.stop().await;
}
