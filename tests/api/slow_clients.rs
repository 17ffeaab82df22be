//! Hostile and broken clients at the HTTP level: a client dribbling its headers or its body, or
//! sending nothing, cannot hold a connection; one host cannot take the whole pool; connections
//! beyond the cap get a fast 503 instead of a queue, except Twilio's webhooks, which a reserve
//! still answers.
//!
//! The waits here are guards against hanging (a few seconds, far above the deadlines the test
//! configures, far below what a connection would be held without them). Where a test says how
//! long a hostile socket lived, it measures it and prints it, and asserts only that it was cut
//! within that generous bound, never that anything was fast.

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
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );

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

/// Opens a connection from `source` (any address of 127.0.0.0/8, all of which are this
/// machine's), as another host would.
async fn connect_from(app: &TestApp, source: &str) -> TcpStream {
    let addr: std::net::SocketAddr = app
        .caller
        .connect_base
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// How long `stream` stays open from now, reading (and dropping) what it is sent; `None` if
/// still open after the guard.
async fn lifetime(stream: &mut TcpStream) -> Option<Duration> {
    let started = std::time::Instant::now();
    until_closed(stream).await.map(|_| started.elapsed())
}

/// A signed webhook as raw HTTP/1.1, asking for the connection to be closed after it.
fn signed_webhook(app: &TestApp, path: &str, fields: &[(String, String)]) -> Vec<u8> {
    let body = serde_urlencoded::to_string(fields).unwrap();
    let signature = atiende::twilio::signature::sign(
        crate::helpers::TOKEN,
        &format!("{}{path}", app.base),
        fields,
    );
    format!(
        "POST {path} HTTP/1.1\r\nHost: atiende\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request` on `stream`; the status and body of the answer (the server closes after it).
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, String) {
    stream.write_all(request).await.unwrap();
    let answer = until_closed(stream)
        .await
        .unwrap_or_else(|| panic!("no answer within {GUARD:?}"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    (status, body.to_owned())
}

/// Measures how long a connection that sends `first` (maybe nothing) and then waits lives,
/// under a first-request deadline of 300 ms.
async fn lifetime_of_a_socket_sending(what: &str, first: &[u8], http2: bool) {
    let app = app(Options::default()
        .with("ATIENDE_HEADER_TIMEOUT_MS", "300")
        .with("ATIENDE_HTTP2", if http2 { "true" } else { "false" }))
    .await;
    let mut stream = connect(&app).await;
    stream.write_all(first).await.unwrap();

    let lived = lifetime(&mut stream).await;

    let lived = lived.unwrap_or_else(|| panic!("{what}: still open after {GUARD:?}"));
    println!("{what} (HTTP/2 {http2}): cut after {lived:?}, first-request deadline 300 ms");
    assert!(lived < Duration::from_secs(5), "{what}: lived {lived:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_silent_socket_is_cut_at_the_first_request_deadline() {
    lifetime_of_a_socket_sending("a socket that sends nothing", b"", false).await;
    lifetime_of_a_socket_sending("a socket that sends nothing", b"", true).await;
}

#[tokio::test]
async fn a_socket_sending_half_the_http2_preface_is_cut_at_the_first_request_deadline() {
    for http2 in [false, true] {
        lifetime_of_a_socket_sending("PRI * HTTP/2.0 only", b"PRI * HTTP/2.0\r\n", http2).await;
    }
}

/// The whole HTTP/2 preface and an empty SETTINGS frame: with `ATIENDE_HTTP2=true` the
/// connection is a real HTTP/2 one, idle, and must still be cut.
#[tokio::test]
async fn an_h2c_preface_with_empty_settings_is_cut_at_the_first_request_deadline() {
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    for http2 in [false, true] {
        lifetime_of_a_socket_sending("h2c preface and empty SETTINGS", &hello, http2).await;
    }
}

/// Reads one answer to a `GET /healthz` on a keep-alive connection (its body is `ok`).
async fn read_healthz(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while !got.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(GUARD, stream.read(&mut chunk))
            .await
            .expect("answered")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_keep_alive_connection_is_closed_after_the_idle_deadline_and_not_before() {
    // Arrange: idle deadline 1.5 s, header deadline 300 ms (which must not cut an idle
    // connection between requests).
    let app = app(Options::default()
        .with("ATIENDE_HEADER_TIMEOUT_MS", "300")
        .with("ATIENDE_IDLE_TIMEOUT_MS", "1500"))
    .await;
    let mut stream = connect(&app).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: atiende\r\n\r\n";
    stream.write_all(request).await.unwrap();
    assert!(read_healthz(&mut stream).await.starts_with("HTTP/1.1 200"));

    // Act: a pause longer than the header deadline, shorter than the idle one; then silence.
    tokio::time::sleep(Duration::from_millis(600)).await;
    stream.write_all(request).await.unwrap();
    let second = read_healthz(&mut stream).await;
    let lived = lifetime(&mut stream).await;

    // Assert: the second request was served; then the connection was closed.
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    let lived = lived.unwrap_or_else(|| panic!("still open after {GUARD:?}"));
    println!("idle keep-alive connection: cut {lived:?} after its last answer, deadline 1.5 s");
    assert!(lived < Duration::from_secs(6), "lived {lived:?}");
    app.stop().await;
}

/// Announces a 500-byte form on `path` and sends it one byte every 100 ms; how the server
/// answered and after how long.
async fn dribble(app: &TestApp, path: &str) -> (Option<Duration>, String) {
    let stream = connect(app).await;
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: atiende\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let dribbler = tokio::spawn(async move {
        for _ in 0..500 {
            if writer.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut got = Vec::new();
    let read = tokio::time::timeout(GUARD, reader.read_to_end(&mut got)).await;
    let lived = read.is_ok().then(|| started.elapsed());
    dribbler.abort();
    (lived, String::from_utf8_lossy(&got).into_owned())
}

async fn a_dribbled_body_is_cut_at_the_whole_body_deadline(path: &str) {
    let app = app(Options::default().with("ATIENDE_BODY_TIMEOUT_MS", "1000")).await;

    let (lived, answer) = dribble(&app, path).await;

    let lived = lived.unwrap_or_else(|| panic!("{path}: still open after {GUARD:?}"));
    println!("POST {path} dribbled a byte every 100 ms: cut after {lived:?}, body deadline 1 s");
    assert!(lived < Duration::from_secs(6), "{path}: lived {lived:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_dribbled_webhook_body_is_cut_at_the_whole_body_deadline() {
    a_dribbled_body_is_cut_at_the_whole_body_deadline("/twilio/voice").await;
}

#[tokio::test]
async fn a_dribbled_sign_in_body_is_cut_at_the_whole_body_deadline() {
    a_dribbled_body_is_cut_at_the_whole_body_deadline("/entrar").await;
}

crate::on_both_databases!(
    a_webhook_from_another_address_is_answered_while_one_host_floods_past_the_cap,
    a_voice_webhook_at_the_cap_still_leaves_a_way_to_report,
);

/// More hostile idle sockets from 127.0.0.1 than the cap and its reserve together, for two
/// caps; a signed webhook from 127.0.0.2 still gets its TwiML at once.
async fn a_webhook_from_another_address_is_answered_while_one_host_floods_past_the_cap(
    db: crate::helpers::Db,
) {
    for (cap, per_client) in [(16usize, 4usize), (64, 16)] {
        // Arrange
        let app = crate::app_or_skip!(
            db,
            Options::default()
                .with("ATIENDE_MAX_CONNECTIONS", &cap.to_string())
                .with(
                    "ATIENDE_MAX_CONNECTIONS_PER_CLIENT",
                    &per_client.to_string()
                )
        );
        let hostile = cap + atiende::serve::reserve_for(cap) + 8;
        let mut held = Vec::with_capacity(hostile);
        for _ in 0..hostile {
            held.push(connect_from(&app, "127.0.0.1").await);
        }
        // (Accepted in order: let the server take them all before the webhook.)
        tokio::time::sleep(Duration::from_millis(200)).await;

        // Act
        let started = std::time::Instant::now();
        let mut webhook = connect_from(&app, "127.0.0.2").await;
        let fields = crate::helpers::voice_fields(&crate::helpers::new_call_sid(), &[]);
        let (status, body) = exchange(
            &mut webhook,
            &signed_webhook(&app, "/twilio/voice", &fields),
        )
        .await;
        let took = started.elapsed();

        // Assert: answered with the greeting; the flood's sockets beyond its own share closed.
        println!(
            "cap {cap}, {per_client} per client, {hostile} hostile sockets: the webhook from 127.0.0.2 was answered in {took:?}"
        );
        assert_eq!(status, 200, "{body}");
        let r = crate::helpers::twiml(&body);
        assert!(!r.verbs.is_empty(), "{body}");
        let mut closed = 0;
        for stream in &mut held {
            let mut byte = [0u8; 1];
            if let Ok(Ok(_) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(20), stream.read(&mut byte)).await
            {
                closed += 1;
            }
        }
        assert_eq!(
            closed,
            hostile - per_client,
            "refused at once beyond the share"
        );
        drop(held);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_trusted_proxy_is_not_limited_per_client() {
    let app = app(Options::default()
        .with("ATIENDE_MAX_CONNECTIONS_PER_CLIENT", "2")
        .with("ATIENDE_TRUSTED_PROXIES", "127.0.0.3"))
    .await;

    // Act: five connections at once from the proxy, and from another host.
    let mut proxy = Vec::new();
    let mut other = Vec::new();
    for _ in 0..5 {
        proxy.push(connect_from(&app, "127.0.0.3").await);
        other.push(connect_from(&app, "127.0.0.4").await);
    }
    let request = b"GET /healthz HTTP/1.1\r\nHost: atiende\r\nConnection: close\r\n\r\n";
    let mut proxy_served = 0;
    for stream in &mut proxy {
        if exchange(stream, request).await.0 == 200 {
            proxy_served += 1;
        }
    }
    let mut other_served = 0;
    for stream in &mut other {
        let _ = stream.write_all(request).await;
        if let Some(answer) = until_closed(stream).await
            && answer.starts_with("HTTP/1.1 200")
        {
            other_served += 1;
        }
    }

    // Assert
    assert_eq!(proxy_served, 5, "the proxy carries many clients");
    assert_eq!(other_served, 2, "any other host has its share");
    app.stop().await;
}

/// At the cap, a voice webhook still reaches the line (from the reserve): the fallback URL
/// answers the apology that records, the first step its greeting; anything else gets 503.
async fn a_voice_webhook_at_the_cap_still_leaves_a_way_to_report(db: crate::helpers::Db) {
    use crate::helpers::{has_record, new_call_sid, twiml, voice_fields};
    // Arrange: the cap taken by idle connections.
    let app = crate::app_or_skip!(db, Options::default().with("ATIENDE_MAX_CONNECTIONS", "4"));
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(&app, "127.0.0.1").await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act
    let sid = new_call_sid();
    let mut stream = connect_from(&app, "127.0.0.5").await;
    let fallback = signed_webhook(&app, "/twilio/voice/fallback", &voice_fields(&sid, &[]));
    let (fallback_status, fallback_body) = exchange(&mut stream, &fallback).await;
    let mut stream = connect_from(&app, "127.0.0.5").await;
    let first = signed_webhook(&app, "/twilio/voice", &voice_fields(&new_call_sid(), &[]));
    let (first_status, first_body) = exchange(&mut stream, &first).await;
    let mut stream = connect_from(&app, "127.0.0.5").await;
    let (health_status, _) = exchange(
        &mut stream,
        b"GET /healthz HTTP/1.1\r\nHost: atiende\r\nConnection: close\r\n\r\n",
    )
    .await;

    // Assert
    assert_eq!(fallback_status, 200, "{fallback_body}");
    assert!(has_record(&twiml(&fallback_body)), "{fallback_body}");
    assert_eq!(first_status, 200, "{first_body}");
    assert!(!twiml(&first_body).verbs.is_empty(), "{first_body}");
    assert_eq!(health_status, 503, "not a webhook: told to come back");
    drop(held);
    app.stop().await;
}
