//! At the open-file limit: with the idle sockets held, more connections are tried than the
//! server has descriptors left. Clean means: the server stays up, the sockets it holds keep
//! working (a message crosses a pair opened before), no held socket is dropped, and once load
//! is released it accepts connections again. How each extra attempt ended is reported.

use crate::clients::{body, parse, sent_ns, Incoming, Target, Ws};
use crate::scenarios::idle::IdleChildren;
use crate::scenarios::{bar, done};
use crate::servers::Server;
use crate::util::{fd_count, now_ns};
use futures_util::stream::{self, StreamExt};
use futures_util::SinkExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Serialize)]
pub struct FdLimitResult {
    pub nofile: u64,
    pub server_fds_at_start: u64,
    pub attempts: usize,
    /// How the extra attempts ended: `opened`, `http_<status>`, `io_<kind>`, `timeout`, …
    pub outcomes: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    pub alive_during: bool,
    pub held_served: bool,
    /// Time for 5 messages to cross the pair held from before the limit was reached.
    pub held_served_ms: Option<f64>,
    pub probe_error: Option<String>,
    pub idle_held_before: u64,
    pub idle_held_after: u64,
    pub alive_after: bool,
    pub recovered: bool,
    /// Up, held sockets working and kept, accepting again afterwards.
    pub keeps_serving: bool,
    /// Extra attempts that got an answer other than a socket (HTTP error, reset, close).
    pub refused: u64,
    /// Extra attempts left hanging until the client gave up (3 s).
    pub hung: u64,
    /// Keeps serving, and no attempt hung.
    pub clean: bool,
    pub summary: String,
}

/// A pair of sockets opened before the extra connections: `(sender, receiver, names)`.
pub struct Probe {
    pub tx: Ws,
    pub rx: Ws,
    pub sender: String,
    pub receiver: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn run(
    target: &Target,
    server: &mut Server,
    probe: &mut Probe,
    children: &mut IdleChildren,
    idle_held: u64,
    extra_users: &[String],
    recover_user: &str,
    nofile: u64,
    margin: usize,
) -> anyhow::Result<FdLimitResult> {
    let name = target.kind.name();
    let fds = fd_count(server.pid).unwrap_or(0);
    let attempts = (nofile.saturating_sub(fds) as usize + margin).min(extra_users.len());
    let pb = bar(name, "at the fd limit: extra connections", attempts as u64);
    let per_try = Duration::from_secs(3);
    let results: Vec<(String, Option<Ws>, Option<String>)> =
        stream::iter(extra_users[..attempts].iter())
            .map(|user| {
                let pb = pb.clone();
                async move {
                    let r = attempt(target, user, per_try).await;
                    pb.inc(1);
                    r
                }
            })
            .buffer_unordered(100)
            .collect()
            .await;
    let mut outcomes = BTreeMap::new();
    let mut first_error = None;
    let mut extras = Vec::new();
    for (outcome, ws, error) in results {
        *outcomes.entry(outcome).or_insert(0) += 1;
        extras.extend(ws);
        if first_error.is_none() {
            first_error = error;
        }
    }
    pb.set_message("at the fd limit: checking held sockets");
    let alive_during = server.alive();
    let probe_result = exchange(target, probe, 5, Duration::from_secs(15)).await;
    let held_served = probe_result.is_ok();
    let held_served_ms = probe_result.as_ref().ok().copied();
    let probe_error = probe_result.err();
    let idle_held_before = idle_held;
    let idle_held_after = children.status().await.unwrap_or(0);
    drop(extras);
    pb.set_message("releasing");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alive_after = server.alive();
    let recovered = recover(target, recover_user).await;
    let keeps_serving = alive_during
        && alive_after
        && held_served
        && recovered
        && idle_held_after >= idle_held_before;
    let hung = outcomes.get("timeout").copied().unwrap_or(0);
    let refused = outcomes
        .iter()
        .filter(|(k, _)| *k != "timeout" && *k != "opened")
        .map(|(_, v)| v)
        .sum();
    let clean = keeps_serving && hung == 0;
    let summary = format!(
        "{} ({attempts} tries at {fds}/{nofile} fds: {}; held served: {}; idle kept {}/{}; alive: {}; accepts after: {})",
        if clean { "clean" } else if keeps_serving { "keeps serving, but extra connections hang" } else { "NOT serving" },
        outcomes.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "),
        held_served_ms.map_or_else(
            || format!("no ({})", probe_error.as_deref().unwrap_or("?")),
            |ms| format!("yes, {ms:.0} ms for 5 msgs")
        ),
        idle_held_after,
        idle_held_before,
        yes(alive_during && alive_after),
        yes(recovered),
    );
    done(&pb, name, &format!("fd limit: {summary}"));
    Ok(FdLimitResult {
        nofile,
        server_fds_at_start: fds,
        attempts,
        outcomes,
        first_error,
        alive_during,
        held_served,
        held_served_ms,
        probe_error,
        idle_held_before,
        idle_held_after,
        alive_after,
        recovered,
        keeps_serving,
        refused,
        hung,
        clean,
        summary,
    })
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

async fn attempt(
    target: &Target,
    user: &str,
    limit: Duration,
) -> (String, Option<Ws>, Option<String>) {
    match tokio::time::timeout(limit, target.connect(user)).await {
        Err(_) => ("timeout".into(), None, None),
        Ok(Ok(ws)) => ("opened".into(), Some(ws), None),
        Ok(Err(e)) => {
            let text = format!("{e:#}");
            let kind = if let Some(tungstenite::Error::Http(resp)) = e.downcast_ref() {
                format!("http_{}", resp.status().as_u16())
            } else if let Some(io) = e.downcast_ref::<std::io::Error>() {
                format!("io_{:?}", io.kind())
            } else if let Some(tungstenite::Error::Io(io)) = e.downcast_ref() {
                format!("io_{:?}", io.kind())
            } else if text.contains("hello") {
                "no_hello".into()
            } else {
                "ws_error".into()
            };
            (kind, None, Some(text))
        }
    }
}

/// Sends `n` messages over the probe pair; the time until all arrived, or why not.
pub async fn exchange(
    target: &Target,
    probe: &mut Probe,
    n: usize,
    limit: Duration,
) -> Result<f64, String> {
    let tag = format!("probe{}", now_ns());
    let started = Instant::now();
    let run = async {
        for i in 0..n {
            let text = target.send_frame(
                &probe.sender,
                &probe.receiver,
                &body(&tag, now_ns()),
                now_ns() + i as u64,
            );
            probe
                .tx
                .send(Message::Text(text.into()))
                .await
                .map_err(|e| format!("send: {e}"))?;
        }
        let mut got = 0;
        while got < n {
            tokio::select! {
                frame = probe.rx.next() => {
                    let frame = frame.ok_or("receiver closed")?.map_err(|e| format!("receiver: {e}"))?;
                    let Message::Text(text) = frame else { continue };
                    if let Incoming::Message { from, body } = parse(text.as_str()) {
                        if from == probe.sender.as_str() && sent_ns(&tag, &body).is_some() {
                            got += 1;
                        }
                    }
                }
                // Keep the sender's own frames (accepted, copies) flowing.
                frame = probe.tx.next() => {
                    frame.ok_or("sender closed")?.map_err(|e| format!("sender: {e}"))?;
                }
            }
        }
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    };
    match tokio::time::timeout(limit, run).await {
        Ok(r) => r,
        Err(_) => Err(format!("not all {n} messages arrived within {limit:?}")),
    }
}

/// A fresh connection succeeds once the extra load is gone.
async fn recover(target: &Target, user: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Ok(mut ws)) =
            tokio::time::timeout(Duration::from_secs(3), target.connect(user)).await
        {
            let _ = ws.close(None).await;
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}
