//! The general path, through etherparse's lax slicing: every link type, VLANs, IPv6 and its
//! extension headers, IP options, first fragments, and the encapsulations of `tunnel` peeled
//! layer by layer (the UDP ones from `tunnel::UDP_TUNNELS`, the same table the fast path reads).

use std::net::IpAddr;

use etherparse::{
    err::packet::SliceError, EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice,
};

use super::super::field::be16;
use super::super::tunnel::{self, Inner, TunnelKind, TunnelPath};
use super::ip::{fragment_info, ipv6_chain, tcp_header};
use super::packet::{DecodeError, Decoded, IpPacket, Transport};
use crate::capture::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Decoding through etherparse: every link type, VLANs, IPv6, options, fragments, tunnels.
pub(super) fn decode_general(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, DecodeError> {
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
        Transport::Udp => tunnel::udp_inner(packet.src_port, packet.dst_port, packet.payload),
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
    packet.tcp = Some(tcp_header(tcp));
    packet.payload = tcp.payload();
}

fn classify_stop(err: &SliceError, layer: &'static str) -> DecodeError {
    match err {
        SliceError::Len(_) => DecodeError::Truncated(layer),
        _ => DecodeError::Malformed(layer),
    }
}
