//! Pure parsers over byte slices: no I/O, no state (a memo of results is the caller's, passed
//! in), no allocation proportional to the input.
//! Every accessor of a parsed view is checked, so arbitrary bytes never panic.

pub mod dns;
pub mod ja4;
pub mod l2l4;
pub mod media;
pub mod memo;
pub mod plaintext;
pub mod quic;
pub mod tls;
pub mod tls_server;
pub mod tunnel;
pub mod vpn;

pub use l2l4::{decode, DecodeError, Decoded, IpPacket, TcpFlags, TcpHeader, Transport};

/// A big-endian u16 at `at`, if the bytes are there: the one field reader every parser here uses.
pub(crate) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *bytes.get(at)?,
        *bytes.get(at.checked_add(1)?)?,
    ]))
}
