//! Writing to a socket: frames queued for it (hub fan-out, `accepted` answers) and replies.
//!
//! Frames that are ready together go out together: [`write_ready`] writes the frame that woke
//! the socket, then every other frame already waiting (up to [`MAX_COALESCED`]), and flushes
//! once — one `send` syscall instead of one per frame. After a commit a sender's socket has its
//! `accepted` and the echo of its own message ready at the same moment, and a batch that holds
//! several messages of one conversation has them all; on loopback each syscall also runs the
//! receiver's TCP stack, so this halved the kernel time per message (benchmark W=10).

use super::answers::Answers;
use super::connection::{Connection, End};
use crate::protocol::ServerFrame;
use crate::server::hub::{Json, MessageOut, Outbound};
use axum::extract::ws::Message;
use futures::{Sink, SinkExt};
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames written before one flush at most, so a flood cannot keep a socket from reading.
pub(super) const MAX_COALESCED: usize = 64;

/// A socket gone this long without taking a frame is dropped.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The frame that woke the socket's loop.
pub(super) enum Ready {
    Queued(Outbound),
    Accepted(ServerFrame),
}

/// Writes `first` and every frame already waiting behind it, then flushes once.
pub(super) async fn write_ready<S>(
    conn: &mut Connection,
    sink: &mut S,
    first: Ready,
    rx: &mut mpsc::Receiver<Outbound>,
    acks: &mut Answers,
) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    let mut next = Some(first);
    let mut written = 0;
    while let Some(ready) = next.take() {
        match ready {
            Ready::Queued(item) => feed_outbound(conn, sink, item).await?,
            Ready::Accepted(frame) => feed(sink, frame.to_json().into()).await?,
        }
        written += 1;
        if written == MAX_COALESCED {
            break;
        }
        next = match rx.try_recv() {
            Ok(item) => Some(Ready::Queued(item)),
            // Only an answer whose commit is already done.
            Err(_) => acks.ready(&conn.state.metrics).map(Ready::Accepted),
        };
    }
    flush(sink).await
}

/// Queues one fanned-out frame, unless this socket already has that message (a seq it wrote).
async fn feed_outbound<S>(conn: &mut Connection, sink: &mut S, item: Outbound) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    match item {
        Outbound::Frame(json) => feed(sink, Json::clone(&json)).await,
        Outbound::Message(message) => {
            let MessageOut { peer, seq, json } = &*message;
            let seq = *seq;
            match conn.sent.get_mut(&**peer) {
                Some(sent) if seq <= *sent => return Ok(()),
                Some(sent) => *sent = seq,
                None => {
                    conn.sent.insert(peer.to_string(), seq);
                }
            }
            feed(sink, json.clone()).await
        }
    }
}

/// Writes one frame and flushes it.
pub(super) async fn write<S>(sink: &mut S, json: &str) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    send(sink, Message::Text(json.into())).await
}

/// Sends one message and flushes it.
pub(super) async fn send<S>(sink: &mut S, message: Message) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    within_timeout(sink.send(message)).await
}

/// Queues one frame in the socket's write buffer, without flushing.
async fn feed<S>(sink: &mut S, json: Json) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    within_timeout(sink.feed(Message::Text(json))).await
}

async fn flush<S>(sink: &mut S) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    within_timeout(sink.flush()).await
}

async fn within_timeout<E>(
    io: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), End> {
    let mut io = std::pin::pin!(io);
    // Nearly every write is done at once (into the socket's buffer): it needs no timer, whose
    // deadline alone costs a clock read and a look-up of the runtime for every frame.
    let done = match futures::poll!(io.as_mut()) {
        std::task::Poll::Ready(done) => Ok(done),
        std::task::Poll::Pending => tokio::time::timeout(WRITE_TIMEOUT, io).await,
    };
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(End::Gone),
    }
}
