//! The multi-node row, "Confab ×2 (PostgreSQL + Redis)": two Confab nodes on one fresh
//! PostgreSQL database (created for the run on the server `scripts/postgres.sh` prints, dropped
//! at the end) and one Redis channel (`scripts/redis.sh`), in the same run as the single-node
//! SQLite Confab. The closed loops run with each pair's sender on node 1 and its receiver on
//! node 2, so every message crosses the bus. Without PostgreSQL or Redis the row is skipped,
//! with the reason; a scenario that fails once both are there is an error.

use crate::clients::{Kind, Target};
use crate::confab_client;
use crate::plan::Plan;
use crate::scenarios::closed_loop::{self, LoopResult};
use crate::scenarios::{bar, done};
use crate::servers::{Launch, Server};
use anyhow::{bail, Context};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod infra;

pub const SETUP: &str = "Confab ×2 (PostgreSQL + Redis)";

/// The figures compared with single-node Confab.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Figures {
    pub w10_msgs_per_s: Option<f64>,
    pub w10_p50_ms: Option<f64>,
    pub w10_p99_ms: Option<f64>,
    pub w1_msgs_per_s: Option<f64>,
    pub w1_p50_ms: Option<f64>,
    pub w1_p99_ms: Option<f64>,
}

impl Figures {
    pub fn of(throughput: Option<&LoopResult>, latency: Option<&LoopResult>) -> Self {
        Self {
            w10_msgs_per_s: throughput.map(|t| t.msgs_per_sec),
            w10_p50_ms: throughput.map(|t| t.p50_ms),
            w10_p99_ms: throughput.map(|t| t.p99_ms),
            w1_msgs_per_s: latency.map(|t| t.msgs_per_sec),
            w1_p50_ms: latency.map(|t| t.p50_ms),
            w1_p99_ms: latency.map(|t| t.p99_ms),
        }
    }

    pub fn cells(&self) -> [Option<f64>; 6] {
        [
            self.w10_msgs_per_s,
            self.w10_p50_ms,
            self.w10_p99_ms,
            self.w1_msgs_per_s,
            self.w1_p50_ms,
            self.w1_p99_ms,
        ]
    }

    /// `self / base`, figure by figure.
    fn ratio(&self, base: &Figures) -> Figures {
        let r = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        Figures {
            w10_msgs_per_s: r(self.w10_msgs_per_s, base.w10_msgs_per_s),
            w10_p50_ms: r(self.w10_p50_ms, base.w10_p50_ms),
            w10_p99_ms: r(self.w10_p99_ms, base.w10_p99_ms),
            w1_msgs_per_s: r(self.w1_msgs_per_s, base.w1_msgs_per_s),
            w1_p50_ms: r(self.w1_p50_ms, base.w1_p50_ms),
            w1_p99_ms: r(self.w1_p99_ms, base.w1_p99_ms),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ClusterResult {
    pub setup: &'static str,
    /// `ran`, `skipped` (PostgreSQL or Redis not available; `reason` says why) or `failed`.
    pub status: &'static str,
    pub reason: Option<String>,
    pub nodes: usize,
    pub placement: &'static str,
    pub postgres_url: Option<String>,
    pub database: Option<String>,
    pub redis_url: Option<String>,
    pub redis_channel: Option<String>,
    pub throughput: Option<LoopResult>,
    pub latency: Option<LoopResult>,
    pub figures: Figures,
    /// Single-node SQLite Confab of the same run, and this row divided by it.
    pub single_node: Figures,
    pub ratio_to_single: Figures,
    pub errors: Vec<String>,
}

impl ClusterResult {
    fn new() -> Self {
        Self {
            setup: SETUP,
            status: "ran",
            reason: None,
            nodes: 2,
            placement: "each pair's sender on node 1, its receiver on node 2",
            postgres_url: None,
            database: None,
            redis_url: None,
            redis_channel: None,
            throughput: None,
            latency: None,
            figures: Figures::default(),
            single_node: Figures::default(),
            ratio_to_single: Figures::default(),
            errors: Vec::new(),
        }
    }

    fn skipped(reason: String) -> Self {
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("[cluster] skipped: {reason}");
        Self {
            status: "skipped",
            reason: Some(reason),
            ..Self::new()
        }
    }

    /// Fills the figures and their ratios to single-node Confab.
    pub fn compare(&mut self, single: Option<&crate::report::ServerResults>) {
        self.figures = Figures::of(self.throughput.as_ref(), self.latency.as_ref());
        if let Some(s) = single {
            self.single_node = Figures::of(s.throughput.as_ref(), s.latency.as_ref());
        }
        self.ratio_to_single = self.figures.ratio(&self.single_node);
    }
}

/// The cluster's part of the suite. Never panics; problems end up in the result.
pub async fn run(plan: &Plan<'_>, urls: Result<(String, String), String>) -> ClusterResult {
    let (pg, redis) = match urls {
        Ok(urls) => urls,
        Err(reason) => return ClusterResult::skipped(reason),
    };
    if plan.launch.confab_bin.is_none() {
        return ClusterResult::skipped("no Confab binary".into());
    }
    let name = format!("confab_bench_{}", plan.run_tag.to_lowercase());
    // Dropped however this ends (also on Ctrl-C or the suite's time limit).
    let db = match infra::Database::create(&pg, &name).await {
        Ok(db) => db,
        Err(reason) => return ClusterResult::skipped(reason),
    };
    let mut result = ClusterResult::new();
    result.postgres_url = Some(pg.clone());
    result.database = Some(name);
    result.redis_url = Some(redis.clone());
    let channel = format!("confab:bench:{}", plan.run_tag);
    result.redis_channel = Some(channel.clone());
    let db_url = db.url();
    if let Err(e) = nodes_and_loops(plan, db_url, &redis, &channel, &mut result).await {
        eprintln!("[cluster] {e:#}");
        result.errors.push(format!("{e:#}"));
    }
    if !result.errors.is_empty() {
        result.status = "failed";
    }
    result
}

async fn nodes_and_loops(
    plan: &Plan<'_>,
    db_url: &str,
    redis: &str,
    channel: &str,
    out: &mut ClusterResult,
) -> anyhow::Result<()> {
    let mut nodes = Vec::new();
    for n in 1..=2 {
        let mut env = plan.launch.confab_env.to_vec();
        env.extend([
            ("REDIS_URL".into(), redis.to_owned()),
            ("CONFAB_REDIS_CHANNEL".into(), channel.to_owned()),
            ("CONFAB_NODE_ID".into(), format!("bench{n}")),
        ]);
        let launch = Launch {
            database_url: Some(db_url.to_owned()),
            confab_env: &env,
            ..plan.launch.clone()
        };
        // One after the other: the first node creates the schema.
        let node = Server::start(Kind::Confab, &launch)
            .await
            .with_context(|| format!("starting node {n}"))?;
        nodes.push(node);
    }
    for (i, node) in nodes.iter().enumerate() {
        wait_bus(node.addr, Duration::from_secs(30))
            .await
            .with_context(|| format!("node {}: bus; log:\n{}", i + 1, node.log_tail()))?;
    }
    let users: Vec<String> = plan
        .names
        .pairs
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let pb = bar("cluster", "registering (argon2)", users.len() as u64);
    let cookies = confab_client::register_all(nodes[0].addr, &users, &pb).await;
    done(
        &pb,
        "cluster",
        &format!(
            "2 nodes up on {db_url} and {redis}; {} accounts registered on node 1",
            users.len()
        ),
    );
    let target = Target {
        kind: Kind::Confab,
        addr: nodes[0].addr,
        rx_addr: Some(nodes[1].addr),
        cookies: Arc::new(cookies?),
        server_pids: nodes.iter().map(|n| n.pid).collect(),
    };
    let (sizes, tag) = (plan.sizes, &plan.run_tag);
    let warmup = Duration::from_secs_f64(sizes.warmup_secs);
    let w = sizes.throughput_window;
    let loops = [
        ("throughput", w, sizes.throughput_secs),
        ("latency", 1, sizes.latency_secs),
    ];
    for (scenario, window, secs) in loops {
        if !plan.has(scenario) {
            continue;
        }
        let r = closed_loop::run(
            &target,
            &plan.names.pairs,
            window,
            warmup,
            Duration::from_secs_f64(secs),
            &format!("{tag}xw{window}"),
            &format!("×2 W={window}"),
        )
        .await;
        match (r, scenario) {
            (Ok(r), "throughput") => out.throughput = Some(r),
            (Ok(r), _) => out.latency = Some(r),
            (Err(e), _) => out.errors.push(format!("{scenario}: {e:#}")),
        }
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        if !node.alive() {
            out.errors.push(format!(
                "node {} exited; log tail:\n{}",
                i + 1,
                node.log_tail()
            ));
        }
    }
    for node in nodes {
        node.stop(Duration::from_secs(10)).await;
    }
    Ok(())
}

/// Waits until `GET /readyz` says the node's bus is up and it has heard the other node.
async fn wait_bus(addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < limit {
        if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await {
            if let Ok(v) = r.json::<serde_json::Value>().await {
                let bus = &v["bus"];
                if bus["state"] == "up" && bus["other_nodes"].as_u64().unwrap_or(0) >= 1 {
                    return Ok(());
                }
                last = bus.to_string();
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("bus not up with the other node after {limit:?} (last /readyz bus: {last})")
}
