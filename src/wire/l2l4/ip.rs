//! IP-level reading outside the packet walk: the IPv6 extension chain (AH, fragment header),
//! where a fragment belongs, the transport of a reassembled datagram, and the flow an ICMP
//! unreachable quotes.

use std::net::IpAddr;

use etherparse::{LaxNetSlice, LaxSlicedPacket};

use super::super::field::{be16, be32};
use super::packet::{DecodeError, FragmentInfo, TcpFlags, TcpHeader, Transport};

/// Sequence, acknowledgment and flags of a sliced TCP header.
pub(super) fn tcp_header(tcp: &etherparse::TcpSlice<'_>) -> TcpHeader {
    let flags = tcp.header_slice().get(13).copied().unwrap_or(0);
    TcpHeader {
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flags),
    }
}

/// What an IPv6 extension chain holds that decoding needs.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Ipv6Chain {
    /// An Authentication Header (the flow is IPsec AH).
    pub auth: bool,
    /// The fragment header's (offset in bytes, more fragments, identification).
    pub fragment: Option<(usize, bool, u32)>,
}

/// Walks the IPv6 extension headers once, by hand over the raw bytes: etherparse's iterator
/// over a lax extension slice reads past the end of a truncated header (found by the `frame`
/// fuzz target against etherparse 0.21). At most 16 headers are followed.
pub(super) fn ipv6_chain(v6: &etherparse::LaxIpv6Slice<'_>) -> Ipv6Chain {
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
                let id = be32(exts, at + 4);
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
            Some((
                tcp.source_port(),
                tcp.destination_port(),
                Some(tcp_header(&tcp)),
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
pub(super) fn fragment_info<'a>(
    sliced: &LaxSlicedPacket<'a>,
) -> Result<FragmentInfo<'a>, DecodeError> {
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
