//! The test harness: a fresh service per test, on SQLite or PostgreSQL, started in-process with
//! [`Application::spawn`] (as `atiende bench` starts it), with Twilio played by the library's own
//! call simulator over real HTTP on loopback and Twilio's REST API by the library's fake of it.
//! Below the harness: what several test files do (a caller at the beep, a whole report, the
//! case of a call, a job awaited, an SMS texted in, webhooks made by hand, the binary run as a
//! child process), each defined once.
//!
//! PostgreSQL tests need `ATIENDE_TEST_POSTGRES_URL` (a role that may create schemas, e.g.
//! `postgres://atiende:atiende@localhost/postgres`). Without it they are skipped, except under
//! `CI=true`, where a skip is a failure. Each test gets its own schema, dropped when the test
//! ends; schemas left by a crashed run are dropped by the next one.

use atiende::app::Spawned;
use atiende::config::Config;
use atiende::domain::{CallSid, JobState, RecordingSid};
use atiende::prompts::Key;
use atiende::sim::fake_api::{Credentials, FakeTwilioApi};
use atiende::sim::{CallSimulator, Recording, RecordingEnd, SimCall, Waiting, random_hex};
use atiende::store::{CaseRecord, Category, Job};
use atiende::twilio::signature::sign;
use atiende::twiml::{Response, Verb};
use atiende::{AppState, Application, Clock};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::Mexico_City;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The auth token every test service is configured with (so every request is signed).
pub const TOKEN: &str = "test-auth-token-0123456789abcdef";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// A Mexican mobile number callers use in tests.
pub const CALLER: &str = "+525512345678";
/// The office's number (`TWILIO_PHONE_NUMBER` in tests), which citizens call and text.
pub const OFFICE: &str = "+525500000000";
/// The category menu's key for street lighting ("alumbrado público"), which asks no urgency.
pub const STREET_LIGHTING: &str = "1";
/// The category menu's key for water ("agua potable"), which asks no urgency.
pub const WATER: &str = "3";

/// How long a background step (a job, a child process) may take before a test gives up. A
/// guard against hanging the suite when a regression makes something wait forever, not a
/// measurement.
pub const HANG_GUARD: Duration = Duration::from_secs(120);
/// The same guard for a job the test service runs itself (twelve quick attempts at most).
const JOB_GUARD: Duration = Duration::from_secs(20);
/// The same guard for the service to stop.
const STOP_GUARD: Duration = Duration::from_secs(30);

/// Friday 27 November 2026, 10:00 in Mexico City: inside the default office hours.
pub fn office_hours_now() -> DateTime<Utc> {
    Mexico_City
        .with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Saturday 28 November 2026, 10:00 in Mexico City: outside the default office hours.
pub fn weekend_now() -> DateTime<Utc> {
    Mexico_City
        .with_ymd_and_hms(2026, 11, 28, 10, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Where a test service keeps recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// A folder in the test's temporary directory.
    Local,
    /// A fresh bucket on the S3-compatible server at `ATIENDE_TEST_S3_URL`.
    S3,
}

/// How to start a test service.
pub struct Options {
    pub settings: Vec<(&'static str, String)>,
    pub clock: DateTime<Utc>,
    /// `None` is demo mode (no token).
    pub token: Option<&'static str>,
    pub storage: StorageKind,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Vec::new(),
            clock: office_hours_now(),
            token: Some(TOKEN),
            storage: StorageKind::Local,
        }
    }
}

impl Options {
    pub fn with(mut self, key: &'static str, value: &str) -> Options {
        self.settings.push((key, value.to_owned()));
        self
    }
}

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    /// The service's public base URL, as it writes it into TwiML (no trailing slash).
    pub base: String,
    pub state: AppState,
    /// Twilio's side of the calls: signed webhooks, as the simulator sends them.
    pub caller: CallSimulator,
    pub db: Db,
    pub client: reqwest::Client,
    /// Twilio's REST API, faked: recordings served, SMS received.
    pub api: FakeTwilioApi,
    /// The data folder (SQLite file, local storage, temporary downloads).
    pub data_dir: PathBuf,
    /// Where `/metrics` has an address of its own (`ATIENDE_METRICS_LISTEN`), if it does.
    pub metrics_base: Option<String>,
    service: Spawned,
    schema: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

static SCHEMA_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The S3-compatible test server (e.g. `moto_server`), or `None` to skip (never under CI).
pub fn s3_url() -> Option<String> {
    match std::env::var("ATIENDE_TEST_S3_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but ATIENDE_TEST_S3_URL is not set: the S3 storage tests must run")
        }
        _ => None,
    }
}

/// The PostgreSQL URL for tests, or `None` to skip (never under CI).
pub fn postgres_url() -> Option<String> {
    match std::env::var("ATIENDE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but ATIENDE_TEST_POSTGRES_URL is not set: the PostgreSQL suite must run"
            )
        }
        _ => None,
    }
}

/// Starts a service on `db`; `None` when PostgreSQL is not available (see `postgres_url`).
pub async fn spawn_app_with(db: Db, options: Options) -> Option<TestApp> {
    try_spawn_app_with(db, options)
        .await
        .map(|built| built.expect("the service builds"))
}

/// As [`spawn_app_with`], but a service that refuses to start is the error it gave (start-up
/// checks); `None` still means the backend is not configured.
pub async fn try_spawn_app_with(db: Db, options: Options) -> Option<anyhow::Result<TestApp>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, schema) = fresh_database(db, dir.path()).await?;
    let api = start_fake_api(options.token.unwrap_or(TOKEN)).await;
    let mut pairs: Vec<(&str, String)> = vec![
        ("ATIENDE_LISTEN", "127.0.0.1:0".into()),
        ("DATABASE_URL", database_url),
        ("ATIENDE_DATA_DIR", dir.path().display().to_string()),
        // The catalogue in the repository, which the tests check.
        (
            "ATIENDE_PROMPTS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/prompts").into(),
        ),
        ("TWILIO_API_BASE", api.base().to_owned()),
        // Jobs retry fast in tests; the client gives up on Twilio quickly.
        ("ATIENDE_JOB_POLL_MS", "50".into()),
        ("ATIENDE_JOB_BACKOFF_MS", "20".into()),
        ("ATIENDE_JOB_MAX_BACKOFF_MS", "100".into()),
        ("ATIENDE_HTTP_TIMEOUT_SECONDS", "2".into()),
    ];
    if let Some(token) = options.token {
        pairs.push(("TWILIO_AUTH_TOKEN", token.into()));
        pairs.push(("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()));
        pairs.push(("TWILIO_PHONE_NUMBER", OFFICE.into()));
    }
    if options.storage == StorageKind::S3 {
        pairs.extend(fresh_bucket().await?);
    }
    pairs.extend(options.settings);
    let config =
        Config::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).expect("valid test config");
    let service =
        match Application::build_with_clock(config, Clock::starting_at(options.clock)).await {
            Ok(app) => app.spawn(),
            Err(e) => return Some(Err(e)),
        };
    let caller = caller_for(
        &service.public_base,
        &service.connect_base,
        options.token,
        &api,
    );
    Some(Ok(TestApp {
        base: service.public_base.clone(),
        state: service.state.clone(),
        caller,
        db,
        client: reqwest::Client::new(),
        api,
        data_dir: dir.path().to_path_buf(),
        metrics_base: service.metrics_base.clone(),
        service,
        schema,
        _dir: dir,
    }))
}

/// A fresh, empty database for a test: a SQLite file in `dir`, or a new PostgreSQL schema
/// (its URL's `search_path` set to it). Returns the `DATABASE_URL` and, for PostgreSQL, the
/// admin URL and schema that [`drop_schema`] removes; `None` when PostgreSQL is not configured.
pub async fn fresh_database(db: Db, dir: &Path) -> Option<(String, Option<(String, String)>)> {
    Some(match db {
        Db::Sqlite => (sqlite_url(&dir.join("atiende.db")), None),
        Db::Postgres => {
            let admin = postgres_url()?;
            let schema = format!(
                "atiende_test_{}_{}",
                std::process::id(),
                SCHEMA_COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to PostgreSQL");
            drop_orphan_schemas(&mut conn).await;
            sqlx::query(&format!("create schema {schema}"))
                .execute(&mut conn)
                .await
                .expect("create schema");
            let mut url = url::Url::parse(&admin).expect("ATIENDE_TEST_POSTGRES_URL is a URL");
            url.query_pairs_mut()
                .append_pair("options", &format!("-c search_path={schema}"));
            (url.to_string(), Some((admin, schema)))
        }
    })
}

/// Drops a schema made by [`fresh_database`] (nothing for SQLite).
pub async fn drop_schema(schema: Option<(String, String)>) {
    if let Some((admin, schema)) = schema
        && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
    {
        let _ = sqlx::query(&format!("drop schema if exists {schema} cascade"))
            .execute(&mut conn)
            .await;
    }
}

/// A fresh bucket on the S3-compatible test server, as the settings that point a service at it
/// (`ATIENDE_STORAGE_URL`, `AWS_*`); `None` when it is not configured (see [`s3_url`]).
pub async fn fresh_bucket() -> Option<Vec<(&'static str, String)>> {
    let endpoint = s3_url()?;
    let bucket = format!(
        "atiende-test-{}-{}",
        std::process::id(),
        SCHEMA_COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 test server answers");
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    Some(vec![
        ("ATIENDE_STORAGE_URL", format!("s3://{bucket}/recordings")),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ])
}

/// The fake of Twilio's REST API on a free loopback port, expecting the test account with
/// `token`; every recording it has no answers for is a 3-second tone, like a short report.
pub async fn start_fake_api(token: &str) -> FakeTwilioApi {
    let api = FakeTwilioApi::start_on_loopback(Some(Credentials::new(ACCOUNT_SID, token)))
        .await
        .expect("the fake of Twilio's API starts");
    api.serve_by_default(atiende::sim::audio::tone_wav(3));
    api
}

/// A call simulator for a service whose public URL is `public_base`, reached at `connect_base`,
/// signing with `token` (none in demo mode) for the test account, its recordings on `api`.
pub fn caller_for(
    public_base: &str,
    connect_base: &str,
    token: Option<&str>,
    api: &FakeTwilioApi,
) -> CallSimulator {
    let mut caller = CallSimulator::new(public_base, token);
    caller.connect_base = connect_base.to_owned();
    caller.account_sid = ACCOUNT_SID.to_owned();
    caller.recordings_base = api.base().to_owned();
    caller
}

/// Drops the schemas of test processes that are no longer running.
async fn drop_orphan_schemas(conn: &mut sqlx::PgConnection) {
    static ONCE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    if ONCE.set(()).is_err() {
        return;
    }
    let schemas: Vec<String> = sqlx::query_scalar(
        "select schema_name::text from information_schema.schemata where schema_name like 'atiende_test_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for schema in schemas {
        let pid = schema.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = sqlx::query(&format!("drop schema if exists {schema} cascade"))
                .execute(&mut *conn)
                .await;
        }
    }
}

impl TestApp {
    /// A call from `from` (`None`: withheld caller ID), greeted and waiting at the main menu.
    pub async fn call(&self, from: Option<&str>) -> SimCall {
        self.caller.call(from).await.expect("the call is answered")
    }

    /// A report by phone from `from` (`None`: withheld caller ID) in the category of menu key
    /// `category` (one that asks no urgency): 1, the category, 30 seconds recorded and ended
    /// with #. Returns the call, at the folio and what follows it.
    pub async fn report(&self, from: Option<&str>, category: &str) -> SimCall {
        let mut call = at_the_beep(&self.caller, from, category).await;
        call.record(30, RecordingEnd::Key).await.unwrap();
        call
    }

    /// The same report, with the caller hanging up after the folio; returns its case.
    pub async fn report_and_hang_up(&self, from: Option<&str>, category: &str) -> CaseRecord {
        let mut call = self.report(from, category).await;
        call.hang_up(60).await.unwrap();
        self.case_of(&call).await
    }

    /// The case a call made (it must have made one).
    pub async fn case_of(&self, call: &SimCall) -> CaseRecord {
        self.state
            .store
            .case_of_call(&call_sid(call))
            .await
            .unwrap()
            .expect("the call made a case")
    }

    /// The category of a case (it must have one).
    pub async fn category_of(&self, case: &CaseRecord) -> Category {
        let id = case.category_id.expect("the case has a category");
        self.state
            .store
            .category(id)
            .await
            .unwrap()
            .expect("the category exists")
    }

    /// The details logged for the call's steps named `step`, in order (a step without one
    /// counts as an empty detail).
    pub async fn step_details(&self, call: &SimCall, step: &str) -> Vec<String> {
        self.state
            .store
            .call_steps(&call_sid(call))
            .await
            .unwrap()
            .into_iter()
            .filter(|(name, _)| name == step)
            .map(|(_, detail)| detail.unwrap_or_default())
            .collect()
    }

    /// A text of the catalogue, without arguments.
    pub fn text(&self, key: Key) -> String {
        self.text_with(key, &[])
    }

    /// A text of the catalogue, with its arguments filled in.
    pub fn text_with(&self, key: Key, args: &[(&str, &str)]) -> String {
        self.state.prompts.text(key, args)
    }

    /// Asserts the call waits at the ten-digit number entry a withheld caller is offered.
    pub fn assert_at_number_entry(&self, call: &SimCall) {
        assert!(
            call.heard().contains(&self.text(Key::NumberEntry)),
            "{}",
            call.heard()
        );
        assert!(
            call.heard()
                .contains("marque su celular y la tecla de gato"),
            "{}",
            call.heard()
        );
        // Ten digits, or up to 13 with a leading 52, 044 or 045 (dropped).
        assert_eq!(
            call.waiting(),
            Waiting::Keys {
                num_digits: Some(atiende::domain::PhoneNumber::KEYPAD_MAX_DIGITS),
                finish_on_key: "#".into(),
                speech: false
            },
            "{}",
            call.last_xml()
        );
    }

    /// A signed incoming message from `from` (SMS, or WhatsApp with `whatsapp:`); returns its
    /// MessageSid and the text of the one `<Message>` answered.
    pub async fn text_in(&self, from: &str, body: &str) -> (String, String) {
        let sid = format!("SM{}", random_hex());
        let to = if from.starts_with("whatsapp:") {
            format!("whatsapp:{OFFICE}")
        } else {
            OFFICE.to_owned()
        };
        let (status, xml) = self
            .post_signed(
                "/twilio/messaging",
                &[
                    ("MessageSid", &sid),
                    ("From", from),
                    ("To", &to),
                    ("Body", body),
                    ("NumMedia", "0"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body:?}: {xml}");
        let r = twiml(&xml);
        assert_eq!(r.verbs.len(), 1, "one verb: {xml}");
        let Verb::Message(m) = &r.verbs[0] else {
            panic!("not a <Message>: {xml}")
        };
        (sid, m.body.clone())
    }

    /// A request as Twilio sends it about `recording` of `call` (signed, to the absolute `url`),
    /// with `extra` fields: for the repeated and concurrent requests the simulator does not
    /// send by itself.
    pub async fn post_about_recording(
        &self,
        call: &SimCall,
        url: &str,
        recording: &Recording,
        extra: &[(&str, &str)],
    ) -> (u16, String) {
        let duration = recording.duration_seconds.to_string();
        let mut params = fields(&[
            ("AccountSid", self.caller.account_sid.as_str()),
            ("CallSid", call.call_sid()),
            ("From", CALLER),
            ("To", OFFICE),
            ("RecordingSid", recording.sid.as_str()),
            ("RecordingUrl", recording.url.as_str()),
            ("RecordingDuration", duration.as_str()),
        ]);
        params.extend(fields(extra));
        self.caller.post(url, &params).await.expect("request sent")
    }

    /// Waits until the job with this key is in `state` (bounded, see `JOB_GUARD`) and returns
    /// it; a failure shows where the job stands (and, for a download, its recording).
    pub async fn job_in_state(&self, key: &str, state: JobState) -> Job {
        let deadline = Instant::now() + JOB_GUARD;
        loop {
            let job = self.state.store.job_by_key(key).await.unwrap();
            match job {
                Some(job) if job.state == state => return job,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => {
                    let sid = key.strip_prefix("recording:").and_then(RecordingSid::parse);
                    let recording = match sid {
                        Some(sid) => self.state.store.recording(&sid).await.ok().flatten(),
                        None => None,
                    };
                    panic!(
                        "never happened: the job {key} is {state}\njob: {job:?}\nrecording: {recording:?}\nclock: {:?}",
                        self.state.clock.now()
                    );
                }
            }
        }
    }

    /// Waits until the job with this key is done (after which it changes nothing more) and
    /// returns it.
    pub async fn job_done(&self, key: &str) -> Job {
        self.job_in_state(key, JobState::Done).await
    }

    /// A signed POST to a path under the public URL, with exactly these fields.
    pub async fn post_signed(&self, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        self.caller
            .post(&format!("{}{path}", self.base), &fields(params))
            .await
            .expect("request sent")
    }

    /// A POST with a given signature header (or none) and a raw body.
    pub async fn post_raw(&self, path: &str, body: &str, signature: Option<&str>) -> (u16, String) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.caller.connect_base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(sig) = signature {
            req = req.header("X-Twilio-Signature", sig);
        }
        let res = req.send().await.expect("request sent");
        (res.status().as_u16(), res.text().await.expect("body"))
    }

    /// An unsigned GET of a path, sent to where the service listens.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.caller.connect_base))
            .send()
            .await
            .expect("request sent");
        (res.status().as_u16(), res.text().await.expect("body"))
    }

    /// Stops the service as SIGTERM would (it must stop cleanly) and drops the test's schema.
    pub async fn stop(self) {
        let TestApp {
            service,
            schema,
            _dir: dir,
            ..
        } = self;
        let stopped = service.stop(STOP_GUARD).await;
        drop_schema(schema).await;
        drop(dir);
        if let Err(e) = stopped {
            panic!("the service did not stop cleanly: {e:#}");
        }
    }
}

/// Waits until `check` holds (polling every 20 ms, for at most 10 s): background jobs finish
/// in their own time. Panics with `what` if it never holds. Not a timing assertion: the bound is
/// only there so that a broken test fails instead of hanging.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

// Calls and recordings.

/// A caller from `from` (`None`: withheld caller ID) at the `<Record>` of a report in the
/// category of menu key `category` (one that asks no urgency).
pub async fn at_the_beep(caller: &CallSimulator, from: Option<&str>, category: &str) -> SimCall {
    let mut call = caller.call(from).await.expect("the call is answered");
    call.press("1").await.unwrap();
    call.press(category).await.unwrap();
    assert_eq!(call.waiting(), Waiting::Recording, "{}", call.heard());
    call
}

/// The action and the `completed` callback for `recording`, as Twilio sends them.
pub async fn record(call: &mut SimCall, recording: &Recording) {
    call.send_record_action(recording, RecordingEnd::Key)
        .await
        .unwrap();
    call.send_recording_status(recording, "completed")
        .await
        .unwrap();
}

/// The key of the job that downloads `recording`.
pub fn recording_job(recording: &Recording) -> String {
    format!("recording:{}", recording.sid)
}

/// The call's CallSid, parsed.
pub fn call_sid(call: &SimCall) -> CallSid {
    CallSid::parse(call.call_sid()).unwrap()
}

// Webhook requests made by hand (for what the simulator never sends: forgeries, odd fields).

/// Form fields as the signature functions take them.
pub fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An `application/x-www-form-urlencoded` body.
pub fn form_body(params: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

pub fn new_call_sid() -> String {
    format!("CA{}", random_hex())
}

pub fn new_recording_sid() -> String {
    format!("RE{}", random_hex())
}

/// The fields of a voice webhook of call `sid` from the test caller, with `extra` added (or
/// replacing a field of the same name).
pub fn voice_fields(sid: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = fields(&[
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", sid),
        ("From", CALLER),
        ("Caller", CALLER),
        ("To", OFFICE),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
    ]);
    for (k, v) in fields(extra) {
        match p.iter_mut().find(|(name, _)| *name == k) {
            Some(existing) => existing.1 = v,
            None => p.push((k, v)),
        }
    }
    p
}

/// A request signed with the test token for the public URL of `path`, sent as-is.
pub async fn post_signed_raw(
    app: &TestApp,
    path: &str,
    params: &[(String, String)],
) -> (u16, String) {
    let sig = sign(TOKEN, &format!("{}{path}", app.base), params);
    app.post_raw(path, &form_body(params), Some(&sig)).await
}

/// Parses an answer that must be valid TwiML.
pub fn twiml(body: &str) -> Response {
    Response::parse(body).unwrap_or_else(|e| panic!("not valid TwiML ({e}): {body}"))
}

pub fn has_record(r: &Response) -> bool {
    r.verbs.iter().any(|v| matches!(v, Verb::Record(_)))
}

pub fn ends_with_hangup(r: &Response) -> bool {
    matches!(r.verbs.last(), Some(Verb::Hangup(_)))
}

// The `atiende` binary as a child process.

/// The binary, with an empty environment but `PATH` (nothing from the developer's shell leaks
/// in), run in `dir`, its standard input closed.
pub fn atiende_command(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_atiende"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    cmd
}

/// The `DATABASE_URL` of a SQLite file.
pub fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}", file.display())
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `GET /healthz` on `port` until it answers 200 (bounded by `HANG_GUARD`); false if the
/// server exits first (`has_exited`) or never answers.
pub async fn became_healthy(port: u16, mut has_exited: impl FnMut() -> bool) -> bool {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + HANG_GUARD;
    while Instant::now() < deadline && !has_exited() {
        if let Ok(res) = client.get(&url).send().await
            && res.status().as_u16() == 200
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The settings of `atiende serve` as a child process in a test: the database, the data folder, the fake of
/// Twilio's API, and short leases and backoffs so that jobs interrupted by a kill run again soon.
pub fn serve_env(
    database_url: &str,
    data: &Path,
    api: &FakeTwilioApi,
) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("ATIENDE_DATA_DIR", data.display().to_string()),
        (
            "ATIENDE_PROMPTS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/prompts").into(),
        ),
        ("TWILIO_AUTH_TOKEN", TOKEN.into()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()),
        ("TWILIO_PHONE_NUMBER", OFFICE.into()),
        ("TWILIO_API_BASE", api.base().to_owned()),
        ("ATIENDE_JOB_LEASE_SECONDS", "2".into()),
        ("ATIENDE_JOB_POLL_MS", "50".into()),
        ("ATIENDE_JOB_BACKOFF_MS", "20".into()),
        ("ATIENDE_JOB_MAX_BACKOFF_MS", "200".into()),
        ("ATIENDE_HTTP_TIMEOUT_SECONDS", "5".into()),
    ]
}

/// `atiende serve` as a child process, its standard output and error appended to a log file
/// (kept across restarts, so a failure shows every life of the service).
pub struct ServeProcess {
    child: std::process::Child,
    log: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
}

impl ServeProcess {
    /// Starts `atiende serve` in `dir` on `127.0.0.1:port` with exactly the settings `env`
    /// (besides `ATIENDE_LISTEN`), logging to `log`.
    pub fn start(dir: &Path, port: u16, env: &[(&str, String)], log: &Path) -> ServeProcess {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the log file opens");
        let err = out.try_clone().expect("the log file is shared");
        let mut cmd = atiende_command(dir);
        cmd.arg("serve")
            .env("ATIENDE_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the binary starts");
        ServeProcess {
            child,
            log: log.to_path_buf(),
            port,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote so far (every life of it, when the log is shared).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: the process ends at once, whatever it was doing; returns when it is gone.
    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until it answers `GET /healthz` (bounded); fails with its log if not.
    pub async fn wait_until_healthy(&mut self) {
        let child = &mut self.child;
        if !became_healthy(self.port, || child.try_wait().unwrap().is_some()).await {
            self.sigkill();
            panic!("the server never became healthy:\n{}", self.log());
        }
    }

    /// SIGTERM, and a clean exit within the guard (else SIGKILL and a failure).
    pub fn stop(mut self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {}", self.child.id());
        let deadline = Instant::now() + STOP_GUARD;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}: {}", self.log());
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.sigkill();
        panic!("the server did not stop on SIGTERM:\n{}", self.log());
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // A test that failed half-way must not leave a server running.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.sigkill();
        }
    }
}

/// A round-robin TCP balancer in front of `upstreams` (`host:port`), accepting on `listener`:
/// each new connection goes to the next upstream in turn. Returns how many connections went to
/// each.
pub fn balancer(
    listener: tokio::net::TcpListener,
    upstreams: Vec<String>,
) -> std::sync::Arc<Vec<std::sync::atomic::AtomicUsize>> {
    use std::sync::atomic::AtomicUsize;
    let counts = std::sync::Arc::new(
        upstreams
            .iter()
            .map(|_| AtomicUsize::new(0))
            .collect::<Vec<_>>(),
    );
    let seen = counts.clone();
    tokio::spawn(async move {
        let mut turn = 0usize;
        while let Ok((mut client, _)) = listener.accept().await {
            let i = turn % upstreams.len();
            turn += 1;
            seen[i].fetch_add(1, Ordering::SeqCst);
            let upstream = upstreams[i].clone();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    counts
}

/// Declares each named `async fn(Db)` as two tests, `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Db::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::helpers::Db::Postgres).await
                }
            }
        )+
    };
}

/// Starts the app or returns from the test (PostgreSQL not configured outside CI).
#[macro_export]
macro_rules! app_or_skip {
    ($db:expr) => {
        app_or_skip!($db, $crate::helpers::Options::default())
    };
    ($db:expr, $options:expr) => {
        match $crate::helpers::spawn_app_with($db, $options).await {
            Some(app) => app,
            None => {
                eprintln!("skipped: ATIENDE_TEST_POSTGRES_URL or ATIENDE_TEST_S3_URL is not set");
                return;
            }
        }
    };
}

// The staff console over HTTP (tests/api/console.rs): accounts, and a client that keeps its
// session cookie by hand (reqwest is built without its `cookies` feature) and follows no
// redirect, so each 303 is seen as it is.

/// The password of every account `TestApp::add_staff` makes.
pub const STAFF_PASSWORD: &str = "una contraseña de prueba";

/// The name of the console's session cookie.
pub const SESSION_COOKIE: &str = "atiende_sesion";

/// An answer of the console, read whole.
#[derive(Debug)]
pub struct ConsoleReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl ConsoleReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// Where a redirect points.
    pub fn location(&self) -> String {
        self.header("location")
    }
}

/// One part of a `multipart/form-data` body.
pub enum FormPart<'a> {
    Text(&'a str, &'a str),
    File {
        name: &'a str,
        file_name: &'a str,
        content_type: &'a str,
        bytes: &'a [u8],
    },
}

/// A person at the console: a browser's cookies (the session's, the sign-in form's, device
/// cookies) and the service's address.
pub struct ConsoleClient {
    pub base: String,
    http: reqwest::Client,
    cookies: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl ConsoleClient {
    pub fn new(base: &str) -> ConsoleClient {
        ConsoleClient::from_address(base, None)
    }

    /// A browser on another machine: its connections come from `local` (e.g. `127.0.0.2`).
    pub fn from_address(base: &str, local: Option<std::net::IpAddr>) -> ConsoleClient {
        ConsoleClient {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(local)
                .build()
                .expect("an HTTP client"),
            cookies: std::sync::Mutex::default(),
        }
    }

    /// The session cookie's value now.
    pub fn cookie(&self) -> Option<String> {
        self.cookie_named(SESSION_COOKIE)
    }

    /// Uses this session cookie from now on (`None`: none).
    pub fn set_cookie(&self, value: Option<String>) {
        self.set_cookie_named(SESSION_COOKIE, value);
    }

    /// Any cookie's value now.
    pub fn cookie_named(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// Sends this cookie from now on (`None`: not at all).
    pub fn set_cookie_named(&self, name: &str, value: Option<String>) {
        let mut cookies = self.cookies.lock().unwrap();
        match value {
            Some(value) => cookies.insert(name.to_owned(), value),
            None => cookies.remove(name),
        };
    }

    pub async fn get(&self, path: &str) -> ConsoleReply {
        self.get_with(path, &[]).await
    }

    /// A GET with extra headers (e.g. `Range`).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> ConsoleReply {
        let mut req = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// A POST of an urlencoded form with exactly these fields.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> ConsoleReply {
        self.post_form_with(path, form, &[]).await
    }

    /// A POST of an urlencoded form, with extra headers (e.g. `X-Forwarded-For`).
    pub async fn post_form_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> ConsoleReply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// A POST of a `multipart/form-data` body, built by hand.
    pub async fn post_multipart(&self, path: &str, parts: &[FormPart<'_>]) -> ConsoleReply {
        let boundary = format!("----atiende{}", random_hex());
        let mut body: Vec<u8> = Vec::new();
        for part in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match part {
                FormPart::Text(name, value) => {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                            .as_bytes(),
                    );
                    body.extend_from_slice(value.as_bytes());
                }
                FormPart::File {
                    name,
                    file_name,
                    content_type,
                    bytes,
                } => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(bytes);
                }
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(req).await
    }

    async fn send(&self, mut req: reqwest::RequestBuilder) -> ConsoleReply {
        let sent: Vec<String> = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !sent.is_empty() {
            req = req.header("cookie", sent.join("; "));
        }
        let res = req.send().await.expect("request sent");
        for set in res.headers().get_all("set-cookie") {
            let Ok(set) = set.to_str() else { continue };
            let pair = set.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim().to_owned();
            let removed = value.is_empty() || set.to_ascii_lowercase().contains("max-age=0");
            self.set_cookie_named(name.trim(), (!removed).then_some(value));
        }
        ConsoleReply {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.bytes().await.expect("body").to_vec(),
        }
    }

    /// The CSRF token of the page at `path` (the first form's).
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "GET {path}: {}", page.text());
        csrf_of(&page.text())
    }

    /// Signs in through the sign-in page (a fresh form, then the POST); returns the answer.
    pub async fn sign_in(&self, name: &str, password: &str) -> ConsoleReply {
        self.sign_in_with(name, password, &[]).await
    }

    /// [`ConsoleClient::sign_in`], the POST with extra headers (e.g. `X-Forwarded-For`).
    pub async fn sign_in_with(
        &self,
        name: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> ConsoleReply {
        let token = self.csrf("/entrar").await;
        self.post_form_with(
            "/entrar",
            &[
                ("usuario", name),
                ("contrasena", password),
                ("csrf", &token),
                ("siguiente", "/"),
            ],
            headers,
        )
        .await
    }
}

/// The value of the first `<input type="hidden" name="csrf">` of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF token in the page: {html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("a closed value")
        .to_owned()
}

/// An attribute value or link as the browser reads it back from escaped HTML.
pub fn unescape_html(text: &str) -> String {
    text.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

impl TestApp {
    /// Makes a staff account (password [`STAFF_PASSWORD`]); `department` is the code of an
    /// `area` user's department. Returns its id.
    pub async fn add_staff(
        &self,
        name: &str,
        role: atiende::domain::Role,
        department: Option<&str>,
    ) -> i64 {
        let hash = atiende::staff::password::hash(STAFF_PASSWORD).expect("hashes");
        self.state
            .store
            .create_user(&atiende::store::NewUser {
                name,
                password_hash: &hash,
                role,
                department_code: department,
                at: self.state.clock.now(),
            })
            .await
            .expect("the account is made")
    }

    /// A console client that has not signed in.
    pub fn console_client(&self) -> ConsoleClient {
        ConsoleClient::new(&self.caller.connect_base)
    }

    /// A console client that has not signed in, connecting from another loopback address.
    pub fn console_client_from(&self, local: &str) -> ConsoleClient {
        ConsoleClient::from_address(&self.caller.connect_base, Some(local.parse().unwrap()))
    }

    /// A new account, signed in at the console.
    pub async fn signed_in(
        &self,
        name: &str,
        role: atiende::domain::Role,
        department: Option<&str>,
    ) -> ConsoleClient {
        self.add_staff(name, role, department).await;
        let client = self.console_client();
        let res = client.sign_in(name, STAFF_PASSWORD).await;
        assert_eq!(res.status, 303, "{name} signs in: {}", res.text());
        client
    }
}

/// Every file under `dir`, by its path relative to `dir`, sorted (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// The recording `sid` as stored, which must be stored (checked, hashed, kept).
pub async fn stored_recording(
    store: &atiende::store::Store,
    sid: &str,
) -> atiende::store::RecordingRecord {
    let row = store
        .recording(&RecordingSid::parse(sid).expect("a RecordingSid"))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no recording {sid}"));
    assert_eq!(
        row.status,
        atiende::domain::RecordingStatus::Stored,
        "{row:?}"
    );
    row
}
