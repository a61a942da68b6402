//! `/support`: the customer page (no account). A new visitor gives an optional name and starts
//! a chat; a returning one (same browser) goes straight back to the whole conversation. The
//! chat shows where the conversation stands ("waiting for an agent", "<agent> joined",
//! "resolved"), the messages (the customer's own on the right with sending → sent → read, the
//! agent's on the left with the agent's name, each with its time; older pages on scrolling
//! up), "<agent> is typing…", red notices and the composer (Enter sends, Shift+Enter starts a
//! new line). It fills a phone screen and sits in a centred column on wider ones.
//!
//! Everything that needs the browser runs in effects, so the server renders the same
//! "loading" placeholder the browser starts from and hydration matches.

use super::chat_page::Splash;
use super::composer::ComposerBox;
use super::connection_badge::ConnectionBadge;
use super::conversation::{NoticeStack, TypingLine};
use super::handlers::{input, submit};
use super::messages::{ListFeed, MessageView};
use super::reactive::{effect, flag, label, memo, text, track_page_visibility};
use super::socket;
use super::support_chat::{Phase, SupportChat};
use super::support_thread::SupportStatus;
use crate::protocol::limits::CUSTOMER_NAME_MAX;
use leptos::either::EitherOf3;
use leptos::html;
use leptos::prelude::*;
use leptos_meta::Title;

/// Which screen shows: the form stays the same element while it is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    Loading,
    Form,
    Chat,
}

#[component]
pub fn SupportPage() -> impl IntoView {
    let chat = SupportChat::new();
    provide_context(chat);

    effect(move || chat.boot());
    on_cleanup(socket::stop);
    track_page_visibility(chat.visible);
    // Report what is read: re-runs on every change while the page is visible.
    effect(move || {
        let visible = chat.visible.get();
        let target = chat.thread.with(|t| t.read_target());
        if visible && target.is_some() && chat.phase.get() == Phase::Chatting {
            chat.mark_read();
        }
    });

    let screen = memo(move || match chat.phase.get() {
        Phase::Checking => Screen::Loading,
        Phase::Welcome | Phase::Starting => Screen::Form,
        Phase::Chatting => Screen::Chat,
    });

    view! {
        <Title text="Support · Confab"/>
        {move || match screen.get() {
            Screen::Loading => EitherOf3::A(view! { <Splash error=chat.start_error/> }),
            Screen::Form => EitherOf3::B(view! { <Welcome/> }),
            Screen::Chat => EitherOf3::C(view! { <CustomerChat/> }),
        }}
    }
}

/// The optional name, then "Start chat".
#[component]
fn Welcome() -> impl IntoView {
    let chat = expect_context::<SupportChat>();
    let name_ref = NodeRef::<html::Input>::new();
    let hydrated = RwSignal::new(false);
    effect(move || hydrated.set(true));
    let starting = move || chat.phase.get() == Phase::Starting;
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if chat.phase.get_untracked() == Phase::Starting {
            return;
        }
        let name = name_ref
            .get_untracked()
            .map(|i| i.value().trim().to_owned())
            .filter(|n| !n.is_empty());
        if name
            .as_ref()
            .is_some_and(|n| n.chars().count() > CUSTOMER_NAME_MAX)
        {
            let message = format!("A name has at most {CUSTOMER_NAME_MAX} characters.");
            return chat.start_error.set(Some(message));
        }
        chat.start(name);
    };
    view! {
        <div class="center-page support-welcome-page">
            <form class="card auth-card support-welcome" on:submit=submit(on_submit) data-testid="support-start-form" novalidate>
                <div class="brand">
                    <span class="brand-mark" aria-hidden="true">"C"</span>
                    <span class="brand-name">"Confab Support"</span>
                </div>
                <h1 class="welcome-title">"Hi there 👋"</h1>
                <p class="muted">
                    "Questions about an order, your account or anything else? Our team is here to help."
                </p>
                <label class="field">
                    <span>"Your name " <span class="muted">"(optional)"</span></span>
                    <input
                        node_ref=name_ref
                        name="name"
                        autocomplete="name"
                        maxlength=CUSTOMER_NAME_MAX.to_string()
                        data-testid="support-name"
                        on:input=input(move |_| chat.start_error.set(None))
                    />
                </label>
                {move || {
                    chat.start_error
                        .get()
                        .map(|message| {
                            view! {
                                <p class="notice error" role="alert" data-testid="support-start-error">
                                    {message}
                                </p>
                            }
                        })
                }}
                <button
                    type="submit"
                    class="primary wide"
                    disabled=flag(move || !hydrated.get() || starting())
                    data-testid="support-start"
                >
                    {label(move || if starting() { "Starting…" } else { "Start chat" })}
                </button>
            </form>
        </div>
    }
}

/// Where the conversation stands, for the banner: (key for `data-status`, words).
fn standing(
    status: SupportStatus,
    assignee: Option<&str>,
    has_messages: bool,
) -> (&'static str, String) {
    match (status, assignee) {
        (SupportStatus::Resolved, _) => (
            "resolved",
            "This conversation was resolved. Write again if you need anything else.".to_owned(),
        ),
        (SupportStatus::Assigned, Some(agent)) => {
            ("assigned", format!("{agent} joined the conversation"))
        }
        _ if has_messages => ("waiting", "Waiting for an agent…".to_owned()),
        _ => (
            "new",
            "Send us a message and an agent will join you shortly.".to_owned(),
        ),
    }
}

#[component]
fn CustomerChat() -> impl IntoView {
    let chat = expect_context::<SupportChat>();
    let banner = memo(move || {
        chat.thread
            .with(|t| standing(t.status, t.assignee.as_deref(), t.has_messages()))
    });
    let with_agent = move || {
        chat.thread.with(|t| match (t.status, &t.assignee) {
            (SupportStatus::Assigned, Some(a)) => format!("You're chatting with {a}"),
            _ => "We usually reply within a few minutes".to_owned(),
        })
    };
    let typing = move || {
        let now = chat.now.get();
        chat.thread.with(|t| t.typing_now(now).map(str::to_owned))
    };
    let feed = ListFeed {
        rows: Signal::derive(move || chat.thread.with(|t| t.rows())),
        paging: Signal::derive(move || {
            chat.thread
                .with(|t| (t.history, t.has_more, t.loading_older))
        }),
        load_older: Callback::new(move |()| chat.load_older()),
        retry: Callback::new(move |id: String| chat.retry(&id)),
        discard: Callback::new(move |id: String| chat.discard(&id)),
    };
    let notices = Signal::derive(move || chat.notices.with(|n| n.for_peer(None)));
    let on_send = Callback::new(move |body: String| chat.send_message(&body));
    let on_typing = Callback::new(move |()| chat.typing());

    view! {
        <div class="support-page" data-testid="support-chat">
            <div class="support-widget">
                <header class="support-head">
                    <span class="brand-mark" aria-hidden="true">"C"</span>
                    <div class="support-head-text">
                        <h1>"Support"</h1>
                        <span class="muted support-sub" data-testid="support-with">{with_agent}</span>
                    </div>
                    <ConnectionBadge state=chat.conn/>
                </header>
                <div
                    class=text(move || format!("support-banner banner-{}", banner.get().0))
                    data-testid="support-status"
                    data-status=label(move || banner.get().0)
                    role="status"
                >
                    {text(move || banner.get().1)}
                </div>
                <MessageView
                    feed
                    beginning="This is the beginning of your conversation with support"
                    empty_title="👋 How can we help?"
                    empty_hint="Write your question below."
                />
                <TypingLine who=Signal::derive(typing)/>
                <NoticeStack notices on_dismiss=Callback::new(move |id| chat.dismiss_notice(id))/>
                <ComposerBox placeholder="Write a message…" on_send on_typing/>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_follows_the_conversation() {
        assert_eq!(standing(SupportStatus::Open, None, false).0, "new");
        assert_eq!(standing(SupportStatus::Open, None, true).0, "waiting");
        let (key, text) = standing(SupportStatus::Assigned, Some("ann"), true);
        assert_eq!(
            (key, text.as_str()),
            ("assigned", "ann joined the conversation")
        );
        assert_eq!(
            standing(SupportStatus::Resolved, Some("ann"), true).0,
            "resolved"
        );
    }
}
