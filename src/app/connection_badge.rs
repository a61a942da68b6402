//! The connection-state indicator ("connecting", "online", "reconnecting", "offline") shown in
//! the sidebar, the agent console's header and the customer's support widget.

use super::reactive;
use super::socket::ConnState;
use leptos::prelude::*;

/// A dot and the state's label; `data-state` carries the label for tests and styling.
#[component]
pub fn ConnectionBadge(#[prop(into)] state: Signal<ConnState>) -> impl IntoView {
    let label = move || state.get().label();
    view! {
        <span
            class=reactive::text(move || format!("conn conn-{}", label()))
            data-testid="conn-state"
            data-state=reactive::label(label)
            role="status"
        >
            <span class="conn-dot" aria-hidden="true"></span>
            {reactive::label(label)}
        </span>
    }
}
