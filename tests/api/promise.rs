//! The date the office commits to answer by: said with the folio, in every status answer by
//! voice and by SMS, until the case has its answer; an overdue case says so honestly.

use crate::helpers::{CALLER, Db, TestApp, WATER, eventually, office_hours_now};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CaseStatus, Folio, Role, Timestamp, Urgency, promise};
use atiende::sim::SimCall;
use atiende::store::{SeedCase, StatusChange};
use chrono::{Duration, NaiveDate};

/// Someone else who holds a folio.
const OTHER: &str = "+525587654321";

on_both_databases!(
    the_folio_comes_with_the_date_of_the_answer,
    an_overdue_case_says_so_by_voice_and_by_sms,
);

/// A new call from `from` that presses 2 and types `folio`.
async fn look_up(app: &TestApp, from: &str, folio: &str) -> SimCall {
    let mut call = app.call(Some(from)).await;
    call.press("2").await.unwrap();
    call.press(&format!("{folio}#")).await.unwrap();
    call
}

async fn the_folio_comes_with_the_date_of_the_answer(db: Db) {
    // Arrange: the test clock is Friday 27 November 2026 at 10:00; water's first answer is due
    // in 5 working days: Friday 4 December.
    let app = app_or_skip!(db);
    let promised = "Le daremos respuesta a más tardar el viernes 4 de diciembre.";

    // Act: a report by phone.
    let mut call = app.report(Some(CALLER), WATER).await;

    // Assert: the caller hears the date right after the folio; the case keeps it; the folio
    // SMS writes it.
    assert!(call.heard().contains(promised), "{}", call.heard());
    let case = app.case_of(&call).await;
    assert_eq!(case.answer_by, NaiveDate::from_ymd_opt(2026, 12, 4));
    call.hang_up(60).await.unwrap();
    eventually("the folio SMS", || async { !app.api.sms().is_empty() }).await;
    let body = app.api.sms()[0].get("Body").unwrap().to_owned();
    assert!(
        body.contains(&case.folio) && body.contains("Respuesta a mas tardar: 04/12/2026."),
        "{body}"
    );

    // Staff see the date the citizen was told.
    let staff = app.signed_in("ana", Role::Operador, None).await;
    let page = staff.get(&format!("/casos/{}", case.folio)).await.text();
    assert!(
        page.contains("Respuesta prometida") && page.contains("viernes 4 de diciembre de 2026"),
        "{page}"
    );

    // Act and assert: a lookup by voice and one by SMS say it too.
    let call = look_up(&app, OTHER, &case.folio).await;
    assert!(call.heard().contains(promised), "{}", call.heard());
    let (_, reply) = app.text_in(CALLER, &case.folio).await;
    assert!(
        reply.ends_with("Respuesta a mas tardar: 04/12/2026."),
        "{reply}"
    );
    // The reporter's next call hears it with the open case.
    let call = app.call(Some(CALLER)).await;
    assert!(call.heard().contains(promised), "{}", call.heard());

    // Act: the department takes the case on.
    for to in [CaseStatus::Routed, CaseStatus::InProgress] {
        app.state
            .store
            .change_case_status(&StatusChange {
                case_id: case.id,
                expected: None,
                department_id: case.department_id,
                duplicate_of: None,
                to,
                closure_reason: None,
                action_summary: None,
                actor: "operador",
                note: None,
                at: Timestamp::from_utc(office_hours_now() + Duration::hours(2)),
            })
            .await
            .unwrap();
    }

    // Assert: the case has its answer; no date any more.
    let call = look_up(&app, OTHER, &case.folio).await;
    assert!(
        call.heard().contains("en atención por el área responsable"),
        "{}",
        call.heard()
    );
    assert!(!call.heard().contains("a más tardar"), "{}", call.heard());
    let (_, reply) = app.text_in(CALLER, &case.folio).await;
    assert!(!reply.contains("a mas tardar"), "{reply}");
    app.stop().await;
}

async fn an_overdue_case_says_so_by_voice_and_by_sms(db: Db) {
    // Arrange: a case reported on Tuesday 10 November, routed, still without an answer.
    let app = app_or_skip!(db);
    let created = Timestamp::from_utc(office_hours_now() - Duration::days(17));
    let answer_by = promise::answer_by(created, 5);
    let id = app
        .state
        .store
        .insert_seed_cases(&[SeedCase {
            category_id: 3,
            department_id: 3,
            urgency: Urgency::NotUrgent,
            status: CaseStatus::Routed,
            closure_reason: None,
            caller_number: CALLER.to_owned(),
            created_at: created,
            routed_at: Some(created),
            due_at: None,
            answer_by: Some(answer_by),
            recording_seconds: 30,
        }])
        .await
        .unwrap();
    app.state.store.settle_after_seed().await.unwrap();
    let folio = Folio::from_sequence(id);
    // Five working days later, Monday 16 November being a rest day.
    assert_eq!(answer_by, NaiveDate::from_ymd_opt(2026, 11, 18).unwrap());
    let overdue = "Debíamos darle respuesta a más tardar el miércoles 18 de noviembre y no lo \
                   hemos hecho. Le pedimos una disculpa.";

    // Act and assert: by voice, by SMS and in the reporter's greeting, the broken promise is
    // owned up to, never repeated as if it were still ahead.
    let call = look_up(&app, OTHER, folio.as_str()).await;
    assert!(call.heard().contains(overdue), "{}", call.heard());
    assert!(!call.heard().contains("Le daremos"), "{}", call.heard());
    let (_, reply) = app.text_in(CALLER, folio.as_str()).await;
    assert!(
        reply.ends_with("Debiamos responder el 18/11/2026. Una disculpa."),
        "{reply}"
    );
    let call = app.call(Some(CALLER)).await;
    assert!(call.heard().contains(overdue), "{}", call.heard());
    app.stop().await;
}
