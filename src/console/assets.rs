//! The console's stylesheet and script, built into the binary (an office network may have no
//! internet, and a deployment is one file).

use crate::state::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/console.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/static/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Short: a new binary's assets reach every browser within the hour.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}
