//! Recordings: copied from Twilio into our storage, checked, hashed, once per RecordingSid.
//!
//! Every test here runs four times: on SQLite and on PostgreSQL, each with the recordings in a
//! local folder and in S3-compatible storage (`ATIENDE_TEST_S3_URL`), so that "storage on S3
//! passes the same tests as the local folder" is checked, not assumed.

use crate::app_or_skip;
use crate::helpers::{
    CALLER, Db, Options, StorageKind, TestApp, WATER, at_the_beep, eventually, record,
    recording_job,
};
use atiende::domain::RecordingSid;
use atiende::domain::{JobState, MessageStatus, RecordingStatus};
use atiende::files::FileKey;
use atiende::sim::audio::tone_wav;
use atiende::sim::fake_api::RecordingReply;
use atiende::sim::{Recording, RecordingEnd, SimCall, random_hex};
use atiende::twiml::{Response, Verb};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Declares each named `async fn(Db, StorageKind)` as four tests: `NAME::sqlite_local`,
/// `NAME::postgres_local`, `NAME::sqlite_s3` and `NAME::postgres_s3`.
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{Db, StorageKind};
                #[tokio::test]
                async fn sqlite_local() {
                    super::$name(Db::Sqlite, StorageKind::Local).await
                }
                #[tokio::test]
                async fn postgres_local() {
                    super::$name(Db::Postgres, StorageKind::Local).await
                }
                #[tokio::test]
                async fn sqlite_s3() {
                    super::$name(Db::Sqlite, StorageKind::S3).await
                }
                #[tokio::test]
                async fn postgres_s3() {
                    super::$name(Db::Postgres, StorageKind::S3).await
                }
            }
        )+
    };
}

on_every_backend!(
    a_whole_call_ends_with_the_recording_stored_and_one_folio_sms,
    callbacks_out_of_order_repeated_and_concurrent_store_one_file,
    a_recording_not_ready_yet_is_fetched_again,
    a_server_error_is_retried,
    too_many_requests_is_retried,
    an_answer_slower_than_the_time_out_is_retried,
    a_malformed_wav_is_kept_in_quarantine,
    a_recording_url_on_another_host_is_never_fetched,
    a_redirect_away_from_twilio_is_never_followed,
    an_absent_recording_marks_the_case_without_recording,
    twilio_s_copy_is_deleted_after_ours_is_verified_when_asked,
);

fn options(storage: StorageKind) -> Options {
    Options {
        storage,
        ..Options::default()
    }
}

/// The `<Record>` the call is stopped at: its action and its status callback URL.
fn record_urls(call: &SimCall) -> (String, String) {
    let doc = Response::parse(call.last_xml()).unwrap();
    let record = doc
        .verbs
        .iter()
        .find_map(|v| match v {
            Verb::Record(r) => Some(r.clone()),
            _ => None,
        })
        .expect("the call is at a <Record>");
    (
        record.action.expect("action"),
        record.recording_status_callback.expect("status callback"),
    )
}

/// A request as Twilio sends it about `recording`, which must be accepted.
async fn post_about(
    app: &TestApp,
    call: &SimCall,
    url: &str,
    recording: &Recording,
    extra: &[(&str, &str)],
) {
    let (status, body) = app.post_about_recording(call, url, recording, extra).await;
    assert!(
        status == 200 || status == 204,
        "{url}: HTTP {status}: {body}"
    );
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sid_of(recording: &Recording) -> RecordingSid {
    RecordingSid::parse(&recording.sid).unwrap()
}

/// Everything in storage.
async fn stored_keys(app: &TestApp) -> Vec<String> {
    app.state.files.list().await.unwrap()
}

async fn case_recording_status(app: &TestApp, call: &SimCall) -> Option<RecordingStatus> {
    app.case_of(call).await.recording_status
}

async fn a_whole_call_ends_with_the_recording_stored_and_one_folio_sms(
    db: Db,
    storage: StorageKind,
) {
    // Arrange: the recording Twilio will serve.
    let app = app_or_skip!(db, options(storage));
    let wav = tone_wav(7);
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(7);
    app.api
        .set_recording_replies(&recording.sid, vec![RecordingReply::Wav(wav.clone())]);

    // Act: the caller records and hangs up; Twilio sends the callbacks.
    record(&mut call, &recording).await;
    call.hang_up(60).await.unwrap();

    // Assert: stored byte for byte, hash and duration right, one SMS with the folio.
    let sid = sid_of(&recording);
    let store = &app.state.store;
    let job = app.job_done(&recording_job(&recording)).await;
    let row = store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Stored, "{row:?}");
    let stored = app
        .state
        .files
        .get(&FileKey::recording(&sid))
        .await
        .unwrap();
    assert_eq!(stored, wav, "byte for byte");
    assert_eq!(row.sha256.as_deref(), Some(hex_sha256(&wav).as_str()));
    assert_eq!(row.duration_ms, Some(7000));
    assert_eq!(row.sample_rate, Some(8000));
    assert_eq!(row.channels, Some(1));
    assert_eq!(row.bits_per_sample, Some(16));
    assert_eq!(row.size_bytes, Some(wav.len() as i64));
    assert_eq!(
        row.storage_key.as_deref(),
        Some(FileKey::recording(&sid).as_str())
    );
    let peaks: Vec<u8> = serde_json::from_str(row.peaks.as_deref().unwrap()).unwrap();
    assert!(peaks.len() >= 300, "a waveform summary: {}", peaks.len());
    assert!(peaks.iter().any(|p| *p > 0), "the tone is not silence");
    assert_eq!(
        stored_keys(&app).await,
        vec![FileKey::recording(&sid).as_str().to_owned()],
        "exactly one file, and no temporary file left in storage"
    );
    if storage == StorageKind::Local {
        // Where the README says: under ATIENDE_DATA_DIR, named by the sid.
        let path = app
            .data_dir
            .join("recordings")
            .join(format!("{}.wav", recording.sid));
        assert_eq!(std::fs::read(&path).unwrap(), wav, "{}", path.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(app.data_dir.join("tmp"))
        .map(|dir| dir.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "no partial download left: {leftovers:?}"
    );
    assert_eq!(job.attempts, 1, "{job:?}");
    assert_eq!(app.api.requests_for_recording(&recording.sid), 1);
    // Deleting Twilio's copy is off by default.
    assert!(app.api.deleted().is_empty(), "{:?}", app.api.deleted());
    assert!(!row.deleted_from_twilio);
    let case = app.case_of(&call).await;
    assert_eq!(case.recording_status, Some(RecordingStatus::Stored));

    eventually("the folio SMS is sent", || async {
        !app.api.sms().is_empty()
    })
    .await;
    let sms = app.api.sms();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].get("To"), Some(CALLER));
    assert_eq!(sms[0].get("From"), Some("+525500000000"));
    assert!(sms[0].get("Body").unwrap().contains(&case.folio), "{sms:?}");
    assert!(
        sms[0]
            .get("StatusCallback")
            .unwrap()
            .starts_with(&format!("{}/twilio/messaging/status", app.base))
    );
    eventually("the message is marked queued", || async {
        store
            .messages(Some(case.id))
            .await
            .unwrap()
            .iter()
            .any(|m| m.status == MessageStatus::Queued && m.twilio_sid.is_some())
    })
    .await;
    app.stop().await;
}

async fn callbacks_out_of_order_repeated_and_concurrent_store_one_file(
    db: Db,
    storage: StorageKind,
) {
    // Arrange: a caller at the beep; the fake serves the recording a little slowly, so that the
    // later callbacks arrive while it is being downloaded.
    let app = app_or_skip!(db, options(storage));
    let wav = tone_wav(5);
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let (action, callback) = record_urls(&call);
    let recording = call.new_recording(5);
    app.api.set_recording_replies(
        &recording.sid,
        vec![RecordingReply::Slow {
            bytes: wav.clone(),
            chunks: 4,
            pause: Duration::from_millis(100),
        }],
    );
    let completed = [("RecordingStatus", "completed")];
    let pressed = [("Digits", "#"), ("CallStatus", "in-progress")];

    // Act: the status callback first, twice; then the action; then the action and the callback
    // again; then a burst of both at once.
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.send_record_action(&recording, RecordingEnd::Key)
        .await
        .unwrap();
    post_about(&app, &call, &action, &recording, &pressed).await;
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    let burst = (0..12).map(|i| {
        let (url, extra): (&str, &[(&str, &str)]) = if i % 3 == 0 {
            (&action, &pressed)
        } else {
            (&callback, &completed)
        };
        post_about(&app, &call, url, &recording, extra)
    });
    futures_util::future::join_all(burst).await;
    call.hang_up(40).await.unwrap();

    // Assert: one case, one job run once, one file, the row stored once with the right hash.
    let sid = sid_of(&recording);
    let job = app.job_done(&recording_job(&recording)).await;
    // Nothing left to run: no second download, no second SMS waiting.
    eventually("every job is settled", || async {
        app.state.store.jobs(None, 100).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(job.attempts, 1, "{job:?}");
    assert_eq!(
        app.api.requests_for_recording(&recording.sid),
        1,
        "{:?}",
        app.api.recording_requests()
    );
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    let row = app.state.store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Stored, "{row:?}");
    assert_eq!(row.sha256.as_deref(), Some(hex_sha256(&wav).as_str()));
    assert_eq!(
        stored_keys(&app).await,
        vec![FileKey::recording(&sid).as_str().to_owned()]
    );
    assert_eq!(
        app.state
            .files
            .get(&FileKey::recording(&sid))
            .await
            .unwrap(),
        wav
    );
    assert_eq!(
        case_recording_status(&app, &call).await,
        Some(RecordingStatus::Stored)
    );
    assert_eq!(app.api.sms().len(), 1, "one folio SMS: {:?}", app.api.sms());
    app.stop().await;
}

/// The fake answers `answers` in turn for the recording of a whole call; the recording must
/// end stored, after more than one attempt, with the job's last error mentioning `failure`.
async fn stored_after_failures(
    db: Db,
    storage: StorageKind,
    answers: Vec<RecordingReply>,
    failure: &str,
) {
    // Arrange
    let app = app_or_skip!(db, options(storage));
    let wav = tone_wav(4);
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(4);
    let mut answers = answers;
    answers.push(RecordingReply::Wav(wav.clone()));
    let failures = answers.len() - 1;
    app.api.set_recording_replies(&recording.sid, answers);

    // Act
    record(&mut call, &recording).await;

    // Assert: stored after the failures, each one an attempt; the error kept.
    let sid = sid_of(&recording);
    let job = app.job_done(&recording_job(&recording)).await;
    let row = app.state.store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Stored, "{row:?} {job:?}");
    assert_eq!(
        app.state
            .files
            .get(&FileKey::recording(&sid))
            .await
            .unwrap(),
        wav
    );
    assert_eq!(row.sha256.as_deref(), Some(hex_sha256(&wav).as_str()));
    assert_eq!(row.duration_ms, Some(4000));
    assert_eq!(
        stored_keys(&app).await,
        vec![FileKey::recording(&sid).as_str().to_owned()]
    );
    assert!(job.attempts > 1, "{job:?}");
    assert_eq!(job.attempts, failures as i64 + 1, "{job:?}");
    assert_eq!(app.api.requests_for_recording(&recording.sid), failures + 1);
    let error = job.last_error.clone().unwrap_or_default();
    assert!(
        error.to_lowercase().contains(failure),
        "the last error mentions {failure:?}: {job:?}"
    );
    assert_eq!(
        case_recording_status(&app, &call).await,
        Some(RecordingStatus::Stored)
    );
    app.stop().await;
}

async fn a_recording_not_ready_yet_is_fetched_again(db: Db, storage: StorageKind) {
    stored_after_failures(
        db,
        storage,
        vec![RecordingReply::Status(404), RecordingReply::Status(404)],
        "404",
    )
    .await;
}

async fn a_server_error_is_retried(db: Db, storage: StorageKind) {
    stored_after_failures(db, storage, vec![RecordingReply::Status(500)], "500").await;
}

async fn too_many_requests_is_retried(db: Db, storage: StorageKind) {
    stored_after_failures(db, storage, vec![RecordingReply::Status(429)], "429").await;
}

async fn an_answer_slower_than_the_time_out_is_retried(db: Db, storage: StorageKind) {
    // ATIENDE_HTTP_TIMEOUT_SECONDS is 2 in tests: this answer would take 4 s.
    let slow = RecordingReply::Slow {
        bytes: tone_wav(4),
        chunks: 5,
        pause: Duration::from_secs(1),
    };
    stored_after_failures(db, storage, vec![slow], "time").await;
}

async fn a_malformed_wav_is_kept_in_quarantine(db: Db, storage: StorageKind) {
    // Arrange: two recordings that are not WAV files: garbage with a RIFF header, and a tone cut
    // in the middle of its samples.
    let app = app_or_skip!(db, options(storage));
    let garbage = b"RIFF\x00\x00\x00\x00WAVEjunk".to_vec();
    let mut truncated = tone_wav(2);
    truncated.truncate(truncated.len() / 2 + 1);
    let mut keys = Vec::new();
    for bytes in [garbage, truncated] {
        let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
        let recording = call.new_recording(2);
        app.api
            .set_recording_replies(&recording.sid, vec![RecordingReply::Wav(bytes.clone())]);

        // Act
        record(&mut call, &recording).await;

        // Assert: kept apart byte for byte, the case flagged, the job done and not retried.
        let sid = sid_of(&recording);
        let job = app.job_done(&recording_job(&recording)).await;
        assert_eq!(job.attempts, 1, "not retried: {job:?}");
        assert_eq!(app.api.requests_for_recording(&recording.sid), 1);
        let row = app.state.store.recording(&sid).await.unwrap().unwrap();
        assert_eq!(row.status, RecordingStatus::Quarantined, "{row:?}");
        assert!(row.error.is_some(), "{row:?}");
        assert_eq!(
            row.storage_key.as_deref(),
            Some(FileKey::quarantine(&sid).as_str())
        );
        assert_eq!(
            app.state
                .files
                .get(&FileKey::quarantine(&sid))
                .await
                .unwrap(),
            bytes,
            "the file is kept as it came"
        );
        assert!(
            !app.state
                .files
                .exists(&FileKey::recording(&sid))
                .await
                .unwrap(),
            "nothing stored as a playable recording"
        );
        assert_eq!(
            case_recording_status(&app, &call).await,
            Some(RecordingStatus::Quarantined)
        );
        keys.push(FileKey::quarantine(&sid).as_str().to_owned());
    }
    keys.sort();
    assert_eq!(stored_keys(&app).await, keys);
    app.stop().await;
}

async fn a_recording_url_on_another_host_is_never_fetched(db: Db, storage: StorageKind) {
    // Arrange: a listener that would notice any connection, and URLs that are not on
    // TWILIO_API_BASE: another port on loopback, a user name on the right host and port (which
    // the fake would answer), and another host altogether.
    let app = app_or_skip!(db, options(storage));
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    let contacted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = contacted.clone();
    let trap_task = tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let fake_authority = app.api.base().trim_start_matches("http://").to_owned();
    let account = app.api.account_sid().expect("the test account");
    let hosts = [
        format!("http://127.0.0.1:{trap_port}"),
        format!("http://user:pw@{fake_authority}"),
        "https://evil.example".to_owned(),
    ];
    let mut sids = Vec::new();
    for host in hosts {
        let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
        let sid = format!("RE{}", random_hex());
        let recording = Recording {
            url: format!("{host}/2010-04-01/Accounts/{account}/Recordings/{sid}"),
            sid,
            duration_seconds: 6,
        };

        // Act
        record(&mut call, &recording).await;

        // Assert: refused, the case flagged, the job dead.
        // Dead, not done: `atiende jobs` lists it, to retry once TWILIO_API_BASE is right.
        let job = app
            .job_in_state(&recording_job(&recording), JobState::Dead)
            .await;
        assert_eq!(job.attempts, 1, "{job:?}");
        let row = app
            .state
            .store
            .recording(&sid_of(&recording))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.status,
            RecordingStatus::Refused,
            "{}: {row:?}",
            recording.url
        );
        // The error names the URL, without any credentials written into it.
        let error = row.error.as_deref().unwrap_or_default();
        assert!(error.contains(&host.replace("user:pw@", "")), "{row:?}");
        assert!(!error.contains("pw@"), "{row:?}");
        assert_eq!(
            case_recording_status(&app, &call).await,
            Some(RecordingStatus::Refused)
        );
        sids.push(recording.sid);
    }

    // Nothing was fetched from anywhere, nothing stored, and someone is told.
    assert!(
        app.api.recording_requests().is_empty(),
        "{:?}",
        app.api.recording_requests()
    );
    assert_eq!(app.api.unauthorized(), 0);
    assert_eq!(
        contacted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the other host was contacted"
    );
    assert!(stored_keys(&app).await.is_empty());
    let alerts = app.state.store.open_alerts().await.unwrap();
    assert!(
        alerts
            .iter()
            .any(|(kind, message)| kind == "recording_url_refused"
                && sids.iter().any(|sid| message.contains(sid.as_str()))),
        "{alerts:?}"
    );
    trap_task.abort();
    app.stop().await;
}

async fn an_absent_recording_marks_the_case_without_recording(db: Db, storage: StorageKind) {
    // Arrange: the action came with a duration, so the case exists and its download is queued;
    // Twilio has no file to give (as it answers for a recording that does not exist).
    let app = app_or_skip!(db, options(storage));
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(3);
    app.api
        .set_recording_replies(&recording.sid, vec![RecordingReply::Status(404)]);
    call.send_record_action(&recording, RecordingEnd::Key)
        .await
        .unwrap();

    // Act: Twilio reports the recording absent (ErrorCode 16102).
    call.send_recording_status(&recording, "absent")
        .await
        .unwrap();
    call.hang_up(30).await.unwrap();

    // Assert: the case is "sin grabación" with Twilio's code; the download stops trying.
    let sid = sid_of(&recording);
    eventually("the case is marked without recording", || async {
        case_recording_status(&app, &call).await == Some(RecordingStatus::Missing)
    })
    .await;
    let row = app.state.store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Missing, "{row:?}");
    assert_eq!(row.twilio_error_code.as_deref(), Some("16102"), "{row:?}");
    let job = app.job_done(&recording_job(&recording)).await;
    let row = app.state.store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(
        row.status,
        RecordingStatus::Missing,
        "the job did not undo it: {row:?} {job:?}"
    );
    assert_eq!(
        case_recording_status(&app, &call).await,
        Some(RecordingStatus::Missing)
    );
    assert!(stored_keys(&app).await.is_empty());
    app.stop().await;
}

async fn twilio_s_copy_is_deleted_after_ours_is_verified_when_asked(db: Db, storage: StorageKind) {
    // Arrange
    let app = app_or_skip!(
        db,
        options(storage).with("ATIENDE_DELETE_TWILIO_RECORDINGS", "true")
    );
    let wav = tone_wav(3);
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(3);
    app.api
        .set_recording_replies(&recording.sid, vec![RecordingReply::Wav(wav.clone())]);

    // Act
    record(&mut call, &recording).await;

    // Assert: ours is stored, then Twilio's is deleted (once, with our credentials).
    let sid = sid_of(&recording);
    app.job_done(&recording_job(&recording)).await;
    let row = app.state.store.recording(&sid).await.unwrap().unwrap();
    assert_eq!(row.status, RecordingStatus::Stored, "{row:?}");
    assert!(row.deleted_from_twilio, "{row:?}");
    assert_eq!(app.api.deleted(), vec![recording.sid.clone()]);
    assert_eq!(app.api.unauthorized(), 0);
    assert_eq!(
        app.state
            .files
            .get(&FileKey::recording(&sid))
            .await
            .unwrap(),
        wav
    );
    app.stop().await;
}

async fn a_redirect_away_from_twilio_is_never_followed(db: Db, storage: StorageKind) {
    // Arrange: Twilio's API (the fake) answers the recording with a redirect to an address that
    // is not one of Twilio's media hosts; a listener there would notice any connection.
    let app = app_or_skip!(db, options(storage));
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    let contacted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = contacted.clone();
    let trap_task = tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(6);
    app.api.set_recording_replies(
        &recording.sid,
        vec![
            RecordingReply::Redirect(format!("http://127.0.0.1:{trap_port}/r.wav")),
            RecordingReply::Redirect("http://169.254.169.254/latest/meta-data".into()),
            // Then Twilio answers properly: the retry stores it.
            RecordingReply::Wav(tone_wav(6)),
        ],
    );

    // Act
    record(&mut call, &recording).await;
    let job = app.job_done(&recording_job(&recording)).await;

    // Assert: the redirects were refused (retried, as a fault of the moment), nothing was fetched
    // from elsewhere, and the file stored is Twilio's.
    assert!(job.attempts >= 3, "{job:?}");
    assert!(
        job.last_error
            .as_deref()
            .is_some_and(|e| e.contains("refused")),
        "{job:?}"
    );
    assert_eq!(contacted.load(std::sync::atomic::Ordering::SeqCst), 0);
    let row = app
        .state
        .store
        .recording(&sid_of(&recording))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, RecordingStatus::Stored, "{row:?}");
    trap_task.abort();
    app.stop().await;
}
