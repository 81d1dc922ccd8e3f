//! Dissector tests on byte vectors: split, reordered and retransmitted handshakes, STARTTLS,
//! proxies, budgets, hostile QUIC offsets.

use super::*;
use crate::time::Timestamp;
use crate::wire::{TcpFlags, TcpHeader};

fn seg(seq: u32, flags: u8) -> TcpHeader {
    TcpHeader {
        seq,
        ack: 0,
        flags: TcpFlags(flags),
    }
}

/// A real-shaped ClientHello record for `name`, built by the wire tests' helper logic.
fn hello(name: &str) -> Vec<u8> {
    let name = name.as_bytes();
    let mut sni = vec![0, 0];
    let list_len = name.len() + 3;
    sni.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    sni.extend_from_slice(&(list_len as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    // Padding extension so the hello spans several segments.
    let mut ext = sni;
    ext.extend_from_slice(&[0, 21, 1, 0]);
    ext.extend_from_slice(&[0; 256]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[1; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    rec.push(1);
    rec.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    rec.extend_from_slice(&body);
    rec
}

#[test]
fn client_hello_split_out_of_order_and_retransmitted() {
    let rec = hello("outlook.office365.com");
    let mut shared = DissectShared::new(4096, 1 << 20);
    let mut d = FlowDissect::default();
    let isn = 4_000_000_000u32;
    d.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Client,
            tcp: Some(seg(isn, TcpFlags::SYN)),
            payload: &[],
            server_port: 443,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    let parts: Vec<(u32, &[u8])> = rec
        .chunks(100)
        .enumerate()
        .map(|(i, c)| (isn.wrapping_add(1 + 100 * i as u32), c))
        .collect();
    // Third segment first, then the first twice (retransmission), then the rest.
    for &i in &[2usize, 0, 0, 1] {
        let (seq, data) = parts[i];
        d.on_packet(
            FlowPacket {
                transport: Transport::Tcp,
                side: Side::Client,
                tcp: Some(seg(seq, TcpFlags::ACK)),
                payload: data,
                server_port: 443,
                now: Timestamp::default(),
            },
            &mut shared,
        );
        assert!(d.client_hello.is_none());
    }
    for &(seq, data) in &parts[3..] {
        d.on_packet(
            FlowPacket {
                transport: Transport::Tcp,
                side: Side::Client,
                tcp: Some(seg(seq, TcpFlags::ACK)),
                payload: data,
                server_port: 443,
                now: Timestamp::default(),
            },
            &mut shared,
        );
    }
    assert_eq!(d.app, AppProtocol::Tls);
    let sni = d.client_hello.as_ref().and_then(|h| h.sni.clone());
    assert_eq!(sni.as_deref(), Some("outlook.office365.com"));
    // Now the server's answer is awaited, in a buffer of its own.
    assert!(!d.is_done());
    assert_eq!(shared.budget.in_use, 4096);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[5; 32]);
    body.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4]);
    let mut record = vec![
        22,
        3,
        3,
        0,
        (body.len() + 4) as u8,
        2,
        0,
        0,
        body.len() as u8,
    ];
    record.extend_from_slice(&body);
    d.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Server,
            tcp: Some(seg(77, TcpFlags::ACK)),
            payload: &record,
            server_port: 443,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    let version = d.server_hello.as_ref().map(|h| h.version.to_string());
    assert_eq!(version.as_deref(), Some("1.3"));
    assert!(d.is_done());
    assert_eq!(
        shared.budget.in_use, 0,
        "buffers released once the handshake is read"
    );
}

#[test]
fn starttls_keeps_the_mail_protocol_and_reads_the_hello() {
    let mut shared = DissectShared::new(4096, 1 << 20);
    let mut d = FlowDissect::default();
    let client = |d: &mut FlowDissect, seq: u32, bytes: &[u8], shared: &mut DissectShared| {
        d.on_packet(
            FlowPacket {
                transport: Transport::Tcp,
                side: Side::Client,
                tcp: Some(seg(seq, TcpFlags::ACK)),
                payload: bytes,
                server_port: 143,
                now: Timestamp::default(),
            },
            shared,
        )
    };
    d.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Server,
            tcp: Some(seg(1, TcpFlags::ACK)),
            payload: b"* OK IMAP4rev1\r\n",
            server_port: 143,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    assert_eq!(d.app, AppProtocol::Imap);
    assert!(!d.is_done());
    client(&mut d, 100, b"a1 CAPABILITY\r\n", &mut shared);
    client(&mut d, 115, b"a2 STARTTLS\r\n", &mut shared);
    let rec = hello("outlook.office365.com");
    let (first, rest) = rec.split_at(200);
    client(&mut d, 128, first, &mut shared);
    client(&mut d, 328, rest, &mut shared);
    assert_eq!(d.app, AppProtocol::Imap, "the first protocol stays");
    let sni = d.client_hello.as_ref().and_then(|h| h.sni.clone());
    assert_eq!(sni.as_deref(), Some("outlook.office365.com"));
    d.finish(&mut shared); // the flow ends while the server answer is awaited
    assert_eq!(shared.budget.in_use, 0);
}

#[test]
fn proxies_and_plain_http() {
    let mut shared = DissectShared::new(4096, 1 << 20);
    let mut d = FlowDissect::default();
    let connect =
        b"CONNECT teams.microsoft.com:443 HTTP/1.1\r\nHost: teams.microsoft.com:443\r\n\r\n";
    d.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Client,
            tcp: Some(seg(1, TcpFlags::ACK)),
            payload: connect,
            server_port: 8080,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    d.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Server,
            tcp: Some(seg(9, TcpFlags::ACK)),
            payload: b"HTTP/1.1 200 OK\r\n\r\n",
            server_port: 8080,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    let rec = hello("teams.microsoft.com");
    d.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Client,
            tcp: Some(seg(1 + connect.len() as u32, TcpFlags::ACK)),
            payload: &rec,
            server_port: 8080,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    assert_eq!((d.app, d.via_proxy), (AppProtocol::Http, true));
    assert_eq!(d.proxy_target(), Some("teams.microsoft.com:443"));
    assert_eq!(
        d.client_hello.as_ref().and_then(|h| h.sni.as_deref()),
        Some("teams.microsoft.com")
    );

    let mut get = FlowDissect::default();
    get.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Client,
            tcp: Some(seg(1, TcpFlags::ACK)),
            payload: b"GET / HTTP/1.1\r\nHost: outlook.office365.com\r\n\r\n",
            server_port: 80,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    assert_eq!(
        (get.app, get.http_host(), get.is_done()),
        (AppProtocol::Http, Some("outlook.office365.com"), true)
    );

    // An absolute-URI request is sent only to a proxy: the URI names the target.
    let mut absolute = FlowDissect::default();
    absolute.on_packet(FlowPacket { transport: Transport::Tcp, side: Side::Client, tcp: Some(seg(1, TcpFlags::ACK)), payload: b"GET http://outlook.office365.com/owa/?u=a HTTP/1.1\r\nHost: outlook.office365.com\r\n\r\n", server_port: 3128, now: Timestamp::default() }, &mut shared);
    assert_eq!(
        (
            absolute.app,
            absolute.via_proxy,
            absolute.proxy_target(),
            absolute.http_path()
        ),
        (
            AppProtocol::Http,
            true,
            Some("outlook.office365.com:80"),
            Some("/owa/")
        )
    );

    let mut socks = FlowDissect::default();
    socks.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Client,
            tcp: Some(seg(1, TcpFlags::ACK)),
            payload: &[5, 1, 0],
            server_port: 1080,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    let mut request = vec![5, 1, 0, 3, 19];
    request.extend_from_slice(b"teams.microsoft.com");
    request.extend_from_slice(&443u16.to_be_bytes());
    socks.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Client,
            tcp: Some(seg(4, TcpFlags::ACK)),
            payload: &request,
            server_port: 1080,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    assert_eq!(
        (socks.via_proxy, socks.proxy_target()),
        (true, Some("teams.microsoft.com:443"))
    );
    d.finish(&mut shared);
    assert_eq!(shared.budget.in_use, 0);
}

#[test]
fn handshake_budget_is_enforced() {
    let mut shared = DissectShared::new(4096, 4096);
    // Two flows start buffering; only one fits the total shared.
    let rec = hello("a.example");
    let (mut a, mut b) = (FlowDissect::default(), FlowDissect::default());
    a.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Client,
            tcp: Some(seg(10, TcpFlags::ACK)),
            payload: &rec[..50],
            server_port: 443,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    b.on_packet(
        FlowPacket {
            transport: Transport::Tcp,
            side: Side::Client,
            tcp: Some(seg(10, TcpFlags::ACK)),
            payload: &rec[..50],
            server_port: 443,
            now: Timestamp::default(),
        },
        &mut shared,
    );
    assert_eq!((shared.budget.refused, shared.budget.in_use), (1, 4096));
    assert!(b.is_done() && b.incomplete_handshake);
    a.finish(&mut shared);
    assert_eq!(shared.budget.in_use, 0);
    assert_eq!(a.app, AppProtocol::Tls, "a cut ClientHello is still TLS");
    assert!(a.incomplete_handshake);
}

#[test]
fn quic_crypto_offsets_past_any_bound_end_the_handshake_cleanly() {
    use crate::wire::quic::{testing::seal_initial, QuicVersion};
    let dcid = [7u8; 8];
    // CRYPTO at offset 2^62-1 (the largest varint) and at 1 MiB: neither fits the buffer.
    for offset in [
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
        &[0x80, 0x10, 0x00, 0x00][..],
    ] {
        let mut frames = vec![0x06];
        frames.extend_from_slice(offset);
        frames.extend_from_slice(&[0x05, 1, 2, 3, 4, 5]);
        let datagram = seal_initial(QuicVersion::V1, &dcid, &frames);
        let mut shared = DissectShared::new(4096, 1 << 20);
        let mut d = FlowDissect::default();
        d.on_packet(
            FlowPacket {
                transport: Transport::Udp,
                side: Side::Client,
                tcp: None,
                payload: &datagram,
                server_port: 443,
                now: Timestamp::default(),
            },
            &mut shared,
        );
        assert_eq!(d.app, AppProtocol::Quic, "the Initial authenticated");
        assert!(d.is_done() && d.incomplete_handshake);
        assert!(d.client_hello.is_none());
        assert_eq!(shared.budget.in_use, 0);
        assert_eq!(shared.budget.overflowed, 1);
    }
}
