//! Each connection's watchdog: what a connection is doing (requests in flight, bytes arriving
//! while it is idle), and the deadline that follows from it.
//!
//! hyper's own header deadline starts only once HTTP/1 parsing has begun, and it also runs while a
//! keep-alive connection waits for its next request (so it cannot be longer than the idle
//! deadline). A socket that sends nothing, or half of the HTTP/2 preface, is never parsed at
//! all. So the deadlines live here, outside the protocol, and hold for whatever the connection
//! turns out to speak:
//!
//! - before its first request: the first request's headers within `header_timeout` of accept;
//! - between requests: `idle_timeout` with nothing in flight, or, once bytes of a next request
//!   have arrived, its headers within `header_timeout` of the first of them;
//! - while a request is in flight: none here (the body has its deadline in `body`, a handler
//!   its own).
//!
//! The service marks a request's start ([`Activity::request_started`]); the [`InFlight`] it gets
//! back travels with the response body and marks its end when hyper drops that body, i.e. when
//! the response has been written (or abandoned). Neither wakes the watchdog (two wake-ups a
//! request, for nothing): it looks again when its timer fires.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The deadlines a connection's watchdog enforces.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    pub header: Duration,
    pub idle: Duration,
}

/// The first bytes of an HTTP/2 connection.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What one connection is doing, shared by its IO, its service and its watchdog.
#[derive(Debug)]
pub struct Activity {
    born: Instant,
    in_flight: AtomicUsize,
    /// Whether any request has started.
    served: AtomicBool,
    /// When the connection last fell idle, in milliseconds after `born`.
    idle_since: AtomicU64,
    /// When bytes arrived while idle, in milliseconds after `born`, plus one (0: none since).
    head_begun: AtomicU64,
    /// HTTP/2: its pings and settings arrive while idle, and are not a request's headers.
    h2: AtomicBool,
    /// Whether the first bytes have been looked at (for `h2`).
    sniffed: AtomicBool,
    changed: Notify,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            born: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_begun: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            sniffed: AtomicBool::new(false),
            changed: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.born + Duration::from_millis(ms)
    }

    /// A request's headers are in and it goes to the service.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::SeqCst);
        self.head_begun.store(0, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// Bytes arrived (`first` are the first of them, if they are the connection's first).
    fn bytes_read(&self, chunk: &[u8]) {
        if !self.sniffed.swap(true, Ordering::Relaxed) {
            let n = chunk.len().min(H2_PREFACE.len());
            self.h2
                .store(chunk[..n] == H2_PREFACE[..n], Ordering::Relaxed);
        }
        if self.in_flight.load(Ordering::SeqCst) == 0
            && self.served.load(Ordering::SeqCst)
            && !self.h2.load(Ordering::Relaxed)
            && self.head_begun.load(Ordering::SeqCst) == 0
        {
            self.head_begun.store(self.now_ms() + 1, Ordering::SeqCst);
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed if nothing changes; `None` while a request is in
    /// flight. A request's start or end only moves the deadline later, so the watchdog need not
    /// wake for them: it looks again when its timer fires. Bytes arriving while idle may move it
    /// earlier, and wake it ([`Activity::changed`]).
    pub fn deadline(&self, limits: &Deadlines) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        if !self.served.load(Ordering::SeqCst) {
            return Some(self.born + limits.header);
        }
        match self.head_begun.load(Ordering::SeqCst) {
            0 => Some(self.at(self.idle_since.load(Ordering::SeqCst)) + limits.idle),
            begun => Some(self.at(begun - 1) + limits.header),
        }
    }

    /// Resolves when bytes of a next request arrive while idle (the deadline moved earlier).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A request in flight on its connection; dropped when its response is done.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        // The idle time is written before the count falls, so whoever sees 0 reads it.
        activity
            .idle_since
            .store(activity.now_ms(), Ordering::SeqCst);
        activity.head_begun.store(0, Ordering::SeqCst);
        activity.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection's socket, telling its [`Activity`] when bytes arrive.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() > before
        {
            this.activity.bytes_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Deadlines = Deadlines {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(75),
    };

    #[tokio::test]
    async fn the_deadline_follows_what_the_connection_does() {
        let activity = Activity::new();
        let born = activity.born;
        assert_eq!(activity.deadline(&LIMITS), Some(born + LIMITS.header));
        // Bytes before the first request change nothing: the first deadline is from accept.
        activity.bytes_read(b"GET / HTTP/1.1\r\n");
        assert_eq!(activity.deadline(&LIMITS), Some(born + LIMITS.header));
        let request = activity.request_started();
        assert_eq!(activity.deadline(&LIMITS), None);
        drop(request);
        let idle = activity.deadline(&LIMITS).unwrap();
        assert!(idle >= born + LIMITS.idle, "{idle:?}");
        activity.bytes_read(b"GET / HTTP/1.1\r\n");
        let head = activity.deadline(&LIMITS).unwrap();
        assert!(head < idle && head >= born + LIMITS.header, "{head:?}");
    }

    #[tokio::test]
    async fn http2_frames_between_requests_are_not_a_request_begun() {
        let activity = Activity::new();
        activity.bytes_read(H2_PREFACE);
        drop(activity.request_started());
        let idle = activity.deadline(&LIMITS).unwrap();
        activity.bytes_read(&[0, 0, 8, 6, 1, 0, 0, 0, 0]);
        assert_eq!(activity.deadline(&LIMITS), Some(idle));
    }
}
