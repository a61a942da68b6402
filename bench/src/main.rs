//! `confab-bench`: the load generator of issue 5.
//!
//! - `run`: builds what it needs, starts Confab, the seed FastAPI server and the bare relay one
//!   after the other on loopback, runs the scenarios against each, prints a table and writes
//!   `bench/results/<UTC>.json`. With Confab also two Confab nodes on PostgreSQL + Redis.
//! - `relay`: the bare tokio WebSocket relay (the hardware ceiling).
//! - `idle-clients` (hidden): a child process holding many idle sockets.

mod clients;
mod cluster;
mod confab_client;
mod idle_clients;
mod per_server;
mod plan;
mod prefill;
mod relay;
mod report;
mod scenarios;
mod seed_client;
mod servers;
mod suite;
mod table;
mod util;
mod writer_window;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "confab-bench",
    about = "Load generator: Confab vs the seed vs a bare relay"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the standard suite (or `--smoke` for CI) and write a JSON report.
    Run(suite::RunArgs),
    /// Serve the bare relay: `/ws/{user}`; a text frame `{"to":…}` goes to that user's socket.
    Relay(relay::RelayArgs),
    /// Child mode: hold idle sockets open until stdin closes.
    #[command(hide = true)]
    IdleClients(idle_clients::IdleArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Command::IdleClients(_) => 1,
        _ => 2,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => suite::run(args).await,
            Command::Relay(args) => relay::serve(args).await,
            Command::IdleClients(args) => idle_clients::run(args).await,
        }
    });
    // Sockets held by detached tasks must not delay the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confab-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
