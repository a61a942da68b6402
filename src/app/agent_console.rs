//! The agent console controller: the reactive state of `/agent` ([`Console`], shared by
//! context) and the glue between it, the socket (`GET /ws`, the agent's own account socket) and
//! the views. Server frames are folded into the [`AgentModel`]; user actions become frames.
//!
//! Reconnect policy: every new socket starts with `hello`; on it the console asks for the full
//! `queue` again, re-opens tabs whose first page never came, sends `sync {conversation_id,
//! after_seq}` from each open conversation's newest seq, resends unacknowledged replies with
//! their original `client_msg_id`, and repeats "away" if the agent chose it (the server forgets
//! availability when an agent's last socket closes). Direct-message frames on the same socket
//! are ignored here; they belong to the DM app.

use super::agent_model::{AgentModel, Filter};
use super::chat::{TYPING_EVERY_MS, TYPING_SHOWS_MS};
use super::notice::NoticeKind;
use super::socket::{self, ConnState};
use super::support_thread::SupportThread;
use super::util::{new_client_msg_id, now_ms, store, stored, Store};
use crate::protocol::server::{Accepted, ErrorFrame, HistoryPage, Queue, Receipt, Synced, Typing};
use crate::protocol::{ClientFrame, Me, MessageBody, ReceiptKind, Role, ServerFrame};
use leptos::prelude::*;
use std::collections::HashMap;

/// Local storage key remembering that the agent chose "Away".
const AWAY_KEY: &str = "confab.agent.away";
/// Session storage key of the open tabs (so a reload brings them back).
const TABS_KEY: &str = "confab.agent.tabs";

/// The console's state, shared with every view by context. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Console {
    pub me: RwSignal<Option<Me>>,
    pub model: RwSignal<AgentModel>,
    pub conn: RwSignal<ConnState>,
    /// Available for automatic assignment (default), or away.
    pub available: RwSignal<bool>,
    /// Whether the page is visible: `read` is only sent then.
    pub visible: RwSignal<bool>,
    /// The clock, ticking every second (wait times, typing expiry).
    pub now: RwSignal<f64>,
    pub filter: RwSignal<Filter>,
    /// The conversation in front (from the URL, `?c=<id>`).
    pub active: Memo<Option<String>>,
    /// Unsent replies per conversation.
    pub drafts: RwSignal<HashMap<String, String>>,
    last_typing: StoredValue<(String, f64)>,
}

impl Console {
    pub fn new(active: Memo<Option<String>>) -> Self {
        Console {
            me: RwSignal::new(None),
            model: RwSignal::new(AgentModel::default()),
            conn: RwSignal::new(ConnState::Connecting),
            available: RwSignal::new(true),
            visible: RwSignal::new(true),
            now: RwSignal::new(0.0),
            filter: RwSignal::new(Filter::Waiting),
            active,
            drafts: RwSignal::new(HashMap::new()),
            last_typing: StoredValue::new((String::new(), 0.0)),
        }
    }

    pub fn is_admin(self) -> bool {
        self.me
            .with_untracked(|m| m.as_ref().is_some_and(|m| m.role == Role::Admin))
    }

    fn my_name(self) -> String {
        self.me
            .with_untracked(|m| m.as_ref().map(|m| m.username.clone()))
            .unwrap_or_default()
    }

    /// Starts the socket for a signed-in agent, with the tabs of the last visit (this browser
    /// tab) reopened. `session_ended` runs when the server ends the session.
    pub fn connect(self, me: Me, session_ended: impl Fn() + Clone + 'static) {
        let mut model = AgentModel::new(&me.username);
        for id in stored(Store::Session, TABS_KEY)
            .unwrap_or_default()
            .split(',')
            .filter(|id| !id.is_empty())
        {
            model.open_tab(id);
        }
        model.last_action = None;
        self.model.set(model);
        self.me.set(Some(me));
        self.available
            .set(stored(Store::Local, AWAY_KEY).as_deref() != Some("1"));
        self.now.set(now_ms());
        socket::start_signed_in(self.conn, move |frame| self.handle(frame), session_ended);
    }

    /// Folds one server frame into the state.
    pub fn handle(self, frame: ServerFrame) {
        let now = now_ms();
        match frame {
            ServerFrame::Hello(_) => {
                self.conn.set(ConnState::Online);
                let mut frames = Vec::new();
                self.model.update(|m| frames = m.resume_frames());
                if !self.available.get_untracked() {
                    frames.push(ClientFrame::Availability { available: false });
                }
                for frame in &frames {
                    socket::send(frame);
                }
            }
            ServerFrame::Resync => {
                let mut frames = Vec::new();
                self.model.update(|m| frames = m.resume_frames());
                for frame in &frames {
                    socket::send(frame);
                }
            }
            ServerFrame::Queue(Queue { conversations }) => {
                self.model.update(|m| m.apply_queue(conversations))
            }
            ServerFrame::Message(m) if m.conversation_id.is_some() => {
                let id = m.conversation_id.clone().unwrap_or_default();
                let mut fill = None;
                self.model.update(|model| {
                    model.apply_message(m);
                    fill = model.threads.get_mut(&id).and_then(SupportThread::gap_sync);
                });
                if let Some(frame) = fill {
                    socket::send(&frame);
                }
            }
            ServerFrame::Accepted(Accepted {
                client_msg_id,
                id,
                seq,
                conversation_id: Some(conversation),
                sent_at,
                ..
            }) => self.model.update(|m| {
                let sent_at = sent_at.unwrap_or_default();
                m.apply_accepted(&conversation, &client_msg_id, &id, seq, &sent_at)
            }),
            ServerFrame::Receipt(Receipt {
                conversation_id: Some(peer),
                kind: ReceiptKind::Read,
                up_to_seq,
                ..
            }) if self.model.with_untracked(|m| {
                m.queue.contains_key(&peer) || m.threads.contains_key(&peer)
            }) =>
            {
                self.model.update(|m| m.apply_receipt(&peer, up_to_seq))
            }
            ServerFrame::Typing(Typing {
                conversation_id: Some(id),
                ..
            }) => self
                .model
                .update(|m| m.apply_typing(&id, now + TYPING_SHOWS_MS)),
            ServerFrame::HistoryPage(HistoryPage {
                conversation_id: Some(id),
                messages,
                has_more,
                ..
            }) => self
                .model
                .update(|m| m.apply_history(&id, messages, has_more)),
            ServerFrame::Synced(Synced {
                conversation_id: Some(id),
                last_seq,
                ..
            }) => self.model.update(|m| m.apply_synced(&id, last_seq)),
            ServerFrame::Error(ErrorFrame {
                code,
                message,
                client_msg_id,
            }) => self
                .model
                .update(|m| m.apply_error(code, &message, client_msg_id.as_deref(), now)),
            // Direct messages, presence, pong: not the console's business.
            _ => {}
        }
    }

    /// Sends a console action about conversation `id`; says so in red when offline.
    fn act(self, id: &str, frame: ClientFrame) {
        let frame = {
            let mut out = None;
            self.model.update(|m| out = Some(m.action(id, frame)));
            out
        };
        if let Some(frame) = frame {
            if !socket::send(&frame) {
                self.notify(
                    id,
                    "Not connected — try again once the console is back online.",
                );
            }
        }
    }

    fn notify(self, id: &str, text: &str) {
        let now = now_ms();
        self.model.update(|m| {
            m.notices
                .push(NoticeKind::Error, text.to_owned(), Some(id.to_owned()), now)
        });
    }

    /// Opens a conversation in a tab (asks for its newest page the first time).
    pub fn open(self, id: &str) {
        let mut frame = None;
        self.model.update(|m| frame = m.open_tab(id));
        self.save_tabs();
        if let Some(frame) = frame {
            // If the socket is down, `hello` asks again (the tab stays "loading").
            socket::send(&frame);
        }
    }

    pub fn close_tab(self, id: &str) {
        self.model.update(|m| m.close_tab(id));
        self.save_tabs();
    }

    fn save_tabs(self) {
        let tabs = self.model.with_untracked(|m| m.tabs.join(","));
        store(Store::Session, TABS_KEY, Some(&tabs));
    }

    pub fn claim(self, id: &str) {
        let conversation_id = id.to_owned();
        self.act(id, ClientFrame::Claim { conversation_id });
    }

    pub fn resolve(self, id: &str) {
        let conversation_id = id.to_owned();
        self.act(id, ClientFrame::Resolve { conversation_id });
    }

    /// Hands the conversation to the agent named `to` (checked by the server: `not_found` if
    /// there is no such agent).
    pub fn transfer(self, id: &str, to: &str) {
        let frame = ClientFrame::Transfer {
            conversation_id: id.to_owned(),
            to: to.trim().to_owned(),
        };
        self.act(id, frame);
    }

    pub fn set_available(self, available: bool) {
        self.available.set(available);
        store(Store::Local, AWAY_KEY, (!available).then_some("1"));
        // Offline: `hello` repeats "away"; "available" is the server's default anyway.
        socket::send(&ClientFrame::Availability { available });
    }

    /// Sends a reply; `Err` (shown in red) when the text is not sendable.
    pub fn send_message(self, id: &str, raw: &str) -> Result<(), String> {
        let body = MessageBody::parse(raw).map_err(|e| e.message)?;
        let cmid = new_client_msg_id();
        let mut frame = None;
        self.model.update(|m| {
            if let Some(t) = m.thread_mut(id) {
                frame = Some(t.queue_send(&cmid, body.as_str()));
            }
        });
        match frame {
            // Not connected: it stays "sending" and goes out after the next `hello`.
            Some(frame) => {
                socket::send(&frame);
                self.last_typing.set_value((String::new(), 0.0));
                Ok(())
            }
            None => Err("Open the conversation first.".to_owned()),
        }
    }

    pub fn retry(self, id: &str, client_msg_id: &str) {
        let mut frame = None;
        self.model.update(|m| {
            frame = m.thread_mut(id).and_then(|t| t.retry(client_msg_id));
        });
        if let Some(frame) = frame {
            socket::send(&frame);
        }
    }

    pub fn discard(self, id: &str, client_msg_id: &str) {
        self.model.update(|m| {
            if let Some(t) = m.thread_mut(id) {
                t.discard(client_msg_id);
            }
        });
    }

    pub fn load_older(self, id: &str) {
        let mut frame = None;
        self.model
            .update(|m| frame = m.thread_mut(id).and_then(|t| t.load_older()));
        if let Some(frame) = frame {
            if !socket::send(&frame) {
                self.model.update(|m| {
                    if let Some(t) = m.thread_mut(id) {
                        t.loading_older = false;
                    }
                });
            }
        }
    }

    /// Tells the customer an agent is typing, at most every [`TYPING_EVERY_MS`].
    pub fn typing(self, id: &str) {
        let now = now_ms();
        let (last_id, last_at) = self.last_typing.get_value();
        if last_id == id && now - last_at < TYPING_EVERY_MS {
            return;
        }
        let frame = self
            .model
            .with_untracked(|m| m.thread(id).map(|t| t.typing_frame()));
        if frame.is_some_and(|f| socket::send(&f)) {
            self.last_typing.set_value((id.to_owned(), now));
        }
    }

    /// Sends `read` for the customer messages of `id` now on screen, if any are new.
    pub fn mark_read(self, id: &str) {
        let Some((seq, frame)) = self.model.with_untracked(|m| m.read_frame(id)) else {
            return;
        };
        if socket::send(&frame) {
            self.model.update(|m| m.mark_read_sent(id, seq));
        }
    }

    pub fn dismiss_notice(self, notice: u64) {
        self.model.update(|m| m.notices.dismiss(notice));
    }

    /// Once a second: the clock moves and expired typing lines and notices go.
    pub fn tick(self) {
        let now = now_ms();
        self.now.set(now);
        self.model.maybe_update(|m| m.prune(now));
    }

    /// The agent's own name, for "assigned to you".
    pub fn is_me(self, name: Option<&str>) -> bool {
        name.is_some_and(|n| n == self.my_name())
    }

    /// Closes the socket for good.
    pub fn disconnect(self) {
        socket::stop();
        self.conn.set(ConnState::Offline);
    }
}
