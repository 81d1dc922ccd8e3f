//! Catalog JSON and domain patterns: any text either loads or is refused with an error, and
//! every lookup on a loaded catalog answers without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::catalog::{Catalog, DomainPattern};
use o365flow::wire::Transport;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some((pattern, name)) = text.split_once('\n') {
        if let Ok(p) = DomainPattern::parse(pattern) {
            let _ = p.matches(name);
            let _ = p.specificity();
        }
    }
    if let Ok(catalog) = Catalog::from_json(text, "fuzz") {
        for name in ["outlook.office365.com", "a.b.c", "", ".", "*"] {
            let _ = catalog.match_name(name, Transport::Tcp, 443);
        }
        let _ = catalog.match_addr("52.96.1.1".parse().unwrap(), Transport::Udp, 3478);
        let _ = catalog.match_addr("2603:1063::1".parse().unwrap(), Transport::Tcp, 443);
    }
});
