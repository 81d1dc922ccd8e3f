//! Long headers as sent (header protection still on): connection IDs, token, the packet
//! number's offset and the packet's end, read with the layout of a known version; and QUIC's
//! variable-length integers.

use super::super::field::be32;
use super::version::{Labels, QuicVersion};

/// Longest connection ID any version allows (RFC 9000 17.2: 20 bytes).
pub const MAX_CID_LEN: usize = 20;

/// A long-header packet as sent: header protection still on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongHeader<'a> {
    pub first: u8,
    /// The version the packet carries.
    pub version: QuicVersion,
    /// The known version whose layout and keys the packet is read with: `version` itself, or
    /// for a version this module does not know, the one tried (`initial_headers`).
    pub keyed_as: QuicVersion,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    pub token: &'a [u8],
    /// Offset of the (protected) packet number.
    pub pn_offset: usize,
    /// Offset just past this packet inside the datagram (coalesced packets follow).
    pub end: usize,
}

impl LongHeader<'_> {
    /// Initial packet of a version we can decrypt.
    pub fn is_initial(&self) -> bool {
        self.keyed_as
            .profile()
            .is_some_and(|p| (self.first >> 4) & 0x03 == p.initial_type)
    }
}

/// Reads a QUIC variable-length integer (RFC 9000 16) at `*pos`, advancing it.
#[inline]
pub fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *buf.get(*pos)?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(*pos..pos.checked_add(len)?)?;
    let mut value = u64::from(first & 0x3f);
    for b in bytes.get(1..).unwrap_or_default() {
        value = (value << 8) | u64::from(*b);
    }
    *pos += len;
    Some(value)
}

/// Parses a long header with a length field (Initial, 0-RTT, Handshake) of a version we know.
/// `None` for short headers, version negotiation, Retry, unknown versions or short input.
pub fn parse_long_header(datagram: &[u8]) -> Option<LongHeader<'_>> {
    let version = QuicVersion(be32(datagram, 1)?);
    parse_long_header_as(datagram, version)
}

/// A long header read with the layout of `keyed_as` (its own version, or a known version whose
/// keys an unknown one may use).
pub(super) fn parse_long_header_as(
    datagram: &[u8],
    keyed_as: QuicVersion,
) -> Option<LongHeader<'_>> {
    let first = *datagram.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = QuicVersion(be32(datagram, 1)?);
    let profile = keyed_as.profile()?;
    let kind = (first >> 4) & 0x03;
    // Retry is type 3 in v1, 0 in v2: it has no length field.
    let retry = if profile.labels == Labels::V2 { 0 } else { 3 };
    if kind == retry {
        return None;
    }
    let mut pos = 5;
    let dcid_len = usize::from(*datagram.get(pos)?);
    if dcid_len > MAX_CID_LEN {
        return None;
    }
    let dcid = datagram.get(pos + 1..pos + 1 + dcid_len)?;
    pos += 1 + dcid_len;
    let scid_len = usize::from(*datagram.get(pos)?);
    if scid_len > MAX_CID_LEN {
        return None;
    }
    let scid = datagram.get(pos + 1..pos + 1 + scid_len)?;
    pos += 1 + scid_len;
    let mut token: &[u8] = &[];
    if kind == profile.initial_type {
        let token_len = usize::try_from(varint(datagram, &mut pos)?).ok()?;
        token = datagram.get(pos..pos.checked_add(token_len)?)?;
        pos += token_len;
    }
    let length = usize::try_from(varint(datagram, &mut pos)?).ok()?;
    let end = pos.checked_add(length)?;
    if end > datagram.len() {
        return None;
    }
    Some(LongHeader {
        first,
        version,
        keyed_as,
        dcid,
        scid,
        token,
        pn_offset: pos,
        end,
    })
}
