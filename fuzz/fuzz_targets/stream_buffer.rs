//! Segments (4-byte sequence number, 1-byte length, bytes) pushed into a bounded stream buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::flow::StreamBuffer;

const LIMIT: usize = 512;

fuzz_target!(|data: &[u8]| {
    let mut buf = StreamBuffer::new(LIMIT);
    let mut rest = data;
    if let Some((&b, r)) = rest.split_first() {
        if b & 1 == 1 && r.len() >= 4 {
            buf.start_after_syn(u32::from_le_bytes([r[0], r[1], r[2], r[3]]));
        }
        rest = r;
    }
    while rest.len() >= 5 {
        let seq = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = usize::from(rest[4]);
        let body = &rest[5..];
        let seg = &body[..len.min(body.len())];
        let _ = buf.push(seq, seg);
        assert!(buf.contiguous().len() <= LIMIT);
        assert!(buf.held() <= LIMIT * 17);
        rest = &body[seg.len()..];
    }
});
