//! Durable jobs: claimed by one worker at a time, retried until they are dead, visible and
//! retried from the command line, and finished after the process running them is killed.
//!
//! The download of a recording is the job used throughout: the fake of Twilio's API makes it
//! fail, or slow, on demand.

use crate::helpers::{
    ACCOUNT_SID, CALLER, Db, HANG_GUARD, OFFICE, Options, TOKEN, TestApp, WATER, at_the_beep,
    atiende_command, became_healthy, caller_for, eventually, files_under, free_port,
    office_hours_now, record, recording_job, sqlite_url, start_fake_api,
};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{JobKind, JobState, RecordingStatus};
use atiende::domain::{RecordingSid, Timestamp};
use atiende::files::FileKey;
use atiende::sim::audio::tone_wav;
use atiende::sim::fake_api::{FakeTwilioApi, RecordingReply};
use atiende::store::{Job, Store};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

on_both_databases!(
    the_store_hands_a_job_to_one_worker_at_a_time,
    a_job_that_keeps_failing_ends_dead_and_is_retried_from_the_command_line,
    many_workers_never_run_one_job_twice,
    a_long_job_keeps_its_lease_while_it_runs,
);

async fn a_long_job_keeps_its_lease_while_it_runs(db: Db) {
    // Arrange: a one-second lease, two workers, and a recording Twilio serves in 1.4 seconds
    // (in pieces): longer than the lease.
    let app = app_or_skip!(
        db,
        Options::default()
            .with("ATIENDE_JOB_LEASE_SECONDS", "1")
            .with("ATIENDE_WORKERS", "2")
    );
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(2);
    app.api.set_recording_replies(
        &recording.sid,
        vec![RecordingReply::Slow {
            bytes: tone_wav(2),
            chunks: 8,
            pause: Duration::from_millis(200),
        }],
    );

    // Act
    record(&mut call, &recording).await;
    let job = app.job_done(&recording_job(&recording)).await;

    // Assert: the worker's heartbeat kept the job; the other worker never took it.
    assert_eq!(job.attempts, 1, "{job:?}");
    assert_eq!(app.api.requests_for_recording(&recording.sid), 1);
    app.stop().await;
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_utc(office_hours_now() + chrono::Duration::seconds(seconds))
}

async fn the_store_hands_a_job_to_one_worker_at_a_time(db: Db) {
    // Arrange: no workers of the service's own; the test plays them.
    let app = app_or_skip!(db, Options::default().with("ATIENDE_WORKERS", "0"));
    let store = &app.state.store;
    assert!(
        store
            .enqueue_job(JobKind::SendSms, "test:one", "1", at(0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .enqueue_job(JobKind::SendSms, "test:one", "2", at(0))
            .await
            .unwrap(),
        "one job per key"
    );
    assert!(
        store
            .enqueue_job(JobKind::SendSms, "test:later", "3", at(3600))
            .await
            .unwrap()
    );

    // Act and assert: the due job goes to the first worker that asks, and to no other.
    let first = store
        .claim_job("worker-a", at(1), at(61))
        .await
        .unwrap()
        .expect("the due job is claimed");
    assert_eq!(first.dedup_key, "test:one");
    assert_eq!(first.payload, "1");
    assert_eq!(first.state, JobState::Running);
    assert_eq!(first.attempts, 1);
    assert!(
        store
            .claim_job("worker-b", at(2), at(62))
            .await
            .unwrap()
            .is_none(),
        "claimed already, and the other job is not due"
    );

    // Its lease runs out (the worker died): another worker gets it, as a new attempt.
    let again = store
        .claim_job("worker-b", at(62), at(122))
        .await
        .unwrap()
        .expect("a running job whose lease expired is claimed again");
    assert_eq!(again.id, first.id);
    assert_eq!(again.attempts, 2);

    // The first worker comes back: it cannot settle a job it no longer owns.
    assert!(
        !store
            .finish_job(first.id, "worker-a", at(63))
            .await
            .unwrap()
    );
    assert!(
        !store
            .retry_job(first.id, "worker-a", "late", at(70), at(63))
            .await
            .unwrap()
    );
    assert!(
        !store
            .bury_job(first.id, "worker-a", "late", at(63))
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_job(first.id, "worker-b", at(64))
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_job(first.id, "worker-b", at(65))
            .await
            .unwrap(),
        "settled once"
    );
    let done = store.job_by_key("test:one").await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.attempts, 2);
    assert_eq!(
        done.last_error, None,
        "the late worker's error was not kept"
    );

    // Many workers asking at once for one due job: exactly one gets it.
    assert!(
        store
            .enqueue_job(JobKind::SendSms, "test:race", "4", at(100))
            .await
            .unwrap()
    );
    let names: Vec<String> = (0..8).map(|i| format!("racer-{i}")).collect();
    let claims = futures_util::future::join_all(
        names
            .iter()
            .map(|name| store.claim_job(name, at(100), at(160))),
    )
    .await;
    let claims: Vec<Option<Job>> = claims
        .into_iter()
        .map(|c| c.expect("a claim does not fail under contention"))
        .collect();
    let won: Vec<Job> = claims.into_iter().flatten().collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].dedup_key, "test:race");

    // The heartbeat: only the owner renews the lease, and a renewed lease keeps the job.
    let mut renewed = 0;
    for name in names.iter().map(String::as_str).chain(["someone-else"]) {
        if store
            .renew_lease(won[0].id, name, at(300), at(150))
            .await
            .unwrap()
        {
            renewed += 1;
        }
    }
    assert_eq!(renewed, 1, "only the owner renews");
    assert!(
        store
            .claim_job("late", at(200), at(260))
            .await
            .unwrap()
            .is_none(),
        "the renewed lease has not run out"
    );
    let taken = store.claim_job("late", at(301), at(360)).await.unwrap();
    assert_eq!(taken.map(|j| j.id), Some(won[0].id), "it has now");
    app.stop().await;
}

/// `atiende ARGS` against the test service's database, in a folder of its own, with nothing
/// from the developer's environment but `PATH`.
async fn atiende_cli(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::from(atiende_command(dir.path()));
    cmd.env("DATABASE_URL", app.state.config.database_url.as_str())
        .args(args)
        .kill_on_drop(true);
    let out = tokio::time::timeout(HANG_GUARD, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("`atiende {}` did not finish", args.join(" ")))
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn a_job_that_keeps_failing_ends_dead_and_is_retried_from_the_command_line(db: Db) {
    // Arrange: a recording Twilio never manages to serve.
    let app = app_or_skip!(db);
    let store = &app.state.store;
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(4);
    let wav = tone_wav(4);
    app.api
        .set_recording_replies(&recording.sid, vec![RecordingReply::Status(500)]);

    // Act: the job runs until it gives up.
    record(&mut call, &recording).await;

    // Assert: dead after its last attempt, its error kept, listed.
    let dead = app
        .job_in_state(&recording_job(&recording), JobState::Dead)
        .await;
    assert_eq!(dead.max_attempts, 12);
    assert_eq!(dead.attempts, dead.max_attempts, "{dead:?}");
    assert!(
        dead.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("500"),
        "{dead:?}"
    );
    assert_eq!(app.api.requests_for_recording(&recording.sid), 12);
    let listed = store.jobs(Some(JobState::Dead), 100).await.unwrap();
    assert!(listed.iter().any(|j| j.id == dead.id), "{listed:?}");
    let sid = RecordingSid::parse(&recording.sid).unwrap();
    assert_eq!(
        store.recording(&sid).await.unwrap().unwrap().status,
        RecordingStatus::Pending,
        "a dead download does not lose the recording: it can be retried"
    );

    // `atiende jobs` shows it to the operator.
    let (code, stdout, stderr) = atiende_cli(&app, &["jobs"]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{}\t", dead.id)))
        .unwrap_or_else(|| panic!("job {} listed: {stdout}", dead.id));
    assert!(line.contains("dead"), "{line}");
    assert!(line.contains(&recording_job(&recording)), "{line}");
    assert!(line.contains("500"), "the last error is shown: {line}");

    // Twilio serves the file now; `atiende jobs retry ID` puts the job back.
    app.api
        .set_recording_replies(&recording.sid, vec![RecordingReply::Wav(wav.clone())]);
    let id = dead.id.to_string();
    let (code, stdout, stderr) = atiende_cli(&app, &["jobs", "retry", &id]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&id), "{stdout}");

    // The running service picks it up and stores the recording.
    let done = app.job_done(&recording_job(&recording)).await;
    assert_eq!(done.attempts, 1, "attempts start again: {done:?}");
    let row = store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Stored, "{row:?}");
    assert_eq!(
        app.state
            .files
            .get(&FileKey::recording(&sid))
            .await
            .unwrap(),
        wav
    );
    let (code, stdout, stderr) = atiende_cli(&app, &["jobs"]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("no dead jobs"), "{stdout}");

    // Retrying a job that is not dead, or does not exist, fails and says why.
    for id in [id.as_str(), "999999"] {
        let (code, stdout, stderr) = atiende_cli(&app, &["jobs", "retry", id]).await;
        assert_ne!(code, Some(0), "{stdout}{stderr}");
        assert!(
            stderr.contains(&format!("no dead job {id}")),
            "a clear message: {stderr}"
        );
    }
    app.stop().await;
}

async fn many_workers_never_run_one_job_twice(db: Db) {
    // Arrange: eight workers; twenty recordings, each served slowly so that the workers are
    // busy while the others look for work.
    let app = app_or_skip!(db, Options::default().with("ATIENDE_WORKERS", "8"));
    let wav = tone_wav(2);
    let mut calls = Vec::new();
    for _ in 0..20 {
        let call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
        let recording = call.new_recording(2);
        app.api.set_recording_replies(
            &recording.sid,
            vec![RecordingReply::Slow {
                bytes: wav.clone(),
                chunks: 3,
                pause: Duration::from_millis(50),
            }],
        );
        calls.push((call, recording));
    }

    // Act: the twenty reports arrive at once.
    futures_util::future::join_all(
        calls
            .iter_mut()
            .map(|(call, recording)| record(call, recording)),
    )
    .await;

    // Assert: every recording fetched exactly once, and stored.
    let store = &app.state.store;
    eventually("every job is settled", || async {
        store.jobs(None, 100).await.unwrap().is_empty()
    })
    .await;
    for (_, recording) in &calls {
        let job = app.job_done(&recording_job(recording)).await;
        assert_eq!(job.attempts, 1, "{job:?}");
        assert_eq!(
            app.api.requests_for_recording(&recording.sid),
            1,
            "{} fetched once",
            recording.sid
        );
        let sid = RecordingSid::parse(&recording.sid).unwrap();
        assert_eq!(
            store.recording(&sid).await.unwrap().unwrap().status,
            RecordingStatus::Stored
        );
    }
    assert_eq!(app.api.recording_requests().len(), 20);
    assert_eq!(app.state.files.list().await.unwrap().len(), 20);
    app.stop().await;
}

/// `atiende serve` as a child process, killed when dropped (a test that fails half-way must not
/// leave a server running). Its output goes to a log file, shown when something goes wrong.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, data: &Path, port: u16, api: &FakeTwilioApi, name: &str) -> Server {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = atiende_command(dir)
            .arg("serve")
            .env("ATIENDE_LISTEN", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", sqlite_url(&data.join("atiende.db")))
            .env("ATIENDE_DATA_DIR", data)
            .env(
                "ATIENDE_PROMPTS_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/prompts"),
            )
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
            .env("TWILIO_PHONE_NUMBER", OFFICE)
            .env("TWILIO_API_BASE", api.base())
            .env("ATIENDE_JOB_LEASE_SECONDS", "2")
            .env("ATIENDE_JOB_POLL_MS", "50")
            .env("ATIENDE_JOB_BACKOFF_MS", "20")
            .env("ATIENDE_JOB_MAX_BACKOFF_MS", "100")
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the binary starts");
        Server { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: the process ends at once, whatever it was doing.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the server answers `GET /healthz` (bounded); fails with its log if not.
    async fn wait_until_healthy(&mut self, port: u16) {
        let child = &mut self.child;
        if !became_healthy(port, || child.try_wait().unwrap().is_some()).await {
            self.kill();
            panic!("the server never became healthy:\n{}", self.log());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

#[tokio::test]
async fn a_worker_killed_in_the_middle_of_a_download_finishes_the_job_after_a_restart() {
    // Arrange: `atiende serve` on SQLite with a short lease, and a fake Twilio that serves the
    // recording slowly (ten seconds, in pieces).
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let api = start_fake_api(TOKEN).await;
    let port = free_port();
    let mut server = Server::start(dir.path(), &data, port, &api, "first");
    server.wait_until_healthy(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let caller = caller_for(&base, &base, Some(TOKEN), &api);
    let wav = tone_wav(10);
    let mut call = at_the_beep(&caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(10);
    api.set_recording_replies(
        &recording.sid,
        vec![RecordingReply::Slow {
            bytes: wav.clone(),
            chunks: 20,
            pause: Duration::from_millis(500),
        }],
    );
    record(&mut call, &recording).await;

    // Act: the process is killed while it downloads the recording.
    let deadline = Instant::now() + HANG_GUARD;
    while api.requests_for_recording(&recording.sid) == 0 {
        assert!(
            Instant::now() < deadline,
            "the download never started:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let store = Store::connect(&sqlite_url(&data.join("atiende.db")))
        .await
        .unwrap();
    let sid = RecordingSid::parse(&recording.sid).unwrap();
    let row = store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(
        row.status,
        RecordingStatus::Pending,
        "killed before the download ended"
    );
    let job = store
        .job_by_key(&recording_job(&recording))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        job.state,
        JobState::Running,
        "the dead worker still holds it: {job:?}"
    );

    // Restarted on the same database and data folder; Twilio now answers at once.
    api.set_recording_replies(&recording.sid, vec![RecordingReply::Wav(wav.clone())]);
    let port = free_port();
    let mut server = Server::start(dir.path(), &data, port, &api, "second");
    server.wait_until_healthy(port).await;

    // Assert: the job runs again once its lease is over, and ends with one stored file.
    let deadline = Instant::now() + HANG_GUARD;
    let job = loop {
        let job = store
            .job_by_key(&recording_job(&recording))
            .await
            .unwrap()
            .unwrap();
        if job.state == JobState::Done {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the job never finished: {job:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(job.attempts >= 2, "{job:?}");
    assert!(api.requests_for_recording(&recording.sid) >= 2);
    let row = store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Stored, "{row:?}");
    let expected = data
        .join("recordings")
        .join(format!("{}.wav", recording.sid));
    assert_eq!(
        files_under(&data.join("recordings")),
        vec![PathBuf::from(format!("{}.wav", recording.sid))]
    );
    assert_eq!(std::fs::read(&expected).unwrap(), wav, "byte for byte");
    assert_eq!(
        files_under(&data.join("tmp")),
        Vec::<PathBuf>::new(),
        "no partial download left behind"
    );
    server.kill();
    store.close().await;
}
