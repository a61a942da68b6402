//! Who is connected: each user's live sockets, each with a bounded outbound queue.
//!
//! Pushing never blocks and never grows memory without bound: a socket whose queue is full is a
//! slow consumer; it is told to close (code 1013) and dropped from the hub.
//!
//! With a bus (several nodes), every `send_*` also publishes the item for the other nodes, whose
//! bus task hands it to their own sockets with the `deliver_*` methods; presence questions
//! (`is_online`, the agents) then count the other nodes' sockets too.

use crate::server::cluster::bus::Bus;
use crate::server::cluster::event::{Event, Item, Mark};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

/// A frame's JSON text, shared: every socket it goes to writes the same bytes, without a copy.
pub type Json = axum::extract::ws::Utf8Bytes;

/// One item for a socket to write. Each variant holds an `Arc`, so the enum stays two words:
/// every socket's queue allocates its first 32 slots when it opens, and each word more would
/// cost every idle socket 256 bytes.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Any frame, already JSON (see [`Outbound::frame`]).
    Frame(Arc<Json>),
    /// A `message` frame, with what the socket needs to drop one it has already sent.
    Message(Arc<MessageOut>),
}

#[derive(Debug)]
pub struct MessageOut {
    /// The conversation's key on the socket (the peer, or the customer key for support).
    pub peer: Arc<str>,
    pub seq: u64,
    pub json: Json,
}

impl Outbound {
    /// Any frame.
    pub fn frame(json: impl Into<Json>) -> Self {
        Outbound::Frame(Arc::new(json.into()))
    }

    pub fn message(peer: Arc<str>, seq: u64, json: Json) -> Self {
        Outbound::Message(Arc::new(MessageOut { peer, seq, json }))
    }
}

/// Why the server closes a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

/// Lets other tasks ask a socket to close (logout, slow consumer, shutdown).
#[derive(Debug, Default)]
pub struct SocketControl {
    reason: Mutex<Option<CloseReason>>,
    notify: Notify,
}

impl SocketControl {
    /// Asks the socket to close; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.notify.notify_one();
    }

    /// Closing sockets stay registered until their task ends, but receive nothing more.
    pub fn is_closing(&self) -> bool {
        self.close_reason().is_some()
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resolves once [`close`](Self::close) has been called.
    pub async fn closed(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.close_reason() {
                return reason;
            }
            self.notify.notified().await;
        }
    }
}

struct SocketEntry {
    id: u64,
    session: Arc<str>,
    tx: mpsc::Sender<Outbound>,
    control: Arc<SocketControl>,
}

/// A registered socket's end of the hub.
pub struct Registration {
    pub id: u64,
    pub rx: mpsc::Receiver<Outbound>,
    pub control: Arc<SocketControl>,
    /// This is the user's only socket: they just came online.
    pub first: bool,
}

pub const SLOW_CONSUMER: CloseReason = CloseReason {
    code: crate::protocol::limits::close::TRY_AGAIN_LATER,
    reason: "slow consumer: too many unread frames",
};

pub struct Hub {
    users: Mutex<HashMap<String, Vec<SocketEntry>>>,
    /// Online support agents and whether they take automatic assignments.
    agents: Mutex<HashMap<String, bool>>,
    next_id: AtomicU64,
    queue_capacity: usize,
    bus: Option<Arc<Bus>>,
}

/// The hub key of a support customer's sockets. Usernames cannot contain ':', so these never
/// collide with a user.
pub fn customer_key(conversation_id: &str) -> String {
    format!("support:{conversation_id}")
}

impl Hub {
    pub fn new(queue_capacity: usize) -> Self {
        Self {
            users: Mutex::new(HashMap::new()),
            agents: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            queue_capacity: queue_capacity.max(1),
            bus: None,
        }
    }

    /// A hub whose sends also reach the other nodes through `bus`.
    pub fn with_bus(queue_capacity: usize, bus: Arc<Bus>) -> Self {
        Self {
            bus: Some(bus),
            ..Self::new(queue_capacity)
        }
    }

    pub fn bus(&self) -> Option<&Arc<Bus>> {
        self.bus.as_ref()
    }

    fn publish(&self, event: impl FnOnce() -> Event) {
        if let Some(bus) = &self.bus {
            bus.publish(event());
        }
    }

    /// Whether another node holds a socket of `key` that a frame sent now would reach.
    pub fn reachable_elsewhere(&self, key: &str) -> bool {
        self.bus
            .as_ref()
            .is_some_and(|bus| bus.is_up() && bus.remote.has(key))
    }

    /// Whether another node holds a socket of `key` (as far as this node knows).
    pub fn online_elsewhere(&self, key: &str) -> bool {
        self.bus.as_ref().is_some_and(|bus| bus.remote.has(key))
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<SocketEntry>>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is a
        // single push/retain), so a poisoned lock is safe to keep using.
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a socket for `user`, unless they already hold `max` sockets.
    pub fn register(&self, user: &str, session: Arc<str>, max: usize) -> Option<Registration> {
        let (tx, rx) = mpsc::channel(self.queue_capacity);
        let control = Arc::new(SocketControl::default());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut users = self.users();
        let sockets = users.entry(user.to_owned()).or_default();
        if sockets.len() >= max {
            return None;
        }
        let first = sockets.is_empty();
        // Most users hold one socket: no room for four up front.
        sockets.reserve_exact(1);
        sockets.push(SocketEntry {
            id,
            session,
            tx,
            control: control.clone(),
        });
        Some(Registration {
            id,
            rx,
            control,
            first,
        })
    }

    /// Removes a socket; true when it was the user's last (they went offline).
    pub fn unregister(&self, user: &str, id: u64) -> bool {
        let mut users = self.users();
        let Some(sockets) = users.get_mut(user) else {
            return false;
        };
        let before = sockets.len();
        sockets.retain(|s| s.id != id);
        let removed = sockets.len() < before;
        if sockets.is_empty() {
            users.remove(user);
            drop(users);
            self.agents().remove(user);
            return removed;
        }
        false
    }

    fn agents(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.agents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records whether `agent` takes automatic assignments; this also counts them as an online
    /// agent until their last socket closes.
    pub fn set_available(&self, agent: &str, available: bool) {
        self.agents().insert(agent.to_owned(), available);
        self.publish(|| Event::Availability {
            agent: agent.to_owned(),
            available,
        });
    }

    /// Another node says `agent` changed availability: their sockets here follow, if any.
    pub fn follow_available(&self, agent: &str, available: bool) {
        if let Some(flag) = self.agents().get_mut(agent) {
            *flag = available;
        }
    }

    /// This node's online agents and their availability, for presence snapshots.
    pub fn local_agents(&self) -> Vec<(String, bool)> {
        self.agents()
            .iter()
            .map(|(name, available)| (name.clone(), *available))
            .collect()
    }

    /// Keys with a socket on this node, for presence snapshots.
    pub fn local_keys(&self) -> Vec<String> {
        self.users().keys().cloned().collect()
    }

    pub fn is_available(&self, agent: &str) -> bool {
        self.agents().get(agent).copied().unwrap_or(false)
    }

    /// Agents with at least one socket on any node.
    pub fn agents_online(&self) -> usize {
        let mut all = self.agents().clone();
        if let Some(bus) = &self.bus {
            all.extend(bus.remote.agents());
        }
        all.len()
    }

    /// Whether an agent on another node would get a frame sent now.
    pub fn agents_reachable_elsewhere(&self) -> bool {
        self.bus
            .as_ref()
            .is_some_and(|bus| bus.is_up() && bus.remote.has_agents())
    }

    /// Online agents (on any node) who take automatic assignments.
    pub fn available_agents(&self) -> Vec<String> {
        let mut all: HashMap<String, bool> = self
            .bus
            .as_ref()
            .map(|bus| bus.remote.agents())
            .unwrap_or_default();
        for (name, available) in self.agents().iter() {
            *all.entry(name.clone()).or_default() |= *available;
        }
        let mut agents: Vec<String> = all
            .into_iter()
            .filter(|(_, available)| *available)
            .map(|(name, _)| name)
            .collect();
        agents.sort();
        agents
    }

    /// Queues `item` on every online agent's sockets, here and on other nodes; returns how many
    /// sockets here took it.
    pub fn send_to_agents(&self, item: &Outbound) -> usize {
        self.publish(|| Event::ToAgents { item: item.into() });
        self.deliver_to_agents(item)
    }

    /// Queues `item` on this node's agents' sockets only.
    pub fn deliver_to_agents(&self, item: &Outbound) -> usize {
        let agents: Vec<String> = self.agents().keys().cloned().collect();
        agents.iter().map(|a| self.deliver(a, item)).sum()
    }

    /// Live sockets of `user` (not counting ones that are closing).
    pub fn socket_count(&self, user: &str) -> usize {
        self.users().get(user).map_or(0, |sockets| {
            sockets.iter().filter(|s| !s.control.is_closing()).count()
        })
    }

    /// Whether `user` has a socket on any node.
    pub fn is_online(&self, user: &str) -> bool {
        self.socket_count(user) > 0 || self.online_elsewhere(user)
    }

    /// Whether `user` has a live socket on this node.
    pub fn is_online_here(&self, user: &str) -> bool {
        self.socket_count(user) > 0
    }

    /// Total sockets held, for metrics.
    pub fn total_sockets(&self) -> usize {
        self.users().values().map(Vec::len).sum()
    }

    /// Queues `item` on every socket of `user`, here and on other nodes; returns how many
    /// sockets here took it.
    pub fn send_to_user(&self, user: &str, item: &Outbound) -> usize {
        self.send_to_key(user, item, || None)
    }

    /// Like [`send_to_user`](Self::send_to_user); a node that hands the item to one of the
    /// user's sockets also records `mark` (a delivered watermark).
    /// `mark` is only built when there is a bus to carry it.
    pub fn send_to_user_marking(
        &self,
        user: &str,
        item: &Outbound,
        mark: impl FnOnce() -> Mark,
    ) -> usize {
        self.send_to_key(user, item, || Some(mark()))
    }

    fn send_to_key(
        &self,
        key: &str,
        item: &Outbound,
        mark: impl FnOnce() -> Option<Mark>,
    ) -> usize {
        self.publish(|| Event::ToKey {
            key: key.to_owned(),
            item: Item::from(item),
            mark: mark(),
        });
        self.deliver(key, item)
    }

    /// Queues `item` on every socket of `user` on this node; returns how many took it. A socket
    /// whose queue is full is told to close; it stays registered (so its departure is announced
    /// like any other) until its task ends, and gets nothing more.
    pub fn deliver(&self, user: &str, item: &Outbound) -> usize {
        let users = self.users();
        let Some(sockets) = users.get(user) else {
            return 0;
        };
        let mut taken = 0;
        for socket in sockets.iter().filter(|s| !s.control.is_closing()) {
            match socket.tx.try_send(item.clone()) {
                Ok(()) => taken += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(user, socket = socket.id, "closing slow consumer");
                    socket.control.close(SLOW_CONSUMER);
                }
                // The socket task has ended and is about to unregister itself.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        taken
    }

    /// Queues `item` on every socket of this node (e.g. a `resync`).
    pub fn deliver_to_all(&self, item: &Outbound) {
        for key in self.local_keys() {
            self.deliver(&key, item);
        }
    }

    /// Closes every socket opened with this session (logout), on every node.
    pub fn close_session(&self, session: &str, reason: CloseReason) {
        self.publish(|| Event::CloseSession {
            session: session.to_owned(),
        });
        self.close_session_here(session, reason);
    }

    /// Closes this node's sockets opened with this session.
    pub fn close_session_here(&self, session: &str, reason: CloseReason) {
        for sockets in self.users().values() {
            for socket in sockets.iter().filter(|s| &*s.session == session) {
                socket.control.close(reason.clone());
            }
        }
    }

    /// Closes every socket (shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        for sockets in self.users().values() {
            for socket in sockets {
                socket.control.close(reason.clone());
            }
        }
    }
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
