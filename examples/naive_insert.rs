//! The baseline issue 11 sets for the incoming-call webhook: a bare axum handler that answers
//! with fixed TwiML after one SQLite insert per request, written the way a first version would
//! be (sqlx's defaults, one connection so that writers never wait on SQLite's lock, WAL and
//! `synchronous = NORMAL` as the service has them). No signature check, no call log beyond the
//! one row, no open case, no load shedding, no metrics.
//!
//! `bench/report-path.sh` starts it beside the service, and `atiende bench --baseline URL`
//! measures it on the same connections, so the README can say how the real webhook compares:
//!
//! ```sh
//! cargo run --release --example naive_insert -- 127.0.0.1:18090 /tmp/naive.db
//! ```

use axum::extract::{Form, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashMap;
use std::str::FromStr;

const TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf" numDigits="1" timeout="5" action="/twilio/voice/main?t=0"><Say language="es-MX">Para reportar un problema, marque 1.</Say></Gather><Redirect>/twilio/voice/main?t=0</Redirect></Response>"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(path)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: naive_insert LISTEN_ADDR DATABASE_FILE");
    };
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query(
        "create table if not exists calls (id integer primary key, call_sid text not null unique, \
         from_number text, started_at text not null)",
    )
    .execute(&pool)
    .await?;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/twilio/voice", post(incoming))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn incoming(
    State(pool): State<sqlx::SqlitePool>,
    Form(form): Form<HashMap<String, String>>,
) -> impl IntoResponse {
    let inserted = sqlx::query(
        "insert into calls (call_sid, from_number, started_at) values ($1, $2, datetime('now'))",
    )
    .bind(form.get("CallSid"))
    .bind(form.get("From"))
    .execute(&pool)
    .await;
    match inserted {
        Ok(_) => ([(header::CONTENT_TYPE, "text/xml")], TWIML).into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
