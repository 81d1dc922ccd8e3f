#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::media::{channel_data, dtls, media_packet, rtp_or_rtcp, stun};

fuzz_target!(|data: &[u8]| {
    let _ = media_packet(data);
    let _ = stun(data);
    if let Some(inner) = channel_data(data) {
        assert!(inner.len() <= data.len());
    }
    let _ = rtp_or_rtcp(data);
    let _ = dtls(data);
});
