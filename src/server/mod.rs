//! Everything that only runs on the server (feature `ssr`).
//!
//! # Layout
//! - [`config`]: flags and environment variables ([`config::Settings`]).
//! - [`telemetry`]: `tracing` set-up.
//! - [`listener`]: the TCP listener that caps connections below the open-file limit.
//! - [`read_ahead`]: reads a socket in 4 KiB pieces for readers that ask for less.
//! - [`startup`]: builds the router ([`startup::app`]) and runs the server ([`startup::RunningApp`]).
//! - [`cli`]: the binary's commands (`serve`, `user add`).
//! - [`error`]: the HTTP error type.
//! - [`auth`]: accounts, passwords, sessions and the session extractor.
//! - [`store`]: the storage interface and its SQLite and PostgreSQL implementations.
//! - [`writer`]: the single writer task that group-commits batches and then fans out.
//! - [`hub`]: who is connected: per-user sockets with bounded queues.
//! - [`cluster`]: several nodes: the Redis bus, cluster-wide presence and resync.
//! - [`support`]: customer support: the customer's identity, socket and the fan-out and
//!   automatic assignment after support writes.
//! - [`ws`]: WebSocket endpoints and the per-socket loop, one file per command.
//! - [`diagnostics`]: health, readiness, metrics and the echo socket.

pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod diagnostics;
pub mod error;
pub mod hub;
pub mod listener;
pub mod read_ahead;
pub mod startup;
pub mod state;
pub mod store;
pub mod support;
pub mod telemetry;
pub mod writer;
pub mod ws;
