//! Event handlers, boxed to keep the WASM bundle small.
//!
//! `on:click=move |_| …` is generic over its closure: every handler gets its own copy of the code
//! that binds it to the element and calls it from JavaScript. [`click`], [`submit`] and [`input`]
//! box the closure first, so all handlers of one event share one copy.

use leptos::ev::{Event, MouseEvent, SubmitEvent};

/// A `click` handler: `on:click=click(move |_| …)`.
pub fn click(f: impl FnMut(MouseEvent) + Send + 'static) -> Box<dyn FnMut(MouseEvent) + Send> {
    Box::new(f)
}

/// A `submit` handler: `on:submit=submit(move |ev| …)`.
pub fn submit(f: impl FnMut(SubmitEvent) + Send + 'static) -> Box<dyn FnMut(SubmitEvent) + Send> {
    Box::new(f)
}

/// An `input` handler: `on:input=input(move |ev| …)`.
pub fn input(f: impl FnMut(Event) + Send + 'static) -> Box<dyn FnMut(Event) + Send> {
    Box::new(f)
}
