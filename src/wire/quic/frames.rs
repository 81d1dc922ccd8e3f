//! Frames of a decrypted Initial: the CRYPTO frames (stream offset, data) that carry the
//! ClientHello, past PADDING, PING and ACK; Google's T05x/Q050 use gQUIC frame types instead.

use super::header::varint;
use super::version::QuicVersion;

/// The CRYPTO frames of a decrypted Initial payload of `version`, as (stream offset, data).
/// Stops quietly at the first frame type an Initial cannot carry or at malformed bytes.
pub fn crypto_frames(plain: &[u8], version: QuicVersion) -> CryptoFrames<'_> {
    let google = version.profile().is_some_and(|p| p.google_frames);
    CryptoFrames {
        plain,
        pos: 0,
        google,
    }
}

pub struct CryptoFrames<'a> {
    plain: &'a [u8],
    pos: usize,
    google: bool,
}

impl<'a> Iterator for CryptoFrames<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let kind = *self.plain.get(self.pos)?;
            self.pos += 1;
            if kind == 0x00 {
                // PADDING, in both: Initials are padded to 1200 bytes, often hundreds at once.
                self.pos += zero_run(self.plain.get(self.pos..).unwrap_or_default());
                continue;
            }
            if self.google {
                // gQUIC frames: only PADDING and CRYPTO (0x08, varint offset and length) are
                // read; anything else (gQUIC ACK 0x40.., STREAM 0x80..) ends the walk.
                match kind {
                    0x08 => return self.crypto_body(),
                    _ => return None,
                }
            }
            match kind {
                0x01 => {} // PING
                0x02 | 0x03 => {
                    // ACK: largest, delay, range count, first range, ranges, ECN counts.
                    let mut fields = 3;
                    let _largest = varint(self.plain, &mut self.pos)?;
                    let _delay = varint(self.plain, &mut self.pos)?;
                    let ranges = varint(self.plain, &mut self.pos)?;
                    fields += ranges.checked_mul(2)?;
                    if kind == 0x03 {
                        fields += 3;
                    }
                    for _ in 1..fields {
                        varint(self.plain, &mut self.pos)?;
                    }
                }
                0x06 => return self.crypto_body(),
                0x1c | 0x1d => {
                    let _code = varint(self.plain, &mut self.pos)?;
                    if kind == 0x1c {
                        let _frame = varint(self.plain, &mut self.pos)?;
                    }
                    let len = usize::try_from(varint(self.plain, &mut self.pos)?).ok()?;
                    self.pos = self.pos.checked_add(len)?;
                }
                _ => return None,
            }
        }
    }
}

/// Length of the run of zero bytes `bytes` starts with, eight bytes at a time.
pub(super) fn zero_run(bytes: &[u8]) -> usize {
    let words = bytes
        .chunks_exact(8)
        .take_while(|w| w.iter().fold(0u8, |acc, b| acc | b) == 0)
        .count();
    let rest = bytes.get(words * 8..).unwrap_or_default();
    words * 8 + rest.iter().take_while(|b| **b == 0).count()
}

impl<'a> CryptoFrames<'a> {
    /// Offset, length and data of a CRYPTO frame whose type byte was just read.
    fn crypto_body(&mut self) -> Option<(u64, &'a [u8])> {
        let offset = varint(self.plain, &mut self.pos)?;
        let len = usize::try_from(varint(self.plain, &mut self.pos)?).ok()?;
        let data = self.plain.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some((offset, data))
    }
}
