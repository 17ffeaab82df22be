//! Faults from outside: Twilio's API slow, failing or rate-limiting for a while, and the disk
//! filling up under the recordings. Reports keep coming in meanwhile; once the fault passes,
//! the jobs catch up: every recording stored once and whole, every folio SMS sent once, no job
//! dead.
//!
//! Retries are made quick here with the configuration's own job settings (backoff and
//! time-out), never by reaching into the workers.

use crate::helpers::{
    CALLER, Db, HANG_GUARD, Options, TestApp, WATER, at_the_beep, recording_job, stored_recording,
};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{JobState, RecordingSid, RecordingStatus};
use atiende::files::FileKey;
use atiende::sim::RecordingEnd;
use atiende::sim::audio::tone_wav;
use atiende::sim::fake_api::Trouble;
use atiende::store::Job;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

on_both_databases!(
    jobs_catch_up_after_twilio_answered_slowly,
    jobs_catch_up_after_twilio_failed_with_500s,
    jobs_catch_up_after_twilio_rate_limited_with_429s,
    a_429s_retry_after_is_waited_for,
    an_endless_answer_from_twilio_is_cut_short_and_retried,
    a_full_disk_fails_the_download_and_it_completes_once_space_is_freed,
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
        let row = stored_recording(store, sid).await;
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

/// A small tmpfs mounted for one test, unmounted when dropped (however the test ends).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount` takes it: `512k`) at `path`, or `None` when this
    /// machine refuses (not root, no mount namespace). Under `CI=true` a refusal is a failure.
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs {
                path: path.to_owned(),
            }),
            refused => {
                let why = match refused {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true but a tmpfs cannot be mounted for the disk-full test: {why}");
                }
                eprintln!("skipped: cannot mount a tmpfs (needs root): {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Busy (a file still open): detach it now, it goes when the last user closes.
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.path)
                .status();
        }
    }
}

/// Fills the file system of `dir` with `file` until a write fails for lack of space.
fn fill(file: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(file).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match f.write_all(&chunk).and_then(|_| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return,
            Err(e) => panic!("filling {}: {e}", file.display()),
        }
    }
}

async fn a_full_disk_fails_the_download_and_it_completes_once_space_is_freed(db: Db) {
    // Arrange: the recordings folder is a 512 KiB tmpfs (the downloads' temporary folder stays
    // on the data folder's disk), filled to the last byte. Retries 500 ms doubling to 2 s: the
    // job's twelve attempts outlast the test's full disk, and no attempt runs while the test
    // looks at what a failed one left.
    let mount_dir = tempfile::tempdir().unwrap();
    let recordings = mount_dir.path().join("recordings");
    let Some(tmpfs) = Tmpfs::mount(&recordings, "512k") else {
        return;
    };
    let app = app_or_skip!(
        db,
        Options::default()
            .with("ATIENDE_STORAGE_URL", &recordings.display().to_string())
            .with("ATIENDE_JOB_BACKOFF_MS", "500")
            .with("ATIENDE_JOB_MAX_BACKOFF_MS", "2000")
    );
    let filler = recordings.join("filler");
    fill(&filler);

    // Act: a report while the disk is full.
    let (sid, [download, sms]) = report(&app, CALLER).await;
    wait_until(
        &app,
        "the download failed twice for lack of space",
        || async {
            job(&app, &download)
                .await
                .is_some_and(|j| j.attempts >= 2 && j.state == JobState::Queued)
        },
    )
    .await;

    // Assert: the failure is kept on the job, nothing is marked stored, and nothing
    // half-written is left in storage or in the temporary folder.
    let j = job(&app, &download).await.unwrap();
    assert!(
        j.last_error
            .as_deref()
            .is_some_and(|e| e.contains("No space left")),
        "{j:?}"
    );
    let sid = RecordingSid::parse(&sid).unwrap();
    let row = app.state.store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Pending, "{row:?}");
    assert_eq!(row.sha256, None);
    assert_eq!(row.storage_key, None);
    assert_eq!(app.state.files.list().await.unwrap(), ["filler"]);
    let temp_dir = app.data_dir.join("tmp");
    let left: Vec<_> = std::fs::read_dir(&temp_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<std::ffi::OsString>::new(), "in {temp_dir:?}");
    // The folio SMS does not wait for the disk.
    app.job_done(&sms).await;

    // Space is freed: the next attempt stores the recording, whole.
    std::fs::remove_file(&filler).unwrap();
    let done = app.job_done(&download).await;
    assert!(done.attempts >= 3, "{done:?}");
    let row = app.state.store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Stored, "{row:?}");
    let stored = app
        .state
        .files
        .get(&FileKey::recording(&sid))
        .await
        .unwrap();
    assert_eq!(stored, served_wav());
    assert_eq!(row.sha256.as_deref(), Some(sha256_hex(&stored).as_str()));
    assert_eq!(
        app.state.files.list().await.unwrap(),
        [format!("{sid}.wav")]
    );
    app.stop().await;
    drop(tmpfs);
}

async fn an_endless_answer_from_twilio_is_cut_short_and_retried(db: Db) {
    // Arrange: Twilio's API answers with a body that does not end.
    let app = app_or_skip!(db);
    app.api.set_trouble(Some(Trouble::Endless));

    // Act: a report, whose folio SMS meets it.
    let (_, [_, sms]) = report(&app, CALLER).await;

    // Assert: the answer is cut short at a bound and the job will try again; once Twilio
    // answers properly, the SMS is sent.
    wait_until(&app, "the SMS job met the endless answer", || async {
        job(&app, &sms).await.is_some_and(|j| {
            j.last_error
                .as_deref()
                .is_some_and(|e| e.contains("longer than"))
        })
    })
    .await;
    app.api.set_trouble(None);
    wait_until(&app, "the SMS is sent", || async {
        job(&app, &sms)
            .await
            .is_some_and(|j| j.state == JobState::Done)
    })
    .await;
    app.stop().await;
}
