//! Making a report by phone, start to end.

use crate::helpers::{CALLER, Db, WATER, at_the_beep, fields};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CallOutcome, CallSid, CaseStatus, Channel, Folio, RecordingSid, Urgency};
use atiende::prompts::Key;
use atiende::sim::{RecordingEnd, Waiting};

on_both_databases!(
    a_report_in_every_category,
    hang_up_during_recording_still_makes_the_case,
    callbacks_in_either_order_and_repeated_make_one_case,
    nothing_recorded_retries_once_then_says_goodbye,
    the_action_without_recording_sid_takes_it_from_the_url,
    a_silent_recording_is_nothing_recorded_unless_the_caller_hung_up,
);

async fn a_report_in_every_category(db: Db) {
    let app = app_or_skip!(db);
    let expected = [
        ("1", "alumbrado", false),
        ("2", "seguridad", true),
        ("3", "agua", false),
        ("4", "proteccion_civil", true),
        ("5", "otro", false),
    ];
    for (digit, code, asks_urgency) in expected {
        // Arrange: a caller at the main menu.
        let mut call = app.call(Some(CALLER)).await;
        assert!(
            call.heard().contains("9 1 1"),
            "emergency guidance first: {}",
            call.heard()
        );
        assert!(
            call.heard().contains("Grabamos su reporte"),
            "recording notice: {}",
            call.heard()
        );

        // Act: 1 (report), the category, [urgency], record, hang up.
        call.press("1").await.unwrap();
        assert!(
            call.heard().contains("Para alumbrado público, marque 1."),
            "{}",
            call.heard()
        );
        call.press(digit).await.unwrap();
        if asks_urgency {
            assert!(
                call.heard().contains("riesgo inmediato"),
                "{code}: {}",
                call.heard()
            );
            call.press("1").await.unwrap();
        }
        assert_eq!(
            call.waiting(),
            Waiting::Recording,
            "{code}: {}",
            call.heard()
        );
        assert!(
            call.heard().contains("entre qué calles"),
            "{}",
            call.heard()
        );
        let recording = call.record(42, RecordingEnd::Key).await.unwrap();
        let heard = call.heard();
        call.press("").await.ok();
        call.hang_up(95).await.unwrap();

        // Assert: one case with everything the office needs, and the folio said twice.
        let sid = RecordingSid::parse(&recording.sid).unwrap();
        let call_sid = CallSid::parse(call.call_sid()).unwrap();
        let case = app.case_of(&call).await;
        let category = app.category_of(&case).await;
        assert_eq!(category.code, code);
        assert_eq!(case.department_id, Some(category.department_id));
        assert_eq!(case.recording_sid.as_deref(), Some(sid.as_str()));
        assert_eq!(case.recording_url.as_deref(), Some(recording.url.as_str()));
        assert_eq!(case.recording_duration_seconds, Some(42));
        assert_eq!(case.caller_number.as_deref(), Some(CALLER));
        assert_eq!(case.sms_number.as_deref(), Some(CALLER));
        assert_eq!(case.channel, Channel::Phone);
        assert_eq!(case.status, CaseStatus::Received);
        assert_eq!(
            case.urgency,
            if asks_urgency {
                Urgency::Urgent
            } else {
                Urgency::Unknown
            }
        );
        let folio = Folio::parse(&case.folio).expect("a valid folio");
        assert!(folio.as_str().len() <= 10);
        let spoken = atiende::voice::speech_digits(folio.as_str());
        assert_eq!(
            heard.matches(&spoken).count(),
            2,
            "folio said twice: {heard}"
        );
        assert!(
            heard.contains("mensaje de texto"),
            "SMS promised to a caller with a number: {heard}"
        );

        let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
        assert_eq!(logged.outcome, Some(CallOutcome::Report));
        assert_eq!(logged.duration_seconds, Some(95));
        assert_eq!(logged.from_number.as_deref(), Some(CALLER));
    }
    assert_eq!(app.state.store.count_cases().await.unwrap(), 5);
    app.stop().await;
}

async fn hang_up_during_recording_still_makes_the_case(db: Db) {
    let app = app_or_skip!(db);
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("3").await.unwrap();

    // The caller hangs up instead of pressing #: the action comes with Digits=hangup, then the
    // call ends, then (later) the recording callback.
    let recording = call.new_recording(20);
    call.send_record_action(&recording, RecordingEnd::Hangup)
        .await
        .unwrap();
    assert!(call.is_ended());
    call.hang_up(40).await.unwrap();
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();

    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let case = app.case_of(&call).await;
    assert_eq!(case.recording_sid.as_deref(), Some(recording.sid.as_str()));
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.outcome, Some(CallOutcome::Report), "not abandoned");
    app.stop().await;
}

async fn callbacks_in_either_order_and_repeated_make_one_case(db: Db) {
    let app = app_or_skip!(db);

    // Callback first (twice), then the action, then the callback again.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("1").await.unwrap();
    let recording = call.new_recording(15);
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    let made_by_callback = app.case_of(&call).await;
    call.send_record_action(&recording, RecordingEnd::Key)
        .await
        .unwrap();
    let spoken = atiende::voice::speech_digits(&made_by_callback.folio);
    assert!(
        call.heard().contains(&spoken),
        "the action speaks the same folio: {}",
        call.heard()
    );
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);

    // Action first, then the callback twice, on another call.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("5").await.unwrap();
    let recording = call.new_recording(15);
    call.send_record_action(&recording, RecordingEnd::Key)
        .await
        .unwrap();
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    assert_eq!(app.state.store.count_cases().await.unwrap(), 2);

    // Concurrent duplicates: the action and two callbacks at the same time.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("3").await.unwrap();
    let recording = call.new_recording(15);
    let (a, b, c) = tokio::join!(
        call.send_recording_status(&recording, "completed"),
        call.send_recording_status(&recording, "completed"),
        call.send_recording_status(&recording, "completed"),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert_eq!(app.state.store.count_cases().await.unwrap(), 3);
    app.stop().await;
}

async fn nothing_recorded_retries_once_then_says_goodbye(db: Db) {
    let app = app_or_skip!(db);
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("1").await.unwrap();
    call.record_nothing().await.unwrap();
    assert!(
        call.heard().contains("No escuchamos su mensaje"),
        "{}",
        call.heard()
    );
    assert_eq!(call.waiting(), Waiting::Recording);
    call.record_nothing().await.unwrap();
    assert!(call.heard().contains("llame de nuevo"), "{}", call.heard());
    assert_eq!(call.waiting(), Waiting::Ended);
    call.hang_up(60).await.unwrap();

    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    assert_eq!(app.state.store.count_cases().await.unwrap(), 0);
    let steps = app.state.store.call_steps(&call_sid).await.unwrap();
    let nothing: Vec<_> = steps
        .iter()
        .filter(|(s, _)| s == "nothing_recorded")
        .collect();
    assert_eq!(nothing.len(), 2, "{steps:?}");
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.outcome, Some(CallOutcome::Abandoned));
    assert_eq!(logged.last_step, "nothing_recorded");
    app.stop().await;
}

async fn the_action_without_recording_sid_takes_it_from_the_url(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a caller at the beep, and the action request as Twilio documents it: the URL,
    // the duration and the digits, no RecordingSid.
    let call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let recording = call.new_recording(20);
    let action = call.action().expect("the <Record> action").to_owned();
    let duration = recording.duration_seconds.to_string();
    let params = fields(&[
        ("AccountSid", app.caller.account_sid.as_str()),
        ("CallSid", call.call_sid()),
        ("From", CALLER),
        ("CallStatus", "in-progress"),
        ("RecordingUrl", recording.url.as_str()),
        ("RecordingDuration", duration.as_str()),
        ("Digits", "#"),
    ]);

    // Act
    let (status, answer) = app.caller.post(&action, &params).await.unwrap();

    // Assert: the case is made, with the SID from the URL's last segment; the folio is said.
    assert_eq!(status, 200, "{answer}");
    let case = app.case_of(&call).await;
    assert_eq!(case.recording_sid.as_deref(), Some(recording.sid.as_str()));
    assert_eq!(case.recording_url.as_deref(), Some(recording.url.as_str()));
    assert!(
        answer.contains(&atiende::voice::speech_digits(&case.folio)),
        "{answer}"
    );
    // The status callback (which carries the SID) finds the same case.
    call.send_recording_status(&recording, "completed")
        .await
        .unwrap();
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    app.stop().await;
}

async fn a_silent_recording_is_nothing_recorded_unless_the_caller_hung_up(db: Db) {
    let app = app_or_skip!(db);
    let retry = app.text(Key::NothingRecordedRetry);
    for (seconds, callback_first) in [(1, false), (1, true), (0, true)] {
        // Arrange: a caller at the beep; Twilio kept a silent recording of 0 or 1 seconds and
        // the caller is still on the line (# or the silence time-out ended it).
        let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
        let recording = call.new_recording(seconds);

        // Act: the action and the status callback, in either order.
        if callback_first {
            call.send_recording_status(&recording, "completed")
                .await
                .unwrap();
        }
        call.send_record_action(&recording, RecordingEnd::Key)
            .await
            .unwrap();
        let heard = call.heard();
        if !callback_first {
            call.send_recording_status(&recording, "completed")
                .await
                .unwrap();
        }

        // Assert: "we did not hear you", another <Record>, no case.
        let what = format!("{seconds} s, callback first: {callback_first}");
        assert!(heard.contains(&retry), "{what}: {heard}");
        assert_eq!(call.waiting(), Waiting::Recording, "{what}");
        assert_eq!(app.state.store.count_cases().await.unwrap(), 0, "{what}");
        assert_eq!(
            app.step_details(&call, "nothing_recorded").await,
            vec!["retry".to_owned()],
            "{what}"
        );
    }

    for callback_first in [false, true] {
        // Arrange: a caller who says a word and hangs up: a 1-second recording.
        let mut call = at_the_beep(&app.caller, Some(CALLER), WATER).await;
        let recording = call.new_recording(1);

        // Act: the action (Digits=hangup) and the callback, in either order.
        if callback_first {
            call.send_recording_status(&recording, "completed")
                .await
                .unwrap();
        }
        call.send_record_action(&recording, RecordingEnd::Hangup)
            .await
            .unwrap();
        call.send_recording_status(&recording, "completed")
            .await
            .unwrap();
        call.hang_up(30).await.unwrap();

        // Assert: someone spoke; the case is made, once.
        let case = app.case_of(&call).await;
        assert_eq!(
            case.recording_sid.as_deref(),
            Some(recording.sid.as_str()),
            "callback first: {callback_first}"
        );
        assert_eq!(case.recording_duration_seconds, Some(1));
    }
    assert_eq!(app.state.store.count_cases().await.unwrap(), 2);
    app.stop().await;
}
