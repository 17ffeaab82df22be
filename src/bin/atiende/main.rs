//! The `atiende` binary: the command line, `atiende serve | migrate | user add | simulate |
//! jobs | bench`. The service itself is the library; `bench` (the load generator) lives here,
//! beside the command that runs it, because the service never needs it.
//!
//! Errors end the process with one line on standard error and a non-zero exit code; a
//! configuration error names the key at fault.
#![forbid(unsafe_code)]

mod bench;
mod console_bench;

use atiende::Config;
use atiende::app::{Application, shutdown_signal};
use atiende::domain::{JobState, Role, Timestamp};
use atiende::sim::terminal::{self, SimulateArgs};
use atiende::staff::password;
use atiende::store::{NewUser, Store, StoreError, UserChange};
use bench::BenchArgs;
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::process::ExitCode;

/// jemalloc rather than the system's allocator: a webhook's answer is many small allocations on
/// two threads at once, and glibc's malloc and free took about 15 % of the incoming webhook's
/// CPU time. With jemalloc the webhook answers about 20 % more calls per second (README,
/// Benchmarks); mimalloc did as well but held 50 MB when idle, against 23 MB here.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Phone line (Twilio IVR) and case tracker for a municipality's citizen-participation office.
#[derive(Debug, Parser)]
#[command(name = "atiende", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations, then serve the webhooks (the default command).
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Call the running service from the terminal, playing Twilio's part.
    Simulate(SimulateArgs),
    /// Background jobs (recording downloads, SMS): list the dead ones, retry one.
    Jobs {
        #[command(subcommand)]
        command: Option<JobsCommand>,
        /// List every job that is not done (queued, running, dead), not only the dead.
        #[arg(long)]
        all: bool,
    },
    /// A consistent copy of the database and the stored files into DIR (a new folder), while
    /// the service runs.
    Backup { dir: std::path::PathBuf },
    /// Puts a backup back: the database (a new SQLite file, as DATABASE_URL says) and the files
    /// (into ATIENDE_STORAGE_URL).
    Restore { dir: std::path::PathBuf },
    /// Deletes the recordings and attachments of cases closed more than DAYS days ago (each
    /// deletion noted in its case's history); the cases and their records stay. Run it daily
    /// from cron; nothing is deleted unless it is run.
    Retention {
        #[arg(long)]
        days: i64,
    },
    /// The phone line's prompts: what to record for a language no voice speaks.
    Prompts {
        #[command(subcommand)]
        command: PromptsCommand,
    },
    /// Load test: many simulated calls at once; prints throughput, latency and memory.
    ///
    /// Logs only warnings unless ATIENDE_LOG (or RUST_LOG) says otherwise, so that the report is
    /// not buried under a line per case.
    Bench(BenchArgs),
}

#[derive(Debug, Subcommand)]
enum PromptsCommand {
    /// Every file a recorded language needs (prompts/<code>/...), one per line with the Spanish
    /// it stands for, tab-separated; the categories are those of the phone menu in the database.
    Checklist,
    /// Loads the prompts folder (ATIENDE_PROMPTS_DIR) as `serve` would, with every recorded
    /// language, and says what it found or what is missing.
    Check,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Put a dead job back in the queue, its attempts reset; a running service picks it up.
    Retry { id: i64 },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (an existing name is refused); the password is read from standard
    /// input (one line).
    Add {
        name: String,
        /// admin, operador or area.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The department code, required for the `area` role (e.g. alumbrado, agua).
        #[arg(long)]
        department: Option<String>,
    },
    /// Set a new password for an account, read from standard input (one line); its sessions end.
    Password { name: String },
    /// Change an account's role (and department, for `area`).
    Role {
        name: String,
        /// admin, operador or area.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The department code, required for the `area` role.
        #[arg(long)]
        department: Option<String>,
    },
    /// Close an account: it can no longer sign in, and its sessions end.
    Deactivate { name: String },
    /// Open a closed account again.
    Reactivate { name: String },
}

/// A role as the command line names it.
fn parse_role(code: &str) -> Result<Role, String> {
    code.parse()
}

/// Parses the arguments and runs the command.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("atiende: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let log_filter = match command {
        Command::Bench(_) if std::env::var_os("ATIENDE_LOG").is_none() => "warn",
        _ => config.log_filter.as_str(),
    };
    atiende::telemetry::init(log_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("atiende: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("atiende: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            println!("migrations applied ({})", store.backend_name());
            Ok(())
        }
        Command::User { command } => user(&config, command).await,
        Command::Simulate(args) => terminal::run(&config, args).await,
        Command::Jobs { command: None, all } => list_jobs(&config, all).await,
        Command::Jobs {
            command: Some(JobsCommand::Retry { id }),
            ..
        } => retry_job(&config, id).await,
        Command::Bench(args) => run_bench(&config, &args).await,
        Command::Prompts { command } => prompts(&config, command).await,
        Command::Retention { days } => {
            if days < 1 {
                anyhow::bail!("--days must be 1 or more");
            }
            let app = Application::build(config).await?;
            let state = app.state().clone();
            let report = atiende::retention::run(&state, days, state.clock.now()).await?;
            state.store.close().await;
            println!(
                "retention ({days} days after closing): {} recordings and {} attachments deleted",
                report.recordings, report.attachments
            );
            Ok(())
        }
        Command::Backup { dir } => {
            let store = open_store(&config).await?;
            let summary = atiende::backup::backup(&config, &store, &dir).await?;
            store.close().await;
            println!(
                "backup in {}: {}, {} cases, {} files ({} bytes)",
                dir.display(),
                summary.database,
                summary.cases,
                summary.files,
                summary.bytes
            );
            Ok(())
        }
        Command::Restore { dir } => {
            let files = atiende::backup::restore(&config, &dir).await?;
            let store = open_store(&config).await?;
            let cases = store.count_cases().await?;
            store.close().await;
            println!(
                "restored from {}: {cases} cases, {files} files",
                dir.display()
            );
            Ok(())
        }
    }
}

/// `atiende prompts checklist | check`.
async fn prompts(config: &Config, command: PromptsCommand) -> anyhow::Result<()> {
    let catalogue = atiende::prompts::Prompts::load(&config.prompts_dir)?;
    let store = open_store(config).await?;
    let categories = store.phone_menu_categories().await?;
    match command {
        PromptsCommand::Checklist => {
            for (file, spanish) in atiende::prompts::recorded::checklist(&catalogue, &categories) {
                println!("{file}\t{spanish}");
            }
        }
        PromptsCommand::Check => {
            catalogue.check_categories(&categories)?;
            let languages: Vec<String> = catalogue
                .languages()
                .iter()
                .map(|l| format!("{} ({}, key {})", l.name, l.code, l.key))
                .collect();
            println!(
                "{}: es-MX{}{}",
                config.prompts_dir.display(),
                if languages.is_empty() { "" } else { ", " },
                languages.join(", ")
            );
        }
    }
    Ok(())
}

/// The configured store, migrated.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

fn now() -> Timestamp {
    Timestamp::from_utc(chrono::Utc::now())
}

/// `atiende user add | password | role | deactivate | reactivate`.
async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let (name, change, done) = match command {
        UserCommand::Add {
            name,
            role,
            department,
        } => return user_add(config, &name, role, department.as_deref()).await,
        UserCommand::Password { name } => {
            let hash = password::hash(&read_password()?)?;
            let change = UserChange {
                password_hash: Some(&hash),
                ..UserChange::default()
            };
            return change_user(config, &name, &change, "password changed").await;
        }
        UserCommand::Role {
            name,
            role,
            department,
        } => {
            check_area(role, department.as_deref())?;
            let change = UserChange {
                role: Some((role, department.as_deref())),
                ..UserChange::default()
            };
            let done = format!("role set to {role}");
            return change_user(config, &name, &change, &done).await;
        }
        UserCommand::Deactivate { name } => (name, Some(false), "deactivated"),
        UserCommand::Reactivate { name } => (name, Some(true), "reactivated"),
    };
    let change = UserChange {
        active: change,
        ..UserChange::default()
    };
    change_user(config, &name, &change, done).await
}

/// The password, one line of standard input.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn check_area(role: Role, department: Option<&str>) -> anyhow::Result<()> {
    if role == Role::Area && department.is_none() {
        anyhow::bail!("an area user needs --department (alumbrado, seguridad, agua, ...)");
    }
    Ok(())
}

/// `atiende user add NAME --role ROLE [--department CODE]`, the password from standard input.
async fn user_add(
    config: &Config,
    name: &str,
    role: Role,
    department: Option<&str>,
) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() {
        anyhow::bail!("the user name is empty");
    }
    check_area(role, department)?;
    let hash = password::hash(&read_password()?)?;
    let store = open_store(config).await?;
    let created = store
        .create_user(&NewUser {
            name,
            password_hash: &hash,
            role,
            department_code: department,
            at: now(),
        })
        .await;
    match created {
        Ok(_) => {
            println!("created {name} ({role})");
            Ok(())
        }
        Err(StoreError::Conflict(_)) => anyhow::bail!(
            "there is already an account named {name}; to change it use `atiende user password`, `user role`, `user deactivate` or `user reactivate`"
        ),
        Err(e) => Err(e.into()),
    }
}

/// Applies a change to an existing account.
async fn change_user(
    config: &Config,
    name: &str,
    change: &UserChange<'_>,
    done: &str,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match store.change_user(name, change, now()).await {
        Ok(()) => {
            println!("{name}: {done}");
            Ok(())
        }
        Err(StoreError::NotFound(_)) => anyhow::bail!("there is no account named {name}"),
        Err(e) => Err(e.into()),
    }
}

/// `atiende jobs [--all]`: the dead jobs (or every job not done), one line each.
async fn list_jobs(config: &Config, all: bool) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let state = if all { None } else { Some(JobState::Dead) };
    let jobs = store.jobs(state, 1000).await?;
    if jobs.is_empty() {
        println!(
            "{}",
            if all {
                "no pending jobs"
            } else {
                "no dead jobs"
            }
        );
    }
    for job in jobs {
        println!(
            "{}\t{}\t{}\t{}/{} attempts\t{}\t{}\t{}",
            job.id,
            job.state,
            job.kind,
            job.attempts,
            job.max_attempts,
            job.dedup_key,
            job.updated_at,
            job.last_error.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// `atiende jobs retry ID`: a dead job queued again.
async fn retry_job(config: &Config, id: i64) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    if store.requeue_dead_job(id, now()).await? {
        println!("job {id} queued again");
        Ok(())
    } else {
        anyhow::bail!("there is no dead job {id} (see `atiende jobs`)")
    }
}

/// `atiende bench`: the report on standard output; a run with failures exits non-zero, so a
/// script or CI job notices.
async fn run_bench(config: &Config, args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(cases) = args.seed_cases {
        let report = console_bench::run(
            config,
            cases,
            args.database_url.as_deref(),
            args.rounds as usize,
            args.seeded,
        )
        .await?;
        print!("{report}");
        return Ok(());
    }
    // Each call in progress holds a socket: raise the soft open-files limit to the hard one.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("atiende bench: warning: could not raise the open-files limit: {e}");
    }
    for warning in bench::preflight(config, args) {
        eprintln!("atiende bench: warning: {warning}");
    }
    let report = bench::run(config, args).await?;
    print!("{report}");
    if !report.is_clean() {
        anyhow::bail!(
            "the run was not clean: {} of {} calls failed{}",
            report.failed,
            report.calls,
            match report.new_cases {
                Some(n) if n != report.completed as i64 => {
                    format!(", and {n} cases for {} completed calls", report.completed)
                }
                _ => String::new(),
            }
        );
    }
    Ok(())
}
