//! Pure parsers over byte slices: no I/O, no state (a memo of results is the caller's, passed
//! in), no allocation proportional to the input.
//! Every accessor of a parsed view is checked, so arbitrary bytes never panic.

pub mod dns;
pub(crate) mod field;
pub mod l2l4;
pub mod media;
pub mod memo;
pub mod plaintext;
pub mod quic;
pub mod tls;
pub mod tunnel;
pub mod vpn;

pub use l2l4::{decode, DecodeError, Decoded, IpPacket, TcpFlags, TcpHeader, Transport};
/// The server flight at its former path (`wire::tls_server`).
pub use tls::server as tls_server;

/// JA4 at its former path (`wire::ja4`), with the extension scan that fills its input (which
/// now lives with the ClientHello parser, the one walk over the extensions).
pub mod ja4 {
    pub use super::tls::ja4::*;
    pub use super::tls::scan_extensions;
}

/// Kept at its old path for callers outside `wire` (the dissector reads a length with it).
pub(crate) use field::be16;
