//! Confab: a self-hostable real-time chat server — direct messages and customer support — in one
//! crate.
//!
//! # Layout
//! - [`protocol`]: the wire contract, compiled into both server and browser client.
//! - [`app`]: the Leptos user interface (server-rendered, hydrated in the browser).
//! - `server` (feature `ssr`): configuration, accounts, store, fan-out hub and socket handlers.
//! - `hydrate()` (feature `hydrate`): the WASM entry point.

// Leptos view types nest deeply; the default limit is too small for the chat page.
#![recursion_limit = "256"]

pub mod app;
pub mod protocol;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
