//! DNS messages: compression loops, oversize counts and truncated records must end cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::dns::{parse, MAX_ANSWERS};

fuzz_target!(|data: &[u8]| {
    if let Some(msg) = parse(data) {
        assert!(msg.addresses.len() <= MAX_ANSWERS);
        assert!(msg.query.len() <= 256);
    }
});
