//! A bounded in-order view of the first bytes of one TCP direction, enough for a handshake.
//! Segments may arrive split, out of order or retransmitted; bytes past the limit are refused
//! and reported, never buffered.

/// At most this many out-of-order segments wait for the gap before them to fill.
const MAX_PENDING: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// The in-order prefix grew.
    Grew,
    /// Nothing new in order (old, duplicate or parked out-of-order data).
    Unchanged,
    /// The data lies beyond the limit or too many segments wait: the prefix cannot grow further.
    Overflow,
}

#[derive(Debug, Clone, Default)]
pub struct StreamBuffer {
    /// Sequence number of the first byte of `data`.
    base: Option<u32>,
    data: Vec<u8>,
    pending: Vec<(u32, Vec<u8>)>,
    limit: usize,
}

impl StreamBuffer {
    pub fn new(limit: usize) -> Self {
        StreamBuffer {
            limit,
            ..StreamBuffer::default()
        }
    }

    /// The stream starts right after the SYN's sequence number.
    pub fn start_after_syn(&mut self, syn_seq: u32) {
        if self.data.is_empty() && self.pending.is_empty() {
            self.base = Some(syn_seq.wrapping_add(1));
        }
    }

    /// The contiguous bytes from the start of the stream.
    pub fn contiguous(&self) -> &[u8] {
        &self.data
    }

    /// Bytes held, in order and parked.
    pub fn held(&self) -> usize {
        self.data.len() + self.pending.iter().map(|(_, d)| d.len()).sum::<usize>()
    }

    pub fn push(&mut self, seq: u32, bytes: &[u8]) -> Push {
        if bytes.is_empty() {
            return Push::Unchanged;
        }
        let base = *self.base.get_or_insert(seq);
        let Some((offset, bytes)) = relative(base, seq, bytes) else {
            return Push::Unchanged;
        };
        if offset > self.data.len() {
            if offset >= self.limit || self.pending.len() >= MAX_PENDING {
                return Push::Overflow;
            }
            // Parked bytes count against the limit too: sixteen overlapping segments of up to
            // the limit each would hold sixteen times what the handshake budget reserved.
            let room = self.limit.saturating_sub(self.held());
            let keep = bytes.len().min(self.limit - offset).min(room);
            if keep > 0 {
                self.pending
                    .push((seq, bytes.get(..keep).unwrap_or_default().to_vec()));
            }
            return Push::Unchanged;
        }
        let mut result = self.append_at(offset, bytes);
        // Parked segments that now touch the prefix join it.
        while let Some(i) = self
            .pending
            .iter()
            .position(|(s, d)| relative(base, *s, d).is_none_or(|(off, _)| off <= self.data.len()))
        {
            let (s, d) = self.pending.swap_remove(i);
            if let Some((off, rest)) = relative(base, s, &d) {
                if self.append_at(off, rest) == Push::Overflow {
                    result = Push::Overflow;
                }
            }
        }
        result
    }

    fn append_at(&mut self, offset: usize, bytes: &[u8]) -> Push {
        let skip = self.data.len().saturating_sub(offset);
        let Some(new) = bytes.get(skip..).filter(|b| !b.is_empty()) else {
            return Push::Unchanged;
        };
        let room = self.limit.saturating_sub(self.data.len());
        if room == 0 {
            return Push::Overflow;
        }
        let take = new.len().min(room);
        self.data
            .extend_from_slice(new.get(..take).unwrap_or_default());
        if take < new.len() {
            Push::Overflow
        } else {
            Push::Grew
        }
    }
}

/// Offset of `seq` from `base` with sequence wrap-around, trimming bytes before `base`.
/// `None` when the whole segment lies before the stream start.
fn relative(base: u32, seq: u32, bytes: &[u8]) -> Option<(usize, &[u8])> {
    let ahead = seq.wrapping_sub(base);
    if ahead < 1 << 31 {
        return Some((ahead as usize, bytes));
    }
    let behind = base.wrapping_sub(seq) as usize;
    let rest = bytes.get(behind..).filter(|r| !r.is_empty())?;
    Some((0, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut b = StreamBuffer::new(100);
        b.start_after_syn(u32::MAX - 2); // wraps
        let base = u32::MAX.wrapping_sub(1);
        assert_eq!(b.push(base.wrapping_add(5), b"fghij"), Push::Unchanged);
        assert_eq!(b.push(base, b"abc"), Push::Grew);
        assert_eq!(b.contiguous(), b"abc");
        assert_eq!(b.push(base.wrapping_add(2), b"cde"), Push::Grew);
        assert_eq!(b.contiguous(), b"abcdefghij");
        assert_eq!(b.push(base, b"abcdefghij"), Push::Unchanged);
        assert_eq!(b.push(base.wrapping_sub(3), b"xyzab"), Push::Unchanged);
    }

    #[test]
    fn limit_is_never_exceeded() {
        let mut b = StreamBuffer::new(8);
        assert_eq!(b.push(10, b"0123456789"), Push::Overflow);
        assert_eq!(b.contiguous(), b"01234567");
        assert_eq!(b.push(30, b"zz"), Push::Overflow);
        assert!(b.held() <= 8);
    }

    #[test]
    fn pending_segments_are_bounded() {
        let mut b = StreamBuffer::new(1 << 20);
        b.start_after_syn(0);
        for i in 0..MAX_PENDING as u32 {
            assert_eq!(b.push(100 + i * 10, b"x"), Push::Unchanged);
        }
        assert_eq!(b.push(5000, b"x"), Push::Overflow);
    }

    #[test]
    fn parked_bytes_count_against_the_limit() {
        // Sixteen overlapping out-of-order segments, each as long as the limit allows.
        let mut b = StreamBuffer::new(32_768);
        b.start_after_syn(0);
        let big = vec![7u8; 65_535];
        for i in 0..MAX_PENDING as u32 {
            assert_eq!(b.push(2 + i, &big), Push::Unchanged);
            assert!(b.held() <= 32_768, "{} held", b.held());
        }
        // The gap fills: what was parked joins, still within the limit.
        assert_eq!(b.push(1, b"a"), Push::Grew);
        assert!(b.contiguous().len() <= 32_768);
        assert!(b.held() <= 32_768);
    }
}
