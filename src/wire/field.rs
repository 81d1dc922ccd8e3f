//! Field readers shared by every parser in `wire`: big-endian integers at an offset and
//! length-prefixed byte strings, each returning `None` when the bytes are not there, and the
//! RFC 8701 GREASE test. One copy, so a bounds fix or a faster read lands everywhere at once.
//! Each is `#[inline]`: callers sit in other modules (other codegen units), and an out-of-line
//! call per field would cost the packet fast path more than the read itself.

/// A big-endian u16 at `at`, if the bytes are there.
#[inline]
pub fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *bytes.get(at)?,
        *bytes.get(at.checked_add(1)?)?,
    ]))
}

/// A big-endian 24-bit length at `at` (TLS handshake message lengths), as a `usize`.
#[inline]
pub fn be24(bytes: &[u8], at: usize) -> Option<usize> {
    let field = bytes.get(at..at.checked_add(3)?)?;
    Some(
        field
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
    )
}

/// A big-endian u32 at `at`, if the bytes are there.
#[inline]
pub fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let field: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(field))
}

/// The bytes after a one-byte length at `at`, when all of them are there.
#[inline]
pub fn prefixed8(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(*bytes.get(at)?);
    let start = at.checked_add(1)?;
    bytes.get(start..start.checked_add(len)?)
}

/// The bytes after a big-endian two-byte length at `at`, when all of them are there.
#[inline]
pub fn prefixed16(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(be16(bytes, at)?);
    let start = at.checked_add(2)?;
    bytes.get(start..start.checked_add(len)?)
}

/// The big-endian u16s of `bytes`, two at a time (an odd last byte is ignored).
#[inline]
pub fn be16_list(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes.chunks_exact(2).filter_map(|pair| be16(pair, 0))
}

/// RFC 8701 GREASE values (0x?a?a with equal bytes): noise a client sends in every list, never a
/// real cipher, extension, group or version.
#[inline]
pub fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && (value >> 8) == (value & 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_stop_at_the_end() {
        let bytes = [1, 2, 3, 4, 5];
        assert_eq!(be16(&bytes, 3), Some(0x0405));
        assert_eq!(be16(&bytes, 4), None);
        assert_eq!(be16(&bytes, usize::MAX), None);
        assert_eq!(be24(&bytes, 2), Some(0x03_0405));
        assert_eq!(be24(&bytes, 3), None);
        assert_eq!(be32(&bytes, 1), Some(0x0203_0405));
        assert_eq!(be32(&bytes, 2), None);
        assert_eq!(prefixed8(&[2, 7, 8, 9], 0), Some(&[7u8, 8][..]));
        assert_eq!(prefixed8(&[3, 7, 8], 0), None);
        assert_eq!(prefixed16(&[0, 1, 7, 8], 0), Some(&[7u8][..]));
        assert_eq!(prefixed16(&[0, 3, 7], 0), None);
        assert_eq!(be16_list(&[0, 1, 0, 2, 9]).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn grease_is_recognised() {
        assert!(is_grease(0x1a1a) && is_grease(0xfafa));
        assert!(!is_grease(0x0303) && !is_grease(0x1a2a));
    }
}
