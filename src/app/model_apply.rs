//! Folding server frames into the [`Model`]: `hello`, `message`, `accepted`, receipts, presence,
//! typing, history pages, `synced` and errors. A child of `model`, so it may keep the model's
//! bookkeeping (hints, presence, ordering) private.

use super::{Model, StoredMsg};
use crate::app::notice::NoticeKind;
use crate::app::thread::{Conversation, HistoryState};
use crate::protocol::{ConversationSummary, ErrorCode, Message, ReceiptKind};

impl Model {
    pub fn apply_hello(&mut self, user: &str, summaries: Vec<ConversationSummary>) {
        self.me = user.to_owned();
        let n = summaries.len() as u64;
        let base = self.tick;
        self.tick += n + 1;
        for (i, s) in summaries.into_iter().enumerate() {
            self.presence.insert(s.peer.clone(), s.online);
            let conv = self.conv_mut(&s.peer);
            conv.online = s.online;
            conv.unread = s.unread;
            conv.last_seq = conv.last_seq.max(s.last_seq);
            conv.peer_delivered_seq = conv.peer_delivered_seq.max(s.peer_delivered_seq);
            conv.peer_read_seq = conv.peer_read_seq.max(s.peer_read_seq);
            conv.rank = base + n - i as u64;
            if s.unread == 0 {
                conv.read_sent = conv.read_sent.max(s.last_seq);
            }
            if let Some(m) = s.last_message {
                conv.summary_last = Some(StoredMsg::from_wire(m));
            }
        }
        for conv in self.conversations.values_mut() {
            conv.loading_older = false;
        }
    }

    pub fn apply_message(&mut self, m: Message) {
        let me = self.me.clone();
        let own = m.from == me;
        let peer = peer_of(&m, &me);
        let hint = if own {
            self.hints.remove(&m.client_msg_id)
        } else {
            None
        };
        if !own {
            self.typing.remove(&peer);
        }
        let is_newest = self.conv(&peer).is_none_or(|c| m.seq > c.last_seq);
        if is_newest {
            self.bump(&peer);
        }
        let conv = self.conv_mut(&peer);
        if own {
            conv.pending.retain(|p| p.client_msg_id != m.client_msg_id);
        }
        if is_newest {
            conv.last_seq = m.seq;
            if !own {
                conv.unread += 1;
            }
        }
        insert(conv, StoredMsg::from_wire(m), hint);
        if !own {
            // They just wrote: online, unless a `presence` frame says otherwise.
            self.infer_presence(&peer, true);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn apply_accepted(
        &mut self,
        client_msg_id: &str,
        id: &str,
        seq: u64,
        delivered: bool,
        peer: Option<&str>,
        sent_at: Option<&str>,
        now: f64,
    ) {
        let peer = peer.map(str::to_owned).or_else(|| {
            self.conversations
                .values()
                .find(|c| c.pending.iter().any(|p| p.client_msg_id == client_msg_id))
                .map(|c| c.peer.clone())
        });
        let Some(peer) = peer else {
            self.hints.insert(client_msg_id.to_owned(), delivered);
            return;
        };
        // Delivered at once means the peer has a socket open.
        self.infer_presence(&peer, delivered);
        let me = self.me.clone();
        let conv = self.conv_mut(&peer);
        let pos = conv
            .pending
            .iter()
            .position(|p| p.client_msg_id == client_msg_id);
        let pending = pos.map(|i| conv.pending.remove(i));
        conv.last_seq = conv.last_seq.max(seq);
        // The server echoes an own message to the sending socket too, often before `accepted`;
        // a resend after a reconnect gets the same `accepted` again. Tell the user once.
        let mut first_ack = true;
        if let Some(stored) = conv.messages.get_mut(&seq) {
            first_ack = stored.delivered_hint.is_none();
            stored.delivered_hint = Some(delivered);
        } else if let Some(p) = pending {
            let msg = StoredMsg {
                id: id.to_owned(),
                seq,
                from: me,
                body: p.body,
                sent_at: sent_at.unwrap_or_default().to_owned(),
                client_msg_id: client_msg_id.to_owned(),
                delivered_hint: Some(delivered),
            };
            conv.messages.insert(seq, msg);
        } else {
            self.hints.insert(client_msg_id.to_owned(), delivered);
        }
        if first_ack && !delivered {
            let text = format!("Saved — will be delivered when {peer} comes online");
            self.notices.push(NoticeKind::Info, text, Some(peer), now);
        }
    }

    pub fn apply_receipt(&mut self, peer: &str, kind: ReceiptKind, up_to_seq: u64) {
        let conv = self.conv_mut(peer);
        conv.peer_delivered_seq = conv.peer_delivered_seq.max(up_to_seq);
        if kind == ReceiptKind::Read {
            conv.peer_read_seq = conv.peer_read_seq.max(up_to_seq);
        }
    }

    pub fn apply_presence(&mut self, user: &str, online: bool) {
        self.presence.insert(user.to_owned(), online);
        if let Some(conv) = self.conversations.get_mut(user) {
            conv.online = online;
        }
        if !online {
            self.typing.remove(user);
        }
    }

    /// Presence guessed from other frames, for a peer the server has not announced yet (it only
    /// announces presence to existing conversation partners).
    fn infer_presence(&mut self, peer: &str, online: bool) {
        if !self.presence.contains_key(peer) {
            if let Some(conv) = self.conversations.get_mut(peer) {
                conv.online = online;
            }
        }
    }

    pub fn apply_typing(&mut self, from: &str, until: f64) {
        self.typing.insert(from.to_owned(), until);
    }

    pub fn apply_history(&mut self, peer: &str, messages: Vec<Message>, has_more: bool) {
        let conv = self.conv_mut(peer);
        let old_min = conv.oldest_seq().unwrap_or(u64::MAX);
        let page_min = messages.iter().map(|m| m.seq).min();
        if page_min.is_none_or(|min| min <= old_min) || conv.history != HistoryState::Loaded {
            conv.has_more = has_more && page_min.is_some();
        }
        conv.history = HistoryState::Loaded;
        conv.loading_older = false;
        for m in messages {
            conv.last_seq = conv.last_seq.max(m.seq);
            conv.pending.retain(|p| p.client_msg_id != m.client_msg_id);
            insert(conv, StoredMsg::from_wire(m), None);
        }
    }

    pub fn apply_synced(&mut self, peer: &str, last_seq: u64) {
        let conv = self.conv_mut(peer);
        conv.last_seq = conv.last_seq.max(last_seq);
    }

    /// An `error` frame. One naming a pending message marks it refused; others (about a
    /// `history`, `read` or `typing`) belong to `context`, the open conversation.
    pub fn apply_error(
        &mut self,
        code: ErrorCode,
        message: &str,
        client_msg_id: Option<&str>,
        context: Option<&str>,
        now: f64,
    ) {
        let text = if message.is_empty() {
            code.as_str().replace('_', " ")
        } else {
            message.to_owned()
        };
        let mut peer = context.map(str::to_owned);
        if let Some(id) = client_msg_id {
            for conv in self.conversations.values_mut() {
                if let Some(p) = conv.pending.iter_mut().find(|p| p.client_msg_id == id) {
                    p.error = Some(text.clone());
                    peer = Some(conv.peer.clone());
                }
            }
        } else if matches!(code, ErrorCode::UnknownUser | ErrorCode::NotFound) {
            // A `history` for a peer that does not exist: stop waiting for it.
            for conv in self.conversations.values_mut() {
                if conv.history == HistoryState::Loading {
                    conv.history = HistoryState::Loaded;
                }
            }
        }
        self.notices.push(NoticeKind::Error, text, peer, now);
    }
}

/// The other party of a direct message, seen from `me`.
fn peer_of(m: &Message, me: &str) -> String {
    match &m.peer {
        Some(p) => p.clone(),
        None if m.from == me => m.to.clone(),
        None => m.from.clone(),
    }
}

/// Stores a message by seq, keeping what is already known about it.
fn insert(conv: &mut Conversation, mut msg: StoredMsg, hint: Option<bool>) {
    let known = conv.messages.get(&msg.seq).and_then(|m| m.delivered_hint);
    msg.delivered_hint = hint.or(known);
    conv.messages.insert(msg.seq, msg);
}
