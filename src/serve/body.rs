//! The bodies the server loop wraps: a request's, under one deadline for the whole of it, and a
//! response's, which tells the connection's watchdog when the response is done.
//!
//! A deadline that restarts with every chunk (tower-http's `RequestBodyTimeoutLayer`) lets a
//! client send one byte every few seconds for ever; here one timer is armed when the request's
//! headers are in, and the body must be complete by then, however it arrives.

use super::watch::InFlight;
use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body that fails once its deadline has passed, and says so in `expired`.
pub struct Deadline {
    inner: Incoming,
    at: Instant,
    /// Armed only if the body is still waited for (most requests have none, or have it at once).
    timer: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl Deadline {
    /// The body of a request whose headers have just arrived, due within `limit`; and the flag
    /// that says whether it missed its deadline.
    pub fn new(inner: Incoming, limit: std::time::Duration) -> (Deadline, Arc<AtomicBool>) {
        let expired = Arc::new(AtomicBool::new(false));
        let body = Deadline {
            inner,
            at: Instant::now() + limit,
            timer: None,
            expired: expired.clone(),
        };
        (body, expired)
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.expired.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(too_slow_error())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let at = this.at;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if timer.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(too_slow_error())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn too_slow_error() -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the request body was not complete by its deadline",
    ))
}

/// What a request whose body missed its deadline is answered, whatever its handler made of
/// the missing body; the connection is closed after it (what is left of the body is not read).
pub fn too_slow() -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        "La solicitud no llegó completa a tiempo.\n",
    )
        .into_response()
}

/// A response body that holds its request's [`InFlight`] until hyper is done with it.
pub struct Tracked {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl Tracked {
    pub fn new(inner: axum::body::Body, in_flight: InFlight) -> Tracked {
        Tracked {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
