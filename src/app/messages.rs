//! The scrolling message list of one conversation: messages in seq order (own ones right, with
//! their delivery status), day dividers, and older pages fetched when scrolled to the top.
//!
//! [`MessageView`] is the list itself, fed by a [`ListFeed`] (rows, paging state and the
//! row actions), so the direct-message app ([`MessageList`]) and the support views share it.
//!
//! Scrolling: the list follows new messages while the reader is at the bottom, stays put while
//! they read further up, and keeps the same message in view when an older page is prepended.
//! Bodies are text nodes, never HTML: `<b>x</b>` shows as typed.

use super::chat::Chat;
use super::handlers::click;
use super::keyed_list::{keyed_list, KeyedRow};
use super::reactive::{effect, memo, When};
use super::thread::{HistoryState, Row};
use super::util::time_labels;
use leptos::either::EitherOf4;
use leptos::html;
use leptos::prelude::*;

/// Within this many pixels of the bottom, the list sticks to new messages.
const STICK_PX: i32 = 80;
/// Within this many pixels of the top, the older page is fetched.
const LOAD_OLDER_PX: i32 = 160;

/// A row with its display extras: local time and, when the day changes, a divider.
type ShownRow = (Row, String, Option<String>);

/// What a message list shows and what its controls do.
#[derive(Clone, Copy)]
pub struct ListFeed {
    /// The rows, oldest first.
    pub rows: Signal<Vec<Row>>,
    /// Whether the newest page is in, whether older messages exist, whether a page is coming.
    pub paging: Signal<(HistoryState, bool, bool)>,
    /// Ask for the page before the oldest row.
    pub load_older: Callback<()>,
    /// Send a refused message again / drop it (by `client_msg_id`).
    pub retry: Callback<String>,
    pub discard: Callback<String>,
}

/// The direct-message list with `peer`.
#[component]
pub fn MessageList(peer: String) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let beginning = format!("This is the beginning of your conversation with {peer}");
    let peer = StoredValue::new(peer);
    let rows = Signal::derive(move || {
        chat.model
            .with(|m| peer.with_value(|p| m.conv(p).map(|c| c.rows(&m.me)).unwrap_or_default()))
    });
    let paging = Signal::derive(move || {
        chat.model.with(|m| {
            peer.with_value(|p| {
                m.conv(p)
                    .map(|c| (c.history, c.has_more, c.loading_older))
                    .unwrap_or((HistoryState::NotLoaded, false, false))
            })
        })
    });
    let feed = ListFeed {
        rows,
        paging,
        load_older: Callback::new(move |()| peer.with_value(|p| chat.load_older(p))),
        retry: Callback::new(move |id: String| peer.with_value(|p| chat.retry(p, &id))),
        discard: Callback::new(move |id: String| peer.with_value(|p| chat.discard(p, &id))),
    };
    view! { <MessageView feed beginning/> }
}

/// A scrolling message list. `beginning` is shown above the first message once the whole
/// history is in; `empty` (title, hint) when there are no messages at all.
#[component]
pub fn MessageView(
    feed: ListFeed,
    #[prop(into)] beginning: String,
    #[prop(optional, into)] empty_title: Option<String>,
    #[prop(optional, into)] empty_hint: Option<String>,
) -> impl IntoView {
    let ListFeed {
        rows: raw_rows,
        paging: state,
        load_older: ask_older,
        retry,
        discard,
    } = feed;
    let beginning = StoredValue::new(beginning);
    let empty_title = empty_title.unwrap_or_else(|| "No messages yet.".to_owned());
    let empty_hint = empty_hint.unwrap_or_else(|| "Say hello 👋".to_owned());
    let scroller = NodeRef::<html::Div>::new();
    let stick = StoredValue::new(true);
    // Distance from the bottom to restore once an older page is in.
    let anchor = StoredValue::new(None::<i32>);

    let rows = memo(move || {
        let rows = raw_rows.get();
        let mut last_day = String::new();
        rows.into_iter()
            .map(|row| {
                let (time, day) = time_labels(&row.sent_at);
                let divider = (!day.is_empty() && day != last_day).then(|| day.clone());
                if !day.is_empty() {
                    last_day = day;
                }
                (row, time, divider)
            })
            .collect::<Vec<ShownRow>>()
    });
    // After the rows change (and the DOM with them), put the scroll position where it belongs.
    effect(move || {
        rows.track();
        let loading_older = state.with(|s| s.2);
        // The list may be gone by the next frame (another conversation opened): then there is
        // nothing to scroll.
        request_animation_frame(move || {
            let Some(el) = scroller.try_get_untracked().flatten() else {
                return;
            };
            if let Some(from_bottom) = anchor.try_get_value().flatten() {
                el.set_scroll_top(el.scroll_height() - from_bottom);
                if !loading_older {
                    anchor.try_set_value(None);
                }
            } else if stick.try_get_value().unwrap_or(false) {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });

    let load_older = move || {
        let (history, has_more, loading) = state.get_untracked();
        if history != HistoryState::Loaded || !has_more || loading {
            return;
        }
        if let Some(el) = scroller.get_untracked() {
            anchor.set_value(Some(el.scroll_height() - el.scroll_top()));
        }
        ask_older.run(());
    };
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
        stick.set_value(from_bottom < STICK_PX);
        if el.scroll_top() < LOAD_OLDER_PX {
            load_older();
        }
    };

    let top_line = move || {
        let (history, has_more, loading) = state.get();
        match history {
            HistoryState::Loaded if loading => Some(EitherOf4::A(
                view! { <p class="list-hint" data-testid="older-loading">"Loading older messages…"</p> },
            )),
            HistoryState::Loaded if has_more => Some(EitherOf4::B(view! {
                <button class="link list-hint" data-testid="load-older" on:click=click(move |_| load_older())>
                    "Load older messages"
                </button>
            })),
            HistoryState::Loaded if rows.with(|r| !r.is_empty()) => Some(EitherOf4::C(view! {
                <p class="list-hint" data-testid="history-start">{beginning.get_value()}</p>
            })),
            HistoryState::Loaded => None,
            _ => Some(EitherOf4::D(
                view! { <p class="list-hint" data-testid="history-loading">"Loading messages…"</p> },
            )),
        }
    };
    let empty = move || state.with(|s| s.0 == HistoryState::Loaded) && rows.with(Vec::is_empty);
    // Keyed by the whole row: a row that changes (sent -> delivered, …) is drawn anew.
    let items = move || {
        rows.get()
            .into_iter()
            .map(|shown| {
                let (row, time, divider) = shown.clone();
                KeyedRow::new(shown, move || {
                    view! { <MessageRow row time divider retry discard/> }
                })
            })
            .collect()
    };

    view! {
        <div
            class="messages"
            node_ref=scroller
            on:scroll=on_scroll
            data-testid="message-list"
            role="log"
            aria-live="polite"
        >
            {top_line}
            <When when=empty>
                <div class="empty-chat" data-testid="empty-chat">
                    <p>{empty_title.clone()}</p>
                    <p class="muted">{empty_hint.clone()}</p>
                </div>
            </When>
            {keyed_list(items)}
        </div>
    }
}

#[component]
fn MessageRow(
    row: Row,
    time: String,
    divider: Option<String>,
    retry: Callback<String>,
    discard: Callback<String>,
) -> impl IntoView {
    let Row {
        own,
        seq,
        body,
        sent_at,
        status,
        error,
        client_msg_id,
        author,
        role,
        ..
    } = row;
    let status_view = status.map(|s| {
        view! {
            <span class=format!("status status-{}", s.css()) data-testid="msg-status">
                {s.label()}
            </span>
        }
    });
    let error_view = error.map(|message| {
        let (id_retry, id_drop) = (client_msg_id.clone(), client_msg_id.clone());
        view! {
            <div class="msg-error" data-testid="msg-error">
                <span>{message}</span>
                <button class="link" data-testid="retry" on:click=click(move |_| retry.run(id_retry.clone()))>
                    "Retry"
                </button>
                <button class="link" data-testid="discard" on:click=click(move |_| discard.run(id_drop.clone()))>
                    "Delete"
                </button>
            </div>
        }
    });
    view! {
        {divider
            .map(|day| {
                view! {
                    <div class="day-divider" role="separator" data-testid="day-divider">
                        <span>{day}</span>
                    </div>
                }
            })}
        <div
            class="msg"
            class:own=own
            class:theirs=!own
            data-testid="message"
            data-own=own.to_string()
            data-seq=seq.map(|s| s.to_string())
            data-status=status.map(|s| s.css())
            data-role=role
        >
            {author
                .map(|name| {
                    view! { <span class="msg-author" data-testid="msg-author">{name}</span> }
                })}
            <div class="bubble">
                <p class="body" data-testid="message-body">{body}</p>
                <span class="meta">
                    <time datetime=sent_at.clone() title=sent_at>{time}</time>
                    {status_view}
                </span>
            </div>
            {error_view}
        </div>
    }
}
