//! What happens when something fails mid-call or webhooks arrive oddly: a report is never
//! asked for twice, never lost quietly, and a caller always hears the notices before a beep.

use crate::helpers::{
    ACCOUNT_SID, CALLER, Db, STREET_LIGHTING, TestApp, WATER, at_the_beep, call_sid, eventually,
    fields, has_record, new_call_sid, new_recording_sid, post_signed_raw, twiml, voice_fields,
};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::RecordingStatus;
use atiende::domain::{CallOutcome, RecordingSid};
use atiende::prompts::Key;
use atiende::sim::audio::tone_wav;
use atiende::sim::fake_api::RecordingReply;
use atiende::sim::{Recording, RecordingEnd};

on_both_databases!(
    a_failure_after_the_report_never_asks_for_it_again,
    a_recording_callback_the_database_cannot_take_waits_in_the_journal,
    the_fallback_for_the_first_request_gives_the_notices_before_the_beep,
    the_fallback_after_the_report_only_reassures,
    the_fallback_of_a_failed_record_action_takes_that_recording_once,
    a_report_known_only_to_twilio_becomes_a_case_at_the_next_sweep,
    a_late_absent_callback_does_not_undo_a_stored_recording,
    a_recording_url_that_comes_only_with_the_callback_is_fetched,
    a_typed_number_never_confirmed_is_forgotten_when_the_call_ends,
    sms_lookups_are_guarded_and_summaries_go_only_to_the_reporter,
    a_screening_that_cannot_be_noted_hangs_up_the_staff_leg,
);

/// A report by phone from `from`, the recording stored; returns the call's sid and the folio.
async fn report(app: &TestApp, from: Option<&str>) -> (String, String) {
    let call = app.report(from, STREET_LIGHTING).await;
    let case = app.case_of(&call).await;
    (call.call_sid().to_owned(), case.folio)
}

async fn a_failure_after_the_report_never_asks_for_it_again(db: Db) {
    // Arrange: a report made, then the database goes away.
    let app = app_or_skip!(db);
    let (sid, _) = report(&app, Some(CALLER)).await;
    app.state.store.close().await;

    // Act: the caller asks to hear the folio again, or confirms a number.
    for (path, digits) in [
        ("/twilio/voice/folio?t=0", "1"),
        ("/twilio/voice/sms-confirm?t=0", "1"),
        ("/twilio/voice/sms-number?t=0", "5587654321"),
    ] {
        let (status, answer) =
            post_signed_raw(&app, path, &voice_fields(&sid, &[("Digits", digits)])).await;

        // Assert: reassured and goodbye; never another <Record> (that would make a second case).
        assert_eq!(status, 200, "{path}: {answer}");
        let r = twiml(&answer);
        assert!(!has_record(&r), "{path}: {answer}");
        assert!(
            r.spoken_text()
                .contains(&app.text(Key::TechnicalErrorAfterReport)),
            "{path}: {answer}"
        );
    }
    app.stop().await;
}

async fn a_recording_callback_the_database_cannot_take_waits_in_the_journal(db: Db) {
    // Arrange: the caller hung up while recording, and the database is down.
    let app = app_or_skip!(db);
    app.state.store.close().await;
    let sid = new_call_sid();
    let recording = new_recording_sid();
    let fields = fields(&[
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", sid.as_str()),
        ("RecordingSid", recording.as_str()),
        ("RecordingUrl", "https://api.twilio.com/r"),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "20"),
    ]);

    // Act: the recording callback, the only notice of this report, then the call's end.
    let (status, _) = post_signed_raw(
        &app,
        "/twilio/voice/recording-status?t=0&c=1&u=unknown",
        &fields,
    )
    .await;
    let end = voice_fields(&sid, &[("CallStatus", "completed"), ("CallDuration", "30")]);
    let (end_status, _) = post_signed_raw(&app, "/twilio/voice/status", &end).await;

    // Assert: both are on disk in the journal before Twilio hears they were taken.
    assert_eq!((status, end_status), (200, 200));
    let kept = std::fs::read_to_string(app.data_dir.join("journal/current.jsonl")).unwrap();
    let report = kept
        .lines()
        .find(|l| l.contains(r#""entry":"report""#))
        .expect("the report is in the journal");
    assert!(
        report.contains(&recording) && report.contains(&sid),
        "{report}"
    );
    assert!(report.contains(r#""category_id":1"#), "{report}");
    assert!(kept.contains(r#""entry":"call_end""#), "{kept}");
    app.stop().await;
}

async fn the_fallback_for_the_first_request_gives_the_notices_before_the_beep(db: Db) {
    let app = app_or_skip!(db);
    let sid = new_call_sid();
    let failed = format!("{}/twilio/voice", app.base);

    // Act: Twilio could not get the greeting.
    let fields = voice_fields(&sid, &[("ErrorCode", "11200"), ("ErrorUrl", &failed)]);
    let (status, answer) = post_signed_raw(&app, "/twilio/voice/fallback", &fields).await;

    // Assert: the emergency numbers and the privacy notice, then the apology and a <Record>.
    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    let heard = r.spoken_text();
    let notices = heard.find("9 1 1").expect("emergency numbers");
    let privacy = heard.find("Grabamos su reporte").expect("privacy notice");
    let apology = heard.find(&app.text(Key::TechnicalError)).expect("apology");
    assert!(notices < apology && privacy < apology, "{heard}");
    assert!(has_record(&r), "{answer}");
    app.stop().await;
}

async fn the_fallback_after_the_report_only_reassures(db: Db) {
    let app = app_or_skip!(db);
    let (sid, _) = report(&app, Some(CALLER)).await;
    let failed = format!("{}/twilio/voice/folio?t=0", app.base);

    let fields = voice_fields(&sid, &[("ErrorCode", "11205"), ("ErrorUrl", &failed)]);
    let (status, answer) = post_signed_raw(&app, "/twilio/voice/fallback", &fields).await;

    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    assert!(!has_record(&r), "{answer}");
    assert!(
        r.spoken_text()
            .contains(&app.text(Key::TechnicalErrorAfterReport))
    );
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    app.stop().await;
}

async fn the_fallback_of_a_failed_record_action_takes_that_recording_once(db: Db) {
    // Arrange: a caller recorded; the action request failed (say the instance that took it
    // was killed, before or after its commit), so Twilio asks the fallback URL with the same
    // fields.
    let app = app_or_skip!(db);
    let sid = new_call_sid();
    let recording = new_recording_sid();
    let failed = format!("{}/twilio/voice/recorded?t=0&c=3&u=unknown", app.base);
    let recording_url = format!(
        "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording}",
        app.api.base()
    );
    let fields = voice_fields(
        &sid,
        &[
            ("RecordingSid", recording.as_str()),
            ("RecordingUrl", recording_url.as_str()),
            ("RecordingDuration", "20"),
            ("Digits", "#"),
            ("ErrorCode", "11200"),
            ("ErrorUrl", failed.as_str()),
        ],
    );

    // Act: the fallback, twice (a second instance, a retry).
    let (status, answer) = post_signed_raw(&app, "/twilio/voice/fallback", &fields).await;
    let (again_status, again) = post_signed_raw(&app, "/twilio/voice/fallback", &fields).await;

    // Assert: one case, in the category the failed step carried; the caller hears its folio
    // (not a second beep), both times the same.
    assert_eq!((status, again_status), (200, 200), "{answer}");
    let case = app
        .state
        .store
        .case_of_call(&atiende::domain::CallSid::parse(&sid).unwrap())
        .await
        .unwrap()
        .expect("the fallback made the case");
    assert_eq!(case.category_id, Some(3));
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    for heard in [&answer, &again] {
        let r = twiml(heard);
        assert!(!has_record(&r), "{heard}");
        let folio = atiende::voice::speech_digits(&case.folio);
        assert!(r.spoken_text().contains(&folio), "{heard}");
    }
    app.stop().await;
}

async fn a_late_absent_callback_does_not_undo_a_stored_recording(db: Db) {
    // Arrange: a recording stored.
    let app = app_or_skip!(db);
    let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.record(9, RecordingEnd::Key).await.unwrap();
    let sid = RecordingSid::parse(&recording.sid).unwrap();
    let store = &app.state.store;
    eventually("the recording is stored", || async {
        store
            .recording(&sid)
            .await
            .unwrap()
            .is_some_and(|r| r.status == RecordingStatus::Stored)
    })
    .await;

    // Act: a stray "absent" for the same recording.
    call.send_recording_status(&recording, "absent")
        .await
        .unwrap();

    // Assert: still stored, on the recording and on the case.
    assert_eq!(
        store.recording(&sid).await.unwrap().unwrap().status,
        RecordingStatus::Stored
    );
    let case = app.case_of(&call).await;
    assert_eq!(case.recording_status, Some(RecordingStatus::Stored));
    app.stop().await;
}

async fn a_recording_url_that_comes_only_with_the_callback_is_fetched(db: Db) {
    // Arrange: an action request without RecordingUrl makes the case.
    let app = app_or_skip!(db);
    let sid = new_call_sid();
    let recording = new_recording_sid();
    let wav = tone_wav(4);
    app.api
        .set_recording_replies(&recording, vec![RecordingReply::Wav(wav.clone())]);
    let action = voice_fields(
        &sid,
        &[
            ("RecordingSid", recording.as_str()),
            ("RecordingDuration", "4"),
            ("Digits", "#"),
        ],
    );
    let (status, _) =
        post_signed_raw(&app, "/twilio/voice/recorded?t=0&c=3&u=unknown", &action).await;
    assert_eq!(status, 200);
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);

    // Act: the callback brings the URL.
    let url = Recording {
        sid: recording.clone(),
        url: format!(
            "{}/2010-04-01/Accounts/{}/Recordings/{recording}",
            app.api.base(),
            ACCOUNT_SID
        ),
        duration_seconds: 4,
    };
    let callback = fields(&[
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", sid.as_str()),
        ("RecordingSid", recording.as_str()),
        ("RecordingUrl", url.url.as_str()),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "4"),
    ]);
    let (status, _) = post_signed_raw(
        &app,
        "/twilio/voice/recording-status?t=0&c=3&u=unknown",
        &callback,
    )
    .await;
    assert_eq!(status, 200);

    // Assert: downloaded and stored, one case.
    let rsid = RecordingSid::parse(&recording).unwrap();
    eventually("the recording is stored", || async {
        app.state
            .store
            .recording(&rsid)
            .await
            .unwrap()
            .is_some_and(|r| r.status == RecordingStatus::Stored)
    })
    .await;
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    app.stop().await;
}

async fn a_typed_number_never_confirmed_is_forgotten_when_the_call_ends(db: Db) {
    let app = app_or_skip!(db);
    let mut call = app.report(None, STREET_LIGHTING).await;
    call.press("5587654321").await.unwrap();
    let sid = call_sid(&call);
    assert!(
        app.state
            .store
            .call(&sid)
            .await
            .unwrap()
            .unwrap()
            .pending_sms_number
            .is_some()
    );

    // The caller hangs up at the read-back, without confirming.
    call.hang_up(70).await.unwrap();

    let logged = app.state.store.call(&sid).await.unwrap().unwrap();
    assert_eq!(logged.pending_sms_number, None);
    assert_eq!(logged.outcome, Some(CallOutcome::Report));
    app.stop().await;
}

async fn sms_lookups_are_guarded_and_summaries_go_only_to_the_reporter(db: Db) {
    // Arrange: an attended case with the department's summary.
    let app = app_or_skip!(db);
    let (_, folio) = report(&app, Some(CALLER)).await;
    let case = app
        .state
        .store
        .case_by_folio(&atiende::domain::Folio::parse(&folio).unwrap())
        .await
        .unwrap()
        .unwrap();
    app.state
        .store
        .change_case_status(&atiende::store::StatusChange {
            case_id: case.id,
            expected: None,
            department_id: None,
            duplicate_of: None,
            to: atiende::domain::CaseStatus::Attended,
            closure_reason: None,
            action_summary: Some("Se cambio la luminaria frente al numero 20"),
            actor: "alumbrado",
            note: None,
            at: app.state.clock.now(),
        })
        .await
        .unwrap();

    // The reporter gets the summary; someone else gets the status only.
    assert!(
        app.text_in(CALLER, &folio)
            .await
            .1
            .contains("Se cambio la luminaria")
    );
    let other = "+525511112222";
    let reply = app.text_in(other, &folio).await.1;
    assert!(reply.contains("atendido"), "{reply}");
    assert!(!reply.contains("luminaria"), "{reply}");

    // Three failed lookups from one number, and lookups from it are refused for a while.
    let unknown = atiende::domain::Folio::from_sequence(90_000).to_string();
    for _ in 0..3 {
        app.text_in(other, &unknown).await;
    }
    let refused = app.text_in(other, &folio).await.1;
    assert_eq!(refused, app.text(Key::SmsStatusTooMany));
    // Others are not affected.
    assert!(app.text_in(CALLER, &folio).await.1.contains("atendido"));
    app.stop().await;
}

async fn a_screening_that_cannot_be_noted_hangs_up_the_staff_leg(db: Db) {
    // Arrange: a call being transferred; the database goes away while staff answer.
    let app = app_or_skip!(db);
    let parent = new_call_sid();
    let leg = new_call_sid();
    let leg_fields = |digits: Option<&str>| {
        let mut f = vec![
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", leg.as_str()),
            ("ParentCallSid", parent.as_str()),
            ("Direction", "outbound-dial"),
        ];
        if let Some(d) = digits {
            f.push(("Digits", d));
        }
        fields(&f)
    };
    app.state.store.close().await;

    // Act: staff press 1, which cannot be written; and a screening request without its parent.
    let (status, answer) =
        post_signed_raw(&app, "/twilio/voice/screen-answer", &leg_fields(Some("1"))).await;
    let (orphan_status, orphan) = post_signed_raw(
        &app,
        "/twilio/voice/screen",
        &fields(&[("AccountSid", ACCOUNT_SID), ("CallSid", leg.as_str())]),
    )
    .await;

    // Assert: the staff leg hangs up (the caller is then offered to leave a report), and staff
    // never hear the caller's apology or a <Record>.
    for (status, answer) in [(status, answer), (orphan_status, orphan)] {
        assert_eq!(status, 200, "{answer}");
        let r = twiml(&answer);
        assert!(!has_record(&r), "{answer}");
        assert!(
            matches!(r.verbs.as_slice(), [atiende::twiml::Verb::Hangup(_)]),
            "{answer}"
        );
    }
    app.stop().await;
}

async fn a_report_known_only_to_twilio_becomes_a_case_at_the_next_sweep(db: Db) {
    use atiende::sim::fake_api::MadeRecording;
    use atiende::store::FOUND_AT_TWILIO_NOTE;
    // Arrange: what Twilio lists. A report whose action and callback never reached us (twenty
    // minutes ago), one just made (its webhooks may still come), one we have, one to another
    // of the account's numbers, and a silent one.
    let app = app_or_skip!(db);
    let (known_call, known_folio) = report(&app, Some(CALLER)).await;
    let known = app
        .state
        .store
        .case_by_folio(&atiende::domain::Folio::parse(&known_folio).unwrap())
        .await
        .unwrap()
        .unwrap();
    let now = app.state.clock.now().as_utc();
    let made =
        |call: &str, recording: &str, seconds: u32, minutes_ago: i64, to: &str| MadeRecording {
            sid: recording.to_owned(),
            call_sid: call.to_owned(),
            seconds,
            created: now - chrono::TimeDelta::minutes(minutes_ago),
            from: Some("+525587654321".to_owned()),
            to: Some(to.to_owned()),
        };
    let lost = (new_call_sid(), new_recording_sid());
    app.api
        .add_made_recording(made(&lost.0, &lost.1, 25, 20, crate::helpers::OFFICE));
    app.api.add_made_recording(made(
        &new_call_sid(),
        &new_recording_sid(),
        25,
        2,
        crate::helpers::OFFICE,
    ));
    app.api.add_made_recording(made(
        &known_call,
        known.recording_sid.as_deref().unwrap(),
        30,
        30,
        crate::helpers::OFFICE,
    ));
    app.api.add_made_recording(made(
        &new_call_sid(),
        &new_recording_sid(),
        25,
        20,
        "+525511110000",
    ));
    app.api.add_made_recording(made(
        &new_call_sid(),
        &new_recording_sid(),
        1,
        20,
        crate::helpers::OFFICE,
    ));

    // Act: a sweep, and another (a second instance, the next round).
    let first = atiende::reconcile::sweep(&app.state).await.unwrap();
    let second = atiende::reconcile::sweep(&app.state).await.unwrap();

    // Assert: only the lost report became a case, once, found at Twilio, with its caller.
    assert_eq!((first.listed, first.cases, second.cases), (5, 1, 0));
    assert_eq!(app.state.store.count_cases().await.unwrap(), 2);
    let case = app
        .state
        .store
        .case_of_call(&atiende::domain::CallSid::parse(&lost.0).unwrap())
        .await
        .unwrap()
        .expect("the lost report is a case");
    assert_eq!(case.category_id, None);
    assert_eq!(case.sms_number.as_deref(), Some("+525587654321"));
    let history = app.state.store.case_history(case.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.note.as_deref() == Some(FOUND_AT_TWILIO_NOTE)),
        "{history:?}"
    );
    // Its recording is fetched and its folio sent, as for any case.
    let sid = RecordingSid::parse(&lost.1).unwrap();
    eventually("the recording is stored", || async {
        app.state
            .store
            .recording(&sid)
            .await
            .unwrap()
            .unwrap()
            .status
            == RecordingStatus::Stored
    })
    .await;
    eventually("the folio SMS is sent", || async {
        app.api.sms().iter().any(|m| {
            m.get("To") == Some("+525587654321")
                && m.get("Body").is_some_and(|b| b.contains(&case.folio))
        })
    })
    .await;
    app.stop().await;
}
