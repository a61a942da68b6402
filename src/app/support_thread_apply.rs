//! Folding server frames into a [`SupportThread`]: queue entries and `status` (where the
//! conversation stands), `message` (kept by seq; an own pending copy settles by
//! `client_msg_id`), `accepted`, history pages, `synced`, read receipts and typing. A child of
//! `support_thread`, so it may use the thread's private helpers.

use super::{Side, SupportMsg, SupportStatus, SupportThread};
use crate::app::thread::{HistoryState, StoredMsg};
use crate::protocol::{FromRole, Message, QueueEntry};

impl SupportThread {
    pub fn apply_entry(&mut self, e: &QueueEntry) {
        self.customer.clone_from(&e.customer);
        self.status = SupportStatus::parse(&e.status);
        self.assignee.clone_from(&e.assignee);
        self.last_seq = self.last_seq.max(e.last_seq);
    }

    pub fn apply_status(&mut self, status: &str, assignee: Option<String>) {
        self.status = SupportStatus::parse(status);
        self.assignee = assignee;
    }

    /// A live or resent message. True when it is new and from the other side.
    pub fn apply_message(&mut self, m: Message) -> bool {
        if self.is_mine(&m) {
            self.pending.retain(|p| p.client_msg_id != m.client_msg_id);
        }
        let msg = SupportMsg::from_wire(m);
        let theirs = !self.is_own(&msg);
        if theirs {
            // They wrote, so they stopped typing.
            self.typing = None;
        }
        if msg.role == FromRole::Customer {
            self.customer.clone_from(&msg.stored.from);
        }
        let is_new = !self.messages.contains_key(&msg.stored.seq);
        self.last_seq = self.last_seq.max(msg.stored.seq);
        self.insert(msg);
        is_new && theirs
    }

    fn insert(&mut self, mut msg: SupportMsg) {
        if let Some(known) = self.messages.get(&msg.stored.seq) {
            msg.stored.delivered_hint = known.stored.delivered_hint;
        }
        self.messages.insert(msg.stored.seq, msg);
    }

    /// The server stored an own message: the pending copy becomes a stored one (unless the
    /// `message` frame got here first).
    pub fn apply_accepted(&mut self, client_msg_id: &str, id: &str, seq: u64, sent_at: &str) {
        self.last_seq = self.last_seq.max(seq);
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.client_msg_id == client_msg_id)
        else {
            return;
        };
        let pending = self.pending.remove(i);
        if self.messages.contains_key(&seq) {
            return;
        }
        let from = match self.side {
            Side::Agent => self.me.clone(),
            Side::Customer => self.customer.clone(),
        };
        let stored = StoredMsg {
            id: id.to_owned(),
            seq,
            from,
            body: pending.body,
            sent_at: sent_at.to_owned(),
            client_msg_id: client_msg_id.to_owned(),
            delivered_hint: Some(true),
        };
        let role = self.side.role();
        self.messages.insert(seq, SupportMsg { stored, role });
    }

    /// A page of history, oldest first.
    pub fn apply_history(&mut self, messages: Vec<Message>, has_more: bool) {
        let old_min = self.oldest_seq().unwrap_or(u64::MAX);
        let page_min = messages.iter().map(|m| m.seq).min();
        if page_min.is_none_or(|min| min <= old_min) || self.history != HistoryState::Loaded {
            self.has_more = has_more && page_min.is_some();
        }
        self.history = HistoryState::Loaded;
        self.loading_older = false;
        for m in messages {
            self.apply_message(m);
        }
    }

    pub fn apply_synced(&mut self, last_seq: u64) {
        self.last_seq = self.last_seq.max(last_seq);
    }

    /// The other side read up to `up_to_seq`.
    pub fn apply_receipt(&mut self, up_to_seq: u64) {
        self.other_read_seq = self.other_read_seq.max(up_to_seq);
    }

    pub fn apply_typing(&mut self, from: &str, until: f64) {
        self.typing = Some((from.to_owned(), until));
    }

    /// Who is typing now, if anyone.
    pub fn typing_now(&self, now: f64) -> Option<&str> {
        self.typing
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(who, _)| who.as_str())
    }
}
