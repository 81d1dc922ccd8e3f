//! Unit tests of decoding: the fast path against the general one over every sample and corpus
//! packet, the UDP tunnel table seen by both paths, and hand-built frames of each link type.

use super::fast::plain_ethernet_ipv4;
use super::general::decode_general;
use super::*;
use crate::capture::LinkType;
use crate::wire::tunnel::{TunnelKind, UDP_TUNNELS};
use etherparse::PacketBuilder;
use std::net::IpAddr;

/// Every packet the fast path takes decodes exactly as the general path decodes it.
fn check(path: &std::path::Path) -> (usize, usize) {
    let Ok(mut source) = crate::capture::FileSource::open(path) else {
        return (0, 0);
    };
    if source.link_type() != LinkType::Ethernet {
        return (0, 0);
    }
    let (mut fast, mut all) = (0, 0);
    while let Ok(Some(p)) = source.next_packet() {
        all += 1;
        if let Some(packet) = plain_ethernet_ipv4(p.data) {
            fast += 1;
            assert_eq!(
                Ok(Decoded::Ip(packet)),
                decode_general(LinkType::Ethernet, p.data),
                "{} packet {}",
                path.display(),
                p.number
            );
        }
    }
    (fast, all)
}

#[test]
fn fast_path_equals_the_general_path() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("samples"), root.join("samples/clients")];
    let shared = std::env::var_os("O365FLOW_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("../shared"));
    if shared.join("corpus").is_dir() {
        dirs.push(shared.join("corpus"));
    } else if std::env::var_os("O365FLOW_REQUIRE_CORPUS").is_some_and(|v| !v.is_empty() && v != "0")
    {
        // CI sets the variable: a run without the corpus must not pass on samples alone.
        panic!(
            "fast_path_equals_the_general_path cannot run and O365FLOW_REQUIRE_CORPUS is set: \
             {}: no corpus",
            shared.display()
        );
    } else {
        eprintln!(
            "SKIP corpus part of fast_path_equals_the_general_path: {} absent",
            shared.display()
        );
    }
    let (mut fast, mut all) = (0, 0);
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let (f, a) = check(&e.path());
            fast += f;
            all += a;
        }
    }
    eprintln!("fast path took {fast} of {all} Ethernet packets");
    assert!(fast > 1000, "fast path took only {fast} packets");
}

fn tcp_frame(payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .ipv4([192, 168, 1, 2], [52, 96, 1, 1], 64)
        .tcp(50000, 443, 1000, 4096)
        .syn();
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

#[test]
fn ethernet_tcp_gives_ports_flags_payload() {
    let frame = tcp_frame(b"hello");
    let Decoded::Ip(p) = decode(LinkType::Ethernet, &frame).unwrap() else {
        panic!("not ip")
    };
    assert_eq!(p.src, "192.168.1.2".parse::<IpAddr>().unwrap());
    assert_eq!(p.dst_port, 443);
    assert_eq!(p.transport, Transport::Tcp);
    assert!(p.tcp.unwrap().flags.has(TcpFlags::SYN));
    assert_eq!(p.tcp.unwrap().seq, 1000);
    assert_eq!(p.payload, b"hello");
}

#[test]
fn snaplen_truncated_payload_still_decodes() {
    let frame = tcp_frame(&[0x16; 100]);
    let cut = &frame[..frame.len() - 60];
    let Decoded::Ip(p) = decode(LinkType::Ethernet, cut).unwrap() else {
        panic!("not ip")
    };
    assert_eq!(p.payload.len(), 40);
}

#[test]
fn truncated_tcp_header_is_an_error_not_a_panic() {
    let frame = tcp_frame(b"");
    for len in 0..frame.len() {
        let _ = decode(LinkType::Ethernet, &frame[..len]);
    }
    assert_eq!(
        decode(LinkType::Ethernet, &frame[..14 + 20 + 10]),
        Err(DecodeError::Truncated("tcp"))
    );
}

#[test]
fn null_and_ppp_and_sll2_headers() {
    let frame = tcp_frame(b"x");
    let ip = &frame[14..];
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(ip);
    assert!(matches!(decode(LinkType::Null, &null), Ok(Decoded::Ip(_))));
    let mut ppp = vec![0xff, 0x03, 0x00, 0x21];
    ppp.extend_from_slice(ip);
    assert!(matches!(decode(LinkType::Ppp, &ppp), Ok(Decoded::Ip(_))));
    let mut sll2 = vec![0x08, 0x00];
    sll2.extend_from_slice(&[0; 18]);
    sll2.extend_from_slice(ip);
    assert!(matches!(
        decode(LinkType::LinuxSll2, &sll2),
        Ok(Decoded::Ip(_))
    ));
    let mut lcp = vec![0xff, 0x03, 0xc0, 0x21, 1, 2];
    lcp.extend_from_slice(&[0; 4]);
    assert_eq!(decode(LinkType::Ppp, &lcp), Ok(Decoded::NotIp));
}

#[test]
fn ipv6_fragments_first_and_later() {
    // IPv6 (next header 44) + fragment header + UDP header.
    let frag = |offset_units: u16| {
        let mut p = vec![0x60, 0, 0, 0, 0, 16, 44, 64];
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let off = (offset_units << 3) | 1;
        p.extend_from_slice(&[17, 0, (off >> 8) as u8, off as u8, 0, 0, 0, 9]);
        p.extend_from_slice(&[0x13, 0x88, 0x01, 0xbb, 0, 8, 0, 0]);
        p
    };
    let first_bytes = frag(0);
    let Decoded::Ip(first) = decode(LinkType::Raw, &first_bytes).unwrap() else {
        panic!("first fragment is placed")
    };
    assert_eq!((first.src_port, first.dst_port), (5000, 443));
    let later_bytes = frag(100);
    let Ok(Decoded::Fragment(later)) = decode(LinkType::Raw, &later_bytes) else {
        panic!("a later fragment")
    };
    assert_eq!(
        (later.offset, later.more, later.id, later.protocol),
        (800, true, 9, 17)
    );
    assert_eq!(first.fragment.map(|f| (f.offset, f.id)), Some((0, 9)));
}

#[test]
fn truncated_ipv6_extension_header_is_safe() {
    // The input the `frame` fuzz target found (raw IPv6, hop-by-hop header cut short).
    let mut p = vec![0x60, 0, 0, 0, 0, 0xb8, 0, 0x38];
    p.extend_from_slice(&[0; 32]);
    p.extend_from_slice(&[44, 0xc0, 0x4d]);
    let _ = decode(LinkType::Raw, &p);
}

#[test]
fn qinq_double_vlan() {
    let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .double_vlan(
            etherparse::VlanId::try_new(100).unwrap(),
            etherparse::VlanId::try_new(200).unwrap(),
        )
        .ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x26, 3, 0x10, 0x63, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            64,
        )
        .udp(50010, 3478);
    let mut frame = Vec::new();
    builder.write(&mut frame, b"stun").unwrap();
    // Outer tag type as etherparse writes it (0x88a8 or 0x8100): both are QinQ on the wire.
    assert!(matches!(
        u16::from_be_bytes([frame[12], frame[13]]),
        0x88a8 | 0x8100 | 0x9100
    ));
    assert!(matches!(u16::from_be_bytes([frame[16], frame[17]]), 0x8100));
    let Decoded::Ip(p) = decode(LinkType::Ethernet, &frame).unwrap() else {
        panic!("not ip")
    };
    assert_eq!(
        (p.transport, p.src_port, p.dst_port, p.payload),
        (Transport::Udp, 50010, 3478, &b"stun"[..])
    );
}

#[test]
fn flag_letters() {
    assert_eq!(TcpFlags(TcpFlags::SYN | TcpFlags::ACK).letters(), "SA");
}

fn udp_frame(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(src_port, dst_port);
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

/// Every port of the tunnel table is sent off the fast path and unwrapped by the general one,
/// on either side of the datagram: a tunnel cannot be added to one path and missed by the other.
#[test]
fn every_udp_tunnel_port_is_seen_by_both_paths() {
    let inner_ethernet = udp_frame(50000, 443, b"inner");
    let inner_v4 = inner_ethernet[14..].to_vec();
    let mut inner_v6 = Vec::new();
    PacketBuilder::ipv6(
        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20; 16],
        64,
    )
    .udp(50000, 443)
    .write(&mut inner_v6, b"inner")
    .unwrap();
    for tunnel in UDP_TUNNELS {
        let (header, inner): (&[u8], &[u8]) = match tunnel.kind {
            TunnelKind::Vxlan => (&[0x08, 0, 0, 0, 0, 0, 1, 0], &inner_ethernet),
            TunnelKind::Geneve => (&[0, 0, 0x65, 0x58, 0, 0, 1, 0], &inner_ethernet),
            TunnelKind::GtpU => (&[0x30, 0xff, 0, 0, 0, 0, 0, 1], &inner_v4),
            TunnelKind::Capwap => (&[0, 0x10, 0, 0, 0, 0, 0, 0], &inner_ethernet),
            TunnelKind::Teredo => (&[], &inner_v6),
            other => panic!("{other:?}: add a sample header for the new tunnel here"),
        };
        let payload = [header, inner].concat();
        for (src, dst) in [(40000, tunnel.port), (tunnel.port, 40000)] {
            let frame = udp_frame(src, dst, &payload);
            assert_eq!(
                plain_ethernet_ipv4(&frame),
                None,
                "{tunnel:?} took the fast path"
            );
            let Ok(Decoded::Ip(p)) = decode(LinkType::Ethernet, &frame) else {
                panic!("{tunnel:?} not decoded")
            };
            assert_eq!(p.tunnel.iter().collect::<Vec<_>>(), [tunnel.kind]);
            assert_eq!((p.dst_port, p.payload), (443, &b"inner"[..]), "{tunnel:?}");
        }
    }
}
