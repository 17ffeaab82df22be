//! The HTTP server loop: hyper under axum's router, with the limits a public service needs that
//! `axum::serve` does not offer. Each one holds whatever a client sends, or does not send:
//!
//! - **First request**: a connection must deliver its first request's headers within
//!   `ATIENDE_HEADER_TIMEOUT_MS` (10 s) of being accepted, whatever protocol it speaks (a socket
//!   that sends nothing, or half of the HTTP/2 preface, is closed too); a later request's headers
//!   within that of its first byte. See `watch`.
//! - **Idle**: a connection with no request in flight is closed after `ATIENDE_IDLE_TIMEOUT_MS`
//!   (75 s): longer than a caller's pause between two steps of a call, so Twilio's connection
//!   is still there for the next one, and longer than nginx's 60 s upstream keep-alive, so a
//!   proxy in front closes first and never sends a request on a connection we are closing.
//! - **Body**: a request's whole body must arrive within `ATIENDE_BODY_TIMEOUT_MS` (10 s) of its
//!   headers, or it is answered 408 and the connection closed. See `body`.
//! - **HTTP/1.1 only**, unless `ATIENDE_HTTP2=true`: Twilio and reverse proxies speak HTTP/1.1,
//!   and cleartext HTTP/2 is one more protocol for an attacker to hold a connection with. When
//!   it is on, pings find dead peers and the deadlines above still hold.
//! - **Per client**: at most `ATIENDE_MAX_CONNECTIONS_PER_CLIENT` (128) connections at once
//!   from one address that is not a trusted proxy (`ATIENDE_TRUSTED_PROXIES`); one more is
//!   closed at once, without taking a place in the pool. See `clients`.
//! - **Connection cap**: at most `ATIENDE_MAX_CONNECTIONS` connections at once (16,384 by
//!   default, sized under the open-files limit: see [`fit_to_open_files`]). Beyond it a small
//!   reserve of places serves one request each, with a short deadline: Twilio's webhooks
//!   (`/twilio/...`) go to the service as usual, so a caller still reaches the line (at worst the
//!   apology that records the report), and anything else gets a fast `503` with `Retry-After`.
//!   Beyond the reserve too, a connection is told `503` and closed at once.
//! - **Graceful stop**: on shutdown the listener closes, requests in flight finish.

mod body;
mod clients;
mod watch;

use crate::config::{ServerLimits, TrustedProxies};
use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use clients::Clients;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch as signal};
use tower_service::Service;
use watch::{Activity, Deadlines, Watched};

/// The limits of the server loop, and whose connections are not counted per client.
#[derive(Debug, Clone)]
pub struct Limits {
    pub server: ServerLimits,
    pub trusted_proxies: TrustedProxies,
}

/// What a connection refused outright is told, if its socket takes it at once.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n";

/// How long a connection the watchdog is closing has to close by itself (it has nothing in
/// flight) before it is dropped.
const GRACE: Duration = Duration::from_secs(1);

/// A connection in the reserve has this long (or the header deadline, if shorter) to send its
/// one request's headers: the reserve is for Twilio, which sends at once.
const RESERVE_HEADER: Duration = Duration::from_secs(2);

/// HTTP/2 (when on): a ping after this long without frames, and the connection closed if it is
/// not answered within [`H2_PING_TIMEOUT`]; this many requests at once on one connection.
const H2_PING_EVERY: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);
const H2_MAX_STREAMS: u32 = 64;

/// Open files the service needs besides its connections: the database (SQLite's files, or
/// PostgreSQL's pool), the journal, outgoing HTTP to Twilio and storage, the listeners, logs.
pub const FILES_BESIDE_CONNECTIONS: u64 = 1024;

/// The reserve beyond the cap (see the module's documentation): a small share of it.
pub fn reserve_for(max_connections: usize) -> usize {
    (max_connections / 64).clamp(4, 256)
}

/// Raises the open-files soft limit to the hard limit where the system allows, and lowers
/// `ATIENDE_MAX_CONNECTIONS` (with a warning naming it) if even that cannot hold the cap, its
/// reserve and the service's other files: better a 503 at the cap than failing to accept, or to
/// open the database, under load. Returns the limit in force.
pub fn fit_to_open_files(server: &mut ServerLimits) -> Option<u64> {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not read or raise the open-files limit");
            return None;
        }
    };
    let wanted = server.max_connections as u64
        + reserve_for(server.max_connections) as u64
        + FILES_BESIDE_CONNECTIONS;
    if limit < wanted {
        let fits = limit.saturating_sub(FILES_BESIDE_CONNECTIONS);
        // The reserve is at most 1/64 of the cap.
        let cap = usize::try_from(fits - fits / 65)
            .unwrap_or(usize::MAX)
            .max(1);
        tracing::warn!(
            open_files = limit,
            configured = server.max_connections,
            lowered_to = cap,
            "ATIENDE_MAX_CONNECTIONS is more than the open-files limit allows (ulimit -n); lowered"
        );
        server.max_connections = cap;
    } else {
        tracing::info!(
            open_files = limit,
            max_connections = server.max_connections,
            "open-files limit"
        );
    }
    Some(limit)
}

/// Logs a refusal at most once a second (an attack would otherwise write a line per socket).
struct Throttled(AtomicU64);

impl Throttled {
    fn due(&self) -> bool {
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.0.swap(second, Ordering::Relaxed) != second
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight end.
/// Longer than a screen because the order of the accept loop is the defence, easier to check
/// read top to bottom: the client's own cap before the pool's, the pool before the reserve,
/// and only then a connection served under its watchdog.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = limits.server;
    let pool = Arc::new(Semaphore::new(server.max_connections));
    let reserve = Arc::new(Semaphore::new(reserve_for(server.max_connections)));
    let clients = Clients::new(server.max_connections_per_client);
    let main = Arc::new(builder(&server, true));
    let spare = Arc::new(builder(&server, false));
    let deadlines = Deadlines {
        header: server.header_timeout,
        idle: server.idle_timeout,
    };
    let spare_deadlines = Deadlines {
        header: server.header_timeout.min(RESERVE_HEADER),
        idle: server.idle_timeout.min(RESERVE_HEADER),
    };
    let (stop, stopping) = signal::channel(false);
    // Every connection's task holds a clone; when all are dropped, every connection has ended.
    let (alive, mut ended) = tokio::sync::mpsc::channel::<()>(1);
    let (per_client_log, cap_log) = (Throttled(AtomicU64::new(0)), Throttled(AtomicU64::new(0)));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let client_slot = if limits.trusted_proxies.contains(peer.ip()) {
            None
        } else if let Some(slot) = clients.enter(peer.ip()) {
            Some(slot)
        } else {
            if per_client_log.due() {
                tracing::warn!(
                    client = %peer.ip(),
                    max = server.max_connections_per_client,
                    "a client holds as many connections as it may (ATIENDE_MAX_CONNECTIONS_PER_CLIENT); closed the next"
                );
            }
            refuse(stream);
            continue;
        };
        let (permit, builder, deadlines, spare_only) = match pool.clone().try_acquire_owned() {
            Ok(permit) => (permit, main.clone(), deadlines, false),
            Err(_) => {
                let Ok(permit) = reserve.clone().try_acquire_owned() else {
                    if cap_log.due() {
                        tracing::warn!(%peer, max = server.max_connections, "connection cap and its reserve reached; answered 503");
                    }
                    refuse(stream);
                    continue;
                };
                if cap_log.due() {
                    tracing::warn!(%peer, max = server.max_connections, "connection cap reached; serving from the reserve");
                }
                (permit, spare.clone(), spare_deadlines, true)
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let service = connection_service(
            router.clone(),
            peer,
            activity.clone(),
            server.body_timeout,
            spare_only,
        );
        let (alive, stopping) = (alive.clone(), stopping.clone());
        tokio::spawn(async move {
            let io = TokioIo::new(Watched::new(stream, activity.clone()));
            let connection = builder.serve_connection(io, service);
            watch_over(connection, &activity, deadlines, stopping, peer).await;
            drop((permit, client_slot, alive));
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    let _ = ended.recv().await;
    Ok(())
}

/// Closes a refused connection at once, telling it 503 if its socket takes that without waiting.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(BUSY);
    drop(stream);
}

/// hyper's connection settings: HTTP/1.1 only unless `ATIENDE_HTTP2`. hyper's own header
/// deadline is off: it would also cut a keep-alive connection between requests, which the
/// watchdog does at the idle deadline instead.
fn builder(server: &ServerLimits, keep_alive: bool) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(keep_alive);
    if server.http2 && keep_alive {
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(H2_PING_EVERY)
            .keep_alive_timeout(H2_PING_TIMEOUT)
            .max_concurrent_streams(H2_MAX_STREAMS);
        builder
    } else {
        builder.http1_only()
    }
}

/// The service of one connection: each request marked in flight until its response is done,
/// its body under the whole-body deadline. A connection from the reserve (`spare_only`) only
/// reaches Twilio's webhooks.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    body_timeout: Duration,
    spare_only: bool,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = hyper::Response<body::Tracked>,
    Error = Infallible,
    Future = impl Future<Output = Result<hyper::Response<body::Tracked>, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = activity.request_started();
        let (mut request, expired) = {
            let (parts, incoming) = request.into_parts();
            let (body, expired) = body::Deadline::new(incoming, body_timeout);
            (
                hyper::Request::from_parts(parts, axum::body::Body::new(body)),
                expired,
            )
        };
        request.extensions_mut().insert(ConnectInfo(peer));
        let for_twilio = request.uri().path().starts_with("/twilio/");
        // A Router is always ready; each request gets its own handle.
        let answer = (!spare_only || for_twilio).then(|| router.clone().call(request));
        async move {
            let response = match answer {
                Some(answer) => match answer.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                None => busy(),
            };
            let response = if expired.load(Ordering::Relaxed) {
                body::too_slow()
            } else {
                response
            };
            Ok(response.map(|b| body::Tracked::new(b, in_flight)))
        }
    })
}

/// What a request from the reserve that is not a webhook is told.
fn busy() -> axum::response::Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1"), (header::CONNECTION, "close")],
        "busy\n",
    )
        .into_response()
}

/// Drives a connection to its end, closing it at its deadline (see `watch`) or when the server
/// stops: first asking it to close (it has nothing in flight then), and dropping it if it has
/// not within [`GRACE`].
async fn watch_over<C>(
    connection: C,
    activity: &Activity,
    deadlines: Deadlines,
    mut stopping: signal::Receiver<bool>,
    peer: SocketAddr,
) where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(connection);
    let mut closing_by: Option<tokio::time::Instant> = None;
    let mut stop_asked = false;
    // While a request is in flight, look again this often (its end is not signalled).
    let recheck = deadlines.header.min(deadlines.idle);
    loop {
        let at = closing_by
            .or_else(|| activity.deadline(&deadlines))
            .unwrap_or_else(|| tokio::time::Instant::now() + recheck);
        let timer = tokio::time::sleep_until(at);
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            () = activity.changed() => {}
            changed = stopping.changed(), if !stop_asked => {
                stop_asked = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = timer => {
                if closing_by.is_some() {
                    tracing::debug!(%peer, "connection dropped: it did not close when asked");
                    return;
                }
                let now = tokio::time::Instant::now();
                if activity.deadline(&deadlines).is_some_and(|at| at <= now) {
                    tracing::debug!(%peer, "connection closed at its deadline (first request, headers or idle)");
                    connection.as_mut().graceful_shutdown();
                    closing_by = Some(now + GRACE);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_lowered_to_fit_under_the_open_files_limit() {
        let config = crate::config::Config::from_pairs([("ATIENDE_MAX_CONNECTIONS", "100000")])
            .expect("a valid configuration");
        let mut server = config.server;

        let limit = fit_to_open_files(&mut server).expect("Linux tells its limit");

        let needed = server.max_connections as u64
            + reserve_for(server.max_connections) as u64
            + FILES_BESIDE_CONNECTIONS;
        assert!(
            needed <= limit.max(FILES_BESIDE_CONNECTIONS + 2),
            "cap {} needs {needed} files, the limit is {limit}",
            server.max_connections
        );
        assert!(server.max_connections >= 1);
    }
}
