//! A fake Twilio REST API on loopback, for the recordings and SMS the service fetches and sends.
//!
//! It checks HTTP Basic auth like Twilio (401 with error 20003 otherwise), serves WAV recordings
//! at `/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.wav`, accepts
//! `Messages.json` with exactly Twilio's field names (`To`, `From`, `Body`, `StatusCallback`)
//! and answers as Twilio does, and deletes recordings. Tests make it fail on demand: a 404 before
//! the file is ready, a 500, a 429, an answer slower than the service's time-out, a malformed
//! WAV, a permanent SMS error.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake does when a recording is requested.
#[derive(Debug, Clone)]
pub enum Media {
    /// Serve these bytes.
    Wav(Vec<u8>),
    /// Answer with this status (and Twilio's JSON error) instead.
    Status(u16),
    /// Serve these bytes slowly: `chunks` pieces, `pause` between them.
    Slow {
        bytes: Vec<u8>,
        chunks: usize,
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
}

/// One SMS as received, with its form fields.
#[derive(Debug, Clone)]
pub struct SentSms {
    pub fields: Vec<(String, String)>,
    pub sid: Option<String>,
}

impl SentSms {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Inner {
    /// Per RecordingSid: answers to give in turn; the last one repeats.
    media: HashMap<String, VecDeque<Media>>,
    media_requests: Vec<String>,
    /// Answers to SMS requests in turn; `Accept` once empty.
    sms_replies: VecDeque<SmsReply>,
    /// SMS requests received (accepted or not).
    sms: Vec<SentSms>,
    deleted: Vec<String>,
    unauthorized: usize,
    counter: u64,
}

/// The fake, listening on loopback.
#[derive(Clone)]
pub struct FakeTwilio {
    pub base: String,
    pub account_sid: String,
    token: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTwilio {
    pub async fn start(account_sid: &str, token: &str) -> FakeTwilio {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeTwilio {
            base,
            account_sid: account_sid.to_owned(),
            token: token.to_owned(),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Recordings/{file}",
                get(recording),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Recordings/{file}",
                delete(delete_recording),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(messages),
            )
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// Sets the answers for a recording, given in turn (the last one repeats).
    pub fn media(&self, recording_sid: &str, answers: Vec<Media>) {
        self.inner
            .lock()
            .unwrap()
            .media
            .insert(recording_sid.to_owned(), answers.into());
    }

    /// Queues answers for the next SMS requests.
    pub fn sms_replies(&self, replies: Vec<SmsReply>) {
        self.inner.lock().unwrap().sms_replies.extend(replies);
    }

    /// SMS requests received so far.
    pub fn sms(&self) -> Vec<SentSms> {
        self.inner.lock().unwrap().sms.clone()
    }

    /// Recording requests received so far (the sids).
    pub fn media_requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().media_requests.clone()
    }

    pub fn deleted(&self) -> Vec<String> {
        self.inner.lock().unwrap().deleted.clone()
    }

    pub fn unauthorized(&self) -> usize {
        self.inner.lock().unwrap().unauthorized
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.account_sid, self.token));
        let ok = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Basic {expected}"));
        if !ok {
            self.inner.lock().unwrap().unauthorized += 1;
        }
        ok
    }
}

fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    let body = serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn recording(
    State(fake): State<FakeTwilio>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if account != fake.account_sid || !fake.authorized(&headers) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let sid = file.strip_suffix(".wav").unwrap_or(&file).to_owned();
    let answer = {
        let mut inner = fake.inner.lock().unwrap();
        inner.media_requests.push(sid.clone());
        match inner.media.get_mut(&sid) {
            Some(queue) if queue.len() > 1 => queue.pop_front().unwrap(),
            Some(queue) if queue.len() == 1 => queue[0].clone(),
            // Any other recording: a 3-second tone, like a short report.
            _ => Media::Wav(atiende::sim::media::tone_wav(3)),
        }
    };
    match answer {
        Media::Wav(bytes) => ([(header::CONTENT_TYPE, "audio/x-wav")], bytes).into_response(),
        Media::Status(status) => {
            twilio_error(status, 20404, "The requested resource was not found")
        }
        Media::Slow {
            bytes,
            chunks,
            pause,
        } => {
            let size = bytes.len().div_ceil(chunks.max(1));
            let pieces: Vec<Vec<u8>> = bytes.chunks(size.max(1)).map(<[u8]>::to_vec).collect();
            let stream = futures_util::stream::unfold(
                (pieces.into_iter(), true),
                move |(mut it, first)| async move {
                    if !first {
                        tokio::time::sleep(pause).await;
                    }
                    it.next().map(|p| (Ok::<_, std::io::Error>(p), (it, false)))
                },
            );
            Response::builder()
                .header(header::CONTENT_TYPE, "audio/x-wav")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

async fn delete_recording(
    State(fake): State<FakeTwilio>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if account != fake.account_sid || !fake.authorized(&headers) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let sid = file.strip_suffix(".json").unwrap_or(&file).to_owned();
    fake.inner.lock().unwrap().deleted.push(sid);
    StatusCode::NO_CONTENT.into_response()
}

async fn messages(
    State(fake): State<FakeTwilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if account != fake.account_sid || !fake.authorized(&headers) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let known = [
        "To",
        "From",
        "MessagingServiceSid",
        "Body",
        "StatusCallback",
        "MediaUrl",
    ];
    if let Some((unknown, _)) = fields.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return twilio_error(400, 21000, &format!("unknown parameter {unknown}"));
    }
    let has = |k: &str| fields.iter().any(|(name, v)| name == k && !v.is_empty());
    if !has("To") || !(has("From") || has("MessagingServiceSid")) || !has("Body") {
        return twilio_error(400, 21604, "A 'To', 'From' and 'Body' are required");
    }
    let reply = fake
        .inner
        .lock()
        .unwrap()
        .sms_replies
        .pop_front()
        .unwrap_or(SmsReply::Accept);
    if let SmsReply::Slow(pause) = reply {
        tokio::time::sleep(pause).await;
    }
    let mut inner = fake.inner.lock().unwrap();
    match reply {
        SmsReply::Error { status, code } => {
            inner.sms.push(SentSms { fields, sid: None });
            twilio_error(status, code, "refused by the fake")
        }
        SmsReply::Accept | SmsReply::Slow(_) => {
            inner.counter += 1;
            let sid = format!("SM{:032x}", inner.counter);
            inner.sms.push(SentSms {
                fields,
                sid: Some(sid.clone()),
            });
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
    }
}
