//! Protocols the shared corpus lacks or barely has, on captures made with real software between
//! two network namespaces (samples/make-protocol-samples.sh): each is recognised by its payload.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use o365flow::report::FlowRow;

fn only_flow(file: &str) -> FlowRow {
    let analysis = common::analyze_one(&common::samples_dir().join("protocols").join(file));
    assert!(
        analysis.summary.warnings.is_empty(),
        "{file}: {:?}",
        analysis.summary.warnings
    );
    assert_eq!(analysis.flows.len(), 1, "{file}: {:#?}", analysis.flows);
    analysis.flows.into_iter().next().unwrap()
}

#[test]
fn wireguard_handshake() {
    let f = only_flow("wireguard.pcap");
    assert_eq!(
        (f.app_protocol.as_str(), f.detected_by),
        ("wireguard", Some("payload"))
    );
    assert_eq!((f.server_port, f.packets_c2s, f.packets_s2c), (51820, 2, 2));
}

#[test]
fn plain_smtp_and_pop3_sessions() {
    let smtp = only_flow("smtp.pcap");
    assert_eq!(
        (
            smtp.app_protocol.as_str(),
            smtp.server_port,
            smtp.port_verdict.as_str()
        ),
        ("smtp", 25, "exotic")
    );
    let pop3 = only_flow("pop3.pcap");
    assert_eq!(
        (pop3.app_protocol.as_str(), pop3.server_port),
        ("pop3", 110)
    );
    assert!(pop3.sni.is_none() && pop3.handshake_completed);
}

#[test]
fn sip_over_tls_to_skype_for_business_online() {
    let f = only_flow("sip-tls.pcap");
    assert_eq!((f.app_protocol.as_str(), f.server_port), ("tls", 5061));
    assert_eq!(f.sni.as_deref(), Some("sipdir.online.lync.com"));
    // *.lync.com is Teams/Skype set 12, which lists TCP 80/443 only: 5061 is not listed.
    assert_eq!(
        (f.endpoint_id.map(|e| e.0), f.port_listed),
        (Some(12), Some(false))
    );
    assert_eq!(f.tls_version.as_deref(), Some("1.3"));
}

#[test]
fn rtp_after_stun_on_the_same_five_tuple() {
    let f = only_flow("stun-rtp.pcap");
    assert_eq!((f.app_protocol.as_str(), f.server_port), ("stun", 3478));
    assert_eq!(f.media_seen, ["stun", "rtp"]);
    assert_eq!((f.packets_c2s, f.packets_s2c), (21, 21));
}

#[test]
fn ikev2_on_500_and_nat_traversal_4500() {
    let analysis = common::analyze_one(&common::samples_dir().join("protocols/ikev2.pcap"));
    let flows: Vec<(u16, &str, Option<&str>)> = analysis
        .flows
        .iter()
        .map(|f| (f.server_port, f.app_protocol.as_str(), f.detected_by))
        .collect();
    assert_eq!(
        flows,
        [
            (500, "ike", Some("payload")),
            (4500, "ike", Some("payload"))
        ]
    );
}
