//! The main menu, the category and urgency menus, the transfer to staff, and abandoned calls.

use crate::helpers::{CALLER, Db, Options, weekend_now};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CallOutcome, CallSid, CaseStatus, RecordingSid, Urgency};
use atiende::sim::{RecordingEnd, Waiting};

const TRANSFER_NUMBER: &str = "+525511112222";
const MAIN_MENU: &str = "Para reportar, marque 1. Consultar un folio, 2.";
const CATEGORY_MENU: &str = "Para alumbrado público, marque 1.";
const URGENCY_QUESTION: &str = "Si hay riesgo inmediato, marque 1. Si no, 2.";
const RECORD_INSTRUCTIONS: &str = "Después del tono, díganos qué pasa, dónde y entre qué calles.";
const CFE_ADVICE: &str = "Para cables de la CFE, llame al 0 7 1.";
const NAVIGATION: &str = "Para repetir, marque 9. Para regresar, asterisco.";
const TOO_MANY_FAILURES: &str =
    "No recibimos una opción válida. Por favor, llame de nuevo cuando pueda. Hasta luego.";

on_both_databases!(
    invalid_keys_and_silence_at_the_main_menu_then_goodbye,
    main_menu_failures_count_only_in_a_row,
    the_category_menu_repeats_goes_back_and_rejects_invalid_keys,
    only_security_and_civil_protection_ask_the_urgency,
    not_urgent_is_kept_on_the_case,
    three_silences_at_the_urgency_question_still_take_the_report,
    transfer_to_staff_in_office_hours,
    outside_office_hours_zero_says_the_hours,
    without_a_transfer_number_zero_is_invalid,
    hanging_up_without_doing_anything_is_abandoned,
);

async fn invalid_keys_and_silence_at_the_main_menu_then_goodbye(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let mut call = app.call(Some(CALLER)).await;
    assert!(call.heard().contains(MAIN_MENU), "{}", call.heard());

    // Act / Assert: a wrong key.
    call.press("7").await.unwrap();
    assert!(
        call.heard().starts_with("Esa opción no es válida."),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains(MAIN_MENU), "{}", call.heard());
    assert!(matches!(call.waiting(), Waiting::Keys { .. }));

    // Act / Assert: silence.
    call.silence().await.unwrap();
    assert!(
        call.heard().starts_with("No recibimos ninguna opción."),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains(MAIN_MENU), "{}", call.heard());
    assert!(matches!(call.waiting(), Waiting::Keys { .. }));

    // Act / Assert: the third failure in a row says goodbye and hangs up.
    call.press("8").await.unwrap();
    assert!(call.heard().contains(TOO_MANY_FAILURES), "{}", call.heard());
    assert!(!call.heard().contains(MAIN_MENU), "{}", call.heard());
    assert_eq!(call.waiting(), Waiting::Ended);

    let details = app.step_details(&call, "main_menu").await;
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(
        details[0].contains('7') && details[0].contains("invalid"),
        "{details:?}"
    );
    assert!(details[1].contains("silence"), "{details:?}");
    assert!(
        details[2].contains('8') && details[2].contains("too many failures"),
        "{details:?}"
    );
    app.stop().await;
}

async fn main_menu_failures_count_only_in_a_row(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: two failures, then a good choice and back with *.
    let mut call = app.call(Some(CALLER)).await;
    call.press("7").await.unwrap();
    call.silence().await.unwrap();
    call.press("1").await.unwrap();
    assert!(call.heard().contains(CATEGORY_MENU), "{}", call.heard());
    call.press("*").await.unwrap();
    assert!(call.heard().contains(MAIN_MENU), "{}", call.heard());

    // Act: one more failure.
    call.press("7").await.unwrap();

    // Assert: the count started again: the menu, not the goodbye.
    assert!(
        call.heard().contains("Esa opción no es válida."),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains(MAIN_MENU), "{}", call.heard());
    assert!(!call.heard().contains(TOO_MANY_FAILURES));
    assert!(matches!(call.waiting(), Waiting::Keys { .. }));
    app.stop().await;
}

async fn the_category_menu_repeats_goes_back_and_rejects_invalid_keys(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    let menu = call.heard();
    // The first option in full, the others tersely; 9 and * are told when the menu is heard
    // again, not the first time.
    assert_eq!(
        menu,
        "Para alumbrado público, marque 1. Seguridad pública, 2. Agua potable, 3. \
         Protección civil, 4. Otro reporte, 5."
    );
    assert!(!menu.contains(NAVIGATION), "{menu}");

    // Act / Assert: 9 repeats the menu, without complaint, and says how to repeat and go back.
    call.press("9").await.unwrap();
    assert_eq!(call.heard(), format!("{menu} {NAVIGATION}"));
    let menu = call.heard();

    // Act / Assert: a key no category has is invalid, and the menu is said again.
    call.press("7").await.unwrap();
    assert!(
        call.heard().starts_with("Esa opción no es válida."),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains(&menu), "{}", call.heard());

    // Act / Assert: * goes back to the main menu.
    call.press("*").await.unwrap();
    assert!(call.heard().contains(MAIN_MENU), "{}", call.heard());
    assert!(!call.heard().contains(CATEGORY_MENU), "{}", call.heard());
    call.press("1").await.unwrap();
    assert!(call.heard().contains(CATEGORY_MENU), "{}", call.heard());

    let details = app.step_details(&call, "category_menu").await;
    assert_eq!(
        details,
        ["9: repeat", "7: invalid", "*: back to main menu"],
        "{details:?}"
    );
    assert_eq!(app.state.store.count_cases().await.unwrap(), 0);
    app.stop().await;
}

async fn only_security_and_civil_protection_ask_the_urgency(db: Db) {
    let app = app_or_skip!(db);
    for (digit, asks_urgency) in [
        ("1", false),
        ("2", true),
        ("3", false),
        ("4", true),
        ("5", false),
    ] {
        // Arrange
        let mut call = app.call(Some(CALLER)).await;
        call.press("1").await.unwrap();

        // Act
        call.press(digit).await.unwrap();

        // Assert
        let heard = call.heard();
        if asks_urgency {
            assert!(heard.contains(URGENCY_QUESTION), "{digit}: {heard}");
            assert!(!heard.contains(RECORD_INSTRUCTIONS), "{digit}: {heard}");
            assert_eq!(
                call.waiting(),
                Waiting::Keys {
                    num_digits: Some(1),
                    finish_on_key: "#".into(),
                    speech: false
                },
                "{digit}"
            );
        } else {
            assert!(heard.contains(RECORD_INSTRUCTIONS), "{digit}: {heard}");
            // Where to report the CFE's cables: after choosing street lighting, and only then.
            assert_eq!(
                heard.starts_with(&format!("{CFE_ADVICE} {RECORD_INSTRUCTIONS}")),
                digit == "1",
                "{digit}: {heard}"
            );
            assert!(!heard.contains(URGENCY_QUESTION), "{digit}: {heard}");
            assert_eq!(call.waiting(), Waiting::Recording, "{digit}");
        }
    }
    app.stop().await;
}

async fn not_urgent_is_kept_on_the_case(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: security (2), at the urgency question.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("2").await.unwrap();
    assert!(call.heard().contains(URGENCY_QUESTION), "{}", call.heard());

    // Act: 2, no immediate risk; then the recording.
    call.press("2").await.unwrap();
    assert!(
        call.heard().contains(RECORD_INSTRUCTIONS),
        "{}",
        call.heard()
    );
    assert_eq!(call.waiting(), Waiting::Recording);
    let recording = call.record(25, RecordingEnd::Key).await.unwrap();

    // Assert
    let case = app.case_of(&call).await;
    assert_eq!(case.urgency, Urgency::NotUrgent);
    assert_eq!(
        case.recording_sid.as_deref(),
        Some(RecordingSid::parse(&recording.sid).unwrap().as_str())
    );
    let category = app.category_of(&case).await;
    assert_eq!(category.code, "seguridad");
    app.stop().await;
}

async fn three_silences_at_the_urgency_question_still_take_the_report(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: civil protection (4), at the urgency question.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.press("4").await.unwrap();
    assert!(call.heard().contains(URGENCY_QUESTION), "{}", call.heard());

    // Act / Assert: two silences repeat the question.
    for _ in 0..2 {
        call.silence().await.unwrap();
        assert!(
            call.heard().starts_with("No recibimos ninguna opción."),
            "{}",
            call.heard()
        );
        assert!(call.heard().contains(URGENCY_QUESTION), "{}", call.heard());
    }

    // Act: the third silence.
    call.silence().await.unwrap();

    // Assert: no goodbye; the report is recorded anyway, with the urgency unknown.
    assert!(
        call.heard().contains(RECORD_INSTRUCTIONS),
        "{}",
        call.heard()
    );
    assert!(!call.heard().contains("Hasta luego"), "{}", call.heard());
    assert_eq!(call.waiting(), Waiting::Recording);
    call.record(40, RecordingEnd::Key).await.unwrap();
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let case = app.case_of(&call).await;
    assert_eq!(case.urgency, Urgency::Unknown);
    assert_eq!(case.status, CaseStatus::Received);
    let category = app.category_of(&case).await;
    assert_eq!(category.code, "proteccion_civil");
    let urgency: Vec<String> = app
        .state
        .store
        .call_steps(&call_sid)
        .await
        .unwrap()
        .into_iter()
        .filter(|(step, _)| step == "urgency")
        .map(|(_, detail)| detail.unwrap_or_default())
        .collect();
    assert_eq!(
        urgency,
        ["silence", "silence", "no answer, recording anyway"]
    );
    app.stop().await;
}

async fn transfer_to_staff_in_office_hours(db: Db) {
    let app = app_or_skip!(
        db,
        Options::default().with("ATIENDE_TRANSFER_NUMBER", TRANSFER_NUMBER)
    );
    // Arrange: the default clock is inside office hours.
    let mut call = app.call(Some(CALLER)).await;
    assert!(
        call.heard()
            .contains("Consultar un folio, 2. Hablar con personal, 0."),
        "{}",
        call.heard()
    );

    // Act: 0.
    call.press("0").await.unwrap();

    // Assert: the transfer.
    assert!(
        call.heard()
            .contains("Le comunicamos con una persona de la oficina."),
        "{}",
        call.heard()
    );
    assert_eq!(
        call.waiting(),
        Waiting::Transfer(TRANSFER_NUMBER.to_owned())
    );

    // Act: nobody answers.
    call.transfer_result("no-answer").await.unwrap();

    // Assert: the caller may leave a report instead.
    assert!(
        call.heard().contains("nadie pudo atenderle"),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains(CATEGORY_MENU), "{}", call.heard());
    assert!(matches!(call.waiting(), Waiting::Keys { .. }));
    call.hang_up(50).await.unwrap();
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert!(!logged.transferred);
    assert_eq!(
        logged.outcome,
        Some(CallOutcome::Abandoned),
        "nobody talked to the caller"
    );

    // Act: another call, answered by a voicemail box: Twilio says `completed`, but nobody
    // pressed the key at the screening.
    let mut call = app.call(Some(CALLER)).await;
    call.press("0").await.unwrap();
    let voicemail_heard = call.answer_transfer(None).await.unwrap();

    // Assert: the voicemail heard the screening; the caller is offered to leave a report, and
    // the call is not a transfer.
    assert!(
        voicemail_heard.contains("Llamada de la línea ciudadana, marque 1 para tomarla."),
        "{voicemail_heard}"
    );
    assert!(
        call.heard().contains("nadie pudo atenderle"),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains(CATEGORY_MENU), "{}", call.heard());
    call.hang_up(40).await.unwrap();
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert!(!logged.transferred);
    assert_eq!(logged.outcome, Some(CallOutcome::Abandoned));
    let steps = app.state.store.call_steps(&call_sid).await.unwrap();
    assert!(
        steps.iter().any(|(s, d)| s == "transfer_done"
            && d.as_deref() == Some("completed, not taken (no key at the screening)")),
        "{steps:?}"
    );

    // Act: staff answer and press 2 (not now): declined, the same for the caller.
    let mut call = app.call(Some(CALLER)).await;
    call.press("0").await.unwrap();
    call.answer_transfer(Some("2")).await.unwrap();
    assert!(
        call.heard().contains("nadie pudo atenderle"),
        "{}",
        call.heard()
    );
    call.hang_up(30).await.unwrap();

    // Act: another call, answered by staff who press 1.
    let mut call = app.call(Some(CALLER)).await;
    call.press("0").await.unwrap();
    let staff_heard = call.answer_transfer(Some("1")).await.unwrap();

    // Assert: the call is over, logged as transferred.
    assert!(
        staff_heard.contains("marque 1 para tomarla"),
        "{staff_heard}"
    );
    assert_eq!(call.waiting(), Waiting::Ended);
    call.hang_up(240).await.unwrap();
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert!(logged.transferred);
    assert_eq!(logged.outcome, Some(CallOutcome::Transferred));
    let steps = app.state.store.call_steps(&call_sid).await.unwrap();
    assert!(
        steps
            .iter()
            .any(|(s, d)| s == "main_menu" && d.as_deref() == Some("0: transfer")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|(s, d)| s == "transfer_screen" && d.as_deref() == Some("1: taken")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|(s, d)| s == "transfer_done" && d.as_deref() == Some("completed, taken by staff")),
        "{steps:?}"
    );
    app.stop().await;
}

async fn outside_office_hours_zero_says_the_hours(db: Db) {
    let app = app_or_skip!(
        db,
        Options {
            clock: weekend_now(),
            ..Default::default()
        }
        .with("ATIENDE_TRANSFER_NUMBER", TRANSFER_NUMBER)
    );
    // Arrange: Saturday.
    let mut call = app.call(Some(CALLER)).await;
    assert!(call.heard().contains(MAIN_MENU), "{}", call.heard());
    assert!(!call.heard().contains("marque 0"), "{}", call.heard());

    // Act
    call.press("0").await.unwrap();

    // Assert: the hours, and the menu again; no transfer.
    let heard = call.heard();
    assert!(
        heard.contains("En este momento no hay personal disponible."),
        "{heard}"
    );
    assert!(
        heard.contains("de lunes a viernes, de 9 a 15 horas"),
        "{heard}"
    );
    assert!(heard.contains(MAIN_MENU), "{heard}");
    assert!(!heard.contains("marque 0"), "{heard}");
    assert!(!heard.contains("Esa opción no es válida"), "{heard}");
    assert!(matches!(call.waiting(), Waiting::Keys { .. }));
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let steps = app.state.store.call_steps(&call_sid).await.unwrap();
    assert!(
        steps
            .iter()
            .any(|(s, d)| s == "main_menu" && d.as_deref() == Some("0: outside office hours")),
        "{steps:?}"
    );
    app.stop().await;
}

async fn without_a_transfer_number_zero_is_invalid(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: no ATIENDE_TRANSFER_NUMBER, inside office hours.
    let mut call = app.call(Some(CALLER)).await;
    assert!(!call.heard().contains("marque 0"), "{}", call.heard());

    // Act
    call.press("0").await.unwrap();

    // Assert
    assert!(
        call.heard().starts_with("Esa opción no es válida."),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains(MAIN_MENU), "{}", call.heard());
    assert!(!call.heard().contains("Le comunicamos"), "{}", call.heard());
    assert!(matches!(call.waiting(), Waiting::Keys { .. }));
    app.stop().await;
}

async fn hanging_up_without_doing_anything_is_abandoned(db: Db) {
    let app = app_or_skip!(db);
    // Arrange / Act: a caller hangs up during the main menu.
    let mut call = app.call(Some(CALLER)).await;
    call.hang_up(12).await.unwrap();

    // Assert: abandoned at the greeting, the step the caller stopped at.
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.outcome, Some(CallOutcome::Abandoned));
    assert_eq!(
        logged.last_step, "incoming",
        "the status callback is no step"
    );
    assert_eq!(logged.status.as_deref(), Some("completed"));
    assert_eq!(logged.duration_seconds, Some(12));
    assert!(logged.ended_at.is_some());
    assert!(!logged.made_report && !logged.found_case && !logged.transferred);

    // Arrange / Act: another caller chooses "report" and hangs up at the category menu.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    call.hang_up(20).await.unwrap();

    // Assert: abandoned where they stopped.
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.outcome, Some(CallOutcome::Abandoned));
    assert_eq!(logged.last_step, "main_menu");
    assert_eq!(app.state.store.count_cases().await.unwrap(), 0);
    app.stop().await;
}
