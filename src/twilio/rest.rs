//! Twilio's REST API, as much as we use: send an SMS (and list those sent to a number),
//! download and delete a recording.
//!
//! [`TwilioClient`] is a value held in the service's state (like any other client of an outside
//! service): it owns the one shared `reqwest::Client` (connection pool, rustls, time-outs), the
//! API base (`TWILIO_API_BASE`) and the account's credentials, and sends HTTP Basic auth with
//! every request. Errors are sorted into those worth retrying (429, 5xx, time-outs, connection
//! failures) and the rest, using Twilio's own error codes where it gives one.

use crate::config::{Config, TwilioConfig};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// Twilio error codes that will not change by trying again: invalid `To`, unverified number on
/// a trial account, unsubscribed recipient, unroutable, not a mobile.
pub const PERMANENT_SMS_ERRORS: &[i64] = &[21211, 21608, 21610, 21612, 21614];

/// The recipient opted out (answered STOP to this sender): Twilio refuses every message to it
/// until they answer START.
pub const UNSUBSCRIBED_RECIPIENT: i64 = 21610;

/// Bad credentials: staff must fix the configuration.
pub const BAD_CREDENTIALS: i64 = 20003;

/// A failed REST call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// Twilio answered with an error status; `code` is Twilio's error code when it sent one.
    #[error("HTTP {status}{}: {message}", code.map(|c| format!(" (Twilio error {c})")).unwrap_or_default())]
    Status {
        status: u16,
        code: Option<i64>,
        message: String,
        /// How long Twilio asked us to wait before trying again (`Retry-After`, sent with a 429
        /// or a 503), when it said.
        retry_after: Option<Duration>,
    },
    /// No usable answer: connection refused, time-out, a broken body.
    #[error("{0}")]
    Transport(String),
}

impl RestError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RestError::Transport(_) => true,
            RestError::Status { status, .. } => *status == 429 || *status >= 500,
        }
    }

    /// The wait Twilio asked for before the next try (its `Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RestError::Status { retry_after, .. } => *retry_after,
            RestError::Transport(_) => None,
        }
    }

    pub fn twilio_code(&self) -> Option<i64> {
        match self {
            RestError::Status { code, .. } => *code,
            RestError::Transport(_) => None,
        }
    }
}

impl From<reqwest::Error> for RestError {
    fn from(e: reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            "time-out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        // reqwest's message leaves out the cause (a refused redirect says only "error following
        // redirect"): add the chain of sources, which says why.
        let mut message = format!("{kind}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        RestError::Transport(message)
    }
}

/// Twilio's JSON error body.
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

/// What Twilio says about an SMS it accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct SentMessage {
    pub sid: String,
    pub status: String,
    /// Twilio sends it as a string ("1").
    pub num_segments: Option<serde_json::Value>,
}

impl SentMessage {
    pub fn segments(&self) -> Option<i64> {
        match &self.num_segments {
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            _ => None,
        }
    }
}

/// A message as Twilio lists it (`GET Messages.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct ListedMessage {
    pub sid: String,
    pub to: Option<String>,
    pub body: Option<String>,
    pub status: String,
    pub num_segments: Option<serde_json::Value>,
}

impl ListedMessage {
    /// As Twilio's answer to sending it.
    pub fn as_sent(&self) -> SentMessage {
        SentMessage {
            sid: self.sid.clone(),
            status: self.status.clone(),
            num_segments: self.num_segments.clone(),
        }
    }
}

/// One page of Twilio's message list.
#[derive(Debug, Deserialize)]
struct MessagePage {
    messages: Vec<ListedMessage>,
}

/// A recording as Twilio lists it (`GET Recordings.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct ListedRecording {
    pub sid: String,
    pub call_sid: Option<String>,
    /// Seconds, as a string ("25").
    pub duration: Option<String>,
    /// RFC 2822 (`Mon, 30 Nov 2026 12:00:00 +0000`).
    pub date_created: Option<String>,
    pub status: Option<String>,
    /// `RecordVerb` for a `<Record>` of ours.
    pub source: Option<String>,
}

impl ListedRecording {
    pub fn seconds(&self) -> Option<i64> {
        self.duration.as_deref()?.parse().ok()
    }

    pub fn created(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc2822(self.date_created.as_deref()?)
            .ok()
            .map(|t| t.to_utc())
    }
}

#[derive(Deserialize)]
struct RecordingPage {
    recordings: Vec<ListedRecording>,
    next_page_uri: Option<String>,
}

/// A call as Twilio describes it (`GET Calls/{sid}.json`): who called whom.
#[derive(Debug, Clone, Deserialize)]
pub struct CallParties {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Most pages of recordings read in one sweep (a thousand each).
const MAX_RECORDING_PAGES: usize = 20;

/// Longest JSON answer read from Twilio's API (a page of a thousand recordings is about 1 MB).
const MAX_JSON_BYTES: usize = 8 * 1024 * 1024;

/// Longest error body read from Twilio's API (its errors are a few hundred bytes of JSON).
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Reads a body of at most `max` bytes: an answer from outside never fills our memory.
async fn read_bounded(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, RestError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > max {
            return Err(RestError::Transport(format!(
                "answer from Twilio longer than {max} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reads a JSON answer of at most [`MAX_JSON_BYTES`] (an error status is Twilio's error).
async fn json_of<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, RestError> {
    if !response.status().is_success() {
        return Err(error_from(response).await);
    }
    let bytes = read_bounded(response, MAX_JSON_BYTES).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| RestError::Transport(format!("unreadable answer from Twilio: {e}")))
}

/// Whether a recording URL points at the configured API host (same scheme, host and port).
/// Anything else is refused, so a forged or misconfigured callback cannot make us fetch from
/// elsewhere (SSRF).
pub fn is_api_url(url: &str, api_base: &Url) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    url.scheme() == api_base.scheme()
        && url.host_str() == api_base.host_str()
        && url.port_or_known_default() == api_base.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none()
}

/// The most redirects a request to Twilio follows.
const MAX_REDIRECTS: usize = 5;

/// Hosts Twilio serves media from (a recording's `.wav` may redirect there), by suffix.
const TWILIO_MEDIA_HOSTS: &[&str] = &["twilio.com", "twiliocdn.com"];

/// Whether a redirect from Twilio's API may be followed to `url`: the API base's own origin
/// (a compatible provider, the tests' fake), or https on one of Twilio's media hosts. Anything
/// else (another host, plain http, an address, credentials in the URL) is refused, so a
/// compromised or spoofed API answer cannot make the service fetch from inside its network.
pub fn may_redirect_to(url: &Url, api_base: &Url) -> bool {
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let same_origin = url.scheme() == api_base.scheme()
        && url.host_str() == api_base.host_str()
        && url.port_or_known_default() == api_base.port_or_known_default();
    let twilio_media = url.scheme() == "https"
        && matches!(url.host(), Some(url::Host::Domain(_)))
        && url.host_str().is_some_and(|h| {
            TWILIO_MEDIA_HOSTS
                .iter()
                .any(|suffix| h == *suffix || h.ends_with(&format!(".{suffix}")))
        });
    same_origin || twilio_media
}

/// The most a `Retry-After` is believed: a garbled or hostile header cannot park a job for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` header's wait: delay-seconds, or an HTTP date (RFC 9110, section 10.2.3)
/// measured from `now`. A date in the past is no wait; anything unreadable is none.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

async fn error_from(response: reqwest::Response) -> RestError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let bytes = read_bounded(response, MAX_ERROR_BYTES)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    match serde_json::from_str::<TwilioError>(&text) {
        Ok(e) => RestError::Status {
            status,
            code: e.code,
            message: e.message.unwrap_or_default(),
            retry_after,
        },
        Err(_) => RestError::Status {
            status,
            code: None,
            message: text.chars().take(200).collect(),
            retry_after,
        },
    }
}

/// Twilio's REST API for one account. Cheap to clone: the HTTP client is a handle.
#[derive(Clone, Debug)]
pub struct TwilioClient {
    http: reqwest::Client,
    api_base: Url,
    /// `None` in demo mode: nothing can be sent, recordings are fetched without credentials.
    account: Option<TwilioConfig>,
}

impl TwilioClient {
    /// The client the configuration describes: its API base, its account, its time-out.
    pub fn new(config: &Config) -> Result<TwilioClient, reqwest::Error> {
        let base = config.twilio_api_base.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if may_redirect_to(attempt.url(), &base) {
                attempt.follow()
            } else {
                let to = attempt.url().origin().ascii_serialization();
                attempt.error(format!(
                    "redirect to {to} refused: only Twilio's media hosts over https"
                ))
            }
        });
        let http = reqwest::Client::builder()
            .redirect(redirects)
            .connect_timeout(Duration::from_secs(10))
            .timeout(config.http_timeout)
            .user_agent(concat!("atiende/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(TwilioClient {
            http,
            api_base: config.twilio_api_base.clone(),
            account: config.twilio.clone(),
        })
    }

    /// Whether a recording URL may be fetched: on the API host (see [`is_api_url`]).
    pub fn may_fetch(&self, url: &str) -> bool {
        is_api_url(url, &self.api_base)
    }

    /// Adds Basic auth when Twilio is configured (demo mode sends none).
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.account {
            Some(t) => request.basic_auth(&t.account_sid, Some(t.auth_token.expose_secret())),
            None => request,
        }
    }

    /// `{TWILIO_API_BASE}/2010-04-01/Accounts/{AccountSid}/{rest}`, or an error in demo mode.
    fn account_url(&self, rest: &str) -> Result<String, RestError> {
        let Some(t) = &self.account else {
            return Err(RestError::Transport("demo mode: no Twilio account".into()));
        };
        Ok(format!(
            "{}/2010-04-01/Accounts/{}/{rest}",
            self.api_base.as_str().trim_end_matches('/'),
            t.account_sid
        ))
    }

    /// `GET {RecordingUrl}.wav`: the response, to be streamed by the caller.
    pub async fn fetch_recording(
        &self,
        recording_url: &str,
    ) -> Result<reqwest::Response, RestError> {
        let url = format!("{}.wav", recording_url.trim_end_matches(".wav"));
        let response = self.authorized(self.http.get(&url)).send().await?;
        if !response.status().is_success() {
            return Err(error_from(response).await);
        }
        Ok(response)
    }

    /// `DELETE /2010-04-01/Accounts/{sid}/Recordings/{RecordingSid}.json`.
    pub async fn delete_recording(&self, recording_sid: &str) -> Result<(), RestError> {
        let url = self.account_url(&format!("Recordings/{recording_sid}.json"))?;
        let response = self.authorized(self.http.delete(&url)).send().await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_from(response).await)
        }
    }

    /// `GET /2010-04-01/Accounts/{sid}/Messages.json?To={to}&PageSize={n}`: the latest `n`
    /// messages of the account to `to`, newest first.
    pub async fn messages_to(&self, to: &str, n: u32) -> Result<Vec<ListedMessage>, RestError> {
        let url = self.account_url("Messages.json")?;
        let page_size = n.to_string();
        let response = self
            .authorized(
                self.http
                    .get(&url)
                    .query(&[("To", to), ("PageSize", page_size.as_str())]),
            )
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(error_from(response).await);
        }
        json_of::<MessagePage>(response)
            .await
            .map(|page| page.messages)
    }

    /// `GET Recordings.json?DateCreated>=DAY`: the account's recordings made since the start
    /// of `day` (GMT), newest first, every page (at most [`MAX_RECORDING_PAGES`]).
    pub async fn recordings_since(
        &self,
        day: chrono::NaiveDate,
    ) -> Result<Vec<ListedRecording>, RestError> {
        let first = self.account_url("Recordings.json")?;
        let day = day.format("%Y-%m-%d").to_string();
        let origin = self.api_base.as_str().trim_end_matches('/').to_owned();
        let mut found = Vec::new();
        let mut request = self
            .http
            .get(&first)
            .query(&[("DateCreated>", day.as_str()), ("PageSize", "1000")]);
        for _ in 0..MAX_RECORDING_PAGES {
            let page: RecordingPage = json_of(self.authorized(request).send().await?).await?;
            found.extend(page.recordings);
            // The next page is a path on the same API host; anything else is not followed.
            match page.next_page_uri.filter(|p| p.starts_with("/2010-04-01/")) {
                Some(next) => request = self.http.get(format!("{origin}{next}")),
                None => break,
            }
        }
        Ok(found)
    }

    /// `GET Calls/{sid}.json`: who called whom.
    pub async fn call_parties(&self, call_sid: &str) -> Result<CallParties, RestError> {
        let url = self.account_url(&format!("Calls/{call_sid}.json"))?;
        json_of(self.authorized(self.http.get(&url)).send().await?).await
    }

    /// The address of a recording's media, as the `<Record>` action would have sent it.
    pub fn recording_url(&self, recording_sid: &str) -> Result<String, RestError> {
        self.account_url(&format!("Recordings/{recording_sid}"))
    }

    /// `POST /2010-04-01/Accounts/{sid}/Messages.json` with `To`, the sender, `Body` and
    /// `StatusCallback`. The sender is `MessagingServiceSid` when a Messaging Service is
    /// configured (Twilio picks a number of its pool), else `From`, the office number: exactly
    /// one of the two, as Twilio expects.
    pub async fn send_sms(
        &self,
        to: &str,
        body: &str,
        status_callback: &str,
    ) -> Result<SentMessage, RestError> {
        let url = self.account_url("Messages.json")?;
        let Some((sender, sender_value)) = self
            .account
            .as_ref()
            .and_then(TwilioConfig::sms_sender)
            .map(|s| s.field())
        else {
            return Err(RestError::Transport(
                "no sender: neither TWILIO_MESSAGING_SERVICE_SID nor TWILIO_PHONE_NUMBER".into(),
            ));
        };
        let form = [
            ("To", to),
            (sender, sender_value),
            ("Body", body),
            ("StatusCallback", status_callback),
        ];
        let response = self
            .authorized(self.http.post(&url).form(&form))
            .send()
            .await?;
        json_of(response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_go_only_to_twilios_media_hosts_over_https() {
        let base = Url::parse("https://api.twilio.com").unwrap();
        let ok = |u: &str| may_redirect_to(&Url::parse(u).unwrap(), &base);
        assert!(ok("https://api.twilio.com/2010-04-01/x.wav"));
        assert!(ok("https://media.twiliocdn.com/AC1/RE1.wav?Expires=1"));
        assert!(ok("https://video.twilio.com/x"));
        assert!(!ok("http://media.twiliocdn.com/x"), "plain http");
        assert!(!ok("https://twiliocdn.com.evil.example/x"));
        assert!(!ok("https://eviltwilio.com/x"));
        assert!(!ok("https://169.254.169.254/latest/meta-data"));
        assert!(!ok("https://u:p@media.twiliocdn.com/x"));
        assert!(!ok("https://localhost/x"));
        // The API base's own origin (a fake or a compatible provider on http).
        let fake = Url::parse("http://127.0.0.1:8089").unwrap();
        assert!(may_redirect_to(
            &Url::parse("http://127.0.0.1:8089/r.wav").unwrap(),
            &fake
        ));
        assert!(!may_redirect_to(
            &Url::parse("http://127.0.0.1:9/r.wav").unwrap(),
            &fake
        ));
    }

    #[test]
    fn only_the_api_host_is_fetched() {
        let base = Url::parse("https://api.twilio.com").unwrap();
        assert!(is_api_url(
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
            &base
        ));
        assert!(is_api_url("https://api.twilio.com:443/x", &base));
        assert!(!is_api_url("http://api.twilio.com/x", &base));
        assert!(!is_api_url("https://api.twilio.com.evil.example/x", &base));
        assert!(!is_api_url(
            "https://169.254.169.254/latest/meta-data",
            &base
        ));
        assert!(!is_api_url("https://user:pw@api.twilio.com/x", &base));
        assert!(!is_api_url("not a url", &base));
        let local = Url::parse("http://127.0.0.1:9000").unwrap();
        assert!(is_api_url("http://127.0.0.1:9000/r", &local));
        assert!(!is_api_url("http://127.0.0.1:9001/r", &local));
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_bounded() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T16:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 16:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 15:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past"
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn retryable_errors() {
        let status = |status, code| RestError::Status {
            status,
            code,
            message: String::new(),
            retry_after: None,
        };
        assert!(status(429, Some(20429)).is_retryable());
        assert!(status(503, None).is_retryable());
        assert!(
            !status(401, Some(20003)).is_retryable(),
            "bad credentials need a person"
        );
        assert!(RestError::Transport("time-out".into()).is_retryable());
        for code in PERMANENT_SMS_ERRORS {
            assert!(!status(400, Some(*code)).is_retryable(), "{code}");
        }
    }
}
