//! Whole-frame target: a sequence of frames (2-byte length prefix each) of one link type (first
//! byte) through decode, the flow table and the dissectors, as the analyzer runs them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::capture::LinkType;
use o365flow::dissect::{DissectShared, FlowDissect, FlowPacket};
use o365flow::flow::table::PacketMeta;
use o365flow::flow::{Endpoint, FlowTable, TableLimits};
use o365flow::time::{Duration, Timestamp};
use o365flow::wire::{decode, Decoded};

const LINKS: [i32; 11] = [0, 1, 9, 12, 50, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else { return };
    let link = LinkType::from_dlt(LINKS[usize::from(selector) % LINKS.len()]);
    let mut table: FlowTable<FlowDissect> = FlowTable::new(TableLimits {
        max_flows: 8,
        idle_timeout: Duration::from_secs(5),
    });
    let mut shared = DissectShared::new(2048, 8 * 2048);
    let mut ts = 0i64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let frame = &body[..len.min(body.len())];
        rest = &body[frame.len()..];
        ts += i64::from(len as u8) - 100; // time goes back and forth
        if let Ok(Decoded::Ip(ip)) = decode(link, frame) {
            let meta = PacketMeta {
                src: Endpoint { ip: ip.src, port: ip.src_port },
                dst: Endpoint { ip: ip.dst, port: ip.dst_port },
                transport: ip.transport,
                tcp_flags: ip.tcp.map(|t| t.flags),
                ts: Timestamp::from_secs_nanos(ts, 0),
                wire_len: frame.len() as u32,
                tunnel: ip.tunnel,
            };
            let Some((entry, side)) =
                table.packet(&meta, 0, &mut |mut e, _| e.state.finish(&mut shared))
            else {
                continue;
            };
            let server_port = entry.record.server.port;
            let now = meta.ts;
            let packet = FlowPacket { transport: ip.transport, side, tcp: ip.tcp, payload: ip.payload, server_port, now };
            entry.state.on_packet(packet, &mut shared);
            assert!(shared.budget.in_use <= shared.budget.max_total);
        }
    }
    table.drain(&mut |mut e, _| e.state.finish(&mut shared));
    assert_eq!(shared.budget.in_use, 0);
});
