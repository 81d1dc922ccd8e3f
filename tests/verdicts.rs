//! Issue 17's verdicts on real captures: the endpoint set that lists the flow's port wins, a
//! proxied flow is judged on its target, QUIC that never gets through, QUIC Initials of a
//! reserved version. Each sample is described in samples/PROVENANCE.md (`verdicts/`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use o365flow::classify::FlowPath;
use o365flow::report::FlowRow;

fn sample_rows(sample: &str) -> Vec<FlowRow> {
    common::analyze_one(&common::samples_dir().join(sample)).flows
}

/// (server ip:port, endpoint set, category, matched_by, port_listed, port_verdict, path).
type Verdict = (
    String,
    Option<u32>,
    String,
    String,
    Option<bool>,
    String,
    FlowPath,
);

fn verdict(r: &FlowRow) -> Verdict {
    (
        format!("{}/{}:{}", r.transport.as_str(), r.server_ip, r.server_port),
        r.endpoint_id.map(|e| e.0),
        r.category.map(|c| c.as_str()).unwrap_or("").to_owned(),
        r.matched_by.map(|m| m.as_str()).unwrap_or("").to_owned(),
        r.port_listed,
        r.port_verdict.as_str().to_owned(),
        r.path,
    )
}

fn v(
    server: &str,
    set: Option<u32>,
    category: &str,
    by: &str,
    listed: Option<bool>,
    port_verdict: &str,
    path: FlowPath,
) -> Verdict {
    (
        server.to_owned(),
        set,
        category.to_owned(),
        by.to_owned(),
        listed,
        port_verdict.to_owned(),
        path,
    )
}

use FlowPath::{Direct, Proxy};

/// A TLS tunnel through the proxy at `proxy` to a target 443 judged as set `set` (by its SNI),
/// with the name or target it is told apart by.
fn tunneled(
    proxy: &str,
    set: Option<u32>,
    category: &str,
    name: &str,
) -> (Verdict, Option<String>) {
    (
        v(
            proxy,
            set,
            category,
            if set.is_some() { "sni" } else { "" },
            set.map(|_| true),
            "tunneled-443",
            Proxy,
        ),
        Some(name.to_owned()),
    )
}

#[test]
fn teams_media_after_a_dns_answer_gets_the_set_that_lists_its_port() {
    let rows = sample_rows("teams.pcap");
    let pick = |client_port: u16, server: &str| {
        rows.iter()
            .find(|r| r.client_port == client_port && r.server_ip.to_string() == server)
            .unwrap_or_else(|| panic!("{client_port} -> {server}"))
    };
    for (client_port, server, name) in [
        (
            51681,
            "52.114.77.136",
            "api.flightproxy.teams.microsoft.com",
        ),
        (50016, "52.114.250.123", "euaz.tr.teams.microsoft.com"),
        (50036, "52.114.250.123", "euaz.tr.teams.microsoft.com"),
    ] {
        let r = pick(client_port, server);
        assert_eq!(
            verdict(r),
            v(
                &format!("udp/{server}:3478"),
                Some(11),
                "Optimize",
                "ip",
                Some(true),
                "exotic",
                Direct
            )
        );
        assert_eq!(r.dns_name.as_deref(), Some(name));
        assert_eq!(
            r.evidence,
            [
                "ip:52.112.0.0/14#11",
                "dns:*.teams.microsoft.com#12 (udp/3478 not listed)"
            ]
        );
    }
}

#[test]
fn connect_tunnels_are_judged_on_their_target() {
    let rows = sample_rows("clients/proxy-user-agents.pcap");
    let got: Vec<(Verdict, Option<String>)> = rows
        .iter()
        .map(|r| (verdict(r), r.proxy_target.clone()))
        .collect();
    let proxy = |set, category, target| tunneled("tcp/192.0.2.2:3128", set, category, target);
    assert_eq!(
        got,
        [
            proxy(Some(12), "Allow", "teams.microsoft.com:443"),
            proxy(Some(12), "Allow", "teams.microsoft.com:443"),
            proxy(Some(1), "Optimize", "outlook.office365.com:443"),
            proxy(Some(1), "Optimize", "outlook.office365.com:443"),
            proxy(Some(1), "Optimize", "outlook.office.com:443"),
            proxy(Some(31), "Optimize", "contoso-my.sharepoint.com:443"),
            proxy(Some(147), "Default", "www.office.com:443"),
            // Outlook.com is a consumer service: no endpoint set lists it.
            proxy(None, "", "outlook.live.com:443"),
        ]
    );
}

#[test]
fn locally_made_verdict_samples() {
    // DNS answers for Teams relay names, then STUN to UDP 3478-3481 of the answered addresses.
    let rows = sample_rows("verdicts/teams-media-dns.pcap");
    assert_eq!(rows.len(), 10);
    let dns: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.server_port == 53)
        .map(|r| (r.dns_query.as_deref().unwrap(), r.port_verdict.as_str()))
        .collect();
    assert_eq!(
        dns,
        [
            ("euaz.tr.teams.microsoft.com", "exotic"),
            ("api.flightproxy.teams.microsoft.com", "exotic")
        ]
    );
    let mut media = Vec::new();
    for (server, name) in [
        ("52.113.194.132", "euaz.tr.teams.microsoft.com"),
        ("52.115.10.20", "api.flightproxy.teams.microsoft.com"),
    ] {
        for port in 3478..=3481 {
            media.push((
                v(
                    &format!("udp/{server}:{port}"),
                    Some(11),
                    "Optimize",
                    "ip",
                    Some(true),
                    "exotic",
                    Direct,
                ),
                Some(name.to_owned()),
                format!("dns:*.teams.microsoft.com#12 (udp/{port} not listed)"),
            ));
        }
    }
    let got: Vec<_> = rows
        .iter()
        .filter(|r| r.server_port != 53)
        .map(|r| (verdict(r), r.dns_name.clone(), r.evidence[1].clone()))
        .collect();
    assert_eq!(got, media);

    // A company proxy on 10.20.0.3:3128: TLS to Exchange, SharePoint, Teams and another name.
    let rows = sample_rows("verdicts/proxy-connect.pcap");
    let got: Vec<(Verdict, Option<String>)> =
        rows.iter().map(|r| (verdict(r), r.sni.clone())).collect();
    let through = |set, category, name| tunneled("tcp/10.20.0.3:3128", set, category, name);
    assert_eq!(
        got,
        [
            through(Some(1), "Optimize", "outlook.office365.com"),
            through(Some(31), "Optimize", "contoso.sharepoint.com"),
            through(Some(12), "Allow", "teams.microsoft.com"),
            through(None, "", "www.example.org"),
        ]
    );

    // A CONNECT to IMAP over TLS (993): exotic, and Microsoft lists 993 for Exchange (set 2).
    let rows = sample_rows("verdicts/proxy-connect-imap.pcap");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        verdict(&rows[0]),
        v(
            "tcp/10.20.0.3:3128",
            Some(2),
            "Allow",
            "sni",
            Some(true),
            "exotic",
            Proxy
        )
    );
    assert_eq!(
        rows[0].evidence,
        [
            "sni:outlook.office365.com#2",
            "sni:outlook.office365.com#1 (tcp/993 not listed)",
            "http-host:outlook.office365.com#2"
        ]
    );

    // A QUIC Initial with the reserved version 0x1a2a3a4a, protected with v1's keys: the name
    // is read (tshark 4.0 reads none here), the version recorded as sent.
    let rows = sample_rows("verdicts/quic-reserved-version.pcap");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].sni.as_deref(),
            rows[0].quic_version.as_deref(),
            rows[0].alpn.as_slice()
        ),
        (
            Some("teams.microsoft.com"),
            Some("0x1a2a3a4a"),
            &["h3".to_owned()][..]
        )
    );
    assert_eq!(
        verdict(&rows[0]),
        v(
            "udp/52.113.194.20:443",
            Some(12),
            "Allow",
            "quic-sni",
            Some(true),
            "quic-443",
            Direct
        )
    );
}

fn report_of(inputs: &[PathBuf]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    common::analyze_out(inputs, dir.path(), &[]);
    serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap()
}

fn finding<'a>(summary: &'a serde_json::Value, kind: &str) -> Option<&'a serde_json::Value> {
    summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
}

#[test]
fn quic_blocked_is_found_where_it_happens_and_only_there() {
    let blocked = report_of(&[common::samples_dir().join("verdicts/quic-blocked-fallback.pcap")]);
    let f = finding(&blocked, "quic-blocked").expect("quic-blocked finding");
    assert_eq!(f["flows"], 1);
    assert_eq!(f["severity"], "warning");
    assert_eq!(
        f["evidence"],
        serde_json::json!([
            "teams.microsoft.com (endpoint set #12): 1 unanswered QUIC flows from 1 clients (10.20.0.70), then TCP 443"
        ])
    );
    assert_eq!(
        f["action"],
        "Allow UDP 443 to endpoint sets 12 (Microsoft lists it), or accept the slower TCP path knowingly."
    );
    // QUIC that works, the reserved-version handshake that completes, and the example report's
    // captures: no finding.
    for quiet in [
        vec![common::samples_dir().join("verdicts/quic-ok.pcap")],
        vec![common::samples_dir().join("verdicts/quic-reserved-version.pcap")],
        vec![common::samples_dir().join("dlt_ppp.pcap")],
    ] {
        assert!(
            finding(&report_of(&quiet), "quic-blocked").is_none(),
            "{quiet:?}"
        );
    }
    let committed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/samples/summary.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(finding(&committed, "quic-blocked").is_none());
}

#[test]
fn the_proxy_port_is_never_an_office_365_port() {
    let summary = report_of(&[
        common::samples_dir().join("verdicts/proxy-connect.pcap"),
        common::samples_dir().join("verdicts/proxy-connect-imap.pcap"),
    ]);
    assert_eq!(
        common::summary_rows(&summary, "ports"),
        [
            ["Exchange", "tcp/443", "yes", "1", "8978", "1"],
            ["Exchange", "tcp/993", "yes", "1", "3464", "1"],
            ["SharePoint", "tcp/443", "yes", "1", "8781", "1"],
            ["Skype", "tcp/443", "yes", "1", "8773", "1"],
        ]
    );
    assert_eq!(
        common::summary_rows(&summary, "paths"),
        [
            [
                "Exchange",
                "Allow",
                "proxy 10.20.0.3:3128",
                "1",
                "3464",
                "1"
            ],
            [
                "Exchange",
                "Optimize",
                "proxy 10.20.0.3:3128",
                "1",
                "8978",
                "1"
            ],
            [
                "SharePoint",
                "Optimize",
                "proxy 10.20.0.3:3128",
                "1",
                "8781",
                "1"
            ],
            ["Skype", "Allow", "proxy 10.20.0.3:3128", "1", "8773", "1"],
        ]
    );
    let f = finding(&summary, "optimize-via-proxy").expect("optimize-via-proxy");
    assert_eq!(
        f["evidence"],
        serde_json::json!([
            "Exchange outlook.office365.com through the proxy 10.20.0.3:3128: 1 flows, 8978 bytes",
            "SharePoint contoso.sharepoint.com through the proxy 10.20.0.3:3128: 1 flows, 8781 bytes"
        ])
    );
    let exotic = finding(&summary, "exotic-ports").expect("exotic-ports");
    assert_eq!(
        exotic["evidence"],
        serde_json::json!([
            "Exchange tcp/993 outlook.office365.com (Microsoft lists this port): 1 flows, 3464 bytes"
        ])
    );
    // The example report of scripts/demo (proxy-user-agents.pcap through 192.0.2.2:3128).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "reports/samples/report.md",
        "reports/samples/summary.json",
        "reports/samples/firewall-rules.csv",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(!text.contains("tcp/3128"), "{file} names tcp/3128");
    }
    let committed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("reports/samples/summary.json")).unwrap())
            .unwrap();
    let proxied: Vec<Vec<String>> = common::summary_rows(&committed, "paths")
        .into_iter()
        .filter(|r| r[2] != "direct")
        .collect();
    assert_eq!(
        proxied,
        [
            [
                "Common",
                "Default",
                "proxy 192.0.2.2:3128",
                "1",
                "9391",
                "1"
            ],
            [
                "Exchange",
                "Optimize",
                "proxy 192.0.2.2:3128",
                "3",
                "28677",
                "1"
            ],
            [
                "SharePoint",
                "Optimize",
                "proxy 192.0.2.2:3128",
                "1",
                "9488",
                "1"
            ],
            ["Skype", "Allow", "proxy 192.0.2.2:3128", "2", "19608", "1"],
        ]
    );
}
