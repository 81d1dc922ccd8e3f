//! Every encapsulation o365flow unwraps yields the same inner flow and server name as the
//! unwrapped traffic: samples/tunnels holds one real TLS connection (IPv4 and IPv6) captured on a
//! live VXLAN overlay between two network namespaces, and the same frames wrapped offline into
//! each other encapsulation (samples/make-tunnel-samples.sh).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use o365flow::report::FlowRow;

fn tls_flows(file: &str) -> Vec<FlowRow> {
    let path = common::samples_dir().join("tunnels").join(file);
    let analysis = common::analyze_one(&path);
    assert!(
        analysis.summary.warnings.is_empty(),
        "{file}: {:?}",
        analysis.summary.warnings
    );
    analysis
        .flows
        .into_iter()
        .filter(|f| f.sni.is_some())
        .collect()
}

#[test]
fn every_encapsulation_yields_the_plain_flow() {
    let plain4 = tls_flows("plain4.pcap");
    let plain6 = tls_flows("plain6.pcap");
    assert_eq!(plain4.len(), 1);
    assert_eq!(plain6.len(), 1);
    assert_eq!(plain4[0].sni.as_deref(), Some("outlook.office365.com"));
    let cases: [(&str, &str, bool); 16] = [
        ("vxlan.pcap", "vxlan:4789", true),
        ("gre.pcap", "gre", false),
        ("gretap.pcap", "gre", false),
        ("erspan-i.pcap", "erspan-i", false),
        ("erspan-ii.pcap", "erspan-ii", false),
        ("erspan-iii.pcap", "erspan-iii", false),
        ("geneve.pcap", "geneve:6081", false),
        ("capwap.pcap", "capwap:5247", false),
        ("gtp-u.pcap", "gtp-u:2152", false),
        ("teredo.pcap", "teredo:3544", false),
        ("ipip.pcap", "ipip", false),
        ("6in4.pcap", "6in4", false),
        ("4in6.pcap", "4in6", false),
        ("6in6.pcap", "6in6", false),
        ("mpls.pcap", "mpls", false),
        ("pppoe.pcap", "pppoe", false),
    ];
    for (file, tunnel, both_families) in cases {
        let flows = tls_flows(file);
        let expected: Vec<&FlowRow> = if both_families {
            vec![&plain4[0], &plain6[0]]
        } else if flows.first().is_some_and(|f| f.client_ip.is_ipv6()) {
            vec![&plain6[0]]
        } else {
            vec![&plain4[0]]
        };
        assert_eq!(flows.len(), expected.len(), "{file}");
        for (got, want) in flows.iter().zip(expected) {
            assert_eq!(common::five_tuple(got), common::five_tuple(want), "{file}");
            assert_eq!(got.sni, want.sni, "{file}");
            assert_eq!(got.ja4, want.ja4, "{file}");
            assert_eq!(
                (got.packets_c2s, got.packets_s2c),
                (want.packets_c2s, want.packets_s2c),
                "{file}"
            );
            assert_eq!(got.tunnel, tunnel, "{file}");
            assert_eq!(
                (
                    got.service_area.as_ref().map(|s| s.as_str()),
                    got.endpoint_id.map(|e| e.0)
                ),
                (Some("Exchange"), Some(1)),
                "{file}"
            );
        }
    }
}
