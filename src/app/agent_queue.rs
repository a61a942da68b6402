//! The console's queue and tab strip.
//!
//! [`QueuePanel`]: the filters — Waiting (open, nobody has it; oldest first), Mine, All open,
//! Resolved — each with its count, and the rows: customer, newest message (or "typing…"),
//! how long they have waited (ticking), who has it, and the unread count. New conversations
//! and messages appear as the server's `queue` frames arrive; a row links to `?c=<id>`.
//!
//! [`TabStrip`]: the conversations open at once, each with its unread count and a close button.

use super::agent_console::Console;
use super::agent_model::{Filter, QueueRow};
use super::handlers::click;
use super::keyed_list::{keyed_list, KeyedRow};
use super::reactive::{memo, text, When};
use super::sidebar::Avatar;
use super::support_thread::SupportStatus;
use super::util::{format_wait, parse_time_ms};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

#[component]
pub fn QueuePanel() -> impl IntoView {
    let console = expect_context::<Console>();
    let counts = memo(move || console.model.with(|m| m.counts()));
    let rows = memo(move || {
        let filter = console.filter.get();
        let now = console.now.get();
        console.model.with(|m| m.rows(filter, now))
    });
    let empty_text = move || match console.filter.get() {
        Filter::Waiting => "Nobody is waiting. 🎉",
        Filter::Mine => "No conversations assigned to you.",
        Filter::AllOpen => "No open conversations.",
        Filter::Resolved => "Nothing resolved yet.",
    };
    let filters = Filter::ALL
        .into_iter()
        .enumerate()
        .map(|(i, filter)| {
            let selected = move || console.filter.get() == filter;
            view! {
                <button
                    type="button"
                    role="tab"
                    class="queue-filter"
                    class:selected=selected
                    aria-selected=text(move || selected().to_string())
                    data-testid="queue-filter"
                    data-filter=filter.key()
                    on:click=click(move |_| console.filter.set(filter))
                >
                    {filter.label()}
                    <span class="queue-count" data-testid="queue-count">
                        {move || counts.get()[i]}
                    </span>
                </button>
            }
        })
        .collect_view();
    // Keyed by the whole row: a row that changes is drawn anew.
    let items = move || {
        let current = console.active.get();
        rows.get()
            .into_iter()
            .map(move |row| {
                let is_active = current.as_deref() == Some(row.conversation_id.as_str());
                KeyedRow::new((row.clone(), is_active), move || {
                    view! { <QueueItem row is_active/> }
                })
            })
            .collect()
    };

    view! {
        <div class="queue-filters" role="tablist" aria-label="Queue">
            {filters}
        </div>
        <nav class="queue-list" aria-label="Support conversations" data-testid="queue-list">
            <When when=move || rows.with(Vec::is_empty)>
                <p class="muted empty-list" data-testid="queue-empty">{empty_text}</p>
            </When>
            {keyed_list(items)}
        </nav>
    }
}

#[component]
fn QueueItem(row: QueueRow, is_active: bool) -> impl IntoView {
    let console = expect_context::<Console>();
    let QueueRow {
        conversation_id,
        customer,
        status,
        assignee,
        preview,
        unread,
        waiting_since,
        typing,
    } = row;
    let href = format!("/agent?c={conversation_id}");
    let has_unread = unread > 0;
    let since = waiting_since.as_deref().and_then(parse_time_ms);
    let wait = move || since.map(|t| format_wait(console.now.get() - t));
    let holder = match (status, assignee) {
        (SupportStatus::Resolved, _) => Some("resolved".to_owned()),
        (_, Some(name)) if console.is_me(Some(&name)) => Some("you".to_owned()),
        (_, Some(name)) => Some(name),
        (_, None) => None,
    };
    let preview_text = if typing {
        "typing…".to_owned()
    } else {
        preview.unwrap_or_else(|| "No messages yet".to_owned())
    };
    view! {
        <a
            href=href
            class="queue-row"
            class:active=is_active
            class:unread=has_unread
            aria-current=is_active.then_some("page")
            data-testid="queue-row"
            data-conversation=conversation_id
            data-status=status.as_str()
        >
            <Avatar name=customer.clone()/>
            <span class="conv-text">
                <span class="queue-top">
                    <span class="conv-peer" data-testid="queue-customer">{customer}</span>
                    {since
                        .is_some()
                        .then(|| {
                            view! {
                                <span class="queue-wait" data-testid="queue-wait" title="Waiting for an agent">
                                    {wait}
                                </span>
                            }
                        })}
                </span>
                <span class="conv-preview" class:typing=typing data-testid="queue-preview">
                    {preview_text}
                </span>
                {holder
                    .map(|h| view! { <span class="queue-holder" data-testid="queue-holder">{h}</span> })}
            </span>
            {has_unread
                .then(|| {
                    view! {
                        <span class="badge" data-testid="queue-unread" aria-label="unread messages">
                            {if unread > 99 { "99+".to_owned() } else { unread.to_string() }}
                        </span>
                    }
                })}
        </a>
    }
}

/// One entry of the tab strip.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TabItem {
    id: String,
    customer: String,
    unread: u64,
    typing: bool,
    active: bool,
}

#[component]
pub fn TabStrip() -> impl IntoView {
    let console = expect_context::<Console>();
    let navigate = use_navigate();
    let tabs = memo(move || {
        let now = console.now.get();
        let active = console.active.get();
        console.model.with(|m| {
            m.tabs
                .iter()
                .map(|id| {
                    let entry = m.queue.get(id);
                    let customer = m
                        .thread(id)
                        .map(|t| t.customer.clone())
                        .filter(|c| !c.is_empty())
                        .or_else(|| entry.map(|e| e.customer.clone()))
                        .unwrap_or_else(|| "…".to_owned());
                    TabItem {
                        id: id.clone(),
                        customer,
                        unread: entry.map_or(0, |e| e.unread),
                        typing: m.is_typing(id, now),
                        active: active.as_deref() == Some(id.as_str()),
                    }
                })
                .collect::<Vec<_>>()
        })
    });
    let close = move |id: String| {
        let was_active = console.active.get_untracked().as_deref() == Some(id.as_str());
        console.close_tab(&id);
        if was_active {
            let next = console.model.with_untracked(|m| m.tabs.last().cloned());
            let to = next.map_or("/agent".to_owned(), |n| format!("/agent?c={n}"));
            navigate(
                &to,
                NavigateOptions {
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    };
    // Keyed by the whole tab: a tab that changes is drawn anew.
    let items = move || {
        tabs.get()
            .into_iter()
            .map(|t| {
                let close = close.clone();
                KeyedRow::new(t.clone(), move || {
                    let id = t.id.clone();
                    view! {
                        <div
                            class="conv-tab"
                            class:active=t.active
                            role="tab"
                            aria-selected=t.active.to_string()
                            data-testid="conv-tab"
                            data-conversation=t.id.clone()
                        >
                            <a href=format!("/agent?c={}", t.id) class="conv-tab-link">
                                <span class="conv-tab-name">{t.customer}</span>
                                {t.typing.then(|| view! { <span class="tab-typing" aria-label="typing">"…"</span> })}
                                {(t.unread > 0 && !t.active)
                                    .then(|| view! { <span class="badge small-badge">{t.unread}</span> })}
                            </a>
                            <button
                                type="button"
                                class="conv-tab-close"
                                aria-label="Close conversation"
                                data-testid="close-tab"
                                on:click=click(move |_| close(id.clone()))
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
        <When when=move || tabs.with(|t| !t.is_empty())>
            <div class="conv-tabs" role="tablist" aria-label="Open conversations" data-testid="conv-tabs">
                {keyed_list(items.clone())}
            </div>
        </When>
    }
}
