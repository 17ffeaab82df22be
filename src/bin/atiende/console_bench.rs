//! `atiende bench --seed-cases N`: the staff console with N cases in the database.
//!
//! It fills a scratch database (a fresh SQLite file, or `--database-url`) with N realistic
//! cases in bulk: five categories, statuses spread the way an office's are (most old cases
//! closed, the last weeks open), one in five urgent, dates over two years, callers who call
//! again. Then it starts the service in-process, signs an operador in over HTTP, and times
//! the pages staff open most (after the planner statistics a database gathers by itself some
//! time after a bulk load): the inbox's first page with and without filters, a deep keyset
//! page, a search by phone number, a case page, the office's figures (`/cifras`, over the
//! default twelve weeks and over a year, and as CSV), and the case list as a spreadsheet
//! (`/casos.csv`, the open cases and every closed one), and a caller's folio lookup by voice
//! (the webhook that answers the typed folio). For the figures the cases come with
//! their history (when each was attended, a few reopened) and the line with its calls (one
//! per phone report, and abandoned ones). Each is asked `--rounds` times (30); the report gives the
//! median and the 95th percentile of the whole HTTP answer (query and rendering).

use super::bench::ScratchDir;
use anyhow::{Context, ensure};
use atiende::config::Config;
use atiende::domain::{
    CallOutcome, CaseStatus, ClosureReason, Folio, Role, Timestamp, Urgency, promise,
};
use atiende::sim::CallSimulator;
use atiende::store::{CaseFilter, NewUser, SeedCall, SeedCase, SeedEvent, Visibility};
use atiende::{Application, Clock};
use rand::Rng;
use std::time::{Duration, Instant};

/// Cases written per transaction.
const BATCH: usize = 5_000;
const USER: &str = "bench.operador";
const PASSWORD: &str = "una contraseña de prueba";

/// What `atiende bench --seed-cases` measured.
pub struct ConsoleReport {
    pub cases: u64,
    pub backend: &'static str,
    /// How long writing them took; `None` when an earlier run wrote them (`--seeded`).
    pub seeded_in: Option<Duration>,
    /// How many times each page was asked.
    pub rounds: usize,
    pub pages: Vec<(String, Duration, Duration)>,
}

impl std::fmt::Display for ConsoleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let written = match self.seeded_in {
            Some(took) => format!("written in {:.1} s", took.as_secs_f64()),
            None => "written by an earlier run".to_owned(),
        };
        writeln!(
            f,
            "{} cases on {}, {written}; each page asked {} times over HTTP:",
            self.cases, self.backend, self.rounds
        )?;
        writeln!(f, "{:<46} {:>8} {:>8}", "page", "p50 ms", "p95 ms")?;
        for (page, p50, p95) in &self.pages {
            writeln!(
                f,
                "{page:<46} {:>8.1} {:>8.1}",
                p50.as_secs_f64() * 1000.0,
                p95.as_secs_f64() * 1000.0
            )?;
        }
        Ok(())
    }
}

/// A synthetic case `age` old, shaped like the office's.
fn synthetic(rng: &mut impl Rng, now: Timestamp, callers: &[String]) -> SeedCase {
    let age = chrono::Duration::minutes(rng.random_range(0..2 * 365 * 24 * 60));
    let created = Timestamp::from_utc(now.as_utc() - age);
    let category_id = rng.random_range(1..=5);
    let old = age > chrono::Duration::days(45);
    let status = if old && rng.random_bool(0.92) {
        CaseStatus::Closed
    } else {
        *[
            CaseStatus::Received,
            CaseStatus::InReview,
            CaseStatus::Routed,
            CaseStatus::InProgress,
            CaseStatus::Attended,
            CaseStatus::Closed,
        ]
        .get(rng.random_range(0..6))
        .expect("in range")
    };
    let closure_reason = (status == CaseStatus::Closed).then(|| {
        if rng.random_bool(0.8) {
            ClosureReason::Resolved
        } else {
            ClosureReason::Duplicate
        }
    });
    // Cases still being classified, and duplicates closed at once, never reached a department.
    let duplicate = closure_reason == Some(ClosureReason::Duplicate);
    let routed = !matches!(status, CaseStatus::Received | CaseStatus::InReview) && !duplicate;
    let urgency = match rng.random_range(0..10) {
        0 | 1 => Urgency::Urgent,
        2..=5 => Urgency::NotUrgent,
        _ => Urgency::Unknown,
    };
    let due = match status {
        CaseStatus::Attended | CaseStatus::Closed => None,
        _ => Some(Timestamp::from_utc(
            created.as_utc() + chrono::Duration::days(rng.random_range(1..40)),
        )),
    };
    SeedCase {
        category_id,
        department_id: category_id,
        urgency,
        status,
        closure_reason,
        caller_number: callers[rng.random_range(0..callers.len())].clone(),
        created_at: created,
        routed_at: routed
            .then(|| Timestamp::from_utc(created.as_utc() + chrono::Duration::hours(20))),
        due_at: due,
        answer_by: Some(promise::answer_by(created, promise::DEFAULT_WORKING_DAYS)),
        recording_seconds: rng.random_range(8..170),
    }
}

/// The history the figures read, for a batch of cases whose first id is `first`: when each
/// case that was dealt with was attended (hours to weeks after it was routed), and one in
/// thirty of those reopened the week after and attended again.
fn history(rng: &mut impl Rng, first: i64, batch: &[SeedCase]) -> Vec<SeedEvent> {
    let mut events = Vec::new();
    for (n, case) in batch.iter().enumerate() {
        let attended = matches!(case.status, CaseStatus::Attended | CaseStatus::Closed)
            && case.closure_reason != Some(ClosureReason::Duplicate);
        let Some(routed) = case.routed_at.filter(|_| attended) else {
            continue;
        };
        let case_id = first + n as i64;
        let at = Timestamp::from_utc(
            routed.as_utc() + chrono::Duration::hours(rng.random_range(2..24 * 30)),
        );
        events.push(SeedEvent {
            case_id,
            at,
            from_status: Some(CaseStatus::InProgress),
            to_status: CaseStatus::Attended,
        });
        if rng.random_bool(1.0 / 30.0) {
            let reopened = Timestamp::from_utc(at.as_utc() + chrono::Duration::days(7));
            events.push(SeedEvent {
                case_id,
                at: reopened,
                from_status: Some(CaseStatus::Closed),
                to_status: CaseStatus::Reopened,
            });
            events.push(SeedEvent {
                case_id,
                at: Timestamp::from_utc(reopened.as_utc() + chrono::Duration::days(3)),
                from_status: Some(CaseStatus::InProgress),
                to_status: CaseStatus::Attended,
            });
        }
    }
    events
}

/// The calls of a batch whose first id is `first`: the one that made each report, a minute
/// before it and linked to it, and an abandoned call for one case in four, at any time of the
/// two years, from a caller of the office.
fn calls(
    rng: &mut impl Rng,
    now: Timestamp,
    first: i64,
    batch: &[SeedCase],
    callers: &[String],
) -> Vec<SeedCall> {
    let mut calls = Vec::new();
    for (n, case) in batch.iter().enumerate() {
        calls.push(SeedCall {
            from_number: Some(case.caller_number.clone()),
            started_at: Timestamp::from_utc(
                case.created_at.as_utc() - chrono::Duration::minutes(3),
            ),
            duration_seconds: 150,
            outcome: CallOutcome::Report,
            case_id: Some(first + n as i64),
        });
        if rng.random_bool(0.25) {
            let age = chrono::Duration::minutes(rng.random_range(0..2 * 365 * 24 * 60));
            calls.push(SeedCall {
                from_number: Some(callers[rng.random_range(0..callers.len())].clone()),
                started_at: Timestamp::from_utc(now.as_utc() - age),
                duration_seconds: rng.random_range(5..60),
                outcome: CallOutcome::Abandoned,
                case_id: None,
            });
        }
    }
    calls
}

/// Fills the database, starts the service, signs in, times the pages.
pub async fn run(
    config: &Config,
    cases: u64,
    database_url: Option<&str>,
    rounds: usize,
    seeded: bool,
) -> anyhow::Result<ConsoleReport> {
    let dir = ScratchDir::create()?;
    let database_url = match database_url {
        Some(url) => {
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
    let service_config = Config::from_pairs([
        ("ATIENDE_LISTEN", "127.0.0.1:0"),
        ("DATABASE_URL", database_url.as_str()),
        ("ATIENDE_DATA_DIR", data_dir.as_str()),
        ("ATIENDE_PROMPTS_DIR", prompts_dir.as_str()),
        ("ATIENDE_WORKERS", "0"),
    ])?;
    let service = Application::build_with_clock(service_config, Clock::system())
        .await
        .context("starting the service in-process")?
        .spawn();
    let store = service.state.store.clone();
    let backend = store.backend_name();
    let now = service.state.clock.now();

    // The cases, in batches.
    let started = Instant::now();
    let mut rng = rand::rng();
    let callers: Vec<String> = (0..(cases / 4).max(1))
        .map(|_| format!("+52155{:08}", rng.random_range(0..100_000_000u32)))
        .collect();
    let mut left = if seeded { 0 } else { cases };
    while left > 0 {
        let n = left.min(BATCH as u64);
        let batch: Vec<SeedCase> = (0..n).map(|_| synthetic(&mut rng, now, &callers)).collect();
        let first = store.insert_seed_cases(&batch).await?;
        store
            .insert_seed_events(&history(&mut rng, first, &batch))
            .await?;
        store
            .insert_seed_calls(&calls(&mut rng, now, first, &batch, &callers))
            .await?;
        left -= n;
    }
    if !seeded {
        store.settle_after_seed().await?;
    }
    let seeded_in = (!seeded).then(|| started.elapsed());
    let cases = if seeded {
        let counts = store.status_counts(Visibility::All).await?;
        counts.iter().map(|(_, n)| *n as u64).sum()
    } else {
        cases
    };

    // An operador (an earlier run's, with `--seeded`), signed in over HTTP.
    if store.user_by_name(USER).await?.is_none() {
        let hash = atiende::staff::password::hash(PASSWORD)?;
        store
            .create_user(&NewUser {
                name: USER,
                password_hash: &hash,
                role: Role::Operador,
                department_code: None,
                at: now,
            })
            .await?;
    }
    let base = service.connect_base.clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?;
    let cookie = sign_in(&client, &base).await?;

    // The pages: a deep cursor and a phone number from the data itself.
    let deep = store
        .inbox(Visibility::All, &CaseFilter::default(), 2_000)
        .await?
        .last()
        .map(|r| r.cursor().encode())
        .unwrap_or_default();
    let any = store
        .inbox(Visibility::All, &CaseFilter::default(), 1)
        .await?;
    let (phone, folio) = any
        .first()
        .map(|r| (r.caller_number.clone().unwrap_or_default(), r.folio.clone()))
        .unwrap_or_default();
    let phone_query: String = url::form_urlencoded::byte_serialize(phone.as_bytes()).collect();
    let today = now.local_date();
    let year_ago = today - chrono::Duration::days(365);
    let pages = [
        ("inbox, first page (open cases)", "/".to_owned()),
        ("inbox, status routed", "/?estado=routed".to_owned()),
        (
            "inbox, water + urgent",
            "/?categoria=3&urgencia=urgent".to_owned(),
        ),
        ("inbox, overdue", "/?vencidos=1".to_owned()),
        (
            "inbox, all closed (the largest set)",
            "/?estado=closed".to_owned(),
        ),
        ("inbox, a page 2,000 rows deep", format!("/?despues={deep}")),
        ("search by phone number", format!("/?buscar={phone_query}")),
        ("a case page", format!("/casos/{folio}")),
        ("figures, the last 12 weeks (default)", "/cifras".to_owned()),
        (
            "figures, a year",
            format!("/cifras?desde={year_ago}&hasta={today}"),
        ),
        (
            "figures as CSV, the last 12 weeks",
            "/cifras.csv".to_owned(),
        ),
        ("cases CSV, the open cases", "/casos.csv".to_owned()),
        (
            "cases CSV, every closed case",
            "/casos.csv?estado=closed".to_owned(),
        ),
    ];
    let mut measured = Vec::new();
    for (name, path) in pages {
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let status = response.status();
            let body = response.text().await?;
            times.push(started.elapsed());
            ensure!(status.is_success(), "{path}: HTTP {status}: {body}");
        }
        let (p50, p95) = median_and_p95(times);
        measured.push((name.to_owned(), p50, p95));
    }
    let (p50, p95) = voice_lookups(&service, &store, rounds).await?;
    measured.push(("folio lookup by voice (the webhook)".to_owned(), p50, p95));
    service.stop(Duration::from_secs(30)).await?;
    Ok(ConsoleReport {
        cases,
        backend,
        seeded_in,
        rounds,
        pages: measured,
    })
}

/// Callers who type a folio: each calls, presses 2 (check a case) and types the folio of a
/// case spread over the whole database; only the webhook that answers the folio is timed.
/// Returns its median and 95th percentile.
async fn voice_lookups(
    service: &atiende::app::Spawned,
    store: &atiende::store::Store,
    rounds: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let newest = store
        .inbox(Visibility::All, &CaseFilter::default(), 1)
        .await?
        .first()
        .map_or(1, |r| r.id);
    let mut twilio = CallSimulator::new(&service.public_base, None);
    twilio.connect_base = service.connect_base.clone();
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Folios of cases from the oldest to the newest, each caller a different number.
        let id = 1 + (newest - 1) * round as i64 / rounds.max(1) as i64;
        let folio = Folio::from_sequence(id);
        let mut call = twilio
            .call(Some(&format!("+5255{:08}", 30_000_000 + round)))
            .await?;
        call.press("2").await?;
        let started = Instant::now();
        call.press(folio.as_str()).await?;
        times.push(started.elapsed());
        ensure!(
            call.heard().contains("Su estado es"),
            "folio {folio}: heard {}",
            call.heard()
        );
        call.hang_up(20).await?;
    }
    Ok(median_and_p95(times))
}

/// The median and the 95th percentile of `times` (not empty).
fn median_and_p95(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort_unstable();
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    (times[times.len() / 2], p95)
}

/// Signs the bench's operador in: the session cookie.
async fn sign_in(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let login = client.get(format!("{base}/entrar")).send().await?;
    // The sign-in form's token goes with a cookie of its own (no session before signing in).
    let cookie = cookie_named(&login, "atiende_entrar").context("no form cookie from /entrar")?;
    let page = login.text().await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no CSRF token on /entrar")?
        .to_owned();
    let answer = client
        .post(format!("{base}/entrar"))
        .header("cookie", &cookie)
        .form(&[
            ("usuario", USER),
            ("contrasena", PASSWORD),
            ("csrf", csrf.as_str()),
            ("siguiente", "/"),
        ])
        .send()
        .await?;
    ensure!(
        answer.status().is_redirection(),
        "sign-in refused: HTTP {}",
        answer.status()
    );
    cookie_named(&answer, "atiende_sesion").context("no session cookie after signing in")
}

/// `name=value` of a cookie the answer sets.
fn cookie_named(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.split('=').next() == Some(name))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The suite's small run: a few thousand seeded cases, every page answered (correctness
    /// only: no time is asserted).
    #[tokio::test]
    async fn a_few_thousand_seeded_cases_answer_every_page() {
        let dir = tempfile::tempdir().unwrap();
        let prompts = concat!(env!("CARGO_MANIFEST_DIR"), "/prompts");
        let config = Config::from_pairs([("ATIENDE_PROMPTS_DIR", prompts)]).unwrap();
        let url = format!("sqlite://{}", dir.path().join("seed.db").display());

        let report = run(&config, 2_000, Some(&url), 3, false).await.unwrap();

        assert_eq!(report.cases, 2_000);
        assert_eq!(report.rounds, 3);
        assert!(report.pages.len() >= 10, "{report}");
        assert!(
            report.to_string().contains("each page asked 3 times"),
            "{report}"
        );
    }
}
