//! The service as one value: built from a [`Config`] and a bound listener, so `main`, the tests
//! and `atiende bench` start it the same way (the tests bind port 0 and ask
//! [`Application::port`], or let [`Application::spawn`] run it in the background).
//!
//! This is the only module that knows every part of the service: it builds the [`AppState`],
//! merges each part's router under its layers, and starts the job workers beside the server.

use crate::config::Config;
use crate::files::Files;
use crate::jobs::Workers;
use crate::prompts::Prompts;
use crate::state::{AppState, Clock};
use crate::store::Store;
use crate::twilio::{TwilioClient, WebhookAuth, verify_webhook};
use crate::{console, messages, voice};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
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

/// How often the journal's replayer looks for entries waiting or a database that was down.
const JOURNAL_CHECK: Duration = Duration::from_millis(500);

/// How often an instance folds the `/metrics` totals' changes on PostgreSQL (see
/// `Store::fold_service_counts`): a scrape reads at most this long's changes besides the
/// totals.
const FOLD_EVERY: Duration = Duration::from_secs(5);

/// The built service, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    /// `ATIENDE_METRICS_LISTEN`'s listener, if set.
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Connects the store, applies migrations, loads the prompts and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, Clock::system()).await
    }

    pub async fn build_with_clock(mut config: Config, clock: Clock) -> anyhow::Result<Application> {
        // Before anything opens files: the cap must fit under the limit (see `serve`).
        crate::serve::fit_to_open_files(&mut config.server);
        let prompts = Prompts::load(&config.prompts_dir)?;
        let files = Files::open(&config.storage_url, &config.s3)?;
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        // Every recorded language must say every category of the phone menu.
        prompts.check_categories(&store.phone_menu_categories().await?)?;
        let languages: Vec<&str> = prompts
            .languages()
            .iter()
            .map(|l| l.code.as_str())
            .collect();
        let listener = bind(config.listen).map_err(|e| {
            anyhow::anyhow!("ATIENDE_LISTEN: cannot listen on {}: {e}", config.listen)
        })?;
        if !config.public_url_explicit {
            // Listening on port 0 (tests) or a wildcard address: say where we really are.
            let bound = listener.local_addr()?;
            config.public_url = format!("http://{bound}").parse()?;
        }
        let metrics_listener = match config.metrics.listen {
            Some(addr) => Some(bind(addr).map_err(|e| {
                anyhow::anyhow!("ATIENDE_METRICS_LISTEN: cannot listen on {addr}: {e}")
            })?),
            None => None,
        };
        let twilio = TwilioClient::new(&config)?;
        if config.demo_mode() {
            tracing::warn!(
                "demo mode: TWILIO_AUTH_TOKEN is not set, so webhook signatures are not checked and SMS are not sent"
            );
        }
        tracing::info!(
            listen = %listener.local_addr()?,
            database = store.backend_name(),
            files = files.describe(),
            public_url = %config.public_url,
            languages = ?languages,
            "atiende ready"
        );
        let journal_dir = config.data_dir.join("journal");
        let journal = crate::journal::Journal::open(&journal_dir).map_err(|e| {
            anyhow::anyhow!(
                "ATIENDE_DATA_DIR: cannot open the journal in {}: {e}",
                journal_dir.display()
            )
        })?;
        let live = crate::state::LiveSettings::new(&config.phone);
        live.apply(&config.phone, &store.settings().await?);
        Ok(Application {
            listener,
            metrics_listener,
            state: AppState::new(crate::state::Services {
                live,
                config: Arc::new(config),
                store,
                prompts,
                clock,
                twilio,
                files,
                jobs_wakeup: Arc::new(Notify::new()),
                journal: Arc::new(journal),
                metrics: Arc::default(),
            }),
        })
    }

    /// The metrics address's port, if it has one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
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
        let replayer = {
            let state = self.state.clone();
            tokio::spawn(state.journal.clone().keep_replaying(
                state.store.clone(),
                JOURNAL_CHECK,
                move |done| {
                    if done.cases > 0 {
                        state.wake_workers();
                    }
                },
            ))
        };
        // One service for all connections (serving a plain Router would rebuild its routes for
        // each new connection).
        let limits = crate::serve::Limits {
            server: self.state.config.server,
            trusted_proxies: self.state.config.trusted_proxies.clone(),
        };
        let metrics_server = self.metrics_listener.map(|listener| {
            let router = metrics_router(self.state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics address stopped");
                }
            })
        });
        let folder = tokio::spawn(keep_folding(self.state.store.clone()));
        let sweeper = match self.state.config.jobs.reconcile_every {
            Some(every) if !self.state.config.demo_mode() => Some(tokio::spawn(
                crate::reconcile::keep_sweeping(self.state.clone(), every),
            )),
            _ => None,
        };
        let served = crate::serve::serve(self.listener, router(self.state), limits, shutdown).await;
        // A replay stopped halfway resumes from its checkpoint at the next start.
        replayer.abort();
        folder.abort();
        for task in [sweeper, metrics_server].into_iter().flatten() {
            task.abort();
        }
        workers.stop().await;
        served?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Folds the `/metrics` totals' changes every [`FOLD_EVERY`] (PostgreSQL; nothing on SQLite).
async fn keep_folding(store: Store) {
    if store.backend_name() != "postgres" {
        return;
    }
    let mut every = tokio::time::interval(FOLD_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = store.fold_service_counts().await
            && !store.saw(&e)
        {
            tracing::warn!(error = %e, "could not fold the totals of /metrics");
        }
    }
}

/// A service running in the background of this process, as the tests and `atiende bench`
/// run it: on its own task, until [`Spawned::stop`].
pub struct Spawned {
    /// What the service's handlers get (its store, its configuration...).
    pub state: AppState,
    /// The public base URL the service writes into its TwiML (no trailing slash).
    pub public_base: String,
    /// Where to connect to it: `http://127.0.0.1:PORT`.
    pub connect_base: String,
    /// Where `/metrics` is served on its own address (`ATIENDE_METRICS_LISTEN`), if it is.
    pub metrics_base: Option<String>,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Application {
    /// Runs the service on a task of its own; [`Spawned::stop`] shuts it down as SIGTERM would.
    pub fn spawn(self) -> Spawned {
        let state = self.state.clone();
        let public_base = state
            .config
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let connect_base = format!("http://127.0.0.1:{}", self.port());
        let metrics_base = self
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(self.run_until(async {
            let _ = stopped.await;
        }));
        Spawned {
            state,
            public_base,
            connect_base,
            metrics_base,
            stop,
            server,
        }
    }
}

impl Spawned {
    /// Stops accepting, finishes what is in flight, stops the workers and closes the store; waits
    /// at most `limit` for all that. An error says what went wrong in the service.
    pub async fn stop(self, limit: Duration) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        match tokio::time::timeout(limit, self.server).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(anyhow::anyhow!("the service panicked: {e}")),
            Err(_) => Err(anyhow::anyhow!(
                "the service did not stop within {} s",
                limit.as_secs()
            )),
        }
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
    let webhooks = voice::router()
        .merge(messages::router())
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            WEBHOOK_TIMEOUT,
        ))
        .layer(middleware::from_fn_with_state(
            voice::LoadShedding::new(&state),
            voice::shed_load,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            voice::answer_once,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            voice::safety_net,
        ))
        .layer(middleware::from_fn_with_state(
            WebhookAuth::new(&state.config),
            verify_webhook,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            voice::time_webhook,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_with_token))
        .merge(voice::audio_router())
        .merge(webhooks)
        .merge(console::router(&state))
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
        // The deadlines of headers, bodies and idle connections are the server loop's (`serve`).
        .with_state(state)
}

/// `GET /metrics` on the main address: only with `Authorization: Bearer $ATIENDE_METRICS_TOKEN`
/// (compared in constant time); a 404 otherwise, as if there were no such page.
async fn metrics_with_token(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use secrecy::ExposeSecret;
    use subtle::ConstantTimeEq;
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&app.config.metrics.token, given) {
        (Some(token), Some(given)) => {
            bool::from(token.expose_secret().as_bytes().ct_eq(given.as_bytes()))
        }
        _ => false,
    };
    if !allowed {
        return StatusCode::NOT_FOUND.into_response();
    }
    metrics_page(State(app)).await
}

/// The exposition (see `metrics`).
async fn metrics_page(State(app): State<AppState>) -> axum::response::Response {
    let figures = match app.store.service_figures().await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "metrics without the database's totals");
            Default::default()
        }
    };
    let snapshot = crate::metrics::Snapshot {
        figures,
        database_down: app.store.is_down(),
        pools: app.store.pool_states(),
        journal_pending: app.journal.has_pending(),
        journal_entries: app.journal.appended(),
        step_batches: app.store.step_batches(),
        case_batches: app.store.case_batches(),
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(&snapshot),
    )
        .into_response()
}

/// The router of the metrics address (`ATIENDE_METRICS_LISTEN`): `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
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
