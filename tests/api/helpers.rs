//! The test harness: a fresh service per test, on SQLite or PostgreSQL, with Twilio played by
//! the library's own call simulator over real HTTP on loopback.
//!
//! PostgreSQL tests need `ATIENDE_TEST_POSTGRES_URL` (a role that may create schemas, e.g.
//! `postgres://atiende:atiende@localhost/postgres`). Without it they are skipped, except under
//! `CI=true`, where a skip is a failure. Each test gets its own schema, dropped when the test
//! ends; schemas left by a crashed run are dropped by the next one.

use crate::fake_twilio::FakeTwilio;
use atiende::config::Config;
use atiende::prompts::Key;
use atiende::sim::random_hex;
use atiende::sim::{CallSimulator, SimCall};
use atiende::twilio::signature::sign;
use atiende::twiml::{Response, Verb};
use atiende::{AppState, Application, Clock};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::Mexico_City;
use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};

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
    pub base: String,
    pub state: AppState,
    pub twilio: CallSimulator,
    pub db: Db,
    pub client: reqwest::Client,
    /// Twilio's REST API, faked: recordings served, SMS received.
    pub fake: FakeTwilio,
    /// The data folder (SQLite file, local storage, temporary downloads).
    pub data_dir: std::path::PathBuf,
    schema: Option<(String, String)>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
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
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, schema) = match db {
        Db::Sqlite => (
            format!("sqlite://{}", dir.path().join("atiende.db").display()),
            None,
        ),
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
    };
    let fake = FakeTwilio::start(ACCOUNT_SID, options.token.unwrap_or(TOKEN)).await;
    let mut pairs: Vec<(&str, String)> = vec![
        ("ATIENDE_LISTEN", "127.0.0.1:0".into()),
        ("DATABASE_URL", database_url),
        ("ATIENDE_DATA_DIR", dir.path().display().to_string()),
        // The catalogue in the repository, which the tests check.
        (
            "ATIENDE_PROMPTS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/prompts").into(),
        ),
        ("TWILIO_API_BASE", fake.base.clone()),
        // Jobs retry fast in tests; the client gives up on Twilio quickly.
        ("ATIENDE_JOB_POLL_MS", "50".into()),
        ("ATIENDE_JOB_BACKOFF_MS", "20".into()),
        ("ATIENDE_JOB_MAX_BACKOFF_MS", "100".into()),
        ("ATIENDE_HTTP_TIMEOUT_SECONDS", "2".into()),
    ];
    if let Some(token) = options.token {
        pairs.push(("TWILIO_AUTH_TOKEN", token.into()));
        pairs.push(("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()));
        pairs.push(("TWILIO_PHONE_NUMBER", "+525500000000".into()));
    }
    if options.storage == StorageKind::S3 {
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
        pairs.push(("ATIENDE_STORAGE_URL", format!("s3://{bucket}/recordings")));
        pairs.push(("AWS_ENDPOINT_URL", endpoint));
        pairs.push(("AWS_ACCESS_KEY_ID", "test".into()));
        pairs.push(("AWS_SECRET_ACCESS_KEY", "test".into()));
        pairs.push(("AWS_REGION", "us-east-1".into()));
    }
    pairs.extend(options.settings);
    let config =
        Config::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).expect("valid test config");
    let app = Application::build_with_clock(config, Clock::starting_at(options.clock))
        .await
        .expect("the service builds");
    let state = app.state().clone();
    let base = state
        .config
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let connect = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until(async {
            let _ = rx.await;
        })
        .await
        .expect("the service runs");
    });
    let mut twilio = CallSimulator::new(&base, options.token);
    twilio.connect_base = connect;
    twilio.account_sid = ACCOUNT_SID.to_owned();
    twilio.recordings_base = fake.base.clone();
    Some(TestApp {
        base,
        state,
        twilio,
        db,
        client: reqwest::Client::new(),
        fake,
        data_dir: dir.path().to_path_buf(),
        schema,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    })
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
        self.twilio.call(from).await.expect("the call is answered")
    }

    /// A signed POST to a path under the public URL, with exactly these fields.
    pub async fn post_signed(&self, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.twilio
            .post(&format!("{}{path}", self.base), &params)
            .await
            .expect("request sent")
    }

    /// A POST with a given signature header (or none) and a raw body.
    pub async fn post_raw(&self, path: &str, body: &str, signature: Option<&str>) -> (u16, String) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.twilio.connect_base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(sig) = signature {
            req = req.header("X-Twilio-Signature", sig);
        }
        let res = req.send().await.expect("request sent");
        (res.status().as_u16(), res.text().await.expect("body"))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.twilio.connect_base))
            .send()
            .await
            .expect("request sent");
        (res.status().as_u16(), res.text().await.expect("body"))
    }

    /// Stops the service and drops the test's schema.
    pub async fn stop(mut self) {
        self.shutdown_now().await;
    }

    async fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some((admin, schema)) = self.schema.take() {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("drop schema if exists {schema} cascade"))
                    .execute(&mut conn)
                    .await;
            }
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
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
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
        ("AccountSid", crate::helpers::ACCOUNT_SID),
        ("CallSid", sid),
        ("From", CALLER),
        ("Caller", CALLER),
        ("To", "+525500000000"),
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

pub fn text(app: &TestApp, key: Key) -> String {
    app.state.prompts.text(key, &[])
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
