//! A bounded memo keyed by bytes: parsers whose inputs repeat across a capture (a server's
//! certificate, a client build's ClientHello lists) remember their results, within limits.

use std::collections::HashMap;

/// Results by the bytes they were computed from. Past `max_entries` entries or `max_bytes` of
/// keys together it starts over; a key longer than `max_key` is never remembered.
#[derive(Clone, Debug)]
pub struct BytesMemo<V> {
    known: HashMap<Box<[u8]>, V, foldhash::fast::RandomState>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    max_key: usize,
}

impl<V> BytesMemo<V> {
    pub fn new(max_entries: usize, max_bytes: usize, max_key: usize) -> Self {
        BytesMemo {
            known: HashMap::default(),
            bytes: 0,
            max_entries,
            max_bytes,
            max_key: max_key.min(max_bytes),
        }
    }

    /// The value remembered for `key`, else `compute`'s, which is then remembered.
    pub fn get_or_compute(&mut self, key: &[u8], compute: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        if let Some(known) = self.known.get(key) {
            return known.clone();
        }
        let value = compute();
        self.insert(key, value.clone());
        value
    }

    fn insert(&mut self, key: &[u8], value: V) {
        if key.len() > self.max_key {
            return;
        }
        if self.known.len() >= self.max_entries || self.bytes + key.len() > self.max_bytes {
            self.known.clear();
            self.bytes = 0;
        }
        self.bytes += key.len();
        self.known.insert(key.into(), value);
    }

    /// Entries remembered now.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Bytes of the keys remembered now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_and_long_keys_leave_the_memo_alone() {
        let mut memo = BytesMemo::new(3, 10, 4);
        for n in 0..10u8 {
            assert_eq!(memo.get_or_compute(&[n, n], || n), n);
            assert_eq!(
                memo.get_or_compute(&[n, n], || unreachable!("remembered")),
                n
            );
            assert!(memo.len() <= 3 && memo.bytes() <= 10);
        }
        let before = memo.len();
        assert_eq!(memo.get_or_compute(&[7; 5], || 70), 70);
        assert_eq!(
            memo.get_or_compute(&[7; 5], || 71),
            71,
            "too long to remember"
        );
        assert_eq!(memo.len(), before);
        // Bytes bound before the entry bound: 4 + 4 fits, a third key starts over.
        let mut memo = BytesMemo::new(10, 8, 4);
        memo.get_or_compute(&[1; 4], || 1);
        memo.get_or_compute(&[2; 4], || 2);
        assert_eq!(memo.len(), 2);
        memo.get_or_compute(&[3; 4], || 3);
        assert_eq!((memo.len(), memo.bytes()), (1, 4));
    }
}
