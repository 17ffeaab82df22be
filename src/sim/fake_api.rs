//! A fake of Twilio's REST API on loopback, for the recordings the service fetches, the SMS it
//! sends and the recordings it deletes: `atiende simulate`, `atiende bench` and the integration
//! tests all point `TWILIO_API_BASE` at it.
//!
//! It answers the requests the service makes, with Twilio's paths and answers:
//! - `GET /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.wav` serves a recording:
//!   the answers set for that sid, else the default recording, else a 404;
//! - `POST .../Messages.json` takes an SMS with exactly Twilio's field names (`To`, `From`,
//!   `Body`, `StatusCallback`...) and answers 201 with a new `SM...` sid;
//! - `GET .../Messages.json?To=...` lists the messages taken for a number, newest first;
//! - `DELETE .../Recordings/{RecordingSid}.json` deletes a recording (204).
//!
//! Given credentials, it checks HTTP Basic auth and the account in the path like Twilio (401
//! with error 20003 otherwise); without them (the simulator in demo mode) it checks nothing.
//! Tests make it fail on demand: a 404 before the file is ready, a 500, a 429, an answer slower
//! than the service's time-out, a malformed WAV, a permanent SMS error; and, for as long as a
//! test says, [`Trouble`] on every request (slow, 500s, 429s with `Retry-After`), as when Twilio
//! itself is having a bad time. It keeps every request it received, for the tests to look at.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The account the fake expects, as the service is configured with it.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `TWILIO_ACCOUNT_SID`: the user name of HTTP Basic auth, and the account in every path.
    pub account_sid: String,
    /// `TWILIO_AUTH_TOKEN`: the password of HTTP Basic auth.
    pub auth_token: String,
}

impl Credentials {
    /// The account `account_sid` with its auth token.
    pub fn new(account_sid: &str, auth_token: &str) -> Credentials {
        Credentials {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
        }
    }
}

/// What the fake does when a recording is requested.
#[derive(Debug, Clone)]
pub enum RecordingReply {
    /// Serve these bytes.
    Wav(Vec<u8>),
    /// Answer with this status (and Twilio's JSON error) instead.
    Status(u16),
    /// Answer `302 Found` to this location (Twilio sends recordings from its media hosts).
    Redirect(String),
    /// Serve these bytes slowly: `chunks` pieces, `pause` between them.
    Slow {
        /// The file.
        bytes: Vec<u8>,
        /// In how many pieces it is sent.
        chunks: usize,
        /// The wait before each piece but the first.
        pause: Duration,
    },
}

/// What the fake answers to a `Messages.json` request.
#[derive(Debug, Clone)]
pub enum SmsReply {
    /// 201, queued.
    Accept,
    /// An error status with Twilio's error code.
    Error { status: u16, code: i64 },
    /// Wait this long, then accept (to exceed the service's time-out).
    Slow(Duration),
    /// Accept at once (the message goes out, and is listed), but answer only after this long:
    /// Twilio has the message while the client, gone at its time-out (or killed), never learns
    /// its sid.
    Unanswered(Duration),
}

/// Trouble on every request, whatever answers are set, until cleared: Twilio's API having a bad
/// time. Requests answered with trouble are counted, and are neither served nor logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// Answer each request only after this wait, then as usual (a client that gives up first
    /// drops the request before anything is done).
    Slow(Duration),
    /// Answer every request with this status (500, 503...) and Twilio's JSON error.
    Failing(u16),
    /// `429 Too Many Requests` (Twilio's error 20429) with `Retry-After: {seconds}`.
    RateLimited {
        /// The `Retry-After` header's delay-seconds.
        retry_after_seconds: u64,
    },
    /// `200 OK` with a JSON body that never ends (64 MiB of spaces before anything): a
    /// client must stop reading on its own.
    Endless,
}

/// One SMS request as received, with its form fields.
#[derive(Debug, Clone)]
pub struct SentSms {
    /// The form fields, in the order received.
    pub fields: Vec<(String, String)>,
    /// The sid the fake answered with; `None` when it refused the message.
    pub sid: Option<String>,
}

impl SentSms {
    /// The value of a form field (`To`, `Body`...).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A recording made in a call, as Twilio's lists show it (`Recordings.json`, `Calls/{sid}.json`):
/// what a test says happened at Twilio even if no webhook of it reached the service.
#[derive(Debug, Clone)]
pub struct MadeRecording {
    pub sid: String,
    pub call_sid: String,
    pub seconds: u32,
    pub created: chrono::DateTime<chrono::Utc>,
    /// The call's caller and the number called.
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// Recordings Twilio lists, with their calls.
    made: Vec<MadeRecording>,
    /// Per RecordingSid: answers to give in turn; the last one repeats.
    recordings: HashMap<String, VecDeque<RecordingReply>>,
    /// Served for any RecordingSid without answers of its own.
    default_recording: Option<Vec<u8>>,
    /// The sid of every recording request received, in order, whatever the answer.
    recording_requests: Vec<String>,
    /// Recordings actually served (answered with a file).
    recordings_served: u64,
    /// Answers to SMS requests in turn; `Accept` once empty.
    sms_replies: VecDeque<SmsReply>,
    /// SMS requests received (accepted or not).
    sms: Vec<SentSms>,
    /// The sids of the recordings deleted, in order.
    deleted: Vec<String>,
    /// Requests refused for their credentials.
    unauthorized: usize,
    /// The trouble every request meets now, if any.
    trouble: Option<Trouble>,
    /// Requests that met trouble.
    troubled: usize,
}

/// The fake, listening where it was started (see the module's documentation). Clones share
/// its state.
#[derive(Clone)]
pub struct FakeTwilioApi {
    addr: SocketAddr,
    base: String,
    credentials: Option<Arc<Credentials>>,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTwilioApi {
    /// Starts the fake on `addr` (port 0 picks a free one), checking `credentials` if given. It
    /// serves until the runtime it was started on ends.
    pub async fn start(
        addr: SocketAddr,
        credentials: Option<Credentials>,
    ) -> anyhow::Result<FakeTwilioApi> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let api = FakeTwilioApi {
            addr,
            base: format!("http://{addr}"),
            credentials: credentials.map(Arc::new),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Recordings/{file}",
                get(recording).delete(delete_recording),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(messages).get(list_messages),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Recordings.json",
                get(list_recordings),
            )
            .route("/2010-04-01/Accounts/{account}/Calls/{file}", get(call))
            .route_layer(middleware::from_fn_with_state(
                api.clone(),
                check_credentials,
            ))
            .route_layer(middleware::from_fn_with_state(api.clone(), make_trouble))
            .with_state(api.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(api)
    }

    /// Starts the fake on a free port of 127.0.0.1.
    pub async fn start_on_loopback(
        credentials: Option<Credentials>,
    ) -> anyhow::Result<FakeTwilioApi> {
        FakeTwilioApi::start(SocketAddr::from(([127, 0, 0, 1], 0)), credentials).await
    }

    /// A recording made at Twilio (listed, and its call described); its file is served like
    /// any other.
    pub fn add_made_recording(&self, made: MadeRecording) {
        self.lock().made.push(made);
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, for `TWILIO_API_BASE`: `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The account it expects, when it checks credentials.
    pub fn account_sid(&self) -> Option<&str> {
        self.credentials.as_deref().map(|c| c.account_sid.as_str())
    }

    /// Serves `wav` for every recording that has no answers of its own (otherwise: 404).
    pub fn serve_by_default(&self, wav: Vec<u8>) {
        self.lock().default_recording = Some(wav);
    }

    /// Sets the answers for a recording, given in turn (the last one repeats).
    pub fn set_recording_replies(&self, recording_sid: &str, replies: Vec<RecordingReply>) {
        self.lock()
            .recordings
            .insert(recording_sid.to_owned(), replies.into());
    }

    /// Queues answers for the next SMS requests (after them, every message is accepted).
    pub fn queue_sms_replies(&self, replies: Vec<SmsReply>) {
        self.lock().sms_replies.extend(replies);
    }

    /// The SMS requests received so far, accepted or not, oldest first.
    pub fn sms(&self) -> Vec<SentSms> {
        self.lock().sms.clone()
    }

    /// The sid of each recording request received so far, whatever the answer.
    pub fn recording_requests(&self) -> Vec<String> {
        self.lock().recording_requests.clone()
    }

    /// How many times the recording `sid` was requested.
    pub fn requests_for_recording(&self, sid: &str) -> usize {
        self.lock()
            .recording_requests
            .iter()
            .filter(|s| *s == sid)
            .count()
    }

    /// How many recordings were served (answered with a file).
    pub fn recordings_served(&self) -> u64 {
        self.lock().recordings_served
    }

    /// The sids of the recordings deleted, in order.
    pub fn deleted(&self) -> Vec<String> {
        self.lock().deleted.clone()
    }

    /// From now on every request meets `trouble`; `None` ends it.
    pub fn set_trouble(&self, trouble: Option<Trouble>) {
        self.lock().trouble = trouble;
    }

    /// How many requests met trouble so far.
    pub fn troubled(&self) -> usize {
        self.lock().troubled
    }

    /// How many requests were refused for their credentials.
    pub fn unauthorized(&self) -> usize {
        self.lock().unauthorized
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing is left half-written under this lock: a panic elsewhere keeps what it holds.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a request for `account` with these headers passes the credential check; counts
    /// the ones that do not.
    fn authorized(&self, account: &str, headers: &HeaderMap) -> bool {
        let Some(credentials) = &self.credentials else {
            return true;
        };
        let expected = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            credentials.account_sid, credentials.auth_token
        ));
        let ok = account == credentials.account_sid
            && headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == format!("Basic {expected}"));
        if !ok {
            self.lock().unauthorized += 1;
        }
        ok
    }
}

/// An error as Twilio writes it: the status, and a JSON body with Twilio's error code.
fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    let body = serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Refuses a request that fails the credential check, before any handler sees it.
async fn check_credentials(
    State(api): State<FakeTwilioApi>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    let account = params.get("account").map_or("", String::as_str);
    if !api.authorized(account, request.headers()) {
        return twilio_error(401, 20003, "Authenticate");
    }
    next.run(request).await
}

/// Answers with the trouble set, if any, before credentials or handlers see the request.
async fn make_trouble(State(api): State<FakeTwilioApi>, request: Request, next: Next) -> Response {
    let trouble = {
        let mut inner = api.lock();
        let trouble = inner.trouble.clone();
        if trouble.is_some() {
            inner.troubled += 1;
        }
        trouble
    };
    match trouble {
        None => next.run(request).await,
        Some(Trouble::Slow(wait)) => {
            tokio::time::sleep(wait).await;
            next.run(request).await
        }
        Some(Trouble::Failing(status)) => twilio_error(status, 20500, "Internal Server Error"),
        Some(Trouble::RateLimited {
            retry_after_seconds,
        }) => {
            let mut answer = twilio_error(429, 20429, "Too Many Requests");
            answer.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after_seconds),
            );
            answer
        }
        Some(Trouble::Endless) => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = futures_util::stream::iter(
                std::iter::repeat_n(chunk, 1024).map(Ok::<Bytes, std::io::Error>),
            );
            (
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(chunks),
            )
                .into_response()
        }
    }
}

async fn recording(
    State(api): State<FakeTwilioApi>,
    Path((_account, file)): Path<(String, String)>,
) -> Response {
    let sid = file.strip_suffix(".wav").unwrap_or(&file).to_owned();
    let answer = {
        let mut inner = api.lock();
        inner.recording_requests.push(sid.clone());
        let answer = match inner.recordings.get_mut(&sid) {
            Some(queue) if queue.len() > 1 => queue.pop_front(),
            Some(queue) => queue.front().cloned(),
            None => inner.default_recording.clone().map(RecordingReply::Wav),
        };
        if matches!(
            answer,
            Some(RecordingReply::Wav(_) | RecordingReply::Slow { .. })
        ) {
            inner.recordings_served += 1;
        }
        answer
    };
    match answer {
        Some(RecordingReply::Wav(bytes)) => {
            ([(header::CONTENT_TYPE, "audio/x-wav")], bytes).into_response()
        }
        Some(RecordingReply::Status(status)) => {
            twilio_error(status, 20404, "The requested resource was not found")
        }
        Some(RecordingReply::Redirect(location)) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        None => twilio_error(404, 20404, "The requested resource was not found"),
        Some(RecordingReply::Slow {
            bytes,
            chunks,
            pause,
        }) => {
            let size = bytes.len().div_ceil(chunks.max(1)).max(1);
            let pieces: Vec<Bytes> = bytes.chunks(size).map(Bytes::copy_from_slice).collect();
            let stream = futures_util::stream::unfold(
                (pieces.into_iter(), true),
                move |(mut rest, first)| async move {
                    if !first {
                        tokio::time::sleep(pause).await;
                    }
                    rest.next()
                        .map(|piece| (Ok::<_, std::io::Error>(piece), (rest, false)))
                },
            );
            (
                [(header::CONTENT_TYPE, "audio/x-wav")],
                Body::from_stream(stream),
            )
                .into_response()
        }
    }
}

/// `GET Recordings.json?DateCreated>=DAY`: the recordings made since that day, newest first,
/// in one page.
async fn list_recordings(
    State(api): State<FakeTwilioApi>,
    Path(account): Path<String>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let since = query
        .get("DateCreated>")
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let mut made: Vec<MadeRecording> = api
        .lock()
        .made
        .iter()
        .filter(|m| since.is_none_or(|day| m.created.date_naive() >= day))
        .cloned()
        .collect();
    made.sort_by_key(|m| std::cmp::Reverse(m.created));
    let recordings: Vec<serde_json::Value> = made
        .iter()
        .map(|m| {
            serde_json::json!({
                "sid": m.sid,
                "account_sid": account,
                "call_sid": m.call_sid,
                "duration": m.seconds.to_string(),
                "date_created": m.created.to_rfc2822(),
                "status": "completed",
                "source": "RecordVerb",
                "uri": format!("/2010-04-01/Accounts/{account}/Recordings/{}.json", m.sid),
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "recordings": recordings, "next_page_uri": null }))
        .into_response()
}

/// `GET Calls/{sid}.json`: the caller and the number called of a call with a recording made.
async fn call(
    State(api): State<FakeTwilioApi>,
    Path((_, file)): Path<(String, String)>,
) -> Response {
    let sid = file.trim_end_matches(".json");
    let made = api.lock().made.iter().find(|m| m.call_sid == sid).cloned();
    match made {
        Some(m) => axum::Json(
            serde_json::json!({ "sid": sid, "from": m.from, "to": m.to, "status": "completed" }),
        )
        .into_response(),
        None => twilio_error(404, 20404, "The requested resource was not found"),
    }
}

async fn delete_recording(
    State(api): State<FakeTwilioApi>,
    Path((_account, file)): Path<(String, String)>,
) -> Response {
    let sid = file.strip_suffix(".json").unwrap_or(&file).to_owned();
    api.lock().deleted.push(sid);
    StatusCode::NO_CONTENT.into_response()
}

/// The fields `Messages.json` knows; any other is refused, as Twilio does.
const SMS_FIELDS: [&str; 6] = [
    "To",
    "From",
    "MessagingServiceSid",
    "Body",
    "StatusCallback",
    "MediaUrl",
];

async fn messages(State(api): State<FakeTwilioApi>, body: Bytes) -> Response {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some((unknown, _)) = fields
        .iter()
        .find(|(k, _)| !SMS_FIELDS.contains(&k.as_str()))
    {
        return twilio_error(400, 21000, &format!("unknown parameter {unknown}"));
    }
    let has = |k: &str| fields.iter().any(|(name, v)| name == k && !v.is_empty());
    if !has("To") || !has("Body") {
        return twilio_error(400, 21604, "A 'To' and a 'Body' are required");
    }
    // The sender: a number (`From`) or a Messaging Service that picks one from its pool, one
    // of the two.
    match (has("From"), has("MessagingServiceSid")) {
        (false, false) => {
            return twilio_error(
                400,
                21603,
                "A 'From' or 'MessagingServiceSid' parameter is required",
            );
        }
        (true, true) => {
            return twilio_error(
                400,
                21603,
                "Send either 'From' or 'MessagingServiceSid', not both",
            );
        }
        _ => {}
    }
    let service = fields
        .iter()
        .find(|(k, _)| k == "MessagingServiceSid")
        .map(|(_, v)| v.as_str());
    if service.is_some_and(|sid| {
        !(sid.len() == 34
            && sid.starts_with("MG")
            && sid[2..].chars().all(|c| c.is_ascii_hexdigit()))
    }) {
        return twilio_error(400, 21701, "The Messaging Service Sid is invalid");
    }
    let reply = api
        .lock()
        .sms_replies
        .pop_front()
        .unwrap_or(SmsReply::Accept);
    if let SmsReply::Slow(pause) = reply {
        // A client that gives up first drops this request: it is then never logged.
        tokio::time::sleep(pause).await;
    }
    if let SmsReply::Unanswered(pause) = reply {
        // Taken (logged, listed) before the wait: Twilio sends it whatever the client does.
        let sid = format!("SM{}", super::random_hex());
        api.lock().sms.push(SentSms {
            fields,
            sid: Some(sid.clone()),
        });
        tokio::time::sleep(pause).await;
        return accepted(&sid);
    }
    match reply {
        SmsReply::Error { status, code } => {
            api.lock().sms.push(SentSms { fields, sid: None });
            twilio_error(status, code, "refused by the fake")
        }
        SmsReply::Accept | SmsReply::Slow(_) | SmsReply::Unanswered(_) => {
            // Unique like Twilio's: a second run against the same database must not reuse one.
            let sid = format!("SM{}", super::random_hex());
            api.lock().sms.push(SentSms {
                fields,
                sid: Some(sid.clone()),
            });
            accepted(&sid)
        }
    }
}

/// `GET Messages.json?To=…&PageSize=…`: the messages taken for that number, newest first, in
/// Twilio's list format (`messages`, each with `sid`, `to`, `body`, `status`, `num_segments`).
async fn list_messages(
    State(api): State<FakeTwilioApi>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let to = query.get("To").cloned();
    let page_size: usize = query
        .get("PageSize")
        .and_then(|p| p.parse().ok())
        .unwrap_or(50);
    let messages: Vec<serde_json::Value> = api
        .lock()
        .sms
        .iter()
        .rev()
        .filter(|m| to.is_none() || m.get("To") == to.as_deref())
        .filter_map(|m| {
            Some(serde_json::json!({
                "sid": m.sid.as_deref()?,
                "to": m.get("To"),
                "body": m.get("Body"),
                "status": "queued",
                "num_segments": "1",
            }))
        })
        .take(page_size)
        .collect();
    let body = serde_json::json!({ "messages": messages });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Twilio's answer to a message it took: 201, queued.
fn accepted(sid: &str) -> Response {
    let body = serde_json::json!({
        "sid": sid,
        "status": "queued",
        "num_segments": "1",
        "error_code": null,
        "error_message": null,
    });
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::audio::tone_wav;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "fake-api-test-token";

    fn recording_url(api: &FakeTwilioApi, account: &str, sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{account}/Recordings/{sid}.wav",
            api.base()
        )
    }

    fn sms_url(api: &FakeTwilioApi, account: &str) -> String {
        format!("{}/2010-04-01/Accounts/{account}/Messages.json", api.base())
    }

    #[tokio::test]
    async fn with_credentials_it_refuses_others_like_twilio() {
        let api = FakeTwilioApi::start_on_loopback(Some(Credentials::new(ACCOUNT, TOKEN)))
            .await
            .unwrap();
        api.serve_by_default(tone_wav(1));
        let client = reqwest::Client::new();

        let wrong_token = client
            .get(recording_url(&api, ACCOUNT, "RE1"))
            .basic_auth(ACCOUNT, Some("nope"))
            .send()
            .await
            .unwrap();
        let wrong_account = client
            .get(recording_url(&api, "AC1", "RE1"))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .unwrap();
        let none = client
            .post(sms_url(&api, ACCOUNT))
            .form(&[("To", "+525512345678"), ("From", "+525500000000")])
            .send()
            .await
            .unwrap();
        let right = client
            .get(recording_url(&api, ACCOUNT, "RE1"))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .unwrap();

        for refused in [wrong_token, wrong_account, none] {
            assert_eq!(refused.status().as_u16(), 401);
            let body: serde_json::Value = refused.json().await.unwrap();
            assert_eq!(body["code"], 20003);
        }
        assert_eq!(right.status().as_u16(), 200);
        assert_eq!(
            right.bytes().await.unwrap().as_ref(),
            tone_wav(1).as_slice()
        );
        assert_eq!(api.unauthorized(), 3);
        assert_eq!(api.recording_requests(), ["RE1"]);
        assert_eq!(api.recordings_served(), 1);
        assert!(api.sms().is_empty());
    }

    #[tokio::test]
    async fn without_credentials_it_serves_and_takes_messages_for_anyone() {
        let api = FakeTwilioApi::start_on_loopback(None).await.unwrap();
        let client = reqwest::Client::new();
        api.set_recording_replies(
            "RE1",
            vec![
                RecordingReply::Status(404),
                RecordingReply::Wav(tone_wav(1)),
            ],
        );

        let mut answered = Vec::new();
        for sid in ["RE1", "RE1", "RE1", "RE2"] {
            let res = client
                .get(recording_url(&api, "AC1", sid))
                .send()
                .await
                .unwrap();
            answered.push(res.status().as_u16());
        }
        let sent = client
            .post(sms_url(&api, "AC2"))
            .form(&[
                ("To", "+525512345678"),
                ("From", "+525500000000"),
                ("Body", "Folio 123"),
            ])
            .send()
            .await
            .unwrap();
        let deleted = client
            .delete(format!(
                "{}/2010-04-01/Accounts/AC1/Recordings/RE1.json",
                api.base()
            ))
            .send()
            .await
            .unwrap();

        assert_eq!(answered, [404, 200, 200, 404], "the last answer repeats");
        assert_eq!(api.requests_for_recording("RE1"), 3);
        assert_eq!(api.recordings_served(), 2);
        assert_eq!(sent.status().as_u16(), 201);
        let reply: serde_json::Value = sent.json().await.unwrap();
        let sms = api.sms();
        assert_eq!(sms.len(), 1);
        assert_eq!(sms[0].get("Body"), Some("Folio 123"));
        assert_eq!(reply["sid"].as_str(), sms[0].sid.as_deref());
        assert!(reply["sid"].as_str().unwrap().starts_with("SM"));
        assert_eq!(deleted.status().as_u16(), 204);
        assert_eq!(api.deleted(), ["RE1"]);
        assert_eq!(api.unauthorized(), 0);
    }

    #[tokio::test]
    async fn trouble_meets_every_request_until_cleared() {
        let api = FakeTwilioApi::start_on_loopback(None).await.unwrap();
        api.serve_by_default(tone_wav(1));
        let client = reqwest::Client::new();
        let get = || client.get(recording_url(&api, "AC1", "RE1")).send();

        api.set_trouble(Some(Trouble::RateLimited {
            retry_after_seconds: 7,
        }));
        let limited = get().await.unwrap();
        api.set_trouble(Some(Trouble::Failing(503)));
        let failing = get().await.unwrap();
        api.set_trouble(Some(Trouble::Slow(Duration::from_millis(300))));
        let started = std::time::Instant::now();
        let slow = get().await.unwrap();
        let slow_took = started.elapsed();
        api.set_trouble(None);
        let fine = get().await.unwrap();

        assert_eq!(limited.status().as_u16(), 429);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
        let body: serde_json::Value = limited.json().await.unwrap();
        assert_eq!(body["code"], 20429);
        assert_eq!(failing.status().as_u16(), 503);
        assert_eq!(slow.status().as_u16(), 200);
        assert!(slow_took >= Duration::from_millis(300), "{slow_took:?}");
        assert_eq!(fine.status().as_u16(), 200);
        assert_eq!(api.troubled(), 3);
        assert_eq!(
            api.recordings_served(),
            2,
            "the slow answer and the fine one"
        );
    }

    #[tokio::test]
    async fn sms_replies_are_given_in_turn_and_bad_requests_refused() {
        let api = FakeTwilioApi::start_on_loopback(None).await.unwrap();
        let client = reqwest::Client::new();
        api.queue_sms_replies(vec![SmsReply::Error {
            status: 400,
            code: 21211,
        }]);
        let message = [
            ("To", "+525512345678"),
            ("From", "+525500000000"),
            ("Body", "hola"),
        ];
        let mut statuses = Vec::new();
        const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";
        for form in [
            &message[..],
            &message[..],
            &[("To", "+525512345678"), ("Body", "hola")][..],
            &[("To", "+525512345678"), ("Text", "hola")][..],
            // A Messaging Service instead of `From`: taken.
            &[
                ("To", "+525512345678"),
                ("MessagingServiceSid", SERVICE),
                ("Body", "hola"),
            ][..],
            // Both senders, or a SID that is not a Messaging Service's: refused.
            &[
                ("To", "+525512345678"),
                ("From", "+525500000000"),
                ("MessagingServiceSid", SERVICE),
                ("Body", "hola"),
            ][..],
            &[
                ("To", "+525512345678"),
                ("MessagingServiceSid", "PN0123456789abcdef0123456789abcdef"),
                ("Body", "hola"),
            ][..],
        ] {
            let res = client
                .post(sms_url(&api, "AC1"))
                .form(form)
                .send()
                .await
                .unwrap();
            statuses.push(res.status().as_u16());
        }

        assert_eq!(statuses, [400, 201, 400, 400, 201, 400, 400]);
        let sms = api.sms();
        assert_eq!(sms.len(), 3, "only well-formed requests are logged");
        assert_eq!(sms[0].sid, None, "refused");
        assert!(sms[1].sid.is_some(), "accepted");
        assert_eq!(sms[2].get("MessagingServiceSid"), Some(SERVICE));
        assert!(sms[2].sid.is_some(), "accepted");
    }
}
