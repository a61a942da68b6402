//! The chat controller: the reactive state of the signed-in app ([`Chat`], shared by context)
//! and the glue between it, the socket and the views. Server frames are folded into the
//! [`Model`]; user actions become client frames.
//!
//! Reconnect policy: every new socket starts with `hello`; on it the controller sends what
//! [`Model::resume_frames`] lists (a `sync` per conversation it holds messages of, lost history
//! requests, and every unacknowledged `send` with its original `client_msg_id`).
//!
//! An agent's `/ws` socket also carries customer-support traffic (every support `message`,
//! customer `typing` and read receipts go to all agents); those frames name a support
//! conversation and belong to the agent console (`/agent`), so they are ignored here.

use super::model::Model;
use super::notice::NoticeKind;
use super::socket::{self, ConnState};
use super::util::{new_client_msg_id, now_ms};
use crate::protocol::server::{
    Accepted, ErrorFrame, Hello, HistoryPage, Presence, Receipt, Synced, Typing,
};
use crate::protocol::{ClientFrame, Me, MessageBody, ServerFrame};
use leptos::prelude::*;
use std::time::Duration;

/// How long "bob is typing…" shows after bob's last `typing` frame.
pub const TYPING_SHOWS_MS: f64 = 3_000.0;
/// Least time between two `typing` frames this client sends.
pub const TYPING_EVERY_MS: f64 = 2_000.0;

/// The signed-in app's state, shared with every view by context. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Chat {
    pub me: RwSignal<Option<Me>>,
    pub model: RwSignal<Model>,
    pub conn: RwSignal<ConnState>,
    /// Whether the page is visible (not a background tab): `read` is only sent then.
    pub visible: RwSignal<bool>,
    /// Unsent composer text per conversation.
    pub drafts: RwSignal<std::collections::HashMap<String, String>>,
    /// The open conversation (from the URL).
    pub active: Memo<Option<String>>,
    last_typing: StoredValue<(String, f64)>,
}

impl Chat {
    pub fn new(active: Memo<Option<String>>) -> Self {
        Chat {
            me: RwSignal::new(None),
            model: RwSignal::new(Model::default()),
            conn: RwSignal::new(ConnState::Connecting),
            visible: RwSignal::new(true),
            drafts: RwSignal::new(Default::default()),
            active,
            last_typing: StoredValue::new((String::new(), 0.0)),
        }
    }

    /// Starts the socket for the signed-in user. `session_ended` runs when the server ends the
    /// session (sign-out elsewhere, expiry).
    pub fn connect(self, me: Me, session_ended: impl Fn() + Clone + 'static) {
        self.model.set(Model::new(&me.username));
        self.me.set(Some(me));
        socket::start_signed_in(self.conn, move |frame| self.handle(frame), session_ended);
    }

    /// Folds one server frame into the state.
    pub fn handle(self, frame: ServerFrame) {
        let now = now_ms();
        match frame {
            ServerFrame::Hello(Hello {
                user,
                conversations,
                ..
            }) => {
                self.model.update(|m| m.apply_hello(&user, conversations));
                self.conn.set(ConnState::Online);
                let frames = self.model.with_untracked(Model::resume_frames);
                for frame in &frames {
                    socket::send(frame);
                }
            }
            // Frames may have been lost between server nodes: catch up as after a reconnect.
            ServerFrame::Resync => {
                let frames = self.model.with_untracked(Model::resume_frames);
                for frame in &frames {
                    socket::send(frame);
                }
            }
            ServerFrame::Message(m) if m.conversation_id.is_none() => {
                let me = self.model.with_untracked(|model| model.me.clone());
                let peer = if m.from == me {
                    m.to.clone()
                } else {
                    m.from.clone()
                };
                let mut fill = None;
                self.model.update(|model| {
                    model.apply_message(m);
                    fill = model.gap_sync(&peer);
                });
                if let Some(frame) = fill {
                    socket::send(&frame);
                }
            }
            ServerFrame::Accepted(Accepted {
                client_msg_id,
                id,
                seq,
                delivered,
                peer,
                sent_at,
                conversation_id: None,
            }) => {
                self.model.update(|m| {
                    m.apply_accepted(
                        &client_msg_id,
                        &id,
                        seq,
                        delivered,
                        peer.as_deref(),
                        sent_at.as_deref(),
                        now,
                    )
                });
                self.prune_later(crate::app::notice::INFO_NOTICE_MS);
            }
            // A receipt always follows own messages, so its conversation is known; support read
            // receipts (`peer` is a support conversation id) match none.
            ServerFrame::Receipt(Receipt {
                peer,
                kind,
                up_to_seq,
                conversation_id: None,
            }) if self.model.with_untracked(|m| m.conv(&peer).is_some()) => self
                .model
                .update(|m| m.apply_receipt(&peer, kind, up_to_seq)),
            ServerFrame::Presence(Presence { user, online }) => {
                self.model.update(|m| m.apply_presence(&user, online))
            }
            ServerFrame::Typing(Typing {
                from,
                conversation_id: None,
            }) => {
                self.model
                    .update(|m| m.apply_typing(&from, now + TYPING_SHOWS_MS));
                self.prune_later(TYPING_SHOWS_MS);
            }
            ServerFrame::Synced(Synced {
                peer: Some(peer),
                last_seq,
                ..
            }) => self.model.update(|m| m.apply_synced(&peer, last_seq)),
            ServerFrame::HistoryPage(HistoryPage {
                peer: Some(peer),
                messages,
                has_more,
                ..
            }) => self
                .model
                .update(|m| m.apply_history(&peer, messages, has_more)),
            ServerFrame::Error(ErrorFrame {
                code,
                message,
                client_msg_id,
            }) => self.model.update(|m| {
                let context = self.active.get_untracked();
                m.apply_error(
                    code,
                    &message,
                    client_msg_id.as_deref(),
                    context.as_deref(),
                    now,
                )
            }),
            // Pong only proves the line is alive; support frames are for the agent console.
            _ => {}
        }
    }

    /// Re-checks expiring things (typing, notices) a little after `ms`.
    fn prune_later(self, ms: f64) {
        let model = self.model;
        set_timeout(
            move || model.maybe_update(|m| m.prune(now_ms())),
            Duration::from_millis(ms as u64 + 100),
        );
    }

    /// Opens a conversation: creates it if new and asks for its newest page once.
    pub fn open(self, peer: &str) {
        let mut frame = None;
        self.model.update(|m| frame = m.open(peer));
        if let Some(frame) = frame {
            // If the socket is down, `hello` asks again (the conversation stays "loading").
            socket::send(&frame);
        }
    }

    /// Asks for the page before the oldest loaded message.
    pub fn load_older(self, peer: &str) {
        let mut frame = None;
        self.model.update(|m| frame = m.load_older(peer));
        if let Some(frame) = frame {
            if !socket::send(&frame) {
                self.model.update(|m| {
                    if let Some(c) = m.conversations.get_mut(peer) {
                        c.loading_older = false;
                    }
                });
            }
        }
    }

    /// Sends a message; `Err` (a message to show in red) when the text is not sendable.
    pub fn send_message(self, peer: &str, raw: &str) -> Result<(), String> {
        let body = MessageBody::parse(raw).map_err(|e| e.message)?;
        let id = new_client_msg_id();
        let mut frame = None;
        self.model
            .update(|m| frame = Some(m.queue_send(peer, &id, body.as_str())));
        if let Some(frame) = frame {
            // Not connected: it stays "sending" and goes out after the next `hello`.
            socket::send(&frame);
        }
        self.last_typing.set_value((String::new(), 0.0));
        Ok(())
    }

    pub fn retry(self, peer: &str, client_msg_id: &str) {
        let mut frame = None;
        self.model.update(|m| frame = m.retry(peer, client_msg_id));
        if let Some(frame) = frame {
            socket::send(&frame);
        }
    }

    pub fn discard(self, peer: &str, client_msg_id: &str) {
        self.model.update(|m| m.discard(peer, client_msg_id));
    }

    /// Tells `peer` the user is typing, at most every [`TYPING_EVERY_MS`].
    pub fn typing(self, peer: &str) {
        let now = now_ms();
        let (last_peer, last_at) = self.last_typing.get_value();
        if last_peer == peer && now - last_at < TYPING_EVERY_MS {
            return;
        }
        let sent = socket::send(&ClientFrame::Typing {
            peer: Some(peer.to_owned()),
            conversation_id: None,
        });
        if sent {
            self.last_typing.set_value((peer.to_owned(), now));
        }
    }

    /// Sends `read` for the messages of `peer` now on screen, if any are new.
    pub fn mark_read(self, peer: &str) {
        let target = self
            .model
            .with_untracked(|m| m.conv(peer).and_then(|c| c.read_target()));
        let Some(up_to_seq) = target else { return };
        let sent = socket::send(&ClientFrame::Read {
            peer: Some(peer.to_owned()),
            conversation_id: None,
            up_to_seq,
        });
        if sent {
            self.model.update(|m| m.mark_read_sent(peer, up_to_seq));
        }
    }

    pub fn dismiss_notice(self, id: u64) {
        self.model.update(|m| m.notices.dismiss(id));
    }

    /// Shows a notice that did not come from the server (e.g. a sign-out failure).
    pub fn notify(self, kind: NoticeKind, text: String, peer: Option<String>) {
        self.model
            .update(|m| m.notices.push(kind, text, peer, now_ms()));
        if kind == NoticeKind::Info {
            self.prune_later(crate::app::notice::INFO_NOTICE_MS);
        }
    }

    /// Closes the socket for good.
    pub fn disconnect(self) {
        socket::stop();
        self.conn.set(ConnState::Offline);
    }
}
