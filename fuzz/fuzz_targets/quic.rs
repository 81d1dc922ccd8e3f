//! QUIC Initial parsing: long headers, key derivation from the packet's own DCID, header
//! protection removal and AEAD (fails cleanly on forged input), CRYPTO frames of any plaintext,
//! gQUIC version tags and CHLO tag tables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::quic::{
    chlo_server_name, crypto_frames, decrypt_initial, gquic_version, parse_long_header,
    InitialKeys, QuicVersion,
};

const VERSIONS: [u32; 5] = [0x0000_0001, 0x6b33_43cf, 0xff00_001d, 0x5430_3531, 0x5130_3530];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let mut scratch = Vec::new();
            if let Some(header) = parse_long_header(rest) {
                assert!(header.end <= rest.len());
                if let Some(keys) = InitialKeys::client(header.version, header.dcid) {
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
