//! Shared shapes of reactive primitives, to keep the WASM bundle small.
//!
//! `Effect::new` is generic over its closure: every call site with its own closure type gets its
//! own copy of the effect's whole run loop (about 1 KB of WASM each). [`effect`] boxes the
//! closure first, so all effects share one copy.
//!
//! The same holds for a reactive text (`{move || …}` in a view) or attribute (`attr=move || …`):
//! each closure type gets its own copy of the code that builds, hydrates and updates it. [`text`],
//! [`label`] and [`flag`] box the closure, so all of one output type share one copy.
//!
//! [`When`] is `<Show>` without a fallback: `<Show>` memoizes its condition with a memo of the
//! condition's own closure type (a copy of the memo's code per use) and switches between the
//! children and an `AnyView` fallback; `When` memoizes through one boxed closure type and renders
//! an `Option` of the children. [`memo`] boxes a memo's closure the same way.

use leptos::prelude::{
    component, document, on_cleanup, window_event_listener_untyped, Effect, Get, IntoView, Memo,
    RwSignal, Set, TypedChildrenFn,
};
use leptos::reactive::owner::LocalStorage;

/// `Effect::new(move |_| f())`: runs `f` once after rendering, then again whenever a reactive
/// value it read changes.
pub fn effect(f: impl FnMut() + 'static) -> Effect<LocalStorage> {
    effect_boxed(Box::new(f))
}

fn effect_boxed(mut f: Box<dyn FnMut()>) -> Effect<LocalStorage> {
    Effect::new(move |_| f())
}

/// Shows `children` while `when` is true (drawn anew each time it becomes true), like `<Show>`.
#[component(transparent)]
pub fn When<W, C>(when: W, children: TypedChildrenFn<C>) -> impl IntoView
where
    W: Fn() -> bool + Send + Sync + 'static,
    C: IntoView + 'static,
{
    let visible = memo_boxed(Box::new(when));
    let children = children.into_inner();
    move || visible.get().then(|| children())
}

/// `Memo::new(move |_| f())`: `f`'s value, recomputed when what it read changes, and only
/// signalled onwards when it differs. Boxed, so memos of one value type share one copy of the
/// memo's code.
pub fn memo<T>(f: impl Fn() -> T + Send + Sync + 'static) -> Memo<T>
where
    T: PartialEq + Send + Sync + 'static,
{
    memo_boxed(Box::new(f))
}

fn memo_boxed<T>(f: Box<dyn Fn() -> T + Send + Sync>) -> Memo<T>
where
    T: PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| f())
}

/// A reactive text or attribute that is a `String`: `{text(move || …)}` renders like
/// `{move || …}`.
pub fn text(f: impl Fn() -> String + Send + 'static) -> Box<dyn FnMut() -> String + Send> {
    Box::new(f)
}

/// A reactive text or attribute that is one of several fixed strings.
pub fn label(
    f: impl Fn() -> &'static str + Send + 'static,
) -> Box<dyn FnMut() -> &'static str + Send> {
    Box::new(f)
}

/// A reactive yes/no: a `class:name=`, `disabled=` and the like.
pub fn flag(f: impl Fn() -> bool + Send + 'static) -> Box<dyn FnMut() -> bool + Send> {
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
