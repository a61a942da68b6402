//! `GET /healthz`, `GET /readyz`, `GET /metrics` and the seed's echo socket `GET /ws/echo`.

use crate::protocol::limits::{close, MAX_FRAME_BYTES};
use crate::protocol::{ApiErrorBody, ErrorCode};
use crate::server::state::AppState;
use crate::server::writer::{WriterCounts, COMMIT_BUCKETS_MS};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters exported at `/metrics` in the Prometheus text format.
#[derive(Debug, Default)]
pub struct Metrics {
    pub messages_accepted: AtomicU64,
    pub frames_received: AtomicU64,
    pub error_frames_sent: AtomicU64,
    pub sockets_opened: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Held and refused TCP connections (see `listener`).
    pub connections: std::sync::Arc<crate::server::listener::ConnectionCounts>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 while the store answers. The bus is reported but does not make a node unready: without
/// it, messages still arrive (through `resync` and `sync`), only later.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let bus = match state.hub.bus() {
        None => serde_json::json!({ "state": "disabled" }),
        Some(bus) => serde_json::json!({
            "state": if bus.is_up() { "up" } else { "reconnecting" },
            "node": bus.node,
            "other_nodes": bus.remote.node_count(),
        }),
    };
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready", "store": "ok", "bus": bus })),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store not reachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(ApiErrorBody::new(
                    ErrorCode::Internal,
                    "the store is not reachable",
                )),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
    let mut samples = vec![
        (
            "confab_messages_accepted_total",
            "counter",
            load(&m.messages_accepted),
        ),
        (
            "confab_frames_received_total",
            "counter",
            load(&m.frames_received),
        ),
        (
            "confab_error_frames_sent_total",
            "counter",
            load(&m.error_frames_sent),
        ),
        (
            "confab_sockets_opened_total",
            "counter",
            load(&m.sockets_opened),
        ),
        (
            "confab_rate_limited_total",
            "counter",
            load(&m.rate_limited),
        ),
        (
            "confab_open_sockets",
            "gauge",
            state.hub.total_sockets() as u64,
        ),
        (
            "confab_connections_open",
            "gauge",
            m.connections.open.load(Ordering::Relaxed) as u64,
        ),
        (
            "confab_connections_refused_total",
            "counter",
            load(&m.connections.refused),
        ),
    ];
    let writer = state.writer.counts();
    samples.extend([
        (
            "confab_writer_batches_total",
            "counter",
            load(&writer.batches),
        ),
        ("confab_writer_ops_total", "counter", load(&writer.ops)),
        (
            "confab_writer_commit_microseconds_total",
            "counter",
            load(&writer.commit_micros),
        ),
        (
            "confab_writer_fan_out_microseconds_total",
            "counter",
            load(&writer.fan_out_micros),
        ),
    ]);
    samples.extend(state.store.samples());
    if let Some(bus) = state.hub.bus() {
        samples.extend([
            (
                "confab_bus_published_total",
                "counter",
                load(&bus.published),
            ),
            ("confab_bus_received_total", "counter", load(&bus.received)),
            ("confab_bus_dropped_total", "counter", load(&bus.dropped)),
            ("confab_bus_up", "gauge", u64::from(bus.is_up())),
        ]);
    }
    let mut text: String = samples
        .into_iter()
        .map(|(name, kind, value)| format!("# TYPE {name} {kind}\n{name} {value}\n"))
        .collect();
    text.push_str(&commit_histogram(writer));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The writer's commit times as a Prometheus histogram (`le` in seconds, cumulative).
fn commit_histogram(writer: &WriterCounts) -> String {
    const NAME: &str = "confab_writer_commit_seconds";
    let mut text = format!("# TYPE {NAME} histogram\n");
    let mut cumulative = 0;
    for (n, count) in writer.commit_buckets.iter().enumerate() {
        cumulative += count.load(Ordering::Relaxed);
        let le = COMMIT_BUCKETS_MS
            .get(n)
            .map_or("+Inf".to_owned(), |ms| format!("{}", *ms as f64 / 1000.0));
        text.push_str(&format!("{NAME}_bucket{{le=\"{le}\"}} {cumulative}\n"));
    }
    let sum = writer.commit_micros.load(Ordering::Relaxed) as f64 / 1e6;
    text.push_str(&format!("{NAME}_sum {sum}\n{NAME}_count {cumulative}\n"));
    text
}

/// Echoes each text frame back, as the seed's first example did.
pub async fn echo(ws: WebSocketUpgrade) -> Response {
    crate::server::ws::with_frame_limits(ws).on_upgrade(echo_loop)
}

async fn echo_loop(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(text) if text.len() > MAX_FRAME_BYTES => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: close::TOO_BIG,
                        reason: "frame too large".into(),
                    })))
                    .await;
                return;
            }
            Message::Text(text) => Message::Text(text),
            Message::Close(_) => return,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}
