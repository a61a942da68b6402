//! [`keyed_list`]: every keyed list of the app through one instantiation of leptos's `<For>`.
//!
//! `<For>` is generic over the item, its key, the key function and the row's view, and each
//! combination is a copy of the keyed diff in the WASM bundle (rebuild, hydrate, the index set of
//! keys, the row closures): about 8 KB per list. Here a [`KeyedRow`] carries its key type-erased
//! ([`RowKey`]) and its view behind a boxed function returning an `AnyView`, so the message list,
//! the conversation list, the queue, the tabs and the notices share one copy. Rows behave exactly
//! as with `<For>`: a row is drawn when its key first appears and kept while the key stays.

use super::sync_hydrate::SyncHydrate;
use leptos::prelude::*;
use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One row of a keyed list: its key, and how to draw it when the key is new.
pub struct KeyedRow {
    key: RowKey,
    view: Box<dyn FnOnce() -> AnyView + Send>,
}

impl KeyedRow {
    /// A row keyed by `key` (compared with the keys of the same list only), drawn by `view`.
    pub fn new<K, V>(key: K, view: impl FnOnce() -> V + Send + 'static) -> Self
    where
        K: Eq + Hash + Send + Sync + 'static,
        V: IntoView + 'static,
    {
        Self {
            key: RowKey(Arc::new(key)),
            // `SyncHydrate`: an `AnyView` would otherwise pull in the row's async hydration.
            view: Box::new(move || SyncHydrate(view().into_view()).into_any()),
        }
    }
}

/// A key of any type that can be compared and hashed, cheap to clone.
#[derive(Clone)]
struct RowKey(Arc<dyn DynKey>);

/// `Eq + Hash` in a form that can be called through `dyn`.
trait DynKey: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn same(&self, other: &dyn DynKey) -> bool;
    fn hash_into(&self, state: &mut dyn Hasher);
}

impl<K: Eq + Hash + Send + Sync + 'static> DynKey for K {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same(&self, other: &dyn DynKey) -> bool {
        other.as_any().downcast_ref::<K>() == Some(self)
    }

    fn hash_into(&self, mut state: &mut dyn Hasher) {
        self.hash(&mut state);
    }
}

impl PartialEq for RowKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.same(&*other.0)
    }
}

impl Eq for RowKey {}

impl Hash for RowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash_into(state);
    }
}

/// A keyed list of the rows `rows` returns (re-run when the signals it reads change).
pub fn keyed_list(rows: impl Fn() -> Vec<KeyedRow> + Send + 'static) -> impl IntoView {
    shared(Box::new(rows))
}

/// The one `<For>` behind every list (not generic, so it is compiled once).
fn shared(rows: Box<dyn Fn() -> Vec<KeyedRow> + Send>) -> impl IntoView {
    view! { <For each=rows key=|row: &KeyedRow| row.key.clone() children=|row: KeyedRow| (row.view)()/> }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_compare_and_hash_like_the_values_they_hold() {
        let key = |k: (String, bool)| KeyedRow::new(k, || ()).key;
        let a = key(("a".into(), true));
        assert!(a == key(("a".into(), true)));
        assert!(a != key(("a".into(), false)));
        assert!(
            a != KeyedRow::new("a".to_owned(), || ()).key,
            "another type is another key"
        );
        let set: HashSet<RowKey> = [a.clone(), key(("a".into(), true)), key(("b".into(), true))]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 2);
    }
}
