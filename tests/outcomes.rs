//! `outcome`: how each attempt ended, on real captures: a refused TCP connection (RST to the
//! SYN), a TLS handshake refused by a fatal alert, an ICMP port unreachable, unanswered UDP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[test]
fn local_capture_established_and_reset() {
    let a = common::analyze_one(&common::samples_dir().join("local-sll2-o365-tls.pcap"));
    let outcomes: Vec<(u16, &str)> = a.flows.iter().map(|f| (f.server_port, f.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (18443, "established"),
            (18443, "established"),
            (18444, "established"),
            (18449, "reset")
        ]
    );
}

#[test]
fn corpus_alert_unreachable_and_no_reply() {
    let Some(shared) = common::shared_dir("corpus_alert_unreachable_and_no_reply") else {
        return;
    };
    let alert = common::analyze_one(&shared.join("corpus/tls_alert.pcap"));
    let refused: Vec<_> = alert
        .flows
        .iter()
        .filter(|f| f.outcome == "tls-alert")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].sni.as_deref(), Some("www.google-analytics.com"));

    let teams = common::analyze_one(&shared.join("corpus/teams.pcap"));
    let rejected: Vec<_> = teams
        .flows
        .iter()
        .filter(|f| f.outcome == "rejected-icmp")
        .collect();
    // A peer-to-peer media candidate answered by ICMP port unreachable.
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].server_ip.to_string(), rejected[0].server_port),
        ("93.71.110.205".to_owned(), 16333)
    );
    let unanswered = teams
        .flows
        .iter()
        .filter(|f| f.outcome == "no-reply")
        .count();
    assert_eq!(unanswered, 9);
    assert!(teams
        .flows
        .iter()
        .filter(|f| f.outcome == "no-reply")
        .all(|f| f.packets_s2c == 0));
}
