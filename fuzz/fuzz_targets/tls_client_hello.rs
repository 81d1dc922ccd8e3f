#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::ja4::Ja4Memo;
use o365flow::wire::tls::{
    parse_client_hello, probe_client_hello, probe_client_hello_resuming, Probe, ProbeProgress,
};

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
    // The stream as it grows, in steps of 1 to 7 bytes (the last byte picks: the first is
    // nearly always 0x16): the probe that resumes where the last one stopped answers as the
    // full one at every step.
    let mut progress = ProbeProgress::default();
    let step = data.last().map_or(1, |b| usize::from(b % 7) + 1);
    let mut end = 0;
    loop {
        end = (end + step).min(data.len());
        let prefix = &data[..end];
        let full = probe_client_hello(prefix, &mut scratch, 16 * 1024, &mut memo);
        let resumed =
            probe_client_hello_resuming(prefix, &mut scratch, 16 * 1024, &mut memo, &mut progress);
        assert_eq!(resumed, full);
        if full != Probe::NeedMore || end == data.len() {
            break;
        }
    }
    let _ = parse_client_hello(data);
});
