#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::capture::file::head_precision;

fuzz_target!(|data: &[u8]| {
    let _ = head_precision(data);
});
