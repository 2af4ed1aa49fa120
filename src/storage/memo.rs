//! In-memory copies of things read often and changed rarely: small blobs and
//! credentials. A [`Memo`] is a bounded concurrent cache (quick_cache's S3-FIFO,
//! so a scan of cold images does not push out the hot ones) with one extra rule that makes
//! it safe to fill from a database or store that other tasks are writing to:
//!
//! A reader takes a [`Ticket`] *before* it reads the source and offers what it read
//! with that ticket. A writer calls [`Memo::forget`] *after*
//! its write is committed, which moves the memo to a new generation. An offer made with a
//! ticket from an older generation is dropped, because what it read may predate the write.
//! Without this, a read racing a delete could put the deleted row back and keep it
//! forever. Offers and forgets take one short lock; lookups take none.

use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, UnitWeighter, Weighter};

/// The generation a read started in; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

/// A bounded cache filled by readers and emptied by writers.
pub struct Memo<K, V, W = UnitWeighter>
where
    K: Eq + Hash + Clone,
    V: Clone,
    W: Weighter<K, V> + Clone,
{
    cache: Cache<K, V, W>,
    generation: Mutex<u64>,
}

impl<K, V> Memo<K, V, UnitWeighter>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// A memo of at most `items` entries.
    pub fn with_items(items: usize) -> Self {
        Memo::with_weighter(items, items as u64, UnitWeighter)
    }
}

impl<K, V, W> Memo<K, V, W>
where
    K: Eq + Hash + Clone,
    V: Clone,
    W: Weighter<K, V> + Clone,
{
    /// A memo whose entries' weights (by `weighter`) add up to at most `capacity`.
    pub fn with_weighter(estimated_items: usize, capacity: u64, weighter: W) -> Self {
        Memo {
            cache: Cache::with_weighter(estimated_items.max(1), capacity.max(1), weighter),
            generation: Mutex::new(0),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.cache.get(key)
    }

    /// Take this before reading the source of a value you mean to offer.
    pub fn ticket(&self) -> Ticket {
        Ticket(*self.lock())
    }

    /// Keeps `value` unless something was forgotten since `ticket` was taken.
    pub fn offer(&self, ticket: Ticket, key: K, value: V) {
        let generation = self.lock();
        if *generation == ticket.0 {
            self.cache.insert(key, value);
        }
    }

    /// Drops `key`; call after the write that made it stale is committed.
    pub fn forget<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let mut generation = self.lock();
        *generation += 1;
        self.cache.remove(key);
    }

    /// The remembered value, or what `read` finds (remembered when found). Only values
    /// that exist are remembered, so a row created elsewhere is seen at once.
    pub async fn get_or_read<E, F, Fut>(&self, key: K, read: F) -> Result<Option<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(value) = self.get(&key) {
            return Ok(Some(value));
        }
        let ticket = self.ticket();
        let value = read().await?;
        if let Some(value) = &value {
            self.offer(ticket, key, value.clone());
        }
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // A panic while holding this lock cannot leave the counter half-written.
        self.generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_made_before_a_forget_is_dropped() {
        let memo: Memo<u32, &str> = Memo::with_items(10);
        let early = memo.ticket();
        memo.forget(&1);
        memo.offer(early, 1, "stale");
        assert_eq!(memo.get(&1), None);
        let fresh = memo.ticket();
        memo.offer(fresh, 1, "fresh");
        assert_eq!(memo.get(&1), Some("fresh"));
        memo.forget(&1);
        assert_eq!(memo.get(&1), None);
    }

    #[test]
    fn it_stays_within_its_capacity() {
        let memo: Memo<u32, u32> = Memo::with_items(100);
        for n in 0..10_000 {
            let ticket = memo.ticket();
            memo.offer(ticket, n, n);
        }
        let kept = (0..10_000).filter(|n| memo.get(n).is_some()).count();
        assert!(kept <= 100 && kept > 0, "{kept} entries kept");
    }
}
