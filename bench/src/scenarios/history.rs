//! `history` pages of 50 from a conversation in a store of `store_messages` messages: one
//! request at a time, at random `before_seq`, timed from send to `history_page`. Confab only.

use crate::clients::{parse, Incoming, Target, Ws};
use crate::confab_client::history_frame;
use crate::scenarios::{bar, done};
use crate::util::{histogram, ms, Rng};
use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Serialize)]
pub struct HistoryResult {
    pub store_messages: u64,
    pub conversation_messages: u64,
    pub queries: usize,
    /// Connection start → `hello` for the user owning the big conversation: the first
    /// connection after the server's restart (caches cold).
    pub hello_ms: f64,
    /// The same, median of [`HELLO_REPEATS`] connections after the paging (caches warm): one
    /// cold sample moved between 1.7 and 6.5 ms from one run to the next.
    pub hello_p50_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub short_pages: usize,
}

/// Connections timed after the paging, one after another.
pub const HELLO_REPEATS: usize = 20;

pub async fn run(
    target: &Target,
    user: &str,
    peer: &str,
    last_seq: u64,
    store_messages: u64,
    queries: usize,
) -> anyhow::Result<HistoryResult> {
    let server = target.kind.name();
    let pb = bar(server, "history pages of 50", queries as u64);
    let (mut ws, first_hello) = connect_timed(target, user).await?;
    let hello_ms = first_hello.as_secs_f64() * 1000.0;
    let mut hist = histogram();
    let mut rng = Rng::new(0x5eed);
    let mut short_pages = 0;
    let run = async {
        for _ in 0..queries {
            let before = rng.range(2, last_seq + 1);
            let sent = Instant::now();
            ws.send(Message::Text(history_frame(peer, before, 50).into()))
                .await?;
            let messages = loop {
                if let Message::Text(text) = ws.next().await.context("socket closed")?? {
                    match parse(text.as_str()) {
                        Incoming::HistoryPage { messages } => break messages,
                        Incoming::Error(code) => bail!("history error frame {code}"),
                        _ => {}
                    }
                }
            };
            hist.record(sent.elapsed().as_micros().max(1) as u64).ok();
            if messages < 50.min(before as usize - 1) {
                short_pages += 1;
            }
            pb.inc(1);
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .context("history queries over 120 s")??;
    let _ = ws.close(None).await;
    let mut hellos = histogram();
    for _ in 0..HELLO_REPEATS {
        let (mut ws, hello) = connect_timed(target, user).await.context("reconnecting")?;
        hellos.record(hello.as_micros().max(1) as u64).ok();
        let _ = ws.close(None).await;
    }
    let result = HistoryResult {
        store_messages,
        conversation_messages: last_seq,
        queries,
        hello_ms,
        hello_p50_ms: ms(&hellos, 0.5),
        p50_ms: ms(&hist, 0.5),
        p99_ms: ms(&hist, 0.99),
        max_ms: hist.max() as f64 / 1000.0,
        short_pages,
    };
    done(
        &pb,
        server,
        &format!(
            "history: p50 {:.2} ms, p99 {:.2} ms over {queries} pages ({} messages stored); hello {:.1} ms first, {:.1} ms median of {HELLO_REPEATS} after",
            result.p50_ms, result.p99_ms, store_messages, hello_ms, result.hello_p50_ms
        ),
    );
    Ok(result)
}

/// Connects as `user` and times it from the connection's start to `hello`.
async fn connect_timed(target: &Target, user: &str) -> anyhow::Result<(Ws, Duration)> {
    let t0 = Instant::now();
    let ws = target.connect(user).await?;
    Ok((ws, t0.elapsed()))
}
