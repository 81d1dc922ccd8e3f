//! Link-layer types as libpcap reports them (DLT values), with an explicit `Unsupported` variant
//! so an unknown type is counted and named, never guessed.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// DLT_NULL: 4-byte address family in the capturing host's byte order.
    Null,
    /// DLT_LOOP: 4-byte address family in network byte order (OpenBSD).
    Loop,
    Ethernet,
    /// DLT_PPP (RFC 1661 header, optionally with HDLC address/control bytes).
    Ppp,
    /// DLT_PPP_SERIAL: PPP in HDLC-like framing.
    PppSerial,
    /// Raw IPv4 or IPv6, version from the first nibble (DLT_RAW, LINKTYPE_RAW).
    Raw,
    Ipv4,
    Ipv6,
    LinuxSll,
    LinuxSll2,
    Unsupported(i32),
}

impl LinkType {
    pub fn from_dlt(dlt: i32) -> Self {
        match dlt {
            0 => LinkType::Null,
            108 => LinkType::Loop,
            1 => LinkType::Ethernet,
            9 => LinkType::Ppp,
            50 => LinkType::PppSerial,
            // DLT_RAW is 12 on most systems and 14 on OpenBSD; 101 is LINKTYPE_RAW in files.
            12 | 14 | 101 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unsupported(other),
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkType::Null => f.write_str("null"),
            LinkType::Loop => f.write_str("loop"),
            LinkType::Ethernet => f.write_str("ethernet"),
            LinkType::Ppp => f.write_str("ppp"),
            LinkType::PppSerial => f.write_str("ppp-serial"),
            LinkType::Raw => f.write_str("raw-ip"),
            LinkType::Ipv4 => f.write_str("ipv4"),
            LinkType::Ipv6 => f.write_str("ipv6"),
            LinkType::LinuxSll => f.write_str("linux-sll"),
            LinkType::LinuxSll2 => f.write_str("linux-sll2"),
            LinkType::Unsupported(n) => write!(f, "dlt-{n}"),
        }
    }
}
