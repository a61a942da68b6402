//! Stable sorting through one shared copy of the standard library's sort.
//!
//! Every `sort_by` on a new element type or with a new comparison closure is a new copy of the
//! standard sort (about 4 KB of WASM each). [`sorted_by`] sorts positions instead, with the
//! comparison behind `&dyn Fn`, so all callers share one copy; the result is the same as
//! `items.sort_by(compare)` (stable: equal items keep their order).

use std::cmp::Ordering;

/// `items`, sorted stably by `compare`.
pub fn sorted_by<T>(items: Vec<T>, compare: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    sort_positions(&mut order, &|a, b| compare(&items[a], &items[b]));
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The one instantiation of the standard sort.
fn sort_positions(order: &mut [usize], compare: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_by(|&a, &b| compare(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_sort_by_and_keeps_equal_items_in_order() {
        let items = vec![(3, 'a'), (1, 'b'), (3, 'c'), (0, 'd'), (1, 'e')];
        let mut expected = items.clone();
        expected.sort_by_key(|item| std::cmp::Reverse(item.0));
        assert_eq!(sorted_by(items, |a, b| b.0.cmp(&a.0)), expected);
        assert_eq!(sorted_by(Vec::<u8>::new(), Ord::cmp), Vec::<u8>::new());
    }
}
