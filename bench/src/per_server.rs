//! One server's part of the suite: start it (Confab: register, fill the store, restart), run
//! the scenarios in order, stop it. A scenario that fails is recorded and the next one runs.

use crate::clients::{Kind, Target};
use crate::plan::Plan;
use crate::report::ServerResults;
use crate::scenarios::fd_limit::{self, Probe};
use crate::scenarios::{bar, closed_loop, done, history, idle, reconnect, wasm};
use crate::servers::{Launch, Server};
use crate::{confab_client, prefill};
use anyhow::{bail, Context};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One server: start, scenarios, stop. Errors are recorded, not fatal to the suite.
pub async fn run_server(kind: Kind, plan: &mut Plan<'_>) -> ServerResults {
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
    let (mut server, cookies, history_last_seq) = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("[{}] could not start: {e:#}", kind.name());
            results.errors.push(format!("start: {e:#}"));
            return results;
        }
    };
    let target = Target {
        kind,
        addr: server.addr,
        cookies: Arc::new(cookies),
        server_pids: vec![server.pid],
        rx_addr: None,
    };
    if let Err(e) = scenarios(&target, &mut server, plan, history_last_seq, &mut results).await {
        eprintln!("[{}] {e:#}", kind.name());
        results.errors.push(format!("{e:#}"));
    }
    if !server.alive() {
        results
            .errors
            .push(format!("server exited; log tail:\n{}", server.log_tail()));
    }
    server.stop(Duration::from_secs(10)).await;
    results
}

async fn scenarios(
    target: &Target,
    server: &mut Server,
    plan: &mut Plan<'_>,
    history_last_seq: u64,
    out: &mut ServerResults,
) -> anyhow::Result<()> {
    let (sizes, names, tag) = (plan.sizes, plan.names, plan.run_tag.clone());
    let warmup = Duration::from_secs_f64(sizes.warmup_secs);
    if target.kind == Kind::Confab {
        if let Some(w) = plan.wasm.as_deref_mut() {
            if let Err(e) = wasm::check_served(w, target.addr).await {
                out.errors.push(format!("wasm served check: {e:#}"));
            }
        }
        if plan.has("history") {
            let (a, b) = &names.history;
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
    if plan.has("throughput") {
        let secs = Duration::from_secs_f64(sizes.throughput_secs);
        let r = closed_loop::run(
            target,
            &names.pairs,
            sizes.throughput_window,
            warmup,
            secs,
            &format!("{tag}w{}", sizes.throughput_window),
            &format!("W={}", sizes.throughput_window),
        )
        .await;
        record(&mut out.throughput, r, &mut out.errors, "throughput");
    }
    if plan.has("latency") {
        let secs = Duration::from_secs_f64(sizes.latency_secs);
        let r = closed_loop::run(
            target,
            &names.pairs,
            1,
            warmup,
            secs,
            &format!("{tag}w1"),
            "W=1",
        )
        .await;
        record(&mut out.latency, r, &mut out.errors, "latency");
    }
    if plan.has("reconnect") {
        match reconnect::run(
            target,
            &names.offline,
            sizes.offline_messages,
            &format!("{tag}off"),
        )
        .await
        {
            Ok(r) => out.reconnect = r,
            Err(e) => out.errors.push(format!("reconnect: {e:#}")),
        }
    }
    if !(plan.has("idle") || plan.has("fdlimit")) {
        return Ok(());
    }
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

fn record<T>(slot: &mut Option<T>, r: anyhow::Result<T>, errors: &mut Vec<String>, what: &str) {
    match r {
        Ok(v) => *slot = Some(v),
        Err(e) => {
            eprintln!("{what}: {e:#}");
            errors.push(format!("{what}: {e:#}"));
        }
    }
}

/// Confab on a fresh store: register the active accounts through the API, stop, write the idle
/// accounts' sessions and the message store, start again. Returns the server, every cookie,
/// and the last seq of the conversation whose history is paged.
async fn start_confab(plan: &Plan<'_>) -> anyhow::Result<(Server, HashMap<String, String>, u64)> {
    let db = plan.launch.work.join("confab.db");
    let launch = Launch {
        database_url: Some(format!("sqlite://{}", db.display())),
        ..plan.launch.clone()
    };
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
