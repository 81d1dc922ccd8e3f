//! The values decoding hands out: transport, TCP flags and header, the IP packet with its
//! ports and payload, fragment placement, and why a frame could not be decoded. Types only, so
//! every decoding step imports them from here and none imports another's internals.

use std::net::IpAddr;

use super::super::tunnel::TunnelPath;

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
