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
    let outcomes: Vec<(u16, &str)> = a
        .flows
        .iter()
        .map(|f| (f.server_port, f.outcome.as_str()))
        .collect();
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
        .filter(|f| f.outcome.as_str() == "tls-alert")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].sni.as_deref(), Some("www.google-analytics.com"));

    let teams = common::analyze_one(&shared.join("corpus/teams.pcap"));
    let rejected: Vec<_> = teams
        .flows
        .iter()
        .filter(|f| f.outcome.as_str() == "rejected-icmp")
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
        .filter(|f| f.outcome.as_str() == "no-reply")
        .count();
    assert_eq!(unanswered, 9);
    assert!(teams
        .flows
        .iter()
        .filter(|f| f.outcome.as_str() == "no-reply")
        .all(|f| f.packets_s2c == 0));
}

#[test]
fn direction_from_internal_networks() {
    use o365flow::classify::{default_internal_networks, Direction};
    let nets = default_internal_networks();
    let ip = |s: &str| s.parse().unwrap();
    assert_eq!(
        Direction::of(ip("192.168.1.6"), ip("52.113.194.132"), &nets),
        Direction::Outbound
    );
    assert_eq!(
        Direction::of(ip("52.113.194.132"), ip("10.1.2.3"), &nets),
        Direction::Inbound
    );
    assert_eq!(
        Direction::of(ip("10.0.0.1"), ip("172.16.0.1"), &nets),
        Direction::Internal
    );
    assert_eq!(
        Direction::of(ip("fd00::1"), ip("2603:1063::1"), &nets),
        Direction::Outbound
    );
    assert_eq!(
        Direction::of(ip("8.8.8.8"), ip("1.1.1.1"), &nets),
        Direction::External
    );

    // The flag replaces the defaults: loopback captures are internal when told so.
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("f.jsonl");
    let out = common::o365flow_command()
        .args(["analyze", "-q", "--internal", "127.0.0.0/8,10.0.0.0/8"])
        .arg(common::samples_dir().join("local-sll2-o365-tls.pcap"))
        .arg("--flows")
        .arg(&flows)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&flows).unwrap();
    assert_eq!(
        text.matches("\"direction\":\"internal\"").count(),
        4,
        "{text}"
    );
    let a = common::analyze_one(&common::samples_dir().join("teams.pcap"));
    let teams = a
        .flows
        .iter()
        .find(|f| f.sni.as_deref() == Some("teams.microsoft.com"))
        .unwrap();
    assert_eq!(teams.direction.as_str(), "outbound");
}
