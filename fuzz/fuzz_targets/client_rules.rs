//! `--client-rules` files (TOML, the format of src/classify/data/clients.toml): any text either
//! loads or is refused with an error, and the rules that load are evaluated on flows whose
//! names, User-Agent, JA4 and path come from the input too (after a NUL byte, one per line).
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::classify::client::{ClientFacts, ClientRules, IdentifyMemo};
use o365flow::classify::{Direction, MicrosoftStatus};
use o365flow::wire::Transport;

fuzz_target!(|data: &[u8]| {
    let (rules_part, facts_part) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(rules_part) else {
        return;
    };
    let Ok(rules) = ClientRules::parse(text, "fuzz") else {
        return;
    };
    let facts_text = String::from_utf8_lossy(facts_part);
    let mut fields = facts_text.split('\n');
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let (name, user_agent, ja4, path) = (next(), next(), next(), next());
    let names: Vec<&str> = name.into_iter().chain(["teams.microsoft.com"]).collect();
    let alpn = ["h2".to_owned()];
    let media = ["ms-attributes", "stun"];
    let mut memo = IdentifyMemo::default();
    for (transport, port, protocol, direction, microsoft) in [
        (
            Transport::Tcp,
            443,
            "tls",
            Direction::Outbound,
            MicrosoftStatus::Listed,
        ),
        (
            Transport::Udp,
            3478,
            "stun",
            Direction::Inbound,
            MicrosoftStatus::No,
        ),
        (
            Transport::Tcp,
            25,
            "smtp",
            Direction::Internal,
            MicrosoftStatus::Unlisted,
        ),
    ] {
        let facts = ClientFacts {
            transport,
            server_port: port,
            app_protocol: protocol,
            names: &names,
            ja4,
            alpn: &alpn,
            user_agent,
            http_path: path,
            media: &media,
            service_area: Some("Skype"),
            microsoft,
            client_microsoft: MicrosoftStatus::No,
            direction,
        };
        let identified = rules.identify(&facts);
        // The memo gives what the rules give, on a miss and on a hit.
        for _ in 0..2 {
            assert_eq!(rules.identify_remembered(&facts, &mut memo), identified);
        }
        if let Some(client) = identified.client {
            // The deciding rule comes first in the evidence.
            assert!(
                client
                    .evidence
                    .first()
                    .is_some_and(|e| e.starts_with("rule=")),
                "{:?}",
                client.evidence
            );
        }
    }
});
