//! A test WebSocket client. Frames from the server are kept in arrival order; `expect*` takes
//! the first frame that matches and leaves the others queued, so independent streams (an
//! `accepted` and the sender's own `message` copy, say) may arrive in either order.

use super::{TestApp, TIMEOUT};
use confab::protocol::ServerFrame;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a socket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// A close frame with this code.
    Code(u16),
    /// A close frame without a code.
    NoCode,
    /// The connection ended without a close frame (reset, EOF, protocol error).
    Dropped(String),
}

impl Closed {
    pub fn code(&self) -> Option<u16> {
        match self {
            Closed::Code(c) => Some(*c),
            _ => None,
        }
    }
}

enum Pulled {
    Frame(Value),
    Closed(Closed),
    TimedOut,
}

pub struct WsClient {
    pub ws: Ws,
    /// Frames received and not yet taken by an `expect*`, in arrival order.
    pending: VecDeque<Value>,
    /// Every frame received on this socket, for assertions and failure messages.
    pub seen: Vec<Value>,
    /// The first frame: `hello`.
    pub hello: Value,
    pub closed: Option<Closed>,
    /// WebSocket pings received from the server (answered automatically while reading).
    pub pings: usize,
}

/// Opens a socket; the error carries the HTTP refusal, if any.
pub async fn open(
    url: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<Ws, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    if let Some(c) = cookie {
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(c).expect("cookie header"));
    }
    if let Some(o) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(o).expect("origin header"));
    }
    let (ws, _response) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .expect("websocket handshake in time")?;
    Ok(ws)
}

impl WsClient {
    /// Opens `/ws` with the cookie and no Origin, and checks that the first frame is `hello`.
    pub async fn connect(app: &TestApp, cookie: &str) -> Self {
        Self::connect_with_origin(app, cookie, None).await
    }

    pub async fn connect_with_origin(app: &TestApp, cookie: &str, origin: Option<&str>) -> Self {
        let url = format!("ws://{}/ws", app.addr);
        let ws = open(&url, Some(cookie), origin)
            .await
            .unwrap_or_else(|e| panic!("GET /ws upgrade failed: {e:?}"));
        Self::from_stream(ws).await
    }

    /// Wraps an open `/ws` socket and reads its first frame, which must be `hello`.
    pub async fn from_stream(ws: Ws) -> Self {
        let mut client = WsClient {
            ws,
            pending: VecDeque::new(),
            seen: Vec::new(),
            hello: Value::Null,
            closed: None,
            pings: 0,
        };
        let first = client.recv().await;
        assert_eq!(first["type"], "hello", "the first frame is hello: {first}");
        client.hello = first;
        client
    }

    /// The username this socket belongs to, from its `hello`.
    pub fn user(&self) -> String {
        self.hello["user"].as_str().expect("hello.user").to_string()
    }

    async fn pull(&mut self, deadline: Instant) -> Pulled {
        if let Some(closed) = &self.closed {
            return Pulled::Closed(closed.clone());
        }
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Pulled::TimedOut,
                Ok(next) => next,
            };
            let closed = match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("server frame is not JSON ({e}): {text}"));
                    if let Err(e) = ServerFrame::from_json(text.as_str()) {
                        panic!("server frame does not match the protocol types ({e}): {text}");
                    }
                    self.seen.push(value.clone());
                    return Pulled::Frame(value);
                }
                Some(Ok(Message::Binary(b))) => panic!("server sent a binary frame: {b:?}"),
                Some(Ok(Message::Ping(_))) => {
                    self.pings += 1;
                    continue;
                }
                Some(Ok(Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(Some(frame)))) => Closed::Code(u16::from(frame.code)),
                Some(Ok(Message::Close(None))) => Closed::NoCode,
                Some(Err(e)) => Closed::Dropped(e.to_string()),
                None => Closed::Dropped("stream ended".into()),
            };
            self.closed = Some(closed.clone());
            return Pulled::Closed(closed);
        }
    }

    fn report(&self) -> String {
        let frames: Vec<String> = self
            .seen
            .iter()
            .map(|f| {
                let s = f.to_string();
                if s.chars().count() > 300 {
                    format!("{}…", s.chars().take(300).collect::<String>())
                } else {
                    s
                }
            })
            .collect();
        format!(
            "socket of {:?}; closed: {:?}; frames seen ({}):\n  {}",
            self.hello["user"],
            self.closed,
            frames.len(),
            frames.join("\n  ")
        )
    }

    /// The next frame, whatever its type.
    pub async fn recv(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        match self.pull(Instant::now() + TIMEOUT).await {
            Pulled::Frame(v) => v,
            Pulled::Closed(c) => panic!(
                "socket closed ({c:?}) while waiting for a frame\n{}",
                self.report()
            ),
            Pulled::TimedOut => panic!("no frame within {TIMEOUT:?}\n{}", self.report()),
        }
    }

    /// The first frame (queued or new) that `pred` accepts; other frames stay queued.
    pub async fn expect_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).expect("index in range");
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.pull(deadline).await {
                Pulled::Frame(v) if pred(&v) => return v,
                Pulled::Frame(v) => self.pending.push_back(v),
                Pulled::Closed(c) => {
                    panic!(
                        "socket closed ({c:?}) while waiting for {what}\n{}",
                        self.report()
                    )
                }
                Pulled::TimedOut => {
                    panic!("no {what} within {TIMEOUT:?}\n{}", self.report())
                }
            }
        }
    }

    /// The first frame of type `ty`.
    pub async fn expect(&mut self, ty: &str) -> Value {
        self.expect_where(ty, |v| v["type"] == ty).await
    }

    /// The next `n` frames of type `ty`, in arrival order.
    pub async fn expect_n(&mut self, ty: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.expect(ty).await);
        }
        out
    }

    /// The first `error` frame with this code.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let what = format!("error {code}");
        let error = self
            .expect_where(&what, |v| v["type"] == "error" && v["code"] == code)
            .await;
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error frames carry a message: {error}"
        );
        error
    }

    /// The first `message` frame with this `client_msg_id` (from anyone).
    pub async fn expect_message(&mut self, client_msg_id: &str) -> Value {
        let what = format!("message {client_msg_id}");
        self.expect_where(&what, |v| {
            v["type"] == "message" && v["client_msg_id"] == client_msg_id
        })
        .await
    }

    /// The `accepted` frame for this `client_msg_id`.
    pub async fn expect_accepted(&mut self, client_msg_id: &str) -> Value {
        let what = format!("accepted {client_msg_id}");
        self.expect_where(&what, |v| {
            v["type"] == "accepted" && v["client_msg_id"] == client_msg_id
        })
        .await
    }

    /// Whether any frame ever received on this socket matches.
    pub fn saw(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.seen.iter().any(pred)
    }

    /// All frames received so far that match, in arrival order.
    pub fn seen_where(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.seen.iter().filter(|v| pred(v)).cloned().collect()
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.ws
            .send(Message::text(text))
            .await
            .unwrap_or_else(|e| panic!("sending a frame failed: {e}\n{}", self.report()));
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// Sends a direct message without waiting for anything.
    pub async fn send_dm(&mut self, to: &str, body: &str, client_msg_id: &str) {
        self.send_json(
            json!({"type": "send", "to": to, "body": body, "client_msg_id": client_msg_id}),
        )
        .await;
    }

    /// Sends a direct message and returns its `accepted` frame.
    pub async fn dm(&mut self, to: &str, body: &str, client_msg_id: &str) -> Value {
        self.send_dm(to, body, client_msg_id).await;
        self.expect_accepted(client_msg_id).await
    }

    /// Proves the socket is open and answering: `ping` → `pong`.
    pub async fn ping_pong(&mut self) {
        self.send_json(json!({"type": "ping"})).await;
        self.expect("pong").await;
    }

    /// Waits until the server ends the socket (skipping any frames) and says how.
    pub async fn expect_closed(&mut self) -> Closed {
        self.expect_closed_within(TIMEOUT).await
    }

    pub async fn expect_closed_within(&mut self, within: std::time::Duration) -> Closed {
        let deadline = Instant::now() + within;
        loop {
            match self.pull(deadline).await {
                Pulled::Frame(v) => self.pending.push_back(v),
                Pulled::Closed(c) => return c,
                Pulled::TimedOut => {
                    panic!("socket still open after {within:?}\n{}", self.report())
                }
            }
        }
    }

    /// Keeps reading (and so answering server pings) for `d`; returns how the socket ended if
    /// it did. Frames read stay queued.
    pub async fn listen_for(&mut self, d: std::time::Duration) -> Option<Closed> {
        let deadline = Instant::now() + d;
        loop {
            match self.pull(deadline).await {
                Pulled::Frame(v) => self.pending.push_back(v),
                Pulled::Closed(c) => return Some(c),
                Pulled::TimedOut => return None,
            }
        }
    }

    /// Reads the rest of the connection as raw WebSocket frames, without answering anything,
    /// and returns the close code the server sent. For a client that has been silent: reading
    /// through tungstenite would first flush the pongs it owes, and writing to a socket the
    /// server already closed fails before the close frame is read.
    pub async fn raw_close_code(self) -> Closed {
        use tokio::io::AsyncReadExt;
        let MaybeTlsStream::Plain(mut tcp) = self.ws.into_inner() else {
            panic!("tests use plain TCP");
        };
        let mut buf = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            // Parse whole frames from the start of the buffer.
            let mut at = 0;
            while let Some((opcode, payload, next)) = parse_frame(&buf[at..]) {
                if opcode == 0x8 {
                    return if payload.len() >= 2 {
                        Closed::Code(u16::from_be_bytes([payload[0], payload[1]]))
                    } else {
                        Closed::NoCode
                    };
                }
                at += next;
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, tcp.read(&mut chunk)).await {
                Err(_) => panic!("no close frame within {TIMEOUT:?}"),
                Ok(Ok(0)) => return Closed::Dropped("EOF before a close frame".into()),
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Closed::Dropped(e.to_string()),
            }
        }
    }

    /// Closes the socket from the client side and waits for the server's answer.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let deadline = Instant::now() + TIMEOUT;
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, self.ws.next()).await {}
    }
}

/// One unmasked server frame at the start of `buf`: (opcode, payload, frame length).
fn parse_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let (len, header) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < header + len {
        return None;
    }
    Some((opcode, &buf[header..header + len], header + len))
}
