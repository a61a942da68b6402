//! The WebSocket client: one socket per page — `GET /ws` for signed-in users (the direct-message
//! app and the agent console), `GET /ws/support` for a support customer ([`start_at`]) —
//! reconnected with exponential backoff and jitter (0.5 s doubling to 15 s), kept alive with
//! `ping`, and stopped for good when the server ends the session (close code 1008).
//!
//! It knows nothing about chats: it hands every parsed [`ServerFrame`] to its owner and reports
//! its [`ConnState`]. Catching up after a reconnect (`sync`, resends) is the owner's job, done
//! when the new socket's first frame arrives (`hello` on `/ws`, `history_page` on
//! `/ws/support`). Browser-only; the server build gets no-op stand-ins.

use crate::protocol::{ClientFrame, ServerFrame};
use leptos::prelude::{RwSignal, Set};

/// What the connection indicator shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// First connection under way.
    Connecting,
    /// Connected and greeted (`hello` received).
    Online,
    /// Lost; trying again.
    Reconnecting,
    /// Stopped (signed out).
    Offline,
}

impl ConnState {
    pub fn label(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Online => "online",
            ConnState::Reconnecting => "reconnecting",
            ConnState::Offline => "offline",
        }
    }
}

/// What the socket reports to its owner.
pub struct Handlers {
    pub on_frame: Box<dyn Fn(ServerFrame)>,
    pub on_state: Box<dyn Fn(ConnState)>,
    /// The server ended the session (1008): go and sign in; the socket will not come back.
    pub on_session_ended: Box<dyn Fn()>,
    /// A connection attempt failed before opening (maybe a 401 upgrade): worth checking the
    /// session. The socket keeps retrying.
    pub on_connect_failed: Box<dyn Fn()>,
}

/// First retry delay, doubled per failed attempt up to [`BACKOFF_MAX_MS`].
pub const BACKOFF_START_MS: f64 = 500.0;
pub const BACKOFF_MAX_MS: f64 = 15_000.0;
/// How often a `ping` goes out, and how long silence may last before the socket is presumed dead.
pub const PING_EVERY_MS: u64 = 20_000;
pub const SILENCE_LIMIT_MS: f64 = 45_000.0;

/// Delay before retry number `attempt` (0-based), with "equal jitter": half fixed, half random
/// (`random` in 0..1), so many clients dropped together do not come back together.
pub fn backoff_ms(attempt: u32, random: f64) -> f64 {
    let base = (BACKOFF_START_MS * 2f64.powi(attempt.min(16) as i32)).min(BACKOFF_MAX_MS);
    base / 2.0 + base / 2.0 * random.clamp(0.0, 1.0)
}

/// The signed-in user's socket path.
pub const USER_PATH: &str = "/ws";
/// The support customer's socket path.
pub const SUPPORT_PATH: &str = "/ws/support";

/// Opens the page's socket to `GET /ws` (closing any previous one).
pub fn start(handlers: Handlers) {
    start_at(USER_PATH, handlers);
}

/// Opens `GET /ws` for a signed-in user (the direct-message app, the agent console): frames go
/// to `on_frame` and the state to `conn`. `session_ended` runs when the server ends the session,
/// or when a failed attempt turns out to be a lost session (then the socket stops for good).
pub fn start_signed_in(
    conn: RwSignal<ConnState>,
    on_frame: impl Fn(ServerFrame) + 'static,
    session_ended: impl Fn() + Clone + 'static,
) {
    let ended = session_ended.clone();
    start(Handlers {
        on_frame: Box::new(on_frame),
        on_state: Box::new(move |state| conn.set(state)),
        on_session_ended: Box::new(ended),
        on_connect_failed: Box::new(move || {
            let ended = session_ended.clone();
            leptos::task::spawn_local(async move {
                if let Ok(None) = crate::app::api::me().await {
                    stop();
                    conn.set(ConnState::Offline);
                    ended();
                }
            });
        }),
    });
}

#[cfg(feature = "hydrate")]
pub use browser::{send, start_at, stop};

/// Server build: there is no socket.
#[cfg(not(feature = "hydrate"))]
pub fn start_at(_path: &'static str, _handlers: Handlers) {}

/// Server build: nothing is ever sent.
#[cfg(not(feature = "hydrate"))]
pub fn send(_frame: &ClientFrame) -> bool {
    false
}

#[cfg(not(feature = "hydrate"))]
pub fn stop() {}

#[cfg(feature = "hydrate")]
mod browser {
    use super::*;
    use crate::app::util::now_ms;
    use crate::protocol::limits::close;
    use leptos::prelude::{
        set_interval_with_handle, set_timeout, set_timeout_with_handle,
        window_event_listener_untyped, IntervalHandle, TimeoutHandle, WindowListenerHandle,
    };
    use std::cell::{Cell, RefCell};
    use std::rc::{Rc, Weak};
    use std::time::Duration;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    thread_local! {
        static ACTIVE: RefCell<Option<Rc<Conn>>> = const { RefCell::new(None) };
    }

    /// One `WebSocket` and the callbacks it holds.
    struct Live {
        ws: WebSocket,
        _on_open: Closure<dyn FnMut()>,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_close: Closure<dyn FnMut(CloseEvent)>,
    }

    impl Live {
        fn detach(&self) {
            self.ws.set_onopen(None);
            self.ws.set_onmessage(None);
            self.ws.set_onclose(None);
        }
    }

    struct Conn {
        path: &'static str,
        handlers: Handlers,
        live: RefCell<Option<Live>>,
        attempt: Cell<u32>,
        stopped: Cell<bool>,
        last_heard: Cell<f64>,
        retry: Cell<Option<TimeoutHandle>>,
        heartbeat: Cell<Option<IntervalHandle>>,
        online_listener: RefCell<Option<WindowListenerHandle>>,
    }

    /// Opens the page's socket to `path` on this site (closing any previous one).
    pub fn start_at(path: &'static str, handlers: Handlers) {
        stop();
        let conn = Rc::new(Conn {
            path,
            handlers,
            live: RefCell::new(None),
            attempt: Cell::new(0),
            stopped: Cell::new(false),
            last_heard: Cell::new(now_ms()),
            retry: Cell::new(None),
            heartbeat: Cell::new(None),
            online_listener: RefCell::new(None),
        });
        let weak = Rc::downgrade(&conn);
        let heartbeat = set_interval_with_handle(
            move || {
                if let Some(c) = weak.upgrade() {
                    heartbeat(&c);
                }
            },
            Duration::from_millis(PING_EVERY_MS),
        );
        conn.heartbeat.set(heartbeat.ok());
        // Back online after a network loss: do not sit out the backoff.
        let weak = Rc::downgrade(&conn);
        let listener = window_event_listener_untyped("online", move |_| {
            if let Some(c) = weak.upgrade() {
                if let Some(handle) = c.retry.take() {
                    handle.clear();
                    c.attempt.set(0);
                    connect(&c);
                }
            }
        });
        *conn.online_listener.borrow_mut() = Some(listener);
        ACTIVE.with(|a| *a.borrow_mut() = Some(conn.clone()));
        (conn.handlers.on_state)(ConnState::Connecting);
        connect(&conn);
    }

    /// Sends a frame if the socket is open; false if it is not (the caller keeps what matters
    /// and sends it again after the next `hello`).
    pub fn send(frame: &ClientFrame) -> bool {
        let Ok(text) = serde_json::to_string(frame) else {
            return false;
        };
        ACTIVE.with(|a| {
            let active = a.borrow();
            let Some(conn) = active.as_ref() else {
                return false;
            };
            let live = conn.live.borrow();
            match live.as_ref() {
                Some(l) if l.ws.ready_state() == WebSocket::OPEN => {
                    l.ws.send_with_str(&text).is_ok()
                }
                _ => false,
            }
        })
    }

    /// Closes the socket for good (sign-out, leaving the page).
    pub fn stop() {
        let Some(conn) = ACTIVE.with(|a| a.borrow_mut().take()) else {
            return;
        };
        conn.stopped.set(true);
        if let Some(h) = conn.retry.take() {
            h.clear();
        }
        if let Some(h) = conn.heartbeat.take() {
            h.clear();
        }
        if let Some(l) = conn.online_listener.borrow_mut().take() {
            l.remove();
        }
        let live = conn.live.borrow_mut().take();
        if let Some(live) = live {
            live.detach();
            let _ = live.ws.close_with_code(1000);
            // This may run inside one of the socket's own callbacks: free them afterwards.
            set_timeout(move || drop(live), Duration::ZERO);
        }
    }

    fn socket_url(path: &str) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss:"
        } else {
            "ws:"
        };
        Some(format!("{scheme}//{}{path}", location.host().ok()?))
    }

    fn connect(conn: &Rc<Conn>) {
        if conn.stopped.get() {
            return;
        }
        let ws = match socket_url(conn.path).map(|url| WebSocket::new(&url)) {
            Some(Ok(ws)) => ws,
            _ => return schedule_retry(conn),
        };
        let opened = Rc::new(Cell::new(false));
        let weak: Weak<Conn> = Rc::downgrade(conn);
        let on_open = {
            let (weak, opened) = (weak.clone(), opened.clone());
            Closure::<dyn FnMut()>::new(move || {
                opened.set(true);
                if let Some(c) = weak.upgrade() {
                    c.attempt.set(0);
                    c.last_heard.set(now_ms());
                }
            })
        };
        let on_message = {
            let weak = weak.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let Some(c) = weak.upgrade() else { return };
                c.last_heard.set(now_ms());
                let Some(text) = ev.data().as_string() else {
                    return;
                };
                match ServerFrame::from_json(&text) {
                    Ok(frame) => (c.handlers.on_frame)(frame),
                    Err(e) => leptos::logging::warn!("confab: ignoring unreadable frame: {e}"),
                }
            })
        };
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            if let Some(c) = weak.upgrade() {
                closed(&c, ev.code(), opened.get());
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The previous socket (if any) has closed already; its callbacks are not running now.
        let previous = conn.live.borrow_mut().replace(Live {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
        if let Some(previous) = previous {
            previous.detach();
        }
    }

    fn closed(conn: &Rc<Conn>, code: u16, was_open: bool) {
        if conn.stopped.get() {
            return;
        }
        if code == close::POLICY {
            conn.stopped.set(true);
            (conn.handlers.on_state)(ConnState::Offline);
            (conn.handlers.on_session_ended)();
            return;
        }
        (conn.handlers.on_state)(ConnState::Reconnecting);
        if !was_open {
            (conn.handlers.on_connect_failed)();
        }
        schedule_retry(conn);
    }

    fn schedule_retry(conn: &Rc<Conn>) {
        if conn.stopped.get() {
            return;
        }
        let attempt = conn.attempt.get();
        conn.attempt.set(attempt.saturating_add(1));
        let delay = backoff_ms(attempt, js_sys::Math::random());
        let weak = Rc::downgrade(conn);
        let handle = set_timeout_with_handle(
            move || {
                if let Some(c) = weak.upgrade() {
                    c.retry.set(None);
                    connect(&c);
                }
            },
            Duration::from_millis(delay as u64),
        );
        conn.retry.set(handle.ok());
    }

    /// Pings an open socket; closes one that has been silent too long (the close leads to a
    /// reconnect).
    fn heartbeat(conn: &Rc<Conn>) {
        let live = conn.live.borrow();
        let Some(live) = live.as_ref() else { return };
        if live.ws.ready_state() != WebSocket::OPEN {
            return;
        }
        if now_ms() - conn.last_heard.get() > SILENCE_LIMIT_MS {
            let _ = live.ws.close();
        } else if let Ok(ping) = serde_json::to_string(&ClientFrame::Ping) {
            let _ = live.ws.send_with_str(&ping);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_to_fifteen_with_jitter() {
        assert_eq!(backoff_ms(0, 1.0), 500.0);
        assert_eq!(backoff_ms(0, 0.0), 250.0);
        assert_eq!(backoff_ms(1, 1.0), 1000.0);
        assert_eq!(backoff_ms(4, 1.0), 8000.0);
        assert_eq!(backoff_ms(5, 1.0), 15_000.0);
        assert_eq!(backoff_ms(40, 0.5), 11_250.0);
    }
}
