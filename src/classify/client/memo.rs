//! Client identification remembered by its facts: the flows of one client build to one service
//! bring the same names, JA4, ALPN, User-Agent and ports, and trying every rule on each of them
//! was the largest part of making a row (7% of a thread's work on the bench capture).

use super::{ClientFacts, ClientRules, Identification};
use crate::wire::memo::BytesMemo;

/// Identifications by the facts they were made from, bounded like the other memos (it starts
/// over past 4,096 entries or 2 MiB of keys; facts longer than 4 KiB are never remembered).
#[derive(Clone, Debug)]
pub struct IdentifyMemo {
    /// The facts of the flow at hand, encoded; reused from flow to flow.
    key: Vec<u8>,
    known: BytesMemo<Identification>,
}

impl Default for IdentifyMemo {
    fn default() -> Self {
        IdentifyMemo {
            key: Vec::with_capacity(1024),
            known: BytesMemo::new(4096, 2 << 20, 4096),
        }
    }
}

impl IdentifyMemo {
    /// Entries remembered now.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

impl ClientRules {
    /// [`ClientRules::identify`], remembered: the same facts give the same identification.
    pub fn identify_remembered(
        &self,
        facts: &ClientFacts<'_>,
        memo: &mut IdentifyMemo,
    ) -> Identification {
        let IdentifyMemo { key, known } = memo;
        key.clear();
        encode(facts, key);
        known.get_or_compute(key, || self.identify(facts))
    }
}

/// Every fact a rule can read, each length-prefixed, so two different sets of facts never
/// encode alike.
fn encode(f: &ClientFacts<'_>, out: &mut Vec<u8>) {
    out.push(f.transport.ip_number());
    out.extend_from_slice(&f.server_port.to_be_bytes());
    text(out, f.app_protocol);
    list(out, f.names.iter().copied());
    optional(out, f.ja4);
    list(out, f.alpn.iter().map(String::as_str));
    optional(out, f.user_agent);
    optional(out, f.http_path);
    list(out, f.media.iter().copied());
    optional(out, f.service_area);
    text(out, f.microsoft.as_str());
    text(out, f.client_microsoft.as_str());
    text(out, f.direction.as_str());
}

fn text(out: &mut Vec<u8>, value: &str) {
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

fn optional(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => {
            out.push(1);
            text(out, value);
        }
        None => out.push(0),
    }
}

fn list<'a>(out: &mut Vec<u8>, values: impl ExactSizeIterator<Item = &'a str>) {
    let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    for value in values {
        text(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Direction, MicrosoftStatus};
    use crate::wire::Transport;

    fn facts<'a>(names: &'a [&'a str], user_agent: Option<&'a str>) -> ClientFacts<'a> {
        ClientFacts {
            transport: Transport::Tcp,
            server_port: 443,
            app_protocol: "tls",
            names,
            ja4: None,
            alpn: &[],
            user_agent,
            http_path: None,
            media: &[],
            service_area: None,
            microsoft: MicrosoftStatus::Listed,
            client_microsoft: MicrosoftStatus::No,
            direction: Direction::Outbound,
        }
    }

    #[test]
    fn remembered_identification_equals_a_fresh_one() {
        let rules = ClientRules::embedded().expect("embedded rules");
        let mut memo = IdentifyMemo::default();
        let cases = [
            facts(
                &["outlook.office365.com"],
                Some("Microsoft Office/16.0 (Outlook)"),
            ),
            facts(&["teams.microsoft.com"], Some("Mozilla/5.0 Teams/1.6")),
            facts(&["teams.microsoft.com"], None),
            facts(&["outlook.office365.com"], None),
            facts(&[], None),
        ];
        for round in 0..2 {
            for (i, f) in cases.iter().enumerate() {
                let fresh = rules.identify(f);
                assert_eq!(
                    rules.identify_remembered(f, &mut memo),
                    fresh,
                    "case {i} round {round}"
                );
            }
        }
        assert_eq!(memo.len(), cases.len());
        // At least one case names a client, so the memo is tested on a hit that carries one.
        assert!(cases.iter().any(|f| rules.identify(f).client.is_some()));
    }

    #[test]
    fn facts_that_differ_in_one_field_never_share_a_key() {
        let encode_of = |f: &ClientFacts<'_>| {
            let mut out = Vec::new();
            encode(f, &mut out);
            out
        };
        let base = facts(&["a.example", "b.example"], Some("ua"));
        let moved = facts(&["a.exampleb.example"], Some("ua"));
        let split = facts(&["a.example"], Some("b.exampleua"));
        assert_ne!(encode_of(&base), encode_of(&moved));
        assert_ne!(encode_of(&base), encode_of(&split));
        let mut inbound = facts(&["a.example", "b.example"], Some("ua"));
        inbound.direction = Direction::Inbound;
        assert_ne!(encode_of(&base), encode_of(&inbound));
    }
}
