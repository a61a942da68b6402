//! The Leptos user interface, one file per view, server-rendered and hydrated in the browser.
//!
//! Pages: `/login` ([`login::LoginPage`], sign in or create an account) and `/` ([`chat_page`],
//! the direct-message app; `/?c=<peer>` opens a conversation, so the browser's back button and
//! reloads keep it). Views: [`sidebar`] (user, connection state, conversation list),
//! [`conversation`] (header, typing indicator, notices), [`messages`] (the scrolling message
//! list) and [`composer`].
//!
//! State and I/O: [`model`] / [`thread`] / [`notice`] (plain data, unit-tested), [`chat`] (the
//! reactive controller), [`socket`] (the reconnecting WebSocket client), [`api`] (HTTP calls)
//! and [`util`]; [`connection_badge`] shows the socket's state. The socket only ever starts in
//! the browser, from an effect, so server rendering needs none of it.
//!
//! Customer support: `/support` ([`support_page`], the customer's chat, with its controller
//! [`support_chat`]) and `/agent` ([`agent_page`], the agent console: [`agent_queue`] and
//! [`agent_conversation`], with its controller [`agent_console`]). Their state is plain data
//! too: [`support_thread`] (one support conversation, either side) and [`agent_model`] (the
//! queue and the open tabs). They reuse the socket, the message list ([`messages::MessageView`]),
//! the composer ([`composer::ComposerBox`]) and the notices.
//!
//! Bundle size: [`reactive`] (effects, memos, texts, attributes, `When`), [`handlers`] (event
//! handlers) and [`keyed_list`] (every keyed list) erase closure and item types, so each piece of
//! generic view code is compiled once rather than once per use; [`sync_hydrate`] keeps the async
//! hydration path out.

pub mod agent_console;
pub mod agent_conversation;
pub mod agent_model;
pub mod agent_page;
pub mod agent_queue;
pub mod api;
pub mod chat;
pub mod chat_page;
pub mod composer;
pub mod connection_badge;
pub mod conversation;
pub mod handlers;
pub mod keyed_list;
pub mod login;
pub mod messages;
pub mod model;
pub mod notice;
pub mod reactive;
pub mod sidebar;
pub mod socket;
pub mod sort;
pub mod support_chat;
pub mod support_page;
pub mod support_thread;
pub mod sync_hydrate;
pub mod thread;
pub mod util;

use agent_page::AgentPage;
use chat_page::ChatPage;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{FlatRoutes, Route, Router},
    StaticSegment,
};
use login::LoginPage;
use support_page::SupportPage;
use sync_hydrate::SyncHydrate;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/confab.css"/>
        <Title text="Confab"/>
        <Router>
            <main class="root">
                // The routes are flat (no nesting, no outlets), so the flat router does; the
                // nested one only added code to the WASM bundle.
                <FlatRoutes fallback=NotFound>
                    // Each page in `SyncHydrate`: see sync_hydrate.rs (bundle size).
                    <Route path=StaticSegment("") view=|| SyncHydrate(view! { <ChatPage/> })/>
                    <Route path=StaticSegment("login") view=|| SyncHydrate(view! { <LoginPage/> })/>
                    <Route
                        path=StaticSegment("support")
                        view=|| SyncHydrate(view! { <SupportPage/> })
                    />
                    <Route path=StaticSegment("agent") view=|| SyncHydrate(view! { <AgentPage/> })/>
                </FlatRoutes>
            </main>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <div class="center-page">
            <div class="card">
                <h1>"Page not found"</h1>
                <p><a href="/">"Back to Confab"</a></p>
            </div>
        </div>
    }
}
