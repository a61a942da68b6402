//! One support conversation in the console: the header (back button on narrow screens,
//! customer, status, who has it), the actions (Claim, Resolve, Transfer to another agent by
//! username, transcript downloads as text or JSON), the message list with older pages on
//! scrolling up, "<customer> is typing…", red notices, and the reply composer.
//!
//! While the conversation is in front and the page visible, customer messages on screen are
//! reported with `read`. Replying in a conversation another agent handles needs a claim first
//! (the server refuses it otherwise; admins may reply anyway), so the composer gives way to a
//! "Claim" bar there.

use super::agent_console::Console;
use super::composer::ComposerBox;
use super::conversation::{NoticeStack, TypingLine};
use super::handlers::{click, submit};
use super::messages::{ListFeed, MessageView};
use super::reactive::{effect, label, memo, text, When};
use super::sidebar::Avatar;
use super::support_thread::SupportStatus;
use super::thread::HistoryState;
use super::util::{format_wait, parse_time_ms};
use leptos::either::Either;
use leptos::html;
use leptos::prelude::*;

#[component]
pub fn SupportPane(id: String) -> impl IntoView {
    let console = expect_context::<Console>();
    let id = StoredValue::new(id);

    // Report what is read: re-runs on every change while in front and visible.
    effect(move || {
        let visible = console.visible.get();
        let target = console
            .model
            .with(|m| id.with_value(|i| m.thread(i).and_then(|t| t.read_target())));
        if visible && target.is_some() {
            id.with_value(|i| console.mark_read(i));
        }
    });

    let customer = memo(move || {
        console.model.with(|m| {
            id.with_value(|i| m.thread(i).map(|t| t.customer.clone()))
                .unwrap_or_default()
        })
    });
    let state = memo(move || {
        console.model.with(|m| {
            id.with_value(|i| {
                m.thread(i)
                    .map(|t| (t.status, t.assignee.clone()))
                    .unwrap_or((SupportStatus::Open, None))
            })
        })
    });
    let waiting_since = memo(move || {
        console
            .model
            .with(|m| id.with_value(|i| m.queue.get(i).and_then(|e| e.waiting_since.clone())))
    });
    let status_text = move || {
        let (status, assignee) = state.get();
        match (status, assignee) {
            (SupportStatus::Resolved, _) => "Resolved".to_owned(),
            (SupportStatus::Assigned, Some(a)) if console.is_me(Some(&a)) => {
                "Assigned to you".to_owned()
            }
            (SupportStatus::Assigned, Some(a)) => format!("Assigned to {a}"),
            _ => match waiting_since.get().as_deref().and_then(parse_time_ms) {
                Some(t) => format!("Waiting for {}", format_wait(console.now.get() - t)),
                None => "Waiting for an agent".to_owned(),
            },
        }
    };
    let mine =
        move || state.with(|(s, a)| *s == SupportStatus::Assigned && console.is_me(a.as_deref()));
    let held_by_other = move || {
        state.with(|(s, a)| {
            *s == SupportStatus::Assigned && a.is_some() && !console.is_me(a.as_deref())
        })
    };
    let typing = move || {
        let now = console.now.get();
        console
            .model
            .with(|m| id.with_value(|i| m.is_typing(i, now)))
    };
    let notices = Signal::derive(move || {
        console
            .model
            .with(|m| id.with_value(|i| m.notices.for_peer(Some(i))))
    });

    let feed = ListFeed {
        rows: Signal::derive(move || {
            console
                .model
                .with(|m| id.with_value(|i| m.thread(i).map(|t| t.rows()).unwrap_or_default()))
        }),
        paging: Signal::derive(move || {
            console.model.with(|m| {
                id.with_value(|i| {
                    m.thread(i)
                        .map(|t| (t.history, t.has_more, t.loading_older))
                        .unwrap_or((HistoryState::Loading, false, false))
                })
            })
        }),
        load_older: Callback::new(move |()| id.with_value(|i| console.load_older(i))),
        retry: Callback::new(move |c: String| id.with_value(|i| console.retry(i, &c))),
        discard: Callback::new(move |c: String| id.with_value(|i| console.discard(i, &c))),
    };
    let transcript = move |format: &str| {
        format!(
            "/api/support/conversations/{}/transcript?format={format}",
            id.get_value()
        )
    };

    view! {
        <div class="conversation support-conv" data-testid="support-conversation" data-conversation=id.get_value()>
            <header class="conv-head support-conv-head">
                <a href="/agent" class="back" data-testid="back-button" aria-label="Back to the queue">
                    "‹"
                </a>
                {move || view! { <Avatar name=customer.get()/> }}
                <div class="conv-head-text">
                    <h2 data-testid="chat-peer">{text(move || customer.get())}</h2>
                    <span
                        class=text(move || format!("support-badge status-{}", state.get().0.as_str()))
                        data-testid="conv-status"
                        data-status=label(move || state.get().0.as_str())
                    >
                        {text(status_text)}
                    </span>
                </div>
            </header>
            <div class="support-actions" data-testid="support-actions">
                <When when=move || !mine()>
                    <button class="primary small" data-testid="claim" on:click=click(move |_| id.with_value(|i| console.claim(i)))>
                        "Claim"
                    </button>
                </When>
                <When when=move || state.get().0 != SupportStatus::Resolved>
                    <button class="ghost small" data-testid="resolve" on:click=click(move |_| id.with_value(|i| console.resolve(i)))>
                        "Resolve"
                    </button>
                </When>
                <TransferForm id=id.get_value()/>
                <span class="transcript-links">
                    "Transcript: "
                    <a href=transcript("text") download rel="external" data-testid="transcript-text">"text"</a>
                    " · "
                    <a href=transcript("json") download rel="external" data-testid="transcript-json">"JSON"</a>
                </span>
            </div>
            <MessageView
                feed
                beginning="This is the beginning of the conversation"
                empty_title="No messages yet."
                empty_hint="The customer has not written anything."
            />
            <TypingLine who=Signal::derive(move || typing().then(|| customer.get()))/>
            <NoticeStack notices on_dismiss=Callback::new(move |n| console.dismiss_notice(n))/>
            {move || {
                if held_by_other() && !console.is_admin() {
                    let holder = state.get().1.unwrap_or_default();
                    Either::Left(view! {
                        <div class="claim-bar" data-testid="claim-bar">
                            <span>{holder} " is handling this conversation."</span>
                            <button class="primary small" on:click=click(move |_| id.with_value(|i| console.claim(i)))>
                                "Claim to reply"
                            </button>
                        </div>
                    })
                } else {
                    Either::Right(view! { <Reply id=id.get_value()/> })
                }
            }}
        </div>
    }
}

/// The reply composer, keeping a draft per conversation.
#[component]
fn Reply(id: String) -> impl IntoView {
    let console = expect_context::<Console>();
    let initial = console
        .drafts
        .with_untracked(|d| d.get(&id).cloned().unwrap_or_default());
    let id = StoredValue::new(id);
    let placeholder = {
        let name = console
            .model
            .with_untracked(|m| id.with_value(|i| m.thread(i).map(|t| t.customer.clone())))
            .filter(|c| !c.is_empty());
        match name {
            Some(name) => format!("Reply to {name}"),
            None => "Reply".to_owned(),
        }
    };
    let on_send =
        Callback::new(move |body: String| id.with_value(|i| console.send_message(i, &body)));
    let on_typing = Callback::new(move |()| id.with_value(|i| console.typing(i)));
    let on_draft = Callback::new(move |value: String| {
        console.drafts.update(|d| {
            id.with_value(|i| {
                if value.is_empty() {
                    d.remove(i);
                } else {
                    d.insert(i.clone(), value);
                }
            })
        })
    });
    view! { <ComposerBox placeholder initial on_send on_typing on_draft/> }
}

/// Transfer to another agent by username (suggesting the agents seen in the queue).
#[component]
fn TransferForm(id: String) -> impl IntoView {
    let console = expect_context::<Console>();
    let input = NodeRef::<html::Input>::new();
    let list_id = format!("agents-{id}");
    let id = StoredValue::new(id);
    let agents = memo(move || console.model.with(|m| m.known_agents()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(el) = input.get_untracked() else {
            return;
        };
        let to = el.value();
        if to.trim().is_empty() {
            return;
        }
        id.with_value(|i| console.transfer(i, &to));
        el.set_value("");
    };
    view! {
        <form class="transfer" on:submit=submit(on_submit) data-testid="transfer-form">
            <input
                node_ref=input
                list=list_id.clone()
                placeholder="Transfer to (agent)"
                aria-label="Transfer to agent (username)"
                autocomplete="off"
                autocapitalize="none"
                spellcheck="false"
                data-testid="transfer-input"
            />
            <datalist id=list_id>
                // Not a keyed <For>: options hold no state, so rebuilding them in place is the
                // same, without another copy of the keyed-list code in the bundle.
                {move || agents.get().into_iter().map(|a| view! { <option value=a></option> }).collect_view()}
            </datalist>
            <button type="submit" class="ghost small" data-testid="transfer">
                "Transfer"
            </button>
        </form>
    }
}
