//! QUIC Initial packets: long-header parsing, RFC 9001 Initial key derivation and header
//! protection removal for every version seen in the wild (v1, v2 per RFC 9369, IETF drafts
//! 22-34, Facebook mvfst, Google T050/T051 and Q050), CRYPTO frame extraction, and the gQUIC
//! CHLO tag table (Q043-Q050) for the server name.
//!
//! Crypto comes from `ring` (HKDF-SHA256, AES-128-GCM, AES header protection); nothing here is
//! hand-written cryptography. Decoding runs in stages that are different types: a parsed
//! `LongHeader` (protected), then `decrypt_initial` (header protection removed, AEAD opened),
//! then frames. The AEAD tag makes a successful decryption proof that the flow is QUIC.
//!
//! Files: `version` (what each version means), `header` (long headers, varints), `keys`
//! (derivation, protection removal, fallback keys), `frames` (CRYPTO frames), `gquic` (Google
//! tags and CHLO). This file only declares and re-exports.

mod frames;
mod gquic;
mod header;
mod keys;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod version;

pub use frames::{crypto_frames, CryptoFrames};
pub use gquic::{chlo_server_name, gquic_version};
pub use header::{parse_long_header, varint, LongHeader, MAX_CID_LEN};
pub use keys::{decrypt_initial, initial_headers, InitialKeys};
pub use version::{Handshake, QuicVersion};
