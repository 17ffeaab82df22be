//! `GET /metrics`: the service's health in Prometheus' text format, through `prometheus-client`.
//!
//! Two kinds of figures:
//! - **Measured in this instance** (each instance its own; sum them): how long each webhook
//!   step took to answer (a histogram by step), menu steps shed under overload, job attempts
//!   that failed (by kind), entries written to the journal, whether the database is taken for
//!   down, the database pools' connections, and how long a connection took to get from a pool
//!   (for the process: sqlx reports each acquire, see `PoolWaits`).
//! - **Read from the database at each scrape** (the same on every instance; take one, not the
//!   sum): calls by outcome, cases by category and channel, jobs by kind and state (queue
//!   depth, dead jobs), outbound SMS by status.
//!
//! It is never on the public webhook path: it is served on its own address
//! (`ATIENDE_METRICS_LISTEN`, e.g. `127.0.0.1:9464`), or at `/metrics` on the main address only
//! with `Authorization: Bearer $ATIENDE_METRICS_TOKEN`; otherwise `/metrics` is a 404.

use crate::store::ServiceFigures;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::time::Duration;

/// Answer times a caller notices: a millisecond to Twilio's 15 s.
const WEBHOOK_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A connection from a pool: at once when one is idle, longer when every one is busy.
const POOL_WAIT_BUCKETS: [f64; 12] = [
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// The target of sqlx's event for each connection taken from a pool.
pub const POOL_ACQUIRE_TARGET: &str = "sqlx::pool::acquire";

/// How long connections took to get from the database pools, for the whole process (sqlx
/// reports it per acquire, not per pool; a deployment runs one service per process).
fn pool_wait_histogram() -> &'static Histogram {
    static WAITS: OnceLock<Histogram> = OnceLock::new();
    WAITS.get_or_init(|| Histogram::new(POOL_WAIT_BUCKETS))
}

/// The `tracing` layer that reads sqlx's acquire events (field `aquired_after_secs`, spelt as
/// sqlx spells it) into the pool-wait histogram. Installed by `telemetry::init`.
pub struct PoolWaits;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PoolWaits {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Seconds(Option<f64>);
        impl tracing::field::Visit for Seconds {
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "aquired_after_secs" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if event.metadata().target() != POOL_ACQUIRE_TARGET {
            return;
        }
        let mut seconds = Seconds(None);
        event.record(&mut seconds);
        if let Some(s) = seconds.0 {
            pool_wait_histogram().observe(s);
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabel {
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// The figures this instance measures itself. Cheap to share: every instrument is atomic.
#[derive(Debug)]
pub struct Metrics {
    webhook_seconds: Family<StepLabel, Histogram>,
    shed: Counter,
    job_failures: Family<KindLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            webhook_seconds: Family::new_with_constructor(|| Histogram::new(WEBHOOK_BUCKETS)),
            shed: Counter::default(),
            job_failures: Family::default(),
        }
    }
}

/// What is read at each scrape besides the instruments: the database's totals and the state of
/// this instance's pools.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub figures: ServiceFigures,
    /// Whether the database is taken for down (the breaker is open).
    pub database_down: bool,
    /// Per pool (`sqlite_write`, `sqlite_read`, `postgres`): connections open and idle.
    pub pools: Vec<(&'static str, u32, u32)>,
    /// Whether journal entries wait to be replayed.
    pub journal_pending: bool,
    /// Entries this instance wrote to its journal since it started.
    pub journal_entries: u64,
    /// Call-step transactions committed, and the steps in them (group commit).
    pub step_batches: (u64, u64),
    /// Phone-case transactions committed, and the cases in them (group commit).
    pub case_batches: (u64, u64),
}

impl Metrics {
    /// A webhook answered: its step (`main`, `recorded`... or `messaging`) and its time.
    pub fn webhook_answered(&self, step: &str, took: Duration) {
        self.webhook_seconds
            .get_or_create(&StepLabel {
                step: step.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// A menu step answered with the apology because the service was overloaded.
    pub fn shed(&self) {
        self.shed.inc();
    }

    /// An attempt of a job failed (it will be retried, or it is dead).
    pub fn job_failed(&self, kind: &str) {
        self.job_failures
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The text exposition: this instance's instruments and `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut registry = Registry::with_prefix("atiende");
        registry.register(
            "webhook_seconds",
            "Time to answer a Twilio webhook, by step",
            self.webhook_seconds.clone(),
        );
        registry.register(
            "shed",
            "Menu steps answered with the apology because the service was overloaded",
            self.shed.clone(),
        );
        registry.register(
            "job_failures",
            "Job attempts that failed, by kind (retried, or dead)",
            self.job_failures.clone(),
        );
        let gauge = |value: i64| {
            let g = Gauge::<i64>::default();
            g.set(value);
            g
        };
        let counter = |n: u64| {
            let c = Counter::<u64>::default();
            c.inc_by(n);
            c
        };
        registry.register(
            "journal_entries",
            "Writes kept in the local journal while the database was down",
            counter(snapshot.journal_entries),
        );
        let (batches, steps) = snapshot.step_batches;
        registry.register(
            "step_commits",
            "Transactions that committed webhook call steps (several steps share one under load)",
            counter(batches),
        );
        registry.register(
            "steps_committed",
            "Webhook call steps committed",
            counter(steps),
        );
        let (batches, cases) = snapshot.case_batches;
        registry.register(
            "case_commits",
            "Transactions that committed phone cases (several cases share one under load)",
            counter(batches),
        );
        registry.register(
            "cases_committed",
            "Phone cases made in those transactions",
            counter(cases),
        );
        registry.register(
            "database_down",
            "1 while the database is taken for unreachable (statements fail at once)",
            gauge(i64::from(snapshot.database_down)),
        );
        registry.register(
            "journal_pending",
            "1 while journal entries wait to be replayed",
            gauge(i64::from(snapshot.journal_pending)),
        );
        let pools = Family::<Vec<(String, String)>, Gauge>::default();
        for (pool, open, idle) in &snapshot.pools {
            for (state, n) in [("idle", *idle), ("in_use", open.saturating_sub(*idle))] {
                pools
                    .get_or_create(&vec![
                        ("pool".to_owned(), (*pool).to_owned()),
                        ("state".to_owned(), state.to_owned()),
                    ])
                    .set(i64::from(n));
            }
        }
        registry.register(
            "db_pool_wait_seconds",
            "Time to get a connection from a database pool (every pool of this process)",
            pool_wait_histogram().clone(),
        );
        registry.register(
            "db_connections",
            "Database connections of this instance, by pool and state",
            pools,
        );
        let f = &snapshot.figures;
        let family = |rows: Vec<(Vec<(String, String)>, i64)>| {
            let family = Family::<Vec<(String, String)>, Gauge>::default();
            for (labels, n) in rows {
                family.get_or_create(&labels).set(n);
            }
            family
        };
        let label = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        registry.register(
            "calls",
            "Calls by outcome (database totals: the same on every instance)",
            family(
                f.calls_by_outcome
                    .iter()
                    .map(|(o, n)| (vec![label("outcome", o)], *n))
                    .collect(),
            ),
        );
        registry.register(
            "cases",
            "Cases by category and channel (database totals)",
            family(
                f.cases_by_category_channel
                    .iter()
                    .map(|(c, ch, n)| (vec![label("category", c), label("channel", ch)], *n))
                    .collect(),
            ),
        );
        registry.register(
            "jobs",
            "Jobs by kind and state: queued is the queue's depth, dead waits for a person (database totals)",
            family(
                f.jobs_by_kind_state
                    .iter()
                    .map(|(k, s, n)| (vec![label("kind", k), label("state", s)], *n))
                    .collect(),
            ),
        );
        registry.register(
            "sms",
            "Outbound SMS by status (database totals)",
            family(
                f.sms_by_status
                    .iter()
                    .map(|(s, n)| (vec![label("status", s)], *n))
                    .collect(),
            ),
        );
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &registry) {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_each_family_with_its_labels() {
        let m = Metrics::default();
        m.webhook_answered("main", Duration::from_millis(3));
        m.job_failed("send_sms");
        let text = m.render(&Snapshot {
            figures: ServiceFigures {
                calls_by_outcome: vec![("reported".into(), 4)],
                cases_by_category_channel: vec![("agua".into(), "phone".into(), 3)],
                jobs_by_kind_state: vec![("send_sms".into(), "dead".into(), 1)],
                sms_by_status: vec![("delivered".into(), 2)],
            },
            database_down: false,
            pools: vec![("sqlite_write", 1, 1)],
            journal_pending: false,
            journal_entries: 0,
            step_batches: (1, 3),
            case_batches: (1, 2),
        });
        for line in [
            r#"atiende_webhook_seconds_bucket{le="0.005",step="main"} 1"#,
            r#"atiende_job_failures_total{kind="send_sms"} 1"#,
            r#"atiende_calls{outcome="reported"} 4"#,
            r#"atiende_cases{category="agua",channel="phone"} 3"#,
            r#"atiende_jobs{kind="send_sms",state="dead"} 1"#,
            r#"atiende_sms{status="delivered"} 2"#,
            r#"atiende_db_connections{pool="sqlite_write",state="idle"} 1"#,
            "atiende_database_down 0",
            "atiende_step_commits_total 1",
            "atiende_steps_committed_total 3",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }
}
