//! The binary's commands: `confab` / `confab serve` runs the server; `confab user add` creates
//! accounts (agents and admins exist only this way).

use crate::protocol::limits::PASSWORD_MIN;
use crate::protocol::{Role, Username};
use crate::server::config::Settings;
use crate::server::startup::RunningApp;
use crate::server::{auth::password, store, telemetry};
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "confab", version, about = "Self-hostable real-time chat")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the app (the default).
    Serve,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input (one line), never from
    /// the command line, so it stays out of shell history and process lists.
    Add {
        username: String,
        /// user, agent or admin.
        #[arg(long, default_value = "user")]
        role: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    // One worker per core. A spare core for the store's threads (one worker on the benchmark's
    // two) paid off while the writer committed to SQLite itself; since the store's threads
    // became a log, its sync and an indexer, a lone worker leaves the second core idle whenever
    // they do not need it: W=10 over 7 interleaved pairs, 60.3k msgs/s mean with one worker
    // against 68.4k with two (6 of 7 pairs better, one even).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.settings.worker_threads())
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                RunningApp::start(cli.settings)
                    .await?
                    .run_until_signal()
                    .await
            }
            Command::User(UserCommand::Add { username, role }) => {
                add_user(&cli.settings, &username, &role).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn add_user(settings: &Settings, username: &str, role: &str) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!(e.message))?;
    let Some(role) = Role::parse(role) else {
        bail!("unknown role {role:?}: use user, agent or admin");
    };
    eprintln!("password for {username} (one line on standard input):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.chars().count() < PASSWORD_MIN {
        bail!("a password has at least {PASSWORD_MIN} characters");
    }
    let store = store::connect(&settings.database_url).await?;
    let hash = password::hash(secret).await?;
    let result = store.create_user(username.as_str(), &hash, role).await;
    store.close().await;
    match result {
        Ok(()) => {
            println!("created {} {username}", role.as_str());
            Ok(())
        }
        Err(store::StoreError::Conflict) => bail!("{username} already exists"),
        Err(e) => Err(e.into()),
    }
}
