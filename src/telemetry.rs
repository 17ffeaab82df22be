//! Logging: `tracing` to standard error, filtered by `ATIENDE_LOG` (or `RUST_LOG`).
//! Each webhook runs in a span carrying its CallSid, so one call's lines can be found together.
//! The same subscriber feeds the pool-wait histogram of `/metrics`.

use std::io::IsTerminal;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
///
/// Besides the log lines, a second layer with a filter of its own takes sqlx's trace events of
/// connections acquired from a pool, whatever the log filter says, and records how long each
/// took in the process's pool-wait histogram ([`crate::metrics::PoolWaits`]).
pub fn init(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    let filter = EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("sqlx=warn".parse().expect("static directive"))
        .add_directive("hyper=warn".parse().expect("static directive"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter);
    let waits = crate::metrics::PoolWaits.with_filter(
        Targets::new().with_target(crate::metrics::POOL_ACQUIRE_TARGET, tracing::Level::TRACE),
    );
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(waits)
        .try_init();
}
