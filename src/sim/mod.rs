//! A call simulator: plays Twilio's part against a running service.
//!
//! It executes TwiML the way Twilio does: `<Say>`/`<Play>`/`<Pause>` are heard in order, a
//! `<Redirect>` is followed at once, a `<Gather>` waits for keys (and with none, falls through to
//! the next verb), a `<Record>` waits for a recording (an empty one also falls through), a
//! `<Dial>` waits for the transfer's result, `<Hangup>` or the end of the document ends the call.
//! Every request is a signed form POST with Twilio's field names, to the absolute URLs the service
//! wrote into its TwiML.
//!
//! `atiende simulate` drives it from the terminal; the integration tests drive it from code, so
//! the simulator the README recommends is the one the test suite exercises. Beside it,
//! [`fake_api`] stands in for Twilio's REST API (the recordings the service downloads, the SMS
//! it sends), and [`audio`] makes the recordings.

pub mod audio;
pub mod fake_api;
pub mod terminal;

use crate::twilio::signature;
use crate::twiml::{Prompt, Response, Verb};
use anyhow::{Context, bail};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the simulator reaches the service and signs its requests.
#[derive(Clone, Debug)]
pub struct CallSimulator {
    /// The service's public base URL, as it writes it into TwiML (and as signatures cover it).
    pub public_base: String,
    /// Where requests are actually sent (differs from `public_base` behind a proxy, or when the
    /// public URL is a name that only Twilio resolves).
    pub connect_base: String,
    pub auth_token: Option<String>,
    pub account_sid: String,
    /// Base of the recording URLs handed to the service (Twilio's API host, or the fake of it,
    /// [`fake_api::FakeTwilioApi`]).
    pub recordings_base: String,
    pub client: reqwest::Client,
    /// Told of each request's latency (`atiende bench`); `None` tells nobody.
    pub timer: Option<ResponseTimer>,
}

/// Told of every answer the simulator receives: the path it went to (without the query) and
/// the time from sending the request to having the whole answer (`atiende bench` keeps them).
#[derive(Clone)]
pub struct ResponseTimer(Arc<TimerFn>);

type TimerFn = dyn Fn(&str, Duration) + Send + Sync;

impl ResponseTimer {
    pub fn new(f: impl Fn(&str, Duration) + Send + Sync + 'static) -> ResponseTimer {
        ResponseTimer(Arc::new(f))
    }
}

impl std::fmt::Debug for ResponseTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseTimer")
    }
}

impl CallSimulator {
    /// A simulator for a service reachable at `base` (public and connect URL alike).
    pub fn new(base: &str, auth_token: Option<&str>) -> CallSimulator {
        CallSimulator {
            public_base: base.trim_end_matches('/').to_owned(),
            connect_base: base.trim_end_matches('/').to_owned(),
            auth_token: auth_token.map(str::to_owned),
            account_sid: format!("AC{}", random_hex()),
            recordings_base: "https://api.twilio.com".to_owned(),
            client: reqwest::Client::new(),
            timer: None,
        }
    }

    /// POSTs a form as Twilio would: to an absolute URL under the public base, signed.
    pub async fn post(
        &self,
        url: &str,
        params: &[(String, String)],
    ) -> anyhow::Result<(u16, String)> {
        let Some(rest) = url.strip_prefix(&self.public_base) else {
            bail!(
                "the service sent Twilio to {url}, outside its public URL {}",
                self.public_base
            );
        };
        let target = format!("{}{rest}", self.connect_base);
        // Twilio marks each request with a token of its own, repeated only when it sends that
        // same request again.
        let mut request = self
            .client
            .post(&target)
            .form(params)
            .header("I-Twilio-Idempotency-Token", random_hex());
        if let Some(token) = &self.auth_token {
            request = request.header("X-Twilio-Signature", signature::sign(token, url, params));
        }
        // Timed from here: the form is encoded and signed already, as Twilio's would be.
        let started = Instant::now();
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {target}"))?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        if let Some(timer) = &self.timer {
            let path = rest.split_once('?').map_or(rest, |(path, _)| path);
            (timer.0)(path, started.elapsed());
        }
        Ok((status, body))
    }

    /// Starts a call from `from` (`None` for a withheld number).
    pub async fn call(&self, from: Option<&str>) -> anyhow::Result<SimCall> {
        let mut call = self.dialled(from);
        call.ring().await?;
        Ok(call)
    }

    /// A call from `from` that Twilio has taken but not yet announced to the service: see
    /// [`SimCall::ring`] (and [`SimCall::fallback`] when that request fails).
    pub fn dialled(&self, from: Option<&str>) -> SimCall {
        let call_sid = format!("CA{}", random_hex());
        let from = from.unwrap_or("anonymous").to_owned();
        let to = "+525500000000".to_owned();
        SimCall {
            twilio: self.clone(),
            base: vec![
                ("AccountSid".into(), self.account_sid.clone()),
                ("ApiVersion".into(), "2010-04-01".into()),
                ("CallSid".into(), call_sid.clone()),
                ("Direction".into(), "inbound".into()),
                ("From".into(), from.clone()),
                ("Caller".into(), from),
                ("To".into(), to.clone()),
                ("Called".into(), to),
                ("FromCountry".into(), "MX".into()),
                ("ToCountry".into(), "MX".into()),
            ],
            call_sid,
            status: "ringing".into(),
            document: Response::new(""),
            position: 0,
            heard: Vec::new(),
            ended: false,
            last_xml: String::new(),
            record_action: None,
            recording_callbacks: Vec::new(),
            last_request: None,
        }
    }
}

/// Whether a `<Gather>` listens to speech (`input` holds `speech`).
fn listens(gather: &crate::twiml::Gather) -> bool {
    gather
        .input
        .as_deref()
        .is_some_and(|i| i.split_whitespace().any(|x| x == "speech"))
}

/// 32 random hexadecimal digits, for SIDs.
pub fn random_hex() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}

/// What the call is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Keys, for a `<Gather>` (and words too, when it listens to speech).
    Keys {
        num_digits: Option<u32>,
        finish_on_key: String,
        speech: bool,
    },
    /// A recording, for a `<Record>`.
    Recording,
    /// The result of a transfer, for a `<Dial>` to this number.
    Transfer(String),
    /// Nothing: the call is over.
    Ended,
}

/// How a recording ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEnd {
    /// The caller pressed `#`.
    Key,
    /// The caller hung up while recording.
    Hangup,
}

/// A recording as Twilio describes it.
#[derive(Debug, Clone)]
pub struct Recording {
    pub sid: String,
    pub url: String,
    pub duration_seconds: u32,
}

/// A call in progress.
#[derive(Debug)]
pub struct SimCall {
    twilio: CallSimulator,
    call_sid: String,
    base: Vec<(String, String)>,
    status: String,
    document: Response,
    position: usize,
    heard: Vec<String>,
    ended: bool,
    last_xml: String,
    /// The action URL of the last `<Record>` reached, for callbacks sent after the call moved on.
    record_action: Option<String>,
    /// The recording status callback URLs seen, for callbacks sent later.
    recording_callbacks: Vec<String>,
    /// The last request for TwiML (its URL and form), which Twilio repeats to the fallback URL
    /// when it fails.
    last_request: Option<(String, Vec<(String, String)>)>,
}

impl SimCall {
    /// Twilio's first request of a [`CallSimulator::dialled`] call: the greeting.
    pub async fn ring(&mut self) -> anyhow::Result<()> {
        let url = format!("{}/twilio/voice", self.twilio.public_base);
        self.fetch(&url, &[]).await?;
        self.status = "in-progress".into();
        Ok(())
    }

    pub fn call_sid(&self) -> &str {
        &self.call_sid
    }

    /// Everything heard since the last input, as one string.
    pub fn heard(&self) -> String {
        self.heard.join(" ")
    }

    /// The last TwiML document received, as sent.
    pub fn last_xml(&self) -> &str {
        &self.last_xml
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The absolute URL the verb the call is stopped at will request next: the `action` of a
    /// `<Gather>`, `<Record>` or `<Dial>`; `None` when the call is over or the verb has none.
    pub fn action(&self) -> Option<&str> {
        if self.ended {
            return None;
        }
        match self.document.verbs.get(self.position)? {
            Verb::Gather(g) => g.action.as_deref(),
            Verb::Record(r) => r.action.as_deref(),
            Verb::Dial(d) => d.action.as_deref(),
            _ => None,
        }
    }

    /// The verb the call is stopped at.
    pub fn waiting(&self) -> Waiting {
        if self.ended {
            return Waiting::Ended;
        }
        match self.document.verbs.get(self.position) {
            Some(Verb::Gather(g)) => Waiting::Keys {
                num_digits: g.num_digits,
                finish_on_key: g.finish_on_key.clone().unwrap_or_else(|| "#".into()),
                speech: listens(g),
            },
            Some(Verb::Record(_)) => Waiting::Recording,
            Some(Verb::Dial(d)) => Waiting::Transfer(d.number.phone.clone()),
            _ => Waiting::Ended,
        }
    }

    fn params(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p = self.base.clone();
        p.push(("CallStatus".into(), self.status.clone()));
        p.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        p
    }

    /// Requests a TwiML document and runs it up to the next verb that waits for the caller.
    async fn fetch(&mut self, url: &str, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        let params = self.params(extra);
        self.last_request = Some((url.to_owned(), params.clone()));
        self.fetch_with(url, params).await
    }

    /// Twilio's answer to a request for TwiML that failed (no connection, an error status, an
    /// invalid document): the same form, with `ErrorCode` and `ErrorUrl`, to the number's
    /// fallback URL, `{public}/twilio/voice/fallback`; the call goes on with what it answers.
    /// An error here is the caller hearing Twilio's own "an application error has occurred".
    pub async fn fallback(&mut self, error_code: &str) -> anyhow::Result<()> {
        let (failed, mut params) = self
            .last_request
            .clone()
            .context("no request for TwiML was made yet")?;
        params.push(("ErrorCode".into(), error_code.into()));
        params.push(("ErrorUrl".into(), failed));
        let url = format!("{}/twilio/voice/fallback", self.twilio.public_base);
        self.heard.clear();
        self.fetch_with(&url, params).await?;
        if self.status == "ringing" {
            self.status = "in-progress".into();
        }
        Ok(())
    }

    async fn fetch_with(&mut self, url: &str, params: Vec<(String, String)>) -> anyhow::Result<()> {
        let (status, body) = self.twilio.post(url, &params).await?;
        if status != 200 {
            bail!("{url} answered HTTP {status}: {body}");
        }
        self.document =
            Response::parse(&body).with_context(|| format!("invalid TwiML from {url}: {body}"))?;
        self.last_xml = body;
        self.position = 0;
        self.run().await
    }

    /// Executes verbs from the current position until one waits for input or the call ends.
    async fn run(&mut self) -> anyhow::Result<()> {
        loop {
            let Some(verb) = self.document.verbs.get(self.position).cloned() else {
                // The end of a document hangs up, as with Twilio.
                self.ended = true;
                return Ok(());
            };
            match verb {
                Verb::Say(s) => self.heard.push(s.text),
                Verb::Play(p) => self.heard.push(format!("[audio {}]", p.url)),
                Verb::Pause(_) => {}
                Verb::Gather(g) => {
                    for child in g.children {
                        match child {
                            Prompt::Say(s) => self.heard.push(s.text),
                            Prompt::Play(p) => self.heard.push(format!("[audio {}]", p.url)),
                            Prompt::Pause(_) => {}
                        }
                    }
                    return Ok(());
                }
                Verb::Record(r) => {
                    self.record_action = r.action.clone();
                    if let Some(cb) = r.recording_status_callback {
                        self.recording_callbacks.push(cb);
                    }
                    return Ok(());
                }
                Verb::Dial(_) => return Ok(()),
                Verb::Redirect(r) => return Box::pin(self.fetch(&r.url, &[])).await,
                Verb::Hangup(_) | Verb::Reject(_) | Verb::Message(_) => {
                    self.ended = true;
                    return Ok(());
                }
            }
            self.position += 1;
        }
    }

    fn current_gather(&self) -> anyhow::Result<crate::twiml::Gather> {
        match self.document.verbs.get(self.position) {
            Some(Verb::Gather(g)) if !self.ended => Ok(g.clone()),
            other => bail!(
                "the call is not waiting for keys (at {other:?}); heard: {}",
                self.heard()
            ),
        }
    }

    /// Presses keys at the current `<Gather>`, as Twilio takes them: the finish key (`#`) ends
    /// the entry only after at least one other key and is not sent; a finish key pressed before
    /// any other key ends nothing (Twilio's docs: finishOnKey cannot stop a `<Gather>` without
    /// digits before it), so a lone `#` is silence: the `<Gather>` times out and the call falls
    /// through to the next verb. Keys beyond `numDigits` are cut; keys with no finish key after
    /// them are sent as Twilio sends them at the time-out.
    pub async fn press(&mut self, keys: &str) -> anyhow::Result<()> {
        let gather = self.current_gather()?;
        let finish = gather.finish_on_key.clone().unwrap_or_else(|| "#".into());
        let mut digits: String = match finish.chars().next() {
            Some(f) => keys
                .trim_start_matches(f)
                .split(f)
                .next()
                .unwrap_or_default()
                .to_owned(),
            None => keys.to_owned(),
        };
        if let Some(n) = gather.num_digits {
            digits = digits.chars().take(n as usize).collect();
        }
        self.heard.clear();
        if digits.is_empty() {
            // Twilio treats an empty entry like silence.
            return self.fall_through().await;
        }
        let action = gather.action.context("<Gather> without action")?;
        self.fetch(&action, &[("Digits", &digits), ("FinishedOnKey", "")])
            .await
    }

    /// Says `words` at the current `<Gather>`, which Twilio's recogniser transcribed with
    /// `confidence` (0 to 1): sent as `SpeechResult` and `Confidence`, as Twilio does. A
    /// `<Gather>` that does not listen to speech cannot hear them: an error, as a test of the
    /// service's TwiML.
    pub async fn speak(&mut self, words: &str, confidence: f64) -> anyhow::Result<()> {
        let gather = self.current_gather()?;
        if !listens(&gather) {
            bail!(
                "the <Gather> does not listen to speech (input={:?}); heard: {}",
                gather.input,
                self.heard()
            );
        }
        let action = gather.action.context("<Gather> without action")?;
        self.heard.clear();
        let confidence = format!("{confidence:.8}");
        self.fetch(
            &action,
            &[("SpeechResult", words), ("Confidence", confidence.as_str())],
        )
        .await
    }

    /// Says nothing at the current `<Gather>`: Twilio moves on to the next verb.
    pub async fn silence(&mut self) -> anyhow::Result<()> {
        self.current_gather()?;
        self.heard.clear();
        self.fall_through().await
    }

    async fn fall_through(&mut self) -> anyhow::Result<()> {
        self.position += 1;
        self.run().await
    }

    fn current_record(&self) -> anyhow::Result<crate::twiml::Record> {
        match self.document.verbs.get(self.position) {
            Some(Verb::Record(r)) if !self.ended => Ok(r.clone()),
            other => bail!(
                "the call is not recording (at {other:?}); heard: {}",
                self.heard()
            ),
        }
    }

    /// A new recording's description, with a URL under the recordings base.
    pub fn new_recording(&self, duration_seconds: u32) -> Recording {
        let sid = format!("RE{}", random_hex());
        Recording {
            url: format!(
                "{}/2010-04-01/Accounts/{}/Recordings/{sid}",
                self.twilio.recordings_base, self.twilio.account_sid
            ),
            sid,
            duration_seconds,
        }
    }

    /// Records at the current `<Record>` the way Twilio usually reports it: the action request,
    /// then the `completed` status callback. Returns the recording.
    pub async fn record(
        &mut self,
        duration_seconds: u32,
        end: RecordingEnd,
    ) -> anyhow::Result<Recording> {
        let recording = self.new_recording(duration_seconds);
        self.send_record_action(&recording, end).await?;
        self.send_recording_status(&recording, "completed").await?;
        Ok(recording)
    }

    /// The `<Record>` action request alone.
    pub async fn send_record_action(
        &mut self,
        recording: &Recording,
        end: RecordingEnd,
    ) -> anyhow::Result<()> {
        let record = self.current_record()?;
        let action = record.action.context("<Record> without action")?;
        let duration = recording.duration_seconds.to_string();
        let digits = match end {
            RecordingEnd::Key => "#",
            RecordingEnd::Hangup => "hangup",
        };
        self.heard.clear();
        let extra = [
            ("RecordingUrl", recording.url.as_str()),
            ("RecordingSid", recording.sid.as_str()),
            ("RecordingDuration", duration.as_str()),
            ("Digits", digits),
        ];
        if end == RecordingEnd::Hangup {
            // Twilio sends the action but plays nothing of its answer: the caller is gone.
            self.status = "completed".into();
            let (status, body) = self.twilio.post(&action, &self.params(&extra)).await?;
            if status != 200 {
                bail!("{action} answered HTTP {status}: {body}");
            }
            Response::parse(&body).with_context(|| format!("invalid TwiML from {action}"))?;
            self.last_xml = body;
            self.ended = true;
            return Ok(());
        }
        self.fetch(&action, &extra).await
    }

    /// The recording status callback alone (`completed`, `absent`, `failed`), to the callback
    /// URL of the last `<Record>` reached. Can be sent before or after the action, and repeated.
    pub async fn send_recording_status(
        &self,
        recording: &Recording,
        status: &str,
    ) -> anyhow::Result<()> {
        let url = self
            .recording_callbacks
            .last()
            .context("no <Record> with a recordingStatusCallback was reached")?;
        let duration = recording.duration_seconds.to_string();
        let mut params: Vec<(String, String)> = [
            ("AccountSid", self.twilio.account_sid.as_str()),
            ("CallSid", self.call_sid.as_str()),
            ("RecordingSid", recording.sid.as_str()),
            ("RecordingUrl", recording.url.as_str()),
            ("RecordingStatus", status),
            ("RecordingDuration", duration.as_str()),
            ("RecordingChannels", "1"),
            ("RecordingSource", "RecordVerb"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        if status == "absent" {
            params.push(("ErrorCode".into(), "16102".into()));
        }
        let (code, body) = self.twilio.post(url, &params).await?;
        if code != 200 && code != 204 {
            bail!("{url} answered HTTP {code}: {body}");
        }
        Ok(())
    }

    /// The caller says nothing after the beep: Twilio skips the action and moves on.
    pub async fn record_nothing(&mut self) -> anyhow::Result<()> {
        self.current_record()?;
        self.heard.clear();
        self.fall_through().await
    }

    fn current_dial(&self) -> anyhow::Result<crate::twiml::Dial> {
        match self.document.verbs.get(self.position) {
            Some(Verb::Dial(d)) if !self.ended => Ok(d.clone()),
            other => bail!("the call is not transferring (at {other:?})"),
        }
    }

    /// The transfer at the current `<Dial>` ends with this `DialCallStatus` without anyone
    /// answering (`no-answer`, `busy`, `failed`), or answered and over (`completed`) with no
    /// screening run: see [`SimCall::answer_transfer`] for the answer as Twilio plays it.
    pub async fn transfer_result(&mut self, dial_status: &str) -> anyhow::Result<()> {
        let dial = self.current_dial()?;
        let action = dial.action.context("<Dial> without action")?;
        self.heard.clear();
        self.fetch(&action, &[("DialCallStatus", dial_status)])
            .await
    }

    /// The transfer at the current `<Dial>` is answered, as Twilio runs it: the `<Number url>`
    /// TwiML plays to whoever answered (a new call leg, with this call as `ParentCallSid`);
    /// `keys` are what they press at its `<Gather>` (`None`: nothing, as a voicemail box). The
    /// two are connected if that TwiML ends without `<Hangup>`. Either way the `<Dial>` ends
    /// `completed`, which is all the caller's side is told. Returns what the answerer heard.
    pub async fn answer_transfer(&mut self, keys: Option<&str>) -> anyhow::Result<String> {
        let dial = self.current_dial()?;
        let action = dial.action.clone().context("<Dial> without action")?;
        let leg_sid = format!("CA{}", random_hex());
        let our_number = self
            .base
            .iter()
            .find(|(k, _)| k == "To")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let leg: Vec<(String, String)> = [
            ("AccountSid", self.twilio.account_sid.as_str()),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", leg_sid.as_str()),
            ("ParentCallSid", self.call_sid.as_str()),
            ("Direction", "outbound-dial"),
            ("From", our_number.as_str()),
            ("To", dial.number.phone.as_str()),
            ("CallStatus", "in-progress"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let mut heard = Vec::new();
        let mut connected = true;
        let mut next = dial.number.url.clone();
        let mut extra: Vec<(String, String)> = Vec::new();
        let mut pressed = false;
        'leg: while let Some(url) = next.take() {
            let mut params = leg.clone();
            params.append(&mut extra);
            let (status, body) = self.twilio.post(&url, &params).await?;
            if status != 200 {
                bail!("{url} answered HTTP {status}: {body}");
            }
            let doc = Response::parse(&body)
                .with_context(|| format!("invalid TwiML from {url}: {body}"))?;
            for verb in doc.verbs {
                match verb {
                    Verb::Say(s) => heard.push(s.text),
                    Verb::Play(p) => heard.push(format!("[audio {}]", p.url)),
                    Verb::Gather(g) => {
                        for child in g.children {
                            if let Prompt::Say(s) = child {
                                heard.push(s.text);
                            }
                        }
                        if let (Some(k), false) = (keys.filter(|k| !k.is_empty()), pressed) {
                            pressed = true;
                            next = g.action.clone();
                            extra = vec![("Digits".into(), k.to_owned())];
                            continue 'leg;
                        }
                    }
                    Verb::Redirect(r) => {
                        next = Some(r.url);
                        continue 'leg;
                    }
                    Verb::Hangup(_) | Verb::Reject(_) => {
                        connected = false;
                        break 'leg;
                    }
                    Verb::Dial(_) => bail!("a <Dial> in the screening TwiML (Twilio refuses it)"),
                    Verb::Pause(_) | Verb::Record(_) | Verb::Message(_) => {}
                }
            }
        }
        let duration = if connected { "120" } else { "8" };
        self.heard.clear();
        self.fetch(
            &action,
            &[
                ("DialCallStatus", "completed"),
                ("DialCallSid", &leg_sid),
                ("DialCallDuration", duration),
            ],
        )
        .await?;
        Ok(heard.join(" "))
    }

    /// The caller hangs up (or the call has ended): Twilio sends the call status callback.
    pub async fn hang_up(&mut self, duration_seconds: u32) -> anyhow::Result<()> {
        self.ended = true;
        self.status = "completed".into();
        let duration = duration_seconds.to_string();
        let url = format!("{}/twilio/voice/status", self.twilio.public_base);
        let params = self.params(&[
            ("CallDuration", &duration),
            ("CallbackSource", "call-progress-events"),
        ]);
        let (code, body) = self.twilio.post(&url, &params).await?;
        if code != 200 && code != 204 {
            bail!("{url} answered HTTP {code}: {body}");
        }
        Ok(())
    }
}
