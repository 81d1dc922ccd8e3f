//! The audit report: findings on captures that trigger them and captures that do not, escaping of
//! hostile names, `report` over flow files equal to `analyze` over the captures, pseudonyms, and
//! the HTML rendered by a real browser.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn sample(name: &str) -> PathBuf {
    common::samples_dir().join(name)
}

/// Runs `analyze --out` over the inputs and returns the output directory.
fn analyze_out(inputs: &[PathBuf], extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = common::o365flow_command()
        .args(["analyze", "-q"])
        .args(inputs)
        .args(extra)
        .arg("--out")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.code().unwrap() <= 1, "analyze: {status}");
    dir
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn finding_kinds(dir: &Path) -> BTreeSet<String> {
    summary(dir)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn finding(dir: &Path, kind: &str) -> serde_json::Value {
    summary(dir)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} finding"))
}

/// Each finding type: (kind, a capture that triggers it, one that does not).
const FINDING_CASES: [(&str, &str, &str); 12] = [
    ("exotic-ports", "teams.pcap", "tls_2_reasms.pcapng"),
    ("media-fallback", "report/media-blocked.pcap", "teams.pcap"),
    ("non-tls-443", "report/plain-http-443.pcap", "teams.pcap"),
    (
        "optimize-via-proxy",
        "clients/proxy-user-agents.pcap",
        "teams.pcap",
    ),
    ("tls-inspection", "local-sll2-o365-tls.pcap", "teams.pcap"),
    (
        "blocked-required",
        "report/media-blocked.pcap",
        "teams.pcap",
    ),
    ("unlisted-microsoft", "teams.pcap", "tls_2_reasms.pcapng"),
    (
        "published-services",
        "clients/adfs-inbound.pcap",
        "teams.pcap",
    ),
    ("legacy-protocols", "protocols/pop3.pcap", "teams.pcap"),
    ("coverage", "teams.pcap", "clients/proxy-user-agents.pcap"),
    (
        "foreign-tenants",
        "report/tenants.pcap",
        "local-sll2-o365-tls.pcap",
    ),
    ("nat-pressure", "report/nat-pressure.pcap", "teams.pcap"),
];

#[test]
fn every_finding_type_triggers_and_stays_quiet() {
    for (kind, yes, no) in FINDING_CASES {
        let dir = analyze_out(&[sample(yes)], &[]);
        assert!(
            finding_kinds(dir.path()).contains(kind),
            "{kind} not found in {yes}"
        );
        let dir = analyze_out(&[sample(no)], &[]);
        assert!(
            !finding_kinds(dir.path()).contains(kind),
            "{kind} found in {no}"
        );
    }
}

#[test]
fn findings_carry_their_evidence() {
    let dir = analyze_out(&[sample("report/media-blocked.pcap")], &[]);
    let f = finding(dir.path(), "media-fallback");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["flows"], 1);
    assert_eq!(
        f["evidence"][0].as_str().unwrap(),
        "client 10.1.1.10 to udp/3478 (no-reply; the same client reaches Teams on tcp/443): 1 flows, 186 bytes"
    );
    let f = finding(dir.path(), "blocked-required");
    assert_eq!(f["severity"], "high");
    let evidence: Vec<&str> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        evidence,
        [
            "Exchange set 1 (address only) tcp/443: no-reply: 1 flows, 222 bytes",
            "Skype set 11 (address only) udp/3478: no-reply: 1 flows, 186 bytes"
        ]
    );

    let dir = analyze_out(&[sample("local-sll2-o365-tls.pcap")], &[]);
    let f = finding(dir.path(), "tls-inspection");
    assert_eq!(f["severity"], "high");
    assert!(f["evidence"][0]
        .as_str()
        .unwrap()
        .starts_with("outlook.office365.com certificate issued by \"CN=localhost\""));

    let dir = analyze_out(&[sample("teams.pcap")], &[]);
    let f = finding(dir.path(), "unlisted-microsoft");
    let evidence = f["evidence"].to_string();
    for name in ["gate.hockeyapp.net", "api.microsoftstream.com"] {
        assert!(evidence.contains(name), "{evidence}");
    }
    let f = finding(dir.path(), "coverage");
    assert!(f["evidence"][0].as_str().unwrap().starts_with("Optimize: "));
}

#[test]
fn the_verdict_and_firewall_rules_of_the_teams_sample() {
    let dir = analyze_out(&[sample("teams.pcap")], &[]);
    let s = summary(dir.path());
    let skype: Vec<Vec<String>> = common::summary_rows(&s, "verdict")
        .into_iter()
        .filter(|r| r[0] == "Skype")
        .collect();
    // Skype (Teams) over TLS 443 and on its media ports.
    assert_eq!(skype.len(), 2, "{skype:?}");
    assert_eq!(skype[0][1], "tunneled-443");
    assert_eq!(skype[1][1], "exotic");
    let rules = std::fs::read_to_string(dir.path().join("firewall-rules.csv")).unwrap();
    let header = rules.lines().next().unwrap();
    assert!(header.starts_with("endpoint set,service area,category,required"));
    // Teams media (set 11) with its UDP ports and prefixes.
    let media = rules
        .lines()
        .find(|l| l.starts_with("11,"))
        .expect("set 11 in firewall-rules.csv");
    assert!(
        media.contains("\"3478,3479,3480,3481\"") && media.contains("52.112.0.0/14"),
        "{media}"
    );
    let optimize = std::fs::read_to_string(dir.path().join("firewall/optimize-ipv4.txt")).unwrap();
    assert!(optimize.lines().any(|l| l == "52.112.0.0/14"));
    let pac = std::fs::read_to_string(dir.path().join("firewall/proxy.pac")).unwrap();
    assert!(pac.contains("function FindProxyForURL") && pac.contains("\"*.teams.microsoft.com\","));
}

#[test]
fn hostile_names_are_escaped_everywhere() {
    let dir = analyze_out(&[sample("report/hostile-names.pcap")], &[]);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(!html.contains("<script>alert"), "raw script in HTML");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.office.com"));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(!md.contains("<script>"));
    let csv = std::fs::read_to_string(dir.path().join("flows.csv")).unwrap();
    assert!(
        csv.contains("'=cmd|' /C calc'!A0"),
        "formula not neutralised"
    );
    assert!(!csv.contains(",=cmd"));
    assert!(csv.contains("<script>alert(1)</script>.office.com"));
    let rules = std::fs::read_to_string(dir.path().join("firewall-rules.csv")).unwrap();
    for line in rules.lines() {
        for cell in line.split(',') {
            assert!(!cell.starts_with('='), "{line}");
        }
    }
}

#[test]
fn report_over_flow_files_equals_analyze_over_the_captures() {
    let a = sample("teams.pcap");
    let b = sample("clients/proxy-user-agents.pcap");
    let dir_a = analyze_out(std::slice::from_ref(&a), &[]);
    let dir_b = analyze_out(std::slice::from_ref(&b), &[]);
    let both = analyze_out(&[a, b], &[]);
    let merged = tempfile::tempdir().unwrap();
    let status = common::o365flow_command()
        .arg("report")
        .arg(dir_a.path().join("flows.parquet"))
        .arg(dir_b.path().join("flows.parquet"))
        .arg("--out")
        .arg(merged.path())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // report equals analyze over the same captures.
    common::assert_same_report(merged.path(), both.path());
    // The header came from the flow files' metadata: both captures with their digests.
    let s = summary(merged.path());
    let captures: Vec<&str> = s["meta"]["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(captures, ["teams.pcap", "proxy-user-agents.pcap"]);
    assert_eq!(
        s["meta"]["captures"][0]["sha256"].as_str().unwrap().len(),
        64
    );
}

/// The summary on top (issue 20): what was read, shares per port verdict and path, firewall
/// rules beyond TCP 80/443, findings by severity linking to their sections; the per-capture
/// provenance in the appendix after the findings, and still complete in summary.json.
#[test]
fn the_summary_comes_first_and_provenance_last() {
    let dir = analyze_out(
        &[
            sample("teams.pcap"),
            sample("clients/proxy-user-agents.pcap"),
        ],
        &["--partition", "site=paris"],
    );
    let s = summary(dir.path());
    let o = &s["overview"];
    assert_eq!(o["captures"], 2);
    assert_eq!(o["sites"], serde_json::json!(["paris"]));
    let verdicts: Vec<(String, i64, String, String)> = o["port_verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["key"].as_str().unwrap().to_owned(),
                v["flows"].as_i64().unwrap(),
                v["share_of_flows"].as_str().unwrap().to_owned(),
                v["share_of_bytes"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("tunneled-443", 39, "81.2%", "96.7%"),
        ("quic-443", 0, "0.0%", "0.0%"),
        ("web-80", 0, "0.0%", "0.0%"),
        ("exotic", 9, "18.8%", "3.3%"),
        ("non-tls-443", 0, "0.0%", "0.0%"),
    ]
    .map(|(k, f, sf, sb)| (k.to_owned(), f, sf.to_owned(), sb.to_owned()));
    assert_eq!(verdicts, expected);
    assert_eq!(o["paths"][0]["flows"], 41);
    assert_eq!(o["paths"][0]["share_of_bytes"], "89.8%");
    assert_eq!(o["paths"][1]["key"], "proxy");
    assert_eq!(o["paths"][1]["flows"], 7);
    assert_eq!(o["paths"][1]["bytes"], 67164);
    assert_eq!(
        o["rules_beyond_web"],
        serde_json::json!([
            "Skype set 11 udp/3478",
            "Skype set 11 udp/3479",
            "Skype set 11 udp/3480"
        ])
    );
    let findings = s["findings"].as_array().unwrap();
    assert_eq!(o["findings"].as_array().unwrap().len(), findings.len());

    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let at = |needle: &str| {
        md.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    assert_eq!(at("## Summary"), "# Office 365 traffic audit\n\n".len());
    assert!(at("## Summary") < at("## Verdict"));
    assert!(at("## Findings") < at("## Appendix: run and provenance"));
    assert!(at("## Appendix: run and provenance") < at("### Captures read"));
    // Each finding: one line in the summary linking to its section.
    for f in findings {
        let kind = f["kind"].as_str().unwrap();
        let link = format!("](#finding-{kind})");
        assert!(at(&link) < at("## Verdict"), "{kind}");
        assert!(at(&format!("<a id=\"finding-{kind}\"></a>")) > at("## Findings"));
    }
    // The provenance table: every capture with its digest and counters, after the findings.
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for c in s["meta"]["captures"].as_array().unwrap() {
        let sha = c["sha256"].as_str().unwrap();
        assert!(md.find(sha).unwrap() > at("### Captures read"), "{sha}");
        assert!(html.find(sha).unwrap() > html.find("id=\"table-provenance\"").unwrap());
    }
    assert!(md.contains("| teams.pcap | 704179 | 596b1cb3d079a58ec83bc5c06372a0229a775d5996262331e87dee7e4444ef18 | ethernet | 1540 |"), "{md}");
    let summary_html =
        &html[html.find("id=\"summary\"").unwrap()..html.find("<h2>Verdict").unwrap()];
    assert!(summary_html.contains("href=\"#finding-exotic-ports\""));
}

/// Runs `report` over flow files with extra arguments into a new directory.
fn report_out(inputs: &[PathBuf], extra: &[&str]) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let status = common::o365flow_command()
        .arg("report")
        .args(inputs)
        .args(extra)
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.code().unwrap() <= 1, "report: {status}");
    out
}

/// Tenants (issue 20, item 2): samples/report/tenants.pcap (make-synthetic-report-samples.py)
/// reaches contoso from three clients, fabrikam and northwind from one each.
#[test]
fn tenants_and_traffic_to_other_organisations() {
    let tenants = sample("report/tenants.pcap");
    let dir = analyze_out(std::slice::from_ref(&tenants), &[]);
    let csv = common::read_csv(&dir.path().join("flows.csv"));
    let per_flow: Vec<(&str, &str)> = csv
        .iter()
        .map(|r| (r["sni"].as_str(), r["tenant"].as_str()))
        .collect();
    assert_eq!(
        per_flow,
        [
            ("contoso.sharepoint.com", "contoso"),
            ("contoso.sharepoint.com", "contoso"),
            ("contoso.sharepoint.com", "contoso"),
            ("contoso-my.sharepoint.com", "contoso"),
            ("fabrikam.sharepoint.com", "fabrikam"),
            ("fabrikam-my.sharepoint.com", "fabrikam"),
            ("autodiscover.northwind.onmicrosoft.com", "northwind"),
            ("outlook.office365.com", ""),
        ]
    );
    let s = summary(dir.path());
    assert_eq!(
        common::summary_rows(&s, "tenants"),
        [
            [
                "contoso",
                "presumed",
                "contoso-my.sharepoint.com contoso.sharepoint.com",
                "4",
                "7175",
                "3"
            ],
            [
                "fabrikam",
                "no",
                "fabrikam-my.sharepoint.com fabrikam.sharepoint.com",
                "2",
                "3591",
                "1"
            ],
            [
                "northwind",
                "no",
                "autodiscover.northwind.onmicrosoft.com",
                "1",
                "1809",
                "1"
            ],
        ]
    );
    assert_eq!(s["overview"]["tenants"]["how"], "presumed");
    assert_eq!(
        s["overview"]["tenants"]["tenants"],
        serde_json::json!(["contoso"])
    );
    let f = finding(dir.path(), "foreign-tenants");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["flows"], 3);
    assert_eq!(
        f["evidence"],
        serde_json::json!([
            "tenant fabrikam: names fabrikam-my.sharepoint.com fabrikam.sharepoint.com; clients 10.1.1.11: 2 flows, 3591 bytes",
            "tenant northwind: names autodiscover.northwind.onmicrosoft.com; clients 10.1.1.12: 1 flows, 1809 bytes"
        ])
    );
    let explanation = f["explanation"].as_str().unwrap();
    assert!(explanation.contains("contoso (the tenant with the most clients) is presumed"));
    assert!(f["action"]
        .as_str()
        .unwrap()
        .contains("Tenant Restrictions"));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("contoso (presumed the company"), "{md}");

    // Declared tenants: only northwind is foreign; `report --tenant` over the flow files of a
    // run without --tenant equals `analyze --tenant`, and a run's tenants travel in its flow file.
    let declared = [
        "--tenant",
        "contoso",
        "--tenant",
        "fabrikam.onmicrosoft.com",
    ];
    let dir2 = analyze_out(std::slice::from_ref(&tenants), &declared);
    let f = finding(dir2.path(), "foreign-tenants");
    assert_eq!(f["flows"], 1);
    assert!(f["explanation"]
        .as_str()
        .unwrap()
        .contains("declared with --tenant: contoso, fabrikam."));
    assert_eq!(
        common::summary_rows(&summary(dir2.path()), "tenants")
            .iter()
            .map(|r| r[1].as_str())
            .collect::<Vec<_>>(),
        ["declared", "declared", "no"]
    );
    let rebuilt = report_out(&[dir.path().join("flows.parquet")], &declared);
    common::assert_same_report(rebuilt.path(), dir2.path());
    let carried = report_out(&[dir2.path().join("flows.parquet")], &[]);
    common::assert_same_report(carried.path(), dir2.path());

    // A flow file without the column (schema 4): the report reads the tenant from the names.
    let (mut df, metas) =
        o365flow::report::out::read_flow_files(&[dir.path().join("flows.parquet")]).unwrap();
    df.drop_in_place("tenant").unwrap();
    let old = tempfile::tempdir().unwrap();
    let file = old.path().join("flows.parquet");
    o365flow::report::out::write_parquet(&df, &metas[0], &file).unwrap();
    let from_old = report_out(&[file], &[]);
    assert_eq!(
        common::summary_rows(&summary(from_old.path()), "tenants"),
        common::summary_rows(&s, "tenants")
    );

    // Quiet where one tenant is reached (the samples' contoso) and where none is.
    let dir = analyze_out(&[sample("local-sll2-o365-tls.pcap")], &[]);
    let s = summary(dir.path());
    assert_eq!(common::summary_rows(&s, "tenants").len(), 1);
    assert_eq!(s["tenants"]["rows"][0][0], "contoso");
    assert!(!finding_kinds(dir.path()).contains("foreign-tenants"));
    let s = summary(analyze_out(&[sample("teams.pcap")], &[]).path());
    assert!(common::summary_rows(&s, "tenants").is_empty());
    assert_eq!(s["overview"]["tenants"]["how"], "none");
    assert!(
        common::o365flow_command()
            .args(["analyze", "--tenant", "a.b"])
            .arg(&tenants)
            .output()
            .unwrap()
            .status
            .code()
            == Some(2)
    );
}

/// Name visibility (issue 20, item 3): samples/report/names.pcap (synthetic) has one Office 365
/// connection per way a name is read, hidden or missing; teams.pcap's Teams media carries no
/// name, which is all of its Optimize bytes: the coverage finding.
#[test]
fn names_read_hidden_or_missing() {
    let dir = analyze_out(&[sample("report/names.pcap")], &[]);
    let s = summary(dir.path());
    let rows = common::summary_rows(&s, "names");
    let expected = [
        ["Exchange", "read", "tls-sni", "1", "1792", "20.0%", "24.2%"],
        ["Exchange", "read", "http-host", "1", "520", "20.0%", "7.0%"],
        [
            "Exchange",
            "hidden",
            "before-capture",
            "1",
            "2626",
            "20.0%",
            "35.5%",
        ],
        ["Exchange", "hidden", "ech", "1", "2199", "20.0%", "29.7%"],
        [
            "Exchange",
            "address-only",
            "no-handshake",
            "1",
            "270",
            "20.0%",
            "3.6%",
        ],
        [
            "SharePoint",
            "hidden",
            "no-sni",
            "1",
            "1862",
            "50.0%",
            "82.9%",
        ],
        [
            "SharePoint",
            "hidden",
            "cut-handshake",
            "1",
            "384",
            "50.0%",
            "17.1%",
        ],
    ];
    assert_eq!(rows, expected.map(|r| r.map(str::to_owned)));
    // 270 of 9,653 Optimize bytes address only (2.8%): under 10%, no finding.
    assert!(!finding_kinds(dir.path()).contains("coverage"));

    let dir = analyze_out(&[sample("teams.pcap")], &[]);
    let s = summary(dir.path());
    assert_eq!(
        common::summary_rows(&s, "names"),
        [
            ["Common", "read", "tls-sni", "13", "334618", "100.0%", "100.0%"],
            ["MEM", "read", "tls-sni", "1", "10198", "100.0%", "100.0%"],
            ["Skype", "read", "tls-sni", "18", "223560", "66.7%", "91.2%"],
            [
                "Skype",
                "address-only",
                "no-name-in-protocol",
                "9",
                "21670",
                "33.3%",
                "8.8%"
            ],
        ]
        .map(|r| r.map(str::to_owned))
    );
    let f = finding(dir.path(), "coverage");
    assert_eq!(f["flows"], 9);
    assert_eq!(
        f["evidence"][0],
        "Optimize: 21670 of 21670 bytes (100.0%) and 9 of 9 flows address only"
    );
    assert_eq!(
        f["evidence"][1],
        "Skype Optimize to 52.114.77.136 udp/3478: 1 flows, 13745 bytes"
    );
    assert!(f["explanation"].as_str().unwrap().contains("weaker"));
}

/// A raw-IPv4 TCP segment (no options, checksums left 0: the analyzer does not check them).
fn tcp_segment(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, seq: u32, flags: u8) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    p
}

/// `n` connections from 203.0.113.5 to 52.96.1.10:443 (Exchange Online), one SYN every 100 us,
/// each answered and reset by the client 60 s after its SYN: the layout of
/// `samples/make-synthetic-report-samples.py nat-ports N OUT`.
fn nat_ports_capture(n: u32, path: &Path) {
    let (client, server) = ([203, 0, 113, 5], [52, 96, 1, 10]);
    let base: u32 = 1_764_000_000;
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let record = |out: &mut Vec<u8>, us: u64, data: &[u8]| {
        let (secs, frac) = (base + (us / 1_000_000) as u32, (us % 1_000_000) as u32);
        let len = data.len() as u32;
        out.extend(common::pcap_record(secs, frac, len, len, data));
    };
    for i in 0..n {
        let (t, sport) = (u64::from(i) * 100, 1024 + i as u16);
        let seq = u32::from(sport) << 16;
        record(
            &mut out,
            t,
            &tcp_segment(client, sport, server, 443, seq, 0x02),
        );
        record(
            &mut out,
            t + 1000,
            &tcp_segment(server, 443, client, sport, 7, 0x12),
        );
    }
    for i in 0..n {
        let (t, sport) = (u64::from(i) * 100 + 60_000_000, 1024 + i as u16);
        let seq = (u32::from(sport) << 16) + 1;
        record(
            &mut out,
            t,
            &tcp_segment(client, sport, server, 443, seq, 0x04),
        );
    }
    std::fs::write(path, out).unwrap();
}

/// Connection pressure (issue 20, item 4): samples/report/nat-pressure.pcap (4,100 connections
/// from one address to 41 Exchange addresses) crosses the 4,000 limit and not the port limit;
/// 33,000 connections to one address and port take 51.2% of the 64,512 ports and cross both.
#[test]
fn nat_and_connection_pressure() {
    let dir = analyze_out(&[sample("report/nat-pressure.pcap")], &[]);
    let s = summary(dir.path());
    assert_eq!(
        common::summary_rows(&s, "connections"),
        [[
            "203.0.113.5",
            "4100",
            "4100",
            "2025-11-24T16:00:00.409900Z",
            "52.96.2.10:443",
            "100",
            "2025-11-24T16:00:00.009900Z",
            "0.2%"
        ]]
    );
    let f = finding(dir.path(), "nat-pressure");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["flows"], 4100);
    assert_eq!(
        f["evidence"],
        serde_json::json!([
            "203.0.113.5 held 4100 Office 365 connections at once at 2025-11-24T16:00:00.409900Z (more than 4000)"
        ])
    );

    let work = tempfile::tempdir().unwrap();
    let capture = work.path().join("nat-ports.pcap");
    nat_ports_capture(33_000, &capture);
    let dir = analyze_out(&[capture], &[]);
    let s = summary(dir.path());
    assert_eq!(
        common::summary_rows(&s, "connections"),
        [[
            "203.0.113.5",
            "33000",
            "33000",
            "2025-11-24T16:00:03.299900Z",
            "52.96.1.10:443",
            "33000",
            "2025-11-24T16:00:03.299900Z",
            "51.2%"
        ]]
    );
    let f = finding(dir.path(), "nat-pressure");
    assert_eq!(f["flows"], 33000);
    assert_eq!(
        f["evidence"],
        serde_json::json!([
            "203.0.113.5 held 33000 connections to 52.96.1.10:443 at once at 2025-11-24T16:00:03.299900Z: 51.2% of the 64512 source ports a NAT address has towards one destination",
            "203.0.113.5 held 33000 Office 365 connections at once at 2025-11-24T16:00:03.299900Z (more than 4000)"
        ])
    );

    // Quiet on the samples: teams.pcap's client holds 8 Office 365 connections at most.
    let dir = analyze_out(&[sample("teams.pcap")], &[]);
    let s = summary(dir.path());
    assert!(!finding_kinds(dir.path()).contains("nat-pressure"));
    assert_eq!(
        common::summary_rows(&s, "connections"),
        [[
            "192.168.1.6",
            "32",
            "8",
            "2020-04-16T12:54:45.251950Z",
            "52.114.77.33:443",
            "2",
            "2020-04-16T12:54:37.042751Z",
            "0.0%"
        ]]
    );
}

/// Internal addresses of a capture as analyzed without pseudonyms.
fn internal_addresses(inputs: &[PathBuf]) -> BTreeSet<String> {
    let internal = o365flow::classify::default_internal_networks();
    let catalog = o365flow::catalog::Catalog::embedded().unwrap();
    let a = o365flow::analyze(inputs, &catalog, &o365flow::AnalysisConfig::default());
    a.flows
        .iter()
        .flat_map(|f| [f.client_ip, f.server_ip])
        .filter(|ip| internal.iter().any(|n| n.contains(ip)))
        .map(|ip| ip.to_string())
        .collect()
}

fn assert_no_address_in(dir: &Path, addresses: &BTreeSet<String>) {
    let mut files = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let text = if file.extension().is_some_and(|e| e == "parquet") {
            // Parquet pages are compressed: read the values back instead.
            let (df, _) =
                o365flow::report::out::read_flow_files(std::slice::from_ref(&file)).unwrap();
            format!("{df:?}")
                + &df
                    .columns()
                    .iter()
                    .filter_map(|c| c.cast(&polars_string()).ok())
                    .map(|c| format!("{:?}", c.str().unwrap().iter().collect::<Vec<_>>()))
                    .collect::<String>()
        } else {
            String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned()
        };
        for address in addresses {
            // Whole addresses only: "10.1.1.1" must not hide inside "10.1.1.10".
            let hit = text.match_indices(address.as_str()).any(|(at, _)| {
                let before = text[..at].chars().last();
                let after = text[at + address.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
                    && !after.is_some_and(|c| c.is_ascii_digit())
            });
            assert!(!hit, "{address} appears in {}", file.display());
        }
    }
}

fn polars_string() -> polars::prelude::DataType {
    polars::prelude::DataType::String
}

#[test]
fn pseudonymized_outputs_hold_no_internal_address() {
    let inputs = vec![
        sample("teams.pcap"),
        sample("clients/adfs-inbound.pcap"),
        sample("clients/proxy-user-agents.pcap"),
    ];
    let addresses = internal_addresses(&inputs);
    assert!(addresses.contains("192.168.1.6") && addresses.contains("10.20.0.5"));
    let dir = analyze_out(&inputs, &["--pseudonymize"]);
    assert_no_address_in(dir.path(), &addresses);
    assert_eq!(summary(dir.path())["meta"]["pseudonymized"], true);
    // One pseudonym per internal address, the same in every flow.
    let csv = common::read_csv(&dir.path().join("flows.csv"));
    let pseudonyms: BTreeSet<&str> = csv
        .iter()
        .flat_map(|r| [r["client_ip"].as_str(), r["server_ip"].as_str()])
        .filter(|a| a.starts_with("2001:db8:"))
        .collect();
    assert_eq!(pseudonyms.len(), addresses.len(), "{pseudonyms:?}");

    // `report --pseudonymize` over flow files written without pseudonyms.
    let plain = analyze_out(&inputs, &[]);
    let out = tempfile::tempdir().unwrap();
    let status = common::o365flow_command()
        .arg("report")
        .arg(plain.path().join("flows.parquet"))
        .arg("--pseudonymize")
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_no_address_in(out.path(), &addresses);
}

/// The HTML report in headless Chromium: it renders, its script runs without console errors,
/// and the verdict table and both charts are there.
#[test]
fn html_report_renders_in_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("SKIP html_report_renders_in_chromium: no chromium (scripts/test installs it)");
        return;
    };
    let dir = analyze_out(
        &[sample("teams.pcap"), sample("report/media-blocked.pcap")],
        &[],
    );
    let page = format!("file://{}", dir.path().join("report.html").display());
    let shot = dir.path().join("shot.png");
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,3000",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let out = std::process::Command::new(chromium)
        .args(base)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    let out = std::process::Command::new(chromium)
        .args(base)
        .arg("--dump-dom")
        .arg(&page)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    // The sorting script ran to its end.
    assert!(dom.contains("data-ready=\"1\""), "script did not finish");
    assert!(dom.contains("id=\"table-verdict\""));
    assert!(dom.contains("id=\"verdict-chart\"") && dom.contains("id=\"timeline-chart\""));
    assert!(dom.matches("<rect").count() > 10);
    // The answer first: at 1,400 px wide the summary ends inside the first 1,000 px, and the
    // provenance table (the appendix) comes after the last finding. Measured by the browser's
    // layout in a copy of the page with a script that writes the positions into the DOM.
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let measure = r#"<script>(function(){
  function y(e, edge){ var r = e.getBoundingClientRect(); return Math.round(r[edge] + window.scrollY); }
  var findings = document.querySelectorAll('div.finding');
  var b = document.body;
  b.setAttribute('data-summary-top', y(document.getElementById('summary'), 'top'));
  b.setAttribute('data-summary-bottom', y(document.getElementById('summary'), 'bottom'));
  b.setAttribute('data-findings-bottom', y(findings[findings.length - 1], 'bottom'));
  b.setAttribute('data-provenance-top', y(document.getElementById('table-provenance'), 'top'));
})();</script></body>"#;
    let measured = dir.path().join("measured.html");
    std::fs::write(&measured, html.replace("</body>", measure)).unwrap();
    let out = std::process::Command::new(chromium)
        .args(&base[..4])
        .args(["--window-size=1400,1000", "--dump-dom"])
        .arg(format!("file://{}", measured.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = |name: &str| -> i64 {
        let key = format!("data-{name}=\"");
        let from = dom
            .find(&key)
            .unwrap_or_else(|| panic!("no {key} in the DOM"))
            + key.len();
        dom[from..].split('"').next().unwrap().parse().unwrap()
    };
    let (top, bottom) = (at("summary-top"), at("summary-bottom"));
    assert!(top < 200 && bottom <= 1000, "summary at {top}..{bottom} px");
    assert!(
        at("provenance-top") > at("findings-bottom"),
        "provenance at {} px, last finding ends at {} px",
        at("provenance-top"),
        at("findings-bottom")
    );
    // A bad page does log: the check above can fail.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<html><body><script>undefinedFunction();</script></body></html>",
    )
    .unwrap();
    let out = std::process::Command::new(chromium)
        .args(base)
        .arg("--dump-dom")
        .arg(format!("file://{}", bad.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.lines()
            .any(|l| l.contains("CONSOLE") || l.contains("Uncaught")),
        "chromium did not report a console error: {log}"
    );
}
