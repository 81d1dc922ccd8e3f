#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::tls::{parse_client_hello, probe_client_hello};

fuzz_target!(|data: &[u8]| {
    let mut scratch = Vec::new();
    let _ = probe_client_hello(data, &mut scratch, 16 * 1024);
    assert!(scratch.len() <= data.len());
    let _ = parse_client_hello(data);
});
