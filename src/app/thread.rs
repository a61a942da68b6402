//! One conversation's state: its stored messages (keyed by seq), the own messages still waiting
//! for `accepted`, receipts, and how each own message's delivery status follows from them.

use crate::protocol::Message;
use std::collections::BTreeMap;

/// Delivery state of one of the user's own messages, as shown under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgStatus {
    /// Waiting for the server's `accepted`.
    Sending,
    /// The server refused it (`error` with its `client_msg_id`).
    Failed,
    /// Stored; whether the peer got it is unknown (sent from another tab or device).
    Sent,
    /// Stored while the peer was offline; delivered when they connect.
    SavedForLater,
    Delivered,
    Read,
}

impl MsgStatus {
    /// The words shown under the message.
    pub fn label(self) -> &'static str {
        match self {
            MsgStatus::Sending => "sending",
            MsgStatus::Failed => "not sent",
            MsgStatus::Sent => "sent",
            MsgStatus::SavedForLater => "saved for later",
            MsgStatus::Delivered => "delivered",
            MsgStatus::Read => "read",
        }
    }

    /// A CSS-class-friendly name.
    pub fn css(self) -> &'static str {
        match self {
            MsgStatus::Sending => "sending",
            MsgStatus::Failed => "failed",
            MsgStatus::Sent => "sent",
            MsgStatus::SavedForLater => "saved",
            MsgStatus::Delivered => "delivered",
            MsgStatus::Read => "read",
        }
    }
}

/// A message the server has stored (it has a `seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMsg {
    pub id: String,
    pub seq: u64,
    pub from: String,
    pub body: String,
    pub sent_at: String,
    pub client_msg_id: String,
    /// Own messages: the `delivered` flag of the `accepted` this client got, if it got one.
    pub delivered_hint: Option<bool>,
}

impl StoredMsg {
    pub(crate) fn from_wire(m: Message) -> Self {
        StoredMsg {
            id: m.id,
            seq: m.seq,
            from: m.from,
            body: m.body,
            sent_at: m.sent_at,
            client_msg_id: m.client_msg_id,
            delivered_hint: None,
        }
    }
}

/// An own message not yet acknowledged with `accepted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMsg {
    pub client_msg_id: String,
    pub body: String,
    /// The server's reason, once it refused the message.
    pub error: Option<String>,
}

impl PendingMsg {
    /// Its row in the message list ("sending", or "not sent" once refused); `role` as in
    /// [`Row::role`].
    pub fn row(&self, role: Option<&'static str>) -> Row {
        Row {
            key: format!("c:{}", self.client_msg_id),
            own: true,
            seq: None,
            body: self.body.clone(),
            sent_at: String::new(),
            status: Some(if self.error.is_some() {
                MsgStatus::Failed
            } else {
                MsgStatus::Sending
            }),
            error: self.error.clone(),
            client_msg_id: self.client_msg_id.clone(),
            author: None,
            role,
        }
    }
}

/// Whether the newest page of a conversation has been fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryState {
    NotLoaded,
    Loading,
    Loaded,
}

/// One direct-message conversation, seen from the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub peer: String,
    pub online: bool,
    pub unread: u64,
    /// Highest seq known to exist in the conversation.
    pub last_seq: u64,
    pub messages: BTreeMap<u64, StoredMsg>,
    pub pending: Vec<PendingMsg>,
    /// The newest message from `hello`, for the list preview before history is loaded.
    pub summary_last: Option<StoredMsg>,
    pub peer_delivered_seq: u64,
    pub peer_read_seq: u64,
    pub history: HistoryState,
    pub has_more: bool,
    pub loading_older: bool,
    /// Sort key of the conversation list: higher is more recent activity.
    pub rank: u64,
    /// Highest seq this client has already reported with `read`.
    pub read_sent: u64,
    /// The contiguous seq a gap-filling `sync` was last sent from (see [`hole_to_fill`]).
    pub(crate) gap_asked: Option<u64>,
}

impl Conversation {
    pub(crate) fn new(peer: &str, online: bool) -> Self {
        Conversation {
            peer: peer.to_owned(),
            online,
            unread: 0,
            last_seq: 0,
            messages: BTreeMap::new(),
            pending: Vec::new(),
            summary_last: None,
            peer_delivered_seq: 0,
            peer_read_seq: 0,
            history: HistoryState::NotLoaded,
            has_more: false,
            loading_older: false,
            rank: 0,
            read_sent: 0,
            gap_asked: None,
        }
    }

    /// The delivery state of an own stored message.
    pub fn status_of(&self, msg: &StoredMsg) -> MsgStatus {
        if msg.seq <= self.peer_read_seq {
            MsgStatus::Read
        } else if msg.seq <= self.peer_delivered_seq || msg.delivered_hint == Some(true) {
            MsgStatus::Delivered
        } else if msg.delivered_hint == Some(false) || !self.online {
            MsgStatus::SavedForLater
        } else {
            MsgStatus::Sent
        }
    }

    /// The rows of the message list: stored messages by seq, then pending ones in send order.
    pub fn rows(&self, me: &str) -> Vec<Row> {
        let stored = self.messages.values().map(|m| {
            let own = m.from == me;
            Row {
                key: if own {
                    format!("c:{}", m.client_msg_id)
                } else {
                    format!("m:{}", m.id)
                },
                own,
                seq: Some(m.seq),
                body: m.body.clone(),
                sent_at: m.sent_at.clone(),
                status: own.then(|| self.status_of(m)),
                error: None,
                client_msg_id: m.client_msg_id.clone(),
                author: None,
                role: None,
            }
        });
        let pending = self.pending.iter().map(|p| p.row(None));
        stored.chain(pending).collect()
    }

    /// The newest message for the list preview: `(own, body)`.
    pub fn preview(&self, me: &str) -> Option<(bool, String)> {
        if let Some(p) = self.pending.last() {
            return Some((true, p.body.clone()));
        }
        let stored = self.messages.values().next_back();
        let newest = match (stored, &self.summary_last) {
            (Some(a), Some(b)) if b.seq > a.seq => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b.as_ref(),
        };
        newest.map(|m| (m.from == me, m.body.clone()))
    }

    /// The seq to report with `read`, when messages from the peer newer than the last report
    /// are shown.
    pub fn read_target(&self) -> Option<u64> {
        let newest_from_peer = self
            .messages
            .values()
            .rev()
            .find(|m| m.from == self.peer)
            .map(|m| m.seq)?;
        (newest_from_peer > self.read_sent).then_some(newest_from_peer)
    }

    pub(crate) fn oldest_seq(&self) -> Option<u64> {
        self.messages.keys().next().copied()
    }

    /// The seq up to which every message is held without a hole (the end of the unbroken run
    /// from the oldest loaded message): syncing from here also fills a gap a lost frame left.
    pub(crate) fn newest_seq(&self) -> Option<u64> {
        contiguous_end(self.messages.keys().copied())
    }
}

/// The end of the unbroken run of seqs (given in ascending order) that starts at the first.
pub(crate) fn contiguous_end(mut seqs: impl Iterator<Item = u64>) -> Option<u64> {
    let mut last = seqs.next()?;
    for seq in seqs {
        if seq != last + 1 {
            break;
        }
        last = seq;
    }
    Some(last)
}

/// Where to `sync` from to fill a hole in `messages` (a frame lost between server nodes): the
/// newest seq held without a gap, once per hole (`asked` remembers the last one asked for).
pub(crate) fn hole_to_fill<T>(messages: &BTreeMap<u64, T>, asked: &mut Option<u64>) -> Option<u64> {
    let contiguous = contiguous_end(messages.keys().copied())?;
    let newest = *messages.keys().next_back()?;
    if newest <= contiguous || *asked == Some(contiguous) {
        return None;
    }
    *asked = Some(contiguous);
    Some(contiguous)
}

/// One row of the message list, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Row {
    /// Stable identity: `c:<client_msg_id>` for own messages (so a pending row stays the same
    /// row once stored), `m:<id>` for the peer's.
    pub key: String,
    pub own: bool,
    pub seq: Option<u64>,
    pub body: String,
    pub sent_at: String,
    pub status: Option<MsgStatus>,
    pub error: Option<String>,
    pub client_msg_id: String,
    /// A name shown on the bubble (support: which agent wrote it); `None` in direct messages.
    pub author: Option<String>,
    /// Support: who wrote it, `"customer"` or `"agent"` (the row's `data-role`).
    pub role: Option<&'static str>,
}

/// One entry of the conversation list, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListItem {
    pub peer: String,
    pub online: bool,
    pub unread: u64,
    pub preview: Option<(bool, String)>,
    pub typing: bool,
}
