//! Encapsulations a mirror port delivers: what wraps the traffic that counts. Each parser takes
//! the bytes after an outer header and returns the inner frame and what kind of layer it is.
//! Hand-written because etherparse stops at the IP/transport boundary and no maintained crate
//! decodes GRE, ERSPAN, VXLAN, Geneve, CAPWAP, GTP-U, Teredo, MPLS and PPPoE as borrowed views.

use super::field::be16;

use std::fmt;

/// One encapsulation layer, outermost first in a `TunnelPath`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IPv4 in IPv4 (IP protocol 4).
    IpIp,
    /// IPv6 in IPv4 (IP protocol 41, 6in4/SIT).
    SixInFour,
    /// IPv4 in IPv6.
    FourInSix,
    /// IPv6 in IPv6.
    SixInSix,
    Gre,
    ErspanI,
    ErspanII,
    ErspanIII,
    Vxlan,
    Geneve,
    Capwap,
    GtpU,
    Teredo,
    Mpls,
    Pppoe,
}

impl TunnelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::IpIp => "ipip",
            TunnelKind::SixInFour => "6in4",
            TunnelKind::FourInSix => "4in6",
            TunnelKind::SixInSix => "6in6",
            TunnelKind::Gre => "gre",
            TunnelKind::ErspanI => "erspan-i",
            TunnelKind::ErspanII => "erspan-ii",
            TunnelKind::ErspanIII => "erspan-iii",
            TunnelKind::Vxlan => "vxlan:4789",
            TunnelKind::Geneve => "geneve:6081",
            TunnelKind::Capwap => "capwap:5247",
            TunnelKind::GtpU => "gtp-u:2152",
            TunnelKind::Teredo => "teredo:3544",
            TunnelKind::Mpls => "mpls",
            TunnelKind::Pppoe => "pppoe",
        }
    }
}

/// At most this many nested layers are unwrapped; deeper nesting is left as it is.
pub const MAX_DEPTH: usize = 4;

/// The layers a packet was wrapped in, outermost first. Small and `Copy`: no allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TunnelPath {
    layers: [Option<TunnelKind>; MAX_DEPTH],
}

impl TunnelPath {
    pub fn is_empty(&self) -> bool {
        self.layers[0].is_none()
    }

    pub fn len(&self) -> usize {
        self.layers.iter().flatten().count()
    }

    /// Adds an inner layer; `false` when the path is full.
    pub fn push(&mut self, kind: TunnelKind) -> bool {
        match self.layers.iter_mut().find(|l| l.is_none()) {
            Some(slot) => {
                *slot = Some(kind);
                true
            }
            None => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = TunnelKind> + '_ {
        self.layers.iter().flatten().copied()
    }
}

impl fmt::Display for TunnelPath {
    /// `gre|erspan-ii`, `vxlan:4789`, empty for no tunnel.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(kind.as_str())?;
        }
        Ok(())
    }
}

/// What the inner bytes start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inner<'a> {
    Ethernet(&'a [u8]),
    Ip(&'a [u8]),
    /// A PPP frame (optional HDLC address/control, then the protocol field).
    Ppp(&'a [u8]),
    /// An IEEE 802.11 frame (CAPWAP with native 802.11 binding).
    Wlan(&'a [u8]),
}

fn by_ether_type(ether_type: u16, body: &[u8]) -> Option<Inner<'_>> {
    match ether_type {
        0x0800 | 0x86dd => Some(Inner::Ip(body)),
        0x6558 => Some(Inner::Ethernet(body)),
        0x880b => Some(Inner::Ppp(body)),
        _ => None,
    }
}

/// GRE (RFC 2784/2890, and PPTP's enhanced GRE version 1), ERSPAN I/II/III on top of it.
pub fn gre(bytes: &[u8]) -> Option<(TunnelKind, Inner<'_>)> {
    let flags = *bytes.first()?;
    let second = *bytes.get(1)?;
    let version = second & 0x07;
    let protocol = be16(bytes, 2)?;
    let checksum = flags & 0x80 != 0;
    let routing = flags & 0x40 != 0;
    let key = flags & 0x20 != 0;
    let sequence = flags & 0x10 != 0;
    if routing {
        return None; // source routing (RFC 1701) is obsolete and unbounded: not followed
    }
    let mut len = 4;
    match version {
        0 => {
            len += 4 * (usize::from(checksum) + usize::from(key) + usize::from(sequence));
        }
        1 => {
            // PPTP: key (payload length + call id) always, sequence and ack optional.
            let ack = second & 0x80 != 0;
            len += 4 * (1 + usize::from(sequence) + usize::from(ack));
        }
        _ => return None,
    }
    let body = bytes.get(len..)?;
    match protocol {
        // ERSPAN type II carries a sequence number in GRE and an 8-byte header; type I neither.
        0x88be if sequence => Some((TunnelKind::ErspanII, Inner::Ethernet(body.get(8..)?))),
        0x88be => Some((TunnelKind::ErspanI, Inner::Ethernet(body))),
        0x22eb => {
            // ERSPAN III: 12-byte header, plus an 8-byte platform subheader when O is set.
            let optional = body.get(11)? & 0x01 != 0;
            let skip = if optional { 20 } else { 12 };
            Some((TunnelKind::ErspanIII, Inner::Ethernet(body.get(skip..)?)))
        }
        other => Some((TunnelKind::Gre, by_ether_type(other, body)?)),
    }
}

/// A UDP encapsulation: the well-known port it is recognised by (on either side), the layer it
/// adds to the path, and the parser of the bytes after the UDP header.
#[derive(Clone, Copy, Debug)]
pub struct UdpTunnel {
    pub port: u16,
    pub kind: TunnelKind,
    pub parse: fn(&[u8]) -> Option<Inner<'_>>,
}

/// Every UDP tunnel, the one list both decode paths read: the fast path sends these ports to
/// the general one, which unwraps them. Adding a tunnel is one line here (and its `TunnelKind`).
/// Order matters when both ports are tunnel ports: the first entry that matches is the one tried.
pub const UDP_TUNNELS: [UdpTunnel; 5] = [
    UdpTunnel {
        port: 4789,
        kind: TunnelKind::Vxlan,
        parse: vxlan,
    },
    UdpTunnel {
        port: 6081,
        kind: TunnelKind::Geneve,
        parse: geneve,
    },
    UdpTunnel {
        port: 2152,
        kind: TunnelKind::GtpU,
        parse: gtp_u,
    },
    UdpTunnel {
        port: 5247,
        kind: TunnelKind::Capwap,
        parse: capwap_data,
    },
    UdpTunnel {
        port: 3544,
        kind: TunnelKind::Teredo,
        parse: teredo,
    },
];

/// The table's ports alone, derived from it at compile time: what the fast path tests on every
/// UDP packet (a plain `u16` array is the cheapest test; the table stays the one list).
pub const UDP_TUNNEL_PORTS: [u16; UDP_TUNNELS.len()] = udp_tunnel_ports();

/// Only ever evaluated in a constant, where an out-of-range index is a compile error.
#[allow(clippy::indexing_slicing)]
const fn udp_tunnel_ports() -> [u16; UDP_TUNNELS.len()] {
    let mut ports = [0; UDP_TUNNELS.len()];
    let mut i = 0;
    while i < ports.len() {
        ports[i] = UDP_TUNNELS[i].port;
        i += 1;
    }
    ports
}

/// Either port is a UDP tunnel's: the datagram may carry one.
#[inline]
pub fn is_udp_tunnel_port(src_port: u16, dst_port: u16) -> bool {
    UDP_TUNNEL_PORTS.contains(&src_port) || UDP_TUNNEL_PORTS.contains(&dst_port)
}

/// The tunnel a UDP datagram between these ports may carry, if either port is a tunnel's.
#[inline]
pub fn udp_tunnel(src_port: u16, dst_port: u16) -> Option<&'static UdpTunnel> {
    UDP_TUNNELS
        .iter()
        .find(|t| t.port == src_port || t.port == dst_port)
}

/// The inner frame of a UDP datagram between these ports, when a tunnel's header parses.
pub fn udp_inner(src_port: u16, dst_port: u16, payload: &[u8]) -> Option<(TunnelKind, Inner<'_>)> {
    let tunnel = udp_tunnel(src_port, dst_port)?;
    (tunnel.parse)(payload).map(|inner| (tunnel.kind, inner))
}

/// VXLAN (RFC 7348): 8-byte header with the I flag, then Ethernet.
pub fn vxlan(payload: &[u8]) -> Option<Inner<'_>> {
    let flags = *payload.first()?;
    if flags & 0x08 == 0 {
        return None;
    }
    Some(Inner::Ethernet(payload.get(8..)?))
}

/// Geneve (RFC 8926): 8-byte header plus options, protocol type says what follows.
pub fn geneve(payload: &[u8]) -> Option<Inner<'_>> {
    let first = *payload.first()?;
    if first >> 6 != 0 {
        return None; // version 0 only
    }
    let options = usize::from(first & 0x3f) * 4;
    let protocol = be16(payload, 2)?;
    by_ether_type(protocol, payload.get(8 + options..)?)
}

/// GTP-U (3GPP TS 29.281) G-PDU: 8-byte header, optional fields and extension headers, then IP.
pub fn gtp_u(payload: &[u8]) -> Option<Inner<'_>> {
    let flags = *payload.first()?;
    // Version 1, protocol type GTP, message type G-PDU (255).
    if flags >> 5 != 1 || flags & 0x10 == 0 || *payload.get(1)? != 0xff {
        return None;
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        at += 4; // sequence number, N-PDU number, next extension header type
        let mut next = *payload.get(at - 1)?;
        // Each extension header: length in 4-byte units, content, next type in its last byte.
        for _ in 0..8 {
            if next == 0 || flags & 0x04 == 0 {
                break;
            }
            let units = usize::from(*payload.get(at)?);
            if units == 0 {
                return None;
            }
            at += units * 4;
            next = *payload.get(at - 1)?;
        }
    }
    let inner = payload.get(at..)?;
    matches!(inner.first().map(|b| b >> 4), Some(4 | 6)).then_some(Inner::Ip(inner))
}

/// Teredo (RFC 4380): optional authentication and origin indication, then IPv6.
pub fn teredo(payload: &[u8]) -> Option<Inner<'_>> {
    let mut at = 0;
    if be16(payload, 0)? == 0x0001 {
        let id_len = usize::from(*payload.get(2)?);
        let auth_len = usize::from(*payload.get(3)?);
        at += 4 + id_len + auth_len + 8 + 1;
    }
    if be16(payload, at)? == 0x0000 {
        at += 8;
    }
    let inner = payload.get(at..)?;
    (inner.first()? >> 4 == 6 && inner.len() >= 40).then_some(Inner::Ip(inner))
}

/// CAPWAP data channel (RFC 5415): header of HLEN words; the T flag says 802.11 or 802.3 inside.
pub fn capwap_data(payload: &[u8]) -> Option<Inner<'_>> {
    let preamble = *payload.first()?;
    if preamble != 0 {
        return None; // version 0, type 0 (not DTLS-protected)
    }
    let hlen = usize::from(*payload.get(1)? >> 3) * 4;
    let wbid = ((be16(payload, 1)? >> 1) & 0x1f) as u8;
    let t_flag = *payload.get(2)? & 0x01 != 0;
    let fragment = *payload.get(3)? & 0x80 != 0;
    if hlen < 8 || fragment {
        return None;
    }
    let body = payload.get(hlen..)?;
    if t_flag && wbid == 1 {
        Some(Inner::Wlan(body))
    } else {
        Some(Inner::Ethernet(body))
    }
}

/// An 802.11 data frame with LLC/SNAP: the ether type and what follows.
pub fn wlan_data(frame: &[u8]) -> Option<(u16, &[u8])> {
    let is_data = |fc: u8| (fc >> 2) & 0x03 == 2;
    let (mut fc0, mut fc1) = (*frame.first()?, *frame.get(1)?);
    if !is_data(fc0) {
        // Cisco access points send the frame control field byte-swapped inside CAPWAP (Wireshark
        // decodes capwap_data.pcapng the same way); the LLC/SNAP check below guards the guess.
        if !is_data(fc1) {
            return None;
        }
        std::mem::swap(&mut fc0, &mut fc1);
    }
    let qos = (fc0 >> 4) & 0x08 != 0;
    let four_addresses = fc1 & 0x03 == 0x03;
    let mut at = 24;
    if four_addresses {
        at += 6;
    }
    if qos {
        at += 2;
        if fc1 & 0x80 != 0 {
            at += 4; // HT control
        }
    }
    let llc = frame.get(at..at + 8)?;
    if llc.get(..6)? != [0xaa, 0xaa, 0x03, 0, 0, 0] {
        return None;
    }
    Some((be16(llc, 6)?, frame.get(at + 8..)?))
}

/// MPLS label stack (RFC 3032): skip labels to the bottom of the stack, then IP by version nibble.
pub fn mpls(body: &[u8]) -> Option<Inner<'_>> {
    for i in 0..16 {
        let at = i * 4;
        let bottom = *body.get(at + 2)? & 0x01 != 0;
        if bottom {
            let inner = body.get(at + 4..)?;
            return matches!(inner.first().map(|b| b >> 4), Some(4 | 6))
                .then_some(Inner::Ip(inner));
        }
    }
    None
}

/// PPPoE session stage (RFC 2516): 6-byte header, then a PPP protocol field.
pub fn pppoe_session(body: &[u8]) -> Option<Inner<'_>> {
    if *body.first()? != 0x11 || *body.get(1)? != 0 {
        return None;
    }
    Some(Inner::Ppp(body.get(6..)?))
}

/// The PPP protocol and payload of a PPP frame (HDLC address/control and compressed protocol
/// fields allowed, RFC 1661 6.5).
pub fn ppp(frame: &[u8]) -> Option<(u16, &[u8])> {
    let rest = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    match rest.first() {
        Some(b) if b & 1 == 1 => Some((u16::from(*b), rest.get(1..)?)),
        Some(_) => Some((be16(rest, 0)?, rest.get(2..)?)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_variants() {
        let ip = [0x45u8; 20];
        let mut plain = vec![0, 0, 0x08, 0];
        plain.extend_from_slice(&ip);
        assert_eq!(gre(&plain), Some((TunnelKind::Gre, Inner::Ip(&ip[..]))));
        let mut keyed = vec![0x20, 0, 0x65, 0x58, 0, 0, 0, 7];
        keyed.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            gre(&keyed),
            Some((TunnelKind::Gre, Inner::Ethernet(&[1, 2, 3][..])))
        );
        let mut erspan2 = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
        erspan2.extend_from_slice(&[0x10; 8]);
        erspan2.extend_from_slice(&[9, 9]);
        assert_eq!(
            gre(&erspan2),
            Some((TunnelKind::ErspanII, Inner::Ethernet(&[9, 9][..])))
        );
        let mut erspan3 = vec![0, 0, 0x22, 0xeb];
        erspan3.extend_from_slice(&[0; 11]);
        erspan3.push(1); // O flag: 8 more bytes
        erspan3.extend_from_slice(&[0; 8]);
        erspan3.push(5);
        assert_eq!(
            gre(&erspan3),
            Some((TunnelKind::ErspanIII, Inner::Ethernet(&[5][..])))
        );
        let mut pptp = vec![0x30, 0x81, 0x88, 0x0b, 0, 4, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0];
        pptp.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
        assert!(matches!(gre(&pptp), Some((TunnelKind::Gre, Inner::Ppp(_)))));
        assert_eq!(gre(&[0x40, 0, 8, 0]), None, "routing present");
        for cut in 0..erspan3.len() {
            let _ = gre(&erspan3[..cut]);
        }
    }

    #[test]
    fn udp_tunnels() {
        assert_eq!(
            vxlan(&[0x08, 0, 0, 0, 0, 0, 1, 0, 7]),
            Some(Inner::Ethernet(&[7][..]))
        );
        assert_eq!(vxlan(&[0, 0, 0, 0, 0, 0, 1, 0, 7]), None);
        assert_eq!(
            geneve(&[0x01, 0, 0x65, 0x58, 0, 0, 1, 0, 1, 1, 1, 1, 7]),
            Some(Inner::Ethernet(&[7][..]))
        );
        let gtp = [0x30, 0xff, 0, 4, 0, 0, 0, 1, 0x45, 0, 0, 0];
        assert_eq!(gtp_u(&gtp), Some(Inner::Ip(&gtp[8..])));
        let gtp_ext = [
            0x34, 0xff, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0, 0, 0, 0x45, 0,
        ];
        assert_eq!(gtp_u(&gtp_ext), Some(Inner::Ip(&gtp_ext[16..])));
        let mut capwap = vec![0, 0x10, 0x43, 0x10, 0, 0, 0, 0];
        capwap.extend_from_slice(&[0; 8]);
        capwap.push(0x08);
        assert!(matches!(capwap_data(&capwap), Some(Inner::Wlan(_))));
        let mut v6 = vec![0x60];
        v6.extend_from_slice(&[0; 39]);
        let mut origin = vec![0, 0, 1, 2, 3, 4, 5, 6];
        origin.extend_from_slice(&v6);
        assert_eq!(teredo(&origin), Some(Inner::Ip(&v6[..])));
        assert_eq!(teredo(&[0x45; 40]), None);
    }

    #[test]
    fn layer_two_and_a_half() {
        let labels = [0, 0x10, 0x00, 0xff, 0, 0x20, 0x01, 0xff, 0x45, 0];
        assert_eq!(mpls(&labels), Some(Inner::Ip(&labels[8..])));
        assert_eq!(mpls(&[0; 64]), None);
        let session = [0x11, 0, 0, 1, 0, 4, 0x00, 0x21, 0x45];
        assert_eq!(pppoe_session(&session), Some(Inner::Ppp(&session[6..])));
        assert_eq!(ppp(&[0xff, 0x03, 0x00, 0x57, 1]), Some((0x57, &[1u8][..])));
        assert_eq!(ppp(&[0x21, 1]), Some((0x21, &[1u8][..])));
        let mut wlan = vec![0x88, 0x01];
        wlan.extend_from_slice(&[0; 22]);
        wlan.extend_from_slice(&[0, 0]); // QoS control
        wlan.extend_from_slice(&[0xaa, 0xaa, 3, 0, 0, 0, 0x08, 0x00, 0x45]);
        assert_eq!(wlan_data(&wlan), Some((0x0800, &[0x45u8][..])));
    }

    #[test]
    fn the_table_names_each_port_once_and_in_the_kind() {
        for (i, t) in UDP_TUNNELS.iter().enumerate() {
            assert!(t.kind.as_str().ends_with(&format!(":{}", t.port)), "{t:?}");
            assert!(UDP_TUNNELS[..i]
                .iter()
                .all(|u| u.port != t.port && u.kind != t.kind));
            assert_eq!(udp_tunnel(t.port, 443).map(|u| u.kind), Some(t.kind));
            assert_eq!(udp_tunnel(443, t.port).map(|u| u.kind), Some(t.kind));
            assert!(is_udp_tunnel_port(t.port, 443) && is_udp_tunnel_port(443, t.port));
            assert_eq!(UDP_TUNNEL_PORTS[i], t.port);
        }
        assert!(udp_tunnel(443, 53).is_none() && !is_udp_tunnel_port(443, 53));
    }

    #[test]
    fn path_display_and_bound() {
        let mut p = TunnelPath::default();
        assert!(p.is_empty());
        assert!(p.push(TunnelKind::Gre) && p.push(TunnelKind::ErspanII));
        assert_eq!(p.to_string(), "gre|erspan-ii");
        assert!(p.push(TunnelKind::Vxlan) && p.push(TunnelKind::Mpls));
        assert!(!p.push(TunnelKind::Pppoe));
        assert_eq!(p.len(), MAX_DEPTH);
    }
}
