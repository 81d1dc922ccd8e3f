//! Google QUIC before RFC 9001 framing: the version tag of a client packet (long header or
//! the older public header) and the server name in a CHLO tag table.

use super::version::QuicVersion;

/// The gQUIC version tag of a client packet: `Q046`+ in a long header (offset 1), older
/// versions in a public header with the version flag and an 8-byte connection ID (offset 9).
pub fn gquic_version(payload: &[u8]) -> Option<QuicVersion> {
    let tag_at = |at: usize| -> Option<QuicVersion> {
        let tag: [u8; 4] = payload.get(at..at + 4)?.try_into().ok()?;
        let [q, digits @ ..] = tag;
        let is_q = q == b'Q' && digits.iter().all(u8::is_ascii_digit);
        is_q.then(|| QuicVersion(u32::from_be_bytes(tag)))
    };
    let first = *payload.first()?;
    if first & 0x80 != 0 {
        return tag_at(1);
    }
    // Public flags: 0x01 version present, 0x08 8-byte connection ID present.
    if first & 0x09 == 0x09 {
        return tag_at(9);
    }
    None
}

/// Upper bound on CHLO tag entries; real hellos carry about 30.
const MAX_CHLO_TAGS: usize = 128;

/// The server name (`SNI` tag) of a gQUIC CHLO message found anywhere in `data`. The tag table
/// is `CHLO`, count (u16 LE), padding (u16), then (tag, end offset u32 LE) pairs, then values.
pub fn chlo_server_name(data: &[u8]) -> Option<&[u8]> {
    let start = data.windows(4).position(|w| w == b"CHLO")?;
    let msg = data.get(start..)?;
    let count = usize::from(u16::from_le_bytes([*msg.get(4)?, *msg.get(5)?]));
    if count == 0 || count > MAX_CHLO_TAGS {
        return None;
    }
    let table = msg.get(8..8 + count * 8)?;
    let values = msg.get(8 + count * 8..)?;
    let mut prev_end = 0usize;
    for entry in table.chunks_exact(8) {
        let tag = entry.get(..4)?;
        let end = u32::from_le_bytes(entry.get(4..8)?.try_into().ok()?) as usize;
        if end < prev_end {
            return None;
        }
        if tag == b"SNI\0" {
            return values.get(prev_end..end).filter(|v| !v.is_empty());
        }
        prev_end = end;
    }
    None
}
