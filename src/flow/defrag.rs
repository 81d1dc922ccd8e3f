//! Bounded IPv4/IPv6 fragment reassembly. The first fragment of a datagram is placed in its
//! flow at once (it carries the ports); the later ones are held here until the datagram is
//! whole, then credited to the same flow and the whole payload handed to the dissectors.
//! Datagrams left incomplete past the timeout, or pushed out when the table is full, are counted.
//! A datagram made whole is remembered for a short while, so a copy of one of its fragments that
//! comes after it (a mirror port duplicates every packet) is credited to its flow instead of
//! starting a datagram that can never be whole. A new datagram reusing the id within that
//! while whose first piece to arrive is byte-for-byte a piece of the old one is taken for a copy
//! (and then never made whole): with 16-bit IPv4 ids that needs tens of thousands of datagrams
//! between the same two hosts in two seconds, where a mirror port's copies are common.

use std::hash::BuildHasher;
use std::net::IpAddr;

use super::FastMap;
use crate::time::{Duration, Timestamp};
use crate::wire::l2l4::transport_of;

/// Largest reassembled datagram (the IP length field's limit).
const MAX_DATAGRAM: usize = 65_535;
/// Fragments per datagram (an attacker's tiny fragments must not grow a list without end).
const MAX_PIECES: usize = 64;
/// How long a datagram made whole is remembered for late copies of its fragments: a mirror
/// port's copy follows within milliseconds, and a short window makes a new datagram reusing the
/// id (16 bits in IPv4) unlikely to meet the old one.
const COPY_WINDOW: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub id: u32,
}

#[derive(Debug, Default)]
struct Pending {
    /// Offset, more-fragments flag, bytes.
    pieces: Vec<(usize, bool, Vec<u8>)>,
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

/// What one fragment did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Held (or dropped, and counted) until the datagram is whole.
    Held,
    /// The datagram is whole.
    Whole(Reassembled),
    /// A copy of a fragment of a datagram made whole earlier: nothing to dissect again, but a
    /// later fragment (`offset > 0`) still counts for its flow, found by the datagram's ports.
    /// The first fragment's copy was counted by the flow table already.
    LateCopy {
        /// The datagram's transport ports (source, destination), when it is TCP or UDP.
        ports: Option<(u16, u16)>,
    },
}

/// A datagram made whole: where each piece was, whether it was the last, and a hash of its
/// bytes, so a late copy of a piece is told from a new datagram reusing the same id.
#[derive(Debug)]
struct Completed {
    pieces: Vec<(usize, usize, bool, u64)>,
    ports: Option<(u16, u16)>,
    at: Timestamp,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    pub reassembled: u64,
    /// Datagrams dropped incomplete (timeout, table full, too large, too many pieces).
    pub incomplete: u64,
}

pub struct Defragmenter {
    pending: FastMap<FragmentKey, Pending>,
    /// Datagrams made whole within `COPY_WINDOW` (older ones are ignored, and dropped when the
    /// map is full), at most `max_pending` of them.
    completed: FastMap<FragmentKey, Completed>,
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
            completed: FastMap::default(),
            max_pending: max_pending.max(1),
            timeout,
            stats: DefragStats::default(),
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds one fragment (`offset` in bytes, `more` its more-fragments flag); `wire_len` is what
    /// it adds to the flow's byte count.
    pub fn push(
        &mut self,
        key: FragmentKey,
        offset: usize,
        more: bool,
        data: &[u8],
        wire_len: u32,
        ts: Timestamp,
    ) -> Pushed {
        self.expire(ts);
        if let Some(done) = self.completed.get(&key) {
            if ts.saturating_since(done.at) <= COPY_WINDOW {
                let hash = self.completed.hasher().hash_one(data);
                if done.pieces.contains(&(offset, data.len(), more, hash)) {
                    return Pushed::LateCopy { ports: done.ports };
                }
            }
            // Not a piece of it: a new datagram with the same id.
            self.completed.remove(&key);
        }
        match self.push_pending(key, offset, more, data, wire_len, ts) {
            Some(whole) => Pushed::Whole(whole),
            None => Pushed::Held,
        }
    }

    /// A fragment of no datagram made whole within the timeout: held with its datagram's other
    /// pieces, which it may complete.
    fn push_pending(
        &mut self,
        key: FragmentKey,
        offset: usize,
        more: bool,
        data: &[u8],
        wire_len: u32,
        ts: Timestamp,
    ) -> Option<Reassembled> {
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
            .any(|(o, _, d)| *o == offset && d.len() == data.len())
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
        entry.pieces.push((offset, more, data.to_vec()));
        let total = entry.total?;
        // Whole when the pieces, sorted, cover [0, total) without a gap.
        entry.pieces.sort_by_key(|(o, ..)| *o);
        let mut covered = 0usize;
        for (o, _, d) in &entry.pieces {
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
        for (o, _, d) in &done.pieces {
            let end = (o + d.len()).min(total);
            if let (Some(dst), Some(src)) =
                (payload.get_mut(*o..end), d.get(..end.saturating_sub(*o)))
            {
                dst.copy_from_slice(src);
            }
        }
        self.stats.reassembled += 1;
        self.remember(key, &done.pieces, &payload, ts);
        Some(Reassembled {
            key,
            payload,
            later_packets: done.later_packets,
            later_bytes: done.later_bytes,
            last_seen: done.last_seen,
        })
    }

    /// Keeps a whole datagram's piece places and hashes (not its bytes) for the timeout.
    fn remember(
        &mut self,
        key: FragmentKey,
        pieces: &[(usize, bool, Vec<u8>)],
        payload: &[u8],
        at: Timestamp,
    ) {
        // Checked when full only, so a fragment costs no scan of this map.
        if self.completed.len() >= self.max_pending {
            self.completed
                .retain(|_, c| at.saturating_since(c.at) <= COPY_WINDOW);
        }
        if self.completed.len() >= self.max_pending {
            if let Some(oldest) = self
                .completed
                .iter()
                .min_by_key(|(_, c)| c.at)
                .map(|(k, _)| *k)
            {
                self.completed.remove(&oldest);
            }
        }
        let hasher = self.completed.hasher();
        let pieces = pieces
            .iter()
            .map(|(offset, more, data)| {
                (*offset, data.len(), *more, hasher.hash_one(data.as_slice()))
            })
            .collect();
        let ports = transport_of(key.protocol, payload)
            .map(|(source, destination, ..)| (source, destination));
        self.completed.insert(key, Completed { pieces, ports, at });
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

    fn whole(pushed: Pushed) -> Option<Reassembled> {
        match pushed {
            Pushed::Whole(whole) => Some(whole),
            _ => None,
        }
    }

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
        let mut late = Vec::new();
        for offset in (0..total).step_by(piece) {
            let len = piece.min(total - offset);
            let more = offset + len < total;
            for _ in 0..2 {
                match d.push(key(9), offset, more, &vec![7; len], 1_514, t) {
                    Pushed::Whole(whole) => done = Some(whole),
                    Pushed::LateCopy { ports } => late.push((offset, ports)),
                    Pushed::Held => {}
                }
            }
        }
        let done = done.expect("reassembled");
        assert_eq!(done.payload, vec![7; total]);
        // 41 fragments, 40 of them after the first, each seen twice; the last copy of the last
        // fragment comes after the datagram was whole: it is handed back for its flow, and
        // nothing is left pending to expire as an incomplete datagram.
        assert_eq!((done.later_packets, done.later_bytes), (79, 79 * 1_514));
        // The last fragment's copy, with the ports its UDP header (bytes of 7) gives.
        assert_eq!(late, vec![(59_200, Some((0x0707, 0x0707)))]);
        assert_eq!(d.pending(), 0);
        d.push(
            key(1),
            8,
            true,
            &[0; 8],
            50,
            Timestamp::from_secs_nanos(100, 0),
        );
        assert_eq!(d.stats.incomplete, 0);
        assert_eq!(d.stats.reassembled, 1);
    }

    #[test]
    fn out_of_order_overlapping_and_bounded() {
        let mut d = Defragmenter::default();
        let t = Timestamp(0);
        assert!(whole(d.push(key(1), 16, false, &[3; 8], 50, t)).is_none());
        assert!(
            whole(d.push(key(1), 8, true, &[2; 16], 50, t)).is_none(),
            "overlap is fine"
        );
        let done = whole(d.push(key(1), 0, true, &[1; 8], 50, t)).unwrap();
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
        assert!(whole(d.push(key(20), 65_530, false, &[0; 16], 50, t)).is_none());
    }

    #[test]
    fn overlapping_pieces_hold_at_most_one_datagram_of_bytes() {
        let mut d = Defragmenter::default();
        let t = Timestamp(0);
        let big = vec![0u8; 30_000];
        // 30,000 bytes at offsets 0, 8 and 16, each overlapping the last: the third would pass
        // 64 KiB. (Exact duplicates are not held at all.)
        assert!(whole(d.push(key(1), 0, true, &big, 50, t)).is_none());
        assert!(whole(d.push(key(1), 8, true, &big, 50, t)).is_none());
        assert_eq!(d.stats.incomplete, 0);
        assert!(whole(d.push(key(1), 16, true, &big, 50, t)).is_none());
        assert_eq!(d.stats.incomplete, 1);
        assert_eq!(d.pending(), 0);
    }

    /// A datagram made whole, then a copy of its first and last fragments (a mirror port's
    /// duplicates), then a new datagram reusing its id: the copies come back as late copies
    /// with the datagram's UDP ports, the new datagram is reassembled on its own.
    #[test]
    fn late_copies_are_told_from_a_new_datagram_with_the_same_id() {
        let mut d = Defragmenter::default();
        let t = Timestamp(0);
        let mut udp = vec![0, 53, 0xc3, 0x50, 0, 24, 0, 0];
        udp.extend_from_slice(&[1; 16]);
        assert_eq!(whole(d.push(key(5), 16, false, &udp[16..], 60, t)), None);
        let first = whole(d.push(key(5), 0, true, &udp[..16], 60, t)).expect("whole");
        assert_eq!(first.payload, udp);
        for (offset, more) in [(16, false), (0, true)] {
            assert_eq!(
                d.push(
                    key(5),
                    offset,
                    more,
                    &udp[offset..(offset + 16).min(udp.len())],
                    60,
                    t
                ),
                Pushed::LateCopy {
                    ports: Some((53, 50_000))
                }
            );
        }
        // The same id, other bytes: a new datagram, held until whole.
        let mut other = udp.clone();
        other[20] = 9;
        assert_eq!(whole(d.push(key(5), 16, false, &other[16..], 60, t)), None);
        let second = whole(d.push(key(5), 0, true, &other[..16], 60, t)).expect("whole");
        assert_eq!(second.payload, other);
        assert_eq!(d.stats.reassembled, 2);
        // Past the 2 s copy window (inside the 30 s timeout) the datagram is forgotten: a copy
        // then starts a pending entry.
        let later = Timestamp::from_secs_nanos(3, 0);
        assert_eq!(
            whole(d.push(key(5), 16, false, &other[16..], 60, later)),
            None
        );
        assert_eq!(d.pending(), 1);
    }
}
