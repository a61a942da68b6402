//! One customer-support conversation as plain data, seen from either side: the customer's page
//! ([`Side::Customer`]) or an agent's console ([`Side::Agent`]).
//!
//! The same rules as the direct-message model keep the view honest across reconnects and
//! resends: stored messages are keyed by `seq` (a message seen twice is kept once, always in seq
//! order), own messages waiting for `accepted` are matched to their stored copy by
//! `client_msg_id`, and after a reconnect [`SupportThread::resume_frames`] asks for everything
//! after the newest seq held (never a time window) and resends what was not acknowledged.
//! Server frames are folded in by the `apply_*` methods (in `support_thread_apply.rs`); user
//! actions (`queue_send`, `retry`, `load_older`, …) return the frames to send. Nothing here
//! touches the DOM, the clock or the socket; tests are in `support_thread_tests.rs`.

use super::thread::{HistoryState, MsgStatus, PendingMsg, Row, StoredMsg};
use crate::protocol::{ClientFrame, FromRole, Message};
use std::collections::BTreeMap;

/// How many messages one `history` request asks for.
pub const PAGE_SIZE: u32 = 50;

/// Which side of the conversation this browser is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Customer,
    Agent,
}

impl Side {
    /// The `from_role` of this side's messages.
    pub fn role(self) -> FromRole {
        match self {
            Side::Customer => FromRole::Customer,
            Side::Agent => FromRole::Agent,
        }
    }
}

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SupportStatus {
    /// Waiting for an agent.
    Open,
    Assigned,
    Resolved,
}

impl SupportStatus {
    /// The wire name; anything unknown counts as `open` (it still needs an agent).
    pub fn parse(raw: &str) -> Self {
        match raw {
            "assigned" => SupportStatus::Assigned,
            "resolved" => SupportStatus::Resolved,
            _ => SupportStatus::Open,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SupportStatus::Open => "open",
            SupportStatus::Assigned => "assigned",
            SupportStatus::Resolved => "resolved",
        }
    }
}

/// A stored support message and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportMsg {
    pub stored: StoredMsg,
    pub role: FromRole,
}

impl SupportMsg {
    pub fn from_wire(m: Message) -> Self {
        // Old servers without `from_role`: a message from "the customer" has no agent name.
        let role = m.from_role.unwrap_or(FromRole::Customer);
        SupportMsg {
            stored: StoredMsg::from_wire(m),
            role,
        }
    }
}

/// One support conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct SupportThread {
    pub side: Side,
    /// The viewer: the agent's username (agent side); unused on the customer side.
    pub me: String,
    pub conversation_id: String,
    pub customer: String,
    pub status: SupportStatus,
    pub assignee: Option<String>,
    pub messages: BTreeMap<u64, SupportMsg>,
    pub pending: Vec<PendingMsg>,
    pub history: HistoryState,
    pub has_more: bool,
    pub loading_older: bool,
    /// Highest seq known to exist.
    pub last_seq: u64,
    /// How far the other side has read (from `receipt` frames).
    pub other_read_seq: u64,
    /// Highest seq this client has reported with `read`.
    pub read_sent: u64,
    /// Who of the other side is typing, and until when (ms).
    pub typing: Option<(String, f64)>,
    /// The contiguous seq a gap-filling `sync` was last sent from (see `thread::hole_to_fill`).
    gap_asked: Option<u64>,
}

impl SupportThread {
    pub fn new(side: Side, me: &str, conversation_id: &str) -> Self {
        SupportThread {
            side,
            me: me.to_owned(),
            conversation_id: conversation_id.to_owned(),
            customer: String::new(),
            status: SupportStatus::Open,
            assignee: None,
            messages: BTreeMap::new(),
            pending: Vec::new(),
            history: HistoryState::NotLoaded,
            has_more: false,
            loading_older: false,
            last_seq: 0,
            other_read_seq: 0,
            read_sent: 0,
            typing: None,
            gap_asked: None,
        }
    }

    /// The id to name in frames: agents name the conversation, customers have only their own.
    /// A `sync` that fills a hole in the messages (a frame lost between server nodes): from the
    /// newest seq held without a gap, once per hole.
    pub fn gap_sync(&mut self) -> Option<ClientFrame> {
        let after_seq = super::thread::hole_to_fill(&self.messages, &mut self.gap_asked)?;
        Some(ClientFrame::Sync {
            peer: None,
            conversation_id: self.id_field(),
            after_seq,
        })
    }

    fn id_field(&self) -> Option<String> {
        (self.side == Side::Agent).then(|| self.conversation_id.clone())
    }

    fn is_own(&self, m: &SupportMsg) -> bool {
        m.role == self.side.role()
    }

    /// An own message as this client sent it (an agent's, not a colleague's).
    fn is_mine(&self, m: &Message) -> bool {
        m.from_role == Some(self.side.role()) && (self.side == Side::Customer || m.from == self.me)
    }

    /// Records an own message to send; returns the frame.
    pub fn queue_send(&mut self, client_msg_id: &str, body: &str) -> ClientFrame {
        self.pending.push(PendingMsg {
            client_msg_id: client_msg_id.to_owned(),
            body: body.to_owned(),
            error: None,
        });
        self.send_frame(client_msg_id, body)
    }

    fn send_frame(&self, client_msg_id: &str, body: &str) -> ClientFrame {
        ClientFrame::Send {
            to: None,
            conversation_id: self.id_field(),
            body: body.to_owned(),
            client_msg_id: client_msg_id.to_owned(),
        }
    }

    /// Sends a refused message again (same `client_msg_id`).
    pub fn retry(&mut self, client_msg_id: &str) -> Option<ClientFrame> {
        let p = self
            .pending
            .iter_mut()
            .find(|p| p.client_msg_id == client_msg_id)?;
        p.error = None;
        let body = p.body.clone();
        Some(self.send_frame(client_msg_id, &body))
    }

    pub fn discard(&mut self, client_msg_id: &str) {
        self.pending.retain(|p| p.client_msg_id != client_msg_id);
    }

    /// The server refused an own message; true if it was this conversation's.
    pub fn fail(&mut self, client_msg_id: &str, reason: &str) -> bool {
        match self
            .pending
            .iter_mut()
            .find(|p| p.client_msg_id == client_msg_id)
        {
            Some(p) => {
                p.error = Some(reason.to_owned());
                true
            }
            None => false,
        }
    }

    /// The frame that asks for the page before the oldest loaded message, unless one is on its
    /// way or there is none.
    pub fn load_older(&mut self) -> Option<ClientFrame> {
        if self.history != HistoryState::Loaded || !self.has_more || self.loading_older {
            return None;
        }
        let before = self.oldest_seq()?;
        self.loading_older = true;
        Some(ClientFrame::History {
            peer: None,
            conversation_id: self.id_field(),
            before_seq: Some(before),
            limit: Some(PAGE_SIZE),
        })
    }

    /// After a reconnect: everything after the newest seq held (`sync`), then every
    /// unacknowledged send with its original `client_msg_id` (the server answers a duplicate
    /// with the original `accepted`, so nothing is stored twice).
    pub fn resume_frames(&mut self) -> Vec<ClientFrame> {
        self.loading_older = false;
        let mut frames = Vec::new();
        if let Some(after_seq) = self.newest_seq() {
            frames.push(ClientFrame::Sync {
                peer: None,
                conversation_id: self.id_field(),
                after_seq,
            });
        }
        for p in self.pending.iter().filter(|p| p.error.is_none()) {
            frames.push(self.send_frame(&p.client_msg_id, &p.body));
        }
        frames
    }

    /// The seq to report with `read` when the other side's messages newer than the last report
    /// are on screen.
    pub fn read_target(&self) -> Option<u64> {
        let newest = self
            .messages
            .values()
            .rev()
            .find(|m| !self.is_own(m))
            .map(|m| m.stored.seq)?;
        (newest > self.read_sent).then_some(newest)
    }

    /// The `typing` frame for this conversation.
    pub fn typing_frame(&self) -> ClientFrame {
        ClientFrame::Typing {
            peer: None,
            conversation_id: self.id_field(),
        }
    }

    /// The `read` frame for `up_to_seq`.
    pub fn read_frame(&self, up_to_seq: u64) -> ClientFrame {
        ClientFrame::Read {
            peer: None,
            conversation_id: self.id_field(),
            up_to_seq,
        }
    }

    /// Records that `read` up to `seq` went out.
    pub fn mark_read_sent(&mut self, seq: u64) {
        self.read_sent = self.read_sent.max(seq);
    }

    /// Delivery state of an own stored message: read once the other side said so.
    fn status_of(&self, m: &SupportMsg) -> MsgStatus {
        if m.stored.seq <= self.other_read_seq {
            MsgStatus::Read
        } else {
            MsgStatus::Sent
        }
    }

    /// The name shown on a bubble: the agent's on the customer's page; on the console, a
    /// colleague's name on their replies (own replies and the customer's need none).
    fn author_of(&self, m: &SupportMsg) -> Option<String> {
        match (self.side, m.role) {
            (Side::Customer, FromRole::Agent) => Some(m.stored.from.clone()),
            (Side::Agent, FromRole::Agent) if m.stored.from != self.me => {
                Some(m.stored.from.clone())
            }
            _ => None,
        }
    }

    /// The rows of the message list: stored messages by seq, then pending ones in send order.
    pub fn rows(&self) -> Vec<Row> {
        let own_role = self.side.role().as_str();
        let stored = self.messages.values().map(|m| {
            let own = self.is_own(m);
            let s = &m.stored;
            Row {
                key: if own {
                    format!("c:{}", s.client_msg_id)
                } else {
                    format!("m:{}", s.id)
                },
                own,
                seq: Some(s.seq),
                body: s.body.clone(),
                sent_at: s.sent_at.clone(),
                status: own.then(|| self.status_of(m)),
                error: None,
                client_msg_id: s.client_msg_id.clone(),
                author: self.author_of(m),
                role: Some(m.role.as_str()),
            }
        });
        let pending = self.pending.iter().map(|p| p.row(Some(own_role)));
        stored.chain(pending).collect()
    }

    pub fn has_messages(&self) -> bool {
        !self.messages.is_empty() || !self.pending.is_empty()
    }

    pub fn oldest_seq(&self) -> Option<u64> {
        self.messages.keys().next().copied()
    }

    /// The seq up to which every message is held without a hole (the end of the unbroken run
    /// from the oldest loaded message): syncing from here also fills a gap a lost frame left.
    pub fn newest_seq(&self) -> Option<u64> {
        super::thread::contiguous_end(self.messages.keys().copied())
    }
}

#[path = "support_thread_apply.rs"]
mod apply;

#[cfg(test)]
#[path = "support_thread_tests.rs"]
mod tests;
