//! Making a report by phone, start to end.

use crate::helpers::{CALLER, Db};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CallOutcome, CallSid, CaseStatus, Channel, Folio, RecordingSid, Urgency};
use atiende::sim::{RecordingEnd, Waiting};

on_both_databases!(
    a_report_in_every_category,
    hang_up_during_recording_still_makes_the_case,
    callbacks_in_either_order_and_repeated_make_one_case,
    nothing_recorded_retries_once_then_says_goodbye,
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
            call.heard().contains("se graba"),
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
            assert!(call.heard().contains("9 1 1"), "{code}: {}", call.heard());
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
