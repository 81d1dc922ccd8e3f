//! IP fragment reassembly: fragments of a few datagrams (which datagram, offset, more-fragments
//! flag, length and time from the input) into a small `Defragmenter`. A datagram handed out is
//! as long as a last fragment (more-fragments flag clear) of its datagram said; a late copy is
//! of a piece (place, flag and bytes) of a datagram made whole before.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use o365flow::flow::defrag::{Defragmenter, FragmentKey, Pushed};
use o365flow::time::{Duration, Timestamp};

fuzz_target!(|data: &[u8]| {
    let mut defrag = Defragmenter::new(4, Duration::from_secs(30));
    let mut rest = data;
    let mut ts = 0i64;
    // Per datagram: fragments pushed, and the ends its last fragments gave.
    let mut pushed: HashMap<FragmentKey, (u64, Vec<usize>)> = HashMap::new();
    // Per datagram: the pieces (offset, flag, bytes) pushed up to the last time it was whole.
    let mut seen: HashMap<FragmentKey, Vec<(usize, bool, Vec<u8>)>> = HashMap::new();
    let mut whole_pieces: HashMap<FragmentKey, Vec<(usize, bool, Vec<u8>)>> = HashMap::new();
    // Each fragment: [datagram, offset/8 (2 bytes), flags, length, time step], then its bytes.
    while rest.len() >= 6 {
        let (head, body) = rest.split_at(6);
        let key = FragmentKey {
            src: [10, 0, 0, head[0] & 7].into(),
            dst: [10, 0, 1, 1].into(),
            protocol: if head[0] & 8 == 0 { 17 } else { 6 },
            id: u32::from(head[0] >> 4),
        };
        // Offsets in 8-byte units as on the wire, up to the largest the IP header can say.
        let offset = usize::from(u16::from_le_bytes([head[1], head[2]]) & 0x1fff) * 8;
        let more = head[3] & 1 != 0;
        let len = usize::from(head[4]).min(body.len());
        let (piece, after) = body.split_at(len);
        rest = after;
        ts += i64::from(head[5]) - 16;
        let wire_len = u32::try_from(piece.len() + 34).unwrap_or(u32::MAX);
        pushed.entry(key).or_default().0 += 1;
        seen.entry(key).or_default().push((offset, more, piece.to_vec()));
        if !more {
            pushed.entry(key).or_default().1.push(offset + piece.len());
        }
        match defrag.push(
            key,
            offset,
            more,
            piece,
            wire_len,
            Timestamp::from_secs_nanos(ts, 0),
        ) {
            Pushed::Whole(whole) => {
                assert_eq!(whole.key, key);
                let (pieces, ends) = &pushed[&key];
                // As long as a last fragment said, and never more later pieces than were pushed.
                assert!(
                    ends.contains(&whole.payload.len()),
                    "{} not in {ends:?}",
                    whole.payload.len()
                );
                assert!(whole.later_packets < *pieces);
                whole_pieces.insert(key, seen.get(&key).cloned().unwrap_or_default());
            }
            Pushed::LateCopy { .. } => {
                // A copy of a piece pushed (place, flag and bytes) before its datagram was whole.
                let pieces = whole_pieces.get(&key).expect("a copy of a datagram never whole");
                assert!(pieces.contains(&(offset, more, piece.to_vec())));
            }
            Pushed::Held => {}
        }
        assert!(defrag.pending() <= 4);
    }
});
