//! Link layer to transport layer: strips the link header of each supported link type, then
//! slices IP and TCP/UDP/ICMP with etherparse's lax slicing so snaplen-truncated packets still
//! yield their addresses, ports and whatever payload was kept.
//!
//! etherparse covers Ethernet (with 802.1Q/QinQ), raw IP and Linux SLL v1 only; the few bytes of
//! BSD NULL/LOOP, PPP and SLL v2 headers are read here because no crate offers them as a slice.
//!
//! Files: `packet` (the values handed out), `fast` (the common Ethernet/IPv4 case by hand),
//! `general` (etherparse, every link type, tunnels), `ip` (IPv6 chain, fragments, ICMP quotes).

mod fast;
mod general;
mod ip;
mod packet;
#[cfg(test)]
mod tests;

pub use ip::{transport_of, unreachable_original};
pub use packet::{DecodeError, Decoded, FragmentInfo, IpPacket, TcpFlags, TcpHeader, Transport};

use crate::capture::LinkType;

/// Decodes one frame of the given link type down to the transport payload.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if link == LinkType::Ethernet {
        if let Some(packet) = fast::plain_ethernet_ipv4(frame) {
            return Ok(Decoded::Ip(packet));
        }
    }
    general::decode_general(link, frame)
}
