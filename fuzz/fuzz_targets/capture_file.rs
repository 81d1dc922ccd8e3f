#![no_main]
//! A whole capture file from arbitrary bytes, read by the native reader and by libpcap: both
//! must hand out the same packets and stop at the same packet, and neither may panic.

use libfuzzer_sys::fuzz_target;
use o365flow::capture::file::{DigestMode, ReaderChoice};
use o365flow::capture::FileSource;

type Packets = (Vec<(u64, i64, u32, Vec<u8>)>, Option<u64>);

fn read(path: &std::path::Path, choice: ReaderChoice) -> Option<Packets> {
    let mut source = FileSource::open_with(path, choice, DigestMode::Inline).ok()?;
    let mut packets = Vec::new();
    let mut failed_at = None;
    // Bounded: a fuzz input of a few KB holds at most a few hundred records.
    for _ in 0..10_000 {
        match source.next_packet() {
            Ok(Some(p)) => packets.push((p.number, p.ts.nanos(), p.wire_len, p.data.to_vec())),
            Ok(None) => break,
            Err(o365flow::capture::CaptureError::Packet { packet, .. }) => {
                failed_at = Some(packet);
                break;
            }
            Err(_) => break,
        }
    }
    let _ = source.finish_digest();
    Some((packets, failed_at))
}

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("o365flow-fuzz-{}.pcap", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let native = read(&path, ReaderChoice::Auto);
    let libpcap = read(&path, ReaderChoice::Libpcap);
    assert_eq!(native, libpcap);
});
