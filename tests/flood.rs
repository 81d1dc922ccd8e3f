//! Issue 8's flood test: a capture of 2 million distinct flows (generated here, never committed)
//! analysed with `--max-flows 100000` keeps memory to the capped table (finished rows stream to
//! the flow file), reports the evictions, and loses no flow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::path::Path;

const FLOWS: u32 = 2_000_000;
const CAP: u32 = 100_000;

/// N UDP flows, one 60-byte datagram each, a new 5-tuple every time, 1 us apart (no flow goes
/// idle): the worst case for a flow table (the same capture as scripts/make-flood.py).
fn write_flood(path: &Path, n: u32) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut header = 0xA1B2_C3D4u32.to_le_bytes().to_vec();
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    out.write_all(&header).unwrap();
    for i in 0..n {
        let src = 0x0A00_0000 | ((i >> 8) & 0xFFFF) << 8 | 1;
        let dst = 0xC633_6400 | (i & 0xFF);
        let sport = 1024 + (i % 60_000) as u16;
        let mut frame = Vec::with_capacity(60);
        frame.extend_from_slice(&[2; 6]);
        frame.extend_from_slice(&[4; 6]);
        frame.extend_from_slice(&[8, 0]);
        let total: u16 = 20 + 8 + 18;
        frame.extend_from_slice(&[0x45, 0]);
        frame.extend_from_slice(&total.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&src.to_be_bytes());
        frame.extend_from_slice(&dst.to_be_bytes());
        frame.extend_from_slice(&sport.to_be_bytes());
        frame.extend_from_slice(&3478u16.to_be_bytes());
        frame.extend_from_slice(&26u16.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&[0; 18]);
        let (sec, usec) = (1_700_000_000 + i / 1_000_000, i % 1_000_000);
        for v in [sec, usec, frame.len() as u32, frame.len() as u32] {
            out.write_all(&v.to_le_bytes()).unwrap();
        }
        out.write_all(&frame).unwrap();
    }
    out.flush().unwrap();
}

/// Peak resident memory of the terminated children of this process, in MB.
fn children_peak_rss_mb() -> i64 {
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    usage.max_rss() / 1024
}

/// Runs `analyze --max-flows CAP --flows flows.parquet` over a flood of `n` flows: (exit code,
/// stderr, rows in the flow file, peak RSS in MB).
fn analyse_flood(dir: &Path, n: u32) -> (Option<i32>, String, usize, i64) {
    let capture = dir.join(format!("flood-{n}.pcap"));
    write_flood(&capture, n);
    let flows = dir.join(format!("flows-{n}.parquet"));
    let out = common::o365flow_command()
        .args(["analyze", "-q", "--max-flows", &CAP.to_string()])
        .arg(&capture)
        .arg("--flows")
        .arg(&flows)
        .output()
        .unwrap();
    // RUSAGE_CHILDREN holds the largest child so far: runs go from small to large.
    let peak = children_peak_rss_mb();
    std::fs::remove_file(&capture).unwrap();
    use polars::prelude::SerReader;
    let rows = polars::prelude::ParquetReader::new(std::fs::File::open(&flows).unwrap())
        .num_rows()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{n} flows through a {CAP}-flow table: peak RSS {peak} MB; {stderr}");
    (out.status.code(), stderr, rows, peak)
}

#[test]
fn two_million_flows_stay_within_the_capped_table() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, small_rows, small_peak) = analyse_flood(dir.path(), 2 * CAP);
    assert_eq!(small_rows, 2 * CAP as usize);
    let (code, stderr, rows, peak) = analyse_flood(dir.path(), FLOWS);
    assert_eq!(code, Some(1), "evictions are a warning: {stderr}");
    let evicted = FLOWS - CAP;
    assert!(
        stderr.contains(&format!(
            "flow table full ({CAP} flows): {evicted} flows evicted early"
        )),
        "{stderr}"
    );
    // No flow is lost: every one is a row of the flow file.
    assert_eq!(rows, FLOWS as usize);
    // Memory is the capped table plus one chunk of rows: ten times the flows take no more than
    // a fifth more memory (kept rows would take about 1.9 kB each: ~3.8 GB here).
    assert!(
        peak * 4 <= small_peak * 5,
        "{FLOWS} flows: {peak} MB, {} flows: {small_peak} MB",
        2 * CAP
    );
    assert!(peak < 400, "peak RSS {peak} MB");
}
