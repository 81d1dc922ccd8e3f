#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::ja4::Ja4Memo;
use o365flow::wire::tls::{parse_client_hello, probe_client_hello};

fuzz_target!(|data: &[u8]| {
    let mut scratch = Vec::new();
    let mut memo = Ja4Memo::default();
    let first = probe_client_hello(data, &mut scratch, 16 * 1024, &mut memo);
    assert!(scratch.len() <= data.len());
    // A remembered fingerprint is the one computed afresh.
    assert_eq!(
        probe_client_hello(data, &mut scratch, 16 * 1024, &mut memo),
        first
    );
    let _ = parse_client_hello(data);
});
