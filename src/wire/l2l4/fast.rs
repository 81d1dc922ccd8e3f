//! The fast path: untagged Ethernet, IPv4 without options or fragments, TCP or non-tunnel UDP,
//! read by hand at fixed offsets. Equal to the general path on every packet it takes.

use std::net::IpAddr;

use super::super::field::{be16, be32};
use super::super::tunnel::{self, TunnelPath};
use super::packet::{IpPacket, TcpFlags, TcpHeader, Transport};

/// The common case, decoded by hand without building etherparse's large sliced-packet value
/// (the most expensive part of decoding, measured in BENCHMARKS.md): untagged Ethernet, IPv4
/// without options or fragmentation, complete, carrying TCP or non-tunnel UDP. Anything else
/// returns None and takes the general path; the result equals the general path's (tested over
/// every packet of the samples and the corpus).
#[inline]
pub(super) fn plain_ethernet_ipv4(frame: &[u8]) -> Option<IpPacket<'_>> {
    if be16(frame, 12)? != 0x0800 || *frame.get(14)? != 0x45 {
        return None;
    }
    let total = usize::from(be16(frame, 16)?);
    let ip = frame.get(14..14 + total)?;
    // More fragments, or an offset: the fragment paths decide.
    if total < 20 || be16(ip, 6)? & 0x3fff != 0 {
        return None;
    }
    let addr = |at: usize| -> Option<IpAddr> { Some(IpAddr::V4(be32(ip, at)?.into())) };
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
            packet.tcp = Some(TcpHeader {
                seq: be32(body, 4)?,
                ack: be32(body, 8)?,
                flags: TcpFlags(*body.get(13)?),
            });
            packet.payload = body.get(offset..)?;
        }
        17 => {
            let length = usize::from(be16(body, 4)?);
            // A tunnel port: the general path unwraps what is inside.
            if length < 8 || tunnel::is_udp_tunnel_port(src_port, dst_port) {
                return None;
            }
            packet.payload = body.get(8..length)?;
        }
        _ => return None,
    }
    Some(packet)
}
