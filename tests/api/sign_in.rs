//! Signing in under attack (issue 20, items 4 to 7): strangers cannot lock a known browser out,
//! a refused try does not extend a pause, limits are per real client address, admins see the
//! failures, anonymous visits write nothing, old rows are swept, a password typed as the name
//! is never logged, and a session ends a working day after sign-in however busy.
//!
//! Every test talks to the real server on loopback as a browser would; a browser "on another
//! machine" connects from another loopback address (127.0.0.2), and the test clock is moved
//! forward to see what minutes or hours later look like.

use crate::helpers::{
    ConsoleClient, Db, Options, STAFF_PASSWORD, ServeProcess, TOKEN, drop_schema, free_port,
    fresh_database, serve_env, start_fake_api,
};
use crate::security::count_rows;
use crate::{app_or_skip, on_both_databases};
use atiende::domain::Role;
use chrono::TimeDelta;

on_both_databases!(
    a_known_browser_signs_in_whatever_strangers_tried,
    a_refused_try_during_a_pause_does_not_extend_it,
    a_known_browser_that_guesses_is_paused_in_the_end_and_a_new_password_revokes_it,
    made_up_names_from_one_address_do_not_lock_out_a_known_browser_there,
    behind_a_trusted_proxy_forwarded_clients_are_counted_apart,
    without_trusted_proxies_the_forwarded_header_is_ignored,
    admins_see_recent_failures_and_nobody_else_does,
    anonymous_visits_write_no_session_rows,
    a_paused_address_writes_no_row_per_try,
    sign_in_requests_from_one_address_are_bounded_even_when_they_succeed,
    expired_sessions_and_old_attempts_are_swept,
    a_password_typed_as_the_name_is_never_logged,
    a_session_ends_a_working_day_after_sign_in_however_busy,
    a_session_unused_for_the_idle_limit_ends,
);

/// A wrong password.
const WRONG: &str = "no es la contraseña";

/// Signs out through the console's form (the session ends; the device cookie stays).
async fn sign_out(client: &ConsoleClient) {
    let token = client.csrf("/").await;
    assert_eq!(
        client.post_form("/salir", &[("csrf", &token)]).await.status,
        303
    );
    assert_eq!(client.get("/").await.status, 303, "signed out");
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

async fn a_known_browser_signs_in_whatever_strangers_tried(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: the admin's own browser signed in before (and out again).
    app.add_staff("admin", Role::Admin, None).await;
    let own = app.console_client();
    assert_eq!(own.sign_in("admin", STAFF_PASSWORD).await.status, 303);
    sign_out(&own).await;

    // Act: a stranger on another machine guesses twelve times, then the admin signs in.
    let stranger = app.console_client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(stranger.sign_in("admin", WRONG).await.status);
    }
    let strangers_right = stranger.sign_in("admin", STAFF_PASSWORD).await;
    let admins = own.sign_in("admin", STAFF_PASSWORD).await;

    // Assert: five checked, the rest paused; the stranger's browser stays paused even with the
    // right password, and the admin's browser is not paused at all.
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(strangers_right.status, 429, "{}", strangers_right.text());
    assert_eq!(admins.status, 303, "{}", admins.text());
    assert_eq!(own.get("/").await.status, 200);
    app.stop().await;
}

async fn a_refused_try_during_a_pause_does_not_extend_it(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: five failures for ana from a stranger: ana's new browsers wait a minute.
    app.add_staff("ana", Role::Operador, None).await;
    let stranger = app.console_client_from("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(stranger.sign_in("ana", WRONG).await.status, 401);
    }
    let rows = count_rows(&app, "login_attempts").await;
    let ana = app.console_client();

    // Act: ana, on a browser new to her account, tries every ten seconds for 50 seconds...
    let mut during = Vec::new();
    for _ in 0..5 {
        app.state.clock.advance(TimeDelta::seconds(10));
        during.push(ana.sign_in("ana", STAFF_PASSWORD).await);
    }
    // ...and once the minute is over.
    app.state.clock.advance(TimeDelta::seconds(15));
    let after = ana.sign_in("ana", STAFF_PASSWORD).await;

    // Assert: paused while the minute lasted, not a second more; her refused tries wrote
    // nothing and counted for nothing.
    for res in &during {
        assert_eq!(res.status, 429, "{}", res.text());
        assert!(res.text().contains("espere 1 minuto"), "{}", res.text());
    }
    assert_eq!(after.status, 303, "{}", after.text());
    assert_eq!(
        count_rows(&app, "login_attempts").await,
        rows + 1,
        "only the success"
    );
    app.stop().await;
}

async fn a_known_browser_that_guesses_is_paused_in_the_end_and_a_new_password_revokes_it(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: ana's and beto's browsers know their accounts.
    app.add_staff("ana", Role::Operador, None).await;
    app.add_staff("beto", Role::Operador, None).await;
    let anas = app.console_client();
    assert_eq!(anas.sign_in("ana", STAFF_PASSWORD).await.status, 303);
    sign_out(&anas).await;
    let betos = app.console_client();
    assert_eq!(betos.sign_in("beto", STAFF_PASSWORD).await.status, 303);
    sign_out(&betos).await;

    // Act: ana's browser (or whoever took its cookie) guesses; beto's password is changed
    // and a stranger fails five times as beto.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(anas.sign_in("ana", WRONG).await.status);
    }
    let anas_right = anas.sign_in("ana", STAFF_PASSWORD).await;
    let hash = atiende::staff::password::hash("la nueva de beto, larga").unwrap();
    let change = atiende::store::UserChange {
        password_hash: Some(&hash),
        ..Default::default()
    };
    let at = app.state.clock.now();
    app.state
        .store
        .change_user("beto", &change, at)
        .await
        .unwrap();
    let stranger = app.console_client_from("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(stranger.sign_in("beto", WRONG).await.status, 401);
    }
    let betos_after = betos.sign_in("beto", "la nueva de beto, larga").await;

    // Assert: a device cookie's own five failures, then five more as a stranger, then paused;
    // beto's old cookie is worth nothing with the new password, so his browser is a stranger.
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[10], 429, "{statuses:?}");
    assert_eq!(anas_right.status, 429, "{}", anas_right.text());
    assert_eq!(betos_after.status, 429, "{}", betos_after.text());
    app.stop().await;
}

async fn made_up_names_from_one_address_do_not_lock_out_a_known_browser_there(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: ana's browser knows her account; someone at the same address (the office's
    // network) tries forty made-up names.
    app.add_staff("ana", Role::Operador, None).await;
    app.add_staff("beto", Role::Operador, None).await;
    let anas = app.console_client();
    assert_eq!(anas.sign_in("ana", STAFF_PASSWORD).await.status, 303);
    sign_out(&anas).await;
    let guesser = app.console_client();
    let mut statuses = Vec::new();
    for i in 0..40 {
        statuses.push(guesser.sign_in(&format!("usuario{i}"), WRONG).await.status);
    }

    // Act
    let anas_again = anas.sign_in("ana", STAFF_PASSWORD).await;
    let betos_first = app.console_client().sign_in("beto", STAFF_PASSWORD).await;

    // Assert: the address is paused after thirty, for browsers it does not know; ana's is
    // known and gets in.
    assert!(statuses[..30].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[30..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(anas_again.status, 303, "{}", anas_again.text());
    assert_eq!(betos_first.status, 429, "{}", betos_first.text());
    app.stop().await;
}

async fn behind_a_trusted_proxy_forwarded_clients_are_counted_apart(db: Db) {
    let app = app_or_skip!(
        db,
        Options::default().with("ATIENDE_TRUSTED_PROXIES", "127.0.0.1")
    );
    // Arrange: every request comes through the proxy (127.0.0.1); a guesser at 203.0.113.7
    // fails thirty times with made-up names.
    app.add_staff("ana", Role::Operador, None).await;
    let guesser = app.console_client();
    let from_guesser = [("x-forwarded-for", "203.0.113.7")];
    for i in 0..30 {
        let res = guesser
            .sign_in_with(&format!("usuario{i}"), WRONG, &from_guesser)
            .await;
        assert_eq!(res.status, 401);
    }

    // Act: ana, at another address behind the same proxy; and ana at the guesser's address.
    let elsewhere = app
        .console_client()
        .sign_in_with(
            "ana",
            STAFF_PASSWORD,
            &[("x-forwarded-for", "198.51.100.20")],
        )
        .await;
    let at_guessers = app
        .console_client()
        .sign_in_with("ana", STAFF_PASSWORD, &from_guesser)
        .await;

    // Assert: the guesser's address is paused, not the proxy's.
    assert_eq!(elsewhere.status, 303, "{}", elsewhere.text());
    assert_eq!(at_guessers.status, 429, "{}", at_guessers.text());
    app.stop().await;
}

async fn without_trusted_proxies_the_forwarded_header_is_ignored(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a guesser writes a new X-Forwarded-For on each of thirty failures.
    app.add_staff("ana", Role::Operador, None).await;
    let guesser = app.console_client();
    for i in 0..30 {
        let forged = format!("203.0.113.{i}");
        let res = guesser
            .sign_in_with(
                &format!("usuario{i}"),
                WRONG,
                &[("x-forwarded-for", &forged)],
            )
            .await;
        assert_eq!(res.status, 401);
    }

    // Act
    let another = app
        .console_client()
        .sign_in_with(
            "ana",
            STAFF_PASSWORD,
            &[("x-forwarded-for", "198.51.100.20")],
        )
        .await;

    // Assert: all of it came from the peer, 127.0.0.1, which is paused.
    assert_eq!(another.status, 429, "{}", another.text());
    app.stop().await;
}

async fn admins_see_recent_failures_and_nobody_else_does(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a wrong password for ana, and a password typed as the name.
    let admin = app.signed_in("admin", Role::Admin, None).await;
    let ana = app.signed_in("ana", Role::Operador, None).await;
    let stranger = app.console_client_from("127.0.0.2");
    assert_eq!(stranger.sign_in("ana", WRONG).await.status, 401);
    assert_eq!(
        stranger.sign_in("MiClaveSecreta-2024!", WRONG).await.status,
        401
    );

    // Act
    let seen = admin.get("/ajustes/accesos").await;
    let by_operator = ana.get("/ajustes/accesos").await;
    let by_nobody = app.console_client().get("/ajustes/accesos").await;

    // Assert: the admin sees both, the unknown name only as its hash, with the address.
    assert_eq!(seen.status, 200, "{}", seen.text());
    let text = seen.text();
    assert!(
        text.contains("<td data-label=\"Usuario\">ana</td>"),
        "{text}"
    );
    assert!(text.contains("Nombre desconocido ("), "{text}");
    assert!(!text.contains("MiClaveSecreta"), "{text}");
    assert!(text.contains("127.0.0.2"), "{text}");
    assert!(
        admin
            .get("/ajustes")
            .await
            .text()
            .contains("/ajustes/accesos")
    );
    assert_eq!(by_operator.status, 404);
    assert_eq!(by_nobody.status, 303);
    app.stop().await;
}

async fn anonymous_visits_write_no_session_rows(db: Db) {
    let app = app_or_skip!(db);
    let before = count_rows(&app, "sessions").await;

    // Act: 300 visits without a cookie to the sign-in page, and 50 to a page behind it.
    let started = std::time::Instant::now();
    for _ in 0..300 {
        assert_eq!(app.console_client().get("/entrar").await.status, 200);
    }
    for _ in 0..50 {
        assert_eq!(app.console_client().get("/").await.status, 303);
    }
    eprintln!("350 anonymous visits in {:?}", started.elapsed());

    // Assert
    assert_eq!(count_rows(&app, "sessions").await, before);
    app.stop().await;
}

async fn a_paused_address_writes_no_row_per_try(db: Db) {
    let app = app_or_skip!(db);
    let before = count_rows(&app, "login_attempts").await;
    let guesser = app.console_client();

    // Act: 200 failures with made-up names from one address.
    for i in 0..200 {
        guesser.sign_in(&format!("usuario{i}"), WRONG).await;
    }

    // Assert: the thirty checked are kept; the paused ones wrote nothing.
    assert_eq!(count_rows(&app, "login_attempts").await - before, 30);
    app.stop().await;
}

async fn sign_in_requests_from_one_address_are_bounded_even_when_they_succeed(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: ana's own browser, and a script with her password that signs in from new
    // browsers (no device cookie) at the same address, as fast as it can.
    app.add_staff("ana", Role::Operador, None).await;
    let anas = app.console_client();
    assert_eq!(anas.sign_in("ana", STAFF_PASSWORD).await.status, 303);
    let sessions_before = count_rows(&app, "sessions").await;
    let started = std::time::Instant::now();

    // Act
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let status = app
            .console_client()
            .sign_in("ana", STAFF_PASSWORD)
            .await
            .status;
        statuses.push(status);
        if status == 429 {
            break;
        }
    }

    // Assert: a minute's allowance (and what came back while the script ran), then a refusal;
    // one session each at most; ana's own browser is counted apart and still signs in.
    let signed_in = statuses.iter().filter(|s| **s == 303).count() as u64;
    let refilled = started.elapsed().as_secs() + 1;
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        (59..=59 + refilled).contains(&signed_in),
        "{signed_in} sign-ins: {statuses:?}"
    );
    let sessions = count_rows(&app, "sessions").await - sessions_before;
    assert!(sessions as u64 <= signed_in, "{sessions} sessions");
    assert_eq!(anas.sign_in("ana", STAFF_PASSWORD).await.status, 303);
    app.stop().await;
}

async fn expired_sessions_and_old_attempts_are_swept(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a session, and failures, then a month and a day go by.
    let _ana = app.signed_in("ana", Role::Operador, None).await;
    let guesser = app.console_client();
    for i in 0..3 {
        assert_eq!(guesser.sign_in(&format!("x{i}"), WRONG).await.status, 401);
    }
    assert_eq!(count_rows(&app, "sessions").await, 1);
    assert_eq!(count_rows(&app, "login_attempts").await, 4);
    app.state.clock.advance(TimeDelta::days(31));

    // Act: somebody signs in.
    let _beto = app.signed_in("beto", Role::Operador, None).await;

    // Assert: only beto's session and his attempt remain.
    assert_eq!(count_rows(&app, "sessions").await, 1);
    assert_eq!(count_rows(&app, "login_attempts").await, 1);
    app.stop().await;
}

async fn a_password_typed_as_the_name_is_never_logged(db: Db) {
    // Arrange: the real binary, its log in a file.
    let dir = tempfile::tempdir().unwrap();
    let Some((database_url, schema)) = fresh_database(db, dir.path()).await else {
        eprintln!("skipped: ATIENDE_TEST_POSTGRES_URL is not set");
        return;
    };
    let api = start_fake_api(TOKEN).await;
    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut server = ServeProcess::start(
        dir.path(),
        port,
        &serve_env(&database_url, dir.path(), &api),
        &log,
    );
    server.wait_until_healthy().await;
    let client = ConsoleClient::new(&format!("http://127.0.0.1:{port}"));

    // Act: a password typed into the name field, twice, and another one.
    for typed in [
        "MiClaveSecreta-2024!",
        "MiClaveSecreta-2024!",
        "OtraClave#99",
    ] {
        assert_eq!(client.sign_in(typed, WRONG).await.status, 401);
    }
    let written = server.log();
    server.stop();
    drop_schema(schema).await;

    // Assert: neither appears; each is logged as the same short hash every time.
    assert!(!written.contains("MiClaveSecreta"), "{written}");
    assert!(!written.contains("OtraClave"), "{written}");
    let hashes: Vec<&str> = written
        .lines()
        .filter(|l| l.contains("sign-in refused"))
        .map(|l| {
            let at = l.find("unknown:").unwrap_or_else(|| panic!("no hash: {l}"));
            &l[at..at + "unknown:".len() + 8]
        })
        .collect();
    assert_eq!(hashes.len(), 3, "{written}");
    assert!(
        hashes
            .iter()
            .all(|h| h["unknown:".len()..].chars().all(|c| c.is_ascii_hexdigit())),
        "{hashes:?}"
    );
    assert_eq!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);
}

async fn a_session_ends_a_working_day_after_sign_in_however_busy(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: the default limits, 2 hours idle and 10 hours in all.
    let ana = app.signed_in("ana", Role::Operador, None).await;

    // Act: a page every 20 minutes for 9 hours 40 minutes...
    for step in 1..=29 {
        app.state.clock.advance(minutes(20));
        assert_eq!(
            ana.get("/").await.status,
            200,
            "after {} minutes",
            step * 20
        );
    }
    // ...and 21 minutes more: 10 hours and a minute after signing in.
    app.state.clock.advance(minutes(21));
    let res = ana.get("/").await;

    // Assert: sign in again, whatever the use.
    assert_eq!(res.status, 303);
    assert!(res.location().starts_with("/entrar"), "{}", res.location());
    assert_eq!(
        ana.get("/").await.status,
        303,
        "the session is over for good"
    );
    app.stop().await;
}

async fn a_session_unused_for_the_idle_limit_ends(db: Db) {
    let app = app_or_skip!(
        db,
        Options::default().with("ATIENDE_SESSION_IDLE_MINUTES", "30")
    );
    // Arrange
    let ana = app.signed_in("ana", Role::Operador, None).await;

    // Act and assert: 29 minutes without use are fine, and count from the last use...
    app.state.clock.advance(minutes(29));
    assert_eq!(ana.get("/").await.status, 200);
    app.state.clock.advance(minutes(29));
    assert_eq!(ana.get("/").await.status, 200);
    // ...31 are not.
    app.state.clock.advance(minutes(31));
    let res = ana.get("/").await;
    assert_eq!(res.status, 303);
    assert!(res.location().starts_with("/entrar"));
    app.stop().await;
}
