//! The bare relay: the ceiling for this hardware. `GET /ws/{user}` registers the socket under
//! `user`; any text frame `{"to":…}` is forwarded unchanged to that user's socket. No storage,
//! no authentication, no checks. Frames for unknown users are dropped.

use crate::clients::{open as open_ws, Ws};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Debug)]
pub struct RelayArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3100")]
    addr: SocketAddr,
    /// Per-socket read buffer in KiB (tungstenite's default, 128, when not given).
    #[arg(long)]
    read_buffer_kib: Option<usize>,
    /// Leave Nagle's algorithm on (no TCP_NODELAY), to show what it costs.
    #[arg(long)]
    nagle: bool,
    /// Also answer the sender as Confab's protocol does: a copy of its frame and an
    /// `accepted` frame, queued together (one flush), after forwarding. Shows what that frame
    /// pattern alone costs, with no storage or checks (experiments only).
    #[arg(long)]
    answer_sender: bool,
}

type Peers = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>>;

#[derive(Deserialize)]
struct Route<'a> {
    #[serde(borrow)]
    to: Cow<'a, str>,
}

pub async fn serve(args: RelayArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    let mut config = WebSocketConfig::default();
    if let Some(kib) = args.read_buffer_kib {
        config = config.read_buffer_size(kib * 1024);
    }
    let peers: Peers = Arc::default();
    let mut refused: u64 = 0;
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                let options = Options {
                    nodelay: !args.nagle,
                    answer_sender: args.answer_sender,
                };
                tokio::spawn(handle(tcp, peers.clone(), config, options));
            }
            Err(e) => {
                // Out of file descriptors: existing sockets go on; retry shortly.
                refused += 1;
                if refused.is_power_of_two() {
                    eprintln!("relay: accept failed ({refused} so far): {e}");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Options {
    nodelay: bool,
    answer_sender: bool,
}

async fn handle(tcp: TcpStream, peers: Peers, config: WebSocketConfig, options: Options) {
    let _ = tcp.set_nodelay(options.nodelay);
    let mut path = String::new();
    // The error type is tungstenite's; nothing here ever fails.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(config)).await
    else {
        return;
    };
    let Some(user) = path
        .strip_prefix("/ws/")
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
    else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    peers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(user.clone(), tx.clone());
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // Everything already queued goes out with one flush.
            if sink.feed(first).await.is_err() {
                return;
            }
            while let Ok(next) = rx.try_recv() {
                if sink.feed(next).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let mut answered: u64 = 0;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(route) = serde_json::from_str::<Route>(text.as_str()) else {
            continue;
        };
        let target = peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(route.to.as_ref())
            .cloned();
        if let Some(target) = target {
            let _ = target.send(Message::Text(text.clone()));
        }
        if options.answer_sender {
            answered += 1;
            let _ = tx.send(Message::Text(text.clone()));
            let _ = tx.send(Message::Text(accepted(answered, &route.to).into()));
        }
    }
    let mut map = peers.lock().unwrap_or_else(|e| e.into_inner());
    if map.get(&user).is_some_and(|t| t.same_channel(&tx)) {
        map.remove(&user);
    }
    drop(map);
    writer.abort();
}

/// An `accepted` frame about as long as Confab's (ids and a time of the same lengths).
fn accepted(n: u64, peer: &str) -> String {
    format!(
        r#"{{"type":"accepted","client_msg_id":"relay-{n:012}-{n}","id":"00000000-0000-7000-8000-{n:012}","seq":{n},"delivered":true,"peer":"{peer}","sent_at":"2026-01-01T00:00:00.000Z"}}"#
    )
}

pub async fn open(addr: SocketAddr, user: &str) -> anyhow::Result<Ws> {
    open_ws(addr, &format!("/ws/{user}"), &[]).await
}

pub fn send_frame(from: &str, to: &str, body: &str) -> String {
    serde_json::json!({ "to": to, "from": from, "body": body }).to_string()
}
