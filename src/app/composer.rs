//! The message composer: a growing textarea (Enter sends, Shift+Enter starts a new line), a
//! send button, a character counter near the limit, and the draft.
//!
//! [`ComposerBox`] is the composer itself, wired to callbacks so the direct-message app
//! ([`Composer`]) and the support views share it. Bodies are checked with the protocol's own
//! [`MessageBody::parse`](crate::protocol::MessageBody) before sending (by the callers), so an
//! over-long message is refused here with the server's limit. While the user types, the owner
//! sends `typing` (at most every two seconds).

use super::chat::Chat;
use super::handlers::{input, submit};
use super::reactive::{self, effect, When};
use crate::protocol::limits::MAX_BODY_CHARS;
use leptos::html;
use leptos::prelude::*;

/// The counter shows once a message is this close to the limit.
const COUNTER_FROM: usize = MAX_BODY_CHARS - 500;
/// Wider than this, opening a conversation focuses the composer (not on phones: no surprise
/// keyboard).
const FOCUS_MIN_WIDTH: f64 = 720.0;

/// The direct-message composer for the conversation with `peer`, keeping its draft.
#[component]
pub fn Composer(peer: String) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let placeholder = format!("Message {peer}");
    let peer = StoredValue::new(peer);
    let initial = chat
        .drafts
        .with_untracked(|d| peer.with_value(|p| d.get(p).cloned().unwrap_or_default()));
    let on_send =
        Callback::new(move |body: String| peer.with_value(|p| chat.send_message(p, &body)));
    let on_typing = Callback::new(move |()| peer.with_value(|p| chat.typing(p)));
    let on_draft = Callback::new(move |value: String| {
        chat.drafts.update(|d| {
            peer.with_value(|p| {
                if value.is_empty() {
                    d.remove(p);
                } else {
                    d.insert(p.clone(), value);
                }
            })
        });
    });
    view! { <ComposerBox placeholder initial on_send on_typing on_draft/> }
}

/// A composer. `on_send` gets the text and answers `Err(message)` to refuse it (shown in red);
/// `on_typing` runs on input with text; `on_draft` gets every change (and `""` after a send).
#[component]
pub fn ComposerBox(
    #[prop(into)] placeholder: String,
    #[prop(optional)] initial: String,
    on_send: Callback<String, Result<(), String>>,
    on_typing: Callback<()>,
    #[prop(optional)] on_draft: Option<Callback<String>>,
) -> impl IntoView {
    let textarea = NodeRef::<html::Textarea>::new();
    let error = RwSignal::new(None::<String>);
    let text = RwSignal::new(initial.clone());
    let save_draft = move |value: String| {
        if let Some(cb) = on_draft {
            cb.run(value);
        }
    };
    effect(move || {
        if let Some(el) = textarea.get() {
            let wide = window()
                .inner_width()
                .ok()
                .and_then(|w| w.as_f64())
                .is_some_and(|w| w >= FOCUS_MIN_WIDTH);
            if wide {
                let _ = el.focus();
            }
        }
    });

    let send = move || {
        let value = textarea
            .get_untracked()
            .map(|t| t.value())
            .unwrap_or_default();
        if value.trim().is_empty() {
            return;
        }
        match on_send.run(value) {
            Ok(()) => {
                if let Some(t) = textarea.get_untracked() {
                    t.set_value("");
                }
                text.set(String::new());
                save_draft(String::new());
                error.set(None);
            }
            Err(message) => error.set(Some(message)),
        }
    };

    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    let on_input = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if !value.trim().is_empty() {
            on_typing.run(());
        }
        error.set(None);
        text.set(value.clone());
        save_draft(value);
    };
    let count = move || text.with(|t| t.chars().count());

    view! {
        <form
            class="composer"
            data-testid="composer-form"
            on:submit=submit(move |ev| {
                ev.prevent_default();
                send();
            })
        >
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <p class="notice error slim composer-error" role="alert" data-testid="composer-error">
                                {message}
                            </p>
                        }
                    })
            }}
            <div class="composer-row">
                <textarea
                    node_ref=textarea
                    rows="1"
                    placeholder=placeholder
                    aria-label="Message"
                    data-testid="composer"
                    prop:value=initial
                    on:keydown=on_keydown
                    on:input=input(on_input)
                ></textarea>
                <button
                    type="submit"
                    class="primary send"
                    data-testid="send-button"
                    aria-label="Send"
                    disabled=reactive::flag(move || text.with(|t| t.trim().is_empty()))
                >
                    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
                        <path d="M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z" fill="currentColor"></path>
                    </svg>
                </button>
            </div>
            <When when=move || { count() >= COUNTER_FROM }>
                <span class="counter" class:over=reactive::flag(move || count() > MAX_BODY_CHARS) data-testid="char-counter">
                    {reactive::text(move || format!("{} / {MAX_BODY_CHARS}", count()))}
                </span>
            </When>
        </form>
    }
}
