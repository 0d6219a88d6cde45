//! Counting distinct values in the order they first appear, and merging such counts.
//!
//! A stretch of lines (one chunk of an input) counts every distinct value it meets; the
//! whole log keeps only the first few, as a reader going line by line would: merging the
//! stretches in input order, a value already kept adds up, a new one is kept while there is
//! room ([`merge_capped`]). So the result does not depend on where the stretches end.

use std::hash::{BuildHasher, Hash};

use indexmap::IndexMap;

use crate::sources::ByName;

/// Distinct values kept per tally.
pub(crate) const TALLY_CAP: usize = 32;

/// Merges `from` into `into`, `from`'s entries in their order: an entry `into` holds is
/// combined with `merge`, a new one kept while `into` holds fewer than `cap`, else handed
/// to `dropped`.
pub(crate) fn merge_capped<K, V, S>(
    into: &mut IndexMap<K, V, S>,
    from: IndexMap<K, V, S>,
    cap: usize,
    mut merge: impl FnMut(&mut V, V),
    mut dropped: impl FnMut(V),
) where
    K: Hash + Eq,
    S: BuildHasher,
{
    for (key, value) in from {
        if let Some(kept) = into.get_mut(&key) {
            merge(kept, value);
        } else if into.len() < cap {
            into.insert(key, value);
        } else {
            dropped(value);
        }
    }
}

/// Counts of distinct values: within a chunk all of them, in a merged whole the first
/// [`TALLY_CAP`] to appear.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: ByName<u64>,
}

impl Tally {
    /// Counts one occurrence of `value`.
    pub fn add(&mut self, value: &str) {
        if let Some(n) = self.counts.get_mut(value) {
            *n += 1;
        } else {
            self.counts.insert(value.to_owned(), 1);
        }
    }

    /// Adds `other`'s counts, which come after this tally's in the log.
    pub(crate) fn merge(&mut self, other: Tally) {
        merge_capped(
            &mut self.counts,
            other.counts,
            TALLY_CAP,
            |n, m| *n += m,
            |_| {},
        );
    }

    /// The most frequent values, most frequent first (equals by value).
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> =
            self.counts.iter().map(|(k, &v)| (k.clone(), v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    /// The most frequent value (of equals, the greatest).
    pub fn most_common(&self) -> Option<&str> {
        self.counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)))
            .map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(values: &[&str]) -> Tally {
        let mut t = Tally::default();
        values.iter().for_each(|v| t.add(v));
        t
    }

    #[test]
    fn merged_tallies_keep_the_first_values_to_appear() {
        let values: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut whole = Tally::default();
        whole.merge(tally(&values[..20]));
        // The second stretch repeats an early value after 20 new ones: it still counts.
        let mut second = values[20..].to_vec();
        second.push("v0");
        whole.merge(tally(&second));
        assert_eq!(whole.counts.len(), TALLY_CAP);
        assert_eq!(whole.counts["v0"], 2);
        assert!(whole.counts.contains_key("v31") && !whole.counts.contains_key("v32"));
    }

    #[test]
    fn equals_are_ordered_by_value() {
        let t = tally(&["b", "a", "b", "a", "c"]);
        assert_eq!(t.most_common(), Some("b"));
        assert_eq!(t.top(2), [("a".to_owned(), 2), ("b".to_owned(), 2)]);
    }
}
