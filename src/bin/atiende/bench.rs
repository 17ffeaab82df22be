//! `atiende bench`: a load generator and latency benchmark for the phone line.
//!
//! It plays Twilio's part with the call simulator (`atiende::sim`) for `--calls` calls,
//! `--concurrency` at a time, each one a complete report made the way Twilio would send it:
//! the incoming call, 1 (make a report), a category (1 to 5 in turn; for the ones that ask,
//! "no immediate risk"), the recording (its action request and the `completed` status callback),
//! silence at the folio prompt, and the call status callback. That is 7 or 8 signed webhooks per
//! call, every one checked to lead where the call flow says it should, so an apology caused by a
//! store error counts as a failed call instead of hiding in the latency figures.
//!
//! It measures each webhook's latency (from sending the request to having the whole answer),
//! overall and per step, the throughput, and, when the service runs in-process, the peak
//! resident memory of the process (service and load generator together) and that the store
//! holds exactly one new case per completed call.
//!
//! ```text
//! cargo build --release
//! ./target/release/atiende bench --calls 5000 --concurrency 500
//! ./target/release/atiende bench --database-url 'postgres://...'   # a scratch database!
//! ./target/release/atiende bench --url http://127.0.0.1:8080        # a service already running
//! ```
//!
//! Without `--url` the service is started in-process exactly as the tests start it (port 0 on
//! loopback, every request signed and verified) on a fresh SQLite file in a temporary folder,
//! or on `--database-url`. Traffic goes to loopback only.
//!
//! By default the simulated callers do not pause between keys, so `--concurrency C` keeps about
//! C requests in flight at all times: the saturation point, and far more load than C real calls,
//! whose callers listen for seconds between webhooks. `--pause-ms` makes them listen (e.g.
//! `--concurrency 2000 --pause-ms 10000` is two thousand calls in progress at a human pace).
//!
//! The service caps connections per client address (`ATIENDE_MAX_CONNECTIONS_PER_CLIENT`), as it
//! should against one host taking the whole pool; Twilio's calls come from many egress
//! addresses. So against a service on an IPv4 loopback address the callers spread their
//! connections over 127.0.1.1 to 127.0.1.250 (all of 127.0.0.0/8 is loopback), 40 callers to
//! an address, rather than the service exempting loopback.

use anyhow::{Context, bail, ensure};
use atiende::config::Config;
use atiende::domain::Folio;
use atiende::sim::audio::tone_wav;
use atiende::sim::fake_api::FakeTwilioApi;
use atiende::sim::{CallSimulator, RecordingEnd, ResponseTimer, SimCall, Waiting};
use atiende::voice::Step;
use atiende::{Application, Clock};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The auth token of the in-process service: every request is signed and the signature checked,
/// as in production.
const BENCH_TOKEN: &str = "bench-auth-token-0123456789abcdef";
const BENCH_ACCOUNT_SID: &str = "AC0be0c0000000000000000000000000b0";
/// The office's number in the in-process service, and the `To` of the mix's SMS.
const BENCH_OFFICE: &str = "+525500000000";
/// A discard address on loopback: recording URLs point here, so nothing ever leaves the machine.
const NOWHERE: &str = "http://127.0.0.1:9";
/// Twilio gives up on a webhook after 15 s; so does the benchmark.
/// How long, at most, to wait after the last call for the job queue to empty.
const JOBS_DRAIN_LIMIT: Duration = Duration::from_secs(300);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A whole call: its 8 webhooks, with room for queueing under heavy load.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the recording and the call last, as Twilio reports them.
const RECORDING_SECONDS: u32 = 30;
const CALL_SECONDS: u32 = 75;
/// The category keys pressed, in turn.
const CATEGORY_DIGITS: [&str; 5] = ["1", "2", "3", "4", "5"];
/// The callers start one every half millisecond at least, not all in the same instant: a burst
/// of thousands of connections at once overflows the service's listen backlog (128 with tokio's
/// `TcpListener::bind`) and measures the kernel's 1-second SYN retransmission instead. With
/// `--pause-ms` they start over one pause, so calls come in at the rate they go on.
const RAMP_UP_STEP: Duration = Duration::from_micros(500);
/// How many error messages the report keeps (the count covers all of them).
const ERRORS_KEPT: usize = 5;

/// One request's latency: the path it went to (without the query) and the time from sending the
/// request to having the whole answer.
type LatencySample = (String, Duration);

/// A shared list of [`LatencySample`]s, filled by the simulator's [`ResponseTimer`].
///
/// A plain vector behind a mutex is enough: a push takes nanoseconds next to a request's
/// milliseconds, and the benchmark sorts the samples once at the end to read percentiles.
#[derive(Clone, Default)]
struct LatencySink(Arc<Mutex<Vec<LatencySample>>>);

impl LatencySink {
    /// A sink with room for `capacity` samples before it grows.
    fn with_capacity(capacity: usize) -> LatencySink {
        LatencySink(Arc::new(Mutex::new(Vec::with_capacity(capacity))))
    }

    /// The timer that notes every request of a simulator into this sink.
    fn timer(&self) -> ResponseTimer {
        let sink = self.clone();
        ResponseTimer::new(move |path, took| sink.lock().push((path.to_owned(), took)))
    }

    /// Takes every sample noted so far, leaving the sink empty.
    fn take(&self) -> Vec<LatencySample> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LatencySample>> {
        // A panic elsewhere while pushing cannot leave a vector half-written: keep the samples.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Options of `atiende bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// How many calls to make in total.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub calls: u64,
    /// How many calls are in progress at once.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: u64,
    /// The database of the in-process service (sqlite://PATH or postgres://...). It must be a
    /// scratch database: the benchmark writes a case per call into it. Default: a fresh SQLite
    /// file in a temporary folder, removed afterwards.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Benchmark a service already running at this loopback URL instead of starting one. Requests
    /// are signed with TWILIO_AUTH_TOKEN when the configuration has one.
    #[arg(long, value_name = "URL", conflicts_with = "database_url")]
    pub url: Option<String>,
    /// Milliseconds each caller waits, on average, before each key, the recording and hanging up,
    /// as a caller listening to the prompts (each wait is drawn between half and one and a half
    /// times this). 0, the default, sends a call's webhooks back to back: the heaviest load a
    /// given number of calls can make.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub pause_ms: u64,
    /// Instead of calls: fill a scratch database with this many realistic cases and time the
    /// staff console's pages over HTTP (inbox with and without filters, a deep page, a search,
    /// a case page).
    #[arg(long, value_name = "N", conflicts_with = "url", value_parser = clap::value_parser!(u64).range(1..))]
    pub seed_cases: Option<u64>,
    /// Seconds spent, before the calls, measuring the service's bare `/healthz` and its
    /// incoming-call webhook alone on the same connections, so that each throughput is also
    /// given as a ratio to `/healthz` (figures from noisy machines then compare); 0 skips it.
    #[arg(long, value_name = "S", default_value_t = 3)]
    pub ratio_seconds: u64,
    /// With `--seed-cases`: how many times each page is asked (fewer for a million cases,
    /// where a year's dashboard or the closed cases' CSV take seconds each).
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=1000))]
    pub rounds: u64,
    /// With `--url`: serve the stand-in of Twilio's REST API on this loopback address (start
    /// the service with `TWILIO_API_BASE=http://ADDR` and the same `TWILIO_ACCOUNT_SID` and
    /// `TWILIO_AUTH_TOKEN` as the bench). The service then downloads every recording from this
    /// process and sends every folio SMS here, and the run waits for them and counts them, as
    /// it does in-process.
    #[arg(long, value_name = "ADDR", requires = "url")]
    pub twilio_api: Option<std::net::SocketAddr>,
    /// A mix, as an office's line has: of every ten calls, one is a caller checking a case by
    /// typing its folio, and one is replaced by an SMS asking for a case by folio (answered
    /// with `<Message>`); the other eight report. Without it every call reports.
    #[arg(long)]
    pub mix: bool,
    /// With `--seed-cases` and `--database-url`: the database already holds the cases of an
    /// earlier run (a million take minutes to write); migrate it and time the pages only.
    #[arg(long, requires_all = ["seed_cases", "database_url"])]
    pub seeded: bool,
    /// Also measure, in the ratio phase, the incoming-call webhook of a bare one-insert handler
    /// at this loopback URL (the `naive_insert` example, issue 11's baseline) on the same
    /// connections, and give the service's incoming webhook as a ratio to it too.
    #[arg(long, value_name = "URL")]
    pub baseline: Option<String>,
}

/// Latency figures of a set of webhooks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// How many webhooks.
    pub count: usize,
    /// The median.
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
}

impl Latency {
    /// The figures of `sorted` (ascending), by nearest rank.
    fn of_sorted(sorted: &[Duration]) -> Latency {
        let rank = |p: usize| {
            let n = sorted.len();
            // Nearest rank: the smallest sample with at least p% of the samples at or below it.
            sorted[(n * p).div_ceil(100).clamp(1, n) - 1]
        };
        match sorted.last() {
            None => Latency::default(),
            Some(&max) => Latency {
                count: sorted.len(),
                p50: rank(50),
                p90: rank(90),
                p99: rank(99),
                max,
            },
        }
    }
}

/// What a benchmark run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was benchmarked: the in-process service and its database, or the URL.
    pub target: String,
    /// Whether the service ran in this process (memory and case figures are then known).
    pub in_process: bool,
    pub calls: u64,
    pub concurrency: u64,
    /// The pause before each of a caller's actions (`--pause-ms`).
    pub pause: Duration,
    /// Calls that walked the whole report path as expected.
    pub completed: u64,
    pub failed: u64,
    /// Of the failed calls, those shed: a menu step answered with the apology that records the
    /// report at once (its `<Record>` action carries `f=1`), instead of the next menu.
    pub shed: u64,
    /// The first few failures, as messages.
    pub errors: Vec<String>,
    /// Webhooks answered (any HTTP status), one latency sample each.
    pub webhooks: u64,
    /// From the first call to the end of the last.
    pub wall: Duration,
    pub overall: Latency,
    /// Per step (the path without the query), in the order a call walks them.
    pub steps: Vec<(String, Latency)>,
    /// Resident memory once the service was ready, before any call (kB; in-process only).
    pub rss_ready_kb: Option<u64>,
    /// Peak resident memory of the process (VmHWM, kB; in-process only).
    pub peak_rss_kb: Option<u64>,
    /// Of the completed calls, those that checked a case by folio, and the SMS that asked
    /// for one (`--mix`); the rest reported.
    pub lookups: u64,
    pub texts: u64,
    /// Cases the run added to the store (in-process only); should equal the reports.
    pub new_cases: Option<i64>,
    /// In-process: how long after the last call the job queue was empty (every recording
    /// downloaded and stored, every folio SMS sent), or `None` if it did not empty in time.
    pub jobs_drained: Option<Duration>,
    /// In-process: recordings fetched and SMS received by the fake of Twilio's REST API.
    pub recordings_fetched: Option<u64>,
    pub sms_sent: Option<u64>,
    /// Requests/s of `GET /healthz` and of the incoming-call webhook alone (a new call each
    /// request), on the same number of connections, measured just before the calls.
    pub healthz_per_second: Option<f64>,
    pub incoming_per_second: Option<f64>,
    /// Requests/s of the bare one-insert handler's incoming webhook (`--baseline`).
    pub baseline_per_second: Option<f64>,
}

impl Report {
    /// Webhooks answered per second of wall time.
    pub fn webhooks_per_second(&self) -> f64 {
        self.webhooks as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Calls completed per second of wall time.
    pub fn calls_per_second(&self) -> f64 {
        self.completed as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Completed calls that made a report.
    pub fn reports(&self) -> u64 {
        self.completed - self.lookups - self.texts
    }

    /// Whether every call completed and, in-process, each report made exactly one case.
    pub fn is_clean(&self) -> bool {
        self.failed == 0
            && self.completed == self.calls
            && self.new_cases.is_none_or(|n| n == self.reports() as i64)
            && (!self.in_process || self.jobs_drained.is_some())
            && self
                .sms_sent
                .is_none_or(|n| self.jobs_drained.is_some() && n == self.reports())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "atiende bench: {} calls, {} at a time, {}, against {}",
            self.calls,
            self.concurrency,
            if self.pause.is_zero() {
                "webhooks back to back".to_owned()
            } else {
                format!(
                    "{} ms on average before each caller action",
                    self.pause.as_millis()
                )
            },
            self.target
        )?;
        writeln!(
            f,
            "calls      {} completed, {} failed",
            self.completed, self.failed
        )?;
        if self.lookups + self.texts > 0 {
            writeln!(
                f,
                "mix        {} reports, {} folio lookups by voice, {} folio lookups by SMS",
                self.reports(),
                self.lookups,
                self.texts
            )?;
        }
        if self.failed > 0 {
            writeln!(
                f,
                "           of the failed: {} heard the apology that records the report (shed), {} failed otherwise",
                self.shed,
                self.failed - self.shed
            )?;
        }
        for e in &self.errors {
            writeln!(f, "  error    {e}")?;
        }
        writeln!(
            f,
            "webhooks   {} in {:.2} s: {:.0} webhooks/s, {:.0} calls/s",
            self.webhooks,
            self.wall.as_secs_f64(),
            self.webhooks_per_second(),
            self.calls_per_second()
        )?;
        if let (Some(healthz), Some(incoming)) = (self.healthz_per_second, self.incoming_per_second)
        {
            let ratio = |rate: f64| rate / healthz.max(1e-9);
            writeln!(
                f,
                "ratios     /healthz {healthz:.0}/s on {} connections; incoming-call webhook alone {incoming:.0}/s = {:.2} of /healthz; report path {:.0} webhooks/s = {:.2} of /healthz",
                self.concurrency.min(self.calls),
                ratio(incoming),
                self.webhooks_per_second(),
                ratio(self.webhooks_per_second())
            )?;
            if let Some(baseline) = self.baseline_per_second {
                writeln!(
                    f,
                    "baseline   a bare handler with one SQLite insert {baseline:.0}/s = {:.2} of /healthz; the incoming-call webhook is {:.2} times it",
                    ratio(baseline),
                    incoming / baseline.max(1e-9)
                )?;
            }
        }
        writeln!(
            f,
            "{:<32} {:>7} {:>8} {:>8} {:>8} {:>8}",
            "latency (ms)", "count", "p50", "p90", "p99", "max"
        )?;
        let mut row = |name: &str, l: &Latency| {
            writeln!(
                f,
                "{:<32} {:>7} {:>8} {:>8} {:>8} {:>8}",
                name,
                l.count,
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.max)
            )
        };
        row("all webhooks", &self.overall)?;
        for (step, l) in &self.steps {
            row(&format!("  {step}"), l)?;
        }
        match (self.peak_rss_kb, self.rss_ready_kb) {
            (Some(peak), ready) => {
                write!(
                    f,
                    "memory     peak RSS {} (VmHWM of this one process: service and load generator together)",
                    mb(peak)
                )?;
                if let Some(ready) = ready {
                    write!(f, "; {} when the service was ready", mb(ready))?;
                }
                writeln!(f)?;
            }
            (None, _) if !self.in_process => {
                writeln!(
                    f,
                    "memory     not measured: the service runs in another process"
                )?;
            }
            (None, _) => writeln!(f, "memory     not measured (/proc/self/status unreadable)")?,
        }
        if let Some(n) = self.new_cases {
            let verdict = if n == self.reports() as i64 {
                "one per completed report"
            } else {
                "MISMATCH: expected one per completed report"
            };
            writeln!(f, "store      {n} new cases ({verdict})")?;
        }
        if self.in_process || self.sms_sent.is_some() {
            match self.jobs_drained {
                Some(d) => writeln!(
                    f,
                    "jobs       queue empty {:.2} s after the last call: {} recordings fetched and stored, {} folio SMS sent",
                    d.as_secs_f64(),
                    self.recordings_fetched.unwrap_or(0),
                    self.sms_sent.unwrap_or(0)
                )?,
                None => writeln!(
                    f,
                    "jobs       NOT DRAINED: jobs were still pending when the run gave up waiting"
                )?,
            }
        }
        Ok(())
    }
}

/// Warnings worth printing before a run: a scratch database is needed, too few file
/// descriptors.
pub fn preflight(config: &Config, args: &BenchArgs) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(url) = &args.database_url
        && url.starts_with("postgres")
    {
        warnings.push(
                "--database-url must point to a scratch database (or schema): the benchmark adds one case and one call log per call to it"
                    .to_owned(),
            );
    }
    // Each call in flight holds a client socket and, in-process, the server's end of it too.
    let per_call = if args.url.is_some() { 1 } else { 2 };
    let needed = args.concurrency * per_call + 256;
    if let Some(limit) = open_files_limit()
        && limit < needed
    {
        warnings.push(format!(
                "the open-files limit is {limit} and {} calls at once need about {needed}: raise it first (ulimit -n {needed})",
                args.concurrency
            ));
    }
    if args.url.is_some() && config.auth_token().is_none() {
        warnings.push(
            "TWILIO_AUTH_TOKEN is not set: requests go unsigned, which only a service in demo mode accepts"
                .to_owned(),
        );
    }
    warnings
}

/// Runs the benchmark: starts the service in-process (unless `--url`), makes the calls, and
/// reports. An error means the run could not take place; failed calls are in the report.
pub async fn run(config: &Config, args: &BenchArgs) -> anyhow::Result<Report> {
    match &args.url {
        Some(url) => run_remote(config, args, url).await,
        None => run_in_process(config, args).await,
    }
}

async fn run_remote(config: &Config, args: &BenchArgs, url: &str) -> anyhow::Result<Report> {
    let parsed = url::Url::parse(url).with_context(|| format!("--url: not a URL: {url:?}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    // A load generator pointed at someone else's server is an attack; keep it on this machine.
    ensure!(
        loopback,
        "--url: the benchmark only calls services on this machine (127.0.0.1, ::1, localhost), not {url}"
    );
    let connect = url.trim_end_matches('/').to_owned();
    // One look first, so that a wrong URL is one clear error rather than thousands of failed calls.
    let health = format!("{connect}/healthz");
    let answer = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?
        .get(&health)
        .send()
        .await
        .with_context(|| format!("--url: no service answers at {health}"))?;
    ensure!(
        answer.status().is_success(),
        "--url: {health} answered HTTP {}",
        answer.status().as_u16()
    );
    // The service writes its public URL into its TwiML and checks signatures against it.
    let public = if config.public_url_explicit {
        config.public_url.as_str().trim_end_matches('/').to_owned()
    } else {
        connect.clone()
    };
    let mut twilio = CallSimulator::new(&public, config.auth_token());
    // Recordings of an external service are its own business: the URLs we hand it point nowhere,
    // unless this process plays Twilio's REST API for it.
    twilio.recordings_base = NOWHERE.to_owned();
    twilio.connect_base = connect.clone();
    if let Some(t) = &config.twilio {
        twilio.account_sid = t.account_sid.clone();
    }
    let fake_api = match args.twilio_api {
        Some(addr) => {
            ensure!(
                addr.ip().is_loopback(),
                "--twilio-api: a loopback address, not {addr}"
            );
            let credentials = config
                .twilio
                .as_ref()
                .zip(config.auth_token())
                .map(|(t, token)| atiende::sim::fake_api::Credentials::new(&t.account_sid, token));
            let api = FakeTwilioApi::start(addr, credentials)
                .await
                .with_context(|| format!("--twilio-api: cannot listen on {addr}"))?;
            api.serve_by_default(tone_wav(3));
            twilio.recordings_base = api.base().to_owned();
            Some(api)
        }
        None => None,
    };
    let target = if public == connect {
        connect
    } else {
        format!("{connect} (public URL {public})")
    };
    let outcome = drive(twilio, args, 1).await?;
    let mut report = outcome.into_report(target, false, args, None, None);
    let reports = report.reports();
    if let Some(api) = fake_api {
        // Every report's folio SMS and its recording's download: two jobs of their own, so
        // one may still run when the other is done.
        let drain_started = Instant::now();
        while drain_started.elapsed() < JOBS_DRAIN_LIMIT {
            if api.sms().len() as u64 >= reports && api.recordings_served() >= reports {
                report.jobs_drained = Some(drain_started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        report.sms_sent = Some(api.sms().len() as u64);
        report.recordings_fetched = Some(api.recordings_served());
    }
    Ok(report)
}

async fn run_in_process(config: &Config, args: &BenchArgs) -> anyhow::Result<Report> {
    let dir = ScratchDir::create()?;
    let database_url = match &args.database_url {
        Some(url) => {
            // Never fill the service's own database with thousands of made-up reports.
            ensure!(
                url.trim() != config.database_url.as_str(),
                "--database-url is the configured DATABASE_URL; give a scratch database instead"
            );
            url.trim().to_owned()
        }
        None => format!("sqlite://{}", dir.path.join("atiende.db").display()),
    };
    let data_dir = dir.path.display().to_string();
    let prompts_dir = config.prompts_dir.display().to_string();
    // The fake of Twilio's REST API, so recordings are really downloaded and stored and the
    // folio SMS really sent: the whole pipeline is measured, not only the webhooks.
    let fake_api = FakeTwilioApi::start_on_loopback(None).await?;
    fake_api.serve_by_default(tone_wav(3));
    let twilio_api = fake_api.base().to_owned();
    let bench_config = Config::from_pairs([
        ("ATIENDE_LISTEN", "127.0.0.1:0"),
        ("DATABASE_URL", database_url.as_str()),
        ("ATIENDE_DATA_DIR", data_dir.as_str()),
        ("ATIENDE_PROMPTS_DIR", prompts_dir.as_str()),
        ("TWILIO_API_BASE", twilio_api.as_str()),
        ("TWILIO_AUTH_TOKEN", BENCH_TOKEN),
        ("TWILIO_ACCOUNT_SID", BENCH_ACCOUNT_SID),
        ("TWILIO_PHONE_NUMBER", BENCH_OFFICE),
    ])
    .map_err(|e| match e.key {
        "DATABASE_URL" => anyhow::anyhow!("--database-url: {}", e.message),
        _ => e.into(),
    })?;
    let service = Application::build_with_clock(bench_config, Clock::system())
        .await
        .context("starting the service in-process")?
        .spawn();
    let state = service.state.clone();
    let backend = state.store.backend_name();
    let public = service.public_base.clone();
    let connect = service.connect_base.clone();

    let cases_before = state.store.count_cases().await?;
    let rss_ready_kb = proc_status_kb("VmRSS");
    let mut twilio = CallSimulator::new(&public, Some(BENCH_TOKEN));
    twilio.connect_base = connect;
    twilio.account_sid = BENCH_ACCOUNT_SID.to_owned();
    twilio.recordings_base = twilio_api.clone();
    let outcome = drive(twilio, args, cases_before + 1).await;
    // The jobs the calls enqueued: wait (bounded) until the queue is empty.
    let drain_started = Instant::now();
    let mut jobs_drained = None;
    while drain_started.elapsed() < JOBS_DRAIN_LIMIT {
        if state
            .store
            .jobs(None, 1)
            .await
            .is_ok_and(|pending| pending.is_empty())
        {
            jobs_drained = Some(drain_started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Count before stopping: stopping closes the store.
    let cases_after = state.store.count_cases().await;
    if let Err(e) = service.stop(Duration::from_secs(30)).await {
        tracing::warn!(error = %e, "the in-process service did not stop cleanly");
    }
    let outcome = outcome?;
    let new_cases = cases_after? - cases_before;
    let target = match &args.database_url {
        Some(url) => format!("the service in-process on {backend} ({})", redact(url)),
        None => format!("the service in-process on {backend} (a fresh file in a temporary folder)"),
    };
    let mut report = outcome.into_report(target, true, args, rss_ready_kb, Some(new_cases));
    report.peak_rss_kb = proc_status_kb("VmHWM");
    report.jobs_drained = jobs_drained;
    report.sms_sent = Some(fake_api.sms().len() as u64);
    report.recordings_fetched = Some(fake_api.recordings_served());
    Ok(report)
}

/// What the calls did, before it is summarised.
struct Outcome {
    healthz_per_second: Option<f64>,
    incoming_per_second: Option<f64>,
    baseline_per_second: Option<f64>,
    completed: u64,
    lookups: u64,
    texts: u64,
    failed: u64,
    shed: u64,
    errors: Vec<String>,
    wall: Duration,
    samples: Vec<LatencySample>,
}

impl Outcome {
    fn into_report(
        self,
        target: String,
        in_process: bool,
        args: &BenchArgs,
        rss_ready_kb: Option<u64>,
        new_cases: Option<i64>,
    ) -> Report {
        let mut all: Vec<Duration> = self.samples.iter().map(|(_, d)| *d).collect();
        all.sort_unstable();
        let mut by_step: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
        for (path, d) in self.samples {
            by_step.entry(path).or_default().push(d);
        }
        let mut steps: Vec<(String, Latency)> = by_step
            .into_iter()
            .map(|(path, mut ds)| {
                ds.sort_unstable();
                (path, Latency::of_sorted(&ds))
            })
            .collect();
        // The walk's order first; anything unexpected after, by name.
        steps.sort_by_key(|(path, _)| {
            Step::ALL
                .iter()
                .position(|s| s.path() == path)
                .unwrap_or(Step::ALL.len())
        });
        Report {
            target,
            in_process,
            calls: args.calls,
            concurrency: args.concurrency,
            pause: Duration::from_millis(args.pause_ms),
            completed: self.completed,
            lookups: self.lookups,
            texts: self.texts,
            failed: self.failed,
            shed: self.shed,
            errors: self.errors,
            webhooks: all.len() as u64,
            wall: self.wall,
            overall: Latency::of_sorted(&all),
            steps,
            rss_ready_kb,
            peak_rss_kb: None,
            new_cases,
            jobs_drained: None,
            recordings_fetched: None,
            sms_sent: None,
            healthz_per_second: self.healthz_per_second,
            incoming_per_second: self.incoming_per_second,
            baseline_per_second: self.baseline_per_second,
        }
    }
}

/// Makes the calls: `concurrency` workers, each making one call after another until `calls`
/// calls have been started.
async fn drive(
    mut twilio: CallSimulator,
    args: &BenchArgs,
    first_case: i64,
) -> anyhow::Result<Outcome> {
    let concurrency = args.concurrency.min(args.calls);
    let sink = LatencySink::with_capacity(usize::try_from(args.calls * 8).unwrap_or(0));
    twilio.timer = Some(sink.timer());
    let sources = source_addresses(&twilio.connect_base, concurrency);
    let callers = sources
        .iter()
        .map(|source| {
            Ok(Arc::new(CallSimulator {
                client: bench_client(*source, concurrency.div_ceil(sources.len() as u64))?,
                ..twilio.clone()
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (healthz_per_second, incoming_per_second, baseline_per_second) = if args.ratio_seconds > 0 {
        let period = Duration::from_secs(args.ratio_seconds);
        let plain: Vec<Arc<CallSimulator>> = callers
            .iter()
            .map(|c| {
                Arc::new(CallSimulator {
                    timer: None,
                    ..(**c).clone()
                })
            })
            .collect();
        let health = format!("{}/healthz", twilio.connect_base);
        let clients: Arc<Vec<reqwest::Client>> =
            Arc::new(plain.iter().map(|c| c.client.clone()).collect());
        let healthz = saturate(concurrency, period, move |n| {
            let (client, health) = (clients[n as usize % clients.len()].clone(), health.clone());
            async move {
                match client.get(&health).send().await {
                    Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
        let calls_to = |targets: Vec<Arc<CallSimulator>>| {
            let targets = Arc::new(targets);
            move |i: u64| {
                let target = targets[i as usize % targets.len()].clone();
                async move {
                    let from = format!("+5255{:08}", 10_000_000 + i % 90_000_000);
                    target.call(Some(&from)).await.is_ok()
                }
            }
        };
        let baseline = match &args.baseline {
            Some(url) => {
                let naive = plain
                    .iter()
                    .map(|c| {
                        Arc::new(CallSimulator {
                            public_base: url.trim_end_matches('/').to_owned(),
                            connect_base: url.trim_end_matches('/').to_owned(),
                            ..(**c).clone()
                        })
                    })
                    .collect();
                Some(saturate(concurrency, period, calls_to(naive)).await)
            }
            None => None,
        };
        let incoming = saturate(concurrency, period, calls_to(plain)).await;
        (Some(healthz), Some(incoming), baseline)
    } else {
        (None, None, None)
    };
    let next = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let reported = Arc::new(AtomicU64::new(0));
    let lookups = Arc::new(AtomicU64::new(0));
    let texts = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let shed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(Vec::with_capacity(ERRORS_KEPT)));

    let pause = Duration::from_millis(args.pause_ms);
    let ramp_up_step = RAMP_UP_STEP.max(pause / u32::try_from(concurrency)?);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for k in 0..concurrency {
        let (twilio, next, completed, failed, errors) = (
            callers[k as usize % callers.len()].clone(),
            next.clone(),
            completed.clone(),
            failed.clone(),
            errors.clone(),
        );
        let (reported, lookups, texts) = (reported.clone(), lookups.clone(), texts.clone());
        let shed = shed.clone();
        let (mix, first_case) = (args.mix, first_case);
        let total = args.calls;
        let start_at = tokio::time::Instant::now() + ramp_up_step * u32::try_from(k)?;
        workers.spawn(async move {
            tokio::time::sleep_until(start_at).await;
            // Pauses are part of a call, so its time limit grows with them.
            let limit = CALL_TIMEOUT + pause * 6;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let kind = Kind::of(i, mix);
                // A folio some earlier call of the run was given.
                let folio = Folio::from_sequence(
                    first_case + (i % reported.load(Ordering::Relaxed).max(1)) as i64,
                );
                let work = async {
                    match kind {
                        Kind::Report => one_call(&twilio, i, pause).await,
                        Kind::Lookup => lookup_call(&twilio, i, pause, &folio).await,
                        Kind::Text => folio_text(&twilio, i, &folio).await,
                    }
                };
                let result = match tokio::time::timeout(limit, work).await {
                    Ok(result) => result,
                    Err(_) => Err(anyhow::anyhow!(
                        "call {i} took more than {} s",
                        limit.as_secs()
                    )),
                };
                match result {
                    Ok(()) => {
                        completed.fetch_add(1, Ordering::Relaxed);
                        match kind {
                            Kind::Report => &reported,
                            Kind::Lookup => &lookups,
                            Kind::Text => &texts,
                        }
                        .fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let message = format!("call {i}: {e:#}");
                        if is_shed(&message) {
                            shed.fetch_add(1, Ordering::Relaxed);
                        }
                        let mut kept = errors.lock().unwrap_or_else(PoisonError::into_inner);
                        if kept.len() < ERRORS_KEPT {
                            kept.push(truncate(&message, 400));
                        }
                    }
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.context("a benchmark worker panicked")?;
    }
    let wall = started.elapsed();
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Outcome {
        healthz_per_second,
        incoming_per_second,
        baseline_per_second,
        completed: completed.load(Ordering::Relaxed),
        lookups: lookups.load(Ordering::Relaxed),
        texts: texts.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        shed: shed.load(Ordering::Relaxed),
        errors,
        wall,
        samples: sink.take(),
    })
}

/// Calls at once from one loopback source address: well under the service's default
/// `ATIENDE_MAX_CONNECTIONS_PER_CLIENT` (128).
const CALLS_PER_SOURCE: u64 = 40;

/// The loopback addresses the simulated Twilio sends from: all of this machine's 127.0.0.0/8
/// is loopback, so each group of [`CALLS_PER_SOURCE`] callers binds its sockets to one of
/// 127.0.1.1 to 127.0.1.250, as Twilio's calls arrive from its many egress addresses; the
/// service's cap per client address then holds for the benchmark as it does in production.
/// `None` (the system's choice) for a service not on an IPv4 loopback address.
fn source_addresses(connect_base: &str, concurrency: u64) -> Vec<Option<std::net::IpAddr>> {
    let on_ipv4_loopback = url::Url::parse(connect_base)
        .ok()
        .and_then(|u| match u.host() {
            Some(url::Host::Ipv4(ip)) => Some(ip.is_loopback()),
            _ => None,
        })
        .unwrap_or(false);
    if !on_ipv4_loopback {
        return vec![None];
    }
    let count = concurrency.div_ceil(CALLS_PER_SOURCE).clamp(1, 250);
    (1..=count)
        .map(|n| Some(std::net::IpAddr::from([127, 0, 1, n as u8])))
        .collect()
}

/// The HTTP client of one source address, keeping up to `callers` connections for its callers.
fn bench_client(
    source: Option<std::net::IpAddr>,
    callers: u64,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        // Loopback only: a proxy from the environment must not see (or carry) this traffic.
        .no_proxy()
        .tcp_nodelay(true)
        .local_address(source)
        .pool_max_idle_per_host(usize::try_from(callers).unwrap_or(usize::MAX))
        .build()
}

/// Requests per second that `workers` loops get, each sending `one(n)` (n counts requests
/// across loops) again and again for `period`; only the successful ones count.
async fn saturate<F, Fut>(workers: u64, period: Duration, one: F) -> f64
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let ok = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + period;
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (one, ok, sent) = (one.clone(), ok.clone(), sent.clone());
        loops.spawn(async move {
            while Instant::now() < deadline {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if one(n).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while loops.join_next().await.is_some() {}
    ok.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// One caller making a report, start to end; an error says where the call left the path.
async fn one_call(twilio: &CallSimulator, i: u64, pause: Duration) -> anyhow::Result<()> {
    let listen = || async {
        if !pause.is_zero() {
            // Anywhere from half to one and a half times the pause: callers who all waited the
            // same time would keep arriving in waves, all at once, as they started.
            let factor = rand::Rng::random_range(&mut rand::rng(), 0.5..1.5);
            tokio::time::sleep(pause.mul_f64(factor)).await;
        }
    };
    // A different caller each time, as in real life: the greeting looks up the caller's open
    // cases, and one number with thousands of cases would measure something else.
    let from = format!("+5255{:08}", 10_000_000 + i % 90_000_000);
    let mut call = twilio.call(Some(&from)).await?;
    expect_step(twilio, &call, "main")?;
    listen().await;
    call.press("1").await?;
    expect_step(twilio, &call, "category")?;
    listen().await;
    call.press(CATEGORY_DIGITS[(i % 5) as usize]).await?;
    // Security and civil protection ask whether there is immediate risk: "no".
    if step_of(twilio, &call) == Some("urgency") {
        listen().await;
        call.press("2").await?;
    }
    ensure!(
        call.waiting() == Waiting::Recording,
        "expected the recording, at {:?}; heard: {}",
        call.action(),
        truncate(&call.heard(), 200)
    );
    expect_step(twilio, &call, "recorded")?;
    listen().await;
    call.record(RECORDING_SECONDS, RecordingEnd::Key).await?;
    expect_step(twilio, &call, "folio")?;
    listen().await;
    call.silence().await?;
    ensure!(
        call.is_ended(),
        "expected the goodbye after the folio; heard: {}",
        truncate(&call.heard(), 200)
    );
    listen().await;
    call.hang_up(CALL_SECONDS).await
}

/// What one iteration of a worker does (see `--mix`).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Report,
    Lookup,
    Text,
}

impl Kind {
    fn of(i: u64, mix: bool) -> Kind {
        match (mix, i % 10) {
            (true, 4) => Kind::Lookup,
            (true, 9) => Kind::Text,
            _ => Kind::Report,
        }
    }
}

/// A caller who checks a case: 2 at the main menu, then the folio; hangs up after the answer.
async fn lookup_call(
    twilio: &CallSimulator,
    i: u64,
    pause: Duration,
    folio: &Folio,
) -> anyhow::Result<()> {
    let from = format!("+5256{:08}", 10_000_000 + i % 90_000_000);
    let mut call = twilio.call(Some(&from)).await?;
    expect_step(twilio, &call, "main")?;
    call.press("2").await?;
    expect_step(twilio, &call, "lookup")?;
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
    call.press(folio.as_str()).await?;
    ensure!(
        call.heard().contains("Su estado es") || call.heard().contains("No encontramos"),
        "expected the status of folio {folio}; heard: {}",
        truncate(&call.heard(), 200)
    );
    call.hang_up(30).await
}

/// An SMS with a folio, as a citizen sends one: the answer is a `<Message>` with its status.
async fn folio_text(twilio: &CallSimulator, i: u64, folio: &Folio) -> anyhow::Result<()> {
    let form = [
        ("MessageSid", format!("SM{}", atiende::sim::random_hex())),
        ("AccountSid", twilio.account_sid.clone()),
        ("From", format!("+5257{:08}", 10_000_000 + i % 90_000_000)),
        ("To", BENCH_OFFICE.to_owned()),
        ("Body", format!("folio {folio}")),
        ("NumMedia", "0".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let url = format!("{}/twilio/messaging", twilio.public_base);
    let (status, body) = twilio.post(&url, &form).await?;
    ensure!(
        status == 200 && body.contains("<Message") && body.contains(folio.as_str()),
        "SMS with folio {folio}: HTTP {status}: {}",
        truncate(&body, 200)
    );
    Ok(())
}

/// The step (`main`, `category`, ...) the call will request next, if it is on the normal path:
/// the apology path (`f=1`, after a store error) counts as off the path.
fn step_of<'a>(twilio: &CallSimulator, call: &'a SimCall) -> Option<&'a str> {
    let rest = call.action()?.strip_prefix(&twilio.public_base)?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if query.split('&').any(|kv| kv == "f=1") {
        return None;
    }
    path.strip_prefix("/twilio/voice/")
}

fn expect_step(twilio: &CallSimulator, call: &SimCall, step: &str) -> anyhow::Result<()> {
    if step_of(twilio, call) != Some(step) {
        bail!(
            "expected the {step} step, got {:?}; heard: {}",
            call.action(),
            truncate(&call.heard(), 200)
        );
    }
    Ok(())
}

/// Whether a failed call's message says it was led to the apology's `<Record>` (whose action
/// carries `f=1`, the fallback flag) rather than to the step it expected.
fn is_shed(message: &str) -> bool {
    message
        .split_once(", got Some(\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .is_some_and(|(action, _)| {
            action.contains("/twilio/voice/recorded?")
                && action.split(['?', '&']).any(|pair| pair == "f=1")
        })
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// A database URL without its password, for the report.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A field of `/proc/self/status` given in kB (`VmRSS`, `VmHWM`); `None` off Linux.
fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// The soft limit on open files of this process; `None` off Linux or when unlimited.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits.lines().find_map(|line| {
        line.strip_prefix("Max open files")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// A temporary folder for the in-process service's data, removed when dropped (also when the
/// run fails half-way).
pub(crate) struct ScratchDir {
    pub(crate) path: PathBuf,
}

impl ScratchDir {
    pub(crate) fn create() -> anyhow::Result<ScratchDir> {
        let path = std::env::temp_dir().join(format!(
            "atiende-bench-{}-{}",
            std::process::id(),
            &atiende::sim::random_hex()[..8]
        ));
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_led_to_the_apologys_record_counts_as_shed() {
        let shed = r#"call 9: expected the recorded step, got Some("http://127.0.0.1:1/twilio/voice/recorded?t=1&c=4&f=1"); heard: Lo sentimos"#;
        let menu = r#"call 9: expected the recorded step, got Some("http://127.0.0.1:1/twilio/voice/recorded?t=1&c=4"); heard: ..."#;
        let refused = "call 9: /twilio/voice/category answered HTTP 503";
        assert!(is_shed(shed));
        assert!(!is_shed(menu));
        assert!(!is_shed(refused));
    }

    fn args(calls: u64, concurrency: u64, database_url: Option<String>) -> BenchArgs {
        BenchArgs {
            calls,
            concurrency,
            database_url,
            url: None,
            pause_ms: 0,
            seed_cases: None,
            seeded: false,
            mix: false,
            twilio_api: None,
            ratio_seconds: 0,
            rounds: 30,
            baseline: None,
        }
    }

    /// A stand-in of the one-insert baseline (`--baseline`): fixed TwiML, nothing stored.
    async fn fixed_twiml_server() -> String {
        const TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather numDigits="1" action="/twilio/voice/main"><Say>Para reportar, marque 1.</Say></Gather></Response>"#;
        let app = axum::Router::new().route(
            "/twilio/voice",
            axum::routing::post(|| async { ([("content-type", "text/xml")], TWIML) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// The configuration (the repository's prompts) and a scratch SQLite URL in `dir`.
    fn scratch(dir: &tempfile::TempDir) -> (Config, String) {
        let prompts = concat!(env!("CARGO_MANIFEST_DIR"), "/prompts");
        let config = Config::from_pairs([("ATIENDE_PROMPTS_DIR", prompts)]).unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        (config, url)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn ten_calls_make_ten_cases() {
        let dir = tempfile::tempdir().unwrap();
        let (config, url) = scratch(&dir);

        let report = run(
            &config,
            &BenchArgs {
                ratio_seconds: 1,
                baseline: Some(fixed_twiml_server().await),
                ..args(10, 4, Some(url))
            },
        )
        .await
        .unwrap();

        assert_eq!(report.completed, 10, "{report}");
        assert_eq!(report.failed, 0, "{report}");
        assert_eq!(report.new_cases, Some(10), "{report}");
        assert!(report.jobs_drained.is_some(), "{report}");
        assert_eq!(
            report.sms_sent,
            Some(10),
            "one folio SMS per call: {report}"
        );
        assert!(
            report.recordings_fetched.is_some_and(|n| n >= 10),
            "{report}"
        );
        assert!(report.is_clean(), "{report}");
        // 7 webhooks a call, 8 for the two categories in five that ask about urgency.
        assert_eq!(report.webhooks, 10 * 7 + 4, "{report}");
        assert_eq!(report.overall.count as u64, report.webhooks);
        let steps: Vec<&str> = report.steps.iter().map(|(s, _)| s.as_str()).collect();
        // A report's walk: every step up to the folio, then the call's end.
        let folio = Step::ALL.iter().position(|s| *s == Step::Folio).unwrap();
        let walked: Vec<&str> = Step::ALL[..=folio]
            .iter()
            .chain([&Step::Status])
            .map(|s| s.path())
            .collect();
        assert_eq!(steps, walked, "{report}");
        assert!(report.peak_rss_kb.is_some_and(|kb| kb > 0), "{report}");
        // The ratios' baseline and the incoming webhook alone were measured (any rate: no
        // timing is asserted), and printed.
        assert!(
            report.healthz_per_second.is_some_and(|r| r > 0.0),
            "{report}"
        );
        assert!(
            report.incoming_per_second.is_some_and(|r| r > 0.0),
            "{report}"
        );
        assert!(report.to_string().contains("of /healthz"), "{report}");
        assert!(
            report.baseline_per_second.is_some_and(|r| r > 0.0),
            "{report}"
        );
        assert!(report.to_string().contains("times it"), "{report}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_mix_checks_folios_by_voice_and_sms_and_reports_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (config, url) = scratch(&dir);

        let report = run(
            &config,
            &BenchArgs {
                mix: true,
                ..args(40, 4, Some(url))
            },
        )
        .await
        .unwrap();

        // Of every ten: one lookup by voice, one by SMS, eight reports, each report a case and
        // a folio SMS (the lookups' answers are TwiML, not sent messages).
        assert!(report.is_clean(), "{report}");
        assert_eq!((report.lookups, report.texts), (4, 4), "{report}");
        assert_eq!(report.new_cases, Some(32), "{report}");
        assert_eq!(report.sms_sent, Some(32), "{report}");
        let steps: Vec<&str> = report.steps.iter().map(|(s, _)| s.as_str()).collect();
        for path in ["/twilio/voice/lookup", "/twilio/messaging"] {
            assert!(steps.contains(&path), "{path}: {report}");
        }
        assert!(
            report.to_string().contains("4 folio lookups by SMS"),
            "{report}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_loopback_urls_and_never_the_configured_database() {
        let config = Config::from_pairs([("DATABASE_URL", "sqlite://some/where.db")]).unwrap();
        let mut remote = args(1, 1, None);
        remote.url = Some("http://example.com:8080".to_owned());
        let e = run(&config, &remote).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("only calls services on this machine"),
            "{e}"
        );

        let same = args(1, 1, Some("sqlite://some/where.db".to_owned()));
        let e = run(&config, &same).await.unwrap_err();
        assert!(e.to_string().contains("scratch database"), "{e}");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of_sorted(&sorted);
        assert_eq!(l.count, 100);
        assert_eq!(l.p50, Duration::from_millis(50));
        assert_eq!(l.p90, Duration::from_millis(90));
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        let one = Latency::of_sorted(&[Duration::from_millis(7)]);
        assert_eq!(one.p50, Duration::from_millis(7));
        assert_eq!(Latency::of_sorted(&[]), Latency::default());
    }
}
