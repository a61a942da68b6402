//! The browser's chat state as plain data: conversations, their messages, sends still waiting for
//! their `accepted`, receipts, presence, typing and notices.
//!
//! Server frames are folded in by the `apply_*` methods (in `model_apply.rs`); user actions
//! (`open`, `queue_send`, `retry`, …) return the frames to send. Nothing in this module touches the
//! DOM, the clock or the socket (times are passed in), so it compiles everywhere and is
//! unit-tested natively (see `model_tests.rs`). The invariants that keep the view honest after
//! reconnects and resends: stored messages are keyed by `seq` (so a message seen twice is kept
//! once and the list is always in seq order), and an own pending message is matched to its stored
//! copy by `client_msg_id`.

use super::notice::NoticeBoard;
use super::sort::sorted_by;
use super::thread::{hole_to_fill, Conversation, HistoryState, ListItem, PendingMsg, StoredMsg};
use crate::protocol::ClientFrame;
use std::collections::HashMap;

/// How many messages one `history` request asks for.
pub const PAGE_SIZE: u32 = 50;

/// Everything the signed-in app knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub me: String,
    pub conversations: HashMap<String, Conversation>,
    /// Peer → time (ms) until which "peer is typing…" shows.
    pub typing: HashMap<String, f64>,
    pub notices: NoticeBoard,
    /// `accepted` seen before its `message`: client_msg_id → delivered.
    hints: HashMap<String, bool>,
    presence: HashMap<String, bool>,
    tick: u64,
}

impl Model {
    pub fn new(me: &str) -> Self {
        Model {
            me: me.to_owned(),
            ..Model::default()
        }
    }

    pub fn conv(&self, peer: &str) -> Option<&Conversation> {
        self.conversations.get(peer)
    }

    fn conv_mut(&mut self, peer: &str) -> &mut Conversation {
        let online = self.presence.get(peer).copied().unwrap_or(false);
        self.conversations
            .entry(peer.to_owned())
            .or_insert_with(|| Conversation::new(peer, online))
    }

    fn bump(&mut self, peer: &str) {
        self.tick += 1;
        let tick = self.tick;
        self.conv_mut(peer).rank = tick;
    }

    /// The conversation list, most recent activity first.
    pub fn list(&self, now: f64) -> Vec<ListItem> {
        let convs: Vec<&Conversation> = self.conversations.values().collect();
        sorted_by(convs, |a, b| {
            b.rank.cmp(&a.rank).then_with(|| a.peer.cmp(&b.peer))
        })
        .into_iter()
        .map(|c| ListItem {
            peer: c.peer.clone(),
            online: c.online,
            unread: c.unread,
            preview: c.preview(&self.me),
            typing: self.is_typing(&c.peer, now),
        })
        .collect()
    }

    pub fn is_typing(&self, peer: &str, now: f64) -> bool {
        self.typing.get(peer).is_some_and(|until| *until > now)
    }

    pub fn total_unread(&self) -> u64 {
        self.conversations.values().map(|c| c.unread).sum()
    }

    /// Makes sure a conversation exists (opening one with a new peer). Returns the `history`
    /// frame to send when its newest page has not been requested yet.
    pub fn open(&mut self, peer: &str) -> Option<ClientFrame> {
        let is_new = !self.conversations.contains_key(peer);
        if is_new {
            self.bump(peer);
        }
        let conv = self.conv_mut(peer);
        if conv.history != HistoryState::NotLoaded {
            return None;
        }
        conv.history = HistoryState::Loading;
        Some(history_frame(peer, None))
    }

    /// Asks for the page before the oldest loaded message, unless one is on its way or there is
    /// none.
    pub fn load_older(&mut self, peer: &str) -> Option<ClientFrame> {
        let conv = self.conversations.get_mut(peer)?;
        if conv.history != HistoryState::Loaded || !conv.has_more || conv.loading_older {
            return None;
        }
        let before = conv.oldest_seq()?;
        conv.loading_older = true;
        Some(history_frame(peer, Some(before)))
    }

    /// Records an own message to send; returns the frame.
    pub fn queue_send(&mut self, peer: &str, client_msg_id: &str, body: &str) -> ClientFrame {
        self.bump(peer);
        self.conv_mut(peer).pending.push(PendingMsg {
            client_msg_id: client_msg_id.to_owned(),
            body: body.to_owned(),
            error: None,
        });
        send_frame(peer, client_msg_id, body)
    }

    /// Sends a refused message again (same `client_msg_id`).
    pub fn retry(&mut self, peer: &str, client_msg_id: &str) -> Option<ClientFrame> {
        let conv = self.conversations.get_mut(peer)?;
        let p = conv
            .pending
            .iter_mut()
            .find(|p| p.client_msg_id == client_msg_id)?;
        p.error = None;
        Some(send_frame(peer, client_msg_id, &p.body))
    }

    /// Drops a refused message.
    pub fn discard(&mut self, peer: &str, client_msg_id: &str) {
        if let Some(conv) = self.conversations.get_mut(peer) {
            conv.pending.retain(|p| p.client_msg_id != client_msg_id);
        }
    }

    /// Records that `read` up to `seq` was sent for `peer`.
    pub fn mark_read_sent(&mut self, peer: &str, seq: u64) {
        if let Some(conv) = self.conversations.get_mut(peer) {
            conv.read_sent = conv.read_sent.max(seq);
            conv.unread = 0;
        }
    }

    /// What to send once a (re)connected socket said `hello`: catch up every conversation this
    /// client holds messages of, re-ask lost history requests, and resend every unacknowledged
    /// message with its original `client_msg_id` (the server answers a duplicate with the
    /// original `accepted`).
    pub fn resume_frames(&self) -> Vec<ClientFrame> {
        let peers: Vec<&Conversation> = self.conversations.values().collect();
        let peers = sorted_by(peers, |a, b| b.rank.cmp(&a.rank));
        let mut frames = Vec::new();
        for conv in &peers {
            if let Some(after_seq) = conv.newest_seq() {
                frames.push(ClientFrame::Sync {
                    peer: Some(conv.peer.clone()),
                    conversation_id: None,
                    after_seq,
                });
            }
            if conv.history == HistoryState::Loading {
                frames.push(history_frame(&conv.peer, None));
            }
        }
        for conv in &peers {
            for p in conv.pending.iter().filter(|p| p.error.is_none()) {
                frames.push(send_frame(&conv.peer, &p.client_msg_id, &p.body));
            }
        }
        frames
    }

    /// A `sync` that fills a hole in `peer`'s messages (a frame lost between server nodes):
    /// from the newest seq held without a gap, once per hole.
    pub fn gap_sync(&mut self, peer: &str) -> Option<ClientFrame> {
        let conv = self.conversations.get_mut(peer)?;
        let after_seq = hole_to_fill(&conv.messages, &mut conv.gap_asked)?;
        Some(ClientFrame::Sync {
            peer: Some(peer.to_owned()),
            conversation_id: None,
            after_seq,
        })
    }

    /// Drops expired typing indicators and notices; true if anything changed.
    pub fn prune(&mut self, now: f64) -> bool {
        let typing_before = self.typing.len();
        self.typing.retain(|_, until| *until > now);
        let notices_changed = self.notices.prune(now);
        notices_changed || typing_before != self.typing.len()
    }
}

fn history_frame(peer: &str, before_seq: Option<u64>) -> ClientFrame {
    ClientFrame::History {
        peer: Some(peer.to_owned()),
        conversation_id: None,
        before_seq,
        limit: Some(PAGE_SIZE),
    }
}

fn send_frame(peer: &str, client_msg_id: &str, body: &str) -> ClientFrame {
    ClientFrame::Send {
        to: Some(peer.to_owned()),
        conversation_id: None,
        body: body.to_owned(),
        client_msg_id: client_msg_id.to_owned(),
    }
}

#[path = "model_apply.rs"]
mod apply;

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
