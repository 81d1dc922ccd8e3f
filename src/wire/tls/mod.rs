//! TLS as the analyzer reads it, one file per part, smoltcp-style:
//!
//! - `record`: framing with every field offset in one place: the record-layer walk both sides
//!   use, content, handshake and extension type numbers, the extension iterator, `TlsVersion`.
//! - `client_hello`: collects a ClientHello from records or the QUIC CRYPTO stream and reads it
//!   in one walk over its extensions (names for the report, lists for JA4).
//! - `ja4`: the JA4 fingerprint from plain lists, memoised; it reads no TLS bytes itself.
//! - `server`: the server's first flight (ServerHello, a TLS 1.2 certificate, a refusing alert).
//!
//! Imports run one way, `client_hello` -> `ja4` -> `record` and `server` -> `record`; this file
//! only declares and re-exports, so no part imports another that imports it back.

pub mod client_hello;
pub mod ja4;
pub mod record;
pub mod server;

pub use client_hello::{
    parse_client_hello, probe_client_hello, probe_client_hello_resuming, probe_handshake,
    scan_extensions, ClientHello, Probe, ProbeProgress,
};
pub use record::{
    looks_like_client_hello, looks_like_record, raw_extensions, RawExtensions, TlsVersion,
};
