//! The flow table's storage: entries in one dense Vec, found through a hash index of their
//! positions. A hash map holding the entries themselves keeps up to half its buckets empty and,
//! while it grows, holds the old and the new bucket arrays at once: about 2.3 entry sizes per
//! flow at the peak. Here growth reallocates one Vec (which the allocator moves without copying
//! at these sizes) and an index of 4-byte positions, so memory stays close to the entries' size.
//! hashbrown's `HashTable` is the index (std has no hash table of values hashed by a caller).

use std::hash::BuildHasher;

use super::FlowKey;

/// What the slab needs of an entry: the key it is found by.
pub trait Keyed {
    fn key(&self) -> FlowKey;
}

pub struct Slab<T> {
    entries: Vec<T>,
    index: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl<T: Keyed> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            index: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<T: Keyed> Slab<T> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most entries the 4-byte positions can address.
    pub const MAX: usize = u32::MAX as usize;

    fn position(&self, key: &FlowKey) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(self.hasher.hash_one(key), |&i| {
                entries.get(i as usize).is_some_and(|e| e.key() == *key)
            })
            .map(|&i| i as usize)
    }

    pub fn contains(&self, key: &FlowKey) -> bool {
        self.position(key).is_some()
    }

    pub fn get(&self, key: &FlowKey) -> Option<&T> {
        self.entries.get(self.position(key)?)
    }

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut T> {
        let i = self.position(key)?;
        self.entries.get_mut(i)
    }

    /// The entry for `key`, made by `make` when missing (`make` must build an entry with that
    /// key); None only when the slab is at `MAX`.
    pub fn get_or_insert_with(&mut self, key: FlowKey, make: impl FnOnce() -> T) -> Option<&mut T> {
        let i = match self.position(&key) {
            Some(i) => i,
            None => {
                let i = self.entries.len();
                let position = u32::try_from(i).ok()?;
                self.entries.push(make());
                let (entries, hasher) = (&self.entries, &self.hasher);
                self.index
                    .insert_unique(hasher.hash_one(key), position, |&j| {
                        entries
                            .get(j as usize)
                            .map(|e| hasher.hash_one(e.key()))
                            .unwrap_or_default()
                    });
                i
            }
        };
        self.entries.get_mut(i)
    }

    pub fn remove(&mut self, key: &FlowKey) -> Option<T> {
        let entries = &self.entries;
        let found = self
            .index
            .find_entry(self.hasher.hash_one(key), |&i| {
                entries.get(i as usize).is_some_and(|e| e.key() == *key)
            })
            .ok()?;
        let (i, _) = found.remove();
        let i = i as usize;
        let last = self.entries.len().checked_sub(1)?;
        if i != last {
            // The last entry moves into the hole: its index slot must follow.
            let moved = self.entries.get(last)?.key();
            if let Some(slot) = self
                .index
                .find_mut(self.hasher.hash_one(moved), |&j| j as usize == last)
            {
                *slot = u32::try_from(i).ok()?;
            }
        }
        Some(self.entries.swap_remove(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter()
    }

    /// Every entry, in the order `order_key` gives, handed out one at a time; the slab is empty
    /// (and its memory released) afterwards.
    pub fn drain_sorted<K: Ord>(&mut self, order_key: impl Fn(&T) -> K, mut each: impl FnMut(T)) {
        self.index = hashbrown::HashTable::new();
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable_by_key(|e| order_key(e));
        for e in entries {
            each(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Endpoint, FlowRecord};

    impl Keyed for FlowRecord {
        fn key(&self) -> FlowKey {
            self.key
        }
    }

    fn record(n: u16) -> FlowRecord {
        let a = Endpoint {
            ip: "10.0.0.1".parse().unwrap(),
            port: n,
        };
        let b = Endpoint {
            ip: "10.0.0.2".parse().unwrap(),
            port: 443,
        };
        let (key, _) = FlowKey::new(a, b, 6);
        FlowRecord::new(
            key,
            crate::wire::Transport::Tcp,
            a,
            b,
            0,
            crate::time::Timestamp::from_secs_nanos(i64::from(n), 0),
        )
    }

    #[test]
    fn insert_find_remove_keep_the_index_right() {
        let mut slab: Slab<FlowRecord> = Slab::default();
        for n in 0..1000 {
            let r = record(n);
            slab.get_or_insert_with(r.key, || r).unwrap();
        }
        assert_eq!(slab.len(), 1000);
        // Removing from the middle moves the last entry: every other key still resolves.
        for n in (0..1000).step_by(3) {
            let key = record(n).key;
            assert_eq!(slab.remove(&key).map(|r| r.key), Some(key));
            assert!(slab.get(&key).is_none());
        }
        for n in 0..1000u16 {
            let key = record(n).key;
            assert_eq!(slab.contains(&key), n % 3 != 0, "{n}");
            if n % 3 != 0 {
                assert_eq!(slab.get_mut(&key).map(|r| r.key), Some(key));
            }
        }
        // An existing key is found, not inserted twice.
        let again = record(1);
        slab.get_or_insert_with(again.key, || panic!("must not insert"));
        let mut order = Vec::new();
        slab.drain_sorted(
            |r| std::cmp::Reverse(r.first_seen),
            |r| order.push(r.first_seen),
        );
        assert_eq!(order.len(), 666);
        assert!(order.windows(2).all(|w| w[0] > w[1]));
        assert!(slab.is_empty());
    }
}
