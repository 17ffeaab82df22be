//! The service as one value: built from a [`Config`] and a bound listener, so `main` and the
//! tests start it the same way (the tests bind port 0 and ask [`Application::port`]).
//!
//! [`AppState`] is the one state every handler gets. It is a single struct, cheap to clone (each
//! field is a handle), because every part of the service needs the same few things: the store,
//! the configuration, the prompts, the clock, the one shared HTTP client.

use crate::config::Config;
use crate::domain::Timestamp;
use crate::jobs::Workers;
use crate::storage::Storage;
use crate::store::Store;
use crate::twilio::verify_webhook;
use crate::voice::{self, Prompts};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Longest a voice webhook may take before the caller hears the apology instead. Twilio gives
/// up at 15 s; we answer well before.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where "now" comes from. Tests fix it to check office hours and dates.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(Utc::now))
    }

    /// A clock stopped at one instant.
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock(Arc::new(move || at))
    }

    /// A clock that starts at `at` and then runs (tests: a known date, and jobs still come due).
    pub fn starting_at(at: DateTime<Utc>) -> Clock {
        let started = std::time::Instant::now();
        Clock(Arc::new(move || {
            at + chrono::TimeDelta::from_std(started.elapsed()).unwrap_or_default()
        }))
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_utc((self.0)())
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// What every handler gets. See the module documentation.
#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub prompts: Prompts,
    pub clock: Clock,
    /// The one HTTP client for Twilio's REST API (recordings, SMS): connection pool, rustls,
    /// time-outs.
    pub http: reqwest::Client,
    /// Where recordings are kept.
    pub storage: Storage,
    /// Wakes this instance's job workers when a webhook enqueues work.
    pub jobs_wakeup: Arc<Notify>,
}

impl AppState {
    /// Tells the workers there is work, so it starts now rather than at the next poll.
    pub fn wake_workers(&self) {
        self.jobs_wakeup.notify_waiters();
    }
}

/// The built service, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the store, applies migrations, loads the prompts and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, Clock::system()).await
    }

    pub async fn build_with_clock(mut config: Config, clock: Clock) -> anyhow::Result<Application> {
        let prompts = Prompts::load(&config.prompts_dir)?;
        let storage = Storage::open(&config.storage_url, &config.s3)?;
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        let listener = bind(config.listen).map_err(|e| {
            anyhow::anyhow!("ATIENDE_LISTEN: cannot listen on {}: {e}", config.listen)
        })?;
        if !config.public_url_explicit {
            // Listening on port 0 (tests) or a wildcard address: say where we really are.
            let bound = listener.local_addr()?;
            config.public_url = format!("http://{bound}").parse()?;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(config.http_timeout)
            .user_agent(concat!("atiende/", env!("CARGO_PKG_VERSION")))
            .build()?;
        if config.demo_mode() {
            tracing::warn!(
                "demo mode: TWILIO_AUTH_TOKEN is not set, so webhook signatures are not checked and SMS are not sent"
            );
        }
        tracing::info!(
            listen = %listener.local_addr()?,
            database = store.backend_name(),
            storage = storage.describe(),
            public_url = %config.public_url,
            "atiende ready"
        );
        Ok(Application {
            listener,
            state: AppState {
                config: Arc::new(config),
                store,
                prompts,
                clock,
                http,
                storage,
                jobs_wakeup: Arc::new(Notify::new()),
            },
        })
    }

    /// The port actually bound (useful when the config asked for port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves, with the job workers beside it, until `shutdown` completes; then stops accepting,
    /// lets requests in flight finish, lets each worker finish the job in hand, and closes the
    /// store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let workers = Workers::start(&self.state);
        // One service for all connections (serving a plain Router would rebuild its routes for
        // each new connection).
        let app = router(self.state).into_make_service();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        workers.stop().await;
        served?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// How many connections may wait to be accepted. The default (128) overflows when a burst of
/// calls arrives at once, and the kernel then makes those callers wait 1-3 s to retry.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Every route of the service, with its layers.
pub fn router(state: AppState) -> Router {
    let twilio = voice::router()
        .merge(crate::messaging::router())
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            WEBHOOK_TIMEOUT,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            voice::safety_net,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            verify_webhook,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(voice::audio_router())
        .merge(twilio)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
                    if route.ends_with("z") && (route == "/healthz" || route == "/readyz") {
                        tracing::debug_span!("http", method = %req.method(), route)
                    } else {
                        tracing::info_span!("http", method = %req.method(), route)
                    }
                })
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG),
                ),
        )
        .with_state(state)
}

async fn readyz(State(app): State<AppState>) -> (StatusCode, &'static str) {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
