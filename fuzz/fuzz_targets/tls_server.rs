//! The server's first TLS flight, certificates (x509) and the JA4 extension scanner.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::ja4::{ja4, scan_extensions, Ja4Input};
use o365flow::wire::tls_server::{probe_server_flight, CertificateMemo};

fuzz_target!(|data: &[u8]| {
    let mut scratch = Vec::new();
    let _ = probe_server_flight(data, &mut scratch, &mut CertificateMemo::default());
    let mut input = Ja4Input::default();
    scan_extensions(data, &mut input);
    assert!(input.extensions.len() <= data.len() / 4 + 1);
    let (fingerprint, _) = ja4('t', &input);
    assert_eq!(fingerprint.split('_').count(), 3);
});
