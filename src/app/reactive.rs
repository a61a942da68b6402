//! Shared shapes of reactive primitives, to keep the WASM bundle small.
//!
//! `Effect::new` is generic over its closure: every call site with its own closure type gets its
//! own copy of the effect's whole run loop (about 1 KB of WASM each). [`effect`] boxes the
//! closure first, so all effects share one copy.
//!
//! The same holds for a reactive text (`{move || …}` in a view): each closure type gets its own
//! copy of the code that builds, hydrates and updates it (about 2 KB each). [`text`] and
//! [`label`] box the closure, so every text of the same output type shares one copy.

use leptos::prelude::{document, on_cleanup, window_event_listener_untyped, Effect, RwSignal, Set};
use leptos::reactive::owner::LocalStorage;

/// `Effect::new(move |_| f())`: runs `f` once after rendering, then again whenever a reactive
/// value it read changes.
pub fn effect(f: impl FnMut() + 'static) -> Effect<LocalStorage> {
    effect_boxed(Box::new(f))
}

fn effect_boxed(mut f: Box<dyn FnMut()>) -> Effect<LocalStorage> {
    Effect::new(move |_| f())
}

/// A reactive text that is a `String`: `{text(move || …)}` renders like `{move || …}`.
pub fn text(f: impl Fn() -> String + Send + 'static) -> Box<dyn FnMut() -> String + Send> {
    Box::new(f)
}

/// A reactive text that is one of several fixed strings.
pub fn label(
    f: impl Fn() -> &'static str + Send + 'static,
) -> Box<dyn FnMut() -> &'static str + Send> {
    Box::new(f)
}

/// Keeps `visible` equal to whether the page is showing (`document.hidden`, updated on every
/// `visibilitychange`) from the first run after rendering until the owner is cleaned up. Shared
/// by the three pages, so there is one copy of the listener's closure.
pub fn track_page_visibility(visible: RwSignal<bool>) {
    effect(move || {
        let set_visible = move || visible.set(!document().hidden());
        set_visible();
        let handle = window_event_listener_untyped("visibilitychange", move |_| set_visible());
        on_cleanup(move || handle.remove());
    });
}
