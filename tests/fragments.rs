//! IP fragments: a fragmented DNS response, delivered out of order, is reassembled, credited to
//! its flow and dissected whole.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

fn pcap_header() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&101u32.to_le_bytes()); // raw IP
    h
}

fn record(out: &mut Vec<u8>, secs: u32, packet: &[u8]) {
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
    out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
    out.extend_from_slice(packet);
}

fn ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    offset_bytes: usize,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    let total = 20 + payload.len();
    let flags_offset = ((offset_bytes / 8) as u16) | if more { 0x2000 } else { 0 };
    let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&flags_offset.to_be_bytes());
    p.extend_from_slice(&[64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

fn dns_response(name: &str, answers: u16) -> Vec<u8> {
    let mut m = vec![0xbe, 0xef, 0x81, 0x80, 0, 1];
    m.extend_from_slice(&answers.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    for i in 0..answers {
        m.extend_from_slice(&[
            0xc0,
            12,
            0,
            1,
            0,
            1,
            0,
            0,
            0,
            60,
            0,
            4,
            52,
            113,
            (i >> 8) as u8,
            i as u8,
        ]);
    }
    m
}

/// A DNS query and its 677-byte response, a UDP datagram split at 256 and 512 bytes: the
/// query's packet and the three fragments.
fn query_and_fragmented_response() -> (Vec<u8>, Vec<Vec<u8>>) {
    let client = [10, 0, 0, 1];
    let resolver = [10, 0, 0, 53];
    let query = {
        let mut q = dns_response("teams.microsoft.com", 0);
        q[2] = 0x01; // a query
        q[3] = 0x00;
        let mut udp = vec![0xc3, 0x50, 0, 53];
        udp.extend_from_slice(&((q.len() + 8) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&q);
        ipv4(client, resolver, 1, 0, false, &udp)
    };
    // 40 answers: a 677-byte DNS message.
    let answer = dns_response("teams.microsoft.com", 40);
    let mut udp = vec![0, 53, 0xc3, 0x50];
    udp.extend_from_slice(&((answer.len() + 8) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&answer);
    let pieces = [
        (0usize, 256usize, true),
        (256, 512, true),
        (512, udp.len(), false),
    ];
    let frags = pieces
        .iter()
        .map(|(from, to, more)| ipv4(resolver, client, 77, *from, *more, &udp[*from..*to]))
        .collect();
    (query, frags)
}

/// The analysis of the query and the fragments in `order`, each packet `copies` times in a
/// row (a mirror port that duplicates every packet sends two).
fn analyze_fragments(order: &[usize], copies: usize) -> (o365flow::engine::Analysis, u64) {
    let (query, frags) = query_and_fragmented_response();
    let mut file = pcap_header();
    for _ in 0..copies {
        record(&mut file, 1_700_000_000, &query);
    }
    for &i in order {
        for _ in 0..copies {
            record(&mut file, 1_700_000_001, &frags[i]);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fragments.pcap");
    std::fs::write(&path, &file).unwrap();
    let bytes: usize = frags.iter().map(Vec::len).sum();
    (common::analyze_one(&path), bytes as u64)
}

#[test]
fn fragmented_dns_response_is_reassembled_and_dissected() {
    // Out of order: last, first, middle; and the first fragment last of all, which makes the
    // datagram whole when it arrives.
    for order in [[2usize, 0, 1], [2, 1, 0]] {
        let (analysis, bytes) = analyze_fragments(&order, 1);
        assert_eq!(analysis.flows.len(), 1, "{order:?}: {:#?}", analysis.flows);
        let flow = &analysis.flows[0];
        assert_eq!(flow.app_protocol.as_str(), "dns", "{order:?}");
        assert_eq!(flow.dns_query.as_deref(), Some("teams.microsoft.com"));
        assert_eq!((flow.packets_c2s, flow.packets_s2c), (1, 3), "{order:?}");
        assert_eq!(flow.bytes_s2c, bytes, "{order:?}");
        assert_eq!(analysis.summary.fragments, 2);
        assert_eq!(analysis.summary.fragments_placed, 2, "{order:?}");
        assert_eq!(analysis.summary.fragments_reassembled, 1);
        assert_eq!(analysis.summary.fragments_incomplete, 0);
    }
}

/// A mirror port's copies: every packet twice. The copies of a fragment that come after the
/// datagram was whole count for the flow like the others, and leave no datagram waiting for
/// pieces that will never come.
#[test]
fn every_fragment_seen_twice_counts_twice_and_leaves_nothing_incomplete() {
    for order in [[0usize, 1, 2], [2, 0, 1], [2, 1, 0]] {
        let (analysis, bytes) = analyze_fragments(&order, 2);
        assert_eq!(analysis.flows.len(), 1, "{order:?}: {:#?}", analysis.flows);
        let flow = &analysis.flows[0];
        assert_eq!(flow.dns_query.as_deref(), Some("teams.microsoft.com"));
        assert_eq!((flow.packets_c2s, flow.packets_s2c), (2, 6), "{order:?}");
        assert_eq!(flow.bytes_s2c, 2 * bytes, "{order:?}");
        assert_eq!(analysis.summary.fragments, 4);
        assert_eq!(analysis.summary.fragments_placed, 4, "{order:?}");
        assert_eq!(analysis.summary.fragments_reassembled, 1, "{order:?}");
        assert_eq!(analysis.summary.fragments_incomplete, 0, "{order:?}");
    }
}

/// Two responses in datagrams with the same IP id, one second apart (the id is 16 bits and
/// wraps): the second, another DNS message, is a new datagram, not a copy of the first, and is
/// reassembled and counted on its own. (A new datagram whose first piece to arrive is
/// byte-for-byte a piece of the old one within the copy window is taken for a copy: see
/// `src/flow/defrag.rs`.)
#[test]
fn a_new_datagram_reusing_the_id_is_not_taken_for_a_copy() {
    let (query, frags) = query_and_fragmented_response();
    let mut file = pcap_header();
    record(&mut file, 1_700_000_000, &query);
    for i in [0usize, 1, 2] {
        record(&mut file, 1_700_000_001, &frags[i]);
    }
    // The same id and places; other bytes in every piece: the DNS id in the first (after the
    // IP and UDP headers), the last answer's address byte in the others.
    let mut other: Vec<Vec<u8>> = frags.clone();
    other[0][28] ^= 0xff;
    for frag in &mut other[1..] {
        let last = frag.len() - 1;
        frag[last] ^= 0xff;
    }
    for frag in &other {
        record(&mut file, 1_700_000_002, frag);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reused-id.pcap");
    std::fs::write(&path, &file).unwrap();
    let analysis = common::analyze_one(&path);
    assert_eq!(analysis.flows.len(), 1, "{:#?}", analysis.flows);
    let flow = &analysis.flows[0];
    assert_eq!((flow.packets_c2s, flow.packets_s2c), (1, 6));
    let bytes: usize = frags.iter().chain(&other).map(Vec::len).sum();
    assert_eq!(flow.bytes_s2c, bytes as u64);
    assert_eq!(analysis.summary.fragments, 4);
    assert_eq!(analysis.summary.fragments_placed, 4);
    assert_eq!(analysis.summary.fragments_reassembled, 2);
    assert_eq!(analysis.summary.fragments_incomplete, 0);
}

/// Pieces missing when the capture ends: the datagram counts as incomplete.
#[test]
fn a_datagram_missing_a_piece_at_the_end_is_incomplete() {
    let (analysis, _) = analyze_fragments(&[0, 2], 1);
    assert_eq!(analysis.summary.fragments_reassembled, 0);
    assert_eq!(analysis.summary.fragments_incomplete, 1);
    assert_eq!(analysis.summary.fragments_placed, 0);
}

#[test]
fn corpus_fragments_are_all_placed() {
    let Some(shared) = common::shared_dir("corpus_fragments_are_all_placed") else {
        return;
    };
    let analysis = common::analyze_one(&shared.join("corpus/dns_fragmented.pcap"));
    assert_eq!(analysis.summary.fragments, 7);
    assert_eq!(analysis.summary.fragments_placed, 7);
    assert_eq!(analysis.summary.fragments_incomplete, 0);
    // tshark decodes these as DNS responses once reassembled: every flow is DNS here too.
    assert!(analysis
        .flows
        .iter()
        .filter(|f| f.transport.as_str() == "udp")
        .all(|f| f.app_protocol.as_str() == "dns"));
}

/// A classic pcap (little-endian) with every record written twice in a row.
fn every_record_twice(pcap: &[u8]) -> Vec<u8> {
    assert_eq!(
        &pcap[..4],
        &0xa1b2_c3d4u32.to_le_bytes(),
        "little-endian microseconds"
    );
    let mut out = pcap[..24].to_vec();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let captured = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let record = &pcap[at..at + 16 + captured];
        out.extend_from_slice(record);
        out.extend_from_slice(record);
        at += 16 + captured;
    }
    assert_eq!(at, pcap.len());
    out
}

/// The corpus capture with every packet twice (what a mirror port that duplicates sends):
/// every flow counts exactly twice the packets and bytes, and every fragment is placed.
#[test]
fn corpus_fragments_seen_twice_are_all_placed() {
    let Some(shared) = common::shared_dir("corpus_fragments_seen_twice_are_all_placed") else {
        return;
    };
    let original = shared.join("corpus/dns_fragmented.pcap");
    let once = common::analyze_one(&original);
    let dir = tempfile::tempdir().unwrap();
    let doubled = dir.path().join("dns_fragmented_twice.pcap");
    std::fs::write(
        &doubled,
        every_record_twice(&std::fs::read(&original).unwrap()),
    )
    .unwrap();
    let twice = common::analyze_one(&doubled);
    assert_eq!(twice.summary.fragments, 14);
    assert_eq!(twice.summary.fragments_placed, 14);
    assert_eq!(
        twice.summary.fragments_reassembled,
        once.summary.fragments_reassembled
    );
    assert_eq!(twice.summary.fragments_incomplete, 0);
    assert_eq!(twice.flows.len(), once.flows.len());
    for (a, b) in once.flows.iter().zip(&twice.flows) {
        assert_eq!((a.client_ip, a.server_ip), (b.client_ip, b.server_ip));
        assert_eq!(
            (
                2 * a.packets_c2s,
                2 * a.packets_s2c,
                2 * a.bytes_c2s,
                2 * a.bytes_s2c
            ),
            (b.packets_c2s, b.packets_s2c, b.bytes_c2s, b.bytes_s2c),
            "{a:#?}"
        );
        assert_eq!(a.dns_query, b.dns_query);
    }
}
