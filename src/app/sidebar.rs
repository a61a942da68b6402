//! The left column: who is signed in, the connection state, sign-out, a link to the support
//! console (agents and admins only), the "new conversation" form and the conversation list
//! (peer, online dot, last message preview, unread badge), most recent activity first.

use super::chat::Chat;
use super::connection_badge::ConnectionBadge;
use super::handlers::{self, click, submit};
use super::keyed_list::{keyed_list, KeyedRow};
use super::reactive::{flag, memo, text, When};
use super::socket::ConnState;
use super::thread::ListItem;
use super::util::{hue, initial, now_ms};
use crate::protocol::{Me, Username};
use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

/// Who is signed in (avatar and name) and the connection state, at the top of the sidebar and
/// of the agent console.
#[component]
pub fn CurrentUser(me: RwSignal<Option<Me>>, conn: RwSignal<ConnState>) -> impl IntoView {
    let username = move || me.with(|m| m.as_ref().map(|m| m.username.clone()));
    view! {
        <div class="me">
            {move || username().map(|name| view! { <Avatar name/> })}
            <div class="me-text">
                <span class="me-name" data-testid="current-user">
                    {text(move || username().unwrap_or_default())}
                </span>
                <ConnectionBadge state=conn/>
            </div>
        </div>
    }
}

/// The "Sign out" button; `on_sign_out` does the work.
#[component]
pub fn SignOutButton(on_sign_out: Callback<()>) -> impl IntoView {
    view! {
        <button class="ghost small" data-testid="sign-out" on:click=click(move |_| on_sign_out.run(()))>
            "Sign out"
        </button>
    }
}

#[component]
pub fn Sidebar(on_sign_out: Callback<()>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let is_agent = move || {
        chat.me
            .with(|m| m.as_ref().is_some_and(|m| m.role.is_agent()))
    };

    view! {
        <aside class="sidebar" data-testid="sidebar">
            <header class="sidebar-head">
                <CurrentUser me=chat.me conn=chat.conn/>
                <SignOutButton on_sign_out/>
            </header>
            <When when=is_agent>
                <a href="/agent" class="console-link" data-testid="console-link">
                    <span aria-hidden="true">"🎧"</span>
                    " Support console"
                </a>
            </When>
            <NewConversation/>
            <ConversationList/>
        </aside>
    }
}

/// A round avatar with the person's initial, in a colour of their own.
#[component]
pub fn Avatar(name: String, #[prop(optional)] online: Option<Signal<bool>>) -> impl IntoView {
    let style = format!("--avatar-hue: {}", hue(&name));
    view! {
        <span class="avatar" style=style aria-hidden="true">
            {initial(&name)}
            {online
                .map(|online| {
                    view! {
                        <span
                            class="presence-dot"
                            class:online=flag(move || online.get())
                            data-testid="online-dot"
                            data-online=text(move || online.get().to_string())
                        ></span>
                    }
                })}
        </span>
    }
}

/// "Start a conversation" by username. Checked here first: a valid username, and not yourself.
#[component]
fn NewConversation() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let navigate = use_navigate();
    let input = NodeRef::<html::Input>::new();
    let error = RwSignal::new(None::<String>);

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(el) = input.get_untracked() else {
            return;
        };
        let raw = el.value();
        if raw.trim().is_empty() {
            return;
        }
        let peer = match Username::parse(&raw) {
            Ok(u) => u.into_string(),
            Err(e) => return error.set(Some(e.message)),
        };
        let me = chat
            .me
            .with_untracked(|m| m.as_ref().map(|m| m.username.clone()));
        if me.as_deref() == Some(peer.as_str()) {
            return error.set(Some("You can't send messages to yourself.".to_owned()));
        }
        error.set(None);
        el.set_value("");
        navigate(
            &format!("/?c={peer}"),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    };

    view! {
        <form class="new-conv" on:submit=submit(on_submit) data-testid="new-conv-form">
            <input
                node_ref=input
                placeholder="New conversation: username"
                aria-label="Start a conversation with (username)"
                autocomplete="off"
                autocapitalize="none"
                spellcheck="false"
                data-testid="new-conv-input"
                on:input=handlers::input(move |_| error.set(None))
            />
            <button type="submit" class="primary small" data-testid="new-conv-submit">
                "Start"
            </button>
        </form>
        {move || {
            error
                .get()
                .map(|message| {
                    view! {
                        <p class="notice error slim" role="alert" data-testid="new-conv-error">
                            {message}
                        </p>
                    }
                })
        }}
    }
}

#[component]
fn ConversationList() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let items = memo(move || chat.model.with(|m| m.list(now_ms())));
    let active = chat.active;
    // Keyed by the whole item: a row that changes is drawn anew.
    let rows = move || {
        let current = active.get();
        items
            .get()
            .into_iter()
            .map(move |item| {
                let is_active = current.as_deref() == Some(item.peer.as_str());
                KeyedRow::new((item.clone(), is_active), move || {
                    view! { <ConversationItem item is_active/> }
                })
            })
            .collect()
    };

    view! {
        <nav class="conv-list" aria-label="Conversations" data-testid="conv-list">
            <When when=move || items.with(Vec::is_empty)>
                <p class="muted empty-list">"No conversations yet. Start one above."</p>
            </When>
            {keyed_list(rows)}
        </nav>
    }
}

#[component]
fn ConversationItem(item: ListItem, is_active: bool) -> impl IntoView {
    let ListItem {
        peer,
        online,
        unread,
        preview,
        typing,
    } = item;
    let href = format!("/?c={peer}");
    let has_unread = unread > 0;
    let (peer_attr, peer_avatar) = (peer.clone(), peer.clone());
    let preview_text = if typing {
        "typing…".to_owned()
    } else {
        match preview {
            Some((true, body)) => format!("You: {body}"),
            Some((false, body)) => body,
            None => "No messages yet".to_owned(),
        }
    };
    view! {
        <a
            href=href
            class="conv-item"
            class:active=is_active
            class:unread=has_unread
            aria-current=is_active.then_some("page")
            data-testid="conv-item"
            data-peer=peer_attr
        >
            <Avatar name=peer_avatar online=Signal::stored(online)/>
            <span class="conv-text">
                <span class="conv-peer" data-testid="conv-peer">{peer}</span>
                <span class="conv-preview" class:typing=typing data-testid="conv-preview">
                    {preview_text}
                </span>
            </span>
            {has_unread
                .then(|| {
                    view! {
                        <span class="badge" data-testid="unread-badge" aria-label="unread messages">
                            {if unread > 99 { "99+".to_owned() } else { unread.to_string() }}
                        </span>
                    }
                })}
        </a>
    }
}
