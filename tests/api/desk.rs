//! The staff console, part 2, over HTTP: the call log, the calls owed back, reports from other
//! channels, and the citizen's history on a case.

use crate::helpers::{
    CALLER, ConsoleClient, Db, STREET_LIGHTING, TestApp, WATER, eventually, unescape_html,
};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CallSid, Channel, Role};

on_both_databases!(
    the_call_log_lists_every_call_with_its_outcome_and_steps,
    a_department_sees_the_call_log_masked_and_never_the_calls_owed,
    calls_owed_are_grouped_by_number_and_settled_by_a_report_or_a_callback,
    a_report_taken_on_a_callback_settles_the_calls_and_links_to_them,
    a_report_from_another_channel_gets_a_folio_and_its_sms,
    the_case_page_shows_the_citizens_other_cases_and_calls,
);

const OTHER: &str = "+525587654321";
const THIRD: &str = "+525511223344";

/// A call from `from` that hangs up at the greeting: abandoned.
async fn abandon(app: &TestApp, from: Option<&str>) -> String {
    let mut call = app.call(from).await;
    call.hang_up(8).await.unwrap();
    call.call_sid().to_owned()
}

/// The log's id of a call.
async fn call_id(app: &TestApp, sid: &str) -> i64 {
    let sid = CallSid::parse(sid).unwrap();
    app.state.store.call(&sid).await.unwrap().unwrap().id
}

async fn operador(app: &TestApp) -> ConsoleClient {
    app.signed_in("ana", Role::Operador, None).await
}

async fn the_call_log_lists_every_call_with_its_outcome_and_steps(db: Db) {
    // Arrange: a report, a lookup and an abandoned call.
    let app = app_or_skip!(db);
    let case = app.report_and_hang_up(Some(CALLER), STREET_LIGHTING).await;
    let mut lookup = app.call(Some(OTHER)).await;
    lookup.press("2").await.unwrap();
    lookup.press(&format!("{}#", case.folio)).await.unwrap();
    lookup.hang_up(40).await.unwrap();
    let abandoned = abandon(&app, Some(THIRD)).await;
    let staff = operador(&app).await;

    // Act
    let page = staff.get("/llamadas").await;

    // Assert: newest first, each with its outcome; the report links to its folio.
    assert_eq!(page.status, 200);
    let html = unescape_html(&page.text());
    // The rows (the filter's options name the outcomes too).
    let html = html.split("<tbody>").nth(1).unwrap().to_owned();
    let abandoned_at = html
        .find("Abandonada en «incoming»")
        .expect("abandoned, at the greeting");
    let lookup_at = html.find("Consulta").expect("the lookup");
    let report_at = html
        .find(&format!("/casos/{}", case.folio))
        .expect("the report's folio");
    assert!(abandoned_at < lookup_at && lookup_at < report_at, "{html}");
    assert!(
        html.contains(CALLER) && html.contains(THIRD),
        "the office sees numbers"
    );

    // Filters: by outcome.
    let html = unescape_html(&staff.get("/llamadas?resultado=abandoned").await.text());
    assert!(
        html.contains(THIRD) && !html.contains(&case.folio),
        "{html}"
    );

    // One call's page: its steps, what it heard and pressed.
    let id = call_id(&app, &abandoned).await;
    let html = unescape_html(&staff.get(&format!("/llamadas/{id}")).await.text());
    assert!(
        html.contains("incoming") && html.contains("call_status"),
        "{html}"
    );
    let report_sid = app
        .state
        .store
        .case_by_folio(&atiende::domain::Folio::parse(&case.folio).unwrap())
        .await
        .unwrap()
        .unwrap()
        .call_id
        .unwrap();
    let html = unescape_html(&staff.get(&format!("/llamadas/{report_sid}")).await.text());
    assert!(
        html.contains("category_menu") && html.contains("recorded"),
        "{html}"
    );
    assert!(html.contains(&format!("Folio {}", case.folio)), "{html}");

    // The CSV export: a spreadsheet of the same calls.
    let csv = staff.get("/llamadas.csv?resultado=abandoned").await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(csv.header("content-disposition").contains("attachment"));
    assert!(csv.body.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    let text = csv.text();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "Inicio,Número,Duración (s),Resultado,Último paso,Folio"
    );
    assert_eq!(lines.len(), 2, "{text}");
    // A number starts with '+': a spreadsheet would read it as a formula, so it is defused.
    assert!(lines[1].contains(&format!("'{THIRD}")), "{text}");
    app.stop().await;
}

async fn a_department_sees_the_call_log_masked_and_never_the_calls_owed(db: Db) {
    let app = app_or_skip!(db);
    abandon(&app, Some(THIRD)).await;
    let area = app.signed_in("luz", Role::Area, Some("alumbrado")).await;

    // The call log, with numbers masked; a search by number is ignored.
    let html = unescape_html(&area.get("/llamadas").await.text());
    assert!(
        html.contains("•••• 3344") && !html.contains(THIRD),
        "{html}"
    );
    let html = unescape_html(&area.get(&format!("/llamadas?numero={THIRD}")).await.text());
    assert!(!html.contains(THIRD), "{html}");
    let csv = area.get("/llamadas.csv").await.text();
    assert!(!csv.contains(THIRD) && csv.contains("•••• 3344"), "{csv}");

    // The office's desk is not theirs: 404, and not in their navigation.
    assert_eq!(area.get("/devolver").await.status, 404);
    assert_eq!(area.get("/casos/nuevo").await.status, 404);
    assert!(!html.contains("/devolver") && !html.contains("/casos/nuevo"));
    app.stop().await;
}

async fn calls_owed_are_grouped_by_number_and_settled_by_a_report_or_a_callback(db: Db) {
    // Arrange: three abandoned calls from one number; one from a number that later reported;
    // one from a number to call back; one withheld.
    let app = app_or_skip!(db);
    for _ in 0..3 {
        abandon(&app, Some(CALLER)).await;
    }
    abandon(&app, Some(OTHER)).await;
    app.report_and_hang_up(Some(OTHER), WATER).await;
    abandon(&app, Some(THIRD)).await;
    abandon(&app, None).await;
    let staff = operador(&app).await;

    // Act
    let page = staff.get("/devolver").await;

    // Assert: two numbers owed, the three calls as one, oldest first; the count in the
    // navigation.
    let html = unescape_html(&page.text());
    assert!(html.contains("3 llamadas abandonadas"), "{html}");
    assert!(html.contains("<h2>+525511223344</h2>"), "{html}");
    assert!(
        !html.contains("<h2>+525587654321</h2>"),
        "reported later: {html}"
    );
    let first = html.find("<h2>+525512345678</h2>").unwrap();
    let third = html.find("<h2>+525511223344</h2>").unwrap();
    assert!(first < third, "the longest-waiting first");
    assert!(html.contains("data-owed=\"2\""), "{html}");
    assert_eq!(
        app.state
            .store
            .calls_owed_count(app.state.clock.now())
            .await
            .unwrap(),
        2
    );

    // Act: nobody answers at THIRD; then it is reached.
    let csrf = staff.csrf("/devolver").await;
    let mark = |result: &'static str| {
        let csrf = csrf.clone();
        let staff = &staff;
        async move {
            staff
                .post_form(
                    "/devolver",
                    &[
                        ("csrf", csrf.as_str()),
                        ("numero", THIRD),
                        ("resultado", result),
                        ("nota", "=cmd|' /C calc'!A0"),
                    ],
                )
                .await
        }
    };
    assert_eq!(mark("no_answer").await.status, 303);

    // Assert: still owed, with the attempt.
    let html = unescape_html(&staff.get("/devolver").await.text());
    assert!(html.contains("1 intento sin respuesta"), "{html}");

    // Act and assert: reached: settled.
    assert_eq!(mark("reached").await.status, 303);
    let html = unescape_html(&staff.get("/devolver").await.text());
    assert!(!html.contains("<h2>+525511223344</h2>"), "{html}");
    assert!(html.contains("data-owed=\"1\""), "{html}");

    // A result the list does not offer is refused.
    let refused = staff
        .post_form(
            "/devolver",
            &[
                ("csrf", csrf.as_str()),
                ("numero", CALLER),
                ("resultado", "reached_report"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    app.stop().await;
}

async fn a_report_taken_on_a_callback_settles_the_calls_and_links_to_them(db: Db) {
    let app = app_or_skip!(db);
    let sid = abandon(&app, Some(CALLER)).await;
    let staff = operador(&app).await;

    // Act: "Tomar un reporte" from the list, then the form.
    let html = unescape_html(&staff.get("/devolver").await.text());
    assert!(
        html.contains("/casos/nuevo?telefono=%2B525512345678&devolucion=1"),
        "{html}"
    );
    let form = staff
        .get("/casos/nuevo?telefono=%2B525512345678&devolucion=1")
        .await
        .text();
    assert!(form.contains("name=\"devolucion\" value=\"1\""), "{form}");
    let csrf = staff.csrf("/casos/nuevo").await;
    let created = staff
        .post_form(
            "/casos/nuevo",
            &[
                ("csrf", csrf.as_str()),
                ("canal", "direct_phone"),
                ("telefono", "+525512345678"),
                ("celular", "1"),
                ("categoria", "3"),
                ("urgencia", "not_urgent"),
                ("descripcion", "No llega agua desde el lunes"),
                ("colonia", "Centro"),
                ("devolucion", "1"),
            ],
        )
        .await;

    // Assert: the case exists; the number is no longer owed; the call links to the report.
    assert_eq!(created.status, 303, "{}", created.text());
    let folio = created
        .location()
        .trim_start_matches("/casos/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let html = unescape_html(&staff.get("/devolver").await.text());
    assert!(html.contains("No hay llamadas por devolver"), "{html}");
    let id = call_id(&app, &sid).await;
    let html = unescape_html(&staff.get(&format!("/llamadas/{id}")).await.text());
    assert!(
        html.contains(&format!("Contestó; se tomó un reporte: folio {folio}")),
        "{html}"
    );
    app.stop().await;
}

async fn a_report_from_another_channel_gets_a_folio_and_its_sms(db: Db) {
    let app = app_or_skip!(db);
    let staff = operador(&app).await;
    let csrf = staff.csrf("/casos/nuevo").await;
    let before = app.state.store.count_cases().await.unwrap();
    let report = |channel: &'static str, phone: &'static str, mobile: bool| {
        let csrf = csrf.clone();
        let staff = &staff;
        async move {
            let mut form = vec![
                ("csrf", csrf.as_str()),
                ("canal", channel),
                ("nombre", "Rosa Hernández"),
                ("telefono", phone),
                ("categoria", "1"),
                ("urgencia", "urgent"),
                ("descripcion", "La luminaria de la esquina está apagada"),
                ("calle", "Av. Juárez 12"),
            ];
            if mobile {
                form.push(("celular", "1"));
            }
            staff.post_form("/casos/nuevo", &form).await
        }
    };

    // Act: a bad phone number.
    let refused = report("whatsapp", "12345", true).await;

    // Assert: refused with the reason, the form kept, nothing written.
    assert_eq!(refused.status, 422);
    let html = unescape_html(&refused.text());
    assert!(html.contains("10 dígitos"), "{html}");
    assert!(
        html.contains("La luminaria de la esquina está apagada"),
        "{html}"
    );
    assert_eq!(app.state.store.count_cases().await.unwrap(), before);

    // Act: a WhatsApp report from a mobile (typed with spaces).
    let created = report("whatsapp", "55 8765 4321", true).await;

    // Assert: a folio of the same series, channel WhatsApp, the folio SMS to the mobile.
    assert_eq!(created.status, 303, "{}", created.text());
    let page = staff.get(&created.location()).await;
    let html = unescape_html(&page.text());
    assert!(html.contains("Reporte registrado"), "{html}");
    assert!(
        html.contains("WhatsApp") && html.contains("Rosa Hernández"),
        "{html}"
    );
    let folio = created
        .location()
        .trim_start_matches("/casos/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let case = app
        .state
        .store
        .case_by_folio(&atiende::domain::Folio::parse(&folio).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case.channel, Channel::Whatsapp);
    assert_eq!(case.sms_number.as_deref(), Some(OTHER));
    assert!(
        case.answer_by.is_some(),
        "the same promise as a phone report"
    );
    eventually("the folio SMS", || async {
        app.api.sms().iter().any(|s| {
            s.get("To") == Some(OTHER) && s.get("Body").is_some_and(|b| b.contains(&folio))
        })
    })
    .await;

    // Act: in person, a landline: no SMS.
    let created = report("in_person", "5556781234", false).await;
    assert_eq!(created.status, 303);
    let sent_to_landline = app
        .api
        .sms()
        .iter()
        .any(|s| s.get("To") == Some("+525556781234"));
    assert!(!sent_to_landline);

    // The inbox filters by channel.
    let html = staff.get("/?canal=whatsapp").await.text();
    assert!(html.contains(&folio), "{html}");
    let html = staff.get("/?canal=email").await.text();
    assert!(!html.contains(&folio), "{html}");
    app.stop().await;
}

async fn the_case_page_shows_the_citizens_other_cases_and_calls(db: Db) {
    // Arrange: a caller who reported twice and also hung up once.
    let app = app_or_skip!(db);
    let first = app.report_and_hang_up(Some(CALLER), STREET_LIGHTING).await;
    abandon(&app, Some(CALLER)).await;
    let second = app.report_and_hang_up(Some(CALLER), WATER).await;
    let staff = operador(&app).await;

    // Act
    let html = unescape_html(&staff.get(&format!("/casos/{}", second.folio)).await.text());

    // Assert: the other case and the calls, each a link.
    assert!(html.contains("Historial del ciudadano"), "{html}");
    assert!(
        html.contains(&format!("href=\"/casos/{}\"", first.folio)),
        "{html}"
    );
    assert!(
        !html.contains(&format!("Folio {}</a>: ", second.folio)),
        "not itself: {html}"
    );
    assert!(html.contains("Abandonada"), "{html}");
    assert!(
        html.contains(&format!("Reporte, folio {}", first.folio)),
        "{html}"
    );

    // A department does not see the citizen's other cases.
    let area = app.signed_in("agua", Role::Area, Some("agua")).await;
    let csrf = staff.csrf(&format!("/casos/{}", second.folio)).await;
    let routed = staff
        .post_form(
            &format!("/casos/{}/canalizar", second.folio),
            &[("csrf", csrf.as_str()), ("area", "3")],
        )
        .await;
    assert_eq!(routed.status, 303, "{}", routed.text());
    let html = area.get(&format!("/casos/{}", second.folio)).await.text();
    assert!(!html.contains("Historial del ciudadano"), "{html}");
    app.stop().await;
}
