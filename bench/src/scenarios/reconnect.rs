//! Offline delivery: the recipient is offline while `n` messages are sent and stored (Confab
//! `accepted` with `delivered:false`, seed `info`); then it connects, and the time from the
//! start of its connection to the arrival of the n-th message is measured. The relay stores
//! nothing, so it has no figure here.

use crate::clients::{body, parse, sent_ns, Incoming, Kind, Target};
use crate::scenarios::{bar, done};
use crate::util::now_ns;
use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub store_ms: f64,
    /// Connection start → socket ready (for Confab: `hello` received).
    pub connect_ms: f64,
    pub first_ms: f64,
    pub last_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconnectResult {
    pub messages: usize,
    pub rounds: Vec<Round>,
    pub median_last_ms: f64,
    pub max_last_ms: f64,
}

pub async fn run(
    target: &Target,
    pairs: &[(String, String)],
    n: usize,
    tag: &str,
) -> anyhow::Result<Option<ReconnectResult>> {
    if target.kind == Kind::Relay {
        return Ok(None);
    }
    let server = target.kind.name();
    let pb = bar(
        server,
        "reconnect after offline messages",
        pairs.len() as u64,
    );
    let mut rounds = Vec::new();
    for (sender, receiver) in pairs {
        let round = tokio::time::timeout(
            Duration::from_secs(60),
            one(target, sender, receiver, n, tag),
        )
        .await
        .with_context(|| format!("reconnect round {sender}→{receiver} over 60 s"))??;
        rounds.push(round);
        pb.inc(1);
    }
    let mut last: Vec<f64> = rounds.iter().map(|r| r.last_ms).collect();
    last.sort_by(f64::total_cmp);
    let result = ReconnectResult {
        messages: n,
        median_last_ms: last[last.len() / 2],
        max_last_ms: last[last.len() - 1],
        rounds,
    };
    done(
        &pb,
        server,
        &format!(
            "reconnect: {n} offline messages delivered in {:.1} ms (median of {}), max {:.1} ms",
            result.median_last_ms,
            last.len(),
            result.max_last_ms
        ),
    );
    Ok(Some(result))
}

async fn one(
    target: &Target,
    sender: &str,
    receiver: &str,
    n: usize,
    tag: &str,
) -> anyhow::Result<Round> {
    let ws = target.connect(sender).await?;
    let (mut sink, mut stream) = ws.split();
    let started = Instant::now();
    let frames: Vec<String> = (0..n)
        .map(|i| target.send_frame(sender, receiver, &body(tag, now_ns()), i as u64 + 1))
        .collect();
    let writer = tokio::spawn(async move {
        for f in frames {
            sink.feed(Message::Text(f.into())).await?;
        }
        sink.flush().await?;
        Ok::<_, anyhow::Error>(sink)
    });
    let mut stored = 0;
    while stored < n {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => match parse(text.as_str()) {
                Incoming::Stored { delivered: false } => stored += 1,
                Incoming::Stored { delivered: true } => {
                    bail!("recipient {receiver} was not offline")
                }
                Incoming::Error(code) => bail!("error frame while storing: {code}"),
                _ => {}
            },
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("sender socket closed after {stored} stored"),
        }
    }
    let store_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut sink = writer.await??;
    let t0 = Instant::now();
    let mut rx = target.connect(receiver).await?;
    let connect_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (mut got, mut first_ms) = (0, 0.0);
    while got < n {
        match rx.next().await {
            Some(Ok(Message::Text(text))) => {
                if let Incoming::Message { from, body } = parse(text.as_str()) {
                    if from == sender && sent_ns(tag, &body).is_some() {
                        got += 1;
                        if got == 1 {
                            first_ms = t0.elapsed().as_secs_f64() * 1000.0;
                        }
                    }
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("recipient socket closed after {got} of {n}"),
        }
    }
    let last_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = rx.close(None).await;
        let _ = sink.close().await;
    })
    .await;
    Ok(Round {
        store_ms,
        connect_ms,
        first_ms,
        last_ms,
    })
}
