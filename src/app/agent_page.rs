//! `/agent`: the support console. Checks the session (`GET /api/me`): signed out → `/login`
//! (and back here afterwards), signed in without the agent or admin role → a "not an agent"
//! page, an agent → the console: a header (who, connection, Available/Away, a link to the
//! direct messages), the queue ([`agent_queue`](super::agent_queue)) and, beside it, the open
//! conversations as tabs ([`agent_conversation`](super::agent_conversation)). `?c=<id>` is
//! the conversation in front; narrower than 720 px the queue and the conversation show one at
//! a time.
//!
//! Everything that needs the browser runs in effects, so the server renders the same
//! "loading" placeholder the browser starts from and hydration matches.

use super::agent_console::Console;
use super::agent_conversation::SupportPane;
use super::agent_queue::{QueuePanel, TabStrip};
use super::chat_page::{gloo_sleep, Splash};
use super::handlers::click;
use super::reactive::{effect, flag, label, memo, text, track_page_visibility};
use super::sidebar::{CurrentUser, SignOutButton};
use super::{api, socket};
use crate::protocol::Me;
use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use std::time::Duration;

/// What the page may show.
#[derive(Debug, Clone, PartialEq)]
enum Gate {
    /// Asking who is signed in (with the last network error, if any).
    Checking(Option<String>),
    Agent,
    NotAgent(Me),
}

/// A conversation id from the URL: short and plain, or ignored.
fn valid_id(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[component]
pub fn AgentPage() -> impl IntoView {
    let query = use_query_map();
    let active = memo(move || query.with(|q| q.get("c")).filter(|c| valid_id(c)));
    let console = Console::new(active);
    provide_context(console);
    let gate = RwSignal::new(Gate::Checking(None));
    let navigate = use_navigate();

    let to_login = {
        let navigate = navigate.clone();
        move || {
            let options = NavigateOptions {
                replace: true,
                ..Default::default()
            };
            navigate("/login?next=/agent", options)
        }
    };

    // Browser only: who is signed in? An agent gets the console. Network trouble: keep trying.
    effect(move || {
        let to_login = to_login.clone();
        leptos::task::spawn_local(async move {
            let mut wait_ms = 1_000u64;
            loop {
                let answer = api::me().await;
                if gate.is_disposed() {
                    return; // the page was left meanwhile
                }
                match answer {
                    Ok(Some(me)) if me.role.is_agent() => {
                        gate.set(Gate::Agent);
                        console.connect(me, to_login);
                        return;
                    }
                    Ok(Some(me)) => return gate.set(Gate::NotAgent(me)),
                    Ok(None) => return to_login(),
                    Err(message) => {
                        gate.set(Gate::Checking(Some(message)));
                        gloo_sleep(wait_ms).await;
                        wait_ms = (wait_ms * 2).min(15_000);
                    }
                }
            }
        });
    });
    on_cleanup(socket::stop);

    // `read` is only sent while the page is visible; the clock ticks every second.
    track_page_visibility(console.visible);
    effect(move || {
        let tick = set_interval_with_handle(move || console.tick(), Duration::from_secs(1)).ok();
        on_cleanup(move || {
            if let Some(tick) = tick {
                tick.clear();
            }
        });
    });

    // The conversation in the URL is open in a tab (once the console has started).
    effect(move || {
        let started = console.me.with(Option::is_some);
        if let (true, Some(id)) = (started, active.get()) {
            console.open(&id);
        }
    });

    let sign_out = Callback::new(move |_: ()| {
        console.disconnect();
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            // Already signed out (401) counts as done; the sign-in page shows either way.
            let _ = api::logout().await;
            navigate("/login", Default::default());
        });
    });

    let title = move || {
        let waiting = console.model.with(|m| m.counts()[0]);
        if waiting > 0 {
            format!("({waiting}) Support console · Confab")
        } else {
            "Support console · Confab".to_owned()
        }
    };

    view! {
        <Title text=title/>
        {move || match gate.get() {
            Gate::Checking(error) => EitherOf3::A(view! { <Splash error=Signal::stored(error)/> }),
            Gate::NotAgent(me) => EitherOf3::B(view! { <NotAnAgent me/> }),
            Gate::Agent => EitherOf3::C(view! { <ConsoleLayout on_sign_out=sign_out/> }),
        }}
    }
}

/// A signed-in account without the agent role.
#[component]
fn NotAnAgent(me: Me) -> impl IntoView {
    view! {
        <div class="center-page">
            <div class="card forbidden" data-testid="forbidden" role="alert">
                <span class="forbidden-mark" aria-hidden="true">"⛔"</span>
                <h1>"Not an agent"</h1>
                <p>
                    "The support console is only for support agents. You are signed in as "
                    <strong data-testid="forbidden-user">{me.username}</strong>
                    ", which is not an agent account."
                </p>
                <p class="hint">"Agent accounts are created by an administrator."</p>
                <a href="/" class="button-link" data-testid="forbidden-home">
                    "Back to your messages"
                </a>
            </div>
        </div>
    }
}

#[component]
fn ConsoleLayout(on_sign_out: Callback<()>) -> impl IntoView {
    let console = expect_context::<Console>();
    let active = console.active;
    view! {
        <div
            class="console"
            class:show-chat=flag(move || active.with(Option::is_some))
            data-testid="agent-console"
        >
            <aside class="queue-side" data-testid="queue-side">
                <ConsoleHead on_sign_out/>
                <QueuePanel/>
            </aside>
            <section class="pane console-pane">
                <TabStrip/>
                {move || match active.get() {
                    Some(id) => Either::Left(view! { <SupportPane id/> }),
                    None => Either::Right(view! {
                        <div class="empty-pane" data-testid="empty-pane">
                            <div class="empty-illustration" aria-hidden="true">"🎧"</div>
                            <h2>"Support console"</h2>
                            <p>"Pick a conversation from the queue. Several can be open at once."</p>
                        </div>
                    }),
                }}
            </section>
        </div>
    }
}

/// Who is signed in, the connection, Available/Away, and the way back to direct messages.
#[component]
fn ConsoleHead(on_sign_out: Callback<()>) -> impl IntoView {
    let console = expect_context::<Console>();
    let available = console.available;
    view! {
        <header class="sidebar-head console-head">
            <CurrentUser me=console.me conn=console.conn/>
            <div class="console-head-actions">
                <button
                    class="availability small"
                    class:away=flag(move || !available.get())
                    data-testid="availability"
                    data-available=text(move || available.get().to_string())
                    aria-pressed=text(move || available.get().to_string())
                    title="Available agents get waiting conversations automatically"
                    on:click=click(move |_| console.set_available(!available.get_untracked()))
                >
                    <span class="availability-dot" aria-hidden="true"></span>
                    {label(move || if available.get() { "Available" } else { "Away" })}
                </button>
                <a href="/" class="head-link" data-testid="messages-link">
                    "Messages"
                </a>
                <SignOutButton on_sign_out/>
            </div>
        </header>
    }
}

#[cfg(test)]
mod tests {
    use super::valid_id;

    #[test]
    fn only_plain_ids_come_from_the_url() {
        assert!(valid_id("0123456789abcdef0123456789abcdef"));
        assert!(!valid_id(""));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(&"a".repeat(65)));
    }
}
