//! Lower-case hex text for digests and fingerprints, written without a `format!` per byte
//! (JA4 hex-encodes dozens of values for every ClientHello).

/// The hex digit of a nibble (0..=15).
fn digit(nibble: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + (nibble - 10)
    })
}

/// Appends the two hex digits of each byte.
pub fn push_bytes(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
}

/// Appends a 16-bit value as four hex digits (`0a0b`).
pub fn push_u16(out: &mut String, value: u16) {
    push_bytes(out, &value.to_be_bytes());
}

/// Appends the hex of the first `bytes` bytes of the SHA-256 of `data` (all 32 when `bytes`
/// is larger).
pub fn push_sha256_prefix(out: &mut String, data: &[u8], bytes: usize) {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    push_bytes(out, digest.as_ref().get(..bytes).unwrap_or(digest.as_ref()));
}

/// Hex of the first `bytes` bytes of the SHA-256 of `data` (all 32 when `bytes` is larger).
pub fn sha256_prefix(data: &[u8], bytes: usize) -> String {
    let mut out = String::with_capacity(bytes.min(32) * 2);
    push_sha256_prefix(&mut out, data, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_digest() {
        let mut text = String::new();
        push_bytes(&mut text, &[0x00, 0x7f, 0xff]);
        push_u16(&mut text, 0x0a1b);
        assert_eq!(text, "007fff0a1b");
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            sha256_prefix(b"abc", 32),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_prefix(b"abc", 6), "ba7816bf8f01");
    }
}
