//! Where a Confab server's writer spent a measured window, from its `/metrics` counters read
//! at the window's two ends: batch size, time per batch in the store (until durable), fan-out
//! time per batch, the share of batches that took over 5 ms, and on SQLite the message log's
//! fsyncs and the indexer's commits. This is the profile behind the throughput and latency rows.

use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct WriterWindow {
    pub batches: u64,
    pub ops_per_batch: f64,
    /// Mean time in the store per batch, ms.
    pub commit_ms: f64,
    /// Mean fan-out time per batch, ms.
    pub fan_out_ms: f64,
    /// Time batches spent in the store over the window's length, %: above 100 when batches
    /// overlap (SQLite decides one while the previous one is made durable).
    pub store_busy_pct: f64,
    /// Batches whose commit took over 5 ms, % of all.
    pub slow_commit_pct: f64,
    /// SQLite's message log: fsyncs in the window and their mean time, ms.
    pub log_syncs: Option<u64>,
    pub log_sync_ms: Option<f64>,
    /// SQLite's indexer: commits in the window, entries per commit and mean time, ms.
    pub index_commits: Option<u64>,
    pub index_entries_per_commit: Option<f64>,
    pub index_commit_ms: Option<f64>,
}

impl WriterWindow {
    /// Reads the counters at `from` and at `to`; `None` if the server does not answer.
    pub fn start(
        addr: SocketAddr,
        from: Instant,
        to: Instant,
    ) -> tokio::task::JoinHandle<Option<Self>> {
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .ok()?;
            tokio::time::sleep_until(from).await;
            let a = read(&http, addr).await?;
            tokio::time::sleep_until(to).await;
            let b = read(&http, addr).await?;
            let d = |name: &str| {
                b.get(name).copied().unwrap_or(0.0) - a.get(name).copied().unwrap_or(0.0)
            };
            let batches = d("confab_writer_batches_total");
            let per_batch = |v: f64| if batches > 0.0 { v / batches } else { 0.0 };
            // Present only on SQLite.
            let has = |name: &str| b.contains_key(name);
            let per = |total: &str, count: &str| {
                let n = d(count);
                (has(total) && n > 0.0).then(|| d(total) / n)
            };
            let fast = d("confab_writer_commit_seconds_bucket{le=\"0.005\"}");
            Some(Self {
                batches: batches as u64,
                ops_per_batch: per_batch(d("confab_writer_ops_total")),
                commit_ms: per_batch(d("confab_writer_commit_microseconds_total")) / 1000.0,
                fan_out_ms: per_batch(d("confab_writer_fan_out_microseconds_total")) / 1000.0,
                store_busy_pct: d("confab_writer_commit_microseconds_total")
                    / (to - from).as_micros() as f64
                    * 100.0,
                slow_commit_pct: per_batch(batches - fast) * 100.0,
                log_syncs: has("confab_log_syncs_total")
                    .then(|| d("confab_log_syncs_total") as u64),
                log_sync_ms: per(
                    "confab_log_sync_microseconds_total",
                    "confab_log_syncs_total",
                )
                .map(|us| us / 1000.0),
                index_commits: has("confab_index_commits_total")
                    .then(|| d("confab_index_commits_total") as u64),
                index_entries_per_commit: per(
                    "confab_index_entries_total",
                    "confab_index_commits_total",
                ),
                index_commit_ms: per(
                    "confab_index_microseconds_total",
                    "confab_index_commits_total",
                )
                .map(|us| us / 1000.0),
            })
        })
    }

    pub fn summary(&self) -> String {
        let mut text = format!(
            "writer: {} batches of {:.0} writes, {:.2} ms/batch until durable ({:.0} % of the window), fan-out {:.2} ms/batch, batches over 5 ms {:.1} %",
            self.batches, self.ops_per_batch, self.commit_ms, self.store_busy_pct, self.fan_out_ms, self.slow_commit_pct
        );
        if let (Some(syncs), Some(sync_ms)) = (self.log_syncs, self.log_sync_ms) {
            text.push_str(&format!("; log: {syncs} fsyncs of {sync_ms:.2} ms"));
        }
        if let (Some(commits), Some(entries), Some(ms)) = (
            self.index_commits,
            self.index_entries_per_commit,
            self.index_commit_ms,
        ) {
            text.push_str(&format!(
                "; indexer: {commits} commits of {entries:.0} entries, {ms:.1} ms each"
            ));
        }
        text
    }
}

/// `/metrics` as name (with labels) → value.
async fn read(http: &reqwest::Client, addr: SocketAddr) -> Option<HashMap<String, f64>> {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect(),
    )
}
