//! Golden flow tables for the bundled samples, plus the multi-file and timestamp-precision rules.
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test golden` and
//! review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use o365flow::catalog::Catalog;
use o365flow::report::write_flows;
use o365flow::{analyze, AnalysisConfig};

fn golden_path(sample: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{sample}.csv"))
}

fn samples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(common::samples_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_sample_matches_its_golden_flow_table() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = tempfile::tempdir().unwrap();
    let mut stale = Vec::new();
    let names = samples();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let analysis = common::analyze_one(&common::samples_dir().join(&name));
        let out = dir.path().join(format!("{name}.csv"));
        write_flows(&analysis.flows, &out).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        let golden = golden_path(&name);
        if update {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(_) => stale.push(format!("{name}: output differs from {}", golden.display())),
            Err(_) => stale.push(format!("{name}: no golden file {}", golden.display())),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n(run UPDATE_GOLDEN=1 cargo test --test golden and review)",
        stale.join("\n")
    );
}

#[test]
fn office365_names_in_the_samples() {
    let a = common::analyze_one(&common::samples_dir().join("teams.pcap"));
    let find = |sni: &str| {
        a.flows
            .iter()
            .find(|f| f.sni.as_deref() == Some(sni))
            .unwrap()
    };
    let teams = find("teams.microsoft.com");
    assert_eq!(teams.service_area.as_ref().unwrap().as_str(), "Skype");
    assert_eq!(teams.endpoint_id.unwrap().0, 12);
    assert_eq!(teams.port_verdict.as_str(), "tunneled-443");
    let login = find("login.microsoftonline.com");
    assert_eq!(
        (
            login.service_area.as_ref().unwrap().as_str(),
            login.endpoint_id.unwrap().0
        ),
        ("Common", 56)
    );
    // Teams media to the relay prefix on UDP 3478-3481, classified by address.
    let media: Vec<_> = a
        .flows
        .iter()
        .filter(|f| f.endpoint_id.map(|e| e.0) == Some(11))
        .collect();
    assert!(!media.is_empty());
    assert!(media
        .iter()
        .all(|f| (3478..=3481).contains(&f.server_port) && f.port_verdict.as_str() == "exotic"));

    let local = common::analyze_one(&common::samples_dir().join("local-sll2-o365-tls.pcap"));
    let names: Vec<_> = local.flows.iter().filter_map(|f| f.sni.clone()).collect();
    assert_eq!(
        names,
        [
            "outlook.office365.com",
            "contoso.sharepoint.com",
            "teams.microsoft.com"
        ]
    );
    let outlook = &local.flows[0];
    assert_eq!(outlook.alpn, ["h2", "http/1.1"]);
    assert_eq!(
        (outlook.endpoint_id.unwrap().0, outlook.port_listed),
        (1, Some(false))
    );
    let refused = local.flows.last().unwrap();
    assert!(refused.server_answered && !refused.handshake_completed);
    assert_eq!(refused.tcp_flags_s2c, "AR");
}

/// Writes records [from, to) of a little-endian classic pcap into a new file.
fn split_pcap(src: &Path, dst: &Path, from: usize, to: usize) {
    let bytes = std::fs::read(src).unwrap();
    let mut out = bytes[..24].to_vec();
    let mut at = 24;
    let mut n = 0;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let end = at + 16 + caplen;
        if (from..to).contains(&n) {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
        n += 1;
    }
    std::fs::write(dst, out).unwrap();
}

#[test]
fn rotated_captures_are_one_analysis() {
    let src = common::samples_dir().join("teams.pcap");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("rot-1.pcap"), dir.path().join("rot-2.pcap"));
    split_pcap(&src, &a, 0, 700);
    split_pcap(&src, &b, 700, usize::MAX);
    let catalog = Catalog::embedded().unwrap();
    let whole = analyze(
        std::slice::from_ref(&src),
        &catalog,
        &AnalysisConfig::default(),
    );
    // Given as a directory: files are taken in name order.
    let parts = analyze(
        &[dir.path().to_path_buf()],
        &catalog,
        &AnalysisConfig::default(),
    );
    assert_eq!(parts.summary.captures.len(), 2);
    assert_eq!(whole.flows.len(), parts.flows.len());
    let mut continued = 0;
    for (w, p) in whole.flows.iter().zip(&parts.flows) {
        let mut p = p.clone();
        assert!(p.capture == "rot-1.pcap" || p.capture == "rot-2.pcap");
        if p.capture == "rot-1.pcap" && p.last_seen > parts.summary.captures[0].last_ts.unwrap() {
            continued += 1;
        }
        p.capture = w.capture.clone();
        assert_eq!(w, &p);
    }
    assert!(continued >= 5, "flows spanning both files: {continued}");
}

#[test]
fn nanosecond_captures_keep_nanoseconds() {
    // Rewrite a microsecond pcap as a nanosecond one (magic a1b23c4d, fraction * 1000 + 7).
    let bytes = std::fs::read(common::samples_dir().join("dlt_ppp.pcap")).unwrap();
    let mut out = bytes[..24].to_vec();
    out[..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let usec = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        out.extend_from_slice(&bytes[at..at + 4]);
        out.extend_from_slice(&(usec * 1000 + 7).to_le_bytes());
        out.extend_from_slice(&bytes[at + 8..at + 16 + caplen]);
        at += 16 + caplen;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = dir.path().join("ns.pcap");
    std::fs::write(&ns, out).unwrap();
    let micro = common::analyze_one(&common::samples_dir().join("dlt_ppp.pcap"));
    let nano = common::analyze_one(&ns);
    let (m, n) = (
        micro.flows[0].first_seen_text(),
        nano.flows[0].first_seen_text(),
    );
    assert_eq!(m.len() + 3, n.len(), "{m} {n}");
    assert!(
        n.ends_with("007Z") && n.starts_with(m.trim_end_matches('Z')),
        "{m} {n}"
    );
}

#[test]
fn committed_example_reports_are_current() {
    // reports/samples/ is what `scripts/demo` writes: the top-level samples in name order and
    // samples/clients/, as one run, with `--out`.
    let mut inputs: Vec<PathBuf> = samples()
        .iter()
        .map(|name| common::samples_dir().join(name))
        .collect();
    inputs.push(common::samples_dir().join("clients"));
    assert_report_current("reports/samples", &inputs);
    // reports/verdicts/: samples/verdicts/ as a run of its own.
    assert_report_current(
        "reports/verdicts",
        &[common::samples_dir().join("verdicts")],
    );
}

fn assert_report_current(committed: &str, inputs: &[PathBuf]) {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join(committed);
    let dir = tempfile::tempdir().unwrap();
    let mut command = common::o365flow_command();
    command.arg("analyze").arg("-q").args(inputs);
    command.arg("--out").arg(dir.path());
    let status = command.status().unwrap();
    assert!(status.code().unwrap_or(9) <= 1, "analyze failed: {status}");
    let mut stale = Vec::new();
    for name in [
        "flows.csv",
        "flows.jsonl",
        "summary.json",
        "report.md",
        "report.html",
        "firewall-rules.csv",
        "firewall/optimize-names.txt",
        "firewall/allow-ipv4.txt",
        "firewall/proxy.pac",
    ] {
        let want = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let got = std::fs::read_to_string(committed.join(name)).unwrap_or_default();
        if got != want {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "{} is stale ({stale:?}): run scripts/demo and commit reports/",
        committed.display()
    );
}
