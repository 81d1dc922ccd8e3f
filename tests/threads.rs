//! `--threads 1` (everything on one thread) and more threads (digest and row making on threads
//! of their own) give the same flow table and report, byte for byte.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

const FILES: [&str; 5] = [
    "flows.csv",
    "flows.jsonl",
    "summary.json",
    "report.md",
    "firewall-rules.csv",
];

fn run(inputs: &[PathBuf], out: &Path, threads: &str, extra: &[&str]) {
    let result = common::o365flow_command()
        .args(["analyze", "-q", "--threads", threads])
        .args(inputs)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        matches!(result.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Runs with 1, 2 and 4 threads; returns the one-thread summary.json.
fn assert_same_for_any_threads(inputs: &[PathBuf], extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    run(inputs, &one, "1", extra);
    for threads in ["2", "4"] {
        let many = dir.path().join(threads);
        run(inputs, &many, threads, extra);
        for name in FILES {
            let a = std::fs::read(one.join(name)).unwrap();
            let b = std::fs::read(many.join(name)).unwrap();
            assert!(a == b, "{name} differs between --threads 1 and {threads}");
        }
        common::assert_same_report(&one, &many);
    }
    let flows = std::fs::read_to_string(one.join("flows.csv")).unwrap();
    assert!(
        flows.lines().count() > 50,
        "{} flows",
        flows.lines().count()
    );
    serde_json::from_slice(&std::fs::read(one.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn samples_give_the_same_results_on_any_number_of_threads() {
    assert_same_for_any_threads(&[common::samples_dir()], &[]);
}

#[test]
fn a_full_table_evicts_the_same_flows_on_any_number_of_threads() {
    // 40 flows at most: evictions and their split flows must not depend on threads either.
    let summary = assert_same_for_any_threads(&[common::samples_dir()], &["--max-flows", "40"]);
    assert!(summary["meta"]["evicted_flows"].as_u64().unwrap() > 10);
}

#[test]
fn the_corpus_gives_the_same_results_on_any_number_of_threads() {
    let Some(shared) =
        common::shared_dir("the_corpus_gives_the_same_results_on_any_number_of_threads")
    else {
        return;
    };
    assert_same_for_any_threads(&[shared.join("corpus")], &[]);
}

#[test]
fn streamed_flow_files_are_the_same_on_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "3"] {
        let flows = dir.path().join(format!("flows-{threads}.jsonl"));
        let result = common::o365flow_command()
            .args(["analyze", "-q", "--threads", threads])
            .arg(common::samples_dir())
            .arg("--flows")
            .arg(&flows)
            .output()
            .unwrap();
        assert!(matches!(result.status.code(), Some(0 | 1)));
        outputs.push(std::fs::read(&flows).unwrap());
    }
    assert!(outputs[0] == outputs[1]);
    assert!(outputs[0].len() > 10_000);
}
