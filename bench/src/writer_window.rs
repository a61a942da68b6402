//! Where a Confab server's writer spent a measured window, from its `/metrics` counters read
//! at the window's two ends: batch size, store time per batch (statements, commit, fsync),
//! fan-out time per batch, and the share of batches whose commit took over 5 ms. This is the
//! profile behind the throughput and latency rows: the writer is the one serial stage.

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
    /// Share of the window the store was busy with commits, %.
    pub store_busy_pct: f64,
    /// Batches whose commit took over 5 ms, % of all.
    pub slow_commit_pct: f64,
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
            })
        })
    }

    pub fn summary(&self) -> String {
        format!(
            "writer: {} batches of {:.0} writes, store {:.2} ms/batch ({:.0} % busy), fan-out {:.2} ms/batch, commits over 5 ms {:.1} %",
            self.batches, self.ops_per_batch, self.commit_ms, self.store_busy_pct, self.fan_out_ms, self.slow_commit_pct
        )
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
