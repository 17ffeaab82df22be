//! Making a report: category, urgency, the recording, the folio, and a number for the SMS.

use super::listen::Vocabulary;
use super::menu::{self, MENU_TIMEOUT, next_try, retry_or_goodbye};
use super::{Key, Moment, Speaker, Step, StepQuery, Twiml, VoiceCall, answer, speech};
use crate::domain::recording::SILENT_SECONDS;
use crate::domain::{PhoneNumber, RecordingSid, RecordingStatus, Urgency};
use crate::journal::Entry;
use crate::state::AppState;
use crate::store::{
    CaseRecord, Category, NewPhoneCase, StepKind, StoreError, WithCase, download_key,
};
use crate::twiml::{Gather, Record};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Seconds a caller has between digits when typing a phone number.
const NUMBER_TIMEOUT: u32 = 8;

/// The category code after which the caller hears where to report the CFE's cables and posts.
const STREET_LIGHTING: &str = "alumbrado";

/// The category menu, read from the database.
pub async fn push_category_menu(s: &mut Speaker<'_>, query: &StepQuery) -> Result<(), StoreError> {
    let categories = s.app().store.phone_menu_categories().await?;
    render_category_menu(s, &categories, query, false);
    Ok(())
}

/// The categories, the first said in full ("Para alumbrado público, marque 1."), the others
/// tersely ("Seguridad pública, 2."). How to repeat and go back (9, *) is said when the menu is
/// heard again (after 9, a wrong key or silence), not the first time.
fn render_category_menu(
    s: &mut Speaker<'_>,
    categories: &[Category],
    query: &StepQuery,
    navigation: bool,
) {
    let mut prompts = Vec::new();
    for (i, c) in categories.iter().enumerate() {
        let digit = c.digit.as_deref().unwrap_or_default();
        let key = if i == 0 {
            Key::CategoryOption
        } else {
            Key::CategoryOptionShort
        };
        let name = if i == 0 {
            speech::mid_sentence(&c.name)
        } else {
            c.name.clone()
        };
        prompts.extend(s.prompt(
            key,
            &[
                ("category", &name),
                ("category_code", &c.code),
                ("digit", digit),
            ],
        ));
    }
    if navigation {
        prompts.extend(s.prompt(Key::CategoryNavigation, &[]));
    }
    let gather = s.choices(
        Gather::keypad().num_digits(1).timeout(MENU_TIMEOUT),
        &category_vocabulary(s.app(), categories),
    );
    s.menu(Step::Category, query, gather, prompts);
}

/// What the category menu understands: each category by name or phrase, repeat (9), back (*).
fn category_vocabulary(app: &AppState, categories: &[Category]) -> Vocabulary {
    Vocabulary::default()
        .categories("", categories, &app.prompts)
        .entry("9", &app.prompts, Key::SpeechRepeat)
        .entry("*", &app.prompts, Key::SpeechBack)
}

/// A category chosen: the urgency question if it asks one, else (after the CFE's number for
/// street lighting) the recording.
pub fn begin_report(s: &mut Speaker<'_>, c: &Category) {
    let q = StepQuery {
        category: Some(c.id),
        ..StepQuery::default()
    };
    if c.asks_urgency {
        push_urgency_question(s, &q);
    } else {
        if c.code == STREET_LIGHTING {
            s.say(Key::CfeAdvice, &[]);
        }
        push_record(
            s,
            &StepQuery {
                urgency: Some(Urgency::Unknown),
                ..q
            },
        );
    }
}

/// `POST /twilio/voice/category`: the caller picked a category (or 9, *, nothing).
pub async fn category(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, choose_category(&app, &call)).await
}

async fn choose_category(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let categories = app.store.phone_menu_categories().await?;
    let mut s = Speaker::for_query(app, &call.query);
    let choice = call.choice(&category_vocabulary(app, &categories));
    let chosen = choice
        .key()
        .and_then(|d| categories.iter().find(|c| c.digit.as_deref() == Some(d)));
    let detail = match (choice.key(), chosen) {
        (_, Some(c)) => {
            begin_report(&mut s, c);
            c.code.clone()
        }
        (Some("9"), None) => {
            render_category_menu(&mut s, &categories, &call.query, true);
            "repeat".to_owned()
        }
        (Some("*"), None) => {
            menu::push_main_menu(&mut s, &StepQuery::default());
            "back to main menu".to_owned()
        }
        _ => retry_or_goodbye(&mut s, call, |s, q| {
            render_category_menu(s, &categories, q, true)
        })
        .to_owned(),
    };
    call.log(
        app,
        "category_menu",
        Some(&menu::format_detail(call, &detail)),
    )
    .await;
    Ok(s.finish())
}

fn push_urgency_question(s: &mut Speaker<'_>, query: &StepQuery) {
    let prompts = s.prompt(Key::UrgencyQuestion, &[]);
    let gather = s.choices(
        Gather::keypad().num_digits(1).timeout(MENU_TIMEOUT),
        &urgency_vocabulary(s.app()),
    );
    s.menu(Step::Urgency, query, gather, prompts);
}

fn urgency_vocabulary(app: &AppState) -> Vocabulary {
    Vocabulary::default()
        .entry("1", &app.prompts, Key::SpeechUrgent)
        .entry("2", &app.prompts, Key::SpeechNotUrgent)
}

/// `POST /twilio/voice/urgency`: is there immediate risk? 1 yes, 2 no.
pub async fn urgency(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, answer_urgency(&app, &call)).await
}

async fn answer_urgency(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::for_query(app, &call.query);
    let q = &call.query;
    let record_with = |s: &mut Speaker<'_>, urgency| {
        push_record(
            s,
            &StepQuery {
                tries: 0,
                urgency: Some(urgency),
                ..q.clone()
            },
        )
    };
    let choice = call.choice(&urgency_vocabulary(app));
    let detail = match (q.category, choice.key()) {
        // Without a category (a hand-made URL) start the report again.
        (None, _) => {
            push_category_menu(&mut s, &StepQuery::default()).await?;
            "no category, back to category menu"
        }
        (Some(_), Some("1")) => {
            record_with(&mut s, Urgency::Urgent);
            "urgent"
        }
        (Some(_), Some("2")) => {
            record_with(&mut s, Urgency::NotUrgent);
            "not urgent"
        }
        (Some(_), _) => match next_try(q) {
            Some(next) => {
                let (key, detail) = menu::why_again(call);
                s.say(key, &[]);
                push_urgency_question(&mut s, &next);
                detail
            }
            // Never lose a report over this question: record it with the urgency unknown.
            None => {
                record_with(&mut s, Urgency::Unknown);
                "no answer, recording anyway"
            }
        },
    };
    call.log(app, "urgency", Some(&menu::format_detail(call, detail)))
        .await;
    Ok(s.finish())
}

/// The recording instructions and the `<Record>`, followed by a redirect for "nothing was
/// recorded" (an empty recording falls through to the next verb instead of calling `action`).
pub fn push_record(s: &mut Speaker<'_>, query: &StepQuery) {
    let max_length = speech::duration(s.app().config.phone.record_max_seconds);
    s.say(Key::RecordInstructions, &[("max_length", &max_length)]);
    push_record_verb(s, query);
}

/// The `<Record>` alone (for the apology, whose own text gives the instructions).
pub fn push_record_verb(s: &mut Speaker<'_>, query: &StepQuery) {
    let phone = &s.app().config.phone;
    let (silence, max_seconds) = (phone.record_silence_seconds, phone.record_max_seconds);
    let action = s.step_url(Step::Recorded, query);
    let callback = s.step_url(Step::RecordingStatus, query);
    s.raw()
        .record(Record {
            action: Some(action.clone()),
            method: Some("POST".to_owned()),
            timeout: Some(silence),
            finish_on_key: Some("#".to_owned()),
            max_length: Some(max_seconds),
            play_beep: Some(true),
            trim: Some("trim-silence".to_owned()),
            recording_status_callback: Some(callback),
            recording_status_callback_event: Some("completed absent".to_owned()),
            recording_status_callback_method: Some("POST".to_owned()),
        })
        .redirect(&action);
}

/// The recording's SID: `RecordingSid` if sent (the status callback documents it), otherwise the
/// last segment of `RecordingUrl` (all the `<Record>` action documents:
/// `.../Accounts/AC.../Recordings/RE...`).
fn recording_sid(call: &VoiceCall) -> Option<RecordingSid> {
    match call.form.get("RecordingSid") {
        Some(sid) => RecordingSid::parse(sid),
        None => {
            let url = url::Url::parse(call.form.get("RecordingUrl")?).ok()?;
            let last = url.path_segments()?.next_back()?;
            RecordingSid::parse(last.split('.').next().unwrap_or(last))
        }
    }
}

/// The recording Twilio describes in a webhook, if it describes one with sound in it.
struct RecordingInfo<'a> {
    sid: RecordingSid,
    url: Option<&'a str>,
    duration: Option<i64>,
}

impl<'a> RecordingInfo<'a> {
    /// `None` for no recording, an empty one, or a silent one (at most [`SILENT_SECONDS`]) while
    /// the caller was on the line. Only the action says whether the caller hung up
    /// (`Digits=hangup`); the status callback does not, so a short recording there is taken as
    /// silence: if the caller did hang up, the action makes the case.
    fn from_call(call: &'a VoiceCall) -> Option<RecordingInfo<'a>> {
        let sid = recording_sid(call)?;
        let duration = call
            .form
            .get("RecordingDuration")
            .and_then(|d| d.parse::<i64>().ok());
        // Zero means nothing was recorded; a negative value is not Twilio's: treat it as unknown.
        let duration = duration.filter(|d| *d >= 0);
        let hung_up = call.digits() == Some("hangup");
        match duration {
            Some(0) => return None,
            Some(d) if d <= SILENT_SECONDS && !hung_up => return None,
            _ => {}
        }
        Some(RecordingInfo {
            sid,
            url: call.form.get("RecordingUrl"),
            duration,
        })
    }
}

/// The case a recording calls for, as the store (or the journal) takes it.
fn new_case<'a>(
    app: &AppState,
    call: &'a VoiceCall,
    rec: &'a RecordingInfo<'a>,
) -> NewPhoneCase<'a> {
    NewPhoneCase {
        call_sid: &call.sid,
        caller: call.caller.number(),
        category_id: call.query.category,
        urgency: call.query.urgency.unwrap_or(Urgency::Unknown),
        recording_sid: &rec.sid,
        recording_url: rec.url,
        recording_duration_seconds: rec.duration,
        at: app.clock.now(),
        recovered: None,
    }
}

/// Makes the case of this recording, or finds the one already made, with what the webhook
/// writes with it (its step; the download made due).
async fn make_case(
    app: &AppState,
    new: &NewPhoneCase<'_>,
    with: WithCase<'_>,
) -> Result<(CaseRecord, bool), StoreError> {
    let (case, created) = app.store.create_phone_case_with(new, with).await?;
    if created {
        tracing::info!(folio = %case.folio, "case created from a phone report");
        // Its recording download and folio SMS were enqueued with it.
        app.wake_workers();
    }
    Ok((case, created))
}

/// The database could not take the report: it goes to the journal (on disk before Twilio hears
/// back), and the caller hears that it is kept and that the folio comes by SMS. Only if the
/// journal cannot be written either does the caller hear that the report could not be taken.
async fn keep_report(
    app: &AppState,
    call: &VoiceCall,
    new: &NewPhoneCase<'_>,
    error: StoreError,
    mut s: Speaker<'_>,
) -> Result<Twiml, StoreError> {
    app.store.saw(&error);
    tracing::error!(error = %error, "could not make the case; keeping the report in the journal");
    if let Err(io) = app.journal.append(&Entry::report(new)).await {
        tracing::error!(error = %io, "could not write the report to the journal either");
        return Err(error);
    }
    call.log(
        app,
        "recorded",
        Some("kept in the journal: the database was unavailable"),
    )
    .await;
    if call.digits() != Some("hangup") {
        let kept = if new.caller.is_some() {
            Key::ReportKept
        } else {
            Key::ReportKeptNoNumber
        };
        s.say(kept, &[]);
    }
    s.hangup();
    Ok(s.finish())
}

/// `POST /twilio/voice/recorded`: the `<Record>` ended (the action request), or nothing was
/// recorded (the redirect after it).
pub async fn recorded(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::MidCall, after_recording(&app, &call)).await
}

/// The `<Record>` action again, from the fallback URL (see `calls::fallback`).
pub async fn recorded_in_fallback(app: &AppState, call: &VoiceCall) -> Twiml {
    answer(app, call, Moment::MidCall, after_recording(app, call)).await
}

async fn after_recording(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let hung_up = call.digits() == Some("hangup");
    let mut s = Speaker::for_query(app, &call.query);
    let Some(rec) = RecordingInfo::from_call(call) else {
        let detail = if hung_up {
            s.hangup();
            "caller hung up"
        } else if call.query.tries == 0 && !call.query.fallback {
            s.say(Key::NothingRecordedRetry, &[]);
            push_record(&mut s, &call.query.with_tries(1));
            "retry"
        } else {
            s.say(Key::NothingRecordedGoodbye, &[]).hangup();
            "goodbye"
        };
        call.log(app, "nothing_recorded", Some(detail)).await;
        return Ok(s.finish());
    };
    let new = new_case(app, call, &rec);
    // The step is logged with the case, after it: its detail names the folio.
    let with = WithCase {
        step: Some(call.step(app, "recorded", None, StepKind::Caller)),
        describe: Some(Box::new(move |case, created| {
            recorded_detail(case, created, hung_up)
        })),
        hasten_download: false,
    };
    let (case, created) = match make_case(app, &new, with).await {
        Ok(made) => made,
        Err(e) => return keep_report(app, call, &new, e, s).await,
    };
    tracing::info!(
        step = "recorded",
        detail = recorded_detail(&case, created, hung_up),
        "call step"
    );
    if hung_up {
        // Twilio does not play this answer; the call is over.
        s.hangup();
    } else {
        push_folio_confirmation(&mut s, &case);
    }
    Ok(s.finish())
}

/// The detail of the `recorded` step: the folio, and how the case came to be.
fn recorded_detail(case: &CaseRecord, created: bool, hung_up: bool) -> String {
    format!(
        "folio {}{}{}",
        case.folio,
        if created {
            ""
        } else {
            " (already made by the callback)"
        },
        if hung_up { ", caller hung up" } else { "" }
    )
}

/// `POST /twilio/voice/recording-status`: Twilio's recording status callback. It may come before
/// or after the action request, or instead of it when the caller hung up; it may repeat.
pub async fn recording_status(State(app): State<AppState>, call: VoiceCall) -> Response {
    let status = call.form.get("RecordingStatus").unwrap_or("unknown");
    let detail = match (status, call.form.get("ErrorCode")) {
        (s, Some(code)) => format!("{s} (error {code})"),
        (s, None) => s.to_owned(),
    };
    let report = match (status, recording_sid(&call)) {
        ("completed", Some(_)) => RecordingInfo::from_call(&call),
        _ => None,
    };
    if report.is_none() {
        call.log_kind(&app, "recording_status", Some(&detail), StepKind::Callback)
            .await;
    }
    let result: Result<(), StoreError> = async {
        match (status, recording_sid(&call)) {
            ("completed", Some(sid)) => {
                // The file can be fetched now: do not wait for the download's next retry.
                if let Some(rec) = &report {
                    // The callback's step, the case and the download made due: one commit.
                    let with = WithCase {
                        step: Some(call.step(
                            &app,
                            "recording_status",
                            Some(&detail),
                            StepKind::Callback,
                        )),
                        describe: None,
                        hasten_download: true,
                    };
                    if let Err(e) = make_case(&app, &new_case(&app, &call, rec), with).await {
                        // Nothing of it was written: the step on its own (to the journal if
                        // the database is down), and the report to the journal below.
                        call.log_kind(&app, "recording_status", Some(&detail), StepKind::Callback)
                            .await;
                        return Err(e);
                    }
                    tracing::info!(step = "recording_status", detail, "call step");
                } else {
                    app.store
                        .hasten_job(&download_key(&sid), app.clock.now())
                        .await?;
                }
                app.wake_workers();
            }
            ("absent" | "failed", Some(sid)) => {
                let code = call.form.get("ErrorCode");
                app.store
                    .mark_recording_problem(
                        &sid,
                        RecordingStatus::Missing,
                        &format!("Twilio informó la grabación como {status}"),
                        code,
                        None,
                        app.clock.now(),
                    )
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        app.store.saw(&e);
        // What the callback would have written waits in the journal, if it is about a report
        // or a missing recording; Twilio hears it was taken.
        let entry = match (status, recording_sid(&call)) {
            ("completed", Some(_)) => RecordingInfo::from_call(&call)
                .map(|rec| Entry::report(&new_case(&app, &call, &rec))),
            ("absent" | "failed", Some(sid)) => Some(Entry::RecordingMissing {
                recording_sid: sid.as_str().to_owned(),
                note: format!("Twilio informó la grabación como {status}"),
                error_code: call.form.get("ErrorCode").map(str::to_owned),
                at: app.clock.now().to_string(),
            }),
            _ => None,
        };
        if let Some(entry) = entry {
            match app.journal.append(&entry).await {
                Ok(()) => return Twiml::empty().into_response(),
                Err(io) => {
                    tracing::error!(error = %io, "could not write the callback to the journal either")
                }
            }
        }
        // When the caller hung up, this callback may be the only notice of the report. Say
        // everything needed to recover it by hand, and answer 503 so Twilio knows it failed.
        tracing::error!(
            error = %e,
            status,
            recording_sid = call.form.get("RecordingSid").unwrap_or("-"),
            recording_url = call.form.get("RecordingUrl").unwrap_or("-"),
            category = ?call.query.category,
            urgency = ?call.query.urgency,
            "could not record the recording callback: the report may exist only at Twilio"
        );
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    Twiml::empty().into_response()
}

/// The folio, twice, digit by digit; then either the offer to hear it again (the SMS goes to the
/// caller's number) or the number entry for a caller without caller ID.
fn push_folio_confirmation(s: &mut Speaker<'_>, case: &CaseRecord) {
    let folio = speech::digits(&case.folio);
    s.say(Key::FolioCreated, &[("folio", &folio)])
        .pause(1)
        .say(Key::FolioRepeat, &[("folio", &folio)]);
    let promise = super::lookup::promise_prompt(s, case.status, case.answer_by);
    s.push_prompts(promise);
    if case.sms_number.is_some() {
        s.say(Key::FolioSms, &[]);
        push_hear_again(s);
    } else {
        push_number_entry(s, &StepQuery::default());
    }
}

fn push_hear_again(s: &mut Speaker<'_>) {
    let prompts = s.prompt(Key::FolioHearAgain, &[]);
    let gather = s.choices(
        Gather::keypad().num_digits(1).timeout(5),
        &hear_again_vocabulary(s.app()),
    );
    s.menu(Step::Folio, &StepQuery::default(), gather, prompts);
}

fn hear_again_vocabulary(app: &AppState) -> Vocabulary {
    Vocabulary::default().entry("1", &app.prompts, Key::SpeechRepeat)
}

/// `POST /twilio/voice/folio`: 1 hears the folio again; anything else ends the call.
pub async fn folio(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::AfterReport, repeat_folio(&app, &call)).await
}

async fn repeat_folio(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::for_query(app, &call.query);
    let case = app.store.case_of_call(&call.sid).await?;
    let choice = call.choice(&hear_again_vocabulary(app));
    let detail = match (choice.key(), case) {
        (Some("1"), Some(case)) => {
            s.say(Key::FolioRepeat, &[("folio", &speech::digits(&case.folio))]);
            push_hear_again(&mut s);
            "repeat"
        }
        _ => {
            s.say(Key::ReportGoodbye, &[]).hangup();
            "goodbye"
        }
    };
    call.log(app, "folio", Some(detail)).await;
    Ok(s.finish())
}

/// The key that skips the number entry: `*`, then `#` to send it at once (or nothing more: Twilio
/// sends it at the time-out). A lone `#` cannot be the skip: Twilio's finishOnKey ends an entry
/// only after another key, so `#` alone is silence, heard only when the `<Gather>` times out.
const SKIP_NUMBER: char = '*';

/// The number entry for the SMS (the prompt says how to skip it: [`SKIP_NUMBER`]).
fn push_number_entry(s: &mut Speaker<'_>, query: &StepQuery) {
    let prompts = s.prompt(Key::NumberEntry, &[]);
    s.menu(
        Step::SmsNumber,
        query,
        Gather::keypad()
            .num_digits(PhoneNumber::KEYPAD_MAX_DIGITS)
            .timeout(NUMBER_TIMEOUT)
            .finish_on_key("#"),
        prompts,
    );
}

fn push_readback(s: &mut Speaker<'_>, number: &PhoneNumber, query: &StepQuery) {
    let prompts = s.prompt(
        Key::NumberReadback,
        &[("number", &speech::digits(number.national_digits()))],
    );
    s.menu(
        Step::SmsConfirm,
        query,
        Gather::keypad().num_digits(1).timeout(MENU_TIMEOUT),
        prompts,
    );
}

/// `POST /twilio/voice/sms-number`: a caller without caller ID typed a number (or skipped).
pub async fn sms_number(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(&app, &call, Moment::AfterReport, take_number(&app, &call)).await
}

async fn take_number(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::for_query(app, &call.query);
    let typed = call
        .digits()
        .filter(|d| !d.chars().all(|c| c == SKIP_NUMBER));
    let detail = match typed.map(PhoneNumber::from_keypad) {
        None => {
            s.say(Key::ReportGoodbye, &[]).hangup();
            "skipped".to_owned()
        }
        Some(Ok(number)) => {
            app.store
                .set_pending_sms_number(&call.sid, Some(number.as_str()))
                .await?;
            push_readback(&mut s, &number, &StepQuery::default());
            format!("typed a number ending in {}", number.last_four())
        }
        Some(Err(_)) => match next_try(&call.query) {
            Some(next) => {
                s.say(Key::NumberInvalid, &[]);
                push_number_entry(&mut s, &next);
                "invalid number".to_owned()
            }
            None => {
                s.say(Key::ReportGoodbye, &[]).hangup();
                "invalid number, goodbye".to_owned()
            }
        },
    };
    call.log(app, "sms_number", Some(&detail)).await;
    Ok(s.finish())
}

/// `POST /twilio/voice/sms-confirm`: 1 keeps the number read back, 2 types it again.
pub async fn sms_confirm(State(app): State<AppState>, call: VoiceCall) -> Twiml {
    answer(
        &app,
        &call,
        Moment::AfterReport,
        confirm_number(&app, &call),
    )
    .await
}

async fn confirm_number(app: &AppState, call: &VoiceCall) -> Result<Twiml, StoreError> {
    let mut s = Speaker::for_query(app, &call.query);
    let pending = app
        .store
        .call(&call.sid)
        .await?
        .and_then(|c| c.pending_sms_number)
        .and_then(|n| PhoneNumber::parse(&n).ok());
    let case = app.store.case_of_call(&call.sid).await?;
    let detail = match (call.digits(), pending, case) {
        (_, None, _) | (_, _, None) => {
            s.say(Key::ReportGoodbye, &[]).hangup();
            "nothing to confirm"
        }
        (Some("1"), Some(number), Some(case)) => {
            app.store
                .set_case_sms_number(case.id, &number, app.clock.now())
                .await?;
            app.wake_workers();
            app.store.set_pending_sms_number(&call.sid, None).await?;
            s.say(
                Key::NumberConfirmed,
                &[("last_four", &speech::digits(number.last_four()))],
            )
            .say(Key::ReportGoodbye, &[])
            .hangup();
            "confirmed"
        }
        (Some("2"), Some(_), Some(_)) => {
            app.store.set_pending_sms_number(&call.sid, None).await?;
            push_number_entry(&mut s, &StepQuery::default());
            "type again"
        }
        (digits, Some(number), Some(_)) => match next_try(&call.query) {
            Some(next) => {
                s.say(
                    if digits.is_none() {
                        Key::NoInput
                    } else {
                        Key::InvalidOption
                    },
                    &[],
                );
                push_readback(&mut s, &number, &next);
                if digits.is_none() {
                    "silence"
                } else {
                    "invalid"
                }
            }
            None => {
                s.say(Key::ReportGoodbye, &[]).hangup();
                "not confirmed, goodbye"
            }
        },
    };
    call.log(app, "sms_confirm", Some(&menu::format_detail(call, detail)))
        .await;
    Ok(s.finish())
}
