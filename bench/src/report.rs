//! The results: one row per figure with the three servers side by side, the ratios and the
//! goal of issue 5; printed as a table and written as JSON.

use crate::scenarios::closed_loop::LoopResult;
use crate::scenarios::fd_limit::FdLimitResult;
use crate::scenarios::history::{HistoryResult, HELLO_REPEATS};
use crate::scenarios::idle::IdleResult;
use crate::scenarios::reconnect::ReconnectResult;
use crate::scenarios::wasm::WasmResult;
use crate::scenarios::Sizes;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything measured on one server.
#[derive(Debug, Default, Serialize)]
pub struct ServerResults {
    /// The median rounds of the closed loops (see `Sizes::rounds`).
    pub throughput: Option<LoopResult>,
    pub latency: Option<LoopResult>,
    /// Every round, in the order they ran.
    pub throughput_rounds: Vec<LoopResult>,
    pub latency_rounds: Vec<LoopResult>,
    pub reconnect: Option<ReconnectResult>,
    pub history: Option<HistoryResult>,
    pub idle: Option<IdleResult>,
    pub fd_limit: Option<FdLimitResult>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Val {
    Num(f64),
    Text(String),
    Missing,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub id: &'static str,
    pub metric: String,
    pub unit: &'static str,
    pub confab: Val,
    pub seed: Val,
    pub relay: Val,
    pub confab_per_seed: Option<f64>,
    pub confab_per_relay: Option<f64>,
    pub goal: &'static str,
    pub met: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub started_utc: String,
    pub finished_utc: String,
    pub smoke: bool,
    pub sizes: Sizes,
    pub machine: BTreeMap<&'static str, String>,
    pub rows: Vec<Row>,
    pub servers: BTreeMap<&'static str, ServerResults>,
    /// The multi-node row (`None` with `--no-cluster`).
    pub cluster: Option<crate::cluster::ClusterResult>,
    pub wasm: Option<WasmResult>,
}

type Get = fn(&ServerResults) -> Option<f64>;

fn row(
    id: &'static str,
    metric: String,
    unit: &'static str,
    servers: &BTreeMap<&'static str, ServerResults>,
    get: Get,
    goal: &'static str,
    met: fn(f64, Option<f64>, Option<f64>) -> Option<bool>,
) -> Row {
    let v = |k: &str| servers.get(k).and_then(get);
    let (c, s, r) = (v("confab"), v("seed"), v("relay"));
    let num = |x: Option<f64>| x.map_or(Val::Missing, Val::Num);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    };
    Row {
        id,
        metric,
        unit,
        confab: num(c),
        seed: num(s),
        relay: num(r),
        confab_per_seed: ratio(c, s),
        confab_per_relay: ratio(c, r),
        goal,
        met: c.and_then(|c| met(c, s, r)),
    }
}

/// Lowest–highest of one figure over a closed loop's rounds, per server; only with several
/// rounds. `k`: msgs/s shown in thousands.
fn spread_row(
    id: &'static str,
    unit: &'static str,
    (servers, sizes): (&BTreeMap<&'static str, ServerResults>, &Sizes),
    rounds: fn(&ServerResults) -> &[LoopResult],
    key: fn(&LoopResult) -> f64,
) -> Row {
    let metric = format!("  lowest–highest of {} rounds (median above)", sizes.rounds);
    let show = |x: f64| match unit {
        "msg/s" => format!("{:.1}k", x / 1000.0),
        _ => format!("{x:.2}"),
    };
    let spread = |k: &str| {
        let values: Vec<f64> = servers
            .get(k)
            .map_or(&[][..], rounds)
            .iter()
            .map(key)
            .collect();
        let lo = values.iter().copied().reduce(f64::min);
        let hi = values.iter().copied().reduce(f64::max);
        match (lo, hi) {
            (Some(lo), Some(hi)) => Val::Text(format!("{}–{}", show(lo), show(hi))),
            _ => Val::Missing,
        }
    };
    Row {
        id,
        metric,
        unit,
        confab: spread("confab"),
        seed: spread("seed"),
        relay: spread("relay"),
        confab_per_seed: None,
        confab_per_relay: None,
        goal: "",
        met: None,
    }
}

fn none(_: f64, _: Option<f64>, _: Option<f64>) -> Option<bool> {
    None
}

pub fn rows(
    servers: &BTreeMap<&'static str, ServerResults>,
    wasm: &Option<WasmResult>,
    sizes: &Sizes,
) -> Vec<Row> {
    let (p, w) = (sizes.pairs, sizes.throughput_window);
    let mut rows = vec![
        row(
            "w10_msgs_per_s",
            format!(
                "{p} pairs, W={w}, {} s: delivered msgs/s",
                sizes.throughput_secs
            ),
            "msg/s",
            servers,
            |s| s.throughput.as_ref().map(|t| t.msgs_per_sec),
            "≥ 50 % of relay",
            |c, _, r| r.map(|r| c >= 0.5 * r),
        ),
        spread_row(
            "w10_msgs_per_s_rounds",
            "msg/s",
            (servers, sizes),
            |s| &s.throughput_rounds,
            |r| r.msgs_per_sec,
        ),
        row(
            "w10_p99_ms",
            format!("{p} pairs, W={w}: p99 send→deliver"),
            "ms",
            servers,
            |s| s.throughput.as_ref().map(|t| t.p99_ms),
            "",
            none,
        ),
        row(
            "w10_cpu_us_per_msg",
            format!("{p} pairs, W={w}: server CPU per delivered msg"),
            "µs",
            servers,
            |s| s.throughput.as_ref().and_then(|t| t.server_cpu_us_per_msg),
            "",
            none,
        ),
        row(
            "w1_p50_ms",
            format!("{p} pairs, W=1: p50 send→deliver"),
            "ms",
            servers,
            |s| s.latency.as_ref().map(|t| t.p50_ms),
            "",
            none,
        ),
        row(
            "w1_p99_ms",
            format!("{p} pairs, W=1: p99 send→deliver"),
            "ms",
            servers,
            |s| s.latency.as_ref().map(|t| t.p99_ms),
            "≤ 1.5× relay, < seed",
            |c, s, r| Some(r.is_some_and(|r| c <= 1.5 * r) && s.is_some_and(|s| c < s)),
        ),
        spread_row(
            "w1_p99_ms_rounds",
            "ms",
            (servers, sizes),
            |s| &s.latency_rounds,
            |r| r.p99_ms,
        ),
        row(
            "w1_msgs_per_s",
            format!("{p} pairs, W=1: delivered msgs/s"),
            "msg/s",
            servers,
            |s| s.latency.as_ref().map(|t| t.msgs_per_sec),
            "",
            none,
        ),
        row(
            "idle_held",
            format!("idle sockets held (of {})", sizes.idle_sockets),
            "sockets",
            servers,
            |s| s.idle.as_ref().map(|i| i.held as f64),
            "all held (19 000)",
            |c, _, _| Some(c >= 19_000.0),
        ),
        row(
            "idle_rss_per_socket_kib",
            "server RSS per idle socket".into(),
            "KiB",
            servers,
            |s| s.idle.as_ref().map(|i| i.rss_per_socket_kib),
            "≤ 8 KiB",
            |c, _, _| Some(c <= 8.0),
        ),
        row(
            "reconnect_last_ms",
            format!(
                "reconnect after {} offline msgs: last delivered (median)",
                sizes.offline_messages
            ),
            "ms",
            servers,
            |s| s.reconnect.as_ref().map(|r| r.median_last_ms),
            "≤ 50 ms",
            |c, _, _| Some(c <= 50.0),
        ),
        row(
            "reconnect_max_ms",
            format!("reconnect: worst of {} rounds", sizes.offline_rounds),
            "ms",
            servers,
            |s| s.reconnect.as_ref().map(|r| r.max_last_ms),
            "",
            none,
        ),
        row(
            "history_p50_ms",
            format!(
                "history page of 50, store of {} msgs: p50",
                sizes.store_messages
            ),
            "ms",
            servers,
            |s| s.history.as_ref().map(|h| h.p50_ms),
            "",
            none,
        ),
        row(
            "history_p99_ms",
            format!(
                "history page of 50, store of {} msgs: p99",
                sizes.store_messages
            ),
            "ms",
            servers,
            |s| s.history.as_ref().map(|h| h.p99_ms),
            "≤ 2 ms",
            |c, _, _| Some(c <= 2.0),
        ),
        row(
            "history_hello_ms",
            "hello of the user owning that conversation: first after restart".into(),
            "ms",
            servers,
            |s| s.history.as_ref().map(|h| h.hello_ms),
            "",
            none,
        ),
        row(
            "history_hello_p50_ms",
            format!("hello of that user: median of {HELLO_REPEATS} more"),
            "ms",
            servers,
            |s| s.history.as_ref().map(|h| h.hello_p50_ms),
            "",
            none,
        ),
    ];
    if sizes.rounds < 2 {
        rows.retain(|r| !r.id.ends_with("_rounds"));
    }
    let fd = |k: &str| servers.get(k).and_then(|s| s.fd_limit.as_ref());
    let fd_row = |id,
                  metric: String,
                  show: fn(&FdLimitResult) -> String,
                  goal,
                  met: fn(&FdLimitResult) -> bool| Row {
        id,
        metric,
        unit: "",
        confab: fd("confab").map_or(Val::Missing, |f| Val::Text(show(f))),
        seed: fd("seed").map_or(Val::Missing, |f| Val::Text(show(f))),
        relay: fd("relay").map_or(Val::Missing, |f| Val::Text(show(f))),
        confab_per_seed: None,
        confab_per_relay: None,
        goal,
        met: fd("confab").map(met),
    };
    rows.push(fd_row(
        "fd_limit_serving",
        format!(
            "at the open-file limit ({}/process): held sockets served, no crash",
            sizes.server_nofile
        ),
        |f| {
            if f.keeps_serving {
                "yes".into()
            } else {
                "NO".into()
            }
        },
        "keeps serving, no crash",
        |f| f.keeps_serving,
    ));
    rows.push(fd_row(
        "fd_limit_refused",
        "at the open-file limit: extra connections refused / hung".into(),
        |f| format!("{} / {}", f.refused, f.hung),
        "refused cleanly (none hung)",
        |f| f.clean,
    ));
    if let Some(wasm) = wasm {
        let kb = |b: u64| Val::Num(b as f64 / 1000.0);
        let only = |id, metric: String, confab: Val, goal, met| Row {
            id,
            metric,
            unit: "KB",
            confab,
            seed: Val::Missing,
            relay: Val::Missing,
            confab_per_seed: None,
            confab_per_relay: None,
            goal,
            met,
        };
        rows.push(only(
            "wasm_raw_kb",
            format!("WASM bundle, {} build, raw", wasm.profile),
            kb(wasm.raw_bytes),
            "",
            None,
        ));
        rows.push(only(
            "wasm_brotli_kb",
            format!(
                "WASM bundle, {} build, brotli q{}",
                wasm.profile, wasm.brotli_quality
            ),
            kb(wasm.brotli_bytes),
            "≤ 250 KB",
            Some(wasm.brotli_bytes <= 250_000),
        ));
        let served = wasm
            .served_content_encoding
            .as_deref()
            .unwrap_or("identity");
        let mut r = only(
            "wasm_served_br",
            "WASM served precompressed (Content-Encoding)".into(),
            Val::Text(served.into()),
            "br",
            Some(served == "br"),
        );
        r.unit = "";
        rows.push(r);
    }
    rows
}

pub fn write_json(dir: &Path, stamp: &str, report: &Report) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{stamp}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(report)?)?;
    Ok(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A closed-loop result with these two figures (the rest zero).
    pub(crate) fn looped(msgs_per_sec: f64, p99_ms: f64) -> LoopResult {
        LoopResult {
            pairs: 100,
            window: 10,
            seconds: 20.0,
            delivered: (msgs_per_sec * 20.0) as u64,
            msgs_per_sec,
            p50_ms: p99_ms / 3.0,
            p99_ms,
            p999_ms: p99_ms,
            max_ms: p99_ms,
            server_cpu_pct: None,
            server_cpu_us_per_msg: None,
            generator_cpu_pct: None,
            server_threads_cpu_pct: Default::default(),
            error_frames: 0,
            broken_pairs: 0,
            writer: None,
            first_problem: None,
        }
    }

    #[test]
    fn spread_rows_show_each_servers_lowest_and_highest_round() {
        let mut servers = BTreeMap::new();
        servers.insert(
            "confab",
            ServerResults {
                throughput_rounds: vec![looped(64_265.0, 9.0), looped(49_807.0, 8.0)],
                latency_rounds: vec![looped(1.0, 11.74), looped(1.0, 10.16), looped(1.0, 13.3)],
                ..Default::default()
            },
        );
        let mut sizes = Sizes::smoke();
        sizes.rounds = 3;
        let rows = rows(&servers, &None, &sizes);
        let cell = |id: &str| {
            let row = rows.iter().find(|r| r.id == id).expect(id);
            (
                serde_json::to_string(&row.confab).unwrap(),
                serde_json::to_string(&row.relay).unwrap(),
            )
        };
        assert_eq!(
            cell("w10_msgs_per_s_rounds"),
            ("\"49.8k–64.3k\"".into(), "null".into())
        );
        assert_eq!(cell("w1_p99_ms_rounds").0, "\"10.16–13.30\"");
        sizes.rounds = 1;
        let one = super::rows(&servers, &None, &sizes);
        assert!(one.iter().all(|r| !r.id.ends_with("_rounds")));
    }
}
