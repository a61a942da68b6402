//! Child mode `idle-clients`: opens `count` authenticated sockets and holds them, reading (so
//! pings are answered) until stdin closes. Talks to the parent in lines on stdout:
//! `progress <opened> <failed>`, `ready <opened> <failed>`, and `status <open>` when asked.

use crate::clients::{Kind, Target};
use anyhow::Context;
use futures_util::stream::{self, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(clap::Args, Debug)]
pub struct IdleArgs {
    #[arg(long)]
    kind: String,
    #[arg(long)]
    addr: SocketAddr,
    /// Lines `user<TAB>cookie` (cookie empty for the seed and the relay).
    #[arg(long)]
    users_file: PathBuf,
    /// Seconds allowed for one connection attempt.
    #[arg(long, default_value_t = 20)]
    timeout_secs: u64,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

pub async fn run(args: IdleArgs) -> anyhow::Result<()> {
    crate::util::raise_nofile();
    let text = std::fs::read_to_string(&args.users_file).context("reading the users file")?;
    let users: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(u, c)| (u.to_owned(), c.to_owned()))
        .collect();
    let cookies: HashMap<String, String> = users.iter().cloned().collect();
    let target = Target {
        kind: Kind::parse(&args.kind)?,
        addr: args.addr,
        cookies: Arc::new(cookies),
        server_pids: Vec::new(),
        rx_addr: None,
    };
    let open = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let attempted = Arc::new(AtomicU64::new(0));
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut out = tokio::io::stdout();
    let reporter = {
        let (open, failed) = (open.clone(), failed.clone());
        tokio::spawn(async move {
            let mut out = tokio::io::stdout();
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let line = format!(
                    "progress {} {}\n",
                    open.load(Ordering::Relaxed),
                    failed.load(Ordering::Relaxed)
                );
                if out.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
                let _ = out.flush().await;
            }
        })
    };
    stream::iter(users)
        .for_each_concurrent(args.concurrency, |(user, _)| {
            let (target, open, failed, attempted) = (
                target.clone(),
                open.clone(),
                failed.clone(),
                attempted.clone(),
            );
            async move {
                let n = attempted.fetch_add(1, Ordering::Relaxed);
                match tokio::time::timeout(timeout, target.connect(&user)).await {
                    Ok(Ok(mut ws)) => {
                        open.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move {
                            while let Some(Ok(_)) = ws.next().await {}
                            open.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                    other => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            let why = match other {
                                Ok(Err(e)) => format!("{e:#}"),
                                _ => "timed out".into(),
                            };
                            eprintln!("idle-clients: attempt {n} ({user}) failed: {why}");
                        }
                    }
                }
            }
        })
        .await;
    reporter.abort();
    let line = format!(
        "ready {} {}\n",
        open.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    out.write_all(line.as_bytes()).await?;
    out.flush().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match line.trim() {
            "status" => {
                let line = format!("status {}\n", open.load(Ordering::Relaxed));
                out.write_all(line.as_bytes()).await?;
                out.flush().await?;
            }
            "stop" => break,
            _ => {}
        }
    }
    Ok(())
}
