//! The command line: `atiende serve | migrate | user add | simulate`.
//!
//! Errors end the process with one line on standard error and a non-zero exit code; a
//! configuration error names the key at fault.

use crate::app::{Application, shutdown_signal};
use crate::config::Config;
use crate::domain::Timestamp;
use crate::sim::terminal::{self, SimulateArgs};
use crate::staff::password;
use crate::store::{NewUser, Role, Store};
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::process::ExitCode;

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
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create or update an account; the password is read from standard input (one line).
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The department code, required for the `area` role (e.g. alumbrado, agua).
        #[arg(long)]
        department: Option<String>,
    },
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("atiende: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(&config.log_filter);
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
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
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
            let store = Store::connect(&config.database_url).await?;
            store.migrate().await?;
            println!("migrations applied ({})", store.backend_name());
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    name,
                    role,
                    department,
                },
        } => {
            let name = name.trim();
            if name.is_empty() {
                anyhow::bail!("the user name is empty");
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']);
            let hash = password::hash(password)?;
            let store = Store::connect(&config.database_url).await?;
            store.migrate().await?;
            let created = store
                .upsert_user(&NewUser {
                    name,
                    password_hash: &hash,
                    role,
                    department_code: department.as_deref(),
                    at: Timestamp::from_utc(chrono::Utc::now()),
                })
                .await?;
            println!(
                "{} {name} ({})",
                if created { "created" } else { "updated" },
                role.code()
            );
            Ok(())
        }
        Command::Simulate(args) => terminal::run(&config, args).await,
    }
}
