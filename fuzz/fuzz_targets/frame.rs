//! Whole-frame target: a sequence of frames (2-byte length prefix each) of one link type through
//! the analyzer's own packet path, `Engine::packet` (decode, defragmentation, ICMP errors
//! matched to the flows they quote, the flow table, the dissectors) and `Engine::finish` (rows,
//! classification, client rules). The first byte picks the link type and whether frames are
//! marked as cut by snaplen.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use o365flow::capture::{LinkType, RawPacket};
use o365flow::catalog::Catalog;
use o365flow::engine::Engine;
use o365flow::flow::TableLimits;
use o365flow::time::{Duration, Precision, Timestamp};
use o365flow::AnalysisConfig;

const LINKS: [i32; 11] = [0, 1, 9, 12, 50, 101, 108, 113, 228, 229, 276];

/// Loading the embedded catalog takes milliseconds: once per process, not per input.
fn setup() -> &'static (Catalog, AnalysisConfig) {
    static SETUP: OnceLock<(Catalog, AnalysisConfig)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let catalog = Catalog::embedded().expect("embedded catalog");
        let config = AnalysisConfig {
            // A tiny table and budget: eviction, expiry and refusals happen within a few frames.
            limits: TableLimits {
                max_flows: 8,
                idle_timeout: Duration::from_secs(5),
            },
            max_handshake: 2048,
            max_handshake_total: 8 * 2048,
            threads: 1,
            ..AnalysisConfig::default()
        };
        (catalog, config)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let (catalog, config) = setup();
    let link = LinkType::from_dlt(LINKS[usize::from(selector & 0x7f) % LINKS.len()]);
    let snaplen_cut = selector & 0x80 != 0;
    let mut engine = Engine::new(catalog, config);
    let capture = engine.begin_capture("fuzz", Precision::Micro);
    let mut malformed = None;
    let (mut ts, mut number, mut frames) = (0i64, 0u64, 0u64);
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let frame = &body[..len.min(body.len())];
        rest = &body[frame.len()..];
        ts += i64::from(len as u8) - 100; // time goes back and forth
        number += 1;
        frames += 1;
        let packet = RawPacket {
            number,
            ts: Timestamp::from_secs_nanos(ts, 0),
            // Cut frames claim more bytes on the wire than were kept.
            wire_len: frame.len() as u32 + if snaplen_cut { 100 } else { 0 },
            data: frame,
        };
        engine.packet(capture, link, &packet, &mut malformed);
    }
    let analysis = engine.finish();
    // Each frame counts at most once, in at most one flow.
    let counted: u64 = analysis
        .flows
        .iter()
        .map(|f| f.packets_c2s + f.packets_s2c)
        .sum();
    assert!(
        counted <= frames,
        "{counted} packets in flows from {frames} frames"
    );
    assert_eq!(analysis.tally.flows, analysis.flows.len());
});
