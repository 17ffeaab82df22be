//! The staff console over HTTP: roles, CSRF, sessions, the lifecycle, recordings, attachments.
//!
//! Each test signs people in as a browser would (the sign-in page, its token, the session
//! cookie) and checks the store for what an answer changed, or did not. State that is not what
//! a test is about is arranged through the store.

use crate::helpers::{
    CALLER, ConsoleClient, ConsoleReply, Db, FormPart, Options, STAFF_PASSWORD, STREET_LIGHTING,
    StorageKind, TestApp, WATER, new_call_sid, new_recording_sid, unescape_html,
};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{
    CallSid, CaseEventKind, CaseStatus, ClosureReason, Direction, Folio, MessageTemplate,
    PhoneNumber, RecordingSid, RecordingStatus, Role, Timestamp, Urgency,
};
use atiende::files::FileKey;
use atiende::store::{
    CaseEvent, CaseFilter, CaseRecord, CaseView, NewPhoneCase, StatusChange, UserChange, Visibility,
};
use std::collections::HashSet;

on_both_databases!(
    an_area_user_sees_only_routed_cases_of_its_department,
    forms_without_this_sessions_token_are_refused_and_change_nothing,
    recordings_reach_only_signed_in_staff_in_ranges_and_each_listen_is_noted,
    unknown_users_and_wrong_passwords_get_the_same_answer,
    five_failures_pause_sign_in_for_that_account_only,
    signing_in_issues_a_new_session_and_signing_out_ends_it,
    sign_in_returns_only_to_our_own_pages,
    a_closed_account_or_a_new_password_ends_its_sessions,
    the_office_walks_a_case_through_every_valid_move,
    every_move_from_every_status_follows_the_lifecycle,
    invalid_moves_are_refused_with_the_reason_and_change_nothing,
    a_department_may_only_start_work_and_file_its_report,
    photos_and_pdfs_are_kept_with_the_report_and_served_to_allowed_staff,
    a_renamed_executable_is_refused_and_nothing_is_kept,
    attachments_are_served_under_their_checked_type_with_nothing_hidden,
    a_department_cannot_recover_a_masked_number_by_searching,
    new_searches_are_limited_and_a_repeated_one_is_free,
    the_case_list_is_safe_in_a_spreadsheet_that_splits_at_semicolons,
    staff_text_is_escaped_and_pages_forbid_inline_script_and_framing,
    text_longer_than_a_form_allows_is_cut_to_its_limit,
    the_inbox_shows_phone_cases_and_polls_for_newer_ones,
    keyset_pages_have_no_duplicates_and_no_gaps,
    recordings_and_attachments_on_s3_storage,
    a_player_asking_for_pieces_at_once_is_one_listen,
    guesses_sent_at_once_are_paused_after_five_all_the_same,
);

// Arranging cases.

/// Another caller's number, and its last four digits.
const OTHER_CALLER: &str = "+525587654321";
/// A department coordinator's mobile (the routing SMS goes there).
const ALUMBRADO_CONTACT: &str = "+525511112222";
/// The category and department ids of the default data.
const LIGHTING: i64 = 1;
const WATER_ID: i64 = 3;
/// A date the action report form takes (the test clock's day in Mexico City).
const TODAY: &str = "2026-11-27";

/// A phone case made straight in the store (no call flow, no recording to fetch), from `from`
/// in category `category` (1: lighting, alumbrado; 3: water, agua), received at `at`.
async fn stored_case(
    app: &TestApp,
    from: Option<&str>,
    category: i64,
    urgency: Urgency,
    at: Timestamp,
) -> CaseRecord {
    let call_sid = CallSid::parse(&new_call_sid()).unwrap();
    let recording_sid = RecordingSid::parse(&new_recording_sid()).unwrap();
    let caller = from.map(|n| PhoneNumber::parse(n).unwrap());
    let (case, created) = app
        .state
        .store
        .create_phone_case(&NewPhoneCase {
            call_sid: &call_sid,
            caller: caller.as_ref(),
            category_id: Some(category),
            urgency,
            recording_sid: &recording_sid,
            recording_url: None,
            recording_duration_seconds: Some(30),
            at,
            recovered: None,
        })
        .await
        .unwrap();
    assert!(created);
    case
}

/// A lighting case from the test caller, received now.
async fn new_case(app: &TestApp) -> CaseRecord {
    stored_case(
        app,
        Some(CALLER),
        LIGHTING,
        Urgency::NotUrgent,
        app.state.clock.now(),
    )
    .await
}

/// Moves a case through the store, as the arrangement of a test.
async fn set_status(
    app: &TestApp,
    case: &CaseRecord,
    to: CaseStatus,
    department: Option<i64>,
    reason: Option<ClosureReason>,
) {
    app.state
        .store
        .change_case_status(&StatusChange {
            case_id: case.id,
            expected: None,
            to,
            closure_reason: reason,
            department_id: department,
            duplicate_of: None,
            action_summary: None,
            actor: "prueba",
            note: None,
            at: app.state.clock.now(),
        })
        .await
        .unwrap();
}

/// A lighting case in `status`, routed to alumbrado on the way when the status needs it.
async fn case_in(app: &TestApp, status: CaseStatus) -> CaseRecord {
    use CaseStatus::*;
    let case = new_case(app).await;
    let path: &[(CaseStatus, Option<ClosureReason>)] = match status {
        Received => &[],
        InReview => &[(InReview, None)],
        Routed => &[(Routed, None)],
        InProgress => &[(Routed, None), (InProgress, None)],
        Attended => &[(Routed, None), (InProgress, None), (Attended, None)],
        Closed => &[
            (Routed, None),
            (Attended, None),
            (Closed, Some(ClosureReason::Resolved)),
        ],
        Reopened => &[(Routed, None), (Attended, None), (Reopened, None)],
    };
    for (to, reason) in path {
        let department = (*to == Routed).then_some(LIGHTING);
        set_status(app, &case, *to, department, *reason).await;
    }
    case
}

/// A case never routed to any department, closed without action and reopened.
async fn reopened_without_routing(app: &TestApp) -> CaseRecord {
    let case = new_case(app).await;
    let reason = Some(ClosureReason::NotApplicable);
    set_status(app, &case, CaseStatus::Closed, None, reason).await;
    set_status(app, &case, CaseStatus::Reopened, None, None).await;
    case
}

/// A case reported by phone through the webhooks, its recording fetched and stored.
async fn phone_case_with_recording(app: &TestApp, from: &str, category_key: &str) -> CaseRecord {
    let case = app.report_and_hang_up(Some(from), category_key).await;
    let sid = case.recording_sid.clone().expect("a recording");
    app.job_done(&format!("recording:{sid}")).await;
    case
}

// Reading back.

/// The case as the office sees it.
async fn view(app: &TestApp, folio: &str) -> CaseView {
    app.state
        .store
        .case_view(Visibility::All, folio)
        .await
        .unwrap()
        .expect("the case exists")
}

async fn history(app: &TestApp, case_id: i64) -> Vec<CaseEvent> {
    app.state.store.case_history(case_id).await.unwrap()
}

/// The outbound messages of a case: `(id, template, to)`.
async fn outbox(app: &TestApp, case_id: i64) -> Vec<(i64, Option<MessageTemplate>, String)> {
    app.state
        .store
        .messages(Some(case_id))
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == Direction::Outbound)
        .map(|m| (m.id, m.template, m.to_number.unwrap_or_default()))
        .collect()
}

/// Everything about a case an action could change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    case: CaseView,
    history: Vec<CaseEvent>,
    outbox: Vec<(i64, Option<MessageTemplate>, String)>,
    reports: usize,
    attachments: usize,
}

async fn snapshot(app: &TestApp, folio: &str) -> Snapshot {
    let case = view(app, folio).await;
    let id = case.id;
    Snapshot {
        history: history(app, id).await,
        outbox: outbox(app, id).await,
        reports: app.state.store.action_reports(id).await.unwrap().len(),
        attachments: app.state.store.attachments(id).await.unwrap().len(),
        case,
    }
}

/// Every key in storage.
async fn stored_files(app: &TestApp) -> Vec<String> {
    let mut keys = app.state.files.list().await.unwrap();
    keys.sort();
    keys
}

// Pages and forms.

/// The folios of the inbox rows of a page, in order.
fn folios_in(html: &str) -> Vec<String> {
    let marker = r#"<td data-label="Folio"><a href="/casos/"#;
    html.match_indices(marker)
        .map(|(at, _)| {
            html[at + marker.len()..]
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The inbox's "Siguientes" link, unescaped.
fn next_page(html: &str) -> Option<String> {
    let end = html.find(r#"" rel="next">Siguientes"#)?;
    let start = html[..end].rfind(r#"href=""#)? + r#"href=""#.len();
    Some(unescape_html(&html[start..end]))
}

/// The id of the newest row shown (`data-newest`).
fn newest_shown(html: &str) -> i64 {
    let marker = r#"data-newest=""#;
    let start = html.find(marker).expect("data-newest") + marker.len();
    html[start..].split('"').next().unwrap().parse().unwrap()
}

/// Posts a move of the case page's status buttons.
async fn press(client: &ConsoleClient, folio: &str, accion: &str) -> ConsoleReply {
    let csrf = client.csrf("/").await;
    client
        .post_form(
            &format!("/casos/{folio}/estado"),
            &[("csrf", &csrf), ("accion", accion), ("nota", "")],
        )
        .await
}

/// Posts the routing form.
async fn route(client: &ConsoleClient, folio: &str, area: &str) -> ConsoleReply {
    let csrf = client.csrf("/").await;
    client
        .post_form(
            &format!("/casos/{folio}/canalizar"),
            &[("csrf", &csrf), ("area", area), ("nota", "")],
        )
        .await
}

/// A file of an action report: `(file name, content type, bytes)`.
type Upload<'a> = (&'a str, &'a str, &'a [u8]);

/// Posts the action report form with these files.
async fn report(client: &ConsoleClient, folio: &str, files: &[Upload<'_>]) -> ConsoleReply {
    let csrf = client.csrf("/").await;
    let mut parts = vec![
        FormPart::Text("csrf", &csrf),
        FormPart::Text("resumen", "Se cambió la luminaria."),
        FormPart::Text("fecha", TODAY),
        FormPart::Text("responsable", "Cuadrilla 3"),
    ];
    for (file_name, content_type, bytes) in files {
        parts.push(FormPart::File {
            name: "archivo",
            file_name,
            content_type,
            bytes,
        });
    }
    client
        .post_multipart(&format!("/casos/{folio}/informe"), &parts)
        .await
}

/// A PNG, a JPEG and a PDF as their first bytes make them.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend_from_slice(&[7; 64]);
    bytes
}

fn jpeg(size: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(size, 0x42);
    bytes
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec()
}

/// Asserts a 303 back to the case page saying what was done.
fn assert_done(res: &ConsoleReply, folio: &str, what: &str) {
    assert_eq!(res.status, 303, "{}", res.text());
    assert_eq!(res.location(), format!("/casos/{folio}?hecho={what}"));
}

/// Asserts a refusal: 422 with the reason shown.
#[track_caller]
fn assert_refused(res: &ConsoleReply, reason: &str) {
    assert_eq!(
        res.status,
        422,
        "{reason:?}: {} {}",
        res.location(),
        res.text()
    );
    assert!(
        res.text().contains(reason),
        "{reason:?} not in {}",
        res.text()
    );
}

// 1. Roles.

async fn an_area_user_sees_only_routed_cases_of_its_department(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a lighting case routed to alumbrado, one not routed yet, and a water case
    // routed to agua with a photo of agua's report; a user of alumbrado.
    let ours = phone_case_with_recording(&app, CALLER, STREET_LIGHTING).await;
    let not_routed = stored_case(
        &app,
        Some(OTHER_CALLER),
        LIGHTING,
        Urgency::NotUrgent,
        app.state.clock.now(),
    )
    .await;
    let theirs = phone_case_with_recording(&app, "+525511223344", WATER).await;
    set_status(&app, &ours, CaseStatus::Routed, Some(LIGHTING), None).await;
    set_status(&app, &theirs, CaseStatus::Routed, Some(WATER_ID), None).await;
    let agua = app.signed_in("agua1", Role::Area, Some("agua")).await;
    let filed = report(&agua, &theirs.folio, &[("foto.png", "image/png", &png())]).await;
    assert_done(&filed, &theirs.folio, "informe");
    let attachment = app.state.store.attachments(theirs.id).await.unwrap()[0].id;
    let before = snapshot(&app, &theirs.folio).await;
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;

    // Act and assert: its own routed case, and its recording.
    let page = luz.get(&format!("/casos/{}", ours.folio)).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("•••• 5678"), "{}", page.text());
    assert!(!page.text().contains("12345678"), "{}", page.text());
    let audio = luz.get(&format!("/casos/{}/grabacion", ours.folio)).await;
    assert_eq!(audio.status, 200);
    assert_eq!(audio.header("content-type"), "audio/wav");

    // Anything else is the same 404 as a folio that does not exist.
    let missing = luz.get("/casos/9999999").await;
    assert_eq!(missing.status, 404);
    for path in [
        format!("/casos/{}", not_routed.folio),
        format!("/casos/{}/grabacion", not_routed.folio),
        format!("/casos/{}/orden", not_routed.folio),
        format!("/casos/{}", theirs.folio),
        format!("/casos/{}/grabacion", theirs.folio),
        format!("/casos/{}/orden", theirs.folio),
        format!("/adjuntos/{attachment}"),
    ] {
        let res = luz.get(&path).await;
        assert_eq!(res.status, 404, "{path}: {}", res.text());
        assert_eq!(res.text(), missing.text(), "{path}");
        assert_ne!(res.header("content-type"), "audio/wav", "{path}");
        assert!(!res.body.starts_with(b"RIFF"), "{path}");
        assert!(!res.body.starts_with(b"\x89PNG"), "{path}");
    }
    // Nor may it act on another department's case.
    let csrf = luz.csrf("/").await;
    let folio = &theirs.folio;
    for (path, form) in [
        (format!("/casos/{folio}/nota"), vec![("nota", "hola")]),
        (
            format!("/casos/{folio}/estado"),
            vec![("accion", "reabrir")],
        ),
    ] {
        let mut form = form;
        form.push(("csrf", csrf.as_str()));
        let res = luz.post_form(&path, &form).await;
        assert_eq!(res.status, 404, "{path}: {}", res.text());
    }
    assert_eq!(snapshot(&app, &theirs.folio).await, before);

    // The inbox: only alumbrado's routed case, the number masked.
    let inbox = luz.get("/").await;
    assert_eq!(inbox.status, 200);
    assert_eq!(folios_in(&inbox.text()), vec![ours.folio.clone()]);
    assert!(
        inbox
            .text()
            .contains(r#"Abiertos: <span class="n">1</span>"#),
        "{}",
        inbox.text()
    );
    assert!(inbox.text().contains("•••• 5678"), "{}", inbox.text());
    for full in ["5512345678", "87654321", "11223344"] {
        assert!(!inbox.text().contains(full), "{full}: {}", inbox.text());
    }
    let newer = luz.get("/bandeja/nuevos?despues_id=0").await;
    assert_eq!(folios_in(&newer.text()), vec![ours.folio.clone()]);
    assert!(!newer.text().contains("5512345678"), "{}", newer.text());
    // A search does not reach beyond its department either.
    let search = luz.get(&format!("/?buscar={}", theirs.folio)).await;
    assert!(folios_in(&search.text()).is_empty(), "{}", search.text());
    app.stop().await;
}

// 2. CSRF.

async fn forms_without_this_sessions_token_are_refused_and_change_nothing(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a routed case every form would change; two people signed in, and the token
    // the first one's sign-in page had before signing in.
    let case = case_in(&app, CaseStatus::Routed).await;
    let ana = app.console_client();
    let before_sign_in = ana.csrf("/entrar").await;
    app.add_staff("ana", Role::Operador, None).await;
    assert_eq!(ana.sign_in("ana", STAFF_PASSWORD).await.status, 303);
    let beto = app.signed_in("beto", Role::Operador, None).await;
    let betos = beto.csrf("/").await;
    let anas = ana.csrf("/").await;
    assert_ne!(anas, betos);
    assert_ne!(anas, before_sign_in, "a new token at sign-in");
    let before = snapshot(&app, &case.folio).await;
    let files_before = stored_files(&app).await;
    let folio = &case.folio;
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!("/casos/{folio}/clasificar"),
            vec![
                ("categoria", "3"),
                ("urgencia", "urgent"),
                ("calle", "Hidalgo 12"),
                ("descripcion", "Fuga"),
            ],
        ),
        (format!("/casos/{folio}/canalizar"), vec![("area", "3")]),
        (
            format!("/casos/{folio}/estado"),
            vec![("accion", "atender")],
        ),
        (format!("/casos/{folio}/nota"), vec![("nota", "Una nota")]),
        ("/salir".to_owned(), vec![]),
    ];
    let png = png();

    for token in [None, Some(""), Some(betos.as_str()), Some(&before_sign_in)] {
        for (path, fields) in &forms {
            // Act
            let mut fields = fields.clone();
            if let Some(token) = token {
                fields.push(("csrf", token));
            }
            let res = ana.post_form(path, &fields).await;
            // Assert
            assert_eq!(res.status, 403, "{path} with {token:?}: {}", res.text());
            assert!(res.text().contains("Formulario vencido"), "{}", res.text());
        }
        let mut parts = vec![
            FormPart::Text("resumen", "Hecho"),
            FormPart::Text("fecha", TODAY),
            FormPart::Text("responsable", "Cuadrilla"),
            FormPart::File {
                name: "archivo",
                file_name: "foto.png",
                content_type: "image/png",
                bytes: &png,
            },
        ];
        if let Some(token) = token {
            parts.push(FormPart::Text("csrf", token));
        }
        let res = ana
            .post_multipart(&format!("/casos/{folio}/informe"), &parts)
            .await;
        assert_eq!(res.status, 403, "informe with {token:?}: {}", res.text());
    }

    assert_eq!(snapshot(&app, folio).await, before);
    assert_eq!(stored_files(&app).await, files_before);
    assert_eq!(ana.get("/").await.status, 200, "still signed in");
    // The sign-in form needs its token too.
    let anon = app.console_client();
    anon.get("/entrar").await;
    let res = anon
        .post_form(
            "/entrar",
            &[("usuario", "ana"), ("contrasena", STAFF_PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text());
    assert_eq!(anon.get("/").await.status, 303, "not signed in");
    app.stop().await;
}

// 3. Recordings.

async fn recordings_reach_only_signed_in_staff_in_ranges_and_each_listen_is_noted(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a reported case with its recording stored; three people of the office.
    let case = phone_case_with_recording(&app, CALLER, STREET_LIGHTING).await;
    let key = view(&app, &case.folio).await.storage_key.expect("stored");
    let wav = app
        .state
        .files
        .get(&FileKey::stored(&key).unwrap())
        .await
        .unwrap();
    let size = wav.len();
    assert!(wav.starts_with(b"RIFF") && size > 100);
    let path = format!("/casos/{}/grabacion", case.folio);
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let beto = app.signed_in("beto", Role::Admin, None).await;
    let carla = app.signed_in("carla", Role::Operador, None).await;
    let dora = app.signed_in("dora", Role::Operador, None).await;

    // Act and assert: nobody signed in gets a byte of audio, whatever they send.
    let anon = app.console_client();
    for headers in [vec![], vec![("range", "bytes=0-99")]] {
        for cookie in [None, Some("bm90IGEgc2Vzc2lvbg")] {
            anon.set_cookie(cookie.map(str::to_owned));
            let res = anon.get_with(&path, &headers).await;
            assert_eq!(res.status, 303, "{headers:?} {cookie:?}");
            assert!(res.location().starts_with("/entrar?siguiente="));
            assert_ne!(res.header("content-type"), "audio/wav");
            assert!(!res.body.starts_with(b"RIFF"));
        }
    }

    // The whole file, a part, and a part beyond the end.
    let whole = ana.get(&path).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), "audio/wav");
    assert_eq!(whole.header("accept-ranges"), "bytes");
    assert_eq!(whole.body, wav);
    let part = ana.get_with(&path, &[("range", "bytes=0-99")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), format!("bytes 0-99/{size}"));
    assert_eq!(part.body, wav[..100]);
    let middle = ana.get_with(&path, &[("range", "bytes=10-19")]).await;
    assert_eq!(middle.status, 206);
    assert_eq!(
        middle.header("content-range"),
        format!("bytes 10-19/{size}")
    );
    assert_eq!(middle.body, wav[10..20]);
    let tail = ana.get_with(&path, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, wav[size - 10..]);
    let beyond = ana
        .get_with(&path, &[("range", &format!("bytes={size}-"))])
        .await;
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), format!("bytes */{size}"));
    assert!(beyond.body.is_empty());

    // Each person's listens are noted once per ten minutes.
    let now = app.state.clock.now().as_utc();
    let ago = |minutes| Timestamp::from_utc(now - chrono::Duration::minutes(minutes));
    let store = &app.state.store;
    store.note_listen(case.id, "carla", ago(11)).await.unwrap();
    store.note_listen(case.id, "dora", ago(5)).await.unwrap();
    assert_eq!(beto.get(&path).await.status, 200);
    assert_eq!(beto.get(&path).await.status, 200);
    assert_eq!(carla.get(&path).await.status, 200);
    assert_eq!(dora.get(&path).await.status, 200);
    let listens = |who: &str, events: &[CaseEvent]| {
        events
            .iter()
            .filter(|e| e.kind == CaseEventKind::Listened && e.actor == who)
            .count()
    };
    let events = history(&app, case.id).await;
    assert_eq!(listens("ana", &events), 1, "{events:#?}");
    assert_eq!(listens("beto", &events), 1, "{events:#?}");
    assert_eq!(listens("carla", &events), 2, "{events:#?}");
    assert_eq!(listens("dora", &events), 1, "{events:#?}");
    // The case page says who listened.
    let page = ana.get(&format!("/casos/{}", case.folio)).await.text();
    assert!(page.contains("Escuchó la grabación"), "{page}");
    app.stop().await;
}

// 4. Signing in and out.

async fn unknown_users_and_wrong_passwords_get_the_same_answer(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    app.add_staff("operadora-real", Role::Operador, None).await;
    let client = app.console_client();
    let csrf = client.csrf("/entrar").await;
    let attempt = |name: &'static str, password: &'static str| {
        let csrf = csrf.clone();
        let client = &client;
        async move {
            client
                .post_form(
                    "/entrar",
                    &[
                        ("usuario", name),
                        ("contrasena", password),
                        ("csrf", &csrf),
                        ("siguiente", "/"),
                    ],
                )
                .await
        }
    };

    // Act
    let unknown = attempt("usuario-inexistente", STAFF_PASSWORD).await;
    let wrong = attempt("operadora-real", "otra contraseña larga").await;

    // Assert: the same status and the same page but for the name typed.
    assert_eq!(unknown.status, 401, "{}", unknown.text());
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(
        unknown.text().replace("usuario-inexistente", "NOMBRE"),
        wrong.text().replace("operadora-real", "NOMBRE")
    );
    assert!(unknown.text().contains("Usuario o contraseña incorrectos."));
    assert_eq!(client.get("/").await.status, 303, "not signed in");
    // Both went the same way: each counts as a failure of its name, and both names are paused
    // alike after five.
    for _ in 0..4 {
        assert_eq!(attempt("usuario-inexistente", "x").await.status, 401);
        assert_eq!(attempt("operadora-real", "x").await.status, 401);
    }
    let unknown = attempt("usuario-inexistente", STAFF_PASSWORD).await;
    let known = attempt("operadora-real", STAFF_PASSWORD).await;
    assert_eq!(unknown.status, 429);
    assert_eq!(known.status, 429);
    assert_eq!(
        unknown.text().replace("usuario-inexistente", "NOMBRE"),
        known.text().replace("operadora-real", "NOMBRE")
    );
    app.stop().await;
}

async fn five_failures_pause_sign_in_for_that_account_only(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    app.add_staff("ana", Role::Operador, None).await;
    app.add_staff("beto", Role::Operador, None).await;
    let client = app.console_client();

    // Act: five wrong passwords, then the right one.
    for _ in 0..5 {
        let res = client.sign_in("ana", "no es la contraseña").await;
        assert_eq!(res.status, 401, "{}", res.text());
    }
    let paused = client.sign_in("ana", STAFF_PASSWORD).await;

    // Assert
    assert_eq!(paused.status, 429, "{}", paused.text());
    assert!(paused.text().contains("Demasiados intentos fallidos"));
    assert_eq!(client.get("/").await.status, 303, "not signed in");
    // Another account, from the same address, is not paused.
    let other = app.console_client();
    assert_eq!(other.sign_in("beto", STAFF_PASSWORD).await.status, 303);
    assert_eq!(other.get("/").await.status, 200);
    app.stop().await;
}

async fn signing_in_issues_a_new_session_and_signing_out_ends_it(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    app.add_staff("ana", Role::Operador, None).await;
    let client = app.console_client();
    // The sign-in page makes no session (nothing to fix an id on); a session this browser
    // already has, signed in before, is the id an attacker could have planted or seen.
    client.csrf("/entrar").await;
    assert_eq!(client.cookie(), None, "no session before signing in");
    assert_eq!(client.sign_in("ana", STAFF_PASSWORD).await.status, 303);
    let csrf = client.csrf("/entrar?siguiente=/bandeja/nuevos").await;
    let before = client.cookie().expect("the session of the first sign-in");

    // Act
    let res = client
        .post_form(
            "/entrar",
            &[
                ("usuario", "ana"),
                ("contrasena", STAFF_PASSWORD),
                ("csrf", &csrf),
                ("siguiente", "/bandeja/nuevos"),
            ],
        )
        .await;

    // Assert: a new id, back where she was going; the id before is worth nothing.
    assert_eq!(res.status, 303, "{}", res.text());
    assert_eq!(res.location(), "/bandeja/nuevos");
    assert!(
        res.header("set-cookie").contains("HttpOnly"),
        "{:?}",
        res.headers
    );
    assert!(res.header("set-cookie").contains("SameSite=Strict"));
    let after = client.cookie().expect("a session cookie");
    assert_ne!(after, before);
    assert_eq!(client.get("/").await.status, 200);
    let fixed = app.console_client();
    fixed.set_cookie(Some(before));
    let res = fixed.get("/").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location(), "/entrar?siguiente=%2F");

    // Signing out ends the session: the same cookie no longer opens anything.
    let token = client.csrf("/").await;
    let out = client.post_form("/salir", &[("csrf", &token)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/entrar");
    let replay = app.console_client();
    replay.set_cookie(Some(after));
    let res = replay.get("/").await;
    assert_eq!(res.status, 303);
    assert!(res.location().starts_with("/entrar"));
    assert_eq!(client.get("/").await.status, 303);
    app.stop().await;
}

async fn sign_in_returns_only_to_our_own_pages(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    app.add_staff("ana", Role::Operador, None).await;
    for (next, expected) in [
        ("/casos/1000016", "/casos/1000016"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        // Browsers drop tabs and line breaks from a URL: this would be //evil.example.
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        (" //evil.example", "/"),
    ] {
        let client = app.console_client();
        let csrf = client.csrf("/entrar").await;
        // Act
        let res = client
            .post_form(
                "/entrar",
                &[
                    ("usuario", "ana"),
                    ("contrasena", STAFF_PASSWORD),
                    ("csrf", &csrf),
                    ("siguiente", next),
                ],
            )
            .await;
        // Assert
        assert_eq!(res.status, 303, "{next:?}: {}", res.text());
        assert_eq!(res.location(), expected, "{next:?}");
    }
    app.stop().await;
}

async fn a_closed_account_or_a_new_password_ends_its_sessions(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let beto = app.signed_in("beto", Role::Operador, None).await;
    assert_eq!(ana.get("/").await.status, 200);
    assert_eq!(beto.get("/").await.status, 200);
    let at = app.state.clock.now();

    // Act
    let closed = UserChange {
        active: Some(false),
        ..Default::default()
    };
    app.state
        .store
        .change_user("ana", &closed, at)
        .await
        .unwrap();
    let hash = atiende::staff::password::hash("una contraseña nueva").unwrap();
    let new_password = UserChange {
        password_hash: Some(&hash),
        ..Default::default()
    };
    app.state
        .store
        .change_user("beto", &new_password, at)
        .await
        .unwrap();

    // Assert: both are sent to sign in on their next request, and stay out.
    let res = ana.get("/").await;
    assert_eq!(res.status, 303);
    assert!(res.location().starts_with("/entrar"));
    assert_eq!(beto.get("/").await.status, 303);
    let reopened = UserChange {
        active: Some(true),
        ..Default::default()
    };
    app.state
        .store
        .change_user("ana", &reopened, at)
        .await
        .unwrap();
    assert_eq!(ana.get("/").await.status, 303, "the session ended for good");
    // A closed account cannot sign in: the same answer as a wrong password.
    app.state
        .store
        .change_user("ana", &closed, at)
        .await
        .unwrap();
    let res = app.console_client().sign_in("ana", STAFF_PASSWORD).await;
    assert_eq!(res.status, 401);
    assert_eq!(
        beto.sign_in("beto", "una contraseña nueva").await.status,
        303
    );
    assert_eq!(beto.get("/").await.status, 200);
    app.stop().await;
}

// 5. The lifecycle.

/// Asserts a valid move: back to the case page, the status in the store, the history entry,
/// and exactly the SMS expected queued.
async fn assert_moved(
    app: &TestApp,
    res: &ConsoleReply,
    what: &str,
    before: &Snapshot,
    to: CaseStatus,
    actor: &str,
    sms: &[(MessageTemplate, &str)],
) {
    let folio = &before.case.folio;
    assert_done(res, folio, what);
    let after = snapshot(app, folio).await;
    assert_eq!(after.case.status, to, "{folio} {what}");
    let moved = after
        .history
        .iter()
        .rev()
        .find(|e| e.kind == CaseEventKind::Status)
        .expect("a status event");
    assert_eq!(moved.from_status, Some(before.case.status), "{moved:?}");
    assert_eq!(moved.to_status, Some(to), "{moved:?}");
    assert_eq!(moved.actor, actor);
    assert!(after.history.len() > before.history.len());
    let queued: Vec<(MessageTemplate, String)> = after
        .outbox
        .iter()
        .filter(|m| !before.outbox.contains(m))
        .map(|(_, t, to)| (t.expect("a template"), to.clone()))
        .collect();
    let expected: Vec<(MessageTemplate, String)> =
        sms.iter().map(|(t, to)| (*t, (*to).to_owned())).collect();
    assert_eq!(queued, expected, "{folio} {what}");
}

async fn the_office_walks_a_case_through_every_valid_move(db: Db) {
    use CaseStatus::*;
    use MessageTemplate as T;
    let app = app_or_skip!(db);
    // Arrange
    app.state
        .store
        .set_department_contact("alumbrado", Some(ALUMBRADO_CONTACT))
        .await
        .unwrap();
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let case = new_case(&app).await;
    let f = case.folio.as_str();

    // Act and assert, move by move.
    let before = snapshot(&app, f).await;
    let res = press(&ana, f, "revisar").await;
    assert_moved(&app, &res, "estado", &before, InReview, "ana", &[]).await;

    let before = snapshot(&app, f).await;
    let res = route(&ana, f, "1").await;
    let sms = [
        (T::DepartmentRouted, ALUMBRADO_CONTACT),
        (T::Routed, CALLER),
    ];
    assert_moved(&app, &res, "canalizado", &before, Routed, "ana", &sms).await;
    let routed = view(&app, f).await;
    assert_eq!(routed.department_id, Some(LIGHTING));
    assert!(routed.routed_at.is_some());

    let before = snapshot(&app, f).await;
    let res = press(&luz, f, "atender").await;
    assert_moved(&app, &res, "estado", &before, InProgress, "luz", &[]).await;

    let before = snapshot(&app, f).await;
    let res = report(&luz, f, &[]).await;
    let sms = [(T::Attended, CALLER)];
    assert_moved(&app, &res, "informe", &before, Attended, "luz", &sms).await;
    let attended = view(&app, f).await;
    assert_eq!(
        attended.action_summary.as_deref(),
        Some("Se cambió la luminaria.")
    );
    let event = history(&app, case.id).await;
    let filed = event
        .iter()
        .find(|e| e.kind == CaseEventKind::ActionReport)
        .expect("the report in the history");
    assert_eq!(filed.actor, "luz", "the account that filed it: {filed:?}");

    // Sent back to the department, attended again, closed as resolved.
    let before = snapshot(&app, f).await;
    let res = press(&ana, f, "reabrir").await;
    assert_moved(&app, &res, "estado", &before, Reopened, "ana", &[]).await;
    let before = snapshot(&app, f).await;
    let res = report(&luz, f, &[]).await;
    let sms = [(T::Attended, CALLER)];
    assert_moved(&app, &res, "informe", &before, Attended, "luz", &sms).await;
    let before = snapshot(&app, f).await;
    let res = press(&ana, f, "cerrar").await;
    let sms = [(T::Closed, CALLER)];
    assert_moved(&app, &res, "estado", &before, Closed, "ana", &sms).await;
    assert_eq!(
        view(&app, f).await.closure_reason,
        Some(ClosureReason::Resolved)
    );

    // Reopened, routed to another department (no contact number: only the citizen's SMS),
    // started by the office, sent back, and closed without action.
    let before = snapshot(&app, f).await;
    let res = press(&ana, f, "reabrir").await;
    assert_moved(&app, &res, "estado", &before, Reopened, "ana", &[]).await;
    let before = snapshot(&app, f).await;
    let res = route(&ana, f, "3").await;
    let sms = [(T::Routed, CALLER)];
    assert_moved(&app, &res, "canalizado", &before, Routed, "ana", &sms).await;
    assert_eq!(view(&app, f).await.department_id, Some(WATER_ID));
    let before = snapshot(&app, f).await;
    let res = route(&ana, f, "1").await;
    let sms = [
        (T::DepartmentRouted, ALUMBRADO_CONTACT),
        (T::Routed, CALLER),
    ];
    assert_moved(&app, &res, "canalizado", &before, Routed, "ana", &sms).await;
    let before = snapshot(&app, f).await;
    let res = press(&ana, f, "no_procede").await;
    let sms = [(T::Closed, CALLER)];
    assert_moved(&app, &res, "estado", &before, Closed, "ana", &sms).await;
    assert_eq!(
        view(&app, f).await.closure_reason,
        Some(ClosureReason::NotApplicable)
    );

    // The other ways to close without action, and routing straight from "recibido".
    let duplicate = new_case(&app).await;
    let before = snapshot(&app, &duplicate.folio).await;
    let csrf = ana.csrf("/").await;
    let res = ana
        .post_form(
            &format!("/casos/{}/estado", duplicate.folio),
            &[("csrf", &csrf), ("accion", "duplicado"), ("duplicado", f)],
        )
        .await;
    let sms = [(T::Closed, CALLER)];
    assert_moved(&app, &res, "estado", &before, Closed, "ana", &sms).await;
    let closed = view(&app, &duplicate.folio).await;
    assert_eq!(closed.closure_reason, Some(ClosureReason::Duplicate));
    assert_eq!(closed.duplicate_of.as_deref(), Some(f));

    let not_ours = case_in(&app, InReview).await;
    let before = snapshot(&app, &not_ours.folio).await;
    let res = press(&ana, &not_ours.folio, "no_competencia").await;
    assert_moved(&app, &res, "estado", &before, Closed, "ana", &sms).await;

    let straight = new_case(&app).await;
    let before = snapshot(&app, &straight.folio).await;
    let res = route(&ana, &straight.folio, "1").await;
    let sms = [
        (T::DepartmentRouted, ALUMBRADO_CONTACT),
        (T::Routed, CALLER),
    ];
    assert_moved(&app, &res, "canalizado", &before, Routed, "ana", &sms).await;
    let before = snapshot(&app, &straight.folio).await;
    let res = report(&luz, &straight.folio, &[]).await;
    let sms = [(T::Attended, CALLER)];
    assert_moved(&app, &res, "informe", &before, Attended, "luz", &sms).await;
    app.stop().await;
}

/// Where a case of the lifecycle matrix starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Status(CaseStatus),
    /// Closed before it was ever routed, then reopened.
    ReopenedUnrouted,
}

/// Every action of the case page: the status buttons, routing and the report.
const ACTIONS: [&str; 9] = [
    "revisar",
    "canalizar",
    "atender",
    "informe",
    "cerrar",
    "duplicado",
    "no_procede",
    "no_competencia",
    "reabrir",
];

async fn every_move_from_every_status_follows_the_lifecycle(db: Db) {
    use CaseStatus::*;
    let app = app_or_skip!(db);
    // Arrange: the lifecycle as the office's documentation draws it, written out.
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let other = new_case(&app).await.folio;
    let close_without_action = ["duplicado", "no_procede", "no_competencia"];
    let office = |start: Start| -> Vec<&str> {
        let mut allowed: Vec<&str> = match start {
            Start::Status(Received) => vec!["revisar", "canalizar"],
            Start::Status(InReview) => vec!["canalizar"],
            Start::Status(Routed) => vec!["canalizar", "atender", "informe"],
            Start::Status(InProgress) => return vec!["informe"],
            Start::Status(Attended) => return vec!["cerrar", "reabrir"],
            Start::Status(Closed) => return vec!["reabrir"],
            Start::Status(Reopened) => vec!["revisar", "canalizar", "atender", "informe"],
            Start::ReopenedUnrouted => vec!["revisar", "canalizar"],
        };
        allowed.extend(close_without_action);
        allowed
    };
    let area = |start: Start| -> Vec<&str> {
        match start {
            Start::Status(Routed | Reopened) => vec!["atender", "informe"],
            Start::Status(InProgress) => vec!["informe"],
            _ => vec![],
        }
    };
    let starts = CaseStatus::ALL
        .iter()
        .map(|s| Start::Status(*s))
        .chain([Start::ReopenedUnrouted]);

    for start in starts {
        for action in ACTIONS {
            for (who, client) in [("ana", &ana), ("luz", &luz)] {
                let case = match start {
                    Start::Status(status) => case_in(&app, status).await,
                    Start::ReopenedUnrouted => reopened_without_routing(&app).await,
                };
                let f = case.folio.as_str();
                let before = snapshot(&app, f).await;
                let what = format!("{who} {action} from {start:?}");
                // Act
                let res = match action {
                    "canalizar" => route(client, f, "1").await,
                    "informe" => report(client, f, &[]).await,
                    "duplicado" => {
                        let csrf = client.csrf("/").await;
                        client
                            .post_form(
                                &format!("/casos/{f}/estado"),
                                &[("csrf", &csrf), ("accion", action), ("duplicado", &other)],
                            )
                            .await
                    }
                    _ => press(client, f, action).await,
                };
                // Assert
                let visible = who == "ana" || before.case.routed_at.is_some();
                let allowed = if who == "ana" {
                    office(start)
                } else {
                    area(start)
                };
                if !visible {
                    assert_eq!(res.status, 404, "{what}");
                } else if allowed.contains(&action) {
                    let (to, reason) = match action {
                        "revisar" => (InReview, None),
                        "canalizar" => (Routed, None),
                        "atender" => (InProgress, None),
                        "informe" => (Attended, None),
                        "cerrar" => (Closed, Some(ClosureReason::Resolved)),
                        "duplicado" => (Closed, Some(ClosureReason::Duplicate)),
                        "no_procede" => (Closed, Some(ClosureReason::NotApplicable)),
                        "no_competencia" => (Closed, Some(ClosureReason::NotMunicipal)),
                        _ => (Reopened, None),
                    };
                    let done = match action {
                        "canalizar" => "canalizado",
                        "informe" => "informe",
                        _ => "estado",
                    };
                    let sms: Vec<(MessageTemplate, &str)> = MessageTemplate::for_status(to)
                        .map(|t| (t, CALLER))
                        .into_iter()
                        .collect();
                    assert_moved(&app, &res, done, &before, to, who, &sms).await;
                    let after = view(&app, f).await;
                    assert_eq!(after.closure_reason, reason, "{what}");
                    continue;
                } else {
                    assert_eq!(res.status, 422, "{what}: {}", res.text());
                }
                assert_eq!(snapshot(&app, f).await, before, "{what}");
            }
        }
    }
    // The inbox's counts per status, kept by triggers as the cases moved (migration 0012),
    // are the cases' own, for the office and for a department.
    for who in [Visibility::All, Visibility::Department(LIGHTING)] {
        let kept = app.state.store.status_counts(who).await.unwrap();
        for status in CaseStatus::ALL {
            let filter = CaseFilter {
                status: Some(*status),
                ..CaseFilter::default()
            };
            let cases = app
                .state
                .store
                .inbox(who, &filter, 100_000)
                .await
                .unwrap()
                .len();
            let count = kept
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            assert_eq!(count, cases as i64, "{who:?}, {status:?}: {kept:?}");
        }
    }
    app.stop().await;
}

/// What a refused request sends.
enum Ask {
    Status(&'static str),
    Duplicate(String),
    Route(&'static str),
    Report,
}

async fn invalid_moves_are_refused_with_the_reason_and_change_nothing(db: Db) {
    use CaseStatus::*;
    let app = app_or_skip!(db);
    // Arrange
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let other = new_case(&app).await.folio;
    let nowhere = Folio::from_sequence(987_654).as_str().to_owned();
    let not_yet = "El caso aún no se ha canalizado a un área.";
    let impossible = "Ese cambio no es posible desde el estado actual del caso.";
    let closed = "El caso está cerrado; primero hay que reabrirlo.";
    let no_folio = "Escriba el folio de otro reporte existente";
    let table: Vec<(Option<CaseStatus>, Ask, &str)> = vec![
        (
            Some(Received),
            Ask::Status("cerrar"),
            "Solo se cierra como resuelto un caso atendido",
        ),
        (Some(Received), Ask::Status("atender"), not_yet),
        (
            Some(Received),
            Ask::Status("reabrir"),
            "Solo se reabre un caso atendido o cerrado.",
        ),
        (
            Some(Received),
            Ask::Status("volar"),
            "Ese cambio no existe.",
        ),
        (Some(Received), Ask::Duplicate(String::new()), no_folio),
        (Some(Received), Ask::Duplicate(nowhere), no_folio),
        (Some(Received), Ask::Route("999"), "Elija un área."),
        (Some(Received), Ask::Route("alumbrado"), "Elija un área."),
        (Some(Received), Ask::Report, not_yet),
        (Some(InReview), Ask::Status("revisar"), impossible),
        (Some(InReview), Ask::Report, not_yet),
        (Some(InProgress), Ask::Status("no_procede"), impossible),
        (Some(InProgress), Ask::Route("3"), impossible),
        (
            Some(Attended),
            Ask::Status("atender"),
            "El caso ya fue atendido.",
        ),
        (Some(Attended), Ask::Duplicate(other.clone()), impossible),
        (Some(Attended), Ask::Report, "El caso ya fue atendido."),
        (Some(Closed), Ask::Status("revisar"), closed),
        (Some(Closed), Ask::Status("cerrar"), closed),
        (Some(Closed), Ask::Route("1"), closed),
        (Some(Closed), Ask::Report, closed),
        // Reopened without ever having been routed: no department to work on it.
        (None, Ask::Status("atender"), not_yet),
        (None, Ask::Report, not_yet),
    ];

    for (status, ask, reason) in table {
        let case = match status {
            Some(status) => case_in(&app, status).await,
            None => reopened_without_routing(&app).await,
        };
        let f = case.folio.as_str();
        let before = snapshot(&app, f).await;
        let files_before = stored_files(&app).await;
        // Act
        let res = match &ask {
            Ask::Status(accion) => press(&ana, f, accion).await,
            Ask::Route(area) => route(&ana, f, area).await,
            Ask::Report => report(&ana, f, &[("foto.png", "image/png", &png())]).await,
            Ask::Duplicate(folio) => {
                let csrf = ana.csrf("/").await;
                ana.post_form(
                    &format!("/casos/{f}/estado"),
                    &[
                        ("csrf", &csrf),
                        ("accion", "duplicado"),
                        ("duplicado", folio),
                    ],
                )
                .await
            }
        };
        // Assert
        assert_refused(&res, reason);
        assert_eq!(snapshot(&app, f).await, before, "{status:?} {reason}");
        assert_eq!(stored_files(&app).await, files_before);
    }
    // Closing a case as a duplicate of itself.
    let case = new_case(&app).await;
    let before = snapshot(&app, &case.folio).await;
    let csrf = ana.csrf("/").await;
    let res = ana
        .post_form(
            &format!("/casos/{}/estado", case.folio),
            &[
                ("csrf", &csrf),
                ("accion", "duplicado"),
                ("duplicado", &case.folio),
            ],
        )
        .await;
    assert_refused(&res, no_folio);
    assert_eq!(snapshot(&app, &case.folio).await, before);
    app.stop().await;
}

async fn a_department_may_only_start_work_and_file_its_report(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let case = case_in(&app, CaseStatus::Routed).await;
    let f = case.folio.as_str();
    let only_office = "Solo Participación Ciudadana puede hacer este cambio.";

    // Act and assert: every move but starting and the report is refused.
    let page = luz.get(&format!("/casos/{f}")).await.text();
    assert!(page.contains(r#"value="atender""#), "{page}");
    assert!(page.contains("/informe"), "{page}");
    for other in [
        "revisar",
        "cerrar",
        "no_procede",
        "no_competencia",
        "reabrir",
    ] {
        assert!(!page.contains(&format!(r#"value="{other}""#)), "{other}");
    }
    assert!(!page.contains("/canalizar"), "{page}");
    assert!(!page.contains("/clasificar"), "{page}");
    let before = snapshot(&app, f).await;
    for accion in [
        "revisar",
        "cerrar",
        "no_procede",
        "no_competencia",
        "reabrir",
    ] {
        assert_refused(&press(&luz, f, accion).await, only_office);
    }
    let csrf = luz.csrf("/").await;
    let res = luz
        .post_form(
            &format!("/casos/{f}/estado"),
            &[("csrf", &csrf), ("accion", "duplicado"), ("duplicado", f)],
        )
        .await;
    assert_refused(&res, only_office);
    assert_refused(&route(&luz, f, "3").await, only_office);
    let res = luz
        .post_form(
            &format!("/casos/{f}/clasificar"),
            &[
                ("csrf", &csrf),
                ("categoria", "3"),
                ("urgencia", "urgent"),
                ("descripcion", "otra cosa"),
            ],
        )
        .await;
    assert_refused(&res, "Solo Participación Ciudadana clasifica los casos.");
    assert_eq!(snapshot(&app, f).await, before);

    // Starting and the report are its own.
    let before = snapshot(&app, f).await;
    let res = press(&luz, f, "atender").await;
    assert_moved(
        &app,
        &res,
        "estado",
        &before,
        CaseStatus::InProgress,
        "luz",
        &[],
    )
    .await;
    let before = snapshot(&app, f).await;
    let res = report(&luz, f, &[]).await;
    let sms = [(MessageTemplate::Attended, CALLER)];
    assert_moved(
        &app,
        &res,
        "informe",
        &before,
        CaseStatus::Attended,
        "luz",
        &sms,
    )
    .await;
    // Once attended, closing or sending back is the office's.
    let before = snapshot(&app, f).await;
    assert_refused(&press(&luz, f, "cerrar").await, only_office);
    assert_refused(&press(&luz, f, "reabrir").await, only_office);
    assert_eq!(snapshot(&app, f).await, before);
    // Notes are anyone's who may see the case.
    let res = luz
        .post_form(
            &format!("/casos/{f}/nota"),
            &[("csrf", &csrf), ("nota", "Se requiere grúa")],
        )
        .await;
    assert_done(&res, f, "nota");
    let events = history(&app, case.id).await;
    let note = events.last().unwrap();
    assert_eq!(note.kind, CaseEventKind::Note);
    assert_eq!(note.actor, "luz");
    assert_eq!(note.note.as_deref(), Some("Se requiere grúa"));
    app.stop().await;
}

// 6. Attachments.

async fn photos_and_pdfs_are_kept_with_the_report_and_served_to_allowed_staff(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let case = case_in(&app, CaseStatus::InProgress).await;
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let agua = app.signed_in("agua1", Role::Area, Some("agua")).await;
    // A phone photo is often bigger than 2 MB.
    let (png, photo, pdf) = (png(), jpeg(3 * 1024 * 1024), pdf());
    let files: [Upload; 3] = [
        ("poste.png", "image/png", &png),
        ("foto grande.jpg", "image/jpeg", &photo),
        // The content decides, not the name or the type the browser sent.
        ("acta.bin", "application/octet-stream", &pdf),
    ];
    // The names shown: as typed, with the extension of what each file is.
    let shown = ["poste.png", "foto grande.jpg", "acta.pdf"];

    // Act
    let res = report(&luz, &case.folio, &files).await;

    // Assert
    assert_done(&res, &case.folio, "informe");
    assert_eq!(view(&app, &case.folio).await.status, CaseStatus::Attended);
    let kept = app.state.store.attachments(case.id).await.unwrap();
    let types: Vec<&str> = kept.iter().map(|a| a.content_type.as_str()).collect();
    assert_eq!(types, ["image/png", "image/jpeg", "application/pdf"]);
    let reports = app.state.store.action_reports(case.id).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert!(kept.iter().all(|a| a.report_id == Some(reports[0].id)));
    let page = luz.get(&format!("/casos/{}", case.folio)).await.text();
    for ((attachment, (_, _, bytes)), name) in kept.iter().zip(files).zip(shown) {
        assert!(page.contains(&format!("/adjuntos/{}", attachment.id)));
        assert!(page.contains(name), "{name}: {page}");
        assert_eq!(attachment.size_bytes, bytes.len() as i64);
        let path = format!("/adjuntos/{}", attachment.id);
        for client in [&luz, &ana] {
            let res = client.get(&path).await;
            assert_eq!(res.status, 200, "{path}");
            assert_eq!(res.header("content-type"), attachment.content_type);
            assert_eq!(res.header("x-content-type-options"), "nosniff");
            assert_eq!(res.body, bytes, "{path}");
        }
        assert_eq!(agua.get(&path).await.status, 404, "another department");
        let anon = app.console_client().get(&path).await;
        assert_eq!(anon.status, 303);
        assert!(anon.body.is_empty() || !anon.body.starts_with(&bytes[..4]));
    }
    assert_eq!(luz.get("/adjuntos/999999").await.status, 404);
    app.stop().await;
}

async fn attachments_are_served_under_their_checked_type_with_nothing_hidden(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a photo named as a web page, and one whose name hides its end behind a
    // right-to-left override (shown as "fotoexe.jpg" where that character is obeyed).
    let case = case_in(&app, CaseStatus::InProgress).await;
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let photo = jpeg(2048);
    let files: [Upload; 2] = [
        ("evil.html", "text/html", &photo),
        ("foto\u{202E}gpj.exe", "image/jpeg", &photo),
    ];

    // Act
    let res = report(&luz, &case.folio, &files).await;

    // Assert: kept under clean names with the checked extension, served as what they are.
    assert_done(&res, &case.folio, "informe");
    let kept = app.state.store.attachments(case.id).await.unwrap();
    let names: Vec<&str> = kept.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(names, ["evil.jpg", "fotogpj.jpg"]);
    let page = luz.get(&format!("/casos/{}", case.folio)).await.text();
    assert!(
        !page.contains('\u{202E}') && !page.contains("evil.html"),
        "{page}"
    );
    for (attachment, served) in kept.iter().zip(["evil.jpg", "fotogpj.jpg"]) {
        let res = luz.get(&format!("/adjuntos/{}", attachment.id)).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), "image/jpeg");
        assert_eq!(
            res.header("content-disposition"),
            format!("inline; filename=\"{served}\"")
        );
    }
    app.stop().await;
}

async fn a_department_cannot_recover_a_masked_number_by_searching(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: alumbrado's case from CALLER, which its staff see as "•••• 5678".
    let case = case_in(&app, CaseStatus::Routed).await;
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let inbox = luz.get("/").await.text();
    assert_eq!(folios_in(&inbox), vec![case.folio.clone()]);
    assert!(inbox.contains("•••• 5678"), "{inbox}");

    // Act: the department guesses the hidden digits, and tries the right number every way a
    // search reaches the store (one wrong guess beside it).
    let right = "5512345678";
    let wrong = "5599995678";
    for guess in [right, wrong, "+525512345678", "55 1234 5678"] {
        let q = urlencode(guess);
        let page = luz.get(&format!("/?buscar={q}")).await;
        let csv = luz.get(&format!("/casos.csv?buscar={q}")).await.text();
        let newer = luz
            .get(&format!("/bandeja/nuevos?despues_id=0&buscar={q}"))
            .await
            .text();

        // Assert: nothing matches, whether the guess is right or wrong, so nothing is learnt;
        // the page says to search by folio.
        assert_eq!(page.status, 200);
        assert!(
            folios_in(&page.text()).is_empty(),
            "{guess}: {}",
            page.text()
        );
        assert!(
            unescape_html(&page.text()).contains("Busque por folio completo"),
            "{}",
            page.text()
        );
        assert!(!csv.contains(&case.folio), "{guess}: {csv}");
        assert!(folios_in(&newer).is_empty(), "{guess}: {newer}");
    }
    // Its folio still finds it; and the office, who sees the number, finds it by number.
    let by_folio = luz.get(&format!("/?buscar={}", case.folio)).await.text();
    assert_eq!(folios_in(&by_folio), vec![case.folio.clone()]);
    let office = ana.get(&format!("/?buscar={right}")).await.text();
    assert_eq!(folios_in(&office), vec![case.folio.clone()]);
    app.stop().await;
}

async fn new_searches_are_limited_and_a_repeated_one_is_free(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let case = new_case(&app).await;
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let beto = app.signed_in("beto", Role::Operador, None).await;

    // Act: a script tries numbers one after another.
    let started = std::time::Instant::now();
    let mut answered = 0;
    let mut refused = None;
    for n in 0..100 {
        let res = ana.get(&format!("/?buscar=55123400{n:02}")).await;
        match res.status {
            200 => answered += 1,
            429 => {
                refused = Some(res);
                break;
            }
            other => panic!("search {n}: {other}"),
        }
    }

    // Assert: about a person's minute of searches, then a clear refusal; the repeated last
    // search (the inbox polling with it), the CSV of it, and the inbox without a search still
    // answer; another account is not held back.
    // A new search every three seconds comes back while the script runs: no more than that.
    let refused = refused.expect("a refusal before 100 new searches");
    let refilled = started.elapsed().as_secs() / 3 + 1;
    assert!(
        answered >= 20 && answered <= 20 + refilled,
        "{answered} new searches answered"
    );
    assert!(
        unescape_html(&refused.text()).contains("Espere un minuto"),
        "{}",
        refused.text()
    );
    let last = format!("buscar=55123400{:02}", answered - 1);
    for path in [
        format!("/?{last}"),
        format!("/bandeja/nuevos?despues_id=0&{last}"),
        format!("/casos.csv?{last}"),
    ] {
        assert_eq!(ana.get(&path).await.status, 200, "{path}");
    }
    assert_eq!(ana.get("/").await.status, 200);
    // New searches stay refused (one at most may have come back meanwhile), on every page.
    let mut more = 0;
    for path in [
        "/llamadas?numero=5512340077",
        "/?buscar=5512340078",
        "/casos.csv?buscar=5512340079",
        "/llamadas?numero=5512340080",
    ] {
        match ana.get(path).await.status {
            200 => more += 1,
            status => assert_eq!(status, 429, "{path}"),
        }
    }
    assert!(more <= 1, "{more} more new searches answered");
    let found = beto.get(&format!("/?buscar={}", case.folio)).await;
    assert_eq!(folios_in(&found.text()), vec![case.folio.clone()]);
    app.stop().await;
}

async fn the_case_list_is_safe_in_a_spreadsheet_that_splits_at_semicolons(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a colonia typed to run formulas in a spreadsheet whose list separator is ';'.
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let case = new_case(&app).await;
    let f = case.folio.as_str();
    let csrf = ana.csrf("/").await;
    let typed = "Centro;=1+1;@SUM(2+2)";
    let res = ana
        .post_form(
            &format!("/casos/{f}/clasificar"),
            &[
                ("csrf", &csrf),
                ("categoria", "1"),
                ("urgencia", "not_urgent"),
                ("calle", "Hidalgo 12, -3"),
                ("colonia", typed),
                ("descripcion", "Luminaria apagada"),
            ],
        )
        .await;
    assert_done(&res, f, "clasificado");

    // Act
    let csv = ana.get("/casos.csv").await.text();

    // Assert: whatever a reader splits at, no cell starts with a formula character.
    let line = csv
        .lines()
        .find(|l| l.starts_with(f))
        .unwrap_or_else(|| panic!("{f} in {csv}"));
    assert!(line.contains("Centro;'=1+1;'@SUM(2+2)"), "{line}");
    for separator in [',', ';', '\t', '|'] {
        for cell in line.split(separator) {
            let start = cell.trim_start_matches([' ', '"']);
            assert!(
                !start.starts_with(['=', '+', '-', '@']),
                "split at {separator:?}: {cell:?} in {line}"
            );
        }
    }
    app.stop().await;
}

async fn a_renamed_executable_is_refused_and_nothing_is_kept(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let case = case_in(&app, CaseStatus::InProgress).await;
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let mut windows = b"MZ\x90\x00\x03\x00\x00\x00".to_vec();
    windows.resize(4096, 0);
    let mut linux = b"\x7fELF\x02\x01\x01\x00".to_vec();
    linux.resize(4096, 0);
    let png = png();
    let before = snapshot(&app, &case.folio).await;
    let files_before = stored_files(&app).await;

    for files in [
        vec![("foto.jpg", "image/jpeg", windows.as_slice())],
        vec![("informe.pdf", "application/pdf", linux.as_slice())],
        // With a real photo first: nothing at all is kept.
        vec![
            ("poste.png", "image/png", png.as_slice()),
            ("foto.jpg", "image/jpeg", windows.as_slice()),
        ],
    ] {
        // Act
        let res = report(&luz, &case.folio, &files).await;
        // Assert
        assert_refused(
            &res,
            "no es una foto JPEG o PNG ni un PDF; no se guardó nada.",
        );
        assert_eq!(snapshot(&app, &case.folio).await, before);
        assert_eq!(stored_files(&app).await, files_before);
    }
    app.stop().await;
}

// 7. Escaping and headers.

async fn staff_text_is_escaped_and_pages_forbid_inline_script_and_framing(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let xss = "<script>alert(1)</script>";
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62;";
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let case = new_case(&app).await;
    let f = case.folio.as_str();
    let csrf = ana.csrf("/").await;

    // Act: the triage fields, a note, a routing note, the report and a file name.
    let res = ana
        .post_form(
            &format!("/casos/{f}/clasificar"),
            &[
                ("csrf", &csrf),
                ("categoria", "1"),
                ("urgencia", "urgent"),
                ("calle", xss),
                ("colonia", xss),
                ("entre", xss),
                ("referencias", xss),
                ("descripcion", xss),
            ],
        )
        .await;
    assert_done(&res, f, "clasificado");
    let res = ana
        .post_form(
            &format!("/casos/{f}/nota"),
            &[("csrf", &csrf), ("nota", xss)],
        )
        .await;
    assert_done(&res, f, "nota");
    let res = ana
        .post_form(
            &format!("/casos/{f}/canalizar"),
            &[("csrf", &csrf), ("area", "1"), ("nota", xss)],
        )
        .await;
    assert_done(&res, f, "canalizado");
    let png = png();
    let parts = [
        FormPart::Text("csrf", &csrf),
        FormPart::Text("resumen", xss),
        FormPart::Text("fecha", TODAY),
        FormPart::Text("responsable", xss),
        FormPart::File {
            name: "archivo",
            file_name: "<script>alert(1)</script>.png",
            content_type: "image/png",
            bytes: &png,
        },
    ];
    let res = ana
        .post_multipart(&format!("/casos/{f}/informe"), &parts)
        .await;
    assert_done(&res, f, "informe");

    // Assert: every page shows the text, never the tag.
    let stored = view(&app, f).await;
    assert_eq!(stored.description.as_deref(), Some(xss));
    assert_eq!(stored.address.street.as_deref(), Some(xss));
    for path in [
        format!("/casos/{f}"),
        format!("/casos/{f}/orden"),
        "/".to_owned(),
        format!("/?buscar={}", urlencode(xss)),
    ] {
        let res = ana.get(&path).await;
        assert_eq!(res.status, 200, "{path}");
        let page = res.text();
        assert!(!page.contains("<script>alert"), "{path}: {page}");
        if path.starts_with("/casos/") || path.contains("buscar") {
            assert!(page.contains(escaped), "{path}: {page}");
        }
        assert_headers(&res, &path);
    }
    let page = ana.get(&format!("/casos/{f}")).await.text();
    assert!(page.matches(escaped).count() >= 8, "{page}");
    // The sign-in page echoes the name typed, escaped.
    let anon = app.console_client();
    let token = anon.csrf("/entrar").await;
    let res = anon
        .post_form(
            "/entrar",
            &[
                ("usuario", &format!("\">{xss}")),
                ("contrasena", "x"),
                ("csrf", &token),
            ],
        )
        .await;
    assert!(!res.text().contains("<script>alert"), "{}", res.text());
    assert!(res.text().contains(escaped), "{}", res.text());
    assert_headers(&res, "/entrar");
    // Every kind of answer carries the headers: a redirect, a 404, a 403, the recording's.
    assert_headers(&app.console_client().get("/").await, "/ anonymous");
    assert_headers(&ana.get("/casos/9999999").await, "404");
    assert_headers(&ana.post_form("/salir", &[]).await, "403");
    app.stop().await;
}

async fn text_longer_than_a_form_allows_is_cut_to_its_limit(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: text far past each field's `maxlength`, which only a browser enforces.
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let case = new_case(&app).await;
    let f = case.folio.as_str();
    let long = "á".repeat(5000);
    let csrf = ana.csrf("/").await;

    // Act
    let res = ana
        .post_form(
            &format!("/casos/{f}/clasificar"),
            &[
                ("csrf", &csrf),
                ("categoria", "1"),
                ("urgencia", "not_urgent"),
                ("calle", &long),
                ("colonia", &long),
                ("entre", &long),
                ("referencias", &long),
                ("descripcion", &long),
            ],
        )
        .await;
    assert_done(&res, f, "clasificado");
    let res = ana
        .post_form(
            &format!("/casos/{f}/canalizar"),
            &[("csrf", &csrf), ("area", "1"), ("nota", &long)],
        )
        .await;
    assert_done(&res, f, "canalizado");
    let res = ana
        .post_form(
            &format!("/casos/{f}/nota"),
            &[("csrf", &csrf), ("nota", &long)],
        )
        .await;
    assert_done(&res, f, "nota");
    let parts = [
        FormPart::Text("csrf", &csrf),
        FormPart::Text("resumen", &long),
        FormPart::Text("fecha", TODAY),
        FormPart::Text("responsable", &long),
    ];
    let res = ana
        .post_multipart(&format!("/casos/{f}/informe"), &parts)
        .await;
    assert_done(&res, f, "informe");
    let res = ana
        .post_form(
            &format!("/casos/{f}/estado"),
            &[("csrf", &csrf), ("accion", "cerrar"), ("nota", &long)],
        )
        .await;
    assert_done(&res, f, "estado");

    // Assert
    let chars = |text: &Option<String>| text.as_deref().map_or(0, |t| t.chars().count());
    let stored = view(&app, f).await;
    assert_eq!(chars(&stored.address.street), 200);
    assert_eq!(chars(&stored.address.colonia), 200);
    assert_eq!(chars(&stored.address.between), 200);
    assert_eq!(chars(&stored.address.references), 300);
    assert_eq!(chars(&stored.description), 1000);
    assert_eq!(chars(&stored.action_summary), 1000);
    let reports = app.state.store.action_reports(case.id).await.unwrap();
    assert_eq!(reports[0].done_by.chars().count(), 200);
    let notes: Vec<usize> = history(&app, case.id)
        .await
        .iter()
        .filter(|e| matches!(e.kind, CaseEventKind::Note | CaseEventKind::Status))
        .filter(|e| e.actor == "ana")
        .map(|e| chars(&e.note))
        .collect();
    // Routed (500), the note (2000), attended (the report's own note), closed (500).
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert_eq!(notes[0], 500);
    assert_eq!(notes[1], 2000);
    assert_eq!(notes[3], 500);
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A CSP without inline script, no framing, no sniffing.
fn assert_headers(res: &ConsoleReply, what: &str) {
    let csp: Vec<&str> = res
        .headers
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(csp.len(), 1, "{what}: {csp:?}");
    let directives: Vec<&str> = csp[0].split(';').map(str::trim).collect();
    let script = directives
        .iter()
        .find(|d| d.starts_with("script-src "))
        .or_else(|| directives.iter().find(|d| d.starts_with("default-src ")))
        .expect("a script policy");
    assert!(!script.contains("unsafe-inline"), "{what}: {script}");
    assert!(!script.contains("unsafe-eval"), "{what}: {script}");
    assert!(!csp[0].contains("unsafe-inline"), "{what}: {}", csp[0]);
    assert!(
        directives.contains(&"frame-ancestors 'none'"),
        "{what}: {}",
        csp[0]
    );
    assert_eq!(res.header("x-content-type-options"), "nosniff", "{what}");
}

// 8. The inbox.

async fn the_inbox_shows_phone_cases_and_polls_for_newer_ones(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let first = app.report_and_hang_up(Some(CALLER), STREET_LIGHTING).await;

    // Act
    let inbox = ana.get("/").await;

    // Assert: the phone case is there, with its number for the office.
    assert_eq!(inbox.status, 200);
    let page = inbox.text();
    assert_eq!(folios_in(&page), vec![first.folio.clone()]);
    assert!(page.contains(CALLER), "{page}");
    assert!(page.contains("Alumbrado público"), "{page}");
    let newest = newest_shown(&page);
    assert_eq!(newest, first.id);
    let poll = format!("/bandeja/nuevos?despues_id={newest}");
    assert!(folios_in(&ana.get(&poll).await.text()).is_empty());

    // A new report arrives: polling returns just it.
    let second = app.report_and_hang_up(Some(OTHER_CALLER), WATER).await;
    let newer = ana.get(&poll).await;
    assert_eq!(newer.status, 200);
    assert_eq!(folios_in(&newer.text()), vec![second.folio.clone()]);
    assert!(!newer.text().contains("<html"), "only rows");
    let none = ana
        .get(&format!("/bandeja/nuevos?despues_id={}", second.id))
        .await;
    assert!(folios_in(&none.text()).is_empty());
    // With the inbox's filters: a filter on water keeps the water case only.
    let filtered = ana
        .get(&format!("/bandeja/nuevos?categoria=1&despues_id={newest}"))
        .await;
    assert!(folios_in(&filtered.text()).is_empty());
    let both = ana.get("/").await.text();
    assert_eq!(folios_in(&both), vec![second.folio, first.folio]);
    app.stop().await;
}

async fn keyset_pages_have_no_duplicates_and_no_gaps(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: 130 cases, some urgent, lighting and water in turn, three at a time received
    // at the same instant (the order then falls to the id).
    let start = app.state.clock.now().as_utc() - chrono::Duration::days(1);
    let mut made = Vec::new();
    for i in 0..130i64 {
        let at = Timestamp::from_utc(start + chrono::Duration::seconds(i / 3));
        let urgency = if i % 7 == 0 {
            Urgency::Urgent
        } else {
            Urgency::NotUrgent
        };
        let category = if i % 2 == 0 { LIGHTING } else { WATER_ID };
        let case = stored_case(&app, None, category, urgency, at).await;
        made.push((i64::from(urgency == Urgency::Urgent), at, case));
    }
    made.sort_by_key(|(priority, at, case)| std::cmp::Reverse((*priority, *at, case.id)));
    let ana = app.signed_in("ana", Role::Operador, None).await;

    for (first_page, category) in [("/", None), ("/?categoria=1", Some(LIGHTING))] {
        let expected: Vec<String> = made
            .iter()
            .filter(|(_, _, c)| category.is_none_or(|id| c.category_id == Some(id)))
            .map(|(_, _, c)| c.folio.clone())
            .collect();
        // Act: follow "Siguientes" to the end.
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut next = Some(first_page.to_owned());
        while let Some(path) = next {
            let res = ana.get(&path).await;
            assert_eq!(res.status, 200, "{path}");
            let page = res.text();
            let rows = folios_in(&page);
            assert!(rows.len() <= 50, "{path}: {}", rows.len());
            seen.extend(rows);
            pages += 1;
            assert!(pages <= 10, "the pages never end");
            next = next_page(&page);
            if let Some(next) = &next
                && category.is_some()
            {
                assert!(next.contains("categoria=1"), "{next}");
            }
        }
        // Assert
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no case twice");
        assert_eq!(seen, expected, "every case once, in the inbox's order");
        assert_eq!(pages, expected.len().div_ceil(50));
    }
    app.stop().await;
}

// The same files on S3-compatible storage.

async fn recordings_and_attachments_on_s3_storage(db: Db) {
    let options = Options {
        storage: StorageKind::S3,
        ..Options::default()
    };
    let app = app_or_skip!(db, options);
    // Arrange: a reported case, its recording copied to the bucket, routed to alumbrado.
    let case = phone_case_with_recording(&app, CALLER, STREET_LIGHTING).await;
    set_status(&app, &case, CaseStatus::Routed, Some(LIGHTING), None).await;
    let key = view(&app, &case.folio).await.storage_key.expect("stored");
    let wav = app
        .state
        .files
        .get(&FileKey::stored(&key).unwrap())
        .await
        .unwrap();
    let luz = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    let path = format!("/casos/{}/grabacion", case.folio);

    // Act and assert: the recording, whole and in part.
    let whole = luz.get(&path).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, wav);
    let part = luz.get_with(&path, &[("range", "bytes=0-99")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        format!("bytes 0-99/{}", wav.len())
    );
    assert_eq!(part.body, wav[..100]);

    // An executable is refused and leaves nothing in the bucket; a photo is kept and served.
    let before = stored_files(&app).await;
    let mut windows = b"MZ\x90\x00".to_vec();
    windows.resize(2048, 0);
    let res = report(&luz, &case.folio, &[("foto.jpg", "image/jpeg", &windows)]).await;
    assert_refused(&res, "no se guardó nada");
    assert_eq!(stored_files(&app).await, before);
    let photo = jpeg(4096);
    let res = report(&luz, &case.folio, &[("foto.jpg", "image/jpeg", &photo)]).await;
    assert_done(&res, &case.folio, "informe");
    let kept = app.state.store.attachments(case.id).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(stored_files(&app).await.len(), before.len() + 1);
    let served = luz.get(&format!("/adjuntos/{}", kept[0].id)).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), "image/jpeg");
    assert_eq!(served.body, photo);
    app.stop().await;
}

async fn a_player_asking_for_pieces_at_once_is_one_listen(db: Db) {
    let app = app_or_skip!(db);
    // Arrange
    let case = phone_case_with_recording(&app, CALLER, STREET_LIGHTING).await;
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let path = format!("/casos/{}/grabacion", case.folio);

    // Act: a player's requests from the start, all at once (whatever their order, one note).
    let requests = (0..40).map(|i| {
        let range = if i % 2 == 0 {
            "bytes=0-"
        } else {
            "bytes=0-1023"
        };
        let (ana, path) = (&ana, &path);
        async move { ana.get_with(path, &[("range", range)]).await.status }
    });
    let statuses = futures_util::future::join_all(requests).await;

    // Assert
    assert!(statuses.iter().all(|s| *s == 206), "{statuses:?}");
    let listens = history(&app, case.id)
        .await
        .into_iter()
        .filter(|e| e.kind == CaseEventKind::Listened)
        .count();
    assert_eq!(listens, 1);
    app.stop().await;
}

async fn guesses_sent_at_once_are_paused_after_five_all_the_same(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: twenty sign-in forms for one account, each in a session of its own.
    app.add_staff("ana", Role::Operador, None).await;
    let mut guessers = Vec::new();
    for _ in 0..20 {
        let client = app.console_client();
        let csrf = client.csrf("/entrar").await;
        guessers.push((client, csrf));
    }

    // Act: twenty wrong passwords at once, then the right one.
    let guesses = guessers.iter().map(|(client, csrf)| async move {
        let form = [
            ("usuario", "ana"),
            ("contrasena", "una contraseña equivocada"),
            ("csrf", csrf.as_str()),
        ];
        client.post_form("/entrar", &form).await.status
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let right = app.console_client().sign_in("ana", STAFF_PASSWORD).await;

    // Assert: however they interleaved, no more than five were checked. A try refused unchecked
    // is no failure (waiting is enough to get in again): the account is paused when five were
    // checked, and not otherwise (all twenty may see each other and all be refused).
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let paused = statuses.iter().filter(|s| **s == 429).count();
    assert!(checked <= 5, "{statuses:?}");
    assert_eq!(checked + paused, statuses.len(), "{statuses:?}");
    let expected = if checked == 5 { 429 } else { 303 };
    assert_eq!(right.status, expected, "{statuses:?}: {}", right.text());
    app.stop().await;
}

on_both_databases!(
    a_case_without_a_playable_recording_says_why_in_words,
    under_https_the_session_cookie_is_secure,
);

/// A case whose recording is still being copied, missing, quarantined or refused has no
/// player: the page says what happened, in words a person can act on.
async fn a_case_without_a_playable_recording_says_why_in_words(db: Db) {
    // Arrange: one case per state of its recording.
    let app = app_or_skip!(db);
    let ana = app.signed_in("ana.op", Role::Operador, None).await;
    let states = [
        (None, "aún se está copiando desde Twilio"),
        (Some(RecordingStatus::Missing), "Sin grabación"),
        (Some(RecordingStatus::Quarantined), "llegó dañado"),
        (
            Some(RecordingStatus::Refused),
            "su dirección no es de Twilio",
        ),
    ];
    for (status, words) in states {
        let case = new_case(&app).await;
        if let Some(status) = status {
            let sid = RecordingSid::parse(case.recording_sid.as_deref().unwrap()).unwrap();
            app.state
                .store
                .mark_recording_problem(&sid, status, "prueba", None, None, app.state.clock.now())
                .await
                .unwrap();
        }

        // Act
        let page = ana.get(&format!("/casos/{}", case.folio)).await;

        // Assert: no player, the reason in words; the recording URL gives no audio.
        assert_eq!(page.status, 200);
        let text = page.text();
        assert!(!text.contains("<audio"), "{status:?}: {text}");
        assert!(
            text.contains(words),
            "{status:?} should say {words:?}: {text}"
        );
        let audio = ana.get(&format!("/casos/{}/grabacion", case.folio)).await;
        assert_eq!(audio.status, 404, "{status:?}");
    }
    app.stop().await;
}

/// Behind https every console cookie (the sign-in form's, the session's, the device cookie) is
/// marked `Secure`, with `HttpOnly` and `SameSite=Strict`: a browser never sends one over plain
/// http.
async fn under_https_the_session_cookie_is_secure(db: Db) {
    // Arrange: a service whose public URL is https (a proxy in front, as in production).
    let app = app_or_skip!(
        db,
        Options::default().with("ATIENDE_PUBLIC_URL", "https://atiende.example.org")
    );
    app.add_staff("ana", Role::Operador, None).await;
    let client = app.console_client();

    // Act
    let page = client.get("/entrar").await;
    let signed_in = client.sign_in("ana", STAFF_PASSWORD).await;

    // Assert: every cookie: the sign-in form's, the session's, the device cookie.
    let cookies: Vec<String> = [&page, &signed_in]
        .iter()
        .flat_map(|reply| reply.headers.get_all("set-cookie").iter())
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    for name in ["atiende_entrar=", "atiende_sesion=", "atiende_equipo_"] {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} cookie: {cookies:?}"));
        for attribute in ["Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(cookie.contains(attribute), "{attribute}: {cookie}");
        }
    }
    app.stop().await;
}
