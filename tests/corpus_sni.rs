//! Every ClientHello server name tshark decodes in ../shared/corpus (TLS over TCP, QUIC and gQUIC
//! over UDP) must appear in our flow table with the same capture, client and server address and
//! port, and name; QUIC flows also with tshark's QUIC version.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;

/// tshark writes `0x51303530` for Q050 but `Q046` for older gQUIC; we write Google's `Q0xx`
/// tags as tags. Both name the same 32-bit version number.
fn version_number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.as_bytes().try_into().ok().map(u32::from_be_bytes),
    }
}

/// Checks every truth row of one transport; returns (rows, found, deferred).
fn check_transport(
    shared: &std::path::Path,
    transport: &str,
    deferred: &HashMap<&str, usize>,
) -> (usize, usize, usize) {
    let corpus = shared.join("corpus");
    let mut truth_files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".truth.csv"))
        .collect();
    truth_files.sort();
    let (mut total, mut found, mut deferred_seen) = (0, 0, 0);
    let mut misses = Vec::new();
    for truth in truth_files {
        let rows: Vec<_> = common::read_csv(&truth)
            .into_iter()
            .filter(|r| r["transport"] == transport)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let name = truth.file_name().unwrap().to_string_lossy();
        let capture = name.trim_end_matches(".truth.csv").to_owned();
        let analysis = common::analyze_one(&corpus.join(&capture));
        let mut file_misses = Vec::new();
        for row in rows {
            total += 1;
            let key = (
                row["src_ip"].clone(),
                row["src_port"].parse::<u16>().unwrap(),
                row["dst_ip"].clone(),
                row["dst_port"].parse::<u16>().unwrap(),
            );
            let version = row["quic_version"].as_str();
            let hit = analysis.flows.iter().any(|f| {
                common::five_tuple(f) == key
                    && f.capture == capture
                    && f.sni.as_deref() == Some(row["sni"].as_str())
                    && (transport == "tcp"
                        || (f.app_protocol.as_str() == "quic"
                            && f.matched_by.is_none_or(|m| m.as_str() == "quic-sni")
                            && (version.is_empty()
                                || f.quic_version.as_deref().and_then(version_number)
                                    == version_number(version))))
            });
            if hit {
                found += 1;
            } else {
                file_misses.push(format!(
                    "{capture} frame {} {key:?} {}",
                    row["frame"], row["sni"]
                ));
            }
        }
        match deferred.get(capture.as_str()) {
            Some(&n) => {
                assert_eq!(
                    file_misses.len(),
                    n,
                    "{capture}: expected {n} deferred misses: {file_misses:?}"
                );
                deferred_seen += n;
            }
            None => misses.extend(file_misses),
        }
    }
    eprintln!("{transport} truth rows: {total}, found: {found}, deferred: {deferred_seen}");
    assert!(
        misses.is_empty(),
        "missing {transport} server names:\n{}",
        misses.join("\n")
    );
    (total, found, deferred_seen)
}

#[test]
fn tcp_server_names_match_tshark() {
    let Some(shared) = common::shared_dir("tcp_server_names_match_tshark") else {
        return;
    };
    // All 97, including names inside tunnels (6in4, VXLAN, CAPWAP) and after a plaintext
    // start (HTTP CONNECT, POP3 STLS, SMTP STARTTLS, SOCKS5).
    assert_eq!(
        check_transport(&shared, "tcp", &HashMap::new()),
        (97, 97, 0)
    );
}

#[test]
fn quic_server_names_and_versions_match_tshark() {
    let Some(shared) = common::shared_dir("quic_server_names_and_versions_match_tshark") else {
        return;
    };
    // All 137: IETF v1, v2, drafts 23-29, mvfst, Google T051/Q050 (decrypted) and gQUIC Q025-Q046.
    assert_eq!(
        check_transport(&shared, "udp", &HashMap::new()),
        (137, 137, 0)
    );
}
