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

#[test]
fn fragmented_dns_response_is_reassembled_and_dissected() {
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
    // 40 answers: a 677-byte DNS message in a UDP datagram split at 256 and 512 bytes.
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
    let frags: Vec<Vec<u8>> = pieces
        .iter()
        .map(|(from, to, more)| ipv4(resolver, client, 77, *from, *more, &udp[*from..*to]))
        .collect();
    let mut file = pcap_header();
    record(&mut file, 1_700_000_000, &query);
    // Out of order: last, first, middle.
    for i in [2usize, 0, 1] {
        record(&mut file, 1_700_000_001, &frags[i]);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fragments.pcap");
    std::fs::write(&path, &file).unwrap();
    let analysis = common::analyze_one(&path);
    assert_eq!(analysis.flows.len(), 1, "{:#?}", analysis.flows);
    let flow = &analysis.flows[0];
    assert_eq!(flow.app_protocol.as_str(), "dns");
    assert_eq!(flow.dns_query.as_deref(), Some("teams.microsoft.com"));
    assert_eq!((flow.packets_c2s, flow.packets_s2c), (1, 3));
    let bytes: usize = frags.iter().map(Vec::len).sum();
    assert_eq!(flow.bytes_s2c, bytes as u64);
    assert_eq!(analysis.summary.fragments, 2);
    assert_eq!(analysis.summary.fragments_placed, 2);
    assert_eq!(analysis.summary.fragments_reassembled, 1);
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
