//! Text messages: the folio and status SMS sent from the outbox, exactly once and in one GSM-7
//! segment; Twilio's failures (retried, recorded or raised); demo mode; opt-outs; incoming
//! messages asking for a folio's status; and Twilio's delivery reports.

use crate::helpers::{
    CALLER, Db, OFFICE, Options, STREET_LIGHTING, TestApp, WATER, eventually, office_hours_now,
};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CaseStatus, ClosureReason, Folio, Timestamp};
use atiende::domain::{Channel, Direction, JobState, MessageStatus, MessageTemplate};
use atiende::messages::gsm7;
use atiende::messages::inbound::MAX_REPLIES_PER_NUMBER_HOUR;
use atiende::prompts::Key;
use atiende::sim::fake_api::{SentSms, SmsReply};
use atiende::sim::{Recording, RecordingEnd, SimCall, random_hex};
use atiende::store::{CaseRecord, Job, MessageRecord, StatusChange};
use chrono::TimeZone;
use chrono_tz::America::Mexico_City;
use std::time::Duration;

on_both_databases!(
    the_folio_sms_is_sent_once_with_twilios_fields,
    duplicate_and_out_of_order_callbacks_send_one_folio_sms,
    withheld_callers_get_the_folio_only_at_the_number_they_confirm,
    rate_limits_server_errors_and_time_outs_are_retried_until_sent,
    a_message_twilio_took_before_its_answer_was_lost_is_not_sent_again,
    permanent_errors_are_recorded_and_never_retried,
    bad_credentials_raise_an_alert_and_wait_for_a_person,
    demo_mode_keeps_messages_in_the_outbox,
    status_changes_send_one_sms_each_when_the_citizen_cares,
    baja_and_stop_stop_our_messages_until_alta_or_start,
    incoming_messages_get_the_status_of_a_folio_or_help,
    delivery_reports_are_recorded_and_forged_ones_refused,
    a_late_report_does_not_undo_delivered,
    a_messaging_service_sends_instead_of_the_office_number,
    twilios_opt_out_and_help_words_are_understood,
    error_21610_marks_the_number_as_opted_out,
    status_sms_wait_for_nine_at_night_but_the_folio_goes_at_once,
    automatic_replies_are_capped_and_never_go_to_short_codes_or_ourselves,
    a_message_sent_again_is_answered_the_same_and_acted_on_once,
);

/// An incoming message, signed; the TwiML answer.
async fn message_in(app: &TestApp, from: &str, body: &str) -> atiende::twiml::Response {
    let sid = format!("SM{}", random_hex());
    let (status, xml) = app
        .post_signed(
            "/twilio/messaging",
            &[
                ("MessageSid", &sid),
                ("From", from),
                ("To", OFFICE),
                ("Body", body),
                ("NumMedia", "0"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    atiende::twiml::Response::parse(&xml).unwrap()
}

async fn automatic_replies_are_capped_and_never_go_to_short_codes_or_ourselves(db: Db) {
    let app = app_or_skip!(db);

    // A short code, an alphanumeric sender, our own number: read, never answered.
    for from in ["89000", "TELCEL", OFFICE] {
        let r = message_in(&app, from, "hola").await;
        assert!(r.verbs.is_empty(), "{from}: {r:?}");
    }

    // A citizen (or an automaton) writing again and again: answered up to the cap, then not.
    let mut answered = 0;
    for n in 0..(MAX_REPLIES_PER_NUMBER_HOUR + 3) {
        let r = message_in(&app, CALLER, &format!("hola {n}")).await;
        answered += r.verbs.len();
    }
    assert_eq!(answered as i64, MAX_REPLIES_PER_NUMBER_HOUR);

    // An opt-out past the cap is still honoured.
    message_in(&app, CALLER, "BAJA").await;
    assert!(app.state.store.is_opted_out(CALLER).await.unwrap());
    app.stop().await;
}

/// A Messaging Service SID, as `TWILIO_MESSAGING_SERVICE_SID` holds it.
const MESSAGING_SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

/// The department of "agua potable" (menu digit 3), as the catalogue spells it.
const WATER_DEPARTMENT: &str = "Dirección de Agua Potable";
/// A summary with letters GSM-7 lacks, longer than a message can carry.
const SUMMARY: &str = "Se reparó la fuga de agua en la calle Álvaro Obregón esquina con Niños Héroes; se cambió la tubería de toda la cuadra, se repuso el pavimento y se revisó la presión en las tomas.";
/// Its start, folded to GSM-7.
const SUMMARY_START: &str =
    "Se reparo la fuga de agua en la calle Alvaro Obregon esquina con Niños Héroes";

/// A whole report from `from` about water (its department is Dirección de Agua Potable): the
/// menu, the recording (action, then the `completed` callback), the hang-up.
async fn report(app: &TestApp, from: &str) -> CaseRecord {
    app.report_and_hang_up(Some(from), WATER).await
}

/// A withheld caller who has just recorded a report and waits at the number entry.
async fn withheld_report(app: &TestApp) -> SimCall {
    let call = app.report(None, STREET_LIGHTING).await;
    app.assert_at_number_entry(&call);
    call
}

/// The `<Record>` action request sent again, as Twilio may repeat it.
async fn repeat_record_action(app: &TestApp, call: &SimCall, action: &str, recording: &Recording) {
    let pressed = [("CallStatus", "in-progress"), ("Digits", "#")];
    let (status, body) = app
        .post_about_recording(call, action, recording, &pressed)
        .await;
    assert_eq!(status, 200, "repeated action: {body}");
}

/// The key of the job that sends a case's folio SMS.
fn folio_job(case: &CaseRecord) -> String {
    format!("sms-folio:{}", case.id)
}

/// The folio SMS job of a case, once done.
async fn folio_job_done(app: &TestApp, case: &CaseRecord) -> Job {
    app.job_done(&folio_job(case)).await
}

/// The case's messages from the outbox (not the replies to incoming messages), oldest first.
async fn outbox(app: &TestApp, case_id: i64) -> Vec<MessageRecord> {
    app.state
        .store
        .messages(Some(case_id))
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == Direction::Outbound && m.status != MessageStatus::Replied)
        .collect()
}

/// Waits until every message of the case's outbox has left "pending", and returns them.
async fn outbox_settled(app: &TestApp, case_id: i64) -> Vec<MessageRecord> {
    eventually("every message of the outbox has an outcome", || async {
        outbox(app, case_id)
            .await
            .iter()
            .all(|m| m.status != MessageStatus::Pending)
    })
    .await;
    outbox(app, case_id).await
}

/// The requests the fake received for this folio.
fn requests_for(app: &TestApp, folio: &str) -> Vec<SentSms> {
    app.api
        .sms()
        .into_iter()
        .filter(|s| s.get("Body").is_some_and(|b| b.contains(folio)))
        .collect()
}

/// Waits until the fake has received `n` requests in all.
async fn fake_has(app: &TestApp, n: usize) -> Vec<SentSms> {
    eventually(&format!("the fake received {n} SMS requests"), || async {
        app.api.sms().len() >= n
    })
    .await;
    app.api.sms()
}

fn assert_one_segment(text: &str) {
    assert!(gsm7::is_gsm7(text), "not GSM-7: {text}");
    assert!(
        gsm7::septets(text) <= gsm7::SEGMENT_SEPTETS,
        "{} septets: {text}",
        gsm7::septets(text)
    );
}

/// A staff change of the case's status, as the console makes it.
async fn change(
    app: &TestApp,
    case_id: i64,
    to: CaseStatus,
    closure_reason: Option<ClosureReason>,
    action_summary: Option<&str>,
) {
    app.state
        .store
        .change_case_status(&StatusChange {
            case_id,
            expected: None,
            department_id: None,
            duplicate_of: None,
            to,
            closure_reason,
            action_summary,
            actor: "participacion.ciudadana",
            note: None,
            at: app.state.clock.now(),
        })
        .await
        .unwrap();
}

async fn the_folio_sms_is_sent_once_with_twilios_fields(db: Db) {
    // Arrange and act: a whole report from a caller with caller ID.
    let app = app_or_skip!(db);
    let case = report(&app, CALLER).await;

    // Assert: one request with exactly Twilio's field names and our values.
    let job = folio_job_done(&app, &case).await;
    assert_eq!(job.attempts, 1);
    let sms = app.api.sms();
    assert_eq!(sms.len(), 1, "{sms:?}");
    let mut names: Vec<&str> = sms[0].fields.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Body", "From", "StatusCallback", "To"], "{sms:?}");
    assert_eq!(sms[0].get("To"), Some(CALLER));
    assert_eq!(sms[0].get("From"), Some(OFFICE));
    let body = sms[0].get("Body").unwrap();
    assert!(body.contains(&case.folio), "{body}");
    assert_one_segment(body);
    let callback = sms[0].get("StatusCallback").unwrap();
    assert!(
        callback.starts_with(&format!("{}/twilio/", app.base)),
        "{callback}"
    );

    // The message row: queued, with Twilio's sid and segments.
    let rows = outbox(&app, case.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let m = &rows[0];
    assert_eq!(m.status, MessageStatus::Queued, "{m:?}");
    assert_eq!(m.twilio_sid, sms[0].sid, "{m:?}");
    assert!(
        m.twilio_sid.as_deref().is_some_and(|s| s.starts_with("SM")),
        "{m:?}"
    );
    assert_eq!(m.segments, Some(1), "{m:?}");
    assert_eq!(m.body.as_deref(), Some(body), "{m:?}");
    assert_eq!(m.to_number.as_deref(), Some(CALLER), "{m:?}");
    assert_eq!(m.template, Some(MessageTemplate::FolioCreated), "{m:?}");
    assert_eq!(m.channel, Channel::Sms, "{m:?}");
    app.stop().await;
}

async fn duplicate_and_out_of_order_callbacks_send_one_folio_sms(db: Db) {
    let app = app_or_skip!(db);
    let mut cases = Vec::new();

    // Act: the callback first (twice), then the action, the callback again, the action again.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("3").await.unwrap();
    let action = call.action().expect("the <Record> action").to_owned();
    let recording = call.new_recording(15);
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.send_record_action(&recording, RecordingEnd::Key)
        .await
        .unwrap();
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    repeat_record_action(&app, &call, &action, &recording).await;
    call.hang_up(50).await.unwrap();
    cases.push(app.case_of(&call).await);

    // The action first (twice), then the callback twice.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("5").await.unwrap();
    let action = call.action().expect("the <Record> action").to_owned();
    let recording = call.new_recording(15);
    call.send_record_action(&recording, RecordingEnd::Key)
        .await
        .unwrap();
    repeat_record_action(&app, &call, &action, &recording).await;
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.hang_up(50).await.unwrap();
    cases.push(app.case_of(&call).await);

    // Three callbacks at the same time, then the action.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("1").await.unwrap();
    let recording = call.new_recording(15);
    let (a, b, c) = tokio::join!(
        call.send_recording_status(&recording, "completed"),
        call.send_recording_status(&recording, "completed"),
        call.send_recording_status(&recording, "completed"),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    call.send_record_action(&recording, RecordingEnd::Key)
        .await
        .unwrap();
    call.hang_up(50).await.unwrap();
    cases.push(app.case_of(&call).await);

    // Assert: one SMS per case, whatever the order and the repeats.
    assert_eq!(app.state.store.count_cases().await.unwrap(), 3);
    for case in &cases {
        let job = folio_job_done(&app, case).await;
        assert_eq!(job.attempts, 1, "{job:?}");
        let rows = outbox(&app, case.id).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].status, MessageStatus::Queued, "{rows:?}");
        let sent = requests_for(&app, &case.folio);
        assert_eq!(sent.len(), 1, "folio {}: {sent:?}", case.folio);
        assert_eq!(sent[0].get("To"), Some(CALLER));
    }
    assert_eq!(app.api.sms().len(), 3, "{:?}", app.api.sms());
    app.stop().await;
}

async fn withheld_callers_get_the_folio_only_at_the_number_they_confirm(db: Db) {
    const TYPED: &str = "5587654321";
    const TYPED_E164: &str = "+525587654321";
    let app = app_or_skip!(db);

    // A withheld caller who skips the number entry (#): no SMS is ever queued.
    let mut skipped = withheld_report(&app).await;
    skipped.press("#").await.unwrap();
    skipped.hang_up(60).await.unwrap();
    let skipped_case = app.case_of(&skipped).await;
    assert_eq!(skipped_case.sms_number, None);
    let no_job = app
        .state
        .store
        .job_by_key(&folio_job(&skipped_case))
        .await
        .unwrap();
    assert!(no_job.is_none(), "{no_job:?}");
    assert!(outbox(&app, skipped_case.id).await.is_empty());

    // Arrange: a withheld caller at the number entry has no SMS queued yet...
    let mut call = withheld_report(&app).await;
    let case = app.case_of(&call).await;
    let key = folio_job(&case);
    assert!(app.state.store.job_by_key(&key).await.unwrap().is_none());
    assert!(outbox(&app, case.id).await.is_empty());

    // ...nor once the number is typed and read back, before it is confirmed.
    call.press(TYPED).await.unwrap();
    assert!(app.state.store.job_by_key(&key).await.unwrap().is_none());
    assert!(outbox(&app, case.id).await.is_empty());

    // Act: 1 confirms.
    call.press("1").await.unwrap();
    call.hang_up(120).await.unwrap();

    // Assert: exactly one SMS, to +52 and the ten digits typed.
    folio_job_done(&app, &case).await;
    let sms = app.api.sms();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].get("To"), Some(TYPED_E164));
    let body = sms[0].get("Body").unwrap();
    assert!(body.contains(&case.folio), "{body}");
    assert_one_segment(body);
    let rows = outbox(&app, case.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, MessageStatus::Queued);
    assert_eq!(rows[0].to_number.as_deref(), Some(TYPED_E164));
    assert!(outbox(&app, skipped_case.id).await.is_empty());
    app.stop().await;
}

async fn rate_limits_server_errors_and_time_outs_are_retried_until_sent(db: Db) {
    let app = app_or_skip!(db);
    let failures = [
        (
            "429",
            SmsReply::Error {
                status: 429,
                code: 20429,
            },
        ),
        (
            "500",
            SmsReply::Error {
                status: 500,
                code: 20500,
            },
        ),
        // Longer than ATIENDE_HTTP_TIMEOUT_SECONDS (2 in tests).
        ("time-out", SmsReply::Slow(Duration::from_secs(3))),
    ];
    for (what, failure) in failures {
        // Arrange: Twilio fails once, then accepts.
        app.api.queue_sms_replies(vec![failure, SmsReply::Accept]);

        // Act
        let case = report(&app, CALLER).await;

        // Assert: tried again after the failure, and the message ends queued.
        let job = folio_job_done(&app, &case).await;
        assert_eq!(job.attempts, 2, "{what}: {job:?}");
        let rows = outbox(&app, case.id).await;
        assert_eq!(rows.len(), 1, "{what}: {rows:?}");
        assert_eq!(rows[0].status, MessageStatus::Queued, "{what}: {rows:?}");
        assert_eq!(rows[0].error_code, None, "{what}: {rows:?}");
        let sent = requests_for(&app, &case.folio);
        let accepted: Vec<&str> = sent.iter().filter_map(|s| s.sid.as_deref()).collect();
        assert!(
            accepted.contains(&rows[0].twilio_sid.as_deref().unwrap()),
            "{what}: the sid of the accepted retry: {rows:?} {sent:?}"
        );
        if what == "time-out" {
            // The fake logs a request when it answers; our client hung up on the slow one
            // after 2 s, and the fake (axum) dropped it unanswered: only the retry is logged.
            // Had Twilio taken the slow one, the retry would have found it in Twilio's list and
            // adopted it (`a_message_twilio_took_before_its_answer_was_lost_is_not_sent_again`).
            assert_eq!(accepted.len(), 1, "{sent:?}");
        } else {
            assert_eq!(sent.len(), 2, "{what}: refused, then accepted: {sent:?}");
            assert_eq!(accepted.len(), 1, "{what}: sent once: {sent:?}");
        }
    }
    app.stop().await;
}

async fn a_message_twilio_took_before_its_answer_was_lost_is_not_sent_again(db: Db) {
    // Arrange: Twilio takes the folio SMS but its answer comes after our time-out (2 s in
    // tests), as when the answer is lost or the process dies before writing it down.
    let app = app_or_skip!(db);
    app.api
        .queue_sms_replies(vec![SmsReply::Unanswered(Duration::from_secs(3))]);

    // Act
    let case = report(&app, CALLER).await;

    // Assert: the retry finds the message at Twilio and adopts it instead of sending it again.
    let job = folio_job_done(&app, &case).await;
    assert_eq!(job.attempts, 2, "{job:?}");
    let sent = requests_for(&app, &case.folio);
    assert_eq!(sent.len(), 1, "sent once: {sent:?}");
    let rows = outbox(&app, case.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, MessageStatus::Queued, "{rows:?}");
    assert_eq!(rows[0].twilio_sid, sent[0].sid, "{rows:?}");
    app.stop().await;
}

async fn permanent_errors_are_recorded_and_never_retried(db: Db) {
    let app = app_or_skip!(db);
    for code in [21211, 21608, 21610, 21612, 21614] {
        // Arrange: Twilio refuses the message for good (a caller per code: 21610 also marks
        // the number as opted out).
        app.api
            .queue_sms_replies(vec![SmsReply::Error { status: 400, code }]);
        let caller = format!("+52551111{:04}", code % 10_000);

        // Act
        let case = report(&app, &caller).await;

        // Assert: one request, the refusal kept on the message, the job done without retry.
        let job = folio_job_done(&app, &case).await;
        assert_eq!(job.attempts, 1, "{code}: {job:?}");
        let rows = outbox(&app, case.id).await;
        assert_eq!(rows.len(), 1, "{code}: {rows:?}");
        assert_eq!(rows[0].status, MessageStatus::Rejected, "{code}: {rows:?}");
        assert_eq!(
            rows[0].error_code.as_deref(),
            Some(code.to_string().as_str()),
            "{rows:?}"
        );
        assert_eq!(rows[0].twilio_sid, None, "{code}: {rows:?}");
        let sent = requests_for(&app, &case.folio);
        assert_eq!(sent.len(), 1, "{code}: never retried: {sent:?}");
        assert_eq!(
            app.state.store.is_opted_out(&caller).await.unwrap(),
            code == 21610,
            "{code}"
        );
    }
    assert!(app.state.store.open_alerts().await.unwrap().is_empty());
    app.stop().await;
}

async fn bad_credentials_raise_an_alert_and_wait_for_a_person(db: Db) {
    let app = app_or_skip!(db);
    assert!(app.state.store.open_alerts().await.unwrap().is_empty());

    // Arrange: Twilio refuses our credentials (error 20003) until staff fix them.
    app.api.queue_sms_replies(vec![SmsReply::Error {
        status: 401,
        code: 20003,
    }]);

    // Act
    let case = report(&app, CALLER).await;

    // Assert: not retried by itself (trying again cannot help); the job is dead, the message
    // waits in the outbox with the error, and staff see one alert.
    let key = folio_job(&case);
    let job = app.job_in_state(&key, JobState::Dead).await;
    assert_eq!(job.attempts, 1, "{job:?}");
    assert_eq!(requests_for(&app, &case.folio).len(), 1);
    let rows = outbox(&app, case.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, MessageStatus::Pending, "{rows:?}");
    assert_eq!(rows[0].error_code.as_deref(), Some("20003"), "{rows:?}");
    let alerts = app.state.store.open_alerts().await.unwrap();
    let credentials: Vec<_> = alerts
        .iter()
        .filter(|(kind, _)| kind == "twilio_credentials")
        .collect();
    assert_eq!(credentials.len(), 1, "{alerts:?}");
    assert!(credentials[0].1.contains("20003"), "{alerts:?}");

    // Once the credentials are fixed, retrying the dead job (`atiende jobs retry`) sends it.
    assert!(
        app.state
            .store
            .requeue_dead_job(job.id, app.state.clock.now())
            .await
            .unwrap()
    );
    app.state.wake_workers();
    let job = app.job_done(&key).await;
    assert_eq!(job.attempts, 1, "attempts were reset: {job:?}");
    let sent = requests_for(&app, &case.folio);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].sid.is_some(), "{sent:?}");
    assert_eq!(outbox(&app, case.id).await[0].status, MessageStatus::Queued);
    app.stop().await;
}

async fn demo_mode_keeps_messages_in_the_outbox(db: Db) {
    // Arrange: no Twilio account.
    let app = app_or_skip!(
        db,
        Options {
            token: None,
            ..Default::default()
        }
    );

    // Act
    let case = report(&app, CALLER).await;

    // Assert: the message is written, rendered and kept, not sent.
    folio_job_done(&app, &case).await;
    let rows = outbox(&app, case.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, MessageStatus::NotSent, "{rows:?}");
    assert_eq!(rows[0].twilio_sid, None, "{rows:?}");
    assert!(
        rows[0]
            .body
            .as_deref()
            .is_some_and(|b| b.contains(&case.folio)),
        "{rows:?}"
    );
    assert!(app.api.sms().is_empty(), "{:?}", app.api.sms());
    app.stop().await;
}

async fn status_changes_send_one_sms_each_when_the_citizen_cares(db: Db) {
    // Arrange: a case whose folio SMS went out.
    let app = app_or_skip!(db);
    let case = report(&app, CALLER).await;
    folio_job_done(&app, &case).await;
    assert_eq!(app.api.sms().len(), 1);
    let folio = case.folio.as_str();

    // In review: nothing for the citizen (nothing even queued).
    change(&app, case.id, CaseStatus::InReview, None, None).await;
    assert_eq!(outbox(&app, case.id).await.len(), 1);

    // Routed: one SMS naming the department, folded to GSM-7.
    change(&app, case.id, CaseStatus::Routed, None, None).await;
    assert_eq!(outbox(&app, case.id).await.len(), 2);
    let sms = fake_has(&app, 2).await;
    let routed = sms[1].get("Body").unwrap();
    assert_eq!(
        routed,
        format!(
            "Su reporte {folio} fue canalizado a Direccion de Agua Potable. Le avisaremos cuando quede atendido."
        )
    );
    assert_eq!(
        routed,
        gsm7::fold(&app.text_with(
            Key::SmsRouted,
            &[("folio", folio), ("department", WATER_DEPARTMENT)]
        ))
    );

    // In progress: nothing.
    change(&app, case.id, CaseStatus::InProgress, None, None).await;
    assert_eq!(outbox(&app, case.id).await.len(), 2);

    // Attended with the action report's summary: one SMS with (the start of) the summary.
    change(&app, case.id, CaseStatus::Attended, None, Some(SUMMARY)).await;
    assert_eq!(outbox(&app, case.id).await.len(), 3);
    let sms = fake_has(&app, 3).await;
    let attended = sms[2].get("Body").unwrap();
    assert!(
        attended.starts_with(&format!("Su reporte {folio} fue atendido: {SUMMARY_START}")),
        "{attended}"
    );

    // Closed as a duplicate: one SMS saying so.
    change(
        &app,
        case.id,
        CaseStatus::Closed,
        Some(ClosureReason::Duplicate),
        None,
    )
    .await;
    assert_eq!(outbox(&app, case.id).await.len(), 4);
    let sms = fake_has(&app, 4).await;
    let closed = sms[3].get("Body").unwrap();
    assert_eq!(
        closed,
        app.text_with(Key::SmsClosedDuplicate, &[("folio", folio)])
    );
    assert!(closed.contains("ya habia otro reporte"), "{closed}");

    // Assert: one SMS per change the citizen cares about, each one GSM-7 segment, all sent.
    let rows = outbox_settled(&app, case.id).await;
    let templates: Vec<Option<MessageTemplate>> = rows.iter().map(|m| m.template).collect();
    assert_eq!(
        templates,
        [
            Some(MessageTemplate::FolioCreated),
            Some(MessageTemplate::Routed),
            Some(MessageTemplate::Attended),
            Some(MessageTemplate::Closed)
        ],
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|m| m.status == MessageStatus::Queued),
        "{rows:?}"
    );
    let sms = app.api.sms();
    assert_eq!(sms.len(), 4, "{sms:?}");
    for s in &sms {
        assert_eq!(s.get("To"), Some(CALLER));
        let body = s.get("Body").unwrap();
        assert!(body.contains(folio), "{body}");
        assert_one_segment(body);
    }
    app.stop().await;
}

async fn baja_and_stop_stop_our_messages_until_alta_or_start(db: Db) {
    let app = app_or_skip!(db);
    let opted_out = app.text_with(Key::SmsOptedOut, &[]);
    let opted_in = app.text_with(Key::SmsOptedIn, &[]);

    // Arrange: a case whose folio SMS went out.
    let case = report(&app, CALLER).await;
    folio_job_done(&app, &case).await;
    assert_eq!(app.api.sms().len(), 1);

    // Act: the citizen answers BAJA.
    let (_, reply) = app.text_in(CALLER, "BAJA").await;
    assert_eq!(reply, opted_out);
    assert_one_segment(&reply);

    // Assert: the next status message is kept back, nothing sent.
    change(&app, case.id, CaseStatus::Routed, None, None).await;
    let rows = outbox_settled(&app, case.id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].status, MessageStatus::OptedOut, "{rows:?}");
    assert_eq!(app.api.sms().len(), 1, "{:?}", app.api.sms());

    // ALTA: messages again.
    let (_, reply) = app.text_in(CALLER, "ALTA").await;
    assert_eq!(reply, opted_in);
    assert_one_segment(&reply);
    change(&app, case.id, CaseStatus::Attended, None, Some(SUMMARY)).await;
    let sms = fake_has(&app, 2).await;
    assert_eq!(sms[1].get("To"), Some(CALLER));
    assert!(sms[1].get("Body").unwrap().contains(&case.folio), "{sms:?}");
    let rows = outbox_settled(&app, case.id).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[2].status, MessageStatus::Queued, "{rows:?}");

    // STOP before reporting: not even the folio is sent.
    const OTHER: &str = "+525511112222";
    let (_, reply) = app.text_in(OTHER, "STOP").await;
    assert_eq!(reply, opted_out);
    let other = report(&app, OTHER).await;
    folio_job_done(&app, &other).await;
    let rows = outbox(&app, other.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, MessageStatus::OptedOut, "{rows:?}");

    // "start" in lower case, from the same person on WhatsApp (legacy +521 form), lifts it.
    let (_, reply) = app.text_in("whatsapp:+5215511112222", "start").await;
    assert_eq!(reply, opted_in);
    change(&app, other.id, CaseStatus::Routed, None, None).await;
    let rows = outbox_settled(&app, other.id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].status, MessageStatus::Queued, "{rows:?}");
    let to_other: Vec<SentSms> = app
        .api
        .sms()
        .into_iter()
        .filter(|s| s.get("To") == Some(OTHER))
        .collect();
    assert_eq!(to_other.len(), 1, "only the routed message: {to_other:?}");
    assert!(
        to_other[0].get("Body").unwrap().contains("canalizado"),
        "{to_other:?}"
    );
    assert_eq!(app.api.sms().len(), 3, "{:?}", app.api.sms());
    app.stop().await;
}

async fn incoming_messages_get_the_status_of_a_folio_or_help(db: Db) {
    // Arrange: a case routed to its department.
    let app = app_or_skip!(db);
    let case = report(&app, CALLER).await;
    change(&app, case.id, CaseStatus::Routed, None, None).await;
    let folio = Folio::parse(&case.folio).unwrap();
    let status = format!(
        "Folio {folio}, agua potable: canalizado a Direccion de Agua Potable desde el 27/11/2026. Respuesta a mas tardar: 04/12/2026.",
        folio = folio.as_str()
    );

    // Act and assert: the folio, however it is written, by SMS or WhatsApp, gets the status.
    let mut sent: Vec<(String, String, Channel, Option<i64>, MessageTemplate)> = Vec::new();
    let asks = [
        (CALLER, format!("folio {}", folio.as_str())),
        (CALLER, folio.groups().join(" ")),
        (
            "whatsapp:+5215512345678",
            format!("Folio: {}", folio.as_str()),
        ),
    ];
    for (from, body) in asks {
        let (sid, reply) = app.text_in(from, &body).await;
        assert_eq!(reply, status, "{body:?}");
        assert_one_segment(&reply);
        assert!(
            !reply.contains("5512345678") && !reply.contains("5678"),
            "nothing personal: {reply}"
        );
        let channel = if from.starts_with("whatsapp:") {
            Channel::Whatsapp
        } else {
            Channel::Sms
        };
        sent.push((
            sid,
            body,
            channel,
            Some(case.id),
            MessageTemplate::StatusReply,
        ));
    }

    // A wrong check digit: not a folio.
    let digits = folio.as_str();
    let last = digits.as_bytes()[digits.len() - 1] - b'0';
    let wrong = format!("{}{}", &digits[..digits.len() - 1], (last + 1) % 10);
    let (sid, reply) = app.text_in(CALLER, &wrong).await;
    assert_eq!(
        reply,
        format!("El folio {wrong} no es valido. Revise los digitos y envielo de nuevo.")
    );
    sent.push((
        sid,
        wrong,
        Channel::Sms,
        None,
        MessageTemplate::StatusInvalid,
    ));

    // A valid folio no case has.
    let unknown = Folio::from_sequence(case.id + 1000);
    let (sid, reply) = app.text_in(CALLER, unknown.as_str()).await;
    assert_eq!(
        reply,
        app.text_with(Key::SmsStatusUnknown, &[("folio", unknown.as_str())])
    );
    assert!(reply.contains(unknown.as_str()), "{reply}");
    sent.push((
        sid,
        unknown.as_str().to_owned(),
        Channel::Sms,
        None,
        MessageTemplate::StatusUnknown,
    ));

    // Anything else: the help text.
    let hello = "Hola, hay una fuga en mi calle";
    let (sid, reply) = app.text_in(CALLER, hello).await;
    assert_eq!(
        reply,
        app.text_with(Key::SmsHelp, &[("phone", "5500000000")])
    );
    assert_one_segment(&reply);
    sent.push((
        sid,
        hello.to_owned(),
        Channel::Sms,
        None,
        MessageTemplate::Help,
    ));

    // Every incoming message is logged, and so is every reply.
    let all = app.state.store.messages(None).await.unwrap();
    let inbound: Vec<&MessageRecord> = all
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), sent.len(), "{all:?}");
    let replies: Vec<&MessageRecord> = all
        .iter()
        .filter(|m| m.status == MessageStatus::Replied)
        .collect();
    assert_eq!(replies.len(), sent.len(), "{all:?}");
    for ((sid, body, channel, case_id, template), (logged, reply)) in
        sent.iter().zip(inbound.iter().zip(replies.iter()))
    {
        assert_eq!(
            logged.twilio_sid.as_deref(),
            Some(sid.as_str()),
            "{logged:?}"
        );
        assert_eq!(logged.body.as_deref(), Some(body.as_str()), "{logged:?}");
        assert_eq!(logged.from_number.as_deref(), Some(CALLER), "{logged:?}");
        assert_eq!(logged.channel, *channel, "{logged:?}");
        assert_eq!(logged.case_id, *case_id, "{logged:?}");
        assert_eq!(logged.status, MessageStatus::Received, "{logged:?}");
        assert_eq!(reply.direction, Direction::Outbound, "{reply:?}");
        assert_eq!(reply.template, Some(*template), "{reply:?}");
        assert_eq!(reply.channel, *channel, "{reply:?}");
    }
    let status_replies: Vec<&&MessageRecord> = replies
        .iter()
        .filter(|m| m.template == Some(MessageTemplate::StatusReply))
        .collect();
    assert!(
        status_replies
            .iter()
            .all(|m| m.body.as_deref() == Some(status.as_str())),
        "{status_replies:?}"
    );
    app.stop().await;
}

async fn delivery_reports_are_recorded_and_forged_ones_refused(db: Db) {
    // Arrange: the folio SMS went out.
    let app = app_or_skip!(db);
    let case = report(&app, CALLER).await;
    folio_job_done(&app, &case).await;
    let sms = app.api.sms();
    let sid = sms[0].sid.clone().unwrap();
    let callback = sms[0].get("StatusCallback").unwrap().to_owned();
    let path = callback
        .strip_prefix(&app.base)
        .unwrap_or_else(|| panic!("the callback is ours: {callback}"))
        .to_owned();
    let report_status = |message_sid: String, status: &'static str, error: Option<&'static str>| {
        let path = path.clone();
        let app = &app;
        async move {
            let mut params = vec![
                ("AccountSid", crate::helpers::ACCOUNT_SID),
                ("MessageSid", message_sid.as_str()),
                ("SmsSid", message_sid.as_str()),
                ("MessageStatus", status),
                ("SmsStatus", status),
                ("From", OFFICE),
                ("To", CALLER),
                ("ApiVersion", "2010-04-01"),
            ];
            if let Some(code) = error {
                params.push(("ErrorCode", code));
            }
            app.post_signed(&path, &params).await
        }
    };
    let message = || async { outbox(&app, case.id).await.remove(0) };

    // Act and assert: delivered.
    let (status, _) = report_status(sid.clone(), "delivered", None).await;
    assert_eq!(status, 200);
    let m = message().await;
    assert_eq!(m.status, MessageStatus::Delivered, "{m:?}");
    assert_eq!(m.error_code, None, "{m:?}");

    // Undelivered, with the carrier's error.
    let (status, _) = report_status(sid.clone(), "undelivered", Some("30003")).await;
    assert_eq!(status, 200);
    let m = message().await;
    assert_eq!(m.status, MessageStatus::Undelivered, "{m:?}");
    assert_eq!(m.error_code.as_deref(), Some("30003"), "{m:?}");
    assert_eq!(m.twilio_sid.as_deref(), Some(sid.as_str()), "{m:?}");

    // A report on a message we never sent: 200, and nothing changes.
    let stranger = format!("SM{}", random_hex());
    let (status, _) = report_status(stranger.clone(), "delivered", None).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post_signed(
            "/twilio/messaging/status",
            &[("MessageSid", &stranger), ("MessageStatus", "delivered")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(message().await, m);
    let all = app.state.store.messages(None).await.unwrap();
    assert!(
        all.iter()
            .all(|r| r.twilio_sid.as_deref() != Some(stranger.as_str())),
        "{all:?}"
    );

    // A forged signature, or none: 403, nothing changes.
    let form = format!("MessageSid={sid}&MessageStatus=delivered");
    let (status, _) = app
        .post_raw(&path, &form, Some("Zm9yZ2VkIHNpZ25hdHVyZQ=="))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.post_raw(&path, &form, None).await;
    assert_eq!(status, 403);
    assert_eq!(message().await, m);
    let incoming = format!(
        "MessageSid=SM{}&From=%2B525512345678&To=%2B525500000000&Body=BAJA&NumMedia=0",
        random_hex()
    );
    let (status, _) = app
        .post_raw(
            "/twilio/messaging",
            &incoming,
            Some("Zm9yZ2VkIHNpZ25hdHVyZQ=="),
        )
        .await;
    assert_eq!(status, 403);
    let all = app.state.store.messages(None).await.unwrap();
    assert!(
        all.iter().all(|r| r.direction != Direction::Inbound),
        "{all:?}"
    );
    assert!(!app.state.store.is_opted_out(CALLER).await.unwrap());
    app.stop().await;
}

/// Twilio does not promise its status callbacks arrive in order: a late "sent" must not turn a
/// delivered message back into a sent one.
async fn a_late_report_does_not_undo_delivered(db: Db) {
    // Arrange: the folio SMS went out and was delivered.
    let app = app_or_skip!(db);
    let case = report(&app, CALLER).await;
    folio_job_done(&app, &case).await;
    let sms = app.api.sms();
    let sid = sms[0].sid.clone().unwrap();
    let callback = sms[0].get("StatusCallback").unwrap().to_owned();
    let path = callback.strip_prefix(&app.base).unwrap().to_owned();
    let post = |status: &'static str| {
        let path = path.clone();
        let sid = sid.clone();
        let app = &app;
        async move {
            let (code, body) = app
                .post_signed(
                    &path,
                    &[("MessageSid", sid.as_str()), ("MessageStatus", status)],
                )
                .await;
            assert_eq!(code, 200, "{body}");
        }
    };
    post("delivered").await;

    // Act: the "sent" report, sent before "delivered", arrives after it.
    post("sent").await;

    // Assert
    let rows = outbox(&app, case.id).await;
    assert_eq!(rows[0].status, MessageStatus::Delivered, "{rows:?}");
    app.stop().await;
}

async fn a_messaging_service_sends_instead_of_the_office_number(db: Db) {
    // Arrange: a Messaging Service beside the office number (Mexico's guidelines: no automated
    // SMS from a Mexican mobile number; Twilio picks a sender from the service's pool).
    let app = app_or_skip!(
        db,
        Options::default().with("TWILIO_MESSAGING_SERVICE_SID", MESSAGING_SERVICE)
    );

    // Act
    let case = report(&app, CALLER).await;

    // Assert: sent with `MessagingServiceSid` and no `From`.
    folio_job_done(&app, &case).await;
    let sms = app.api.sms();
    assert_eq!(sms.len(), 1, "{sms:?}");
    let mut names: Vec<&str> = sms[0].fields.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["Body", "MessagingServiceSid", "StatusCallback", "To"],
        "{sms:?}"
    );
    assert_eq!(sms[0].get("MessagingServiceSid"), Some(MESSAGING_SERVICE));
    assert_eq!(sms[0].get("To"), Some(CALLER));
    assert!(sms[0].sid.is_some(), "accepted: {sms:?}");
    assert_eq!(outbox(&app, case.id).await[0].status, MessageStatus::Queued);

    // A citizen who writes to a number of the pool (which takes no calls) is told to call the
    // office number.
    const POOL_NUMBER: &str = "+12025550123";
    let (status, xml) = app
        .post_signed(
            "/twilio/messaging",
            &[
                ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
                ("From", CALLER),
                ("To", POOL_NUMBER),
                ("Body", "hola"),
                ("NumMedia", "0"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    let help = app.text_with(Key::SmsHelp, &[("phone", "5500000000")]);
    assert!(xml.contains(&help), "{xml}");
    app.stop().await;

    // The service alone, without the office number, is enough to start and send.
    let app = app_or_skip!(
        db,
        Options::default()
            .with("TWILIO_PHONE_NUMBER", "")
            .with("TWILIO_MESSAGING_SERVICE_SID", MESSAGING_SERVICE)
    );
    let case = report(&app, CALLER).await;
    folio_job_done(&app, &case).await;
    let sms = app.api.sms();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].get("MessagingServiceSid"), Some(MESSAGING_SERVICE));
    assert_eq!(sms[0].get("From"), None, "{sms:?}");
    app.stop().await;
}

async fn twilios_opt_out_and_help_words_are_understood(db: Db) {
    let app = app_or_skip!(db);
    let opted_out = app.text_with(Key::SmsOptedOut, &[]);
    let opted_in = app.text_with(Key::SmsOptedIn, &[]);
    let help = app.text_with(Key::SmsHelp, &[("phone", "5500000000")]);

    // Twilio's standard opt-out words, each from a number of its own, then its opt-in words.
    let stops = ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT"];
    let starts = ["START", "yes", "Unstop", "START", "YES", "UNSTOP"];
    for (i, (stop, start)) in stops.iter().zip(starts).enumerate() {
        let number = format!("+5255111100{i:02}");
        let (_, reply) = app.text_in(&number, stop).await;
        assert_eq!(reply, opted_out, "{stop}");
        assert!(
            app.state.store.is_opted_out(&number).await.unwrap(),
            "{stop}"
        );
        let (_, reply) = app.text_in(&number, start).await;
        assert_eq!(reply, opted_in, "{start}");
        assert!(
            !app.state.store.is_opted_out(&number).await.unwrap(),
            "{start}"
        );
    }

    // AYUDA and HELP: the help text, logged as such, and no change to the opt-out.
    for word in ["AYUDA", "ayuda", "HELP", "Help"] {
        let (_, reply) = app.text_in(CALLER, word).await;
        assert_eq!(reply, help, "{word}");
        assert_one_segment(&reply);
    }
    let replies: Vec<MessageRecord> = app
        .state
        .store
        .messages(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.status == MessageStatus::Replied && m.to_number.as_deref() == Some(CALLER))
        .collect();
    assert_eq!(replies.len(), 4, "{replies:?}");
    assert!(
        replies
            .iter()
            .all(|m| m.template == Some(MessageTemplate::Help)),
        "{replies:?}"
    );
    assert!(!app.state.store.is_opted_out(CALLER).await.unwrap());
    app.stop().await;
}

async fn error_21610_marks_the_number_as_opted_out(db: Db) {
    // Arrange: the citizen answered STOP to Twilio itself (on the Messaging Service's sender),
    // so Twilio refuses our messages to them with 21610.
    let app = app_or_skip!(db);
    app.api.queue_sms_replies(vec![SmsReply::Error {
        status: 400,
        code: 21610,
    }]);
    assert!(!app.state.store.is_opted_out(CALLER).await.unwrap());

    // Act
    let case = report(&app, CALLER).await;

    // Assert: refused for good, and the number is now opted out with us too.
    let job = folio_job_done(&app, &case).await;
    assert_eq!(job.attempts, 1, "{job:?}");
    let rows = outbox(&app, case.id).await;
    assert_eq!(rows[0].status, MessageStatus::Rejected, "{rows:?}");
    assert_eq!(rows[0].error_code.as_deref(), Some("21610"), "{rows:?}");
    assert!(app.state.store.is_opted_out(CALLER).await.unwrap());

    // The next status message is kept back without asking Twilio again.
    change(&app, case.id, CaseStatus::Routed, None, None).await;
    let rows = outbox_settled(&app, case.id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].status, MessageStatus::OptedOut, "{rows:?}");
    assert_eq!(app.api.sms().len(), 1, "{:?}", app.api.sms());

    // Another permanent error leaves the number alone.
    const OTHER: &str = "+525511112222";
    app.api.queue_sms_replies(vec![SmsReply::Error {
        status: 400,
        code: 21614,
    }]);
    let other = report(&app, OTHER).await;
    folio_job_done(&app, &other).await;
    assert!(!app.state.store.is_opted_out(OTHER).await.unwrap());

    // START (to us) lifts it.
    let (_, reply) = app.text_in(CALLER, "START").await;
    assert_eq!(reply, app.text_with(Key::SmsOptedIn, &[]));
    assert!(!app.state.store.is_opted_out(CALLER).await.unwrap());
    app.stop().await;
}

async fn status_sms_wait_for_nine_at_night_but_the_folio_goes_at_once(db: Db) {
    // Arrange: Friday 27 November 2026, 22:30 in Mexico City.
    let night = Mexico_City
        .with_ymd_and_hms(2026, 11, 27, 22, 30, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let app = app_or_skip!(
        db,
        Options {
            clock: night,
            ..Default::default()
        }
    );

    // Act: a report (the caller asks for the folio), then staff route it at night.
    let case = report(&app, CALLER).await;
    let folio_job = folio_job_done(&app, &case).await;
    change(&app, case.id, CaseStatus::Routed, None, None).await;

    // Assert: the folio SMS was due at once and went out.
    assert!(
        folio_job.run_at.as_utc() < night + chrono::Duration::minutes(1),
        "{folio_job:?}"
    );
    assert_eq!(requests_for(&app, &case.folio).len(), 1);

    // The status SMS is queued for 09:00 next morning, Mexico City (15:00 UTC).
    let routed = app
        .state
        .store
        .case_history(case.id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.to_status == Some(CaseStatus::Routed))
        .expect("the routing in the history");
    let key = format!("sms-status:{}", routed.id);
    let job = app
        .state
        .store
        .job_by_key(&key)
        .await
        .unwrap()
        .expect("the status SMS job");
    let nine = Mexico_City
        .with_ymd_and_hms(2026, 11, 28, 9, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(job.run_at.as_utc(), nine, "{job:?}");
    assert!(job.created_at.as_utc() >= night, "{job:?}");

    // And it waits: several polls later it is still queued, the message pending, nothing sent.
    app.state.wake_workers();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let job = app.state.store.job_by_key(&key).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued, "{job:?}");
    assert_eq!(job.attempts, 0, "{job:?}");
    let rows = outbox(&app, case.id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].status, MessageStatus::Pending, "{rows:?}");
    assert_eq!(app.api.sms().len(), 1, "{:?}", app.api.sms());
    app.stop().await;
}

async fn a_message_sent_again_is_answered_the_same_and_acted_on_once(db: Db) {
    // Arrange: a case, and a citizen asking for its status.
    let app = app_or_skip!(db);
    let case = report(&app, CALLER).await;
    let sid = format!("SM{}", random_hex());
    let ask = || async {
        let (status, xml) = app
            .post_signed(
                "/twilio/messaging",
                &[
                    ("MessageSid", sid.as_str()),
                    ("From", CALLER),
                    ("To", OFFICE),
                    ("Body", case.folio.as_str()),
                    ("NumMedia", "0"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{xml}");
        xml
    };

    // Act: Twilio sends the same message three times (a retry, a replay).
    let first = ask().await;
    let second = ask().await;
    let third = ask().await;

    // Assert: the same answer each time, the message logged once, one reply logged (so one
    // lookup counted against the number's hourly guard).
    assert!(first.contains(&case.folio), "{first}");
    assert_eq!(first, second);
    assert_eq!(first, third);
    let messages = app.state.store.messages(Some(case.id)).await.unwrap();
    let inbound = messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .count();
    assert_eq!(inbound, 1, "{messages:?}");
    let since = Timestamp::from_utc(office_hours_now() - chrono::Duration::hours(1));
    let (_, lookups) = app
        .state
        .store
        .recent_sms_lookups(CALLER, since)
        .await
        .unwrap();
    assert_eq!(lookups, 1);
    app.stop().await;
}
