//! Helpers of the audit-report tests (tests/report.rs, tests/report_tables.rs): run `analyze
//! --out`, read summary.json and its findings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub fn sample(name: &str) -> PathBuf {
    super::samples_dir().join(name)
}

/// Runs `analyze --out` over the inputs and returns the output directory.
pub fn analyze_out(inputs: &[PathBuf], extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = super::o365flow_command()
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

pub fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

pub fn finding_kinds(dir: &Path) -> BTreeSet<String> {
    summary(dir)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

pub fn finding(dir: &Path, kind: &str) -> serde_json::Value {
    summary(dir)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} finding"))
}
