//! Customer-support helpers: agent accounts created through the store (there is no HTTP
//! endpoint for them), customer identities from `POST /api/support/start`, a client for the
//! customer socket `/ws/support`, and agent-console helpers on [`WsClient`].

use super::ws::{open, Closed, Ws};
use super::{Reply, TestApp, WsClient, PASSWORD, TIMEOUT};
use confab::protocol::{Role, ServerFrame};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Name of the customer's cookie.
pub const SUPPORT_COOKIE: &str = "confab_support";

/// Creates an account with `role` (and [`PASSWORD`]) directly in the server's database, as
/// `confab user add` does.
pub async fn add_account(app: &TestApp, name: &str, role: Role) {
    let store = confab::server::store::connect(&app.settings.database_url)
        .await
        .expect("open the test database");
    let hash = confab::server::auth::password::hash(PASSWORD.into())
        .await
        .expect("hash");
    store
        .create_user(name, &hash, role)
        .await
        .expect("create account");
    store.close().await;
}

/// Creates an agent account and signs it in: its session cookie.
pub async fn agent_cookie(app: &TestApp, name: &str) -> String {
    add_account(app, name, Role::Agent).await;
    app.login(name).await
}

/// Creates an agent and opens its console socket (`/ws`).
pub async fn agent(app: &TestApp, name: &str) -> (String, WsClient) {
    let cookie = agent_cookie(app, name).await;
    let ws = app.connect(&cookie).await;
    assert_eq!(ws.hello["role"], "agent", "{}", ws.hello);
    (cookie, ws)
}

/// `POST /api/support/start`, with an optional JSON body and cookie.
pub async fn start(app: &TestApp, body: Option<Value>, cookie: Option<&str>) -> Reply {
    match body {
        Some(b) => app.post_json("/api/support/start", &b, cookie).await,
        None => app.post_raw("/api/support/start", "", cookie).await,
    }
}

/// `confab_support=<secret>` from a reply, ready for a `Cookie` header.
pub fn support_cookie(reply: &Reply) -> Option<String> {
    reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{SUPPORT_COOKIE}=")))
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_string())
}

/// A customer's identity: their cookie and conversation.
#[derive(Debug, Clone)]
pub struct Customer {
    pub cookie: String,
    pub conversation_id: String,
}

/// Starts a new conversation (no cookie yet) under `name`.
pub async fn new_customer(app: &TestApp, name: &str) -> Customer {
    let reply = start(app, Some(json!({ "name": name })), None).await;
    assert_eq!(reply.status, 201, "support start: {reply:?}");
    Customer {
        cookie: support_cookie(&reply).expect("start sets the support cookie"),
        conversation_id: reply.json.as_ref().expect("JSON")["conversation_id"]
            .as_str()
            .expect("conversation_id")
            .to_string(),
    }
}

/// Starts a conversation and opens the customer's socket.
pub async fn customer(app: &TestApp, name: &str) -> (Customer, SupportClient) {
    let c = new_customer(app, name).await;
    let ws = SupportClient::connect(app, &c.cookie).await;
    assert_eq!(ws.conversation_id(), c.conversation_id);
    (c, ws)
}

/// The entry for `conversation_id` in a `queue` frame.
pub fn queue_entry<'a>(frame: &'a Value, conversation_id: &str) -> Option<&'a Value> {
    frame["conversations"]
        .as_array()?
        .iter()
        .find(|e| e["conversation_id"] == conversation_id)
}

/// Agent-console helpers for a [`WsClient`] on `/ws` (a trait, so they never clash with the
/// client's own methods).
#[allow(async_fn_in_trait)]
pub trait AgentConsole {
    /// Sends `{"type":"send","conversation_id","body","client_msg_id"}`.
    async fn support_send(&mut self, conversation_id: &str, body: &str, cmid: &str);
    /// Replies in a support conversation and returns the `accepted`.
    async fn support_reply(&mut self, conversation_id: &str, body: &str, cmid: &str) -> Value;
    /// Sends `{"type": kind, "conversation_id": id}` (open, claim, resolve).
    async fn console(&mut self, kind: &str, conversation_id: &str);
    /// Sets availability and waits until the server has handled it (a `ping` after it).
    async fn set_available(&mut self, available: bool);
    /// The first `queue` frame whose entry for `conversation_id` satisfies `pred`.
    async fn expect_queue_entry(
        &mut self,
        conversation_id: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value;
    /// The first queue entry showing `conversation_id` assigned to `agent`.
    async fn expect_assigned(&mut self, conversation_id: &str, agent: &str) -> Value;
    /// Asks for the full queue. Live one-entry updates may arrive around the answer; the
    /// answer is the largest `queue` frame received before the `pong` that follows it.
    async fn queue_snapshot(&mut self) -> Vec<Value>;
}

impl AgentConsole for WsClient {
    async fn support_send(&mut self, conversation_id: &str, body: &str, cmid: &str) {
        self.send_json(json!({"type": "send", "conversation_id": conversation_id,
            "body": body, "client_msg_id": cmid}))
            .await;
    }

    async fn support_reply(&mut self, conversation_id: &str, body: &str, cmid: &str) -> Value {
        self.support_send(conversation_id, body, cmid).await;
        self.expect_accepted(cmid).await
    }

    async fn console(&mut self, kind: &str, conversation_id: &str) {
        self.send_json(json!({"type": kind, "conversation_id": conversation_id}))
            .await;
    }

    async fn set_available(&mut self, available: bool) {
        self.send_json(json!({"type": "availability", "available": available}))
            .await;
        self.ping_pong().await;
    }

    async fn expect_queue_entry(
        &mut self,
        conversation_id: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let what = format!("queue entry {conversation_id} {what}");
        let frame = self
            .expect_where(&what, |f| {
                f["type"] == "queue" && queue_entry(f, conversation_id).is_some_and(&pred)
            })
            .await;
        queue_entry(&frame, conversation_id).unwrap().clone()
    }

    async fn expect_assigned(&mut self, conversation_id: &str, agent: &str) -> Value {
        self.expect_queue_entry(conversation_id, &format!("assigned to {agent}"), |e| {
            e["status"] == "assigned" && e["assignee"] == agent
        })
        .await
    }

    async fn queue_snapshot(&mut self) -> Vec<Value> {
        let mark = self.seen.len();
        self.send_json(json!({"type": "queue"})).await;
        self.ping_pong().await;
        self.seen[mark..]
            .iter()
            .filter(|f| f["type"] == "queue")
            .max_by_key(|f| f["conversations"].as_array().map_or(0, Vec::len))
            .map(|f| f["conversations"].as_array().unwrap().clone())
            .unwrap_or_else(|| panic!("no queue answer: {:?}", &self.seen[mark..]))
    }
}

/// A customer's socket on `/ws/support`. Like [`WsClient`], frames wait in arrival order and
/// `expect*` takes the first match.
pub struct SupportClient {
    ws: Ws,
    pending: VecDeque<Value>,
    pub seen: Vec<Value>,
    /// The first frame: the conversation's newest history page.
    pub history: Value,
    /// The second frame: the conversation's status.
    pub status: Value,
    pub closed: Option<Closed>,
}

impl SupportClient {
    pub fn url(app: &TestApp) -> String {
        format!("ws://{}/ws/support", app.addr)
    }

    /// Opens `/ws/support` and reads the `history_page` and `status` frames that come first.
    pub async fn connect(app: &TestApp, cookie: &str) -> Self {
        let ws = open(&Self::url(app), Some(cookie), None)
            .await
            .unwrap_or_else(|e| panic!("GET /ws/support upgrade failed: {e:?}"));
        let mut client = SupportClient {
            ws,
            pending: VecDeque::new(),
            seen: Vec::new(),
            history: Value::Null,
            status: Value::Null,
            closed: None,
        };
        let first = client.recv().await;
        assert_eq!(first["type"], "history_page", "first frame: {first}");
        let second = client.recv().await;
        assert_eq!(second["type"], "status", "second frame: {second}");
        assert_eq!(second["conversation_id"], first["conversation_id"]);
        client.history = first;
        client.status = second;
        client
    }

    pub fn conversation_id(&self) -> String {
        self.history["conversation_id"]
            .as_str()
            .expect("history_page.conversation_id")
            .to_string()
    }

    /// The messages of the first history page.
    pub fn history_messages(&self) -> Vec<Value> {
        self.history["messages"]
            .as_array()
            .expect("messages")
            .clone()
    }

    async fn pull(&mut self, deadline: Instant) -> Result<Value, Option<Closed>> {
        if let Some(c) = &self.closed {
            return Err(Some(c.clone()));
        }
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(None),
                Ok(next) => next,
            };
            let closed = match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"));
                    if let Err(e) = ServerFrame::from_json(text.as_str()) {
                        panic!("frame does not match the protocol types ({e}): {text}");
                    }
                    self.seen.push(value.clone());
                    return Ok(value);
                }
                Some(Ok(Message::Close(Some(f)))) => Closed::Code(u16::from(f.code)),
                Some(Ok(Message::Close(None))) => Closed::NoCode,
                Some(Ok(Message::Binary(b))) => panic!("binary frame: {b:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => Closed::Dropped(e.to_string()),
                None => Closed::Dropped("stream ended".into()),
            };
            self.closed = Some(closed.clone());
            return Err(Some(closed));
        }
    }

    fn report(&self) -> String {
        let frames: Vec<String> = self.seen.iter().map(Value::to_string).collect();
        format!(
            "customer socket; closed: {:?}; frames seen:\n  {}",
            self.closed,
            frames.join("\n  ")
        )
    }

    pub async fn recv(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        match self.pull(Instant::now() + TIMEOUT).await {
            Ok(v) => v,
            Err(c) => panic!("no frame (closed: {c:?})\n{}", self.report()),
        }
    }

    pub async fn expect_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).unwrap();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.pull(deadline).await {
                Ok(v) if pred(&v) => return v,
                Ok(v) => self.pending.push_back(v),
                Err(c) => panic!("no {what} (closed: {c:?})\n{}", self.report()),
            }
        }
    }

    pub async fn expect(&mut self, ty: &str) -> Value {
        self.expect_where(ty, |v| v["type"] == ty).await
    }

    pub async fn expect_error(&mut self, code: &str) -> Value {
        let e = self
            .expect_where(&format!("error {code}"), |v| {
                v["type"] == "error" && v["code"] == code
            })
            .await;
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        e
    }

    pub async fn expect_accepted(&mut self, cmid: &str) -> Value {
        self.expect_where(&format!("accepted {cmid}"), |v| {
            v["type"] == "accepted" && v["client_msg_id"] == cmid
        })
        .await
    }

    pub async fn expect_message(&mut self, cmid: &str) -> Value {
        self.expect_where(&format!("message {cmid}"), |v| {
            v["type"] == "message" && v["client_msg_id"] == cmid
        })
        .await
    }

    /// The first `status` frame with this status and assignee.
    pub async fn expect_status(&mut self, status: &str, assignee: Option<&str>) -> Value {
        let what = format!("status {status} {assignee:?}");
        self.expect_where(&what, |v| {
            v["type"] == "status" && v["status"] == status && v["assignee"] == json!(assignee)
        })
        .await
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .unwrap_or_else(|e| panic!("send failed: {e}"));
    }

    pub async fn send(&mut self, body: &str, cmid: &str) {
        self.send_json(json!({"type": "send", "body": body, "client_msg_id": cmid}))
            .await;
    }

    /// Sends a message and returns its `accepted`.
    pub async fn say(&mut self, body: &str, cmid: &str) -> Value {
        self.send(body, cmid).await;
        self.expect_accepted(cmid).await
    }

    pub async fn ping_pong(&mut self) {
        self.send_json(json!({"type": "ping"})).await;
        self.expect("pong").await;
    }

    pub fn saw(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.seen.iter().any(pred)
    }

    pub fn seen_where(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.seen.iter().filter(|v| pred(v)).cloned().collect()
    }

    /// Waits until the server ends the socket, keeping frames read on the way.
    pub async fn expect_closed(&mut self) -> Closed {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.pull(deadline).await {
                Ok(v) => self.pending.push_back(v),
                Err(Some(c)) => return c,
                Err(None) => panic!("socket still open\n{}", self.report()),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let deadline = Instant::now() + TIMEOUT;
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, self.ws.next()).await {}
    }
}
