//! Asking for a report's status by folio on the phone line, and the guard against guessing.

use crate::helpers::{CALLER, Db, STREET_LIGHTING, TestApp, office_hours_now};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CallOutcome, CallSid, CaseStatus, ClosureReason, Folio, Timestamp};
use atiende::prompts::Key;
use atiende::sim::{RecordingEnd, SimCall, Waiting};
use atiende::store::{CaseRecord, StatusChange};
use atiende::voice::speech_digits;
use chrono::Duration;

/// Another Mexican mobile number: someone who holds a folio but did not make the report.
const OTHER: &str = "+525587654321";

on_both_databases!(
    a_lookup_twilio_sends_again_is_answered_the_same_and_counted_once,
    a_found_folio_is_read_in_plain_spanish,
    a_status_change_is_heard_with_the_department_and_what_was_done,
    a_case_closed_as_duplicate_says_why,
    a_wrong_check_digit_and_an_unknown_folio_are_told_apart,
    three_failed_lookups_end_lookups_for_the_call,
    silence_at_the_folio_prompt_repeats_it,
    after_a_lookup_another_folio_the_main_menu_or_goodbye,
    a_successful_lookup_is_not_an_abandoned_call,
    the_greeting_mentions_the_callers_open_case,
    callers_greeted_at_once_each_hear_their_own_open_case,
    the_greeting_never_names_the_category_or_the_department,
    a_sensitive_case_is_heard_with_its_status_and_date_only,
    successful_lookups_are_capped_per_call,
    successful_lookups_are_capped_per_number_and_hour,
);

/// Makes a case the way a citizen does: a call about a street light, recorded and hung up.
async fn report_by_phone(app: &TestApp, from: &str) -> CaseRecord {
    app.report_and_hang_up(Some(from), STREET_LIGHTING).await
}

/// Makes a public safety case (menu key 2, a sensitive category), not urgent, from `from`.
async fn report_public_safety(app: &TestApp, from: &str) -> CaseRecord {
    let mut call = app.call(Some(from)).await;
    for key in ["1", "2", "2"] {
        call.press(key).await.unwrap();
    }
    call.record(30, RecordingEnd::Key).await.unwrap();
    call.hang_up(60).await.unwrap();
    app.case_of(&call).await
}

/// Moves a case to `to` (with the department's `summary`, for "attended"), `days` after the
/// report.
async fn move_case(
    app: &TestApp,
    case: &CaseRecord,
    to: CaseStatus,
    summary: Option<&str>,
    days: i64,
) {
    app.state
        .store
        .change_case_status(&StatusChange {
            case_id: case.id,
            expected: None,
            department_id: None,
            duplicate_of: None,
            to,
            closure_reason: None,
            action_summary: summary,
            actor: "operador",
            note: None,
            at: Timestamp::from_utc(office_hours_now() + Duration::days(days)),
        })
        .await
        .unwrap();
}

/// A new call from `from` that presses 2 and types `keys` at the folio prompt.
async fn look_up(app: &TestApp, from: &str, keys: &str) -> SimCall {
    let mut call = app.call(Some(from)).await;
    call.press("2").await.unwrap();
    assert!(
        call.heard().contains("Marque su número de folio"),
        "the folio prompt: {}",
        call.heard()
    );
    call.press(keys).await.unwrap();
    call
}

/// The folio with one digit (not the check digit) changed: Damm's check catches it.
fn mistyped(folio: &str) -> String {
    folio
        .char_indices()
        .map(|(i, c)| {
            if i == 2 {
                char::from(b'0' + (c as u8 - b'0' + 1) % 10)
            } else {
                c
            }
        })
        .collect()
}

async fn a_found_folio_is_read_in_plain_spanish(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a report made by phone from CALLER.
    let case = report_by_phone(&app, CALLER).await;
    let spoken = speech_digits(&case.folio);
    let caller_national = "5512345678";
    let caller_spoken = speech_digits(caller_national);

    // Act: someone else types the folio, with the final # and (another call) without it.
    for keys in [format!("{}#", case.folio), case.folio.clone()] {
        let call = look_up(&app, OTHER, &keys).await;

        // Assert: folio, category, status, date, and what to do next; nothing personal.
        let heard = call.heard();
        assert!(heard.contains(&spoken), "{keys}: the folio: {heard}");
        assert!(
            heard.contains("Tipo de reporte: alumbrado público."),
            "{keys}: the category: {heard}"
        );
        assert!(
            heard.contains("Su estado es: recibido, en espera de revisión."),
            "{keys}: the status: {heard}"
        );
        assert!(
            heard.contains("Última actualización: 27 de noviembre de 2026."),
            "{keys}: the date: {heard}"
        );
        assert!(
            !heard.contains("Lo que hizo el área"),
            "{keys}: no summary before the area acts: {heard}"
        );
        assert!(
            heard.contains("Para consultar otro folio, marque 1."),
            "{keys}: {heard}"
        );
        assert!(
            !heard.contains(&caller_spoken) && !heard.contains("5 6, 7 8"),
            "{keys}: never the reporter's number: {heard}"
        );
        assert!(
            !call.last_xml().contains(caller_national),
            "{keys}: not even in the TwiML: {}",
            call.last_xml()
        );
        assert!(
            matches!(call.waiting(), Waiting::Keys { .. }),
            "{keys}: {heard}"
        );
        let call_sid = CallSid::parse(call.call_sid()).unwrap();
        let steps = app.state.store.call_steps(&call_sid).await.unwrap();
        assert!(
            steps.iter().any(|(step, detail)| step == "lookup"
                && detail.as_deref() == Some(&*format!("found folio {}: received", case.folio))),
            "{keys}: {steps:?}"
        );
        let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
        assert!(logged.found_case, "{keys}");
        assert_eq!(logged.failed_lookups, 0, "{keys}");
    }
    app.stop().await;
}

async fn a_status_change_is_heard_with_the_department_and_what_was_done(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a case, routed three days later to the street lighting department.
    let case = report_by_phone(&app, CALLER).await;
    app.state
        .store
        .change_case_status(&StatusChange {
            case_id: case.id,
            expected: None,
            department_id: None,
            duplicate_of: None,
            to: CaseStatus::Routed,
            closure_reason: None,
            action_summary: None,
            actor: "operador",
            note: None,
            at: Timestamp::from_utc(office_hours_now() + Duration::days(3)),
        })
        .await
        .unwrap();

    // Act
    let mut call = look_up(&app, OTHER, &case.folio).await;

    // Assert: the department and the date of the change.
    let heard = call.heard();
    assert!(
        heard.contains(
            "Su estado es: canalizado al área responsable: Dirección de Alumbrado Público."
        ),
        "{heard}"
    );
    assert!(
        heard.contains("Última actualización: 30 de noviembre de 2026."),
        "the date of the change, not of the report: {heard}"
    );
    assert!(!heard.contains("Lo que hizo el área"), "{heard}");

    // Arrange: the area files its action report five days after the report.
    let summary = "Se cambió la luminaria de la calle Hidalgo";
    app.state
        .store
        .change_case_status(&StatusChange {
            case_id: case.id,
            expected: None,
            department_id: None,
            duplicate_of: None,
            to: CaseStatus::Attended,
            closure_reason: None,
            action_summary: Some(summary),
            actor: "alumbrado",
            note: None,
            at: Timestamp::from_utc(office_hours_now() + Duration::days(5)),
        })
        .await
        .unwrap();

    // Act: another folio in the same call (1), the same one again.
    call.press("1").await.unwrap();
    call.press(&format!("{}#", case.folio)).await.unwrap();

    // Assert
    let heard = call.heard();
    assert!(
        heard.contains(
            "Su estado es: atendido por el área responsable: Dirección de Alumbrado Público."
        ),
        "{heard}"
    );
    assert!(
        heard.contains(&format!("Lo que hizo el área: {summary}.")),
        "{heard}"
    );
    assert!(
        heard.contains("Última actualización: 2 de diciembre de 2026."),
        "{heard}"
    );
    app.stop().await;
}

async fn a_case_closed_as_duplicate_says_why(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let case = report_by_phone(&app, CALLER).await;
    app.state
        .store
        .change_case_status(&StatusChange {
            case_id: case.id,
            expected: None,
            department_id: None,
            duplicate_of: None,
            to: CaseStatus::Closed,
            closure_reason: Some(ClosureReason::Duplicate),
            action_summary: None,
            actor: "operador",
            note: Some("Igual que otro reporte"),
            at: Timestamp::from_utc(office_hours_now()),
        })
        .await
        .unwrap();

    // Act
    let call = look_up(&app, OTHER, &case.folio).await;

    // Assert: the [status] closed_duplicate text, not the bare "cerrado".
    let heard = call.heard();
    assert!(
        heard.contains("Su estado es: cerrado, porque ya existía otro reporte del mismo problema."),
        "{heard}"
    );
    assert!(!heard.contains("Su estado es: cerrado."), "{heard}");
    assert!(!heard.contains("Lo que hizo el área"), "{heard}");
    app.stop().await;
}

async fn a_wrong_check_digit_and_an_unknown_folio_are_told_apart(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: no cases yet; a well-formed folio that nobody was given.
    let unknown = Folio::from_sequence(999);

    // Act
    let mut call = look_up(&app, CALLER, &format!("{unknown}#")).await;

    // Assert: "not found", with the digits in groups, and the prompt again.
    let heard = call.heard();
    assert!(
        heard.contains(&format!(
            "No encontramos ningún reporte con el folio {}.",
            speech_digits(unknown.as_str())
        )),
        "{heard}"
    );
    assert!(!heard.contains("no es válido"), "{heard}");
    assert!(heard.contains("Marque su número de folio"), "{heard}");
    assert!(
        matches!(call.waiting(), Waiting::Keys { .. }),
        "another try: {heard}"
    );

    // Arrange: a real case, mistyped by one digit.
    let case = report_by_phone(&app, OTHER).await;
    let wrong = mistyped(&case.folio);
    assert_ne!(wrong, case.folio);

    // Act: at the prompt of the same call.
    call.press(&format!("{wrong}#")).await.unwrap();

    // Assert: "not valid", and the case is not read out.
    let heard = call.heard();
    assert!(heard.contains("El folio que marcó no es válido"), "{heard}");
    assert!(!heard.contains("No encontramos"), "{heard}");
    assert!(!heard.contains("Su estado es"), "{heard}");
    assert!(heard.contains("Marque su número de folio"), "{heard}");

    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let lookups = app.step_details(&call, "lookup").await;
    assert_eq!(
        lookups,
        [
            format!("unknown folio {unknown}"),
            "invalid folio (the check digit does not match)".to_owned(),
        ]
    );
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.failed_lookups, 2);
    assert!(!logged.found_case);
    app.stop().await;
}

async fn three_failed_lookups_end_lookups_for_the_call(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a real case whose folio a guesser would like to find.
    let case = report_by_phone(&app, OTHER).await;
    let wrong = mistyped(&case.folio);

    // Act: three failed lookups, of both kinds.
    let mut call = look_up(&app, CALLER, &format!("{wrong}#")).await;
    assert!(
        !call.heard().contains("Por seguridad"),
        "not after one: {}",
        call.heard()
    );
    call.press(&format!("{}#", Folio::from_sequence(999)))
        .await
        .unwrap();
    assert!(
        !call.heard().contains("Por seguridad"),
        "not after two: {}",
        call.heard()
    );
    assert!(call.heard().contains("Marque su número de folio"));
    call.press("123456#").await.unwrap();

    // Assert: lookups end, back to the main menu.
    let heard = call.heard();
    assert!(heard.contains("El folio que marcó no es válido"), "{heard}");
    assert!(
        heard.contains("Por seguridad, ya no podemos consultar más folios en esta llamada."),
        "{heard}"
    );
    assert!(
        heard.contains("Para reportar, marque 1."),
        "the main menu: {heard}"
    );
    assert!(!heard.contains("Marque su número de folio"), "{heard}");

    // Act: 2 again in the same call.
    call.press("2").await.unwrap();

    // Assert: refused the same way, without the folio prompt.
    let heard = call.heard();
    assert!(
        heard.contains("Por seguridad, ya no podemos consultar más folios en esta llamada."),
        "{heard}"
    );
    assert!(heard.contains("Para reportar, marque 1."), "{heard}");
    assert!(!heard.contains("Marque su número de folio"), "{heard}");

    // Act: even a lookup URL posted directly (a stale or forged step) is refused.
    let (status, body) = app
        .post_signed(
            "/twilio/voice/lookup?t=0",
            &[
                ("CallSid", call.call_sid()),
                ("From", CALLER),
                ("Digits", &case.folio),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("Por seguridad"), "{body}");
    assert!(!body.contains("Su estado es"), "{body}");

    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.failed_lookups, 3);
    assert!(!logged.found_case);
    let steps = app.state.store.call_steps(&call_sid).await.unwrap();
    assert!(
        steps.iter().any(|(step, detail)| step == "main_menu"
            && detail
                .as_deref()
                .is_some_and(|d| d.contains("lookup refused"))),
        "{steps:?}"
    );

    // A new call may look up again.
    let call = look_up(&app, CALLER, &case.folio).await;
    assert!(
        call.heard().contains("Su estado es: recibido"),
        "{}",
        call.heard()
    );
    app.stop().await;
}

async fn silence_at_the_folio_prompt_repeats_it(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let mut call = app.call(Some(CALLER)).await;
    call.press("2").await.unwrap();

    // Act: silence twice.
    for _ in 0..2 {
        call.silence().await.unwrap();

        // Assert: the prompt again, for a folio with an optional #.
        let heard = call.heard();
        assert!(heard.contains("No recibimos ninguna opción."), "{heard}");
        assert!(heard.contains("Marque su número de folio"), "{heard}");
        assert_eq!(
            call.waiting(),
            Waiting::Keys {
                num_digits: None,
                finish_on_key: "#".into(),
                speech: false
            }
        );
    }

    // Act: a third silence.
    call.silence().await.unwrap();

    // Assert: the polite goodbye; silence is not a failed lookup.
    assert!(
        call.heard()
            .contains("No recibimos una opción válida. Por favor, llame de nuevo cuando pueda."),
        "{}",
        call.heard()
    );
    assert_eq!(call.waiting(), Waiting::Ended);
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.failed_lookups, 0);
    app.stop().await;
}

async fn after_a_lookup_another_folio_the_main_menu_or_goodbye(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let case = report_by_phone(&app, OTHER).await;
    let mut call = look_up(&app, CALLER, &case.folio).await;
    assert!(call.heard().contains("Su estado es"), "{}", call.heard());

    // Act / Assert: 1 asks for another folio.
    call.press("1").await.unwrap();
    assert!(
        call.heard().contains("Marque su número de folio"),
        "{}",
        call.heard()
    );
    assert!(!call.heard().contains("Para reportar"));
    call.press(&format!("{}#", case.folio)).await.unwrap();
    assert!(call.heard().contains("Su estado es"), "{}", call.heard());

    // Act / Assert: 2 goes back to the main menu.
    call.press("2").await.unwrap();
    assert!(
        call.heard().contains("Para reportar, marque 1."),
        "{}",
        call.heard()
    );
    assert!(!call.heard().contains("Marque su número de folio"));
    call.press("2").await.unwrap();
    call.press(&case.folio).await.unwrap();
    assert!(call.heard().contains("Su estado es"), "{}", call.heard());

    // Act / Assert: silence says goodbye and ends the call.
    call.silence().await.unwrap();
    assert!(
        call.heard()
            .contains("Gracias por llamar a la Dirección de Participación Ciudadana. Hasta luego."),
        "{}",
        call.heard()
    );
    assert_eq!(call.waiting(), Waiting::Ended);

    let next = app.step_details(&call, "lookup_next").await;
    assert_eq!(next, ["another folio", "main menu", "goodbye"]);
    app.stop().await;
}

async fn a_successful_lookup_is_not_an_abandoned_call(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let case = report_by_phone(&app, OTHER).await;

    // Act: one call finds the case and hangs up at the next menu; another only fails.
    let mut found = look_up(&app, CALLER, &case.folio).await;
    found.hang_up(35).await.unwrap();
    let mut failed = look_up(&app, CALLER, &mistyped(&case.folio)).await;
    failed.hang_up(30).await.unwrap();

    // Assert
    let found_sid = CallSid::parse(found.call_sid()).unwrap();
    let logged = app.state.store.call(&found_sid).await.unwrap().unwrap();
    assert_eq!(logged.outcome, Some(CallOutcome::Lookup));
    assert!(logged.found_case);
    assert!(!logged.made_report);
    assert_eq!(logged.duration_seconds, Some(35));
    assert_eq!(logged.last_step, "lookup");

    let failed_sid = CallSid::parse(failed.call_sid()).unwrap();
    let logged = app.state.store.call(&failed_sid).await.unwrap().unwrap();
    assert_eq!(
        logged.outcome,
        Some(CallOutcome::Abandoned),
        "a failed lookup is a callback the office owes"
    );
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    app.stop().await;
}

async fn the_greeting_mentions_the_callers_open_case(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: two reports from CALLER; the latest one counts.
    let older = report_by_phone(&app, CALLER).await;
    let latest = report_by_phone(&app, CALLER).await;

    // Act
    let call = app.call(Some(CALLER)).await;

    // Assert: its folio and status, before the main menu.
    let heard = call.heard();
    let expected = format!(
        "Tiene un reporte abierto con el folio {}. Su estado es: recibido, en espera de revisión.",
        speech_digits(&latest.folio)
    );
    assert!(heard.contains(&expected), "{heard}");
    assert!(
        !heard.contains(&speech_digits(&older.folio)),
        "only the latest: {heard}"
    );
    assert!(
        heard.find(&expected) < heard.find("Para reportar"),
        "{heard}"
    );

    // A different number, and a withheld one, never hear it.
    for from in [Some(OTHER), None] {
        let call = app.call(from).await;
        assert!(
            !call.heard().contains("Tiene un reporte abierto"),
            "{from:?}: {}",
            call.heard()
        );
        assert!(call.heard().contains("Para reportar"));
    }

    // Arrange: the latest is routed; then it is closed.
    app.state
        .store
        .change_case_status(&StatusChange {
            case_id: latest.id,
            expected: None,
            department_id: None,
            duplicate_of: None,
            to: CaseStatus::Routed,
            closure_reason: None,
            action_summary: None,
            actor: "operador",
            note: None,
            at: Timestamp::from_utc(office_hours_now()),
        })
        .await
        .unwrap();
    let call = app.call(Some(CALLER)).await;
    assert!(
        call.heard().contains(&format!(
            "con el folio {}. Su estado es: canalizado al área responsable.",
            speech_digits(&latest.folio)
        )),
        "the status, without the department: {}",
        call.heard()
    );
    assert!(
        !call.heard().contains("Dirección de Alumbrado Público"),
        "{}",
        call.heard()
    );
    let close = |case_id| StatusChange {
        case_id,
        expected: None,
        department_id: None,
        duplicate_of: None,
        to: CaseStatus::Closed,
        closure_reason: Some(ClosureReason::Resolved),
        action_summary: None,
        actor: "operador",
        note: None,
        at: Timestamp::from_utc(office_hours_now()),
    };
    app.state
        .store
        .change_case_status(&close(latest.id))
        .await
        .unwrap();

    // Act / Assert: the older report is now the latest open one.
    let call = app.call(Some(CALLER)).await;
    assert!(
        call.heard().contains(&format!(
            "Tiene un reporte abierto con el folio {}. Su estado es: recibido",
            speech_digits(&older.folio)
        )),
        "{}",
        call.heard()
    );
    assert!(!call.heard().contains(&speech_digits(&latest.folio)));

    // Act: both closed.
    app.state
        .store
        .change_case_status(&close(older.id))
        .await
        .unwrap();
    let call = app.call(Some(CALLER)).await;

    // Assert: nothing open, nothing said.
    assert!(
        !call.heard().contains("Tiene un reporte abierto"),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains("Para reportar"));
    app.stop().await;
}

/// The greeting reads the caller's open case with its step, one statement for every caller
/// whose step is committed in the same batch: each must still hear only their own.
async fn callers_greeted_at_once_each_hear_their_own_open_case(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: four numbers with a case each, two without, and a withheld caller ID.
    let numbers: Vec<String> = (0..6).map(|n| format!("+5255100000{n:02}")).collect();
    let mut folios = Vec::new();
    for number in &numbers[..4] {
        folios.push(report_by_phone(&app, number).await.folio);
    }

    // Act: every caller at once, three times over.
    let callers: Vec<Option<&str>> = numbers
        .iter()
        .map(|n| Some(n.as_str()))
        .chain([None])
        .collect();
    for _ in 0..3 {
        let calls =
            futures_util::future::join_all(callers.iter().map(|from| app.call(*from))).await;

        // Assert
        for (i, call) in calls.iter().enumerate() {
            let heard = call.heard();
            assert!(heard.contains("Para reportar"), "{heard}");
            for (j, folio) in folios.iter().enumerate() {
                assert_eq!(
                    heard.contains(&speech_digits(folio)),
                    i == j,
                    "caller {i} and the folio of caller {j}: {heard}"
                );
            }
            assert_eq!(heard.contains("Tiene un reporte abierto"), i < 4, "{heard}");
        }
    }
    app.stop().await;
}

async fn the_greeting_never_names_the_category_or_the_department(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a public safety report and a street lighting one, both from CALLER, both routed
    // and then in progress (every status that, looked up, names the department).
    let safety = report_public_safety(&app, CALLER).await;
    let lighting = report_by_phone(&app, OTHER).await;
    for (case, from) in [(&safety, CALLER), (&lighting, OTHER)] {
        for (status, said) in [
            (CaseStatus::Routed, "canalizado al área responsable."),
            (
                CaseStatus::InProgress,
                "en atención por el área responsable.",
            ),
        ] {
            move_case(&app, case, status, None, 1).await;

            // Act: anyone calling with the number (caller ID is easy to fake).
            let call = app.call(Some(from)).await;

            // Assert: the folio and the status; not the category, not the department.
            let heard = call.heard().to_lowercase();
            let expected = format!(
                "tiene un reporte abierto con el folio {}. su estado es: {said}",
                speech_digits(&case.folio)
            );
            assert!(heard.contains(&expected), "{status:?}: {heard}");
            for never in [
                "seguridad pública",
                "alumbrado público",
                "dirección de seguridad",
                "dirección de alumbrado",
                "tipo de reporte",
            ] {
                assert!(!heard.contains(never), "{status:?}: {never}: {heard}");
            }
        }
    }
    app.stop().await;
}

async fn a_sensitive_case_is_heard_with_its_status_and_date_only(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: public safety is sensitive by default; street lighting is not.
    let case = report_public_safety(&app, CALLER).await;
    assert!(app.category_of(&case).await.sensitive);
    let lighting = report_by_phone(&app, CALLER).await;
    assert!(!app.category_of(&lighting).await.sensitive);
    let summary = "Se reforzó el patrullaje en la calle Hidalgo";
    move_case(&app, &case, CaseStatus::Routed, None, 1).await;
    move_case(&app, &case, CaseStatus::Attended, Some(summary), 3).await;

    // Act: someone else holding the folio.
    let call = look_up(&app, OTHER, &case.folio).await;

    // Assert: folio, status without the department, date; and what to do next.
    let heard = call.heard();
    let expected = format!(
        "Folio {}. Su estado es: atendido por el área responsable. Última actualización: 30 de noviembre de 2026.",
        speech_digits(&case.folio)
    );
    assert!(heard.contains(&expected), "{heard}");
    assert!(
        heard.contains("Para consultar otro folio, marque 1."),
        "{heard}"
    );
    for never in [
        "Tipo de reporte",
        "eguridad",
        "Dirección de",
        "Lo que hizo el área",
        "patrullaje",
    ] {
        assert!(!heard.contains(never), "{never}: {heard}");
        assert!(
            !call.last_xml().contains(never),
            "{never}: {}",
            call.last_xml()
        );
    }
    let logged = app.step_details(&call, "lookup").await;
    assert_eq!(logged, [format!("found folio {}: attended", case.folio)]);

    // The SMS reply to the number that reported keeps the category and the summary.
    let (_, reply) = app.text_in(CALLER, &case.folio).await;
    assert!(reply.contains("seguridad publica"), "{reply}");
    assert!(reply.contains("Se reforzo el patrullaje"), "{reply}");
    app.stop().await;
}

async fn successful_lookups_are_capped_per_call(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a case, looked up five times in one call (the cap).
    let case = report_by_phone(&app, OTHER).await;
    let mut call = look_up(&app, CALLER, &case.folio).await;
    for _ in 1..5 {
        assert!(call.heard().contains("Su estado es"), "{}", call.heard());
        call.press("1").await.unwrap();
        call.press(&case.folio).await.unwrap();
    }
    assert!(call.heard().contains("Su estado es"), "{}", call.heard());
    let limit = app.text(Key::StatusLimit);
    assert!(limit.starts_with("Por seguridad"), "{limit}");

    // Act: a sixth, from the menu after the lookup.
    call.press("1").await.unwrap();

    // Assert: refused politely, back to the main menu, no folio prompt.
    let heard = call.heard();
    assert!(heard.contains(&limit), "{heard}");
    assert!(heard.contains("Para reportar, marque 1."), "{heard}");
    assert!(!heard.contains("Marque su número de folio"), "{heard}");

    // Act / Assert: 2 at the main menu is refused the same way.
    call.press("2").await.unwrap();
    assert!(call.heard().contains(&limit), "{}", call.heard());
    assert!(!call.heard().contains("Marque su número de folio"));

    // Act / Assert: a lookup URL posted directly is refused before the folio is read.
    let (status, body) = app
        .post_signed(
            "/twilio/voice/lookup?t=0",
            &[
                ("CallSid", call.call_sid()),
                ("From", CALLER),
                ("Digits", &case.folio),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("Por seguridad"), "{body}");
    assert!(!body.contains("Su estado es"), "{body}");

    // Act / Assert: the caller can still make a report.
    call.press("1").await.unwrap();
    assert!(
        call.heard().contains("Para alumbrado público, marque 1."),
        "{}",
        call.heard()
    );

    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.found_lookups, 5);
    assert_eq!(logged.failed_lookups, 0, "a refusal is not a failed lookup");
    assert_eq!(
        app.step_details(&call, "lookup_next").await.last().unwrap(),
        "another folio refused, lookup limit of the call"
    );
    assert!(
        app.step_details(&call, "main_menu")
            .await
            .contains(&"2: lookup refused, lookup limit of the call".to_owned())
    );

    // A withheld number has the cap of its call too, and a new call may look up again.
    let mut call = app.call(None).await;
    call.press("2").await.unwrap();
    call.press(&case.folio).await.unwrap();
    assert!(call.heard().contains("Su estado es"), "{}", call.heard());
    app.stop().await;
}

async fn successful_lookups_are_capped_per_number_and_hour(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: ten lookups from CALLER over three calls within the hour.
    let case = report_by_phone(&app, OTHER).await;
    for per_call in [4, 4, 2] {
        let mut call = look_up(&app, CALLER, &case.folio).await;
        for _ in 1..per_call {
            call.press("1").await.unwrap();
            call.press(&case.folio).await.unwrap();
        }
        assert!(call.heard().contains("Su estado es"), "{}", call.heard());
        call.hang_up(40).await.unwrap();
    }

    // Act: another call from CALLER, the same hour.
    let mut call = app.call(Some(CALLER)).await;
    call.press("2").await.unwrap();

    // Assert: refused before the folio prompt, with the main menu.
    let heard = call.heard();
    assert!(heard.contains(&app.text(Key::StatusLimit)), "{heard}");
    assert!(!heard.contains("Marque su número de folio"), "{heard}");
    assert!(heard.contains("Para reportar, marque 1."), "{heard}");
    assert_eq!(
        app.step_details(&call, "main_menu").await,
        ["2: lookup refused, hourly lookup limit of the number"]
    );

    // Another number may still look up; and the count is of the last hour only.
    let call = look_up(&app, "+525598765432", &case.folio).await;
    assert!(call.heard().contains("Su estado es"), "{}", call.heard());
    let now = app.state.clock.now().as_utc();
    let number = "+525512345678";
    let in_the_hour = Timestamp::from_utc(now - Duration::hours(1));
    let after = Timestamp::from_utc(now + Duration::minutes(1));
    let store = &app.state.store;
    assert_eq!(
        store
            .recent_found_lookups(number, in_the_hour)
            .await
            .unwrap(),
        10
    );
    assert_eq!(store.recent_found_lookups(number, after).await.unwrap(), 0);
    app.stop().await;
}

async fn a_lookup_twilio_sends_again_is_answered_the_same_and_counted_once(db: Db) {
    use crate::helpers::{TOKEN, new_call_sid, voice_fields};
    // Arrange: a call at the lookup, typing a folio that does not exist.
    let app = app_or_skip!(db);
    let sid = new_call_sid();
    let (status, _) =
        crate::helpers::post_signed_raw(&app, "/twilio/voice", &voice_fields(&sid, &[])).await;
    assert_eq!(status, 200);
    let unknown = Folio::from_sequence(999).to_string();
    let fields = voice_fields(&sid, &[("Digits", unknown.as_str())]);
    let url = format!("{}/twilio/voice/lookup?t=0", app.base);
    let signature = atiende::twilio::signature::sign(TOKEN, &url, &fields);
    let send = |token: &'static str| {
        app.client
            .post(format!(
                "{}/twilio/voice/lookup?t=0",
                app.caller.connect_base
            ))
            .header("X-Twilio-Signature", &signature)
            .header("I-Twilio-Idempotency-Token", token)
            .form(&fields)
            .send()
    };
    let failed = || async {
        app.state
            .store
            .call(&CallSid::parse(&sid).unwrap())
            .await
            .unwrap()
            .unwrap()
            .failed_lookups
    };

    // Act: Twilio sends the request, then the same request again (same token).
    let first = send("idem-1").await.unwrap().text().await.unwrap();
    let again = send("idem-1").await.unwrap().text().await.unwrap();

    // Assert: the same answer, one failed lookup counted.
    assert!(first.contains("<Response>"), "{first}");
    assert_eq!(first, again);
    assert_eq!(failed().await, 1);

    // A new request (a new token) is a new lookup.
    send("idem-2").await.unwrap();
    assert_eq!(failed().await, 2);
    app.stop().await;
}
