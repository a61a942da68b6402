//! [`SyncHydrate`]: a view wrapper that keeps the async hydration path out of the WASM bundle.
//!
//! The router type-erases every route's view into an `AnyView`, and an `AnyView` stores a
//! pointer to `hydrate_async` for the erased type. That makes the async hydration code of the
//! whole page tree (one future per element, closure and component) reachable, although this
//! app only ever hydrates synchronously (`hydrate_body`; no islands, no lazy routes). Those
//! futures were the largest single item in the release bundle. Wrapping a page in
//! `SyncHydrate` answers `hydrate_async` with the synchronous `hydrate` (the trait's default),
//! so the compiler never instantiates the async path below it. Everything else — rendering on
//! the server, building, rebuilding, hydrating — is passed through unchanged.

use leptos::tachys::{
    html::attribute::{any_attribute::AnyAttribute, Attribute},
    hydration::Cursor,
    ssr::StreamBuilder,
    view::{add_attr::AddAnyAttr, Position, PositionState, Render, RenderHtml},
};

/// A view that renders exactly like `V`, but hydrates synchronously even when asked to
/// hydrate asynchronously. See the module documentation.
pub struct SyncHydrate<V>(pub V);

impl<V: Render> Render for SyncHydrate<V> {
    type State = V::State;

    fn build(self) -> Self::State {
        self.0.build()
    }

    fn rebuild(self, state: &mut Self::State) {
        self.0.rebuild(state)
    }
}

impl<V: AddAnyAttr> AddAnyAttr for SyncHydrate<V> {
    type Output<SomeNewAttr: Attribute> = SyncHydrate<V::Output<SomeNewAttr>>;

    fn add_any_attr<NewAttr: Attribute>(self, attr: NewAttr) -> Self::Output<NewAttr>
    where
        Self::Output<NewAttr>: RenderHtml,
    {
        SyncHydrate(self.0.add_any_attr(attr))
    }
}

impl<V: RenderHtml> RenderHtml for SyncHydrate<V> {
    type AsyncOutput = SyncHydrate<V::AsyncOutput>;
    type Owned = SyncHydrate<V::Owned>;

    const MIN_LENGTH: usize = V::MIN_LENGTH;
    const EXISTS: bool = V::EXISTS;

    fn dry_resolve(&mut self) {
        self.0.dry_resolve()
    }

    async fn resolve(self) -> Self::AsyncOutput {
        SyncHydrate(self.0.resolve().await)
    }

    fn html_len(&self) -> usize {
        self.0.html_len()
    }

    fn to_html_with_buf(
        self,
        buf: &mut String,
        position: &mut Position,
        escape: bool,
        mark_branches: bool,
        extra_attrs: Vec<AnyAttribute>,
    ) {
        self.0
            .to_html_with_buf(buf, position, escape, mark_branches, extra_attrs)
    }

    fn to_html_async_with_buf<const OUT_OF_ORDER: bool>(
        self,
        buf: &mut StreamBuilder,
        position: &mut Position,
        escape: bool,
        mark_branches: bool,
        extra_attrs: Vec<AnyAttribute>,
    ) {
        self.0.to_html_async_with_buf::<OUT_OF_ORDER>(
            buf,
            position,
            escape,
            mark_branches,
            extra_attrs,
        )
    }

    fn hydrate<const FROM_SERVER: bool>(
        self,
        cursor: &Cursor,
        position: &PositionState,
    ) -> Self::State {
        self.0.hydrate::<FROM_SERVER>(cursor, position)
    }

    // `hydrate_async` is deliberately not overridden: the default hydrates synchronously.

    fn into_owned(self) -> Self::Owned {
        SyncHydrate(self.0.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::SyncHydrate;
    use leptos::prelude::*;
    use leptos::tachys::view::RenderHtml;

    #[test]
    fn renders_exactly_like_the_wrapped_view() {
        let plain = view! { <p class="x">"hello " {42} <b>"there"</b></p> }.to_html();
        let wrapped =
            SyncHydrate(view! { <p class="x">"hello " {42} <b>"there"</b></p> }).to_html();
        assert_eq!(wrapped, plain);
        assert!(plain.contains("hello"));
    }
}
