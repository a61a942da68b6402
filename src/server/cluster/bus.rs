//! The Redis connection: one task publishes this node's events (pipelined), one subscribes to
//! everyone's. Both reconnect by themselves with backoff. The bus is best-effort: an event that
//! cannot be published is dropped and remembered, and once the bus works again every node is
//! told to resync its sockets from the store, which is the source of truth.

use super::event::{Envelope, Event};
use super::presence::RemotePresence;
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events waiting to be published; past this, events are dropped (and a resync follows).
const PUBLISH_QUEUE: usize = 65_536;
/// Most events sent in one pipeline.
const PUBLISH_BATCH: usize = 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A publish that takes longer means Redis hangs: reconnect.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// This node's end of the bus, shared by the hub (publishing) and the cluster tasks.
pub struct Bus {
    pub node: String,
    pub channel: String,
    pub remote: RemotePresence,
    tx: mpsc::Sender<Vec<u8>>,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    /// Some of this node's events never reached Redis.
    lost: AtomicBool,
    pub published: AtomicU64,
    pub received: AtomicU64,
    pub dropped: AtomicU64,
}

/// What the subscriber hands to the node: an event from another node, or the news that the
/// subscription was re-established after a failure (events may have been missed meanwhile).
pub enum Incoming {
    Event(Envelope),
    Reconnected,
}

impl Bus {
    pub fn new(
        node: String,
        channel: String,
        ttl: Duration,
    ) -> (Arc<Self>, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let bus = Arc::new(Self {
            node,
            channel,
            remote: RemotePresence::new(ttl),
            tx,
            publisher_up: AtomicBool::new(false),
            subscriber_up: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        (bus, rx)
    }

    /// Both directions work: frames for other nodes get there.
    pub fn is_up(&self) -> bool {
        self.publisher_up.load(Ordering::Relaxed) && self.subscriber_up.load(Ordering::Relaxed)
    }

    /// Queues an event for the other nodes; never waits.
    pub fn publish(&self, event: Event) {
        if !self.publisher_up.load(Ordering::Relaxed) {
            self.note_lost();
            return;
        }
        let envelope = Envelope {
            node: self.node.clone(),
            event,
        };
        let payload = match serde_json::to_vec(&envelope) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a bus event");
                return;
            }
        };
        if self.tx.try_send(payload).is_err() {
            self.note_lost();
        }
    }

    fn note_lost(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.lost.store(true, Ordering::Relaxed);
    }

    /// Publishes queued events until `stop`; reconnects after failures. After events were lost
    /// it first publishes [`Event::Resync`].
    pub async fn run_publisher(
        self: Arc<Self>,
        client: redis::Client,
        mut rx: mpsc::Receiver<Vec<u8>>,
        stop: CancellationToken,
    ) {
        let mut backoff = Backoff::default();
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(PUBLISH_BATCH);
        loop {
            let attempt = client.get_multiplexed_async_connection();
            let mut conn = match connect("publish", attempt, &stop).await {
                Connect::Ready(conn) => conn,
                Connect::Stopped => return,
                Connect::Failed => {
                    backoff.wait(&stop).await;
                    continue;
                }
            };
            backoff.reset();
            self.publisher_up.store(true, Ordering::Relaxed);
            tracing::info!("bus: publishing");
            loop {
                if self.lost.swap(false, Ordering::Relaxed) {
                    self.publish(Event::Resync);
                }
                batch.clear();
                let n = tokio::select! {
                    _ = stop.cancelled() => {
                        // Flush what is queued (e.g. `Leaving`), briefly, then stop.
                        while let Ok(payload) = rx.try_recv() {
                            batch.push(payload);
                        }
                        if !batch.is_empty() {
                            let _ = tokio::time::timeout(CONNECT_TIMEOUT, self.send(&mut conn, &batch)).await;
                        }
                        return;
                    }
                    n = rx.recv_many(&mut batch, PUBLISH_BATCH) => n,
                };
                if n == 0 {
                    return;
                }
                let sent = tokio::time::timeout(PUBLISH_TIMEOUT, self.send(&mut conn, &batch))
                    .await
                    .unwrap_or_else(|_| {
                        Err(redis::RedisError::from(std::io::Error::from(
                            std::io::ErrorKind::TimedOut,
                        )))
                    });
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "bus: publish failed; reconnecting");
                    self.publisher_up.store(false, Ordering::Relaxed);
                    self.dropped.fetch_add(n as u64, Ordering::Relaxed);
                    self.lost.store(true, Ordering::Relaxed);
                    break;
                }
                self.published.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }

    async fn send(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        batch: &[Vec<u8>],
    ) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for payload in batch {
            pipe.cmd("PUBLISH")
                .arg(&self.channel)
                .arg(payload.as_slice())
                .ignore();
        }
        pipe.query_async::<()>(conn).await
    }

    /// Subscribes and forwards other nodes' events to `out` until `stop`; resubscribes after
    /// failures and then says [`Incoming::Reconnected`].
    pub async fn run_subscriber(
        self: Arc<Self>,
        client: redis::Client,
        out: mpsc::UnboundedSender<Incoming>,
        stop: CancellationToken,
    ) {
        let mut backoff = Backoff::default();
        let mut failed_before = false;
        loop {
            let attempt = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&self.channel).await?;
                Ok(pubsub)
            };
            let pubsub = match connect("subscribe", attempt, &stop).await {
                Connect::Ready(pubsub) => pubsub,
                Connect::Stopped => return,
                Connect::Failed => {
                    failed_before = true;
                    backoff.wait(&stop).await;
                    continue;
                }
            };
            backoff.reset();
            self.subscriber_up.store(true, Ordering::Relaxed);
            tracing::info!(channel = %self.channel, "bus: subscribed");
            if failed_before && out.send(Incoming::Reconnected).is_err() {
                return;
            }
            let mut messages = pubsub.into_on_message();
            // Every node (this one too) publishes a heartbeat every third of the time to live,
            // and Redis echoes ours back: silence for a whole time to live means the
            // subscription is dead even if the TCP connection never said so.
            let silence = self.remote.ttl();
            loop {
                let message = tokio::select! {
                    _ = stop.cancelled() => return,
                    m = tokio::time::timeout(silence, messages.next()) => m,
                };
                let Ok(Some(message)) = message else { break };
                let envelope: Envelope = match serde_json::from_slice(message.get_payload_bytes()) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "bus: unreadable event skipped");
                        continue;
                    }
                };
                if envelope.node == self.node {
                    continue;
                }
                self.received.fetch_add(1, Ordering::Relaxed);
                if out.send(Incoming::Event(envelope)).is_err() {
                    return;
                }
            }
            tracing::warn!("bus: subscription lost; reconnecting");
            self.subscriber_up.store(false, Ordering::Relaxed);
            failed_before = true;
            backoff.wait(&stop).await;
        }
    }
}

enum Connect<T> {
    Ready(T),
    /// Logged; wait and try again.
    Failed,
    Stopped,
}

/// One connection attempt, bounded by [`CONNECT_TIMEOUT`] and by `stop`.
async fn connect<T>(
    what: &str,
    attempt: impl std::future::Future<Output = redis::RedisResult<T>>,
    stop: &CancellationToken,
) -> Connect<T> {
    tokio::select! {
        _ = stop.cancelled() => Connect::Stopped,
        result = tokio::time::timeout(CONNECT_TIMEOUT, attempt) => match result {
            Ok(Ok(ready)) => Connect::Ready(ready),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "bus: cannot connect to {what}");
                Connect::Failed
            }
            Err(_) => {
                tracing::warn!("bus: connecting to {what} timed out");
                Connect::Failed
            }
        },
    }
}

/// Exponential backoff from 50 ms to [`MAX_BACKOFF`].
#[derive(Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    async fn wait(&mut self, stop: &CancellationToken) {
        let delay = self.next.unwrap_or(Duration::from_millis(50));
        self.next = Some((delay * 2).min(MAX_BACKOFF));
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(delay) => {}
        }
    }

    fn reset(&mut self) {
        self.next = None;
    }
}
