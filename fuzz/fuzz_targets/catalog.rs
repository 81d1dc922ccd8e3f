//! Catalog JSON, domain patterns and client rules (TOML): any text either loads or is refused
//! with an error, and every lookup or rule evaluation on what loaded answers without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::catalog::{Catalog, DomainPattern};
use o365flow::classify::client::{ClientFacts, ClientRules};
use o365flow::classify::{Direction, MicrosoftStatus};
use o365flow::wire::Transport;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((pattern, name)) = text.split_once('\n') {
        if let Ok(p) = DomainPattern::parse(pattern) {
            let _ = p.matches(name);
            let _ = p.specificity();
        }
    }
    if let Ok(rules) = ClientRules::parse(text, "fuzz") {
        let alpn = ["h2".to_owned()];
        let media = ["ms-attributes"];
        let _ = rules.identify(&ClientFacts {
            transport: Transport::Tcp,
            server_port: 443,
            app_protocol: "tls",
            names: &["teams.microsoft.com", ""],
            ja4: Some("t13d1516h2_8daaf6152771_02713d6af862"),
            alpn: &alpn,
            user_agent: Some("Mozilla/5.0 Teams/1.6"),
            http_path: Some("/adfs/ls/"),
            media: &media,
            service_area: Some("Skype"),
            microsoft: MicrosoftStatus::Listed,
            client_microsoft: MicrosoftStatus::No,
            direction: Direction::Inbound,
        });
    }
    if let Ok(catalog) = Catalog::from_json(text, "fuzz") {
        for name in ["outlook.office365.com", "a.b.c", "", ".", "*"] {
            let _ = catalog.match_name(name, Transport::Tcp, 443);
        }
        let _ = catalog.match_addr("52.96.1.1".parse().unwrap(), Transport::Udp, 3478);
        let _ = catalog.match_addr("2603:1063::1".parse().unwrap(), Transport::Tcp, 443);
    }
});
