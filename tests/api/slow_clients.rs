//! Hostile and broken clients at the HTTP level: a client dribbling its headers or its body
//! cannot hold a connection, and connections beyond the cap get a fast 503 instead of a queue.
//!
//! The waits here are guards against hanging (a few seconds, far above the deadlines the test
//! configures, far below what a connection would be held without them), not measurements.

use crate::helpers::{Db, Options, TestApp, spawn_app_with};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far above the deadlines configured below, far below a connection held without them.
const GUARD: Duration = Duration::from_secs(8);

async fn app(options: Options) -> TestApp {
    spawn_app_with(Db::Sqlite, options)
        .await
        .expect("SQLite always runs")
}

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.caller.connect_base.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// Reads until the server closes the connection (or the guard ends the wait); what it sent.
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(GUARD, stream.read_to_end(&mut got)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn half_sent_headers_do_not_hold_a_connection() {
    let app = app(Options::default().with("ATIENDE_HEADER_TIMEOUT_MS", "300")).await;
    let mut stream = connect(&app).await;

    // Act: a request line and one header, then nothing.
    stream
        .write_all(b"POST /twilio/voice HTTP/1.1\r\nHost: atiende\r\n")
        .await
        .unwrap();

    // Assert: the server closes the connection.
    let answer = until_closed(&mut stream).await;
    assert!(
        answer.is_some(),
        "the connection was still open after {GUARD:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_half_sent_body_does_not_hold_a_handler() {
    let app = app(Options::default().with("ATIENDE_BODY_TIMEOUT_MS", "300")).await;
    let mut stream = connect(&app).await;

    // Act: a webhook announcing 200 bytes of form, sending 20.
    stream
        .write_all(
            b"POST /twilio/voice HTTP/1.1\r\nHost: atiende\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\nCallSid=CA0123456789",
        )
        .await
        .unwrap();

    // Assert: answered (408) and closed, without waiting for the rest.
    let answer = until_closed(&mut stream).await;
    let answer = answer.unwrap_or_else(|| panic!("no answer within {GUARD:?}"));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_get_a_fast_503() {
    let app = app(Options::default().with("ATIENDE_MAX_CONNECTIONS", "2")).await;

    // Arrange: two connections held open, idle.
    let first = connect(&app).await;
    let _second = connect(&app).await;
    // (Accepted in order: give the server a moment to take both before the third.)
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Act: a third.
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: atiende\r\n\r\n")
        .await
        .unwrap();

    // Assert: told to come back, and closed; not queued.
    let answer = until_closed(&mut third).await.expect("closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");

    // One held connection ends: a new one is served.
    drop(first);
    let mut served = false;
    for _ in 0..50 {
        let (status, _) = app.get("/healthz").await;
        if status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "a freed place is used again");
    app.stop().await;
}

#[tokio::test]
async fn a_menu_step_that_cannot_start_in_time_hears_the_apology_and_may_still_report() {
    use crate::helpers::{has_record, new_call_sid, post_signed_raw, twiml, voice_fields};
    use atiende::prompts::Key;
    use sqlx::Connection;
    // Arrange: one menu step at a time, a short wait for a turn; the database's write lock
    // held by someone else, so the first call's greeting waits inside its handler.
    let app = app(Options::default()
        .with("ATIENDE_MAX_WEBHOOKS", "1")
        .with("ATIENDE_SHED_AFTER_MS", "50"))
    .await;
    let file = app.data_dir.join("atiende.db");
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    sqlx::query("begin immediate")
        .execute(&mut blocker)
        .await
        .unwrap();
    let first = {
        let (client, base) = (app.client.clone(), app.base.clone());
        let fields = voice_fields(&new_call_sid(), &[]);
        let signature = atiende::twilio::signature::sign(
            crate::helpers::TOKEN,
            &format!("{base}/twilio/voice"),
            &fields,
        );
        tokio::spawn(async move {
            let res = client
                .post(format!("{base}/twilio/voice"))
                .header("X-Twilio-Signature", signature)
                .form(&fields)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act: a second call comes in while the first holds the only turn; then a recording of
    // the second comes (never shed).
    let second = new_call_sid();
    let (status, answer) =
        post_signed_raw(&app, "/twilio/voice", &voice_fields(&second, &[])).await;

    // Assert: the second caller heard the apology with the beep, not silence.
    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    assert!(
        r.spoken_text().contains(&app.text(Key::TechnicalError)),
        "{answer}"
    );
    assert!(has_record(&r), "{answer}");
    // The first call gets its greeting once the lock is released.
    sqlx::query("rollback").execute(&mut blocker).await.unwrap();
    let (first_status, first_answer) = tokio::time::timeout(GUARD, first).await.unwrap().unwrap();
    assert_eq!(first_status, 200);
    assert!(
        !first_answer.contains(&app.text(Key::TechnicalError)),
        "{first_answer}"
    );
    app.stop().await;
}
