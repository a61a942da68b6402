//! The agent console's state as plain data: the support queue (merged by conversation id), the
//! conversations open in tabs (each a [`SupportThread`]), customer typing, and red notices.
//!
//! Server frames are folded in by the `apply_*` methods; user actions (`open_tab`, `claim`, …)
//! return the frames to send. Reconnect recovery is keyed to each open conversation's newest
//! seq ([`AgentModel::resume_frames`]). Nothing here touches the DOM, the clock or the socket;
//! tests are in `agent_model_tests.rs`.

use super::notice::{NoticeBoard, NoticeKind};
use super::sort::sorted_by;
use super::support_thread::{Side, SupportStatus, SupportThread};
use super::thread::HistoryState;
use crate::protocol::{ClientFrame, ErrorCode, FromRole, Message, QueueEntry};
use std::collections::HashMap;

/// The queue's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// Open and nobody has it.
    Waiting,
    /// Assigned to me (and not resolved).
    Mine,
    /// Everything not resolved.
    AllOpen,
    Resolved,
}

impl Filter {
    pub const ALL: [Filter; 4] = [
        Filter::Waiting,
        Filter::Mine,
        Filter::AllOpen,
        Filter::Resolved,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Filter::Waiting => "Waiting",
            Filter::Mine => "Mine",
            Filter::AllOpen => "All open",
            Filter::Resolved => "Resolved",
        }
    }

    /// A name for `data-filter` attributes.
    pub fn key(self) -> &'static str {
        match self {
            Filter::Waiting => "waiting",
            Filter::Mine => "mine",
            Filter::AllOpen => "open",
            Filter::Resolved => "resolved",
        }
    }

    pub fn matches(self, e: &QueueEntry, me: &str) -> bool {
        let status = SupportStatus::parse(&e.status);
        match self {
            Filter::Waiting => status == SupportStatus::Open && e.assignee.is_none(),
            Filter::Mine => status != SupportStatus::Resolved && e.assignee.as_deref() == Some(me),
            Filter::AllOpen => status != SupportStatus::Resolved,
            Filter::Resolved => status == SupportStatus::Resolved,
        }
    }
}

/// One queue row, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueRow {
    pub conversation_id: String,
    pub customer: String,
    pub status: SupportStatus,
    pub assignee: Option<String>,
    /// The newest message, prefixed with its author when an agent wrote it.
    pub preview: Option<String>,
    pub unread: u64,
    pub waiting_since: Option<String>,
    pub typing: bool,
}

/// Everything the console knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentModel {
    pub me: String,
    pub queue: HashMap<String, QueueEntry>,
    /// Open conversations, by id; `tabs` keeps their order.
    pub threads: HashMap<String, SupportThread>,
    pub tabs: Vec<String>,
    /// Conversation → time (ms) until which its customer shows as typing.
    pub typing: HashMap<String, f64>,
    /// How far each customer has read the agents' messages (from `receipt` frames).
    customer_read: HashMap<String, u64>,
    /// Red notices; a notice's `peer` is the conversation it belongs to.
    pub notices: NoticeBoard,
    /// The conversation the last console action named: an `error` without a `client_msg_id`
    /// answers it.
    pub last_action: Option<String>,
}

impl AgentModel {
    pub fn new(me: &str) -> Self {
        AgentModel {
            me: me.to_owned(),
            ..AgentModel::default()
        }
    }

    pub fn thread(&self, id: &str) -> Option<&SupportThread> {
        self.threads.get(id)
    }

    pub fn thread_mut(&mut self, id: &str) -> Option<&mut SupportThread> {
        self.threads.get_mut(id)
    }

    /// A full queue or a delta: entries replace the ones with the same id.
    pub fn apply_queue(&mut self, entries: Vec<QueueEntry>) {
        for e in entries {
            if let Some(t) = self.threads.get_mut(&e.conversation_id) {
                t.apply_entry(&e);
            }
            self.queue.insert(e.conversation_id.clone(), e);
        }
    }

    pub fn apply_message(&mut self, m: Message) {
        let Some(id) = m.conversation_id.clone() else {
            return;
        };
        if m.from_role == Some(FromRole::Customer) {
            self.typing.remove(&id);
        }
        if let Some(e) = self.queue.get_mut(&id) {
            if m.seq > e.last_seq {
                e.last_seq = m.seq;
                e.last_message = Some(m.clone());
            }
        }
        if let Some(t) = self.threads.get_mut(&id) {
            t.apply_message(m);
        }
    }

    pub fn apply_accepted(
        &mut self,
        conversation_id: &str,
        client_msg_id: &str,
        id: &str,
        seq: u64,
        sent_at: &str,
    ) {
        if let Some(t) = self.threads.get_mut(conversation_id) {
            t.apply_accepted(client_msg_id, id, seq, sent_at);
        }
    }

    /// A customer read the agents' messages up to `up_to_seq` (`peer` is the conversation).
    pub fn apply_receipt(&mut self, conversation_id: &str, up_to_seq: u64) {
        let read = self
            .customer_read
            .entry(conversation_id.to_owned())
            .or_default();
        *read = (*read).max(up_to_seq);
        if let Some(t) = self.threads.get_mut(conversation_id) {
            t.apply_receipt(up_to_seq);
        }
    }

    pub fn apply_typing(&mut self, conversation_id: &str, until: f64) {
        self.typing.insert(conversation_id.to_owned(), until);
    }

    pub fn is_typing(&self, conversation_id: &str, now: f64) -> bool {
        self.typing
            .get(conversation_id)
            .is_some_and(|until| *until > now)
    }

    pub fn apply_history(&mut self, conversation_id: &str, messages: Vec<Message>, has_more: bool) {
        if let Some(t) = self.threads.get_mut(conversation_id) {
            t.apply_history(messages, has_more);
        }
    }

    pub fn apply_synced(&mut self, conversation_id: &str, last_seq: u64) {
        if let Some(t) = self.threads.get_mut(conversation_id) {
            t.apply_synced(last_seq);
        }
    }

    /// An `error` frame: one naming a pending message marks it refused; others answer the last
    /// console action. Either way a red notice shows in that conversation.
    pub fn apply_error(
        &mut self,
        code: ErrorCode,
        message: &str,
        client_msg_id: Option<&str>,
        now: f64,
    ) {
        let text = if message.is_empty() {
            code.as_str().replace('_', " ")
        } else {
            message.to_owned()
        };
        let mut context = self.last_action.clone();
        if let Some(cmid) = client_msg_id {
            for t in self.threads.values_mut() {
                if t.fail(cmid, &text) {
                    context = Some(t.conversation_id.clone());
                    break;
                }
            }
        } else if code == ErrorCode::NotFound {
            // An `open` or `history` that cannot be answered: stop waiting for it.
            if let Some(t) = context.as_deref().and_then(|id| self.threads.get_mut(id)) {
                if t.history == HistoryState::Loading {
                    t.history = HistoryState::Loaded;
                }
                t.loading_older = false;
            }
        }
        self.notices.push(NoticeKind::Error, text, context, now);
    }

    /// Opens a conversation in a tab; returns the `open` frame (queue entry + newest page) the
    /// first time.
    pub fn open_tab(&mut self, id: &str) -> Option<ClientFrame> {
        if !self.tabs.iter().any(|t| t == id) {
            self.tabs.push(id.to_owned());
        }
        if self.threads.contains_key(id) {
            return None;
        }
        let mut t = SupportThread::new(Side::Agent, &self.me, id);
        if let Some(e) = self.queue.get(id) {
            t.apply_entry(e);
        }
        t.apply_receipt(self.customer_read.get(id).copied().unwrap_or(0));
        t.history = HistoryState::Loading;
        self.threads.insert(id.to_owned(), t);
        self.last_action = Some(id.to_owned());
        Some(ClientFrame::Open {
            conversation_id: id.to_owned(),
        })
    }

    pub fn close_tab(&mut self, id: &str) {
        self.tabs.retain(|t| t != id);
        self.threads.remove(id);
    }

    /// Notes which conversation an action is about and passes its frame on.
    pub fn action(&mut self, id: &str, frame: ClientFrame) -> ClientFrame {
        self.last_action = Some(id.to_owned());
        frame
    }

    /// The `read` frame for a conversation on screen, when it shows customer messages not yet
    /// reported. Call [`AgentModel::mark_read_sent`] once it went out.
    pub fn read_frame(&self, id: &str) -> Option<(u64, ClientFrame)> {
        let t = self.threads.get(id)?;
        let seq = t.read_target()?;
        Some((seq, t.read_frame(seq)))
    }

    pub fn mark_read_sent(&mut self, id: &str, seq: u64) {
        if let Some(t) = self.threads.get_mut(id) {
            t.mark_read_sent(seq);
        }
        if let Some(e) = self.queue.get_mut(id) {
            if seq >= e.last_seq {
                e.unread = 0;
            }
        }
    }

    /// What a new socket sends after `hello`: the full queue, then for each open conversation
    /// either its newest page again (if it never came) or everything after its newest seq, and
    /// every unacknowledged reply with its original `client_msg_id`.
    pub fn resume_frames(&mut self) -> Vec<ClientFrame> {
        let mut frames = vec![ClientFrame::Queue];
        for id in &self.tabs {
            let Some(t) = self.threads.get_mut(id) else {
                continue;
            };
            if t.history != HistoryState::Loaded {
                t.history = HistoryState::Loading;
                frames.push(ClientFrame::Open {
                    conversation_id: id.clone(),
                });
            }
            frames.extend(t.resume_frames());
        }
        frames
    }

    /// The queue rows of a tab: waiting ones oldest first (first come, first served), the
    /// others most recent activity first.
    pub fn rows(&self, filter: Filter, now: f64) -> Vec<QueueRow> {
        let entries: Vec<&QueueEntry> = self
            .queue
            .values()
            .filter(|e| filter.matches(e, &self.me))
            .collect();
        let entries = if filter == Filter::Waiting {
            sorted_by(entries, |a, b| {
                let key = |e: &QueueEntry| e.waiting_since.clone().unwrap_or_default();
                key(a)
                    .cmp(&key(b))
                    .then_with(|| a.conversation_id.cmp(&b.conversation_id))
            })
        } else {
            sorted_by(entries, |a, b| {
                activity(b)
                    .cmp(activity(a))
                    .then_with(|| a.conversation_id.cmp(&b.conversation_id))
            })
        };
        entries
            .into_iter()
            .map(|e| QueueRow {
                conversation_id: e.conversation_id.clone(),
                customer: e.customer.clone(),
                status: SupportStatus::parse(&e.status),
                assignee: e.assignee.clone(),
                preview: e.last_message.as_ref().map(|m| self.preview(m)),
                unread: e.unread,
                waiting_since: e.waiting_since.clone(),
                typing: self.is_typing(&e.conversation_id, now),
            })
            .collect()
    }

    fn preview(&self, m: &Message) -> String {
        match m.from_role {
            Some(FromRole::Agent) if m.from == self.me => format!("You: {}", m.body),
            Some(FromRole::Agent) => format!("{}: {}", m.from, m.body),
            _ => m.body.clone(),
        }
    }

    /// How many conversations each tab of [`Filter::ALL`] holds.
    pub fn counts(&self) -> [usize; 4] {
        Filter::ALL.map(|f| {
            self.queue
                .values()
                .filter(|e| f.matches(e, &self.me))
                .count()
        })
    }

    /// Agents this console has seen (assignees and me), for the transfer field's suggestions.
    pub fn known_agents(&self) -> Vec<String> {
        let names: Vec<String> = self
            .queue
            .values()
            .filter_map(|e| e.assignee.clone())
            .chain(std::iter::once(self.me.clone()))
            .filter(|n| !n.is_empty())
            .collect();
        let mut names = sorted_by(names, Ord::cmp);
        names.dedup();
        names
    }

    /// Drops expired typing indicators and notices; true if anything changed.
    pub fn prune(&mut self, now: f64) -> bool {
        let before = self.typing.len();
        self.typing.retain(|_, until| *until > now);
        let notices = self.notices.prune(now);
        notices || before != self.typing.len()
    }
}

/// When a conversation last moved: its newest message's time (RFC 3339 strings from the server
/// sort by time).
fn activity(e: &QueueEntry) -> &str {
    e.last_message.as_ref().map_or("", |m| m.sent_at.as_str())
}

#[cfg(test)]
#[path = "agent_model_tests.rs"]
mod tests;
