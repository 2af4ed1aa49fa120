//! Values kept with the catalog generation they were read in, and answered only while
//! the catalog is still in that generation.
//!
//! The generation is the catalog's witness of "nothing committed since" (on SQLite, its
//! `PRAGMA data_version`; see `catalog::stamped`). The caller takes it *before* it reads what
//! it will keep, so a value read after a commit it does not show is kept only under a
//! generation that the next lookup has already left. A generation of `None` means the
//! catalog has no witness (PostgreSQL, or SQLite failing to answer): then nothing is kept
//! and nothing is answered.
//!
//! Two users: the catalog's remembered rows, and the HTTP layer's serialized metadata
//! answers, which are pure functions of those rows.

use std::hash::Hash;

use quick_cache::sync::Cache;

/// A bounded cache of `(generation, value)` by key.
pub struct Generational<K, V> {
    values: Cache<K, (u64, V)>,
}

impl<K: Eq + Hash + Clone, V: Clone> Generational<K, V> {
    /// At most `items` values (at least one).
    pub fn new(items: usize) -> Self {
        Generational {
            values: Cache::new(items.max(1)),
        }
    }

    /// The value kept for `key` in this generation, if any.
    pub fn get(&self, generation: Option<u64>, key: &K) -> Option<V> {
        let generation = generation?;
        match self.values.get(key) {
            Some((kept, value)) if kept == generation => Some(value),
            _ => None,
        }
    }

    /// Keeps a value read after `generation` was taken; nothing when there is none.
    pub fn keep(&self, generation: Option<u64>, key: K, value: V) {
        if let Some(generation) = generation {
            self.values.insert(key, (generation, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Generational;

    #[test]
    fn a_value_is_answered_only_in_the_generation_it_was_read_in() {
        let kept = Generational::new(8);
        kept.keep(Some(3), "a", "first");
        assert_eq!(kept.get(Some(3), &"a"), Some("first"));
        assert_eq!(kept.get(Some(4), &"a"), None, "a commit since");
        assert_eq!(kept.get(None, &"a"), None, "no witness");
        assert_eq!(kept.get(Some(3), &"b"), None);
        kept.keep(None, "a", "without a witness");
        assert_eq!(kept.get(Some(3), &"a"), Some("first"), "not kept");
        kept.keep(Some(4), "a", "second");
        assert_eq!(kept.get(Some(4), &"a"), Some("second"));
        assert_eq!(kept.get(Some(3), &"a"), None, "replaced, not added");
    }
}
