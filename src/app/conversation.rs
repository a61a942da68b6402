//! The open conversation: header (back button on narrow screens, peer, presence), the message
//! list, "bob is typing…", the red/blue notices and the composer.
//!
//! While it is open and the page is visible, new messages from the peer are reported with
//! `read` as soon as they are on screen.

use super::chat::Chat;
use super::composer::Composer;
use super::handlers::click;
use super::keyed_list::{keyed_list, KeyedRow};
use super::messages::MessageList;
use super::notice::{Notice, NoticeKind};
use super::reactive::{effect, label, memo};
use super::sidebar::Avatar;
use super::util::now_ms;
use leptos::prelude::*;

#[component]
pub fn ConversationView(peer: String) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let peer = StoredValue::new(peer);

    // Browser only: create the conversation if new and fetch its newest page.
    // If the socket is not up yet, the request goes out after its `hello`.
    effect(move || peer.with_value(|p| chat.open(p)));
    // Report what is read: re-runs on every change while open and visible.
    effect(move || {
        let visible = chat.visible.get();
        let target = chat
            .model
            .with(|m| peer.with_value(|p| m.conv(p).and_then(|c| c.read_target())));
        if visible && target.is_some() {
            peer.with_value(|p| chat.mark_read(p));
        }
    });

    let online = Signal::derive(move || {
        chat.model
            .with(|m| peer.with_value(|p| m.conv(p).is_some_and(|c| c.online)))
    });
    let typing = move || {
        chat.model
            .with(|m| peer.with_value(|p| m.is_typing(p, now_ms())))
    };
    let notices = move || {
        chat.model
            .with(|m| peer.with_value(|p| m.notices.for_peer(Some(p))))
    };

    view! {
        <div class="conversation" data-testid="conversation" data-peer=peer.get_value()>
            <header class="conv-head">
                <a href="/" class="back" data-testid="back-button" aria-label="Back to conversations">
                    "‹"
                </a>
                <Avatar name=peer.get_value() online/>
                <div class="conv-head-text">
                    <h2 data-testid="chat-peer">{peer.get_value()}</h2>
                    <span class="presence-text" data-testid="chat-presence">
                        {label(move || if online.get() { "online" } else { "offline" })}
                    </span>
                </div>
            </header>
            <MessageList peer=peer.get_value()/>
            <TypingLine who=Signal::derive(move || typing().then(|| peer.get_value()))/>
            <NoticeStack
                notices=Signal::derive(notices)
                on_dismiss=Callback::new(move |id| chat.dismiss_notice(id))
            />
            <Composer peer=peer.get_value()/>
        </div>
    }
}

/// The line under the messages: "<who> is typing…" while `who` is set, else empty.
#[component]
pub fn TypingLine(who: Signal<Option<String>>) -> impl IntoView {
    let who = memo(move || who.get());
    view! {
        <div class="typing-line" aria-live="polite">
            {move || {
                who.get()
                    .map(|name| {
                        view! {
                            <span class="typing" data-testid="typing-indicator">
                                <span class="dots" aria-hidden="true">
                                    <i></i>
                                    <i></i>
                                    <i></i>
                                </span>
                                {name}
                                " is typing…"
                            </span>
                        }
                    })
            }}
        </div>
    }
}

/// Red (error) and blue (info) notices, newest last, each dismissable (`on_dismiss` gets the
/// notice's id).
#[component]
pub fn NoticeStack(notices: Signal<Vec<Notice>>, on_dismiss: Callback<u64>) -> impl IntoView {
    let rows = move || {
        notices
            .get()
            .into_iter()
            .map(|n| {
                KeyedRow::new(n.id, move || {
                    let (class, testid, role) = match n.kind {
                        NoticeKind::Error => ("notice error", "notice-error", "alert"),
                        NoticeKind::Info => ("notice info", "notice-info", "status"),
                    };
                    let id = n.id;
                    view! {
                        <div class=class data-testid=testid role=role>
                            <span class="notice-text">{n.text}</span>
                            <button
                                class="notice-close"
                                aria-label="Dismiss"
                                on:click=click(move |_| on_dismiss.run(id))
                            >
                                "×"
                            </button>
                        </div>
                    }
                })
            })
            .collect()
    };
    view! {
        <div class="notices" data-testid="notices">
            {keyed_list(rows)}
        </div>
    }
}
