//! Shared shapes of reactive primitives, to keep the WASM bundle small.
//!
//! `Effect::new` is generic over its closure: every call site with its own closure type gets its
//! own copy of the effect's whole run loop (about 1 KB of WASM each). [`effect`] boxes the
//! closure first, so all effects share one copy.

use leptos::prelude::Effect;
use leptos::reactive::owner::LocalStorage;

/// `Effect::new(move |_| f())`: runs `f` once after rendering, then again whenever a reactive
/// value it read changes.
pub fn effect(f: impl FnMut() + 'static) -> Effect<LocalStorage> {
    effect_boxed(Box::new(f))
}

fn effect_boxed(mut f: Box<dyn FnMut()>) -> Effect<LocalStorage> {
    Effect::new(move |_| f())
}
