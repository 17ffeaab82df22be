//! The office's figures (`/cifras`) and the case list as a spreadsheet (`/casos.csv`), over
//! HTTP on both databases, on a fixed data set whose answers are worked out by hand below.
//!
//! The clock is Friday 27 November 2026, 10:00 in Mexico City; the span asked for is Monday
//! 2 to Friday 27 November: four weeks (2–8, 9–15, 16–22, 23–27).

use crate::helpers::{ConsoleClient, Db, TestApp, unescape_html};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::lifecycle::status_label;
use atiende::domain::{
    Address, CallOutcome, CallbackResult, CaseStatus, Channel, ClosureReason, Folio, Role,
    Timestamp, Urgency,
};
use atiende::store::{
    FigureScope, NewCallback, NewStaffCase, Progress, SeedCall, SeedCase, SeedEvent, Visibility,
};
use chrono::{Duration, TimeZone};
use chrono_tz::America::Mexico_City;

on_both_databases!(
    the_database_ranks_times_as_nearest_rank_percentiles,
    the_figures_are_those_of_the_data,
    a_department_sees_only_its_own_figures,
    the_case_list_downloads_as_a_spreadsheet,
);

const PERIOD: &str = "desde=2026-11-02&hasta=2026-11-27";
const ALUMBRADO: i64 = 1;
const SEGURIDAD: i64 = 2;
const AGUA: i64 = 3;
const OTRO: i64 = 5;
/// The colonia typed in triage: a formula, should a spreadsheet evaluate it.
const FORMULA: &str = r#"=HYPERLINK("http://x.example","clic")"#;
/// The number of the case triaged with that colonia.
const TRIAGED_CALLER: &str = "+525500001234";

/// An instant in Mexico City.
fn mx(month: u32, day: u32, hour: u32, minute: u32) -> Timestamp {
    Timestamp::from_utc(
        Mexico_City
            .with_ymd_and_hms(2026, month, day, hour, minute, 0)
            .unwrap()
            .with_timezone(&chrono::Utc),
    )
}

fn plus_hours(at: Timestamp, hours: i64) -> Timestamp {
    Timestamp::from_utc(at.as_utc() + Duration::hours(hours))
}

fn seed_case(
    category: i64,
    status: CaseStatus,
    created: Timestamp,
    routed_after_hours: Option<i64>,
    due: Option<Timestamp>,
    caller: &str,
) -> SeedCase {
    SeedCase {
        category_id: category,
        department_id: category,
        urgency: Urgency::NotUrgent,
        status,
        closure_reason: (status == CaseStatus::Closed).then_some(ClosureReason::Resolved),
        caller_number: caller.to_owned(),
        created_at: created,
        routed_at: routed_after_hours.map(|h| plus_hours(created, h)),
        due_at: due,
        answer_by: None,
        recording_seconds: 30,
    }
}

/// What the seeding made that the tests look for.
struct Seeded {
    /// The folio of the case whose colonia is a formula.
    triaged: String,
    operador: ConsoleClient,
}

/// The data set:
///
/// - Alumbrado público (department 1): ten cases, one a day from Monday 2 November at 08:00
///   (seven in the first week, three in the second), routed 1, 2, ..., 10 hours after
///   arriving (median 5 h, p90 9 h). The first four were attended after 24, 48, 72 and 96
///   hours (median 48 h, p90 96 h); the first was then reopened and attended again after
///   200 hours, which must not count (the first attention does). The first is attended, with
///   a past deadline that must not make it overdue; the next three closed; the other six
///   routed, three of them past their deadline.
/// - Seguridad pública (2): one case on Sunday 15 November at 23:30 (05:30 UTC on Monday: the
///   second week in Mexico City), routed after 1 hour, attended after 30, closed.
/// - Agua potable (3): four cases from Monday 16 November, routed after 2, 4, 6 and 8 hours
///   (median 4 h, p90 8 h), in progress, two overdue; and one on Friday 20 November still
///   received (never routed: a department does not see it), overdue, triaged with a colonia
///   that is a formula.
/// - Otro reporte (5), by WhatsApp, Tuesday 24 November: received, so overdue the next day.
/// - Out of the span: an alumbrado case of 20 October, reopened and overdue.
///
/// So: 17 cases received (16 by phone, 1 by WhatsApp), one reopened (5.9 %); open: 13, of
/// which overdue: alumbrado 3 of 7, agua 3 of 5, participación 1 of 1.
///
/// Calls: Wednesday 25, a report and two abandoned calls, one of them settled by a callback;
/// Thursday 26, three abandoned calls, one from a withheld number (nobody to call back), one
/// at 23:50 (05:50 UTC on Friday); Friday 27, a lookup. So 3/2/1, 3/3/2 and 1/0/0.
async fn seed(app: &TestApp) -> Seeded {
    let store = &app.state.store;
    let past_due = mx(11, 20, 12, 0);
    let future_due = mx(12, 10, 12, 0);
    let mut cases = Vec::new();
    for i in 0..10u32 {
        let created = mx(11, 2 + i, 8, 0);
        let (status, due) = match i {
            0 => (CaseStatus::Attended, Some(past_due)),
            1..=3 => (CaseStatus::Closed, None),
            4..=6 => (CaseStatus::Routed, Some(past_due)),
            _ => (CaseStatus::Routed, Some(future_due)),
        };
        cases.push(seed_case(
            ALUMBRADO,
            status,
            created,
            Some(i64::from(i) + 1),
            due,
            &format!("+5255000001{i:02}"),
        ));
    }
    cases.push(seed_case(
        SEGURIDAD,
        CaseStatus::Closed,
        mx(11, 15, 23, 30),
        Some(1),
        None,
        "+525500000200",
    ));
    for i in 0..4u32 {
        cases.push(seed_case(
            AGUA,
            CaseStatus::InProgress,
            mx(11, 16 + i, 9, 0),
            Some(2 * (i64::from(i) + 1)),
            Some(if i < 2 { past_due } else { future_due }),
            &format!("+5255000003{i:02}"),
        ));
    }
    cases.push(seed_case(
        AGUA,
        CaseStatus::Received,
        mx(11, 20, 9, 0),
        None,
        Some(mx(11, 21, 9, 0)),
        TRIAGED_CALLER,
    ));
    cases.push(seed_case(
        ALUMBRADO,
        CaseStatus::Routed,
        mx(10, 20, 9, 0),
        Some(3),
        Some(past_due),
        "+525500000999",
    ));
    let first = store.insert_seed_cases(&cases).await.unwrap();
    let alumbrado = |i: i64| first + i;
    let seguridad = first + 10;
    let old = first + 16;
    let mut events = Vec::new();
    for i in 0..4 {
        events.push(SeedEvent {
            case_id: alumbrado(i),
            at: plus_hours(cases[i as usize].created_at, 24 * (i + 1)),
            from_status: Some(CaseStatus::InProgress),
            to_status: CaseStatus::Attended,
        });
    }
    events.push(SeedEvent {
        case_id: alumbrado(0),
        at: plus_hours(cases[0].created_at, 100),
        from_status: Some(CaseStatus::Attended),
        to_status: CaseStatus::Reopened,
    });
    events.push(SeedEvent {
        case_id: alumbrado(0),
        at: plus_hours(cases[0].created_at, 200),
        from_status: Some(CaseStatus::InProgress),
        to_status: CaseStatus::Attended,
    });
    events.push(SeedEvent {
        case_id: seguridad,
        at: plus_hours(cases[10].created_at, 30),
        from_status: Some(CaseStatus::InProgress),
        to_status: CaseStatus::Attended,
    });
    events.push(SeedEvent {
        case_id: old,
        at: mx(10, 25, 9, 0),
        from_status: Some(CaseStatus::Closed),
        to_status: CaseStatus::Reopened,
    });
    store.insert_seed_events(&events).await.unwrap();

    let operador_id = app.add_staff("ana", Role::Operador, None).await;
    let operador = app.console_client();
    assert_eq!(
        operador
            .sign_in("ana", crate::helpers::STAFF_PASSWORD)
            .await
            .status,
        303
    );
    // The WhatsApp report, registered by staff (classify deadline: 24 hours).
    store
        .create_staff_case(&NewStaffCase {
            channel: Channel::Whatsapp,
            citizen_name: None,
            phone: None,
            mobile: false,
            category_id: OTRO,
            urgency: Urgency::NotUrgent,
            description: "Reporte por WhatsApp",
            address: &Address::default(),
            actor: "ana",
            note: "Reporte por WhatsApp",
            user_id: operador_id,
            on_callback: false,
            at: mx(11, 24, 10, 0),
        })
        .await
        .unwrap();

    // The received water case, triaged over HTTP with a formula for a colonia.
    let triaged = Folio::from_sequence(first + 15).as_str().to_owned();
    let csrf = operador.csrf(&format!("/casos/{triaged}")).await;
    let res = operador
        .post_form(
            &format!("/casos/{triaged}/clasificar"),
            &[
                ("csrf", &csrf),
                ("categoria", "3"),
                ("urgencia", "not_urgent"),
                ("calle", "Hidalgo 12"),
                ("colonia", FORMULA),
                ("descripcion", "Fuga en la calle"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "triage: {}", res.text());

    // The calls.
    let call = |number: Option<&str>, at: Timestamp, outcome: CallOutcome| SeedCall {
        from_number: number.map(str::to_owned),
        started_at: at,
        duration_seconds: 40,
        outcome,
        case_id: None,
    };
    store
        .insert_seed_calls(&[
            call(Some("+525511110001"), mx(11, 25, 9, 0), CallOutcome::Report),
            call(
                Some("+525511110002"),
                mx(11, 25, 10, 0),
                CallOutcome::Abandoned,
            ),
            call(
                Some("+525511110003"),
                mx(11, 25, 11, 0),
                CallOutcome::Abandoned,
            ),
            call(
                Some("+525511110004"),
                mx(11, 26, 9, 0),
                CallOutcome::Abandoned,
            ),
            call(None, mx(11, 26, 10, 0), CallOutcome::Abandoned),
            call(
                Some("+525511110005"),
                mx(11, 26, 23, 50),
                CallOutcome::Abandoned,
            ),
            call(Some("+525511110006"), mx(11, 27, 9, 0), CallOutcome::Lookup),
            // Out of the span, and of the 30 days a call is owed.
            call(
                Some("+525511110007"),
                mx(10, 20, 9, 0),
                CallOutcome::Abandoned,
            ),
        ])
        .await
        .unwrap();
    store
        .add_callback(&NewCallback {
            number: "+525511110003",
            result: CallbackResult::Reached,
            case_id: None,
            note: None,
            user_id: operador_id,
            at: mx(11, 25, 15, 0),
        })
        .await
        .unwrap();
    Seeded { triaged, operador }
}

/// The rows of the table with this caption: each row's header and cells, as text.
fn table(html: &str, caption: &str) -> Vec<(String, Vec<String>)> {
    let marker = format!("<caption>{caption}</caption>");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no table {caption:?} in the page:\n{html}"));
    let body = &html[start..];
    let body = &body[..body.find("</table>").unwrap()];
    body.split(r#"<tr><th scope="row">"#)
        .skip(1)
        .map(|row| {
            let (head, rest) = row.split_once("</th>").unwrap();
            let cells = rest
                .split("<td>")
                .skip(1)
                .map(|c| unescape_html(c.split("</td>").next().unwrap()))
                .collect();
            (unescape_html(head), cells)
        })
        .collect()
}

/// The column headers of the table with this caption.
fn head(html: &str, caption: &str) -> Vec<String> {
    let start = html.find(&format!("<caption>{caption}</caption>")).unwrap();
    let thead = &html[start..];
    let thead = &thead[..thead.find("</thead>").unwrap()];
    thead
        .split(r#"<th scope="col">"#)
        .skip(1)
        .map(|h| unescape_html(h.split("</th>").next().unwrap()))
        .collect()
}

fn row(head: &str, cells: &[&str]) -> (String, Vec<String>) {
    (
        head.to_owned(),
        cells.iter().map(|c| (*c).to_owned()).collect(),
    )
}

async fn figures_page(client: &ConsoleClient, path: &str) -> String {
    let page = client.get(path).await;
    assert_eq!(page.status, 200, "GET {path}: {}", page.text());
    page.text()
}

/// The p-th percentile of `values` by the nearest rank: sorted ascending, the ⌈p·n/100⌉-th
/// (the reference the database's ranking is checked against).
fn nearest_rank(values: &[i64], p: i64) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (p * sorted.len() as i64 + 99) / 100;
    sorted[(rank.max(1) - 1) as usize]
}

async fn the_database_ranks_times_as_nearest_rank_percentiles(db: Db) {
    // Arrange: lighting's ten cases routed after 10, 9, ... 1 hours (the classic check: the
    // median of 1..10 is 5, the 90th percentile 9); security's four after 4, 1, 3, 2 hours (an
    // even count: the lower middle one); water's one after 7.5 hours; and 200 cases of "other"
    // routed and attended after random minutes, some attended before they were received
    // (clocks disagree: counted as zero).
    let app = app_or_skip!(db);
    let store = &app.state.store;
    let start = mx(11, 2, 8, 0);
    let mut cases = Vec::new();
    let mut routed: Vec<(i64, i64)> = Vec::new();
    let mut attended: Vec<(i64, i64)> = Vec::new();
    let mut add = |category: i64, routed_after: i64, attended_after: Option<i64>| {
        let created = Timestamp::from_utc(start.as_utc() + Duration::minutes(cases.len() as i64));
        let mut case = seed_case(
            category,
            CaseStatus::Routed,
            created,
            None,
            None,
            "+525500000001",
        );
        case.routed_at = Some(Timestamp::from_utc(
            created.as_utc() + Duration::seconds(routed_after),
        ));
        routed.push((category, routed_after));
        cases.push((case, attended_after));
        if let Some(after) = attended_after {
            attended.push((category, after.max(0)));
        }
    };
    for hours in (1..=10).rev() {
        add(ALUMBRADO, hours * 3600, None);
    }
    for hours in [4, 1, 3, 2] {
        add(SEGURIDAD, hours * 3600, None);
    }
    add(AGUA, 27_000, None);
    let mut seed = 7_u64;
    let mut random = |below: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % below) as i64
    };
    for _ in 0..200 {
        let routed_after = random(5_000) * 60;
        let attended_after = random(20_000) * 60 - 600;
        add(OTRO, routed_after, Some(attended_after));
    }
    let first = store
        .insert_seed_cases(&cases.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>())
        .await
        .unwrap();
    let events: Vec<SeedEvent> = cases
        .iter()
        .enumerate()
        .filter_map(|(n, (case, after))| {
            after.map(|after| SeedEvent {
                case_id: first + n as i64,
                at: Timestamp::from_utc(case.created_at.as_utc() + Duration::seconds(after)),
                from_status: Some(CaseStatus::InProgress),
                to_status: CaseStatus::Attended,
            })
        })
        .collect();
    store.insert_seed_events(&events).await.unwrap();

    // Act
    let spreads = store
        .time_spreads(&FigureScope {
            who: Visibility::All,
            from: start,
            until: mx(11, 27, 0, 0),
            department_id: None,
        })
        .await
        .unwrap();

    // Assert: every category and every category at once, both points, as the reference ranks.
    let expect = |of: &[(i64, i64)], category: Option<i64>| {
        let values: Vec<i64> = of
            .iter()
            .filter(|(c, _)| category.is_none_or(|id| *c == id))
            .map(|(_, s)| *s)
            .collect();
        (
            values.len() as i64,
            nearest_rank(&values, 50),
            nearest_rank(&values, 90),
        )
    };
    let got = |to: Progress, category: Option<i64>| {
        let row = spreads
            .iter()
            .find(|r| {
                r.to == to
                    && r.whole == category.is_none()
                    && (r.whole || r.category_id == category)
            })
            .unwrap_or_else(|| panic!("{to:?} {category:?}: {spreads:?}"));
        (row.cases, row.median_seconds, row.p90_seconds)
    };
    assert_eq!(
        got(Progress::Routed, Some(ALUMBRADO)),
        (10, 5 * 3600, 9 * 3600)
    );
    assert_eq!(
        got(Progress::Routed, Some(SEGURIDAD)),
        (4, 2 * 3600, 4 * 3600)
    );
    assert_eq!(got(Progress::Routed, Some(AGUA)), (1, 27_000, 27_000));
    for category in [Some(OTRO), None] {
        assert_eq!(got(Progress::Routed, category), expect(&routed, category));
        assert_eq!(
            got(Progress::Attended, category),
            expect(&attended, category)
        );
    }
    assert_eq!(spreads.len(), 4 + 1 + 2, "{spreads:?}");
    app.stop().await;
}

async fn the_figures_are_those_of_the_data(db: Db) {
    // Arrange
    let app = app_or_skip!(db);
    let seeded = seed(&app).await;

    // Act
    let html = figures_page(&seeded.operador, &format!("/cifras?{PERIOD}")).await;

    // Assert: cases received per week (Mexico City weeks from Monday), by channel and category.
    assert!(html.contains("Del 02/11/2026 al 27/11/2026"), "{html}");
    let weeks = [
        "02/11/2026 al 08/11/2026",
        "09/11/2026 al 15/11/2026",
        "16/11/2026 al 22/11/2026",
        "23/11/2026 al 27/11/2026",
    ];
    assert_eq!(
        head(&html, "Casos recibidos por semana y canal"),
        ["Semana", "Línea telefónica", "WhatsApp", "Total"]
    );
    assert_eq!(
        table(&html, "Casos recibidos por semana y canal"),
        vec![
            row(weeks[0], &["7", "0", "7"]),
            row(weeks[1], &["4", "0", "4"]),
            row(weeks[2], &["5", "0", "5"]),
            row(weeks[3], &["0", "1", "1"]),
            row("Total", &["16", "1", "17"]),
        ]
    );
    assert_eq!(
        head(&html, "Casos recibidos por semana y categoría"),
        [
            "Semana",
            "Alumbrado público",
            "Seguridad pública",
            "Agua potable",
            "Otro reporte",
            "Total"
        ]
    );
    assert_eq!(
        table(&html, "Casos recibidos por semana y categoría"),
        vec![
            row(weeks[0], &["7", "0", "0", "0", "7"]),
            row(weeks[1], &["3", "1", "0", "0", "4"]),
            row(weeks[2], &["0", "0", "5", "0", "5"]),
            row(weeks[3], &["0", "0", "0", "1", "1"]),
            row("Total", &["10", "1", "5", "1", "17"]),
        ]
    );

    // Open cases by status, and overdue ones by department.
    assert_eq!(
        table(&html, "Casos abiertos por estado"),
        vec![
            row(status_label(CaseStatus::Received), &["2"]),
            row(status_label(CaseStatus::InReview), &["0"]),
            row(status_label(CaseStatus::Routed), &["6"]),
            row(status_label(CaseStatus::InProgress), &["4"]),
            row(status_label(CaseStatus::Attended), &["1"]),
            row(status_label(CaseStatus::Reopened), &["0"]),
            row("Total", &["13"]),
        ]
    );
    assert_eq!(
        table(&html, "Casos vencidos por área"),
        vec![
            row("Dirección de Agua Potable", &["3", "5", "60.0 %"]),
            row("Dirección de Alumbrado Público", &["3", "7", "42.9 %"]),
            row(
                "Dirección de Participación Ciudadana",
                &["1", "1", "100.0 %"]
            ),
            row("Total", &["7", "13", "53.8 %"]),
        ]
    );

    // Medians and 90th percentiles (nearest rank), per category and overall.
    assert_eq!(
        table(&html, "Tiempo para canalizar y para atender, por categoría"),
        vec![
            row(
                "Alumbrado público",
                &["10", "5.0 h", "9.0 h", "4", "2.0 días", "4.0 días"]
            ),
            row(
                "Seguridad pública",
                &["1", "1.0 h", "1.0 h", "1", "30.0 h", "30.0 h"]
            ),
            row("Agua potable", &["4", "4.0 h", "8.0 h", "0", "—", "—"]),
            row(
                "Todas",
                &["15", "5.0 h", "9.0 h", "5", "2.0 días", "4.0 días"]
            ),
        ]
    );

    // Reopened: one case of the 17.
    assert_eq!(
        table(&html, "Casos reabiertos"),
        vec![
            row("Recibidos", &["17"]),
            row("Reabiertos", &["1"]),
            row("Porcentaje", &["5.9 %"]),
        ]
    );

    // Calls per day, with those abandoned and those still owed a call back today.
    let calls = table(&html, "Llamadas por día");
    assert_eq!(calls.len(), 27, "one row a day, and the total");
    assert_eq!(calls[0], row("02/11/2026", &["0", "0", "0"]));
    assert_eq!(
        calls[23..].to_vec(),
        vec![
            row("25/11/2026", &["3", "2", "1"]),
            row("26/11/2026", &["3", "3", "2"]),
            row("27/11/2026", &["1", "0", "0"]),
            row("Total", &["7", "5", "3"]),
        ]
    );
    let owed_numbers = app
        .state
        .store
        .calls_owed_count(app.state.clock.now())
        .await
        .unwrap();
    assert_eq!(owed_numbers, 3, "the same rule as /devolver");

    // Charts: SVG drawn by the service, labelled, without inline style or script.
    assert!(
        html.matches(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart"#)
            .count()
            >= 8
    );
    assert!(html.contains(r#"role="img" aria-label="Casos vencidos por área""#));
    assert!(!html.contains("style="), "no inline style (CSP)");
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the console's script"
    );
    assert!(
        html.contains(r#"<a href="/cifras">Cifras</a>"#),
        "in the navigation"
    );

    // The office may look at one department.
    let html = figures_page(&seeded.operador, &format!("/cifras?{PERIOD}&area=3")).await;
    assert_eq!(
        table(&html, "Casos reabiertos")[0],
        row("Recibidos", &["5"])
    );
    assert_eq!(
        table(&html, "Casos vencidos por área"),
        vec![
            row("Dirección de Agua Potable", &["3", "5", "60.0 %"]),
            row("Total", &["3", "5", "60.0 %"]),
        ]
    );

    // The default span: the last twelve weeks, Monday 7 September to today (the October case
    // too).
    let html = figures_page(&seeded.operador, "/cifras").await;
    assert!(html.contains("Del 07/09/2026 al 27/11/2026"), "{html}");
    assert_eq!(
        table(&html, "Casos reabiertos")[1],
        row("Reabiertos", &["2"])
    );
    assert_eq!(
        table(&html, "Casos reabiertos")[0],
        row("Recibidos", &["18"])
    );

    // The tables as a spreadsheet.
    let csv = seeded.operador.get(&format!("/cifras.csv?{PERIOD}")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with(b"\xEF\xBB\xBF"));
    let text = csv.text();
    assert!(
        text.contains("\r\nCasos vencidos por área,,,,,,\r\nÁrea,Vencidos,Abiertos,Vencidos de los abiertos,,,\r\nDirección de Agua Potable,3,5,60.0 %,,,\r\n"),
        "{text}"
    );
    app.stop().await;
}

async fn a_department_sees_only_its_own_figures(db: Db) {
    // Arrange
    let app = app_or_skip!(db);
    let _seeded = seed(&app).await;
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let agua = app.signed_in("agua1", Role::Area, Some("agua")).await;

    // Act: the street-lighting department, asking for water's figures too.
    for path in [
        format!("/cifras?{PERIOD}"),
        format!("/cifras?{PERIOD}&area=3"),
    ] {
        let html = figures_page(&luz, &path).await;

        // Assert: only its own ten cases; nothing of another department, no calls.
        assert_eq!(
            table(&html, "Casos recibidos por semana y categoría"),
            vec![
                row("02/11/2026 al 08/11/2026", &["7", "7"]),
                row("09/11/2026 al 15/11/2026", &["3", "3"]),
                row("16/11/2026 al 22/11/2026", &["0", "0"]),
                row("23/11/2026 al 27/11/2026", &["0", "0"]),
                row("Total", &["10", "10"]),
            ]
        );
        assert_eq!(
            table(&html, "Casos vencidos por área"),
            vec![
                row("Dirección de Alumbrado Público", &["3", "7", "42.9 %"]),
                row("Total", &["3", "7", "42.9 %"]),
            ]
        );
        assert_eq!(
            table(&html, "Casos reabiertos")[2],
            row("Porcentaje", &["10.0 %"])
        );
        for other in ["Agua", "Seguridad", "Participación Ciudadana", "WhatsApp"] {
            assert!(!html.contains(other), "{other} in {path}:\n{html}");
        }
        assert!(
            !html.contains(r#"id="llamadas""#),
            "the calls are the office's"
        );
        assert!(!html.contains(r#"name="area""#), "no department to choose");
    }
    let csv = luz
        .get(&format!("/cifras.csv?{PERIOD}&area=3"))
        .await
        .text();
    assert!(!csv.contains("Agua") && !csv.contains("Llamadas"), "{csv}");

    // Water sees its four routed cases, not the one still being classified.
    let html = figures_page(&agua, &format!("/cifras?{PERIOD}")).await;
    assert_eq!(
        table(&html, "Casos vencidos por área"),
        vec![
            row("Dirección de Agua Potable", &["2", "4", "50.0 %"]),
            row("Total", &["2", "4", "50.0 %"]),
        ]
    );
    assert!(!html.contains("Alumbrado"), "{html}");
    app.stop().await;
}

async fn the_case_list_downloads_as_a_spreadsheet(db: Db) {
    // Arrange
    let app = app_or_skip!(db);
    let seeded = seed(&app).await;
    let staff = &seeded.operador;

    // The inbox links to its list as a spreadsheet, with its filters.
    let inbox = staff.get("/?estado=routed&categoria=1").await.text();
    assert!(
        unescape_html(&inbox).contains(r#"href="/casos.csv?estado=routed&categoria=1""#),
        "{inbox}"
    );

    // Act: the open cases (the inbox's default).
    let csv = staff.get("/casos.csv").await;

    // Assert
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(csv.header("content-disposition").contains("attachment"));
    assert!(
        csv.header("content-disposition")
            .contains("casos-2026-11-27.csv")
    );
    assert!(csv.body.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    let text = csv.text();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert_eq!(
        lines[0],
        "Folio,Recibido,Canal,Categoría,Urgencia,Estado,Área,Teléfono,Colonia,Calle,Vence,Respuesta prometida"
    );
    // 13 open cases received in November, the October one, the header and the final line end.
    assert_eq!(lines.len(), 14 + 2, "{text}");
    // The triaged case: its colonia made text (a leading apostrophe), its number too.
    let triaged = lines
        .iter()
        .find(|l| l.starts_with(&seeded.triaged))
        .unwrap_or_else(|| panic!("{} in {text}", seeded.triaged));
    assert_eq!(
        *triaged,
        format!(
            "{},20/11/2026 09:00,Línea telefónica,Agua potable,No urgente,Recibido,Dirección de Agua Potable,'{TRIAGED_CALLER},\"'=HYPERLINK(\"\"http://x.example\"\",\"\"clic\"\")\",Hidalgo 12,21/11/2026 09:00,",
            seeded.triaged
        )
    );
    // The WhatsApp report: its channel, no number.
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",WhatsApp,Otro reporte,") && l.contains(",Sin identificador,")),
        "{text}"
    );

    // The same filters as the inbox: closed alumbrado cases.
    let text = staff
        .get("/casos.csv?estado=closed&categoria=1")
        .await
        .text();
    assert_eq!(text.trim_end().lines().count(), 1 + 3, "{text}");

    // A department: its routed cases only, numbers masked.
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let text = luz.get("/casos.csv?area=3").await.text();
    let lines: Vec<&str> = text.trim_end().lines().skip(1).collect();
    assert_eq!(
        lines.len(),
        7 + 1,
        "its open cases, the October one too: {text}"
    );
    assert!(
        lines.iter().all(|l| l.contains(",Alumbrado público,")),
        "{text}"
    );
    assert!(lines[0].contains(",•••• "), "{text}");
    assert!(!text.contains("+52"), "no whole number: {text}");
    app.stop().await;
}
