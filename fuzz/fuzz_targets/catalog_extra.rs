//! `--catalog-extra` files (TOML): any text either loads or is refused with an error, and the
//! entries that load answer lookups by name and address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::catalog::Catalog;
use o365flow::wire::Transport;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(catalog) = Catalog::from_user_toml_text(text, "fuzz") else {
        return;
    };
    for name in ["adfs.contoso.com", "a.b.c", "", ".", "*", "proxy.example"] {
        for (transport, port) in [
            (Transport::Tcp, 443),
            (Transport::Udp, 3478),
            (Transport::Tcp, 0),
        ] {
            if let Some(m) = catalog.match_name(name, transport, port) {
                // User entries are numbered from 1000000 in file order.
                assert!(m.set.id.0 >= 1_000_000, "{}", m.set.id);
            }
        }
    }
    for addr in ["198.51.100.10", "10.0.0.1", "2001:db8::1", "::"] {
        let _ = catalog.match_addr(addr.parse().unwrap(), Transport::Tcp, 443);
    }
});
