//! The phone line: Twilio's voice webhooks, answered with TwiML in Spanish.
//!
//! A call walks these steps (each one a URL under `/twilio/voice`, each one logged):
//!
//! ```text
//! /twilio/voice ──▶ greeting, emergency numbers, privacy notice, [latest open case], main menu
//!   /main          1 ─▶ category menu   2 ─▶ folio lookup   0 ─▶ transfer (office hours only)
//!   /category      digit ─▶ [urgency question] ─▶ recording     9 repeat, * back
//!   /urgency       1 urgent, 2 not urgent ─▶ recording
//!   /recorded      the <Record> action: the case is made, the folio said twice
//!   /recording-status   Twilio's recording callback: makes the case too, if it comes first
//!   /folio         1 hears the folio again
//!   /sms-number, /sms-confirm   a caller without caller ID types a mobile number for the SMS
//!   /lookup, /lookup-next       status by folio
//!   /screen, /screen-answer     heard by staff who answer a transfer: 1 takes the call
//!   /transfer-done              the <Dial> ended: not taken (nobody, a voicemail) ─▶ leave a report
//!   /status        the call ended: duration, final status, abandoned or not
//!   /fallback      Twilio could not reach the primary handler
//! ```
//!
//! The call's state between steps travels in the query string of the URLs we hand Twilio
//! (`t` failures so far, `c` category, `u` urgency): Twilio signs those URLs, so the state cannot
//! be forged, and any instance behind a balancer can answer any step. The database holds the log
//! and the cases, never a session.
//!
//! Every answer is valid TwiML, whatever happens: an unknown key or silence repeats the menu
//! (three strikes and a polite goodbye); a store error becomes an apology that still lets the
//! caller leave the report; a panic, a time-out or an unknown URL under `/twilio/voice` is turned
//! into that same apology by [`safety_net`].

mod calls;
pub mod listen;
mod lookup;
mod menu;
mod report;
pub mod speech;
mod step;

pub use speech::digits as speech_digits;
pub use step::{Moment, Step};

use crate::domain::{CallSid, CallerId, Urgency};
use crate::journal::Entry;
use crate::prompts::{Key, RecordedLanguage};
use crate::state::AppState;
use crate::store::{CallStep, CaseStatusView, StepKind, StoreError};
use crate::twilio::WebhookForm;
use crate::twiml::{self, Response, Twiml};
use axum::Router;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use std::sync::Arc;

/// How many wrong keys or silences a menu tolerates before saying goodbye.
pub const MAX_FAILURES: u32 = 3;

/// How many failed folio lookups a call may make before lookups end (guessing guard).
pub const MAX_FAILED_LOOKUPS: i64 = 3;

/// The phone line's routes. The caller adds the signature check and the safety net.
pub fn router() -> Router<AppState> {
    Step::ALL
        .into_iter()
        .fold(Router::new(), |router, step| {
            router.route(step.path(), handler(step))
        })
        // Any other URL under /twilio/voice is a 404 that the safety net turns into the
        // apology: a caller sent somewhere unknown still hears how to leave the report.
        .route(
            "/twilio/voice/{*unknown}",
            axum::routing::any(|| async { StatusCode::NOT_FOUND }),
        )
}

/// The handler of each step.
fn handler(step: Step) -> MethodRouter<AppState> {
    match step {
        Step::Incoming => post(calls::incoming),
        Step::Main => post(menu::main),
        Step::Category => post(report::category),
        Step::Urgency => post(report::urgency),
        Step::Recorded => post(report::recorded),
        Step::RecordingStatus => post(report::recording_status),
        Step::Folio => post(report::folio),
        Step::SmsNumber => post(report::sms_number),
        Step::SmsConfirm => post(report::sms_confirm),
        Step::Lookup => post(lookup::lookup),
        Step::LookupNext => post(lookup::lookup_next),
        Step::Screen => post(menu::screen),
        Step::ScreenAnswer => post(menu::screen_answer),
        Step::TransferDone => post(menu::transfer_done),
        Step::Status => post(calls::status),
        Step::Fallback => post(calls::fallback),
    }
}

/// Public, unsigned routes: the recorded prompts Twilio fetches for `<Play>`.
pub fn audio_router() -> Router<AppState> {
    Router::new()
        .route("/audio/prompts/{file}", get(prompt_audio))
        .route("/audio/prompts/{language}/{*clip}", get(language_audio))
}

/// A recording of a recorded language (`/audio/prompts/nah/digits/7.wav`): only the files its
/// catalogue loaded at start-up, never a path on disk.
async fn language_audio(
    State(app): State<AppState>,
    Path((language, clip)): Path<(String, String)>,
) -> axum::response::Response {
    let recording = clip
        .strip_suffix(".wav")
        .and_then(|name| app.prompts.language(&language)?.clip(name));
    match recording {
        Some(bytes) => wav(bytes),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn wav(bytes: Arc<[u8]>) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes.to_vec(),
    )
        .into_response()
}

async fn prompt_audio(
    State(app): State<AppState>,
    Path(file): Path<String>,
) -> axum::response::Response {
    let recording = file
        .strip_suffix(".wav")
        .and_then(|name| app.prompts.recording(name));
    match recording {
        Some(bytes) => wav(bytes),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The state a step URL carries (see the module documentation). Parsed leniently: a value that
/// does not parse is treated as absent, never as an error the caller would hear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepQuery {
    /// Failures (wrong keys, silences) so far at this step; for recordings, the attempt.
    pub tries: u32,
    /// The chosen category.
    pub category: Option<i64>,
    pub urgency: Option<Urgency>,
    /// Set on the apology path, so that a second failure ends the call instead of looping.
    pub fallback: bool,
    /// The recorded language the caller chose (its code), if not Spanish.
    pub language: Option<String>,
}

impl StepQuery {
    pub fn parse(query: Option<&str>) -> StepQuery {
        let mut q = StepQuery::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "t" => q.tries = v.parse::<u32>().unwrap_or(0).min(MAX_FAILURES),
                "c" => q.category = v.parse().ok(),
                "u" => q.urgency = Urgency::from_code(&v),
                "f" => q.fallback = v == "1",
                "l" if is_language_code(&v) => q.language = Some(v.into_owned()),
                _ => {}
            }
        }
        q
    }

    /// The query string for a step URL carrying this state.
    pub fn to_query(&self) -> String {
        let mut parts = vec![format!("t={}", self.tries)];
        if let Some(c) = self.category {
            parts.push(format!("c={c}"));
        }
        if let Some(u) = self.urgency {
            parts.push(format!("u={}", u.code()));
        }
        if self.fallback {
            parts.push("f=1".to_owned());
        }
        if let Some(l) = &self.language {
            parts.push(format!("l={l}"));
        }
        parts.join("&")
    }

    fn with_tries(&self, tries: u32) -> StepQuery {
        StepQuery {
            tries,
            ..self.clone()
        }
    }
}

/// A language code as a step URL may carry it (what a recorded language's folder is named).
fn is_language_code(code: &str) -> bool {
    (2..=8).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// One webhook request of a call: who, which call, what they pressed, where they are.
#[derive(Debug, Clone)]
pub struct VoiceCall {
    pub sid: CallSid,
    pub caller: CallerId,
    pub to: Option<String>,
    pub form: WebhookForm,
    pub query: StepQuery,
}

impl VoiceCall {
    /// The keys pressed, if any. Twilio sends `Digits` only when something was pressed.
    pub fn digits(&self) -> Option<&str> {
        self.form.get("Digits")
    }

    /// Logs a step of the caller's way through the menu.
    pub async fn log(&self, app: &AppState, step: &str, detail: Option<&str>) {
        self.log_kind(app, step, detail, StepKind::Caller).await
    }

    /// Logs a step of the call. Best effort: the line always goes to the service's log, and a
    /// call is never interrupted because its step could not be written to the database.
    pub async fn log_kind(&self, app: &AppState, step: &str, detail: Option<&str>, kind: StepKind) {
        self.write_step(app, step, detail, kind, false).await;
    }

    /// Logs the call's first step, as [`log`](Self::log) does, and returns the caller's
    /// latest open case, read with it (`None` also when it could not be read: the greeting
    /// mentions it as a courtesy).
    pub async fn log_first(
        &self,
        app: &AppState,
        step: &str,
        detail: Option<&str>,
    ) -> Option<CaseStatusView> {
        self.write_step(app, step, detail, StepKind::Caller, true)
            .await
    }

    /// This webhook's step as the store takes it, to be logged in the transaction of the
    /// change it made (see `store::WithCase`). The caller traces it once written.
    pub fn step<'a>(
        &'a self,
        app: &AppState,
        step: &'a str,
        detail: Option<&'a str>,
        kind: StepKind,
    ) -> CallStep<'a> {
        CallStep {
            call_sid: &self.sid,
            caller: &self.caller,
            to: self.to.as_deref(),
            step,
            detail,
            kind,
            at: app.clock.now(),
        }
    }

    async fn write_step(
        &self,
        app: &AppState,
        step: &str,
        detail: Option<&str>,
        kind: StepKind,
        with_open_case: bool,
    ) -> Option<CaseStatusView> {
        tracing::info!(step, detail = detail.unwrap_or(""), "call step");
        let call_step = self.step(app, step, detail, kind);
        let written = if with_open_case {
            app.store.record_first_step(&call_step).await
        } else {
            app.store.record_call_step(&call_step).await.map(|()| None)
        };
        let e = match written {
            Ok(open_case) => return open_case,
            Err(e) => e,
        };
        if !app.store.saw(&e) {
            tracing::warn!(error = %e, step, "could not write the call step to the database");
            return None;
        }
        // The database is down: the step waits in the journal (the caller's number and
        // choices are what staff need to call back, whatever the call comes to).
        if let Err(io) = app.journal.append(&Entry::step(&call_step)).await {
            tracing::error!(error = %io, step, "could not write the call step to the journal either");
        }
        None
    }
}

impl FromRequestParts<AppState> for VoiceCall {
    type Rejection = Twiml;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let form = parts
            .extensions
            .get::<WebhookForm>()
            .cloned()
            .unwrap_or_default();
        let Some(sid) = form.get("CallSid").and_then(CallSid::parse) else {
            tracing::warn!(
                path = parts.uri.path(),
                "voice webhook without a valid CallSid; nothing stored"
            );
            let mut s = Speaker::new(app);
            s.say(Key::InvalidRequest, &[]).hangup();
            return Err(s.finish());
        };
        Ok(VoiceCall {
            caller: CallerId::parse(form.get("From").or(form.get("Caller"))),
            to: form.get("To").map(str::to_owned),
            query: StepQuery::parse(parts.uri.query()),
            sid,
            form,
        })
    }
}

/// Builds one TwiML answer from catalogue prompts, in the line's voice, or in a language spoken
/// from recordings when the caller chose one.
pub struct Speaker<'a> {
    app: &'a AppState,
    r: Response,
    language: Option<Arc<RecordedLanguage>>,
}

impl<'a> Speaker<'a> {
    /// A speaker of the line's Spanish.
    pub fn new(app: &'a AppState) -> Speaker<'a> {
        Speaker {
            r: Response::new(&app.config.phone.voice),
            app,
            language: None,
        }
    }

    /// A speaker of the language the call's step URL carries (Spanish if none, or if that
    /// language is no longer installed).
    pub fn for_query(app: &'a AppState, query: &StepQuery) -> Speaker<'a> {
        let mut s = Speaker::new(app);
        s.language = query
            .language
            .as_deref()
            .and_then(|code| app.prompts.language(code))
            .cloned();
        s
    }

    /// A speaker of `language`.
    pub fn in_language(app: &'a AppState, language: Arc<RecordedLanguage>) -> Speaker<'a> {
        let mut s = Speaker::new(app);
        s.language = Some(language);
        s
    }

    /// The recorded language spoken, if not Spanish.
    pub fn language(&self) -> Option<&Arc<RecordedLanguage>> {
        self.language.as_ref()
    }

    /// A catalogue prompt: in Spanish, played if recorded and said otherwise; in a recorded
    /// language, its recordings and the pieces of its variable parts. Besides the values the
    /// Spanish text shows, `args` may carry what the pieces are chosen by: `category_code`,
    /// `status_key` (the status's prompt name) and `date_iso` (`2026-12-07`).
    pub fn prompt(&self, key: Key, args: &[(&str, &str)]) -> Vec<twiml::Prompt> {
        let audio_base = self.app.config.public_url("/audio/prompts");
        match &self.language {
            Some(language) => language.prompt(key, args, &audio_base),
            None => vec![self.app.prompts.prompt(&self.r, key, args, &audio_base)],
        }
    }

    pub fn say(&mut self, key: Key, args: &[(&str, &str)]) -> &mut Self {
        let prompts = self.prompt(key, args);
        self.push_prompts(prompts)
    }

    /// Prompts already made, as verbs of their own (outside any `<Gather>`).
    pub fn push_prompts(&mut self, prompts: Vec<twiml::Prompt>) -> &mut Self {
        for prompt in prompts {
            let verb = match prompt {
                twiml::Prompt::Say(s) => twiml::Verb::Say(s),
                twiml::Prompt::Play(p) => twiml::Verb::Play(p),
                twiml::Prompt::Pause(p) => twiml::Verb::Pause(p),
            };
            self.r.verbs.push(verb);
        }
        self
    }

    pub fn pause(&mut self, seconds: u32) -> &mut Self {
        self.r.pause(seconds);
        self
    }

    /// Whether menus listen to speech as well as keys (recognised in Spanish only).
    pub fn listens(&self) -> bool {
        self.app.config.phone.speech && self.language.is_none()
    }

    /// A menu's `<Gather>`, listening for `vocabulary` too when speech is on.
    pub fn choices(&self, gather: twiml::Gather, vocabulary: &listen::Vocabulary) -> twiml::Gather {
        if self.listens() {
            listen::listening(gather, vocabulary)
        } else {
            gather
        }
    }

    /// A keypad menu: the prompts inside a `<Gather>` that posts to `step`, followed by a
    /// `<Redirect>` to the same step without digits, which is how silence reaches the handler.
    pub fn menu(
        &mut self,
        step: Step,
        query: &StepQuery,
        gather: twiml::Gather,
        prompts: Vec<twiml::Prompt>,
    ) -> &mut Self {
        let url = self.step_url(step, query);
        let mut gather = twiml::Gather {
            action: Some(url.clone()),
            ..gather
        };
        gather.children = prompts;
        self.r.gather(gather);
        self.r.redirect(&url);
        self
    }

    /// The absolute URL of a step with its state, and the language spoken.
    pub fn step_url(&self, step: Step, query: &StepQuery) -> String {
        let query = StepQuery {
            language: self.language.as_ref().map(|l| l.code.clone()),
            ..query.clone()
        };
        self.app
            .config
            .public_url(&format!("{}?{}", step.path(), query.to_query()))
    }

    pub fn raw(&mut self) -> &mut Response {
        &mut self.r
    }

    pub fn hangup(&mut self) -> &mut Self {
        self.r.hangup();
        self
    }

    pub fn finish(self) -> Twiml {
        Twiml(self.r.to_xml())
    }

    pub fn app(&self) -> &'a AppState {
        self.app
    }
}

/// Runs a step and turns a store failure into the apology fitting `moment`.
pub async fn answer(
    app: &AppState,
    call: &VoiceCall,
    moment: Moment,
    step: impl Future<Output = Result<Twiml, StoreError>>,
) -> Twiml {
    match step.await {
        Ok(twiml) => twiml,
        Err(e) => {
            app.store.saw(&e);
            tracing::error!(error = %e, "voice step failed; answering with the apology");
            apology(app, &call.query, moment)
        }
    }
}

/// "We had a technical problem". Before the report exists: record it anyway (category and
/// urgency kept if known), after the emergency numbers and the privacy notice if the caller has
/// not heard them yet; on the apology path already, say goodbye instead of looping. After the
/// report exists: say it is safe, and goodbye.
pub fn apology(app: &AppState, query: &StepQuery, moment: Moment) -> Twiml {
    let mut s = Speaker::for_query(app, query);
    if moment == Moment::AfterReport {
        s.say(Key::TechnicalErrorAfterReport, &[]).hangup();
        return s.finish();
    }
    if query.fallback {
        s.say(Key::TechnicalErrorFinal, &[]).hangup();
        return s.finish();
    }
    if moment == Moment::FirstContact {
        calls::push_notices(&mut s);
    }
    let q = StepQuery {
        tries: 1,
        fallback: true,
        ..query.clone()
    };
    s.say(Key::TechnicalError, &[]);
    report::push_record_verb(&mut s, &q);
    s.finish()
}

/// How many menu steps may run at once, and how long one waits for its turn before the caller
/// hears the apology instead (see [`shed_load`]).
#[derive(Clone, Debug)]
pub struct LoadShedding {
    turns: Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
    metrics: Arc<crate::metrics::Metrics>,
}

impl LoadShedding {
    pub fn new(app: &AppState) -> LoadShedding {
        let server = &app.config.server;
        LoadShedding {
            turns: Arc::new(tokio::sync::Semaphore::new(server.max_webhooks)),
            wait: server.shed_after,
            metrics: app.metrics.clone(),
        }
    }
}

/// Load shedding. When more menu steps are running than the service can answer in time (the
/// database is slow, a burst of calls), a menu step that cannot start within the wait gets a
/// 503 here, which [`safety_net`] turns into the apology that takes the report at once: the
/// caller hears something within a couple of seconds instead of silence until Twilio's 15 s
/// run out. Steps that carry a report or a callback are never shed, and do not queue here.
pub async fn shed_load(
    State(shedding): State<LoadShedding>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let sheddable = Step::from_path(request.uri().path()).is_some_and(Step::may_shed);
    if !sheddable {
        return next.run(request).await;
    }
    let turn = tokio::time::timeout(shedding.wait, shedding.turns.clone().acquire_owned()).await;
    let Ok(Ok(_turn)) = turn else {
        tracing::warn!(
            path = request.uri().path(),
            "overloaded: the caller hears the apology instead of waiting"
        );
        shedding.metrics.shed();
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    next.run(request).await
}

/// The header Twilio sends with every webhook, the same on each retry of one request.
const IDEMPOTENCY_TOKEN: &str = "I-Twilio-Idempotency-Token";

/// Longest answer kept (a TwiML document of the line is a few kilobytes).
const MAX_KEPT_ANSWER: usize = 64 * 1024;

/// For the steps that count ([`Step::counts`]): a request Twilio sends again with the same
/// `I-Twilio-Idempotency-Token` (it gave up waiting for us, or retried) gets the answer the
/// first one got, and nothing is counted again. The token is not covered by the signature, so
/// this guards against Twilio's own repeats, not against someone replaying a captured request
/// without it (who could only spend that call's own lookups).
pub async fn answer_once(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let step = Step::from_path(request.uri().path()).filter(|s| s.counts());
    let token = request
        .headers()
        .get(IDEMPOTENCY_TOKEN)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .map(str::to_owned);
    let sid = request
        .extensions()
        .get::<WebhookForm>()
        .and_then(|f| f.get("CallSid"))
        .and_then(CallSid::parse);
    let (Some(step), Some(token), Some(sid)) = (step, token, sid) else {
        return next.run(request).await;
    };
    match app.store.voice_reply(&token).await {
        Ok(Some(body)) => {
            tracing::info!(
                step = step.path(),
                "a request Twilio sent again is answered as before"
            );
            return Twiml(body).into_response();
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not look up an earlier answer; answering anew"),
    }
    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_KEPT_ANSWER).await else {
        tracing::error!("an answer too long to keep");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let kept = app
        .store
        .keep_voice_reply(&token, &sid, step.path(), &text, app.clock.now())
        .await;
    if let Err(e) = kept {
        tracing::warn!(error = %e, "could not keep the answer for a repeated request");
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Times every webhook's answer for `/metrics`, by step (`messaging` for text messages).
pub async fn time_webhook(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let step = match Step::from_path(path) {
        Some(step) => step.name(),
        None if path.starts_with("/twilio/messaging") => "messaging",
        None => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    app.metrics.webhook_answered(step, started.elapsed());
    response
}

/// Turns any answer under `/twilio/voice` that is not a success (a time-out, a panic caught
/// below, an unknown step, a rejected body) into the apology TwiML, so that the caller never
/// hears Twilio's "an application error has occurred". The signature check sits outside this
/// layer: a forged request still gets its 403. Status callbacks have no caller listening: their
/// errors go back to Twilio as they are.
pub async fn safety_net(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let path = request.uri().path().to_owned();
    let query = StepQuery::parse(request.uri().query());
    let response = next.run(request).await;
    let step = Step::from_path(&path);
    let callback = step.is_some_and(Step::is_callback);
    if response.status().is_success() || !path.starts_with("/twilio/voice") || callback {
        return response;
    }
    if step.is_some_and(Step::is_staff_leg) {
        tracing::error!(status = %response.status(), path, "screening failed; hanging up the staff leg");
        let mut s = Speaker::new(&app);
        s.hangup();
        return s.finish().into_response();
    }
    tracing::error!(status = %response.status(), path, "voice webhook failed; answering with the apology");
    apology(&app, &query, Moment::of_path(&path)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_state_round_trips_through_the_query() {
        let q = StepQuery {
            tries: 2,
            category: Some(4),
            urgency: Some(Urgency::Urgent),
            fallback: true,
            language: Some("nah".into()),
        };
        assert_eq!(q.to_query(), "t=2&c=4&u=urgent&f=1&l=nah");
        assert_eq!(StepQuery::parse(Some(&q.to_query())), q);
    }

    #[test]
    fn step_state_is_read_leniently() {
        assert_eq!(StepQuery::parse(None), StepQuery::default());
        let q = StepQuery::parse(Some("t=abc&c=zzz&u=panic&f=yes&x=1&l=../x"));
        assert_eq!(q, StepQuery::default());
        // A forged huge counter cannot skip past the last try.
        assert_eq!(StepQuery::parse(Some("t=999")).tries, MAX_FAILURES);
    }
}
