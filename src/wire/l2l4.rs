//! Link layer to transport layer: strips the link header of each supported link type, then
//! slices IP and TCP/UDP/ICMP with etherparse's lax slicing so snaplen-truncated packets still
//! yield their addresses, ports and whatever payload was kept.
//!
//! etherparse covers Ethernet (with 802.1Q/QinQ), raw IP and Linux SLL v1 only; the few bytes of
//! BSD NULL/LOOP, PPP and SLL v2 headers are read here because no crate offers them as a slice.

use std::net::IpAddr;

use etherparse::{
    err::packet::SliceError, EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice,
};

use super::be16;
use super::tunnel::{self, Inner, TunnelKind, TunnelPath};
use crate::capture::LinkType;

/// Transport as the output names it; `Other` keeps the IP protocol number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Esp,
    Ah,
    Gre,
    Other(u8),
}

impl Transport {
    pub fn from_ip_number(n: u8) -> Self {
        match n {
            6 => Transport::Tcp,
            17 => Transport::Udp,
            1 => Transport::Icmp,
            58 => Transport::Icmpv6,
            50 => Transport::Esp,
            51 => Transport::Ah,
            47 => Transport::Gre,
            other => Transport::Other(other),
        }
    }

    pub fn ip_number(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Icmp => 1,
            Transport::Icmpv6 => 58,
            Transport::Esp => 50,
            Transport::Ah => 51,
            Transport::Gre => 47,
            Transport::Other(n) => n,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Icmp => "icmp",
            Transport::Icmpv6 => "icmpv6",
            Transport::Esp => "esp",
            Transport::Ah => "ah",
            Transport::Gre => "gre",
            Transport::Other(_) => "other",
        }
    }

    /// Transports whose flows are told apart by ports.
    pub fn has_ports(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Udp)
    }
}

/// TCP flag bits as on the wire (FIN=0x01 ... CWR=0x80).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Flag letters in tcpdump's order, e.g. `SAFR`; empty when none.
    pub fn letters(self) -> String {
        const NAMES: [(u8, char); 8] = [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::ACK, 'A'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'C'),
        ];
        NAMES
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, c)| *c)
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpHeader {
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
}

/// An IP packet with its transport header decoded as far as the bytes allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    /// Zero for transports without ports.
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp: Option<TcpHeader>,
    /// Transport payload (TCP/UDP data) as captured; may be shorter than sent.
    pub payload: &'a [u8],
    /// The IP header claims more bytes than the frame holds (snaplen, or a lying length).
    pub ip_incomplete: bool,
    /// Encapsulations removed to reach this packet, outermost first (empty when none).
    pub tunnel: TunnelPath,
    /// Set on the first fragment of a fragmented datagram (its payload is partial).
    pub fragment: Option<FragmentInfo<'a>>,
}

/// Where an IP fragment belongs in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentInfo<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub id: u32,
    /// Offset of `data` in the datagram's IP payload, in bytes.
    pub offset: usize,
    pub more: bool,
    pub data: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    Ip(IpPacket<'a>),
    /// A non-first IP fragment: no transport header to key a flow on until reassembled.
    Fragment(FragmentInfo<'a>),
    /// ARP, LLDP, other ethertypes or PPP protocols: not IP, counted only.
    NotIp,
}

/// Why a frame could not be decoded. `Truncated` means the bytes ran out (snaplen or a lying
/// length); `Malformed` means the bytes contradict the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported link type")]
    UnsupportedLink,
    #[error("truncated {0} header")]
    Truncated(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Decodes one frame of the given link type down to the transport payload.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if link == LinkType::Ethernet {
        if let Some(packet) = plain_ethernet_ipv4(frame) {
            return Ok(Decoded::Ip(packet));
        }
    }
    decode_general(link, frame)
}

/// UDP ports whose payload may be a tunnel (`tunnel_inside`): such packets take the general path.
const TUNNEL_PORTS: [u16; 5] = [4789, 6081, 2152, 5247, 3544];

/// The common case, decoded by hand without building etherparse's large sliced-packet value
/// (the most expensive part of decoding, measured in BENCHMARKS.md): untagged Ethernet, IPv4
/// without options or fragmentation, complete, carrying TCP or non-tunnel UDP. Anything else
/// returns None and takes the general path; the result equals the general path's (tested over
/// every packet of the samples and the corpus).
fn plain_ethernet_ipv4(frame: &[u8]) -> Option<IpPacket<'_>> {
    if be16(frame, 12)? != 0x0800 || *frame.get(14)? != 0x45 {
        return None;
    }
    let total = usize::from(be16(frame, 16)?);
    let ip = frame.get(14..14 + total)?;
    // More fragments, or an offset: the fragment paths decide.
    if total < 20 || be16(ip, 6)? & 0x3fff != 0 {
        return None;
    }
    let addr = |at: usize| -> Option<IpAddr> {
        let b: [u8; 4] = ip.get(at..at + 4)?.try_into().ok()?;
        Some(IpAddr::V4(std::net::Ipv4Addr::from(b)))
    };
    let (src, dst) = (addr(12)?, addr(16)?);
    let body = ip.get(20..)?;
    let (transport, src_port, dst_port) = (*ip.get(9)?, be16(body, 0)?, be16(body, 2)?);
    let mut packet = IpPacket {
        src,
        dst,
        transport: Transport::from_ip_number(transport),
        src_port,
        dst_port,
        tcp: None,
        payload: &[],
        ip_incomplete: false,
        tunnel: TunnelPath::default(),
        fragment: None,
    };
    match transport {
        6 => {
            let offset = usize::from(*body.get(12)? >> 4) * 4;
            if offset < 20 {
                return None;
            }
            let word = |at: usize| -> Option<u32> {
                Some(u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?))
            };
            packet.tcp = Some(TcpHeader {
                seq: word(4)?,
                ack: word(8)?,
                flags: TcpFlags(*body.get(13)?),
            });
            packet.payload = body.get(offset..)?;
        }
        17 => {
            let length = usize::from(be16(body, 4)?);
            if length < 8 || TUNNEL_PORTS.contains(&src_port) || TUNNEL_PORTS.contains(&dst_port) {
                return None;
            }
            packet.payload = body.get(8..length)?;
        }
        _ => return None,
    }
    Some(packet)
}

/// Decoding through etherparse: every link type, VLANs, IPv6, options, fragments, tunnels.
fn decode_general(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let sliced = match link {
        LinkType::Ethernet => {
            LaxSlicedPacket::from_ethernet(frame).map_err(|_| DecodeError::Truncated("ethernet"))?
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => from_ip(frame)?,
        LinkType::Null | LinkType::Loop => {
            let family = frame.get(..4).ok_or(DecodeError::Truncated("loopback"))?;
            let family: [u8; 4] = family
                .try_into()
                .map_err(|_| DecodeError::Truncated("loopback"))?;
            // NULL uses the capturing host's byte order: take whichever reading is small.
            let be = u32::from_be_bytes(family);
            let value = if link == LinkType::Loop || be < 256 {
                be
            } else {
                u32::from_le_bytes(family)
            };
            match value {
                // AF_INET everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (BSDs, macOS).
                2 | 10 | 24 | 28 | 30 => from_ip(frame.get(4..).unwrap_or_default())?,
                _ => return Ok(Decoded::NotIp),
            }
        }
        LinkType::Ppp | LinkType::PppSerial => match slice_inner(Inner::Ppp(frame))? {
            Some(sliced) => sliced,
            None => return Ok(Decoded::NotIp),
        },
        LinkType::LinuxSll => {
            let ether_type = be16(frame, 14).ok_or(DecodeError::Truncated("linux-sll"))?;
            from_ether_type(ether_type, frame.get(16..).unwrap_or_default())
        }
        LinkType::LinuxSll2 => {
            let ether_type = be16(frame, 0).ok_or(DecodeError::Truncated("linux-sll2"))?;
            if frame.len() < 20 {
                return Err(DecodeError::Truncated("linux-sll2"));
            }
            from_ether_type(ether_type, frame.get(20..).unwrap_or_default())
        }
        LinkType::Unsupported(_) => return Err(DecodeError::UnsupportedLink),
    };
    resolve(sliced)
}

/// Peels encapsulations (MPLS and PPPoE below IP; IP-in-IP, GRE/ERSPAN and UDP tunnels above
/// it) until the innermost packet, up to `tunnel::MAX_DEPTH` layers.
fn resolve(mut sliced: LaxSlicedPacket<'_>) -> Result<Decoded<'_>, DecodeError> {
    let mut path = TunnelPath::default();
    loop {
        if sliced.net.is_none() && sliced.stop_err.is_none() {
            // etherparse stops at ether types it does not know: MPLS and PPPoE sessions.
            let below_ip =
                innermost_ether_payload(&sliced).and_then(|(ether_type, body)| match ether_type {
                    0x8847 | 0x8848 => tunnel::mpls(body).map(|i| (TunnelKind::Mpls, i)),
                    0x8864 => tunnel::pppoe_session(body).map(|i| (TunnelKind::Pppoe, i)),
                    _ => None,
                });
            if let Some((kind, inner)) = below_ip {
                if path.push(kind) {
                    match slice_inner(inner)? {
                        Some(next) => {
                            sliced = next;
                            continue;
                        }
                        None => return Ok(Decoded::NotIp),
                    }
                }
            }
        }
        let (decoded, ip_payload) = finish(&sliced)?;
        let Decoded::Ip(mut packet) = decoded else {
            return Ok(decoded);
        };
        if let Some((kind, inner)) = tunnel_inside(&packet, ip_payload) {
            if path.push(kind) {
                match slice_inner(inner) {
                    Ok(Some(next)) => {
                        sliced = next;
                        continue;
                    }
                    Ok(None) => return Ok(Decoded::NotIp),
                    // A broken inner packet: keep the outer one rather than lose the packet.
                    Err(_) => {}
                }
            }
        }
        packet.tunnel = path;
        return Ok(Decoded::Ip(packet));
    }
}

/// The ether type and payload after the last link header etherparse read.
fn innermost_ether_payload<'a>(sliced: &LaxSlicedPacket<'a>) -> Option<(u16, &'a [u8])> {
    if let Some(ext) = sliced.link_exts.last() {
        let p = ext.payload()?;
        return Some((p.ether_type.0, p.payload));
    }
    let p = sliced.link.as_ref()?.ether_payload()?;
    Some((p.ether_type.0, p.payload))
}

/// Is this packet a tunnel? Judged by IP protocol, or by UDP port and a header that parses.
fn tunnel_inside<'a>(
    packet: &IpPacket<'a>,
    ip_payload: &'a [u8],
) -> Option<(TunnelKind, Inner<'a>)> {
    let outer_v4 = packet.src.is_ipv4();
    match packet.transport {
        Transport::Other(4) => Some((
            if outer_v4 {
                TunnelKind::IpIp
            } else {
                TunnelKind::FourInSix
            },
            Inner::Ip(ip_payload),
        )),
        Transport::Other(41) => Some((
            if outer_v4 {
                TunnelKind::SixInFour
            } else {
                TunnelKind::SixInSix
            },
            Inner::Ip(ip_payload),
        )),
        Transport::Gre => tunnel::gre(ip_payload),
        Transport::Udp => {
            let port = |p: u16| packet.src_port == p || packet.dst_port == p;
            let body = packet.payload;
            if port(4789) {
                tunnel::vxlan(body).map(|i| (TunnelKind::Vxlan, i))
            } else if port(6081) {
                tunnel::geneve(body).map(|i| (TunnelKind::Geneve, i))
            } else if port(2152) {
                tunnel::gtp_u(body).map(|i| (TunnelKind::GtpU, i))
            } else if port(5247) {
                tunnel::capwap_data(body).map(|i| (TunnelKind::Capwap, i))
            } else if port(3544) {
                tunnel::teredo(body).map(|i| (TunnelKind::Teredo, i))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Slices an inner frame; `None` when it is valid but not IP (e.g. PPP LCP).
fn slice_inner(inner: Inner<'_>) -> Result<Option<LaxSlicedPacket<'_>>, DecodeError> {
    match inner {
        Inner::Ethernet(b) => LaxSlicedPacket::from_ethernet(b)
            .map(Some)
            .map_err(|_| DecodeError::Truncated("inner ethernet")),
        Inner::Ip(b) => from_ip(b).map(Some),
        Inner::Ppp(b) => match tunnel::ppp(b) {
            Some((0x0021 | 0x0057, body)) => from_ip(body).map(Some),
            Some(_) => Ok(None),
            None => Err(DecodeError::Truncated("ppp")),
        },
        Inner::Wlan(b) => match tunnel::wlan_data(b) {
            Some((ETHERTYPE_IPV4 | ETHERTYPE_IPV6, body)) => from_ip(body).map(Some),
            _ => Ok(None),
        },
    }
}

fn from_ether_type(ether_type: u16, body: &[u8]) -> LaxSlicedPacket<'_> {
    LaxSlicedPacket::from_ether_type(EtherType(ether_type), body)
}

fn from_ip(bytes: &[u8]) -> Result<LaxSlicedPacket<'_>, DecodeError> {
    match bytes.first().map(|b| b >> 4) {
        None => Err(DecodeError::Truncated("ip")),
        Some(4) => Ok(from_ether_type(ETHERTYPE_IPV4, bytes)),
        Some(6) => Ok(from_ether_type(ETHERTYPE_IPV6, bytes)),
        Some(_) => Err(DecodeError::Malformed("ip version")),
    }
}

/// The decoded packet and its raw IP payload (what follows the IP header and extensions).
fn finish<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<(Decoded<'a>, &'a [u8]), DecodeError> {
    let (src, dst, payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            if v4.payload().fragmented && h.fragments_offset().value() != 0 {
                return Ok((Decoded::Fragment(fragment_info(sliced)?), &[]));
            }
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let first_fragment = ipv6_chain(v6)
                .fragment
                .is_none_or(|(offset, _, _)| offset == 0);
            if v6.payload().fragmented && !first_fragment {
                return Ok((Decoded::Fragment(fragment_info(sliced)?), &[]));
            }
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Ok((Decoded::NotIp, &[])),
        None => {
            return match &sliced.stop_err {
                Some((err, _)) => Err(classify_stop(err, "ip")),
                None => Ok((Decoded::NotIp, &[])),
            }
        }
    };
    // An AH header makes the packet IPsec traffic whatever it protects: the flow is AH's.
    let authenticated = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => v4.extensions().auth.is_some(),
        Some(LaxNetSlice::Ipv6(v6)) => ipv6_chain(v6).auth,
        _ => false,
    };
    let transport = if authenticated {
        Transport::Ah
    } else {
        Transport::from_ip_number(payload.ip_number.0)
    };
    let mut packet = IpPacket {
        src,
        dst,
        transport,
        src_port: 0,
        dst_port: 0,
        tcp: None,
        payload: &[],
        ip_incomplete: payload.incomplete,
        tunnel: TunnelPath::default(),
        fragment: if payload.fragmented {
            fragment_info(sliced).ok()
        } else {
            None
        },
    };
    match &sliced.transport {
        _ if authenticated => {}
        Some(TransportSlice::Tcp(tcp)) => {
            fill_tcp(&mut packet, tcp);
        }
        Some(TransportSlice::Udp(udp)) => {
            packet.src_port = udp.source_port();
            packet.dst_port = udp.destination_port();
            packet.payload = udp.payload();
        }
        Some(TransportSlice::Icmpv4(icmp)) => packet.payload = icmp.slice(),
        Some(TransportSlice::Icmpv6(icmp)) => packet.payload = icmp.slice(),
        Some(_) => {}
        None if payload.fragmented => {
            // First fragment: etherparse stops at fragmented payloads, the header is still here.
            match payload.ip_number {
                IpNumber::TCP => {
                    if let Ok(tcp) = etherparse::TcpSlice::from_slice(payload.payload) {
                        fill_tcp(&mut packet, &tcp);
                    }
                }
                IpNumber::UDP => {
                    if let Ok(udp) = etherparse::UdpSlice::from_slice_lax(payload.payload) {
                        packet.src_port = udp.source_port();
                        packet.dst_port = udp.destination_port();
                        packet.payload = udp.payload();
                    }
                }
                _ => {}
            }
        }
        None => {
            if transport.has_ports() {
                // Ports are what key a TCP/UDP flow: without them the packet cannot be placed.
                return Err(match &sliced.stop_err {
                    Some((err, _)) => classify_stop(err, transport.as_str()),
                    None => DecodeError::Truncated(transport.as_str()),
                });
            }
        }
    }
    Ok((Decoded::Ip(packet), payload.payload))
}

fn fill_tcp<'a>(packet: &mut IpPacket<'a>, tcp: &etherparse::TcpSlice<'a>) {
    packet.src_port = tcp.source_port();
    packet.dst_port = tcp.destination_port();
    let flags = tcp.header_slice().get(13).copied().unwrap_or(0);
    packet.tcp = Some(TcpHeader {
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flags),
    });
    packet.payload = tcp.payload();
}

/// What an IPv6 extension chain holds that decoding needs.
#[derive(Clone, Copy, Debug, Default)]
struct Ipv6Chain {
    /// An Authentication Header (the flow is IPsec AH).
    auth: bool,
    /// The fragment header's (offset in bytes, more fragments, identification).
    fragment: Option<(usize, bool, u32)>,
}

/// Walks the IPv6 extension headers once, by hand over the raw bytes: etherparse's iterator
/// over a lax extension slice reads past the end of a truncated header (found by the `frame`
/// fuzz target against etherparse 0.21). At most 16 headers are followed.
fn ipv6_chain(v6: &etherparse::LaxIpv6Slice<'_>) -> Ipv6Chain {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const AUTH: u8 = 51;
    const DEST_OPTS: u8 = 60;
    let exts = v6.extensions().slice();
    let mut chain = Ipv6Chain::default();
    let mut next = v6.header().next_header().0;
    let mut at = 0usize;
    for _ in 0..16 {
        let (Some(&following), Some(&len_byte)) = (exts.get(at), exts.get(at + 1)) else {
            break;
        };
        let len = match next {
            FRAGMENT => {
                let field = be16(exts, at + 2);
                let id = exts
                    .get(at + 4..at + 8)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes);
                if let (Some(field), Some(id)) = (field, id) {
                    chain.fragment = Some((usize::from(field >> 3) * 8, field & 1 == 1, id));
                }
                8
            }
            AUTH => {
                chain.auth = true;
                (usize::from(len_byte) + 2) * 4
            }
            HOP_BY_HOP | ROUTING | DEST_OPTS => (usize::from(len_byte) + 1) * 8,
            _ => break,
        };
        next = following;
        at += len;
    }
    chain
}

/// Ports, TCP header and payload of a reassembled datagram's IP payload (TCP or UDP).
pub fn transport_of(protocol: u8, bytes: &[u8]) -> Option<(u16, u16, Option<TcpHeader>, &[u8])> {
    match protocol {
        6 => {
            let tcp = etherparse::TcpSlice::from_slice(bytes).ok()?;
            let flags = tcp.header_slice().get(13).copied().unwrap_or(0);
            let header = TcpHeader {
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags: TcpFlags(flags),
            };
            Some((
                tcp.source_port(),
                tcp.destination_port(),
                Some(header),
                tcp.payload(),
            ))
        }
        17 => {
            let udp = etherparse::UdpSlice::from_slice_lax(bytes).ok()?;
            Some((
                udp.source_port(),
                udp.destination_port(),
                None,
                udp.payload(),
            ))
        }
        _ => None,
    }
}

/// The flow an ICMP "destination unreachable" message refers to: (source, source port,
/// destination, destination port, IP protocol) of the quoted original packet.
pub fn unreachable_original(
    transport: Transport,
    icmp: &[u8],
) -> Option<(IpAddr, u16, IpAddr, u16, u8)> {
    let unreachable = match transport {
        Transport::Icmp => icmp.first() == Some(&3),
        Transport::Icmpv6 => icmp.first() == Some(&1),
        _ => false,
    };
    if !unreachable {
        return None;
    }
    let original = icmp.get(8..)?;
    let (src, dst, protocol, l4) = match original.first()? >> 4 {
        4 => {
            let ihl = usize::from(original.first()? & 0x0f) * 4;
            let src: [u8; 4] = original.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = original.get(16..20)?.try_into().ok()?;
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                *original.get(9)?,
                original.get(ihl..)?,
            )
        }
        6 => {
            let src: [u8; 16] = original.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = original.get(24..40)?.try_into().ok()?;
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                *original.get(6)?,
                original.get(40..)?,
            )
        }
        _ => return None,
    };
    // ICMP quotes at least the first 8 bytes of the transport header: both ports.
    let (sport, dport) = match protocol {
        6 | 17 => (be16(l4, 0)?, be16(l4, 2)?),
        _ => (0, 0),
    };
    Some((src, sport, dst, dport, protocol))
}

/// Identification, offset and more-fragments flag of a fragmented IPv4 or IPv6 packet.
fn fragment_info<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<FragmentInfo<'a>, DecodeError> {
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            Ok(FragmentInfo {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                protocol: v4.payload().ip_number.0,
                id: u32::from(h.identification()),
                offset: usize::from(h.fragments_offset().value()) * 8,
                more: h.more_fragments(),
                data: v4.payload().payload,
            })
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let (offset, more, id) = ipv6_chain(v6)
                .fragment
                .ok_or(DecodeError::Malformed("ipv6 fragment header"))?;
            Ok(FragmentInfo {
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                protocol: v6.payload().ip_number.0,
                id,
                offset,
                more,
                data: v6.payload().payload,
            })
        }
        _ => Err(DecodeError::Malformed("fragment")),
    }
}

fn classify_stop(err: &SliceError, layer: &'static str) -> DecodeError {
    match err {
        SliceError::Len(_) => DecodeError::Truncated(layer),
        _ => DecodeError::Malformed(layer),
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

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
        } else if std::env::var_os("O365FLOW_REQUIRE_CORPUS")
            .is_some_and(|v| !v.is_empty() && v != "0")
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

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
}
