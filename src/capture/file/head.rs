//! What a capture's first bytes declare, read here because libpcap does not expose it: the
//! timestamp precision (pcap magic, pcapng `if_tsresol`) and the snaplen (pcap header, first
//! pcapng Interface Description Block). Bounded and checked: any bytes are safe.

use std::io::Read;
use std::path::Path;

use crate::time::Precision;

const PCAP_MICRO: u32 = 0xa1b2_c3d4;
const PCAP_NANO: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_BYTE_ORDER: u32 = 0x1a2b_3c4d;
const IF_TSRESOL: u16 = 9;
/// Enough for the section header and the first interface descriptions of any sane file.
const HEAD_BYTES: u64 = 64 * 1024;

/// A u32 at `at` in the byte order a pcap or pcapng header declared.
fn read_u32(bytes: &[u8], at: usize, big: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// A u16 at `at` in the byte order a pcapng section declared.
fn read_u16(bytes: &[u8], at: usize, big: bool) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

/// The timestamp resolution the file records. libpcap scales every timestamp to the precision
/// asked for and does not expose the file's own, so the header is read here (bounded, checked).
pub(super) fn native_head(path: &Path) -> Result<(Precision, Option<u32>), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    file.take(HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| e.to_string())?;
    Ok((head_precision(&head)?, head_snaplen(&head)))
}

/// The snaplen a capture's header declares: pcap's global header, or pcapng's first Interface
/// Description Block. None when the head is neither or too short.
pub fn head_snaplen(head: &[u8]) -> Option<u32> {
    let word = |at: usize, big: bool| read_u32(head, at, big);
    let magic = word(0, false)?;
    if magic == PCAP_MICRO || magic == PCAP_NANO {
        return word(16, false);
    }
    if magic.swap_bytes() == PCAP_MICRO || magic.swap_bytes() == PCAP_NANO {
        return word(16, true);
    }
    if magic != PCAPNG_SHB {
        return None;
    }
    let big = word(8, false) != Some(PCAPNG_BYTE_ORDER);
    let mut at = 0usize;
    // Blocks are at least 12 bytes long, so the walk ends within the head.
    while let (Some(kind), Some(len)) = (word(at, big), word(at + 4, big)) {
        if len < 12 {
            return None;
        }
        if kind == PCAPNG_IDB {
            // type, length, linktype(2), reserved(2), snaplen(4).
            return word(at + 12, big);
        }
        at = at.checked_add(len as usize)?;
    }
    None
}

/// The precision a capture's first bytes declare; an error for empty or too-short input.
pub fn head_precision(head: &[u8]) -> Result<Precision, String> {
    if head.is_empty() {
        return Err("empty file".into());
    }
    let Some(magic_bytes) = head.get(..4) else {
        return Err(format!(
            "{} bytes, shorter than any capture header",
            head.len()
        ));
    };
    let magic_le = u32::from_le_bytes(magic_bytes.try_into().map_err(|_| "short header")?);
    let magic_be = magic_le.swap_bytes();
    Ok(match (magic_le, magic_be) {
        (PCAP_NANO, _) | (_, PCAP_NANO) => Precision::Nano,
        (PCAP_MICRO, _) | (_, PCAP_MICRO) => Precision::Micro,
        (PCAPNG_SHB, _) => pcapng_precision(head),
        // Let libpcap name other formats (or refuse them) in its own words.
        _ => Precision::Micro,
    })
}

/// Walks pcapng blocks to the first Interface Description Block and reads `if_tsresol`.
fn pcapng_precision(head: &[u8]) -> Precision {
    let read_u32 = |at: usize, big: bool| read_u32(head, at, big);
    let read_u16 = |at: usize, big: bool| read_u16(head, at, big);
    let big = read_u32(8, false) != Some(PCAPNG_BYTE_ORDER);
    let mut at = 0usize;
    // Each block is at least 12 bytes, so the walk is bounded by the head's length.
    while let (Some(kind), Some(len)) = (read_u32(at, big), read_u32(at + 4, big)) {
        let len = len as usize;
        if len < 12 {
            break;
        }
        if kind == PCAPNG_IDB {
            // type, length, linktype(2), reserved(2), snaplen(4), then options.
            let end = at.saturating_add(len).saturating_sub(4);
            let mut opt = at + 16;
            while opt + 4 <= end {
                let (Some(code), Some(olen)) = (read_u16(opt, big), read_u16(opt + 2, big)) else {
                    break;
                };
                if code == 0 {
                    break;
                }
                if code == IF_TSRESOL {
                    let value = head.get(opt + 4).copied().unwrap_or(6);
                    // High bit set: negative power of two, else negative power of ten.
                    let finer_than_micro = if value & 0x80 != 0 {
                        (value & 0x7f) > 20
                    } else {
                        value > 6
                    };
                    return if finer_than_micro {
                        Precision::Nano
                    } else {
                        Precision::Micro
                    };
                }
                opt += 4 + (olen as usize).div_ceil(4) * 4;
            }
            return Precision::Micro;
        }
        at = match at.checked_add(len) {
            Some(next) => next,
            None => break,
        };
    }
    Precision::Micro
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idb_with_tsresol(value: u8) -> Vec<u8> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&PCAPNG_SHB.to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        shb.extend_from_slice(&PCAPNG_BYTE_ORDER.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        let mut idb = Vec::new();
        idb.extend_from_slice(&PCAPNG_IDB.to_le_bytes());
        idb.extend_from_slice(&32u32.to_le_bytes());
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&IF_TSRESOL.to_le_bytes());
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[value, 0, 0, 0]);
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&32u32.to_le_bytes());
        shb.extend_from_slice(&idb);
        shb
    }

    #[test]
    fn pcapng_tsresol_nano_and_micro() {
        assert_eq!(pcapng_precision(&idb_with_tsresol(9)), Precision::Nano);
        assert_eq!(pcapng_precision(&idb_with_tsresol(6)), Precision::Micro);
    }

    #[test]
    fn pcapng_walk_survives_garbage() {
        let mut bytes = idb_with_tsresol(9);
        bytes.truncate(30);
        assert_eq!(pcapng_precision(&bytes), Precision::Micro);
        assert_eq!(
            pcapng_precision(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]),
            Precision::Micro
        );
    }
}
