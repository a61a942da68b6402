//! The scenarios of issue 5, each with a hard deadline and bounded counts.

pub mod closed_loop;
pub mod fd_limit;
pub mod history;
pub mod idle;
pub mod reconnect;
pub mod wasm;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::time::Duration;

/// How big the run is: the standard sizes, or a smoke run of a few seconds for CI.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    pub pairs: usize,
    pub throughput_window: usize,
    pub throughput_secs: f64,
    pub latency_secs: f64,
    pub warmup_secs: f64,
    /// Rounds of each closed loop (at least 1: `--rounds` is clamped), interleaved across the
    /// servers; the table shows the median round and the spread. On this benchmark's shared
    /// 2-core machines the speed drifts over minutes (two runs of the same binary differed by
    /// up to 23 % in msgs/s), so one round on each server, one server after another, could turn
    /// a goal's verdict.
    pub rounds: usize,
    pub idle_sockets: usize,
    pub idle_processes: usize,
    /// `RLIMIT_NOFILE` (soft = hard) of every server process.
    pub server_nofile: u64,
    /// Connections tried beyond the server's free descriptors at the limit.
    pub over_limit_attempts: usize,
    pub offline_messages: usize,
    pub offline_rounds: usize,
    pub store_messages: u64,
    pub history_queries: usize,
    pub brotli_quality: u32,
}

impl Sizes {
    pub fn full() -> Self {
        Self {
            pairs: 100,
            throughput_window: 10,
            throughput_secs: 20.0,
            latency_secs: 10.0,
            warmup_secs: 2.0,
            rounds: 3,
            idle_sockets: 19_000,
            idle_processes: 2,
            server_nofile: 20_000,
            over_limit_attempts: 300,
            offline_messages: 1_000,
            offline_rounds: 5,
            store_messages: 1_000_000,
            history_queries: 2_000,
            brotli_quality: 11,
        }
    }

    pub fn smoke() -> Self {
        Self {
            pairs: 5,
            throughput_window: 10,
            throughput_secs: 2.0,
            latency_secs: 1.0,
            warmup_secs: 0.3,
            rounds: 2,
            idle_sockets: 200,
            idle_processes: 2,
            // Confab keeps 256 descriptors for other than client sockets (503 past that).
            server_nofile: 600,
            over_limit_attempts: 50,
            offline_messages: 50,
            offline_rounds: 2,
            store_messages: 10_000,
            history_queries: 200,
            brotli_quality: 5,
        }
    }
}

/// A progress bar for one scenario on one server (hidden when stderr is not a terminal).
pub fn bar(server: &str, what: &str, len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>7} {msg:40} [{bar:30.cyan/blue}] {pos:>6}/{len:6} {elapsed:>4}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_prefix(server.to_owned());
    pb.set_message(what.to_owned());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Ends a bar and leaves one plain line (also in CI logs, where bars are hidden).
pub fn done(pb: &ProgressBar, server: &str, line: &str) {
    pb.finish_and_clear();
    eprintln!("[{server}] {line}");
}
