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

use common::audit::{analyze_out, finding, finding_kinds, sample, summary};

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
