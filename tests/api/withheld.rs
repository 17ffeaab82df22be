//! Callers without caller ID: they report like anyone else, are never promised an SMS they
//! cannot get, and may type a mobile number for it, which is read back and confirmed.

use crate::helpers::{CALLER, Db, STREET_LIGHTING, WATER, call_sid};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CallOutcome, CallSid, CaseEventKind};
use atiende::prompts::Key;
use atiende::sim::{Waiting, random_hex};
use atiende::twiml::{Response, Verb};
use atiende::voice::speech_digits;

on_both_databases!(
    withheld_callers_report_and_confirm_a_number_for_the_sms,
    the_number_can_be_typed_again_and_wrong_numbers_are_refused,
    three_wrong_numbers_say_goodbye_without_a_number,
    skipping_the_number_entry_promises_nothing,
    withheld_callers_hear_no_open_case,
    a_number_typed_on_the_apology_path_is_kept,
    a_leading_52_044_or_045_is_dropped_from_the_typed_number,
);

/// The ways a withheld caller ID reaches us in `From`.
const WITHHELD: &[Option<&str>] = &[None, Some("+266696687"), Some("restricted"), Some("")];

/// The number typed in these tests, and its E.164 form.
const TYPED: &str = "5587654321";
const TYPED_E164: &str = "+525587654321";

async fn withheld_callers_report_and_confirm_a_number_for_the_sms(db: Db) {
    let app = app_or_skip!(db);
    for from in WITHHELD {
        // Arrange: a withheld caller makes a report.
        let mut call = app.report(*from, STREET_LIGHTING).await;

        // The folio is said, no SMS is promised, the number entry is offered.
        let case = app.case_of(&call).await;
        let heard = call.heard();
        assert_eq!(
            heard.matches(&speech_digits(&case.folio)).count(),
            2,
            "{from:?}: folio said twice: {heard}"
        );
        assert!(
            !heard.contains(&app.text(Key::FolioSms)),
            "{from:?}: no SMS promised: {heard}"
        );
        app.assert_at_number_entry(&call);
        assert_eq!(case.caller_number, None, "{from:?}");
        assert_eq!(case.sms_number, None, "{from:?}");

        // Act: ten digits, read back in groups; 1 confirms.
        call.press(TYPED).await.unwrap();
        let readback = app.text_with(Key::NumberReadback, &[("number", &speech_digits(TYPED))]);
        assert!(
            call.heard().contains(&readback),
            "{from:?}: {}",
            call.heard()
        );
        assert!(
            call.heard().contains("5 5 8, 7 6 5, 4 3, 2 1"),
            "{from:?}: {}",
            call.heard()
        );
        let pending = app
            .state
            .store
            .call(&call_sid(&call))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pending.pending_sms_number.as_deref(), Some(TYPED_E164));
        call.press("1").await.unwrap();

        // Assert: confirmed with the last four digits, goodbye, and the case has the number.
        let confirmed = app.text_with(
            Key::NumberConfirmed,
            &[("last_four", &speech_digits("4321"))],
        );
        assert!(
            call.heard().contains(&confirmed),
            "{from:?}: {}",
            call.heard()
        );
        assert!(
            call.heard().contains(&app.text(Key::ReportGoodbye)),
            "{from:?}: {}",
            call.heard()
        );
        assert_eq!(call.waiting(), Waiting::Ended, "{from:?}");
        call.hang_up(120).await.unwrap();

        let case = app.case_of(&call).await;
        assert_eq!(case.sms_number.as_deref(), Some(TYPED_E164), "{from:?}");
        assert_eq!(case.caller_number, None, "{from:?}");
        let history = app.state.store.case_history(case.id).await.unwrap();
        assert!(
            history.iter().any(|e| e.kind == CaseEventKind::SmsNumber),
            "{from:?}: {history:?}"
        );
        let logged = app
            .state
            .store
            .call(&call_sid(&call))
            .await
            .unwrap()
            .unwrap();
        assert!(logged.caller_withheld, "{from:?}");
        assert_eq!(logged.from_number, None, "{from:?}");
        assert_eq!(logged.pending_sms_number, None, "{from:?}");
        assert_eq!(logged.outcome, Some(CallOutcome::Report), "{from:?}");
    }
    assert_eq!(
        app.state.store.count_cases().await.unwrap(),
        WITHHELD.len() as i64
    );
    app.stop().await;
}

async fn the_number_can_be_typed_again_and_wrong_numbers_are_refused(db: Db) {
    let app = app_or_skip!(db);
    let mut call = app.report(None, STREET_LIGHTING).await;
    app.assert_at_number_entry(&call);

    // 2 at the read-back: type it again.
    call.press(TYPED).await.unwrap();
    assert!(
        call.heard().contains(&speech_digits(TYPED)),
        "{}",
        call.heard()
    );
    call.press("2").await.unwrap();
    app.assert_at_number_entry(&call);
    let logged = app
        .state
        .store
        .call(&call_sid(&call))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(logged.pending_sms_number, None);

    // A short number, ended with #: refused, asked again.
    call.press("123#").await.unwrap();
    assert!(
        call.heard().contains(&app.text(Key::NumberInvalid)),
        "{}",
        call.heard()
    );
    app.assert_at_number_entry(&call);

    // The right number this time (a "#" before it ends nothing: Twilio's finishOnKey needs a
    // key before it), confirmed.
    call.press(&format!("#{}", CALLER.trim_start_matches("+52")))
        .await
        .unwrap();
    assert!(
        call.heard()
            .contains(&speech_digits(CALLER.trim_start_matches("+52"))),
        "{}",
        call.heard()
    );
    call.press("1").await.unwrap();
    assert!(
        call.heard().contains(&speech_digits("5678")),
        "{}",
        call.heard()
    );
    assert_eq!(call.waiting(), Waiting::Ended);
    let case = app.case_of(&call).await;
    assert_eq!(case.sms_number.as_deref(), Some(CALLER));
    assert_eq!(case.caller_number, None);
    app.stop().await;
}

async fn three_wrong_numbers_say_goodbye_without_a_number(db: Db) {
    let app = app_or_skip!(db);
    let mut call = app.report(Some("+266696687"), STREET_LIGHTING).await;
    let invalid = app.text(Key::NumberInvalid);

    // Two wrong numbers: refused, asked again.
    for wrong in ["123#", "0123456789"] {
        call.press(wrong).await.unwrap();
        assert!(call.heard().contains(&invalid), "{wrong}: {}", call.heard());
        app.assert_at_number_entry(&call);
    }

    // The third: goodbye.
    call.press("1987654321").await.unwrap();
    assert!(
        call.heard().contains(&app.text(Key::ReportGoodbye)),
        "{}",
        call.heard()
    );
    assert!(
        !call.heard().contains(&app.text(Key::NumberEntry)),
        "{}",
        call.heard()
    );
    assert_eq!(call.waiting(), Waiting::Ended);
    call.hang_up(90).await.unwrap();

    let case = app.case_of(&call).await;
    assert_eq!(case.sms_number, None);
    let history = app.state.store.case_history(case.id).await.unwrap();
    assert!(
        !history.iter().any(|e| e.kind == CaseEventKind::SmsNumber),
        "{history:?}"
    );
    app.stop().await;
}

async fn skipping_the_number_entry_promises_nothing(db: Db) {
    let app = app_or_skip!(db);
    // The prompt tells how to skip: "*" then "#" (Twilio sends "*" at once), or "*" alone (sent
    // at the time-out). "#" alone is silence to Twilio (finishOnKey needs a key before it), and
    // silence skips too.
    assert!(
        app.text(Key::NumberEntry)
            .contains("marque asterisco y después la tecla de gato"),
        "{}",
        app.text(Key::NumberEntry)
    );
    for skip in ["*#", "*", "#", "silence"] {
        // Arrange: a withheld caller at the number entry.
        let mut call = app.report(Some("restricted"), STREET_LIGHTING).await;
        app.assert_at_number_entry(&call);

        // Act: the skip key, "#" alone, or nothing at all.
        if skip == "silence" {
            call.silence().await.unwrap();
        } else {
            call.press(skip).await.unwrap();
        }

        // Assert: goodbye with no promise of an SMS, no number kept.
        let heard = call.heard();
        assert!(
            heard.contains(&app.text(Key::ReportGoodbye)),
            "{skip}: {heard}"
        );
        assert!(!heard.contains("mensaje de texto"), "{skip}: {heard}");
        assert!(
            !heard.contains(&app.text(Key::NumberInvalid)),
            "{skip}: {heard}"
        );
        assert_eq!(call.waiting(), Waiting::Ended, "{skip}");
        assert_eq!(
            app.step_details(&call, "sms_number").await,
            vec!["skipped".to_owned()],
            "{skip}"
        );
        call.hang_up(70).await.unwrap();
        let case = app.case_of(&call).await;
        assert_eq!(case.sms_number, None, "{skip}");
        assert_eq!(case.caller_number, None, "{skip}");
    }
    app.stop().await;
}

async fn withheld_callers_hear_no_open_case(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: open cases from a known caller and from withheld callers (one with a number
    // typed for the SMS).
    let known_folio = app.report_and_hang_up(Some(CALLER), WATER).await.folio;
    let again = app.call(Some(CALLER)).await;
    assert!(
        again.heard().contains("Tiene un reporte abierto"),
        "the known caller hears the open case: {}",
        again.heard()
    );
    for from in WITHHELD {
        let mut call = app.report(*from, STREET_LIGHTING).await;
        call.press(CALLER.trim_start_matches("+52")).await.unwrap();
        call.press("1").await.unwrap();
        call.hang_up(60).await.unwrap();
    }

    for from in WITHHELD {
        // Act: a withheld caller calls.
        let call = app.call(*from).await;

        // Assert: the greeting and the menu, no case mentioned.
        let heard = call.heard();
        assert!(
            heard.contains(&app.text(Key::MainMenu)),
            "{from:?}: {heard}"
        );
        assert!(
            !heard.contains("Tiene un reporte abierto"),
            "{from:?}: {heard}"
        );
        assert!(
            !heard.contains(&speech_digits(&known_folio)),
            "{from:?}: {heard}"
        );
    }
    app.stop().await;
}

/// The action of the first `<Gather>` of a TwiML answer.
fn gather_action(xml: &str) -> String {
    let r = Response::parse(xml).unwrap_or_else(|e| panic!("invalid TwiML ({e}): {xml}"));
    r.verbs
        .iter()
        .find_map(|v| match v {
            Verb::Gather(g) => g.action.clone(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no <Gather>: {xml}"))
}

async fn a_number_typed_on_the_apology_path_is_kept(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a withheld caller whose greeting could not be logged (a transient database
    // failure: the call has no row yet) was answered with the apology, and recorded.
    let sid = format!("CA{}", random_hex());
    let base = [("CallSid", sid.as_str()), ("From", "anonymous")];
    let post = |url: String, extra: Vec<(&'static str, String)>| {
        let mut params: Vec<(String, String)> = base
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        params.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let caller = app.caller.clone();
        async move {
            let (status, body) = caller.post(&url, &params).await.unwrap();
            assert_eq!(status, 200, "{url}: {body}");
            body
        }
    };
    let recorded = post(
        format!("{}/twilio/voice/recorded?t=1&f=1", app.base),
        vec![
            ("RecordingSid", format!("RE{}", random_hex())),
            ("RecordingUrl", "https://api.twilio.com/r".to_owned()),
            ("RecordingDuration", "25".to_owned()),
            ("Digits", "#".to_owned()),
        ],
    )
    .await;
    assert!(
        recorded.contains("marque su celular y la tecla de gato"),
        "{recorded}"
    );

    // Act: the caller types a number and confirms it, following the answers' own URLs.
    let readback = post(gather_action(&recorded), vec![("Digits", TYPED.to_owned())]).await;
    assert!(readback.contains(&speech_digits(TYPED)), "{readback}");
    let confirmed = post(gather_action(&readback), vec![("Digits", "1".to_owned())]).await;

    // Assert: confirmed, and kept on the case.
    let expected = app.text_with(
        Key::NumberConfirmed,
        &[("last_four", &speech_digits("4321"))],
    );
    assert!(confirmed.contains(&expected), "{confirmed}");
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    let case = app
        .state
        .store
        .case_of_call(&CallSid::parse(&sid).unwrap())
        .await
        .unwrap()
        .expect("the case of the call");
    assert_eq!(case.sms_number.as_deref(), Some(TYPED_E164));
    assert_eq!(case.caller_number, None);
    app.stop().await;
}

async fn a_leading_52_044_or_045_is_dropped_from_the_typed_number(db: Db) {
    let app = app_or_skip!(db);
    for (prefix, end) in [("52", ""), ("044", "#"), ("045", "")] {
        // Arrange: a withheld caller at the number entry.
        let mut call = app.report(None, STREET_LIGHTING).await;
        app.assert_at_number_entry(&call);

        // Act: the number with a prefix out of habit, then 1 to confirm it.
        call.press(&format!("{prefix}{TYPED}{end}")).await.unwrap();
        let heard = call.heard();
        assert!(
            heard.contains(
                &app.text_with(Key::NumberReadback, &[("number", &speech_digits(TYPED))])
            ),
            "{prefix}: {heard}"
        );
        call.press("1").await.unwrap();

        // Assert: the ten digits, as a Mexican mobile.
        assert_eq!(call.waiting(), Waiting::Ended, "{prefix}");
        let case = app.case_of(&call).await;
        assert_eq!(case.sms_number.as_deref(), Some(TYPED_E164), "{prefix}");
        call.hang_up(90).await.unwrap();
    }
    app.stop().await;
}
