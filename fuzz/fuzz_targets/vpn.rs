#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::vpn::recognise;

fuzz_target!(|data: &[u8]| {
    let _ = recognise(data, true);
    let _ = recognise(data, false);
});
