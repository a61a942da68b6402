//! The support customer's controller: the reactive state of `/support` ([`SupportChat`],
//! shared by context) and the glue between it, `POST /api/support/start` and the customer
//! socket (`GET /ws/support`).
//!
//! A customer has no account. `start` gets (or, with the HttpOnly `confab_support` cookie,
//! finds again) the browser's conversation; local storage only remembers *that* one was
//! started, so a returning visitor skips the name form and sees the whole conversation again.
//!
//! Reconnect policy, as in the direct-message app: the socket retries with backoff and jitter;
//! every new socket opens with the newest history page, and before folding it in the
//! controller sends `sync {after_seq}` from the newest seq it holds (so nothing between what it
//! had and that page is missed) and resends every unacknowledged message with its original
//! `client_msg_id`. Messages are kept by seq, so nothing shows twice.

use super::api;
use super::chat::{TYPING_EVERY_MS, TYPING_SHOWS_MS};
use super::chat_page::gloo_sleep;
use super::notice::{NoticeBoard, NoticeKind};
use super::socket::{self, ConnState, Handlers, SUPPORT_PATH};
use super::support_thread::{Side, SupportThread};
use super::util::{new_client_msg_id, now_ms, store, stored, Store};
use crate::protocol::server::{Accepted, ErrorFrame, HistoryPage, Receipt, Status, Synced, Typing};
use crate::protocol::{MessageBody, ReceiptKind, ServerFrame};
use leptos::prelude::*;
use std::time::Duration;

/// Local storage key: the id of the conversation this browser started (not a secret; the
/// cookie is).
const STARTED_KEY: &str = "confab.support.conversation";

/// What the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Finding out whether this browser has a conversation.
    Checking,
    /// The name form.
    Welcome,
    /// The name form, sent.
    Starting,
    Chatting,
}

/// The customer page's state. Cheap to copy.
#[derive(Clone, Copy)]
pub struct SupportChat {
    pub phase: RwSignal<Phase>,
    pub thread: RwSignal<SupportThread>,
    pub conn: RwSignal<ConnState>,
    pub notices: RwSignal<NoticeBoard>,
    /// Why starting failed (shown in red on the form or the splash).
    pub start_error: RwSignal<Option<String>>,
    /// Whether the page is visible: `read` is only sent then.
    pub visible: RwSignal<bool>,
    /// The clock as of the last typing change (typing lines expire against it).
    pub now: RwSignal<f64>,
    /// Whether the current socket has sent its first frame.
    greeted: StoredValue<bool>,
    last_typing: StoredValue<f64>,
}

impl Default for SupportChat {
    fn default() -> Self {
        Self::new()
    }
}

impl SupportChat {
    pub fn new() -> Self {
        SupportChat {
            phase: RwSignal::new(Phase::Checking),
            thread: RwSignal::new(SupportThread::new(Side::Customer, "", "")),
            conn: RwSignal::new(ConnState::Connecting),
            notices: RwSignal::new(NoticeBoard::default()),
            start_error: RwSignal::new(None),
            visible: RwSignal::new(true),
            now: RwSignal::new(0.0),
            greeted: StoredValue::new(false),
            last_typing: StoredValue::new(0.0),
        }
    }

    /// Browser only: a returning visitor goes straight to the conversation; a new one sees the
    /// name form.
    pub fn boot(self) {
        if stored(Store::Local, STARTED_KEY).is_some() {
            self.start(None);
        } else {
            self.phase.set(Phase::Welcome);
        }
    }

    /// Starts (or finds again) the conversation, then connects. A returning visitor keeps
    /// trying through network trouble; the name form shows its error and lets them retry.
    pub fn start(self, name: Option<String>) {
        let returning = self.phase.get_untracked() == Phase::Checking;
        if !returning {
            self.phase.set(Phase::Starting);
        }
        self.start_error.set(None);
        leptos::task::spawn_local(async move {
            let mut wait_ms = 1_000u64;
            loop {
                let answer = api::support_start(name.clone()).await;
                if self.phase.is_disposed() {
                    return;
                }
                match answer {
                    Ok(started) => {
                        self.adopt(&started.conversation_id);
                        self.start_error.set(None);
                        self.phase.set(Phase::Chatting);
                        self.connect();
                        return;
                    }
                    Err(message) if returning => {
                        self.start_error.set(Some(message));
                        gloo_sleep(wait_ms).await;
                        wait_ms = (wait_ms * 2).min(15_000);
                    }
                    Err(message) => {
                        self.start_error.set(Some(message));
                        self.phase.set(Phase::Welcome);
                        return;
                    }
                }
            }
        });
    }

    /// Makes `id` the conversation shown; a different one than before starts empty (messages
    /// still waiting to be sent move along).
    fn adopt(self, id: &str) {
        store(Store::Local, STARTED_KEY, Some(id));
        if self.thread.with_untracked(|t| t.conversation_id == id) {
            return;
        }
        self.thread.update(|t| {
            let mut fresh = SupportThread::new(Side::Customer, "", id);
            fresh.pending = std::mem::take(&mut t.pending);
            *t = fresh;
        });
    }

    fn connect(self) {
        socket::start_at(
            SUPPORT_PATH,
            Handlers {
                on_frame: Box::new(move |frame| self.handle(frame)),
                on_state: Box::new(move |state| {
                    if matches!(state, ConnState::Connecting | ConnState::Reconnecting) {
                        self.greeted.set_value(false);
                    }
                    self.conn.set(state);
                }),
                on_session_ended: Box::new(move || {
                    self.notify("The chat was closed by the server. Reload the page to continue.")
                }),
                // Maybe the cookie is gone (cleared, expired): starting again finds the same
                // conversation, or makes a new one the socket can open.
                on_connect_failed: Box::new(move || {
                    leptos::task::spawn_local(async move {
                        if let Ok(started) = api::support_start(None).await {
                            if !self.phase.is_disposed() {
                                self.adopt(&started.conversation_id);
                            }
                        }
                    });
                }),
            },
        );
    }

    /// Folds one server frame into the state.
    pub fn handle(self, frame: ServerFrame) {
        let now = now_ms();
        if !self.greeted.get_value() {
            // A new socket: catch up from what this page holds *before* its first page (the
            // newest 50) is folded in, then resend what was never acknowledged.
            self.greeted.set_value(true);
            self.conn.set(ConnState::Online);
            let mut frames = Vec::new();
            self.thread.update(|t| frames = t.resume_frames());
            for frame in &frames {
                socket::send(frame);
            }
        }
        match frame {
            ServerFrame::Resync => {
                let mut frames = Vec::new();
                self.thread.update(|t| frames = t.resume_frames());
                for frame in &frames {
                    socket::send(frame);
                }
            }
            ServerFrame::HistoryPage(HistoryPage {
                messages, has_more, ..
            }) => self.thread.update(|t| t.apply_history(messages, has_more)),
            ServerFrame::Status(Status {
                status, assignee, ..
            }) => self.thread.update(|t| t.apply_status(&status, assignee)),
            ServerFrame::Message(m) => {
                let mut fill = None;
                self.thread.update(|t| {
                    t.apply_message(m);
                    fill = t.gap_sync();
                });
                if let Some(frame) = fill {
                    socket::send(&frame);
                }
            }
            ServerFrame::Accepted(Accepted {
                client_msg_id,
                id,
                seq,
                sent_at,
                ..
            }) => self.thread.update(|t| {
                t.apply_accepted(&client_msg_id, &id, seq, sent_at.as_deref().unwrap_or(""))
            }),
            ServerFrame::Receipt(Receipt {
                kind: ReceiptKind::Read,
                up_to_seq,
                ..
            }) => self.thread.update(|t| t.apply_receipt(up_to_seq)),
            ServerFrame::Typing(Typing { from, .. }) => {
                self.thread
                    .update(|t| t.apply_typing(&from, now + TYPING_SHOWS_MS));
                self.now.set(now);
                let clock = self.now;
                set_timeout(
                    move || {
                        let _ = clock.try_set(now_ms());
                    },
                    Duration::from_millis(TYPING_SHOWS_MS as u64 + 100),
                );
            }
            ServerFrame::Synced(Synced { last_seq, .. }) => {
                self.thread.update(|t| t.apply_synced(last_seq))
            }
            ServerFrame::Error(ErrorFrame {
                code,
                message,
                client_msg_id,
            }) => {
                let text = if message.is_empty() {
                    code.as_str().replace('_', " ")
                } else {
                    message
                };
                if let Some(id) = client_msg_id {
                    self.thread.update(|t| {
                        t.fail(&id, &text);
                    });
                }
                self.notify(&text);
            }
            _ => {}
        }
    }

    fn notify(self, text: &str) {
        let now = now_ms();
        self.notices
            .update(|n| n.push(NoticeKind::Error, text.to_owned(), None, now));
    }

    /// Sends a message; `Err` (shown in red) when the text is not sendable.
    pub fn send_message(self, raw: &str) -> Result<(), String> {
        let body = MessageBody::parse(raw).map_err(|e| e.message)?;
        let id = new_client_msg_id();
        let mut frame = None;
        self.thread
            .update(|t| frame = Some(t.queue_send(&id, body.as_str())));
        if let Some(frame) = frame {
            // Not connected: it stays "sending" and goes out after the next connect.
            socket::send(&frame);
        }
        self.last_typing.set_value(0.0);
        Ok(())
    }

    pub fn retry(self, client_msg_id: &str) {
        let mut frame = None;
        self.thread.update(|t| frame = t.retry(client_msg_id));
        if let Some(frame) = frame {
            socket::send(&frame);
        }
    }

    pub fn discard(self, client_msg_id: &str) {
        self.thread.update(|t| t.discard(client_msg_id));
    }

    pub fn load_older(self) {
        let mut frame = None;
        self.thread.update(|t| frame = t.load_older());
        if let Some(frame) = frame {
            if !socket::send(&frame) {
                self.thread.update(|t| t.loading_older = false);
            }
        }
    }

    /// Tells the agents the customer is typing, at most every [`TYPING_EVERY_MS`].
    pub fn typing(self) {
        let now = now_ms();
        if now - self.last_typing.get_value() < TYPING_EVERY_MS {
            return;
        }
        let frame = self.thread.with_untracked(|t| t.typing_frame());
        if socket::send(&frame) {
            self.last_typing.set_value(now);
        }
    }

    /// Sends `read` for the agents' messages on screen, if any are new.
    pub fn mark_read(self) {
        let Some(seq) = self.thread.with_untracked(|t| t.read_target()) else {
            return;
        };
        let frame = self.thread.with_untracked(|t| t.read_frame(seq));
        if socket::send(&frame) {
            self.thread.update(|t| t.mark_read_sent(seq));
        }
    }

    pub fn dismiss_notice(self, id: u64) {
        self.notices.update(|n| n.dismiss(id));
    }
}
