//! Bad input never panics, never loses what was read, and gets a one-line error naming the file
//! (and packet). Exit codes: 0 clean, 1 finished with warnings, 2 could not run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn o365flow(args: &[&str]) -> Output {
    let out = common::o365flow_command()
        .args(args)
        .output()
        .expect("run o365flow");
    assert_ne!(
        out.status.code(),
        Some(101),
        "panicked: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.code().is_some(), "killed by a signal");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sample(name: &str) -> PathBuf {
    common::samples_dir().join(name)
}

fn flows_in(csv: &Path) -> usize {
    std::fs::read_to_string(csv).unwrap().lines().count() - 1
}

/// A classic pcap header (microseconds, little-endian) for the given link type.
fn pcap_header(linktype: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&linktype.to_le_bytes());
    h
}

#[test]
fn missing_file_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pcap");
    let out = o365flow(&["analyze", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nope.pcap: no such file or directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn directory_without_captures_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let out = o365flow(&["analyze", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("directory holds no .pcap, .pcapng or .cap files"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn text_file_named_pcap_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.pcap");
    std::fs::write(&text, "this is not a capture, just some words\n").unwrap();
    let empty = dir.path().join("empty.pcapng");
    std::fs::write(&empty, "").unwrap();
    for (file, words) in [
        (&text, "not a capture libpcap can read"),
        (&empty, "empty file"),
    ] {
        let out = o365flow(&["analyze", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            err.lines().any(|l| l.contains(name) && l.contains(words)),
            "{err}"
        );
    }
}

#[test]
fn good_input_beside_bad_input_keeps_the_good_results() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows.csv");
    let out = o365flow(&[
        "analyze",
        sample("teams.pcap").to_str().unwrap(),
        dir.path().join("missing.pcap").to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.pcap: no such file"));
    assert_eq!(flows_in(&flows), 83);
}

#[test]
fn capture_truncated_mid_packet_keeps_earlier_packets() {
    let bytes = std::fs::read(sample("teams.pcap")).unwrap();
    let ends = common::record_ends(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    // Keep 200 whole packets and half of the 201st.
    std::fs::write(&cut, &bytes[..ends[199] + 30]).unwrap();
    let flows = dir.path().join("flows.jsonl");
    let out = o365flow(&[
        "analyze",
        cut.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cut.pcap: packet 201:") && err.contains("results up to packet 200 kept"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("packets: 200 "), "{stdout}");
    let rows = std::fs::read_to_string(&flows).unwrap();
    assert_eq!(
        rows.lines().count(),
        8,
        "the 8 flows of the first 200 packets are written"
    );
    assert!(rows.contains("\"server_name\":\"teams.microsoft.com\""));
}

#[test]
fn record_claiming_four_gib_is_refused_with_its_number() {
    let bytes = std::fs::read(sample("teams.pcap")).unwrap();
    let ends = common::record_ends(&bytes);
    let mut data = bytes[..ends[9]].to_vec();
    data.extend_from_slice(&common::pcap_record(
        1_587_041_700,
        0,
        u32::MAX,
        u32::MAX,
        &[0; 64],
    ));
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.pcap");
    std::fs::write(&huge, &data).unwrap();
    let flows = dir.path().join("flows.csv");
    let out = o365flow(&[
        "analyze",
        huge.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("huge.pcap: packet 11:"), "{err}");
    assert!(flows_in(&flows) >= 1);
}

/// Ethernet + IPv4 + UDP 50000 -> 3478 whose IPv4 total length claims 1400 bytes.
fn lying_ipv4_frame() -> Vec<u8> {
    let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    let total_len: u16 = 1400;
    f.extend_from_slice(&[
        0x45,
        0,
        (total_len >> 8) as u8,
        total_len as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&[10, 0, 0, 1, 52, 112, 0, 1]);
    f.extend_from_slice(&[0xc3, 0x50, 0x0d, 0x96, 0, 16, 0, 0]);
    f.extend_from_slice(b"lying...");
    f
}

#[test]
fn packet_whose_lengths_lie_is_reported_and_still_counted() {
    let frame = lying_ipv4_frame();
    let mut data = pcap_header(1);
    let n = frame.len() as u32;
    data.extend_from_slice(&common::pcap_record(1_700_000_000, 0, n, n, &frame));
    data.extend_from_slice(&common::pcap_record(1_700_000_001, 0, n, n, &frame));
    // A record whose wire length is below its captured length.
    data.extend_from_slice(&common::pcap_record(1_700_000_002, 0, n, 10, &frame));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lies.pcap");
    std::fs::write(&path, &data).unwrap();
    let flows = dir.path().join("flows.csv");
    let out = o365flow(&[
        "analyze",
        path.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("lies.pcap: 3 malformed packet(s), first at packet 1: IP length exceeds the captured packet"), "{err}");
    let csv = std::fs::read_to_string(&flows).unwrap();
    assert!(
        csv.contains(",udp,10.0.0.1,50000,52.112.0.1,3478,3,0,"),
        "{csv}"
    );
}

#[test]
fn unknown_link_type_is_skipped_and_reported() {
    let mut data = pcap_header(147);
    data.extend_from_slice(&common::pcap_record(1_700_000_000, 0, 4, 4, &[1, 2, 3, 4]));
    data.extend_from_slice(&common::pcap_record(1_700_000_000, 0, 4, 4, &[1, 2, 3, 4]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("user0.pcap");
    std::fs::write(&path, &data).unwrap();
    let out = o365flow(&["analyze", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("user0.pcap: link type dlt-147 is not supported: 2 packets skipped"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn garbage_after_a_valid_header_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    // Deterministic pseudo-random records over every supported link type.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for linktype in [0u32, 1, 9, 12, 50, 101, 108, 113, 228, 229, 276] {
        let mut data = pcap_header(linktype);
        for i in 0..200u32 {
            let len = (next() % 120) as usize;
            let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 3 == 0 && len > 20 {
                // Make some frames plausible IP so deeper layers get exercised.
                let ip_at = match linktype {
                    1 => 14,
                    113 => 16,
                    276 => 20,
                    0 | 108 => 4,
                    9 | 50 => 4,
                    _ => 0,
                };
                if ip_at + 1 < frame.len() {
                    frame[ip_at] = if i % 2 == 0 { 0x45 } else { 0x60 };
                }
            }
            data.extend_from_slice(&common::pcap_record(
                1_700_000_000 + i,
                0,
                len as u32,
                len as u32 + (i % 2) * 7,
                &frame,
            ));
        }
        let path = dir.path().join(format!("garbage-{linktype}.pcap"));
        std::fs::write(&path, &data).unwrap();
        let out = o365flow(&["analyze", "-q", path.to_str().unwrap()]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "link {linktype}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(o365flow(&[]).status.code(), Some(2));
    assert_eq!(o365flow(&["analyze"]).status.code(), Some(2));
    assert_eq!(
        o365flow(&["analyze", "x.pcap", "--max-flows", "0"])
            .status
            .code(),
        Some(2)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = o365flow(&[
        "analyze",
        sample("dlt_ppp.pcap").to_str().unwrap(),
        "--flows",
        dir.path().join("flows.xlsx").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown flow file type"));
    assert_eq!(o365flow(&["--help"]).status.code(), Some(0));
    assert_eq!(o365flow(&["analyze", "--help"]).status.code(), Some(0));
}

#[test]
fn clean_run_exits_zero() {
    let out = o365flow(&["analyze", sample("teams.pcap").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Flow files polars' Parquet reader panics on, reads into columns of different lengths, or
/// aborts the process on (a negative page value count; all kept by the fuzz target
/// `flow_file`), are refused like any other bad input: exit 2 and a message naming the file,
/// no crash.
#[test]
fn report_refuses_flow_files_the_parquet_reader_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "sorting-column-bool-without-value",
        "column-lengths-differ",
        "validity-bitmap-of-2-exabytes",
    ] {
        let bad = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/flow_file")
            .join(name);
        let out = o365flow(&[
            "report",
            bad.to_str().unwrap(),
            "--out",
            dir.path().join(name).to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{name}: not a readable Parquet flow file (")),
            "{}",
            stderr(&out)
        );
        assert!(!dir.path().join(name).join("summary.json").exists());
    }
    // The abort is stopped before polars decodes the page, by the header check.
    let out = o365flow(&[
        "report",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/flow_file/validity-bitmap-of-2-exabytes")
            .to_str()
            .unwrap(),
        "--out",
        dir.path().join("again").to_str().unwrap(),
    ]);
    assert!(
        stderr(&out)
            .contains("(row group 0, column server_ip: a page of -126 values where 83 remain)"),
        "{}",
        stderr(&out)
    );
}
