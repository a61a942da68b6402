//! One client API over the three servers: connect as a user, build a `send` frame, classify
//! what arrives. The protocol details live in `confab_client`, `seed_client` and `relay`.

use crate::{confab_client, relay, seed_client};
use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Confab,
    Seed,
    Relay,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Confab => "confab",
            Kind::Seed => "seed",
            Kind::Relay => "relay",
        }
    }

    pub fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "confab" => Kind::Confab,
            "seed" => Kind::Seed,
            "relay" => Kind::Relay,
            _ => bail!("unknown server {s:?} (confab, seed, relay)"),
        })
    }
}

/// A running server and, for Confab, the session cookie of every bench user.
#[derive(Clone)]
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub cookies: Arc<HashMap<String, String>>,
    /// The server's processes this process started (for CPU accounting; a cluster has several).
    pub server_pids: Vec<u32>,
    /// Where the closed loops' receivers connect, when not `addr` (a cluster's other node).
    pub rx_addr: Option<SocketAddr>,
}

/// Small buffers: the generator holds thousands of sockets, and tungstenite's default 128 KiB
/// read buffer is zero-filled (resident) per socket.
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
}

/// Opens a WebSocket to `path` with extra headers. No `Origin` is sent (not a browser).
pub async fn open(
    addr: SocketAddr,
    path: &str,
    headers: &[(&'static str, String)],
) -> anyhow::Result<Ws> {
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, value.parse().context("header value")?);
    }
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, tcp, Some(client_config())).await?;
    Ok(ws)
}

impl Target {
    /// Connects as `user`; for Confab also waits for `hello` (the socket is then fully live).
    pub async fn connect(&self, user: &str) -> anyhow::Result<Ws> {
        self.connect_to(self.addr, user).await
    }

    /// Connects a closed loop's receiver: on `rx_addr` when set (the other node of a cluster).
    pub async fn connect_receiver(&self, user: &str) -> anyhow::Result<Ws> {
        self.connect_to(self.rx_addr.unwrap_or(self.addr), user)
            .await
    }

    async fn connect_to(&self, addr: SocketAddr, user: &str) -> anyhow::Result<Ws> {
        match self.kind {
            Kind::Confab => {
                let cookie = self
                    .cookies
                    .get(user)
                    .with_context(|| format!("no session for {user}"))?;
                let mut ws = confab_client::open(addr, cookie).await?;
                wait_for(&mut ws, Duration::from_secs(10), |f| {
                    matches!(f, Incoming::Hello)
                })
                .await
                .context("waiting for hello")?;
                Ok(ws)
            }
            Kind::Seed => seed_client::open(addr, user).await,
            Kind::Relay => relay::open(addr, user).await,
        }
    }

    /// A frame sending `body` from `from` to `to`; `id` is unique per sender.
    pub fn send_frame(&self, from: &str, to: &str, body: &str, id: u64) -> String {
        match self.kind {
            Kind::Confab => confab_client::send_frame(from, to, body, id),
            Kind::Seed => seed_client::send_frame(to, body),
            Kind::Relay => relay::send_frame(from, to, body),
        }
    }
}

/// What a frame from any of the servers means to the generator.
#[derive(Debug, PartialEq)]
pub enum Incoming<'a> {
    /// A chat message; `from` is its author (Confab also echoes one's own messages).
    Message {
        from: Cow<'a, str>,
        body: Cow<'a, str>,
    },
    /// The server took a message for an offline recipient (Confab `accepted`, seed `info`).
    Stored {
        delivered: bool,
    },
    Hello,
    HistoryPage {
        messages: usize,
    },
    Error(String),
    Other,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    delivered: Option<bool>,
    code: Option<String>,
    messages: Option<Vec<serde::de::IgnoredAny>>,
}

/// Classifies a text frame from any of the three servers.
pub fn parse(text: &str) -> Incoming<'_> {
    let Ok(f) = serde_json::from_str::<Frame>(text) else {
        return Incoming::Other;
    };
    match f.kind.as_deref() {
        // Confab's `body`, the seed's `content`.
        Some("message") => match (f.from, f.body.or(f.content)) {
            (Some(from), Some(body)) => Incoming::Message { from, body },
            _ => Incoming::Other,
        },
        Some("accepted") => Incoming::Stored {
            delivered: f.delivered.unwrap_or(false),
        },
        Some("info") => Incoming::Stored { delivered: false },
        Some("hello") => Incoming::Hello,
        Some("history_page") => Incoming::HistoryPage {
            messages: f.messages.map_or(0, |m| m.len()),
        },
        Some("error") => Incoming::Error(f.code.unwrap_or_else(|| "error".into())),
        // The relay forwards the sender's frame unchanged: `{"to","from","body"}`.
        None => match (f.from, f.body) {
            (Some(from), Some(body)) => Incoming::Message { from, body },
            _ => Incoming::Other,
        },
        Some(_) => Incoming::Other,
    }
}

/// Reads frames until `want` matches one, or the deadline passes.
pub async fn wait_for(
    ws: &mut Ws,
    deadline: Duration,
    mut want: impl FnMut(&Incoming) -> bool,
) -> anyhow::Result<()> {
    let result = tokio::time::timeout(deadline, async {
        while let Some(msg) = ws.next().await {
            if let Message::Text(text) = msg? {
                let frame = parse(text.as_str());
                if want(&frame) {
                    return Ok(());
                }
                if let Incoming::Error(code) = frame {
                    bail!("server error frame: {code}");
                }
            }
        }
        bail!("socket closed")
    })
    .await;
    result.unwrap_or_else(|_| bail!("timed out after {deadline:?}"))
}

/// A message body: run tag, send time in ns, padding to a typical chat line (~70 bytes).
pub fn body(tag: &str, sent_ns: u64) -> String {
    format!("{tag} {sent_ns} the quick brown fox jumps over the lazy dog, twice")
}

/// The send time inside a body written by [`body`] with this tag.
pub fn sent_ns(tag: &str, body: &str) -> Option<u64> {
    let mut words = body.split(' ');
    if words.next()? != tag {
        return None;
    }
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_servers_frames() {
        let confab = r#"{"type":"message","id":"x","peer":"a","from":"a","to":"b","seq":1,"body":"t1 5 x","sent_at":"","client_msg_id":"c"}"#;
        assert_eq!(
            parse(confab),
            Incoming::Message {
                from: "a".into(),
                body: "t1 5 x".into()
            }
        );
        let seed = r#"{"from":"a","content":"t1 5 x","timestamp":null,"type":"message"}"#;
        assert!(matches!(parse(seed), Incoming::Message { .. }));
        let relay = r#"{"to":"b","from":"a","body":"t1 5 x"}"#;
        assert!(matches!(parse(relay), Incoming::Message { .. }));
        assert_eq!(
            parse(r#"{"type":"info","content":"x"}"#),
            Incoming::Stored { delivered: false }
        );
        assert_eq!(
            parse(
                r#"{"type":"history_page","peer":"b","messages":[{"a":1},{"b":[2]}],"has_more":true}"#
            ),
            Incoming::HistoryPage { messages: 2 }
        );
        assert_eq!(sent_ns("t1", &body("t1", 42)), Some(42));
        assert_eq!(sent_ns("t2", &body("t1", 42)), None);
    }
}
