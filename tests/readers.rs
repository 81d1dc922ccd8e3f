//! The native pcap reader hands out exactly what libpcap hands out: the same packets (number,
//! timestamp, wire length, bytes) and an error at the same packet for damaged files, and its
//! inline SHA-256 equals a separate read of the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use o365flow::capture::file::{file_digest, DigestMode, ReaderChoice};
use o365flow::capture::{CaptureError, FileSource};

#[derive(Debug, PartialEq, Eq)]
struct Packet {
    number: u64,
    ts: i64,
    wire_len: u32,
    data: Vec<u8>,
}

/// Every packet, and the packet number of the error that ended the file (if any).
fn read_all(path: &Path, choice: ReaderChoice) -> (bool, Vec<Packet>, Option<u64>) {
    let (native, packets, error) = read_with(path, choice, DigestMode::Inline);
    // The digest beside the reader (shared buffers) sees the same bytes.
    let beside = read_with(path, choice, DigestMode::Beside);
    assert_eq!((native, &packets, error), (beside.0, &beside.1, beside.2));
    (native, packets, error)
}

fn read_with(
    path: &Path,
    choice: ReaderChoice,
    mode: DigestMode,
) -> (bool, Vec<Packet>, Option<u64>) {
    let mut source = FileSource::open_with(path, choice, mode).expect("opens");
    let native = source.is_native();
    let mut packets = Vec::new();
    let mut error = None;
    loop {
        match source.next_packet() {
            Ok(Some(p)) => packets.push(Packet {
                number: p.number,
                ts: p.ts.nanos(),
                wire_len: p.wire_len,
                data: p.data.to_vec(),
            }),
            Ok(None) => break,
            Err(CaptureError::Packet {
                packet, last_good, ..
            }) => {
                assert_eq!(last_good + 1, packet);
                error = Some(packet);
                break;
            }
            Err(other) => panic!("{}: {other}", path.display()),
        }
    }
    let digest = source.finish_digest().expect("asked for").expect("hashes");
    assert_eq!(digest, file_digest(path).unwrap(), "{}", path.display());
    (native, packets, error)
}

/// Compares both readers on `path`; returns whether the native reader took the file.
fn same_from_both(path: &Path) -> bool {
    let (native, fast, fast_error) = read_all(path, ReaderChoice::Auto);
    let (was_native, slow, slow_error) = read_all(path, ReaderChoice::Libpcap);
    assert!(!was_native);
    assert_eq!(fast.len(), slow.len(), "{}", path.display());
    for (a, b) in fast.iter().zip(&slow) {
        assert_eq!(a, b, "{}", path.display());
    }
    assert_eq!(fast_error, slow_error, "{}", path.display());
    native
}

fn captures_in(dir: &Path, out: &mut Vec<PathBuf>) {
    o365flow::files::collect_files(
        dir,
        &|p: &Path| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap")
            )
        },
        out,
    )
    .unwrap();
}

#[test]
fn samples_read_the_same_through_both_readers() {
    let mut files = Vec::new();
    captures_in(&common::samples_dir(), &mut files);
    let native = files.iter().filter(|f| same_from_both(f)).count();
    // Every classic pcap among the samples is read natively; pcapng stays with libpcap.
    let classic = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "pcap"))
        .count();
    assert!(files.len() >= 40, "{} samples", files.len());
    assert_eq!(native, classic, "{} of {} classic pcaps", native, classic);
}

#[test]
fn corpus_reads_the_same_through_both_readers() {
    let Some(shared) = common::shared_dir("corpus_reads_the_same_through_both_readers") else {
        return;
    };
    let mut files = Vec::new();
    captures_in(&shared.join("corpus"), &mut files);
    captures_in(&shared.join("ja4"), &mut files);
    let native = files.iter().filter(|f| same_from_both(f)).count();
    eprintln!("{native} of {} captures read natively", files.len());
    assert!(files.len() >= 95);
    assert!(native >= 60, "only {native} read natively");
}

#[test]
fn damaged_files_fail_at_the_same_packet() {
    let bytes = std::fs::read(common::samples_dir().join("teams.pcap")).unwrap();
    let ends = common::record_ends(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // Cut inside a record header, inside record data, and exactly between records.
    for (name, cut) in [
        ("header", ends[10] + 7),
        ("data", ends[20] + 30),
        ("between", ends[30]),
        ("file-header", 20),
    ] {
        cases.push((name.into(), bytes[..cut].to_vec()));
    }
    // A record claiming 4 GiB, one just above libpcap's maximum, one above the file's
    // snaplen (libpcap keeps the snaplen's worth), and a nanosecond file.
    let head = &bytes[..24];
    for (name, caplen) in [("huge", u32::MAX), ("above-max", 262_145)] {
        let mut data = bytes[..ends[5]].to_vec();
        data.extend_from_slice(&common::pcap_record(1, 2, caplen, caplen, &[0; 64]));
        cases.push((name.into(), data));
    }
    let mut small_snaplen = head.to_vec();
    small_snaplen[16..20].copy_from_slice(&100u32.to_le_bytes());
    small_snaplen.extend_from_slice(&bytes[24..ends[40]]);
    cases.push(("above-snaplen".into(), small_snaplen));
    let mut nano = head.to_vec();
    nano[..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    nano.extend_from_slice(&common::pcap_record(
        1_700_000_000,
        999_999_999,
        60,
        60,
        &[7; 60],
    ));
    nano.extend_from_slice(&common::pcap_record(1_700_000_001, 5, 60, 1500, &[8; 60]));
    // libpcap reads timestamps as signed 32-bit numbers (found by fuzz/capture_file).
    nano.extend_from_slice(&common::pcap_record(u32::MAX, u32::MAX, 60, 60, &[9; 60]));
    cases.push(("nano".into(), nano));
    let mut big_endian = 0xa1b2_c3d4u32.to_be_bytes().to_vec();
    big_endian.extend_from_slice(&2u16.to_be_bytes());
    big_endian.extend_from_slice(&4u16.to_be_bytes());
    for v in [0u32, 0, 65535, 1] {
        big_endian.extend_from_slice(&v.to_be_bytes());
    }
    for v in [1_700_000_000u32, 123_456, 60, 60] {
        big_endian.extend_from_slice(&v.to_be_bytes());
    }
    big_endian.extend_from_slice(&[9; 60]);
    // Swapped files keep the top bit of a timestamp as a value (libpcap's SWAPLONG).
    for v in [0xbd00_0000u32, 0xffff_ffff, 60, 60] {
        big_endian.extend_from_slice(&v.to_be_bytes());
    }
    big_endian.extend_from_slice(&[9; 60]);
    cases.push(("big-endian".into(), big_endian));
    let mut errors = Vec::new();
    for (name, data) in cases {
        let path = dir.path().join(format!("{name}.pcap"));
        std::fs::write(&path, &data).unwrap();
        if name == "file-header" {
            // Not a capture at all: both refuse to open it.
            assert!(FileSource::open(&path).is_err());
            continue;
        }
        assert!(same_from_both(&path), "{name} read natively");
        let (_, packets, error) = read_all(&path, ReaderChoice::Auto);
        if name == "above-snaplen" {
            // Records longer than the header's snaplen are cut to it, wire length kept.
            assert!(packets.iter().all(|p| p.data.len() <= 100));
            assert!(packets.iter().any(|p| p.wire_len > 100));
        }
        if name == "nano" {
            assert_eq!(packets[0].ts, 1_700_000_000_999_999_999);
            assert_eq!(packets[2].ts, -1_000_000_001);
        }
        errors.push((name, packets.len(), error));
    }
    assert_eq!(
        errors,
        vec![
            ("header".to_owned(), 11, Some(12)),
            ("data".to_owned(), 21, Some(22)),
            ("between".to_owned(), 31, None),
            ("huge".to_owned(), 6, Some(7)),
            ("above-max".to_owned(), 6, Some(7)),
            ("above-snaplen".to_owned(), 41, None),
            ("nano".to_owned(), 3, None),
            ("big-endian".to_owned(), 2, None),
        ]
    );
}

/// The native reader reads 1 MiB at a time and moves a record cut by a read to the front of the
/// next buffer (another buffer while the digest thread still hashes this one): records and
/// damage across a read's end must come out exactly as libpcap gives them.
#[test]
fn records_across_reads_come_out_whole() {
    // The native reader's first read fills its buffer: 256 KiB, the largest record and a
    // record header (`native.rs`, whose unit test keeps this offset in step), so a read ends
    // here.
    const FIRST_READ_END: usize = (1 << 18) + 262_144 + 16;
    let bytes = std::fs::read(common::samples_dir().join("teams.pcap")).unwrap();
    let ends = common::record_ends(&bytes);
    let records = &bytes[24..*ends.last().unwrap()];
    // teams.pcap's records, then a filler record that makes the next record start at `at`.
    let up_to = |at: usize| -> Vec<u8> {
        let mut out = bytes[..24].to_vec();
        while out.len() + records.len() + 16 < at {
            out.extend_from_slice(records);
        }
        let mut start = 24;
        for &end in &ends {
            if out.len() + (end - start) + 16 > at {
                break;
            }
            out.extend_from_slice(&bytes[start..end]);
            start = end;
        }
        let filler = (at - out.len() - 16) as u32;
        out.extend_from_slice(&common::pcap_record(
            1,
            0,
            filler,
            filler,
            &vec![5; filler as usize],
        ));
        assert_eq!(out.len(), at);
        out
    };
    let boundary = FIRST_READ_END;
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = Vec::new();
    // A record starting 8 bytes before a read's end (header across it), 16 before (data
    // across), exactly at it, and 100 bytes after it.
    for shift in [-8i64, -16, 0, 100] {
        let at = (boundary as i64 + shift) as usize;
        let mut whole = up_to(at);
        let packets_before = common::record_ends(&whole).len();
        for _ in 0..2 {
            whole.extend_from_slice(records);
        }
        let mut bad = up_to(at);
        bad.extend_from_slice(&common::pcap_record(1, 2, 262_145, 262_145, &[0; 64]));
        bad.extend_from_slice(records);
        let mut cut_header = up_to(at);
        cut_header.extend_from_slice(&records[..10]);
        let mut cut_data = up_to(at);
        cut_data.extend_from_slice(&records[..40]);
        for (name, data) in [
            ("whole", whole),
            ("bad", bad),
            ("cut-header", cut_header),
            ("cut-data", cut_data),
        ] {
            let path = dir.path().join(format!("{name}{shift}.pcap"));
            std::fs::write(&path, &data).unwrap();
            assert!(same_from_both(&path), "{name} {shift} read natively");
            let (_, packets, error) = read_all(&path, ReaderChoice::Auto);
            outcomes.push((
                name,
                shift,
                packets.len() - packets_before,
                error.map(|e| e as usize - packets_before),
            ));
        }
    }
    let records_count = ends.len();
    for (name, shift, after, error) in outcomes {
        let expected = match name {
            "whole" => (2 * records_count, None),
            _ => (0, Some(1)),
        };
        assert_eq!((after, error), expected, "{name} {shift}");
    }
    // Cuts at and around a read's end of a long file.
    let mut long = up_to(3 * FIRST_READ_END);
    long.extend_from_slice(records);
    for cut in [
        boundary - 1,
        boundary,
        boundary + 1,
        boundary + 9,
        boundary + 20,
        3 * FIRST_READ_END,
    ] {
        let path = dir.path().join(format!("cut{cut}.pcap"));
        std::fs::write(&path, &long[..cut]).unwrap();
        assert!(same_from_both(&path));
    }
}
