//! Closed-loop pairs: each pair's sender keeps `window` messages in flight to its receiver; every
//! delivery to the receiver lets the sender send the next one. Measures delivered messages per
//! second and send→deliver latency (send time travels in the body; one clock, one process).

use crate::clients::{body, parse, sent_ns, Incoming, Target, Ws};
use crate::scenarios::{bar, done};
use crate::util::{histogram, ms, now_ns};
use crate::writer_window::WriterWindow;
use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use futures_util::SinkExt;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Serialize)]
pub struct LoopResult {
    pub pairs: usize,
    pub window: usize,
    pub seconds: f64,
    pub delivered: u64,
    pub msgs_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// CPU the server used during the measured window, in % of one core.
    pub server_cpu_pct: Option<f64>,
    /// The server's CPU time per delivered message, in µs.
    pub server_cpu_us_per_msg: Option<f64>,
    /// CPU this generator used during the window, in % of one core.
    pub generator_cpu_pct: Option<f64>,
    /// The server's CPU in the window by thread name, in % of one core (threads under 0.5 %
    /// left out): where its time goes, e.g. Confab's socket threads against its store's.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub server_threads_cpu_pct: BTreeMap<String, f64>,
    pub error_frames: u64,
    pub broken_pairs: usize,
    /// Confab only: the writer's batches and commit times in the window.
    pub writer: Option<WriterWindow>,
    pub first_problem: Option<String>,
}

struct PairOut {
    hist: Histogram<u64>,
    delivered: u64,
    errors: u64,
    problem: Option<String>,
}

pub async fn run(
    target: &Target,
    pairs: &[(String, String)],
    window: usize,
    warmup: Duration,
    measure: Duration,
    tag: &str,
    label: &str,
) -> anyhow::Result<LoopResult> {
    let server = target.kind.name();
    let pb = bar(server, &format!("{label}: connecting"), pairs.len() as u64);
    let sockets: Vec<anyhow::Result<(Ws, Ws)>> = stream::iter(pairs.iter())
        .map(|(s, r)| {
            let pb = pb.clone();
            async move {
                let rx = target
                    .connect_receiver(r)
                    .await
                    .with_context(|| format!("connecting {r}"))?;
                let tx = target
                    .connect(s)
                    .await
                    .with_context(|| format!("connecting {s}"))?;
                pb.inc(1);
                Ok((tx, rx))
            }
        })
        .buffered(16)
        .collect()
        .await;
    let sockets: Vec<(Ws, Ws)> = sockets.into_iter().collect::<anyhow::Result<_>>()?;

    let total_ms = (warmup + measure).as_millis() as u64;
    pb.set_length(total_ms / 1000);
    pb.set_position(0);
    pb.set_message(format!("{label}: running"));
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let mut tasks = Vec::new();
    for ((sender, receiver), (tx, rx)) in pairs.iter().zip(sockets) {
        let target = target.clone();
        let names = (sender.clone(), receiver.clone());
        let (tag, counter) = (tag.to_owned(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let ends = Ends {
                tx,
                rx,
                sender: &names.0,
                receiver: &names.1,
            };
            pair_loop(&target, ends, window, &tag, measure_from, end, &counter).await
        }));
    }
    let cpu = CpuWindow::start(target.server_pids.clone(), measure_from, end);
    let writer = (target.kind == crate::clients::Kind::Confab)
        .then(|| WriterWindow::start(target.addr, measure_from, end));
    let ticker = {
        let (pb, counter, label) = (pb.clone(), counter.clone(), label.to_owned());
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = counter.load(Ordering::Relaxed);
                pb.set_position(start.elapsed().as_secs());
                pb.set_message(format!("{label}: {} msgs/s", now - last));
                last = now;
            }
        })
    };
    // The hard deadline: the run, the drain, and closing.
    let joined = tokio::time::timeout(
        warmup + measure + Duration::from_secs(15),
        futures_util::future::join_all(tasks),
    )
    .await;
    ticker.abort();
    let Ok(joined) = joined else {
        pb.finish_and_clear();
        bail!("{label}: pairs did not finish within the deadline");
    };
    let mut hist = histogram();
    let (mut delivered, mut errors, mut broken, mut problem) = (0, 0, 0, None);
    for out in joined {
        let out = out.context("pair task panicked")?;
        hist.add(&out.hist).ok();
        delivered += out.delivered;
        errors += out.errors;
        if let Some(p) = out.problem {
            broken += 1;
            problem.get_or_insert(p);
        }
    }
    let secs = measure.as_secs_f64();
    let CpuUse {
        server: server_cpu,
        generator: generator_cpu,
        server_threads,
    } = cpu.await.unwrap_or_default();
    let writer = match writer {
        Some(task) => task.await.ok().flatten(),
        None => None,
    };
    let result = LoopResult {
        server_cpu_pct: server_cpu.map(|c| 100.0 * c / secs),
        server_cpu_us_per_msg: server_cpu.map(|c| c * 1e6 / delivered.max(1) as f64),
        generator_cpu_pct: generator_cpu.map(|c| 100.0 * c / secs),
        server_threads_cpu_pct: server_threads
            .into_iter()
            .map(|(name, c)| (name, 100.0 * c / secs))
            .filter(|(_, pct)| *pct >= 0.5)
            .collect(),
        pairs: pairs.len(),
        window,
        seconds: secs,
        delivered,
        msgs_per_sec: delivered as f64 / secs,
        p50_ms: ms(&hist, 0.50),
        p99_ms: ms(&hist, 0.99),
        p999_ms: ms(&hist, 0.999),
        max_ms: hist.max() as f64 / 1000.0,
        error_frames: errors,
        broken_pairs: broken,
        first_problem: problem,
        writer,
    };
    done(
        &pb,
        server,
        &format!(
            "{label}: {:.0} msgs/s, p50 {:.2} ms, p99 {:.2} ms, {} error frames, {} broken pairs; CPU server {:.0} %, generator {:.0} %",
            result.msgs_per_sec, result.p50_ms, result.p99_ms, errors, broken,
            result.server_cpu_pct.unwrap_or(f64::NAN), result.generator_cpu_pct.unwrap_or(f64::NAN)
        ),
    );
    if let Some(writer) = &result.writer {
        eprintln!("[{server}] {label} {}", writer.summary());
    }
    if !result.server_threads_cpu_pct.is_empty() {
        eprintln!(
            "[{server}] {label} server threads: {}",
            threads_summary(&result.server_threads_cpu_pct, result.msgs_per_sec)
        );
    }
    Ok(result)
}

/// "name 12 % (3.40 µs/msg), …", busiest first: % of one core over the window, and CPU
/// time per delivered message.
fn threads_summary(threads: &BTreeMap<String, f64>, msgs_per_sec: f64) -> String {
    let mut busiest: Vec<(&String, &f64)> = threads.iter().collect();
    busiest.sort_by(|a, b| b.1.total_cmp(a.1));
    busiest
        .into_iter()
        .map(|(name, pct)| {
            let us_per_msg = pct / 100.0 * 1e6 / msgs_per_sec.max(1.0);
            format!("{name} {pct:.0} % ({us_per_msg:.2} µs/msg)")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU seconds used in a window.
#[derive(Default)]
struct CpuUse {
    /// The server (all its processes).
    server: Option<f64>,
    /// This process.
    generator: Option<f64>,
    /// The server's, by thread name.
    server_threads: BTreeMap<String, f64>,
}

/// CPU seconds of the server (all its processes, and by thread) and of this process between
/// two instants.
struct CpuWindow;

impl CpuWindow {
    fn start(server: Vec<u32>, from: Instant, to: Instant) -> tokio::task::JoinHandle<CpuUse> {
        tokio::spawn(async move {
            let read = || {
                let servers: Option<Vec<f64>> =
                    server.iter().map(|p| crate::util::cpu_secs(*p)).collect();
                (
                    servers.filter(|s| !s.is_empty()).map(|s| s.iter().sum()),
                    crate::util::cpu_secs(std::process::id()),
                    crate::util::thread_cpu_secs(&server),
                )
            };
            tokio::time::sleep_until(from).await;
            let a = read();
            tokio::time::sleep_until(to).await;
            let b = read();
            let diff = |x: Option<f64>, y: Option<f64>| Some(y? - x?);
            // A thread that ended in the window is left out; one that began counts from 0.
            let server_threads =
                b.2.into_iter()
                    .map(|(name, end)| {
                        let start = a.2.get(&name).copied().unwrap_or(0.0);
                        (name, (end - start).max(0.0))
                    })
                    .collect();
            CpuUse {
                server: diff(a.0, b.0),
                generator: diff(a.1, b.1),
                server_threads,
            }
        })
    }
}

/// One pair's two sockets and names.
struct Ends<'a> {
    tx: Ws,
    rx: Ws,
    sender: &'a str,
    receiver: &'a str,
}

async fn pair_loop(
    target: &Target,
    ends: Ends<'_>,
    window: usize,
    tag: &str,
    measure_from: Instant,
    end: Instant,
    counter: &AtomicU64,
) -> PairOut {
    let mut out = PairOut {
        hist: histogram(),
        delivered: 0,
        errors: 0,
        problem: None,
    };
    let Ends {
        mut tx,
        mut rx,
        sender,
        receiver: peer,
    } = ends;
    let mut next_id: u64 = 0;
    let mut in_flight = 0usize;
    let send = |next_id: &mut u64| {
        *next_id += 1;
        let text = target.send_frame(sender, peer, &body(tag, now_ns()), *next_id);
        Message::Text(text.into())
    };
    for _ in 0..window {
        if let Err(e) = tx.send(send(&mut next_id)).await {
            out.problem = Some(format!("send failed: {e}"));
            return out;
        }
        in_flight += 1;
    }
    let drain_until = end + Duration::from_secs(3);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end), if !stopping => {
                stopping = true;
                if in_flight == 0 { break; }
            }
            _ = tokio::time::sleep_until(drain_until) => break,
            frame = rx.next() => match frame {
                Some(Ok(Message::Text(text))) => match parse(text.as_str()) {
                    Incoming::Message { from, body } if from == sender => {
                        let Some(sent) = sent_ns(tag, &body) else { continue };
                        in_flight = in_flight.saturating_sub(1);
                        let now = Instant::now();
                        if now >= measure_from && now < end {
                            let _ = out.hist.record(((now_ns() - sent) / 1000).max(1));
                            out.delivered += 1;
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        if stopping {
                            if in_flight == 0 { break; }
                        } else if let Err(e) = tx.send(send(&mut next_id)).await {
                            out.problem = Some(format!("send failed: {e}"));
                            break;
                        } else {
                            in_flight += 1;
                        }
                    }
                    Incoming::Error(code) => { out.errors += 1; out.problem.get_or_insert(format!("error frame {code}")); }
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => { out.problem = Some(format!("receiver: {e}")); break; }
                None => { out.problem = Some("receiver closed".into()); break; }
            },
            frame = tx.next() => match frame {
                // Confab sends the sender `accepted` and a copy of its own message: ignored.
                Some(Ok(Message::Text(text))) => if let Incoming::Error(code) = parse(text.as_str()) {
                    out.errors += 1;
                    out.problem.get_or_insert(format!("error frame {code}"));
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => { out.problem = Some(format!("sender: {e}")); break; }
                None => { out.problem = Some("sender closed".into()); break; }
            },
        }
    }
    let close = async {
        let _ = tx.close(None).await;
        let _ = rx.close(None).await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
    out
}
