//! Bounded IPv4/IPv6 fragment reassembly. The first fragment of a datagram is placed in its
//! flow at once (it carries the ports); the later ones are held here until the datagram is
//! whole, then credited to the same flow and the whole payload handed to the dissectors.
//! Datagrams left incomplete past the timeout, or pushed out when the table is full, are counted.

use super::FastMap;
use std::net::IpAddr;

use crate::time::{Duration, Timestamp};

/// Largest reassembled datagram (the IP length field's limit).
const MAX_DATAGRAM: usize = 65_535;
/// Fragments per datagram (an attacker's tiny fragments must not grow a list without end).
const MAX_PIECES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub id: u32,
}

#[derive(Debug, Default)]
struct Pending {
    pieces: Vec<(usize, Vec<u8>)>,
    /// Bytes in `pieces`, overlaps counted twice.
    held: usize,
    total: Option<usize>,
    later_packets: u64,
    later_bytes: u64,
    first_seen: Timestamp,
    last_seen: Timestamp,
}

/// A datagram made whole: its IP payload (transport header first) and what its later
/// fragments add to the flow.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    pub key: FragmentKey,
    pub payload: Vec<u8>,
    pub later_packets: u64,
    pub later_bytes: u64,
    pub last_seen: Timestamp,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    pub reassembled: u64,
    /// Datagrams dropped incomplete (timeout, table full, too large, too many pieces).
    pub incomplete: u64,
}

pub struct Defragmenter {
    pending: FastMap<FragmentKey, Pending>,
    max_pending: usize,
    timeout: Duration,
    pub stats: DefragStats,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Defragmenter::new(256, Duration::from_secs(30))
    }
}

impl Defragmenter {
    pub fn new(max_pending: usize, timeout: Duration) -> Self {
        Defragmenter {
            pending: FastMap::default(),
            max_pending: max_pending.max(1),
            timeout,
            stats: DefragStats::default(),
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds one fragment (`offset` in bytes). `later` is true for every fragment but the first;
    /// `wire_len` is what it adds to the flow's byte count.
    pub fn push(
        &mut self,
        key: FragmentKey,
        offset: usize,
        more: bool,
        data: &[u8],
        wire_len: u32,
        ts: Timestamp,
    ) -> Option<Reassembled> {
        self.expire(ts);
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            self.drop_oldest();
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            first_seen: ts,
            last_seen: ts,
            ..Pending::default()
        });
        entry.last_seen = entry.last_seen.max(ts);
        let end = offset.saturating_add(data.len());
        // The same fragment again (a mirror port's duplicate, a retransmitted datagram) adds
        // nothing to the datagram: counted on the wire, not held again, so duplicates of a
        // large datagram do not push it past the byte bound below.
        if entry
            .pieces
            .iter()
            .any(|(o, d)| *o == offset && d.len() == data.len())
        {
            if offset > 0 {
                entry.later_packets += 1;
                entry.later_bytes += u64::from(wire_len);
            }
            return None;
        }
        // Overlapping fragments are kept whole: without a bound on their bytes, 64 pieces of
        // 64 KB each would hold 4 MB for one datagram of at most 64 KB.
        let held = entry.held.saturating_add(data.len());
        if end > MAX_DATAGRAM || entry.pieces.len() >= MAX_PIECES || held > MAX_DATAGRAM {
            self.pending.remove(&key);
            self.stats.incomplete += 1;
            return None;
        }
        if offset > 0 {
            entry.later_packets += 1;
            entry.later_bytes += u64::from(wire_len);
        }
        if !more {
            entry.total = Some(end);
        }
        entry.held = held;
        entry.pieces.push((offset, data.to_vec()));
        let total = entry.total?;
        // Whole when the pieces, sorted, cover [0, total) without a gap.
        entry.pieces.sort_by_key(|(o, _)| *o);
        let mut covered = 0usize;
        for (o, d) in &entry.pieces {
            if *o > covered {
                return None;
            }
            covered = covered.max(o + d.len());
        }
        if covered < total {
            return None;
        }
        let done = self.pending.remove(&key)?;
        let mut payload = vec![0u8; total];
        for (o, d) in &done.pieces {
            let end = (o + d.len()).min(total);
            if let (Some(dst), Some(src)) =
                (payload.get_mut(*o..end), d.get(..end.saturating_sub(*o)))
            {
                dst.copy_from_slice(src);
            }
        }
        self.stats.reassembled += 1;
        Some(Reassembled {
            key,
            payload,
            later_packets: done.later_packets,
            later_bytes: done.later_bytes,
            last_seen: done.last_seen,
        })
    }

    fn expire(&mut self, now: Timestamp) {
        let timeout = self.timeout;
        let before = self.pending.len();
        self.pending
            .retain(|_, p| now.saturating_since(p.last_seen) <= timeout);
        self.stats.incomplete += (before - self.pending.len()) as u64;
    }

    fn drop_oldest(&mut self) {
        if let Some(key) = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.first_seen)
            .map(|(k, _)| *k)
        {
            self.pending.remove(&key);
            self.stats.incomplete += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragmentKey {
        FragmentKey {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            protocol: 17,
            id,
        }
    }

    /// Every fragment of a 60,000-byte datagram seen twice (a SPAN port's duplicates): the
    /// copies are counted on the wire but not held, so the datagram is still reassembled.
    #[test]
    fn duplicate_fragments_do_not_count_against_the_bound() {
        let mut d = Defragmenter::default();
        let t = Timestamp(0);
        let piece = 1_480;
        let total = 60_000;
        let mut done = None;
        for offset in (0..total).step_by(piece) {
            let len = piece.min(total - offset);
            let more = offset + len < total;
            for _ in 0..2 {
                if let Some(whole) = d.push(key(9), offset, more, &vec![7; len], 1_514, t) {
                    done = Some(whole);
                }
            }
        }
        let done = done.expect("reassembled");
        assert_eq!(done.payload, vec![7; total]);
        // 41 fragments, 40 of them after the first, each seen twice; the last copy of the last
        // fragment comes after the datagram was whole and starts a new pending entry.
        assert_eq!((done.later_packets, done.later_bytes), (79, 79 * 1_514));
        assert_eq!(d.stats.incomplete, 0);
        assert_eq!(d.stats.reassembled, 1);
    }

    #[test]
    fn out_of_order_overlapping_and_bounded() {
        let mut d = Defragmenter::default();
        let t = Timestamp(0);
        assert!(d.push(key(1), 16, false, &[3; 8], 50, t).is_none());
        assert!(
            d.push(key(1), 8, true, &[2; 16], 50, t).is_none(),
            "overlap is fine"
        );
        let done = d.push(key(1), 0, true, &[1; 8], 50, t).unwrap();
        assert_eq!(done.payload.len(), 24);
        assert_eq!(&done.payload[..8], &[1; 8]);
        assert_eq!(done.payload[23], 3);
        assert_eq!((done.later_packets, done.later_bytes), (2, 100));
        // Timeout and table bound.
        let mut d = Defragmenter::new(2, Duration::from_secs(30));
        for id in 0..5 {
            d.push(key(id), 8, true, &[0; 8], 50, t);
        }
        assert_eq!(d.pending(), 2);
        d.push(
            key(9),
            8,
            true,
            &[0; 8],
            50,
            Timestamp::from_secs_nanos(100, 0),
        );
        assert_eq!(d.pending(), 1);
        assert_eq!(d.stats.incomplete, 5);
        // A datagram claiming more than 64 KiB is refused.
        assert!(d.push(key(20), 65_530, false, &[0; 16], 50, t).is_none());
    }

    #[test]
    fn overlapping_pieces_hold_at_most_one_datagram_of_bytes() {
        let mut d = Defragmenter::default();
        let t = Timestamp(0);
        let big = vec![0u8; 30_000];
        // 30,000 bytes at offsets 0, 8 and 16, each overlapping the last: the third would pass
        // 64 KiB. (Exact duplicates are not held at all.)
        assert!(d.push(key(1), 0, true, &big, 50, t).is_none());
        assert!(d.push(key(1), 8, true, &big, 50, t).is_none());
        assert_eq!(d.stats.incomplete, 0);
        assert!(d.push(key(1), 16, true, &big, 50, t).is_none());
        assert_eq!(d.stats.incomplete, 1);
        assert_eq!(d.pending(), 0);
    }
}
