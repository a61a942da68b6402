//! `/`: the direct-message app. Checks the session (`GET /api/me`; 401 → `/login`), then starts
//! the socket and lays out the conversation list and the open conversation side by side — or,
//! narrower than 720 px, one at a time with a back button.
//!
//! Everything that needs the browser runs in effects, so the server renders the same
//! "loading" placeholder the browser starts from and hydration matches.

use super::chat::Chat;
use super::conversation::ConversationView;
use super::notice::NoticeKind;
use super::reactive::{effect, flag, memo, text, track_page_visibility};
use super::sidebar::Sidebar;
use super::{api, socket};
use crate::protocol::Username;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use std::time::Duration;

#[component]
pub fn ChatPage() -> impl IntoView {
    let query = use_query_map();
    let active = memo(move || {
        query
            .with(|q| q.get("c"))
            .and_then(|c| Username::parse(&c).ok())
            .map(Username::into_string)
    });
    let chat = Chat::new(active);
    provide_context(chat);
    let boot_error = RwSignal::new(None::<String>);
    let navigate = use_navigate();

    let to_login = {
        let navigate = navigate.clone();
        move || {
            navigate(
                "/login",
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            )
        }
    };

    // Browser only: who is signed in? Then connect. Network trouble: keep trying.
    effect(move || {
        let to_login = to_login.clone();
        leptos::task::spawn_local(async move {
            let mut wait_ms = 1_000u64;
            loop {
                match api::me().await {
                    Ok(Some(me)) => {
                        boot_error.set(None);
                        chat.connect(me, to_login);
                        return;
                    }
                    Ok(None) => return to_login(),
                    Err(message) => {
                        boot_error.set(Some(message));
                        gloo_sleep(wait_ms).await;
                        wait_ms = (wait_ms * 2).min(15_000);
                    }
                }
            }
        });
    });
    on_cleanup(socket::stop);

    // `read` is only sent while the page is visible.
    track_page_visibility(chat.visible);

    let sign_out = Callback::new(move |_: ()| {
        chat.disconnect();
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match api::logout().await {
                Ok(()) => navigate("/login", Default::default()),
                Err(message) => chat.notify(
                    NoticeKind::Error,
                    format!("Sign-out failed: {message}"),
                    None,
                ),
            }
        });
    });

    let title = move || {
        let unread = chat.model.with(|m| m.total_unread());
        if unread > 0 {
            format!("({unread}) Confab")
        } else {
            "Confab".to_owned()
        }
    };

    // What `<Show fallback=…>` does, without its type-erased fallback (an `AnyView`, which
    // would bring the async hydration code of the splash into the bundle; see sync_hydrate.rs).
    let signed_in = memo(move || chat.me.with(Option::is_some));
    view! {
        <Title text=title/>
        {move || if signed_in.get() {
            Either::Left(view! {
                <div
                    class="app"
                    class:show-chat=flag(move || active.with(Option::is_some))
                    data-testid="chat-app"
                >
                    <Sidebar on_sign_out=sign_out/>
                    <section class="pane">
                        {move || match active.get() {
                            Some(peer) => Either::Left(view! { <ConversationView peer/> }),
                            None => Either::Right(view! { <EmptyPane/> }),
                        }}
                    </section>
                </div>
            })
        } else {
            Either::Right(view! { <Splash error=boot_error/> })
        }}
    }
}

/// The placeholder while a page checks who is there (server-rendered, so hydration matches):
/// "Loading…", or `error` once something went wrong.
#[component]
pub fn Splash(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    view! {
        <div class="center-page" data-testid="splash">
            <div class="splash">
                <span class="brand-mark" aria-hidden="true">"C"</span>
                <p>{text(move || error.get().unwrap_or_else(|| "Loading…".to_owned()))}</p>
            </div>
        </div>
    }
}

/// What the right-hand side shows with no conversation open.
#[component]
fn EmptyPane() -> impl IntoView {
    view! {
        <div class="empty-pane" data-testid="empty-pane">
            <div class="empty-illustration" aria-hidden="true">"💬"</div>
            <h2>"Your messages"</h2>
            <p>"Pick a conversation, or start a new one by username."</p>
        </div>
    }
}

/// Waits `ms` milliseconds (browser only; returns at once on the server).
pub(crate) async fn gloo_sleep(ms: u64) {
    #[cfg(feature = "hydrate")]
    gloo_timers::future::sleep(Duration::from_millis(ms)).await;
    #[cfg(not(feature = "hydrate"))]
    let _ = Duration::from_millis(ms);
}
