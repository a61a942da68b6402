//! The loop of one authenticated socket, written against `Sink`/`Stream` so that any transport
//! (or a test's channels) can drive it.
//!
//! Order of events: register in the hub (live frames start queueing), send `hello`, replay the
//! messages that arrived while the user was offline, then serve frames in both directions until
//! the client leaves, the session is revoked, the client idles out, or the server shuts down.
//! A message frame is never written twice to one socket: `sent` remembers the highest seq
//! written per peer, and queued copies at or below it are dropped.

use super::answers::Answers;
use super::commands::{self, Reply};
use super::greeting;
use super::outbound::{self, send, write, Ready, WRITE_TIMEOUT};
use crate::protocol::limits::{close, MAX_FRAME_BYTES};
use crate::protocol::server::{ErrorFrame, HistoryPage};
use crate::protocol::{ClientFrame, ErrorCode, ServerFrame};
use crate::server::auth::CurrentUser;
use crate::server::cluster::event::Event;
use crate::server::diagnostics::Metrics;
use crate::server::hub::{customer_key, CloseReason, Registration};
use crate::server::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use foldhash::HashMap;
use futures::{Sink, SinkExt, Stream, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sends waiting for their commit, per socket. Past this the socket stops reading (backpressure).
const MAX_IN_FLIGHT: usize = 256;

const SHUTTING_DOWN: CloseReason = CloseReason {
    code: close::GOING_AWAY,
    reason: "server shutting down",
};
const IDLE: CloseReason = CloseReason {
    code: close::GOING_AWAY,
    reason: "idle timeout",
};
const EXPIRED: CloseReason = CloseReason {
    code: close::POLICY,
    reason: "session expired",
};
const TOO_BIG: CloseReason = CloseReason {
    code: close::TOO_BIG,
    reason: "frame larger than 64 KiB",
};
const TOO_MANY: CloseReason = CloseReason {
    code: close::POLICY,
    reason: "too many sockets for this account",
};

/// Who is on the other end of a socket.
#[derive(Debug, Clone)]
pub enum Who {
    /// A signed-in account (direct messages; agents also use the support frames). Shared, so
    /// that handling a frame can hold on to it without a copy.
    User(Arc<CurrentUser>),
    /// A support customer, known only by their cookie.
    Customer(Arc<Customer>),
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub conversation_id: String,
    pub name: String,
    pub secret_hash: Arc<str>,
}

impl Who {
    /// The key of this socket's group in the hub.
    fn hub_key(&self) -> String {
        match self {
            Who::User(user) => user.username.clone(),
            Who::Customer(c) => customer_key(&c.conversation_id),
        }
    }

    fn session(&self) -> Arc<str> {
        match self {
            Who::User(user) => user.session_hash.clone(),
            Who::Customer(c) => c.secret_hash.clone(),
        }
    }

    fn is_expired(&self) -> bool {
        match self {
            Who::User(user) => user.is_expired(),
            Who::Customer(_) => false,
        }
    }
}

/// Per-socket state that commands read and update.
pub struct Connection {
    pub state: AppState,
    pub who: Who,
    /// Highest message seq written to this socket, per peer (or support conversation).
    pub sent: HashMap<String, u64>,
}

/// Why the loop ended.
pub(super) enum End {
    Close(CloseReason),
    /// The client went away (or the transport failed): nothing left to send.
    Gone,
}

/// Serves an upgraded socket on a task of its own. axum's upgrade task keeps what it captured
/// (the upgrade's settings, the handler's callback and its captures) for as long as the future
/// it awaits runs, so a socket served there carried them all its life: that task's cell was
/// 3 072 bytes, of which the loop's future is 1 824 (`-Zprint-type-sizes`). Idle RSS per socket
/// in a fresh server with 19 000 sockets (`confab-bench run --scenarios idle`): 7.9–8.0 KiB
/// before, 6.3–6.4 KiB since.
pub fn spawn(socket: WebSocket, state: AppState, who: Who) {
    let (sink, stream) = socket.split();
    tokio::spawn(run(sink, stream, state, who));
}

pub async fn run<S, R>(mut sink: S, mut stream: R, state: AppState, who: Who)
where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
{
    let key = who.hub_key();
    let registration =
        match state
            .hub
            .register(&key, who.session(), state.settings.max_sockets_per_user)
        {
            Some(r) => r,
            None => {
                let _ = sink.send(close_message(&TOO_MANY)).await;
                return;
            }
        };
    Metrics::inc(&state.metrics.sockets_opened);
    tracing::debug!(who = %key, socket = registration.id, "socket open");
    let socket_id = registration.id;
    let is_user = matches!(who, Who::User(_));
    if registration.first {
        Box::pin(here_changed(&state, &key, is_user, true)).await;
    }
    let mut conn = Connection {
        state: state.clone(),
        who: who.clone(),
        sent: HashMap::default(),
    };
    let started = match &who {
        // Boxed, like every store-reading step below: an awaited future is stored inline in this
        // task's state for the socket's whole life, and an idle socket should not pay for the
        // largest query it ever ran (this keeps the task several KiB smaller).
        Who::User(user) => Box::pin(greeting::start_user(&mut conn, user, &mut sink)).await,
        Who::Customer(customer) => {
            Box::pin(greeting::start_customer(&mut conn, customer, &mut sink)).await
        }
    };
    let end = match started {
        Ok(()) => serve(&mut conn, &mut sink, &mut stream, registration).await,
        Err(end) => end,
    };
    if let End::Close(reason) = &end {
        let _ = send(&mut sink, close_message(reason)).await;
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
    if state.hub.unregister(&key, socket_id) {
        Box::pin(here_changed(&state, &key, is_user, false)).await;
    }
    tracing::debug!(who = %key, socket = socket_id, "socket closed");
}

/// `key` got its first socket on this node (`online`) or lost its last one: the other nodes
/// hear of it, and this node's sockets too unless the user has tabs on another node (online
/// once, offline once).
async fn here_changed(state: &AppState, key: &str, is_user: bool, online: bool) {
    if let Some(bus) = state.hub.bus() {
        let key = key.to_owned();
        bus.publish(if online {
            Event::Online { key }
        } else {
            Event::Offline { key }
        });
    }
    if is_user && !state.hub.online_elsewhere(key) {
        greeting::announce_presence(state, key, online).await;
    }
}

fn close_message(reason: &CloseReason) -> Message {
    Message::Close(Some(CloseFrame {
        code: reason.code,
        reason: reason.reason.into(),
    }))
}

async fn serve<S, R>(
    conn: &mut Connection,
    sink: &mut S,
    stream: &mut R,
    registration: Registration,
) -> End
where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
{
    let Registration {
        mut rx, control, ..
    } = registration;
    let settings = conn.state.settings.clone();
    let shutdown = conn.state.shutdown.clone();
    let limiter = rate_limiter(settings.rate_per_sec, settings.rate_burst);
    let mut acks = Answers::default();
    let metrics = conn.state.metrics.clone();
    let mut ping = tokio::time::interval(Duration::from_secs(settings.ping_interval_secs.max(1)));
    ping.tick().await;
    let idle_limit = Duration::from_secs(settings.idle_timeout_secs.max(1));
    let mut last_heard = Instant::now();
    // Made once, not per turn of the loop: each of these waits registers in a list behind a
    // mutex when first polled and unregisters when dropped, and `shutdown`'s list is shared by
    // every socket of the server, so re-creating them locked it twice per turn on every socket.
    let mut closed = std::pin::pin!(control.closed());
    let mut shutting_down = std::pin::pin!(shutdown.cancelled());

    loop {
        let result = tokio::select! {
            reason = &mut closed => Err(End::Close(reason)),
            _ = &mut shutting_down => Err(End::Close(SHUTTING_DOWN)),
            // Boxed (see `run`): the writing future is large, and idle sockets should not carry it.
            Some(item) = rx.recv() => {
                Box::pin(outbound::write_ready(conn, sink, Ready::Queued(item), &mut rx, &mut acks))
                    .await
            }
            ack = acks.next(&metrics), if !acks.is_empty() => {
                Box::pin(outbound::write_ready(conn, sink, Ready::Accepted(ack), &mut rx, &mut acks))
                    .await
            }
            incoming = stream.next(), if acks.len() < MAX_IN_FLIGHT => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(message)) => {
                        Box::pin(handle_incoming(conn, sink, &limiter, &mut acks, message)).await
                    }
                    Some(Err(e)) => {
                        // tungstenite's own limit: answer as the contract says, then stop.
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                            Err(End::Close(TOO_BIG))
                        } else {
                            Err(End::Gone)
                        }
                    }
                    None => Err(End::Gone),
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > idle_limit {
                    Err(End::Close(IDLE))
                } else {
                    send(sink, Message::Ping(Default::default())).await
                }
            }
        };
        if let Err(end) = result {
            return end;
        }
    }
}

fn rate_limiter(per_sec: u32, burst: u32) -> DefaultDirectRateLimiter {
    let per_sec = NonZeroU32::new(per_sec.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(per_sec).allow_burst(burst))
}

async fn handle_incoming<S>(
    conn: &mut Connection,
    sink: &mut S,
    limiter: &DefaultDirectRateLimiter,
    acks: &mut Answers,
    message: Message,
) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    let text = match message {
        Message::Text(text) => text,
        Message::Binary(_) => {
            let e = ServerFrame::error(ErrorCode::BadFrame, "frames are JSON text", None);
            return write_error(conn, sink, e).await;
        }
        Message::Close(_) => return Err(End::Gone),
        Message::Ping(_) | Message::Pong(_) => return Ok(()),
    };
    if text.len() > MAX_FRAME_BYTES {
        tracing::info!(who = %conn.who.hub_key(), size = text.len(), "frame too large");
        return Err(End::Close(TOO_BIG));
    }
    // Sessions are re-checked on every frame: revocation arrives through the hub's control
    // (logout closes the socket at once); expiry is checked here.
    if conn.who.is_expired() {
        return Err(End::Close(EXPIRED));
    }
    Metrics::inc(&conn.state.metrics.frames_received);
    let frame = match ClientFrame::parse(text.as_str()) {
        Ok(frame) => frame,
        Err(e) => {
            let frame = ServerFrame::error(e.code, e.message, e.client_msg_id);
            return write_error(conn, sink, frame).await;
        }
    };
    if limiter.check().is_err() {
        Metrics::inc(&conn.state.metrics.rate_limited);
        tracing::info!(who = %conn.who.hub_key(), "rate limited");
        let client_msg_id = match &frame {
            ClientFrame::Send { client_msg_id, .. } => Some(client_msg_id.clone()),
            _ => None,
        };
        let e = ServerFrame::error(
            ErrorCode::RateLimited,
            "too many frames; slow down and retry",
            client_msg_id,
        );
        return write_error(conn, sink, e).await;
    }
    match commands::dispatch(conn, frame).await {
        Reply::None => Ok(()),
        Reply::Frames(frames) => {
            for frame in frames {
                match &frame {
                    ServerFrame::Message(m) => write_message(conn, sink, m).await?,
                    ServerFrame::HistoryPage(HistoryPage { messages, .. }) => {
                        // What a page shows, this socket has: queued copies are not repeated.
                        for m in messages {
                            let sent = conn.sent.entry(dedup_key(m)).or_default();
                            *sent = (*sent).max(m.seq);
                        }
                        write(sink, &frame.to_json()).await?
                    }
                    ServerFrame::Error(ErrorFrame { .. }) => write_error(conn, sink, frame).await?,
                    _ => write(sink, &frame.to_json()).await?,
                }
            }
            Ok(())
        }
        Reply::Later(ack) => {
            acks.push(ack);
            Ok(())
        }
    }
}

async fn write_error<S>(conn: &Connection, sink: &mut S, frame: ServerFrame) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    Metrics::inc(&conn.state.metrics.error_frames_sent);
    write(sink, &frame.to_json()).await
}

/// Writes a message frame, noting its seq so queued copies are not written again.
pub(super) async fn write_message<S>(
    conn: &mut Connection,
    sink: &mut S,
    message: &crate::protocol::Message,
) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    let sent = conn.sent.entry(dedup_key(message)).or_default();
    *sent = (*sent).max(message.seq);
    write(sink, &ServerFrame::Message(message.clone()).to_json()).await
}

/// The key under which a socket remembers the highest seq it wrote: the peer's name for direct
/// messages, the customer key for support (it holds a ':', so it never equals a username).
fn dedup_key(message: &crate::protocol::Message) -> String {
    match (&message.conversation_id, &message.peer) {
        (Some(id), _) => customer_key(id),
        (None, Some(peer)) => peer.clone(),
        (None, None) => String::new(),
    }
}
