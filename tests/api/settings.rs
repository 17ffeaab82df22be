//! Settings (admin): categories, departments, hours and transfer number, accounts. A change
//! reaches the phone line's next call without a restart; bad changes are refused in words.

use crate::helpers::{CALLER, ConsoleClient, Db, STAFF_PASSWORD, TestApp, unescape_html};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::Role;
use atiende::sim::RecordingEnd;

on_both_databases!(
    only_an_admin_sees_the_settings,
    a_new_category_with_key_6_is_heard_in_the_next_calls_menu,
    a_key_of_another_category_or_an_empty_menu_is_refused,
    hours_and_transfer_number_reach_the_next_call,
    a_department_still_in_use_stays_active,
    accounts_are_made_and_closed_from_the_settings,
);

async fn admin(app: &TestApp) -> ConsoleClient {
    app.signed_in("admin", Role::Admin, None).await
}

/// The category form's fields, with these changed.
fn category_form<'a>(
    csrf: &'a str,
    name: &'a str,
    key: &'a str,
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", csrf),
        ("nombre", name),
        ("tecla", key),
        ("area", "5"),
        ("horas_clasificar", "24"),
        ("dias_respuesta", "5"),
        ("dias_resolver", "40"),
        ("activa", "1"),
    ];
    for (k, v) in more {
        form.retain(|(f, _)| f != k);
        form.push((k, v));
    }
    form
}

async fn only_an_admin_sees_the_settings(db: Db) {
    let app = app_or_skip!(db);
    let operador = app.signed_in("ana", Role::Operador, None).await;
    let area = app.signed_in("luz", Role::Area, Some("alumbrado")).await;
    for client in [&operador, &area] {
        for path in [
            "/ajustes",
            "/ajustes/usuarios",
            "/ajustes/categorias/1",
            "/ajustes/areas/nueva",
        ] {
            assert_eq!(client.get(path).await.status, 404, "{path}");
        }
        let html = client.get("/").await.text();
        assert!(!html.contains("/ajustes"), "not in the navigation");
    }
    let admin = admin(&app).await;
    let html = unescape_html(&admin.get("/ajustes").await.text());
    assert!(
        html.contains("Alumbrado público") && html.contains("Dirección de Agua Potable"),
        "{html}"
    );
    // A form from someone else's session changes nothing.
    let csrf = operador.csrf("/").await;
    let refused = operador
        .post_form(
            "/ajustes/categorias",
            &category_form(&csrf, "Bacheo", "6", &[]),
        )
        .await;
    assert_eq!(refused.status, 404);
    app.stop().await;
}

async fn a_new_category_with_key_6_is_heard_in_the_next_calls_menu(db: Db) {
    let app = app_or_skip!(db);
    let admin = admin(&app).await;
    let csrf = admin.csrf("/ajustes").await;

    // Act: a new category with key 6, and water moved to key 7.
    let created = admin
        .post_form(
            "/ajustes/categorias",
            &category_form(
                &csrf,
                "Bacheo",
                "6",
                &[("area", "5"), ("dias_respuesta", "3")],
            ),
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text());
    let moved = admin
        .post_form(
            "/ajustes/categorias/3",
            &category_form(&csrf, "Agua potable", "7", &[("area", "3")]),
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.text());

    // Assert: the next call's menu says them; choosing 6 makes a case of the new category, with
    // its own deadline promised.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    let heard = call.heard();
    assert!(
        heard.contains("Bacheo, 6.") && heard.contains("Agua potable, 7."),
        "{heard}"
    );
    assert!(!heard.contains("Agua potable, 3."), "{heard}");
    call.press("6").await.unwrap();
    // Three working days from Friday 27 November: Wednesday 2 December.
    call.record(20, RecordingEnd::Key).await.unwrap();
    assert!(
        call.heard().contains("miércoles 2 de diciembre"),
        "{}",
        call.heard()
    );
    call.hang_up(60).await.unwrap();
    let case = app.case_of(&call).await;
    assert_eq!(app.category_of(&case).await.name, "Bacheo");

    // The change is in the settings history, with who made it.
    let html = unescape_html(&admin.get("/ajustes").await.text());
    assert!(
        html.contains("admin: Categoría creada") && html.contains("Bacheo: tecla 6"),
        "{html}"
    );
    assert!(html.contains("admin: Categoría modificada"), "{html}");
    app.stop().await;
}

async fn a_key_of_another_category_or_an_empty_menu_is_refused(db: Db) {
    let app = app_or_skip!(db);
    let admin = admin(&app).await;
    let csrf = admin.csrf("/ajustes").await;

    // A key another category has.
    let refused = admin
        .post_form(
            "/ajustes/categorias/3",
            &category_form(&csrf, "Agua potable", "1", &[("area", "3")]),
        )
        .await;
    assert_eq!(refused.status, 422);
    let html = unescape_html(&refused.text());
    assert!(
        html.contains("La tecla 1 ya es de la categoría «Alumbrado público»"),
        "{html}"
    );

    // Deadlines out of range.
    let refused = admin
        .post_form(
            "/ajustes/categorias/3",
            &category_form(&csrf, "Agua potable", "3", &[("dias_respuesta", "0")]),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        unescape_html(&refused.text())
            .contains("plazo de respuesta debe ser un número entre 1 y 90")
    );

    // Taking every category out of the menu: the last one is refused.
    let names = [
        "Alumbrado público",
        "Seguridad pública",
        "Agua potable",
        "Protección civil",
    ];
    for (id, name) in (1..=4).zip(names) {
        let path = format!("/ajustes/categorias/{id}");
        let done = admin
            .post_form(&path, &category_form(&csrf, name, "", &[("area", "5")]))
            .await;
        assert_eq!(done.status, 303, "{name}: {}", done.text());
    }
    let refused = admin
        .post_form(
            "/ajustes/categorias/5",
            &category_form(&csrf, "Otro reporte", "5", &[("activa", "")]),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(unescape_html(&refused.text()).contains("quedaría sin categorías"));

    // The phone line still offers the one left.
    let mut call = app.call(Some(CALLER)).await;
    call.press("1").await.unwrap();
    assert!(
        call.heard().contains("Para otro reporte, marque 5."),
        "{}",
        call.heard()
    );
    app.stop().await;
}

async fn hours_and_transfer_number_reach_the_next_call(db: Db) {
    let app = app_or_skip!(db);
    let admin = admin(&app).await;
    let csrf = admin.csrf("/ajustes").await;

    // Before: no transfer number configured, so no "talk to staff".
    let call = app.call(Some(CALLER)).await;
    assert!(
        !call.heard().contains("Hablar con personal"),
        "{}",
        call.heard()
    );

    // A bad schedule is refused in words, the typed values kept.
    let refused = admin
        .post_form(
            "/ajustes/linea",
            &[
                ("csrf", csrf.as_str()),
                ("horario", "todo el día"),
                ("transferencia", "55 1111 2222"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    let html = unescape_html(&refused.text());
    assert!(
        html.contains("El horario no se entiende") && html.contains("todo el día"),
        "{html}"
    );

    // Act
    let saved = admin
        .post_form(
            "/ajustes/linea",
            &[
                ("csrf", csrf.as_str()),
                ("horario", "lun-dom 00:00-24:00"),
                ("transferencia", "55 1111 2222"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.text());

    // Assert: the next call offers staff and transfers to the new number.
    let mut call = app.call(Some(CALLER)).await;
    assert!(
        call.heard().contains("Hablar con personal, 0."),
        "{}",
        call.heard()
    );
    call.press("0").await.unwrap();
    assert_eq!(
        call.waiting(),
        atiende::sim::Waiting::Transfer("+525511112222".into())
    );
    let html = unescape_html(&admin.get("/ajustes").await.text());
    assert!(html.contains("admin: Horario y transferencia"), "{html}");
    app.stop().await;
}

async fn a_department_still_in_use_stays_active(db: Db) {
    let app = app_or_skip!(db);
    let admin = admin(&app).await;
    let csrf = admin.csrf("/ajustes").await;

    // Deactivating the water department while a category goes to it: refused, naming it.
    let refused = admin
        .post_form(
            "/ajustes/areas/3",
            &[
                ("csrf", csrf.as_str()),
                ("nombre", "Dirección de Agua Potable"),
                ("contacto", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        unescape_html(&refused.text())
            .contains("Estas categorías activas van a esa área: Agua potable")
    );

    // A new department with a contact number; a bad number is refused.
    let refused = admin
        .post_form(
            "/ajustes/areas",
            &[
                ("csrf", csrf.as_str()),
                ("nombre", "Obras públicas"),
                ("contacto", "123"),
                ("activa", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    let created = admin
        .post_form(
            "/ajustes/areas",
            &[
                ("csrf", csrf.as_str()),
                ("nombre", "Obras públicas"),
                ("contacto", "55 2222 3333"),
                ("activa", "1"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text());
    let html = unescape_html(&admin.get("/ajustes").await.text());
    assert!(
        html.contains("Obras públicas") && html.contains("+525522223333"),
        "{html}"
    );
    app.stop().await;
}

async fn accounts_are_made_and_closed_from_the_settings(db: Db) {
    let app = app_or_skip!(db);
    let admin = admin(&app).await;
    let csrf = admin.csrf("/ajustes/usuarios").await;

    // A short password is refused; a good account is made.
    let refused = admin
        .post_form(
            "/ajustes/usuarios",
            &[
                ("csrf", csrf.as_str()),
                ("nombre", "pepe"),
                ("rol", "area"),
                ("area", "agua"),
                ("contrasena", "corta"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    let created = admin
        .post_form(
            "/ajustes/usuarios",
            &[
                ("csrf", csrf.as_str()),
                ("nombre", "pepe"),
                ("rol", "area"),
                ("area", "agua"),
                ("contrasena", STAFF_PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text());

    // The account signs in, as a department's.
    let pepe = app.console_client();
    assert_eq!(pepe.sign_in("pepe", STAFF_PASSWORD).await.status, 303);
    let html = unescape_html(&pepe.get("/").await.text());
    assert!(html.contains("Dirección de Agua Potable"), "{html}");

    // Deactivated: its session ends, and it cannot sign in again.
    let id = app
        .state
        .store
        .user_by_name("pepe")
        .await
        .unwrap()
        .unwrap()
        .id;
    let closed = admin
        .post_form(
            &format!("/ajustes/usuarios/{id}"),
            &[("csrf", csrf.as_str()), ("accion", "desactivar")],
        )
        .await;
    assert_eq!(closed.status, 303);
    assert_eq!(pepe.get("/").await.status, 303, "signed out");
    assert_ne!(pepe.sign_in("pepe", STAFF_PASSWORD).await.status, 303);

    // An admin cannot close their own account.
    let me = app
        .state
        .store
        .user_by_name("admin")
        .await
        .unwrap()
        .unwrap()
        .id;
    let refused = admin
        .post_form(
            &format!("/ajustes/usuarios/{me}"),
            &[("csrf", csrf.as_str()), ("accion", "desactivar")],
        )
        .await;
    assert_eq!(refused.status, 422);
    let html = unescape_html(&admin.get("/ajustes").await.text());
    assert!(
        html.contains("Cuenta creada") && html.contains("Cuenta desactivada"),
        "{html}"
    );
    app.stop().await;
}
