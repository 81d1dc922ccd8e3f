//! QUIC Initial parsing: long headers (read as their own version, or an unknown version as each
//! known one), key derivation from the packet's own DCID, header protection removal and AEAD
//! (fails cleanly on forged input), CRYPTO frames of any plaintext, gQUIC version tags and CHLO
//! tag tables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::quic::{
    chlo_server_name, crypto_frames, decrypt_initial, gquic_version, initial_headers,
    parse_long_header, InitialKeys, QuicVersion,
};

const VERSIONS: [u32; 5] = [
    0x0000_0001,
    0x6b33_43cf,
    0xff00_001d,
    0x5430_3531,
    0x5130_3530,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let mut scratch = Vec::new();
            if let Some(header) = parse_long_header(rest) {
                assert!(header.end <= rest.len());
            }
            // Bounded: its own version, or the five known versions an unknown one may borrow.
            assert!(initial_headers(rest).count() <= 5);
            for header in initial_headers(rest) {
                assert!(header.end <= rest.len() && header.is_initial());
                if let Some(keys) = InitialKeys::client(header.keyed_as, header.dcid) {
                    if let Some(range) = decrypt_initial(rest, &header, &keys, &mut scratch) {
                        assert!(range.end <= scratch.len());
                    }
                }
            }
            let _ = gquic_version(rest);
        }
        1 => {
            let version = QuicVersion(VERSIONS[usize::from(mode / 3) % VERSIONS.len()]);
            for (_, frame) in crypto_frames(rest, version) {
                assert!(frame.len() <= rest.len());
            }
        }
        _ => {
            let _ = chlo_server_name(rest);
        }
    }
});
