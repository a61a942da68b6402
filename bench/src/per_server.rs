//! One server's part of the suite, in three steps: start it (Confab: register, fill the store,
//! restart, page its history); one round of the closed loops, as often as the suite asks; the
//! other scenarios (reconnect; then, on a restarted process, idle sockets and the open-file
//! limit), then stop it. A scenario that fails is recorded and the next one runs.

use crate::clients::{Kind, Target};
use crate::plan::Plan;
use crate::report::ServerResults;
use crate::scenarios::closed_loop::LoopResult;
use crate::scenarios::fd_limit::{self, Probe};
use crate::scenarios::{bar, closed_loop, done, history, idle, reconnect, wasm};
use crate::servers::{Launch, Server};
use crate::{confab_client, prefill};
use anyhow::{bail, Context};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A started server, its results so far, and what its scenarios need.
pub struct Running {
    kind: Kind,
    /// `None` when it could not start (the reason is in `results.errors`).
    live: Option<Live>,
    results: ServerResults,
}

struct Live {
    server: Server,
    target: Target,
}

/// Starts one server (Confab: registers, fills the store, restarts, then pages its history
/// and checks the WASM is served). Errors are recorded, not fatal to the suite.
pub async fn start(kind: Kind, plan: &mut Plan<'_>) -> Running {
    let mut results = ServerResults::default();
    let started = match kind {
        Kind::Confab if plan.launch.confab_bin.is_none() => {
            Err(anyhow::anyhow!("no Confab binary"))
        }
        Kind::Confab => start_confab(plan).await,
        _ => Server::start(kind, &plan.launch)
            .await
            .map(|s| (s, HashMap::new(), 0)),
    };
    let (server, cookies, history_last_seq) = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("[{}] could not start: {e:#}", kind.name());
            results.errors.push(format!("start: {e:#}"));
            return Running {
                kind,
                live: None,
                results,
            };
        }
    };
    let target = Target {
        kind,
        addr: server.addr,
        cookies: Arc::new(cookies),
        server_pids: vec![server.pid],
        rx_addr: None,
    };
    if kind == Kind::Confab {
        confab_first(&target, plan, history_last_seq, &mut results).await;
    }
    Running {
        kind,
        live: Some(Live { server, target }),
        results,
    }
}

/// Confab's scenarios before the closed loops: the served WASM and `history` paging.
async fn confab_first(
    target: &Target,
    plan: &mut Plan<'_>,
    history_last_seq: u64,
    out: &mut ServerResults,
) {
    if let Some(w) = plan.wasm.as_deref_mut() {
        if let Err(e) = wasm::check_served(w, target.addr).await {
            out.errors.push(format!("wasm served check: {e:#}"));
        }
    }
    if plan.has("history") {
        let (sizes, (a, b)) = (plan.sizes, &plan.names.history);
        let r = history::run(
            target,
            a,
            b,
            history_last_seq,
            sizes.store_messages,
            sizes.history_queries,
        )
        .await;
        record(&mut out.history, r, &mut out.errors, "history");
    }
}

/// One round of the closed loops (W=10, then W=1) on a started server. The suite runs round 1
/// on every server, then round 2, and so on: the machine's speed drifts over minutes, and
/// interleaving gives every server the same share of its fast and slow spells.
pub async fn closed_loops(running: &mut Running, plan: &Plan<'_>, round: usize) {
    let Some(live) = running.live.as_ref() else {
        return;
    };
    let (sizes, names, tag) = (plan.sizes, plan.names, &plan.run_tag);
    let (rounds, out) = (sizes.rounds, &mut running.results);
    let warmup = Duration::from_secs_f64(sizes.warmup_secs);
    if plan.has("throughput") {
        let w = sizes.throughput_window;
        let r = closed_loop::run(
            &live.target,
            &names.pairs,
            w,
            warmup,
            Duration::from_secs_f64(sizes.throughput_secs),
            &format!("{tag}w{w}r{round}"),
            &round_label(&format!("W={w}"), round, rounds),
        )
        .await;
        record_round(&mut out.throughput_rounds, r, &mut out.errors, "throughput");
    }
    if plan.has("latency") {
        let r = closed_loop::run(
            &live.target,
            &names.pairs,
            1,
            warmup,
            Duration::from_secs_f64(sizes.latency_secs),
            &format!("{tag}w1r{round}"),
            &round_label("W=1", round, rounds),
        )
        .await;
        record_round(&mut out.latency_rounds, r, &mut out.errors, "latency");
    }
}

/// The rest of one server's scenarios (reconnect, idle sockets, the open-file limit), then
/// stops it; the closed loops' median rounds become its figures.
pub async fn finish(running: Running, plan: &mut Plan<'_>) -> ServerResults {
    let Running {
        kind,
        live,
        mut results,
    } = running;
    results.throughput = median_round(&results.throughput_rounds, |r| r.msgs_per_sec);
    results.latency = median_round(&results.latency_rounds, |r| r.p99_ms);
    let Some(Live {
        mut server,
        mut target,
    }) = live
    else {
        return results;
    };
    reconnect_scenario(&target, plan, &mut results).await;
    if plan.has("idle") || plan.has("fdlimit") {
        // A fresh process: one that ran the closed loops has freed memory that the idle
        // sockets would reuse, and their RSS per socket would look smaller than it is.
        match restart(server, &target, plan).await {
            Ok((fresh, fresh_target)) => (server, target) = (fresh, fresh_target),
            Err(e) => {
                eprintln!("[{}] restart before the idle sockets: {e:#}", kind.name());
                results.errors.push(format!("restart: {e:#}"));
                return results;
            }
        }
        if let Err(e) = held_sockets(&target, &mut server, plan, &mut results).await {
            eprintln!("[{}] {e:#}", kind.name());
            results.errors.push(format!("{e:#}"));
        }
    }
    if !server.alive() {
        results
            .errors
            .push(format!("server exited; log tail:\n{}", server.log_tail()));
    }
    server.stop(Duration::from_secs(10)).await;
    results
}

async fn reconnect_scenario(target: &Target, plan: &Plan<'_>, out: &mut ServerResults) {
    if !plan.has("reconnect") {
        return;
    }
    let (sizes, names) = (plan.sizes, plan.names);
    match reconnect::run(
        target,
        &names.offline,
        sizes.offline_messages,
        &format!("{}off", plan.run_tag),
    )
    .await
    {
        Ok(r) => out.reconnect = r,
        Err(e) => out.errors.push(format!("reconnect: {e:#}")),
    }
}

/// Stops `server` and starts it again on the same store (Confab's sessions survive it).
async fn restart(
    server: Server,
    target: &Target,
    plan: &Plan<'_>,
) -> anyhow::Result<(Server, Target)> {
    if !server.stop(Duration::from_secs(15)).await {
        bail!("the server did not stop on SIGTERM within 15 s");
    }
    let fresh = match target.kind {
        Kind::Confab => Server::start(Kind::Confab, &confab_launch(plan)).await?,
        kind => Server::start(kind, &plan.launch).await?,
    };
    let fresh_target = Target {
        addr: fresh.addr,
        server_pids: vec![fresh.pid],
        ..target.clone()
    };
    Ok((fresh, fresh_target))
}

/// Idle sockets, then the open-file limit, on a server that has run nothing else.
async fn held_sockets(
    target: &Target,
    server: &mut Server,
    plan: &mut Plan<'_>,
    out: &mut ServerResults,
) -> anyhow::Result<()> {
    let (sizes, names) = (plan.sizes, plan.names);
    let idle_users: Vec<(String, String)> = names
        .idle
        .iter()
        .map(|u| {
            (
                u.clone(),
                target.cookies.get(u).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let open_limit = Duration::from_secs(if sizes.idle_sockets > 1000 { 300 } else { 60 });
    let (idle_result, mut children) = idle::open(
        target,
        server.pid,
        &idle_users,
        sizes.idle_processes,
        plan.launch.work,
        open_limit,
    )
    .await?;
    let held = idle_result.held;
    out.idle = Some(idle_result);
    if plan.has("fdlimit") {
        // Opened now, not before the idle phase: an unread socket would miss the seed's pings.
        let (ps, pr) = &names.probe;
        let mut probe = Probe {
            rx: target.connect(pr).await.context("probe receiver")?,
            tx: target.connect(ps).await.context("probe sender")?,
            sender: ps.clone(),
            receiver: pr.clone(),
        };
        // Confab: extra sockets of the idle accounts (under the per-user cap); others: new names.
        let extra: Vec<String> = match target.kind {
            Kind::Confab => names.idle.iter().chain(&names.idle).cloned().collect(),
            _ => (0..2 * sizes.idle_sockets + sizes.over_limit_attempts)
                .map(|i| format!("extra{i:05}"))
                .collect(),
        };
        let recover_user = if target.kind == Kind::Confab {
            pr.clone()
        } else {
            "recover0".into()
        };
        let r = fd_limit::run(
            target,
            server,
            &mut probe,
            &mut children,
            held,
            &extra,
            &recover_user,
            sizes.server_nofile,
            sizes.over_limit_attempts,
        )
        .await;
        record(&mut out.fd_limit, r, &mut out.errors, "fd limit");
    }
    children.stop().await;
    Ok(())
}

/// "W=10", or "W=10 round 2/3" when there are several.
fn round_label(what: &str, round: usize, rounds: usize) -> String {
    match rounds {
        1 => what.to_owned(),
        _ => format!("{what} round {round}/{rounds}"),
    }
}

fn record_round(
    rounds: &mut Vec<LoopResult>,
    r: anyhow::Result<LoopResult>,
    errors: &mut Vec<String>,
    what: &str,
) {
    let mut slot = None;
    record(&mut slot, r, errors, what);
    rounds.extend(slot);
}

/// The round in the middle when ordered by `key` (the lower middle of an even count), so that
/// every figure of a row comes from one round.
pub fn median_round(rounds: &[LoopResult], key: fn(&LoopResult) -> f64) -> Option<LoopResult> {
    let mut sorted: Vec<&LoopResult> = rounds.iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .map(|r| (*r).clone())
}

fn record<T>(slot: &mut Option<T>, r: anyhow::Result<T>, errors: &mut Vec<String>, what: &str) {
    match r {
        Ok(v) => *slot = Some(v),
        Err(e) => {
            eprintln!("{what}: {e:#}");
            errors.push(format!("{what}: {e:#}"));
        }
    }
}

fn confab_db(plan: &Plan<'_>) -> std::path::PathBuf {
    plan.launch.work.join("confab.db")
}

/// How Confab is started: on its SQLite store in the run's folder.
fn confab_launch<'a>(plan: &Plan<'a>) -> Launch<'a> {
    Launch {
        database_url: Some(format!("sqlite://{}", confab_db(plan).display())),
        ..plan.launch.clone()
    }
}

/// Confab on a fresh store: register the active accounts through the API, stop, write the idle
/// accounts' sessions and the message store, start again. Returns the server, every cookie,
/// and the last seq of the conversation whose history is paged.
async fn start_confab(plan: &Plan<'_>) -> anyhow::Result<(Server, HashMap<String, String>, u64)> {
    let launch = confab_launch(plan);
    let db = confab_db(plan);
    let first = Server::start(Kind::Confab, &launch).await?;
    let users = plan.names.registered();
    let pb = bar("confab", "registering (argon2)", users.len() as u64);
    let registered = confab_client::register_all(first.addr, &users, &pb).await;
    done(
        &pb,
        "confab",
        &format!("registered {} accounts through /api/register", users.len()),
    );
    let mut cookies = registered?;
    if !first.stop(Duration::from_secs(15)).await {
        bail!("Confab did not stop on SIGTERM within 15 s");
    }
    let pb = bar("confab", "filling the store", plan.sizes.store_messages);
    let (db2, idle, n) = (
        db.clone(),
        plan.names.idle.clone(),
        plan.sizes.store_messages,
    );
    let (a, b) = plan.names.history.clone();
    let pb2 = pb.clone();
    let filled = tokio::task::spawn_blocking(move || prefill::fill(&db2, (&a, &b), n, &idle, &pb2))
        .await
        .context("prefill task")??;
    done(
        &pb,
        "confab",
        &format!(
            "store: {n} messages, {} idle accounts with sessions",
            filled.sessions.len()
        ),
    );
    cookies.extend(filled.sessions);
    let server = Server::start(Kind::Confab, &launch).await?;
    Ok((server, cookies, filled.history_last_seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::looped;

    #[test]
    fn the_median_round_is_the_middle_one_by_its_key() {
        let rounds = [
            looped(61_000.0, 12.0),
            looped(49_000.0, 10.0),
            looped(64_000.0, 11.0),
        ];
        let by_msgs = median_round(&rounds, |r| r.msgs_per_sec).unwrap();
        assert_eq!((by_msgs.msgs_per_sec, by_msgs.p99_ms), (61_000.0, 12.0));
        let by_p99 = median_round(&rounds, |r| r.p99_ms).unwrap();
        assert_eq!((by_p99.msgs_per_sec, by_p99.p99_ms), (64_000.0, 11.0));
        // An even count takes the lower middle; one round is itself; none is none.
        let two = median_round(&rounds[..2], |r| r.msgs_per_sec).unwrap();
        assert_eq!(two.msgs_per_sec, 49_000.0);
        assert_eq!(
            median_round(&rounds[..1], |r| r.p99_ms).unwrap().p99_ms,
            12.0
        );
        assert!(median_round(&[], |r| r.p99_ms).is_none());
    }
}
