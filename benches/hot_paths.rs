//! Criterion benchmarks of the hot pieces: packet decode, flow lookup, ClientHello parse, QUIC
//! Initial decrypt and catalog match, on packets from the bundled samples. Run with
//! `cargo bench --bench hot_paths` (scripts/bench runs it with the whole-capture comparison).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};

use o365flow::capture::{FileSource, LinkType};
use o365flow::catalog::Catalog;
use o365flow::flow::table::PacketMeta;
use o365flow::flow::{FlowTable, TableLimits};
use o365flow::wire::quic::{decrypt_initial, parse_long_header, InitialKeys};
use o365flow::wire::tls::parse_client_hello;
use o365flow::wire::{decode, Decoded, Transport};

/// Every packet of a sample, with its link type.
fn packets(name: &str) -> (LinkType, Vec<Vec<u8>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name);
    let mut source = FileSource::open(&path).unwrap();
    let link = source.link_type();
    let mut out = Vec::new();
    while let Some(p) = source.next_packet().unwrap() {
        out.push(p.data.to_vec());
    }
    (link, out)
}

fn decode_and_lookup(c: &mut Criterion) {
    let (link, packets) = packets("teams.pcap");
    c.bench_function("decode: teams.pcap packet (Ethernet/IPv4/TCP-UDP)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % packets.len();
            black_box(decode(link, black_box(&packets[i])).ok());
        })
    });
    let metas: Vec<PacketMeta> = packets
        .iter()
        .filter_map(|p| match decode(link, p) {
            Ok(Decoded::Ip(ip)) => Some(PacketMeta::of(
                &ip,
                o365flow::time::Timestamp(0),
                p.len() as u32,
            )),
            _ => None,
        })
        .collect();
    c.bench_function("flow lookup: table.packet over 83 live flows", |b| {
        let mut table: FlowTable<()> = FlowTable::new(TableLimits::default());
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % metas.len();
            let (entry, side) = table.packet(&metas[i], 0, &mut |_, _| {}).unwrap();
            black_box((entry.record.server.port, side));
        })
    });
}

fn client_hello(c: &mut Criterion) {
    let (link, packets) = packets("teams.pcap");
    // The first TLS handshake record carrying a ClientHello: its handshake message.
    let message = packets
        .iter()
        .find_map(|p| match decode(link, p) {
            Ok(Decoded::Ip(ip)) if ip.transport == Transport::Tcp => {
                let payload = ip.payload;
                (payload.len() > 9 && payload[0] == 0x16 && payload[5] == 1)
                    .then(|| payload[5..].to_vec())
            }
            _ => None,
        })
        .expect("a ClientHello in teams.pcap");
    assert!(parse_client_hello(&message).is_some());
    c.bench_function("ClientHello parse (SNI, ALPN, versions, JA4 inputs)", |b| {
        b.iter(|| black_box(parse_client_hello(black_box(&message))))
    });
}

fn quic_initial(c: &mut Criterion) {
    let (link, packets) = packets("dlt_ppp.pcap");
    let datagram = packets
        .iter()
        .find_map(|p| match decode(link, p) {
            Ok(Decoded::Ip(ip)) if ip.transport == Transport::Udp => Some(ip.payload.to_vec()),
            _ => None,
        })
        .expect("a QUIC Initial in dlt_ppp.pcap");
    let header = parse_long_header(&datagram).unwrap();
    let mut scratch = Vec::new();
    c.bench_function("QUIC Initial: derive keys and decrypt", |b| {
        b.iter(|| {
            let keys = InitialKeys::client(header.version, header.dcid).unwrap();
            black_box(decrypt_initial(&datagram, &header, &keys, &mut scratch))
        })
    });
}

fn catalog_match(c: &mut Criterion) {
    let catalog = Catalog::embedded().unwrap();
    let names = [
        "outlook.office365.com",
        "x.trouter.teams.microsoft.com",
        "contoso.sharepoint.com",
        "www.example.org",
    ];
    let addrs: Vec<IpAddr> = ["52.112.1.10", "40.126.9.7", "2603:1063::1", "192.0.2.7"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    c.bench_function("catalog match: name", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(catalog.match_name(black_box(names[i]), Transport::Tcp, 443))
        })
    });
    // The worst name off the wire: a 16 KB SNI of one-letter labels (the most a ClientHello
    // in one TLS record carries). Linear in its length; it was quadratic before.
    let long = "a.".repeat(8_000) + "teams.microsoft.com";
    c.bench_function("catalog match: 16 KB name of one-letter labels", |b| {
        b.iter(|| black_box(catalog.match_name(black_box(&long), Transport::Tcp, 443)))
    });
    c.bench_function("catalog match: address", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % addrs.len();
            black_box(catalog.match_addr(black_box(addrs[i]), Transport::Udp, 3478))
        })
    });
}

criterion_group!(
    benches,
    decode_and_lookup,
    client_hello,
    quic_initial,
    catalog_match
);
criterion_main!(benches);
