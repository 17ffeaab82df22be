//! The staff console in a real browser (Debian's Chromium, driven over WebDriver).
//!
//! One scenario, on SQLite, as the office works it: the operador signs in; a citizen calls
//! (through the webhooks, played by the simulator) and the case appears in the open inbox
//! without a reload; she plays the recording, classifies it with the keyboard and routes it to
//! Alumbrado Público. The department's user sees only that case, files the action report with a
//! photo; the operador closes it and opens the work order. Every step is checked in the store
//! as well as on the page, and the run writes screenshots to `docs/screenshots/`.
//!
//! The test starts Chromium (headless, a fresh profile, nothing reaching the internet) and
//! chromedriver itself, attached to that Chromium, and kills both when it ends, also on
//! failure. Without `/usr/bin/chromium` or `/usr/bin/chromedriver` it is skipped, except under
//! `CI=true`, where that is a failure.

use crate::app_or_skip;
use crate::helpers::{CALLER, Db, STREET_LIGHTING, TestApp, WATER, free_port};
use atiende::domain::{
    CaseEventKind, CaseStatus, ClosureReason, Direction, Folio, MessageStatus, MessageTemplate,
    RecordingStatus, Role, Urgency,
};
use atiende::messages::gsm7;
use atiende::store::{CaseRecord, CaseView, MessageRecord, NewUser, Visibility};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long the browser may take for one thing (a page, a poll of the inbox, the player)
/// before the test gives up: a guard against hanging, not a measurement.
const BROWSER_GUARD: Duration = Duration::from_secs(30);

const OPERADOR: &str = "lucia.ramirez";
const OPERADOR_PASSWORD: &str = "bandeja-de-casos-2026";
const AREA_USER: &str = "jorge.alumbrado";
const AREA_PASSWORD: &str = "cuadrilla-de-alumbrado-7";
const ALUMBRADO_CONTACT: &str = "+525511112222";
const ADMIN: &str = "carmen.admin";
const ADMIN_PASSWORD: &str = "ajustes-de-la-linea-9";
/// Another citizen, whose earlier report (water) is in the inbox already.
const OTHER_CALLER: &str = "+525587654321";

/// A valid 1×1 PNG: the photo of the action report.
const PHOTO_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x64, 0x60, 0xF8, 0x5F,
    0x0F, 0x00, 0x02, 0x87, 0x01, 0x80, 0xEB, 0x47, 0xBA, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn a_call_is_triaged_routed_attended_and_closed_in_the_browser() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        return;
    };
    let app = app_or_skip!(Db::Sqlite);
    let store = &app.state.store;
    let now = app.state.clock.now();
    for (name, password, role, department) in [
        (OPERADOR, OPERADOR_PASSWORD, Role::Operador, None),
        (AREA_USER, AREA_PASSWORD, Role::Area, Some("alumbrado")),
    ] {
        let hash = atiende::staff::password::hash(password).unwrap();
        store
            .create_user(&NewUser {
                name,
                password_hash: &hash,
                role,
                department_code: department,
                at: now,
            })
            .await
            .unwrap();
    }
    store
        .set_department_contact("alumbrado", Some(ALUMBRADO_CONTACT))
        .await
        .unwrap();
    // An earlier report, for another department: in the operador's inbox from the start, never
    // in Alumbrado's.
    let water = app.report_and_hang_up(Some(OTHER_CALLER), WATER).await;

    let browser = Browser::start(&chromium, &chromedriver).await;
    let b = browser.page(&app.caller.connect_base);

    // The operador signs in and sees the inbox, with the earlier case.
    b.sign_in(OPERADOR, OPERADOR_PASSWORD).await;
    assert_eq!(b.row_ids().await, vec![water.id], "the inbox at sign-in");
    let title = b.title().await;
    assert!(!title.starts_with('('), "no new cases yet: {title}");

    // A citizen calls about a street light while she looks at it.
    let mut call = app.report(Some(CALLER), STREET_LIGHTING).await;
    call.hang_up(60).await.unwrap();
    let case = app.case_of(&call).await;
    wait_for("the recording is stored", || async {
        case_now(&app, &case).await.recording_status == Some(RecordingStatus::Stored)
    })
    .await;
    // The inbox polls: the new row arrives without a reload, on top, and the title counts it.
    b.wait_js(
        "the new case appears in the open inbox",
        &format!(
            "return !!document.querySelector('table.inbox tbody tr[data-id=\"{}\"]')",
            case.id
        ),
    )
    .await;
    assert_eq!(b.row_ids().await, vec![case.id, water.id], "newest first");
    let title = b.title().await;
    assert!(title.starts_with("(1) "), "the title counts it: {title}");
    let live = b.text("#inbox-live").await;
    assert_eq!(live, "Llegó 1 caso nuevo.");
    b.screenshot("inbox").await;

    // She opens it from its row and plays the recording.
    b.click(&format!(
        "table.inbox tbody tr[data-id=\"{}\"] a[href=\"/casos/{}\"]",
        case.id, case.folio
    ))
    .await;
    b.wait_path(&format!("/casos/{}", case.folio)).await;
    let played = b
        .js_async(
            r#"
            const done = arguments[arguments.length - 1];
            const audio = document.getElementById("recording");
            // Playing: not paused, and the time runs (a second of it, for the screenshot).
            const check = () => {
              if (!audio.paused && audio.currentTime >= 1) {
                audio.removeEventListener("timeupdate", check);
                audio.pause();
                done({ playing: true, src: audio.currentSrc, duration: audio.duration });
              }
            };
            audio.addEventListener("timeupdate", check);
            audio.play().catch((e) => done({ playing: false, error: String(e) }));
            "#,
        )
        .await;
    assert_eq!(
        played["playing"],
        json!(true),
        "the recording plays: {played}"
    );
    assert!(
        played["src"]
            .as_str()
            .is_some_and(|s| s.ends_with(&format!("/casos/{}/grabacion", case.folio))),
        "{played}"
    );
    assert!(
        played["duration"].as_f64().is_some_and(|d| d > 0.0),
        "{played}"
    );
    // The player asks for ranges; the server answers them with 206.
    let part = b
        .js_async(
            r#"
            const done = arguments[arguments.length - 1];
            fetch(document.getElementById("recording").currentSrc, { headers: { Range: "bytes=0-99" } })
              .then((r) => r.arrayBuffer().then((body) => done({
                status: r.status, range: r.headers.get("content-range"), length: body.byteLength })))
              .catch((e) => done({ error: String(e) }));
            "#,
        )
        .await;
    assert_eq!(part["status"], json!(206), "{part}");
    assert_eq!(part["length"], json!(100), "{part}");
    assert!(
        part["range"]
            .as_str()
            .is_some_and(|r| r.starts_with("bytes 0-99/")),
        "{part}"
    );
    let history = store.case_history(case.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.kind == CaseEventKind::Listened && e.actor == OPERADOR),
        "the listen is noted: {history:?}"
    );
    b.screenshot("case").await;

    // Triage with the keyboard: the shortcut keys move the focus, arrows choose, Enter sends.
    b.press(&['c']).await;
    assert_eq!(b.focused_id().await, "category");
    b.press(&[Key::Down.into(), Key::Up.into()]).await;
    assert_eq!(b.value("#category").await, "1", "still Alumbrado público");
    b.leave_field().await;
    b.press(&['u']).await;
    assert_eq!(b.focused_id().await, "urgency");
    assert_eq!(b.value("#urgency").await, Urgency::Unknown.code());
    // Urgente is the first choice: up from "Sin dato", past "No urgente".
    b.press(&[Key::Up.into(), Key::Up.into()]).await;
    assert_eq!(b.value("#urgency").await, Urgency::Urgent.code());
    // Tab goes on to the description.
    b.press(&[Key::Tab.into()]).await;
    assert_eq!(b.focused_id().await, "description");
    b.type_here("Luminaria apagada desde hace tres noches; la calle queda a oscuras.")
        .await;
    b.leave_field().await;
    b.press(&['d']).await;
    assert_eq!(b.focused_id().await, "street");
    b.type_here("Av. Juárez 123").await;
    b.press(&[Key::Tab.into()]).await;
    assert_eq!(b.focused_id().await, "colonia");
    b.type_here("Centro").await;
    b.press(&[Key::Enter.into()]).await;
    b.wait_notice("Clasificación guardada.").await;
    let view = view_now(&app, &case).await;
    assert_eq!(view.address.street.as_deref(), Some("Av. Juárez 123"));
    assert_eq!(view.address.colonia.as_deref(), Some("Centro"));
    assert_eq!(view.urgency, Urgency::Urgent);
    assert_eq!(view.category_id, Some(1));
    assert_eq!(
        view.description.as_deref(),
        Some("Luminaria apagada desde hace tres noches; la calle queda a oscuras.")
    );

    // Routing: `r` to the department (Alumbrado, from the category), then its form's button.
    b.press(&['r']).await;
    assert_eq!(b.focused_id().await, "department");
    assert_eq!(b.value("#department").await, "1");
    b.press(&[Key::Tab.into()]).await;
    assert_eq!(b.focused_id().await, "route-note");
    b.type_here("Revisar la luminaria frente al número 123.")
        .await;
    b.press(&[Key::Tab.into()]).await;
    let button = b
        .js("const e = document.activeElement; return e.tagName + ' ' + e.form.getAttribute('action') + ' ' + e.textContent")
        .await;
    assert_eq!(
        button,
        json!(format!("BUTTON /casos/{}/canalizar Canalizar", case.folio))
    );
    b.press(&[Key::Enter.into()]).await;
    b.wait_notice("Caso canalizado al área.").await;
    let routed = case_now(&app, &case).await;
    assert_eq!(routed.status, CaseStatus::Routed);
    assert_eq!(routed.department_id, Some(1));
    let to_department = wait_for_message(&app, &case, MessageTemplate::DepartmentRouted).await;
    assert_eq!(to_department.to_number.as_deref(), Some(ALUMBRADO_CONTACT));
    assert!(
        to_department
            .body
            .as_deref()
            .is_some_and(|body| body.contains(&case.folio) && body.contains("Juarez 123")),
        "{to_department:?}"
    );

    // The department's user sees only this case.
    b.sign_out().await;
    b.sign_in(AREA_USER, AREA_PASSWORD).await;
    assert_eq!(b.row_ids().await, vec![case.id], "Alumbrado's inbox");
    b.screenshot("inbox-area").await;
    b.click(&format!("a[href=\"/casos/{}\"]", case.folio)).await;
    b.wait_path(&format!("/casos/{}", case.folio)).await;

    // The action report, with a photo.
    let photo_dir = tempfile::tempdir().unwrap();
    let photo = photo_dir.path().join("luminaria-reparada.png");
    std::fs::write(&photo, PHOTO_PNG).unwrap();
    let summary = "Se cambió la lámpara y el fotocelda del poste.";
    b.type_into("#summary", summary).await;
    b.type_into("#done-by", "Cuadrilla 3, Jorge Pérez").await;
    b.type_into("#files", &photo.display().to_string()).await;
    b.click("form[action$=\"/informe\"] button[type=submit]")
        .await;
    b.wait_notice("Informe guardado; el caso quedó atendido.")
        .await;
    let attended = case_now(&app, &case).await;
    assert_eq!(attended.status, CaseStatus::Attended);
    assert_eq!(attended.action_summary.as_deref(), Some(summary));
    let files = store.attachments(case.id).await.unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].content_type, "image/png");
    assert_eq!(files[0].file_name, "luminaria-reparada.png");
    assert_eq!(files[0].size_bytes, PHOTO_PNG.len() as i64);
    assert!(files[0].report_id.is_some(), "{files:?}");
    // The photo is listed with the report, and opens.
    let link = format!("a[href=\"/adjuntos/{}\"]", files[0].id);
    assert_eq!(b.text(&link).await, "luminaria-reparada.png");
    let opened = b
        .js_async(&format!(
            r#"
            const done = arguments[arguments.length - 1];
            fetch(document.querySelector({}).href)
              .then((r) => r.arrayBuffer().then((body) => done({{
                status: r.status, type: r.headers.get("content-type"), length: body.byteLength }})))
              .catch((e) => done({{ error: String(e) }}));
            "#,
            json!(link)
        ))
        .await;
    assert_eq!(
        opened,
        json!({ "status": 200, "type": "image/png", "length": PHOTO_PNG.len() })
    );
    let to_citizen = wait_for_message(&app, &case, MessageTemplate::Attended).await;
    assert_eq!(to_citizen.to_number.as_deref(), Some(CALLER));
    assert!(
        to_citizen
            .body
            .as_deref()
            .is_some_and(|body| body.contains(&gsm7::fold(summary))),
        "{to_citizen:?}"
    );

    // The operador closes it, and prints the work order.
    b.sign_out().await;
    b.sign_in(OPERADOR, OPERADOR_PASSWORD).await;
    b.goto(&format!("/casos/{}", case.folio)).await;
    let close = "form[action$=\"/estado\"]:has(input[name=accion][value=cerrar]) button";
    assert_eq!(b.text(close).await, "Cerrar como resuelto");
    b.click(close).await;
    b.wait_notice("Estado actualizado.").await;
    let closed = case_now(&app, &case).await;
    assert_eq!(closed.status, CaseStatus::Closed);
    assert_eq!(closed.closure_reason, Some(ClosureReason::Resolved));
    b.goto(&format!("/casos/{}/orden", case.folio)).await;
    let order = b.text("main").await;
    for expected in [
        format!("Orden de trabajo · Folio {}", case.folio),
        "Alumbrado público".to_owned(),
        "Urgente".to_owned(),
        "Av. Juárez 123".to_owned(),
        "Luminaria apagada desde hace tres noches".to_owned(),
    ] {
        assert!(order.contains(&expected), "{expected:?} in {order}");
    }
    b.screenshot("work-order").await;

    b.close().await;
    drop(browser);
    app.stop().await;
}

/// The office's desk (console part 2) in the browser: the calls owed back, a report that came
/// by WhatsApp, and an admin adding a category the phone line offers on its next call.
#[tokio::test]
async fn the_office_desk_calls_owed_other_channels_and_settings_in_the_browser() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        return;
    };
    let app = app_or_skip!(Db::Sqlite);
    let store = &app.state.store;
    let now = app.state.clock.now();
    for (name, password, role) in [
        (OPERADOR, OPERADOR_PASSWORD, Role::Operador),
        (ADMIN, ADMIN_PASSWORD, Role::Admin),
    ] {
        let hash = atiende::staff::password::hash(password).unwrap();
        store
            .create_user(&NewUser {
                name,
                password_hash: &hash,
                role,
                department_code: None,
                at: now,
            })
            .await
            .unwrap();
    }
    // Two citizens hung up at the greeting: two callbacks owed.
    for from in [OTHER_CALLER, CALLER] {
        let mut call = app.call(Some(from)).await;
        call.hang_up(7).await.unwrap();
    }

    let browser = Browser::start(&chromium, &chromedriver).await;
    let b = browser.page(&app.caller.connect_base);

    // The operador sees the count in the navigation and opens the list.
    b.sign_in(OPERADOR, OPERADOR_PASSWORD).await;
    assert_eq!(b.text("nav [data-owed]").await, "2");
    b.click("nav a[href=\"/devolver\"]").await;
    b.wait_path("/devolver").await;
    b.screenshot("calls-owed").await;

    // She calls the first number back: reached, nothing to report.
    b.click("input[name=resultado][value=reached]").await;
    b.type_into("input[name=nota]", "Ya se resolvió solo").await;
    b.click("form[action=\"/devolver\"] button[type=submit]")
        .await;
    b.wait_notice("Llamada registrada.").await;
    assert_eq!(b.text("nav [data-owed]").await, "1");
    assert_eq!(
        store.calls_owed(app.state.clock.now()).await.unwrap().len(),
        1
    );

    // A neighbour writes by WhatsApp: she registers the report.
    b.click("nav a[href=\"/casos/nuevo\"]").await;
    b.wait_path("/casos/nuevo").await;
    b.find("#canal")
        .await
        .select_by_value("whatsapp")
        .await
        .unwrap();
    b.type_into("#nombre", "Rosa Hernández").await;
    b.type_into("#telefono", "55 4433 2211").await;
    b.find("#categoria")
        .await
        .select_by_value("3")
        .await
        .unwrap();
    b.find("#urgencia")
        .await
        .select_by_value("not_urgent")
        .await
        .unwrap();
    b.type_into("#descripcion", "Fuga de agua frente al mercado")
        .await;
    b.type_into("#colonia", "Centro").await;
    b.screenshot("new-report").await;
    b.click("form[action=\"/casos/nuevo\"] button[type=submit]")
        .await;
    b.wait_notice("Reporte registrado. Dé al ciudadano este folio.")
        .await;
    let path = b.path().await;
    let folio = path
        .trim_start_matches("/casos/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let case = store
        .case_by_folio(&Folio::parse(&folio).unwrap())
        .await
        .unwrap()
        .expect("the case exists");
    assert_eq!(case.channel, atiende::domain::Channel::Whatsapp);
    assert_eq!(case.sms_number.as_deref(), Some("+525544332211"));
    // She finds it in the inbox, filtered by channel.
    b.goto("/?canal=whatsapp").await;
    b.wait_js(
        "the WhatsApp report is in the inbox",
        &format!(
            "return !!document.querySelector('table.inbox tbody tr[data-id=\"{}\"]')",
            case.id
        ),
    )
    .await;
    assert_eq!(b.row_ids().await, vec![case.id]);
    b.goto("/llamadas").await;
    b.screenshot("calls").await;
    // The office's figures, with the reports of the day.
    b.click("nav a[href=\"/cifras\"]").await;
    b.wait_path("/cifras").await;
    b.find("svg").await;
    b.screenshot("dashboard").await;
    b.sign_out().await;

    // The admin adds a category with key 6.
    b.sign_in(ADMIN, ADMIN_PASSWORD).await;
    b.click("nav a[href=\"/ajustes\"]").await;
    b.wait_path("/ajustes").await;
    b.click("a[href=\"/ajustes/categorias/nueva\"]").await;
    b.wait_path("/ajustes/categorias/nueva").await;
    b.type_into("#nombre", "Bacheo").await;
    b.find("#tecla").await.select_by_value("6").await.unwrap();
    b.find("#area").await.select_by_value("5").await.unwrap();
    b.click("form[action=\"/ajustes/categorias\"] button[type=submit]")
        .await;
    b.wait_notice("Categoría guardada. La línea la usa desde la siguiente llamada.")
        .await;
    b.screenshot("settings").await;

    // The next call hears it in the menu.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    assert!(call.heard().contains("Bacheo, 6."), "{}", call.heard());

    b.close().await;
    drop(browser);
    app.stop().await;
}

// The store, polled.

async fn case_now(app: &TestApp, case: &CaseRecord) -> CaseRecord {
    app.state
        .store
        .case_by_folio(&Folio::parse(&case.folio).unwrap())
        .await
        .unwrap()
        .expect("the case exists")
}

async fn view_now(app: &TestApp, case: &CaseRecord) -> CaseView {
    app.state
        .store
        .case_view(Visibility::All, &case.folio)
        .await
        .unwrap()
        .expect("the case exists")
}

/// The case's outbound SMS made from `template`, once it has left the outbox (and so has its
/// text).
async fn wait_for_message(
    app: &TestApp,
    case: &CaseRecord,
    template: MessageTemplate,
) -> MessageRecord {
    let find = || async {
        app.state
            .store
            .messages(Some(case.id))
            .await
            .unwrap()
            .into_iter()
            .find(|m| {
                m.direction == Direction::Outbound
                    && m.template == Some(template)
                    && m.status != MessageStatus::Pending
            })
    };
    wait_for(&format!("the {template} SMS is sent"), || async {
        find().await.is_some()
    })
    .await;
    find().await.unwrap()
}

/// Waits until `check` holds, for at most [`BROWSER_GUARD`].
async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + BROWSER_GUARD;
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// The browser.

/// Chromium and chromedriver, or `None` to skip (never under CI).
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = PathBuf::from(CHROMIUM);
    let chromedriver = PathBuf::from(CHROMEDRIVER);
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return Some((chromium, chromedriver));
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but {} missing: the browser tests must run (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
    }
    eprintln!(
        "skipped: {} missing (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    None
}

/// Chromium (headless, a fresh profile) and chromedriver attached to it; both are killed when
/// this is dropped, whatever happened.
struct Browser {
    client: Option<Client>,
    chromium: Child,
    chromedriver: Child,
    /// The profile and the logs.
    dir: tempfile::TempDir,
}

impl Browser {
    async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("profile");
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let chromium = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            // Spanish (Mexico), as in the office: date fields read dd/mm/aaaa (the locale
            // comes from chromium-l10n; without it, Chromium falls back to English).
            .env("LANGUAGE", "es_MX:es")
            .stdin(Stdio::null())
            .stdout(log("chromium.log"))
            .stderr(log("chromium.log"))
            // Its own process group: the renderers and helpers it starts die with it.
            .process_group(0)
            .spawn()
            .expect("Chromium starts");
        let port = free_port();
        let chromedriver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log("chromedriver.stderr"))
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Browser {
            client: None,
            chromium,
            chromedriver,
            dir,
        };
        // Chromium says where its DevTools listen in the profile once it is up.
        let active_port = profile.join("DevToolsActivePort");
        let devtools = browser
            .until("Chromium listens for DevTools", || {
                std::fs::read_to_string(&active_port)
                    .ok()
                    .and_then(|s| s.lines().next().map(str::to_owned))
                    .filter(|p| p.parse::<u16>().is_ok())
            })
            .await;
        let status = format!("http://127.0.0.1:{port}/status");
        let http = reqwest::Client::new();
        browser
            .until_async("chromedriver is ready", || async {
                let res = http.get(&status).send().await.ok()?;
                let json: Value = res.json().await.ok()?;
                (json["value"]["ready"] == json!(true)).then_some(())
            })
            .await;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "debuggerAddress": format!("127.0.0.1:{devtools}") }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("WebDriver session: {e}\n{}", browser.logs()));
        browser.client = Some(client);
        browser
    }

    /// Polls `ready` until it gives a value (bounded), failing early if a process has died.
    async fn until<T>(&mut self, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
        self.until_async(what, || std::future::ready(ready())).await
    }

    async fn until_async<T, Fut>(&mut self, what: &str, mut ready: impl FnMut() -> Fut) -> T
    where
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + BROWSER_GUARD;
        loop {
            if let Some(value) = ready().await {
                return value;
            }
            let exited = [
                ("Chromium", self.chromium.try_wait()),
                ("chromedriver", self.chromedriver.try_wait()),
            ];
            for (name, status) in exited {
                if let Ok(Some(status)) = status {
                    panic!("{name} exited ({status}) before: {what}\n{}", self.logs());
                }
            }
            assert!(
                Instant::now() < deadline,
                "never happened: {what}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of each log, for a failure's message.
    fn logs(&self) -> String {
        ["chromium.log", "chromedriver.stderr", "chromedriver.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {name}\n{}", tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The console at `base` in this browser.
    fn page(&self, base: &str) -> Console {
        Console {
            client: self.client.clone().expect("connected"),
            base: base.trim_end_matches('/').to_owned(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        // The whole group Chromium leads (it was started with `process_group(0)`).
        if let Ok(pid) = i32::try_from(self.chromium.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group we created; it
            // touches no memory.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.chromium.wait();
    }
}

/// The console in the browser, each step failing with what it was doing.
struct Console {
    client: Client,
    base: String,
}

impl Console {
    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the page at `path` (and no query) has loaded.
    async fn wait_path(&self, path: &str) {
        wait_for(&format!("the browser is at {path}"), || async {
            self.path().await == path && self.ready().await
        })
        .await;
    }

    async fn ready(&self) -> bool {
        self.js("return document.readyState").await == json!("complete")
    }

    /// Waits for a page whose notice says `text` (an action's result).
    async fn wait_notice(&self, text: &str) {
        let script = format!(
            "const n = document.querySelector('.notice'); return document.readyState === 'complete' && !!n && n.textContent.trim() === {};",
            json!(text)
        );
        let shown = self.wait_js_or(&script).await;
        if !shown {
            let notice = self
                .js("const n = document.querySelector('.notice'); return n ? n.textContent : null")
                .await;
            panic!(
                "never shown: the notice {text:?}; at {} the notice is {notice}",
                self.path().await
            );
        }
    }

    async fn sign_in(&self, name: &str, password: &str) {
        self.goto("/entrar").await;
        self.type_into("#usuario", name).await;
        self.type_into("#contrasena", password).await;
        self.press(&[Key::Enter.into()]).await;
        self.wait_path("/").await;
        self.find("table.inbox").await;
        let who = self.text("header.top .who span").await;
        assert!(who.starts_with(name), "signed in as {name}: {who}");
    }

    async fn sign_out(&self) {
        self.click("form[action=\"/salir\"] button").await;
        self.wait_path("/entrar").await;
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Types into the element that has the focus.
    async fn type_here(&self, text: &str) {
        self.client
            .active_element()
            .await
            .expect("a focused element")
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type {text:?}: {e}"));
    }

    /// Presses and releases each key in turn, wherever the focus is (as a person would).
    async fn press(&self, keys: &[char]) {
        let mut actions = KeyActions::new("keyboard".into());
        for key in keys {
            actions = actions
                .then(KeyAction::Down { value: *key })
                .then(KeyAction::Up { value: *key });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("press {keys:?}: {e}"));
    }

    /// Leaves a form field the way a mouse user does, by clicking the page's heading, so that
    /// the next shortcut key reaches the page instead of the field.
    async fn leave_field(&self) {
        self.click("main h1").await;
        assert_eq!(self.focused_id().await, "", "the focus left the field");
    }

    async fn focused_id(&self) -> String {
        let id = self
            .js("const e = document.activeElement; return e && e !== document.body ? e.id : ''")
            .await;
        id.as_str().unwrap_or_default().to_owned()
    }

    async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap_or_else(|e| panic!("value of {css}: {e}"))
            .unwrap_or_default()
    }

    async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    async fn title(&self) -> String {
        self.client.title().await.expect("title")
    }

    /// The case ids of the inbox's rows, top to bottom.
    async fn row_ids(&self) -> Vec<i64> {
        let ids = self
            .js("return [...document.querySelectorAll('table.inbox tbody tr[data-id]')].map((r) => Number(r.dataset.id))")
            .await;
        serde_json::from_value(ids).expect("ids")
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    async fn js_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// Waits until `script` returns true (bounded).
    async fn wait_js(&self, what: &str, script: &str) {
        assert!(self.wait_js_or(script).await, "never happened: {what}");
    }

    /// Whether `script` returns true within [`BROWSER_GUARD`].
    async fn wait_js_or(&self, script: &str) -> bool {
        let deadline = Instant::now() + BROWSER_GUARD;
        loop {
            // A page that is being replaced may fail a script: try again.
            if let Ok(value) = self.client.execute(script, Vec::new()).await
                && value == json!(true)
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Writes what the window shows to `docs/screenshots/{name}.png`, for the documentation.
    async fn screenshot(&self, name: &str) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the WebDriver session (the browser itself is killed with [`Browser`]).
    async fn close(self) {
        let _ = self.client.close().await;
    }
}
