//! Idle authenticated sockets, opened from child processes (each under its own open-file
//! limit) and held; the server's RSS is read from /proc before and after.

use crate::clients::Target;
use crate::scenarios::{bar, done};
use crate::util::{fd_count, rss_kib};
use anyhow::{bail, Context};
use serde::Serialize;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    pub requested: usize,
    pub held: u64,
    pub failed: u64,
    pub open_secs: f64,
    pub server_fds_before: u64,
    pub server_fds_after: u64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub rss_per_socket_kib: f64,
}

/// The child processes holding the sockets, and their report lines `(child, line)`.
pub struct IdleChildren {
    procs: Vec<(Child, Option<ChildStdin>)>,
    lines: mpsc::UnboundedReceiver<(usize, String)>,
}

pub async fn open(
    target: &Target,
    server_pid: u32,
    users: &[(String, String)],
    processes: usize,
    work: &Path,
    limit: Duration,
) -> anyhow::Result<(IdleResult, IdleChildren)> {
    let server = target.kind.name();
    let rss_before_kib = rss_kib(server_pid).context("server RSS")?;
    let server_fds_before = fd_count(server_pid).unwrap_or(0);
    let pb = bar(server, "idle sockets: opening", users.len() as u64);
    let (tx, lines) = mpsc::unbounded_channel();
    let mut procs = Vec::new();
    let chunk = users.len().div_ceil(processes.max(1)).max(1);
    for (i, part) in users.chunks(chunk).enumerate() {
        let file = work.join(format!("idle-{}-{i}.txt", target.kind.name()));
        let text: String = part.iter().map(|(u, c)| format!("{u}\t{c}\n")).collect();
        std::fs::write(&file, text)?;
        let mut child = Command::new(std::env::current_exe()?)
            .arg("idle-clients")
            .args([
                "--kind",
                target.kind.name(),
                "--addr",
                &target.addr.to_string(),
            ])
            .arg("--users-file")
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting idle-clients")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let stdin = child.stdin.take();
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send((i, line)).is_err() {
                    return;
                }
            }
        });
        procs.push((child, stdin));
    }
    let mut children = IdleChildren { procs, lines };
    let n = children.procs.len();
    let (mut opened, mut failed, mut ready) = (vec![0u64; n], vec![0u64; n], vec![false; n]);
    let start = Instant::now();
    let deadline = start + limit;
    while !ready.iter().all(|r| *r) {
        let Ok(Some((i, line))) = tokio::time::timeout_at(deadline, children.lines.recv()).await
        else {
            pb.finish_and_clear();
            bail!(
                "idle clients not ready within {limit:?} ({} open)",
                opened.iter().sum::<u64>()
            );
        };
        let mut words = line.split_whitespace();
        let word = words.next().unwrap_or_default();
        let a: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let b: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        if word == "progress" || word == "ready" {
            (opened[i], failed[i]) = (a, b);
            ready[i] |= word == "ready";
        }
        pb.set_position(opened.iter().sum::<u64>() + failed.iter().sum::<u64>());
    }
    let open_secs = start.elapsed().as_secs_f64();
    pb.set_message("idle sockets: settling");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = children
        .status()
        .await
        .unwrap_or_else(|_| opened.iter().sum());
    let rss_after_kib = rss_kib(server_pid).context("server RSS")?;
    let server_fds_after = fd_count(server_pid).unwrap_or(0);
    let result = IdleResult {
        requested: users.len(),
        held,
        failed: failed.iter().sum(),
        open_secs,
        server_fds_before,
        server_fds_after,
        rss_before_kib,
        rss_after_kib,
        rss_per_socket_kib: rss_after_kib.saturating_sub(rss_before_kib) as f64
            / held.max(1) as f64,
    };
    done(
        &pb,
        server,
        &format!(
            "idle: {held}/{} held in {open_secs:.1} s, RSS {} → {} MiB, {:.1} KiB/socket, server fds {} → {}",
            users.len(),
            rss_before_kib / 1024,
            rss_after_kib / 1024,
            result.rss_per_socket_kib,
            server_fds_before,
            server_fds_after
        ),
    );
    Ok((result, children))
}

impl IdleChildren {
    /// Sockets the children still hold open.
    pub async fn status(&mut self) -> anyhow::Result<u64> {
        while self.lines.try_recv().is_ok() {}
        for (_, stdin) in &mut self.procs {
            if let Some(stdin) = stdin {
                stdin.write_all(b"status\n").await?;
                stdin.flush().await?;
            }
        }
        let mut answers = vec![None; self.procs.len()];
        let deadline = Instant::now() + Duration::from_secs(10);
        while answers.iter().any(Option::is_none) {
            let Ok(Some((i, line))) = tokio::time::timeout_at(deadline, self.lines.recv()).await
            else {
                bail!("idle clients did not answer `status`");
            };
            if let Some(n) = line.strip_prefix("status ") {
                answers[i] = n.trim().parse::<u64>().ok();
            }
        }
        Ok(answers.into_iter().flatten().sum())
    }

    /// Asks the children to close their sockets and exit; kills them after a few seconds.
    pub async fn stop(mut self) {
        for (_, stdin) in &mut self.procs {
            if let Some(mut s) = stdin.take() {
                let _ = s.write_all(b"stop\n").await;
            }
        }
        for (child, _) in &mut self.procs {
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}
