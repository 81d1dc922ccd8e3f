//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

pub mod audit;

use o365flow::catalog::Catalog;
use o365flow::report::FlowRow;
use o365flow::{analyze, Analysis, AnalysisConfig};

/// `../shared` next to the checkout (or `O365FLOW_SHARED`), when present. Tests that need it
/// print why they skip when it is absent, so a fresh clone still passes; with
/// `O365FLOW_REQUIRE_CORPUS` set (CI, `.ci/run`) its absence fails the test instead, so a run
/// without the corpus cannot pass with the corpus checks unrun.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("O365FLOW_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("corpus/MANIFEST.md").is_file() {
        return Some(dir);
    }
    let why = format!(
        "{}: no corpus/MANIFEST.md (the shared capture corpus is not part of a user's clone)",
        dir.display()
    );
    skip_or_fail("O365FLOW_REQUIRE_CORPUS", test, &why);
    None
}

/// A test that cannot run here: prints `SKIP test: why`, or fails with the reason when the
/// environment variable `require` is set (CI sets it, so a missing prerequisite is an error).
pub fn skip_or_fail(require: &str, test: &str, why: &str) {
    if std::env::var_os(require).is_some_and(|v| !v.is_empty() && v != "0") {
        panic!("{test} cannot run and {require} is set: {why}");
    }
    eprintln!("SKIP {test}: {why}");
}

pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

pub fn analyze_one(path: &Path) -> Analysis {
    let catalog = Catalog::embedded().expect("embedded catalog");
    analyze(&[path.to_path_buf()], &catalog, &AnalysisConfig::default())
}

/// Minimal CSV reader for the corpus' truth files and committed tables (no quoted commas there).
pub fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

pub fn five_tuple(r: &FlowRow) -> (String, u16, String, u16) {
    (
        r.client_ip.to_string(),
        r.client_port,
        r.server_ip.to_string(),
        r.server_port,
    )
}

/// Rows of the corpus MANIFEST table: file -> (category, link type, tshark tcp conv, udp conv).
pub fn manifest(shared: &Path) -> Vec<(String, String, String, usize, usize)> {
    let text = std::fs::read_to_string(shared.join("corpus/MANIFEST.md")).expect("MANIFEST.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 12
                || cells[1].is_empty()
                || cells[1] == "file"
                || cells[1].starts_with("---")
            {
                return None;
            }
            Some((
                cells[1].to_owned(),
                cells[4].to_owned(),
                cells[8].to_owned(),
                cells[9].parse().ok()?,
                cells[10].parse().ok()?,
            ))
        })
        .collect()
}

/// The binary, with a data directory that holds no stored catalog: the embedded catalog is
/// used whatever the machine's user imported (tests may override the variable).
pub fn o365flow_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_o365flow"));
    command.env(
        "O365FLOW_DATA_DIR",
        std::env::temp_dir().join("o365flow-tests-no-stored-catalog"),
    );
    command
}

/// Every line of a JSON-lines flow file.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs o365flow with `data` as its data directory: (exit code, stdout, stderr).
pub fn run_with_data_dir(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = o365flow_command()
        .args(args)
        .env("O365FLOW_DATA_DIR", data)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Calls `visit` with the dotted path of every leaf of a JSON document (arrays are leaves).
pub fn flatten_json(
    prefix: &str,
    value: &serde_json::Value,
    visit: &mut dyn FnMut(&str, &serde_json::Value),
) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_json(&path, v, visit);
            }
        }
        leaf => visit(prefix, leaf),
    }
}

/// A dotted field of a JSON-lines flow record (`source.ip`, `o365flow.service_area`), null when
/// absent.
pub fn field<'a>(record: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    let mut at = record;
    for part in path.split('.') {
        at = at.get(part).unwrap_or(&serde_json::Value::Null);
    }
    at
}

/// The captures (*.pcap, *.pcapng) directly in samples/`dir`, sorted.
pub fn sample_captures(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(samples_dir().join(dir)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    out.sort();
    out
}

/// Runs an o365flow command, which must exit 0.
fn run_ok(command: &mut std::process::Command) {
    let result = command.output().unwrap();
    assert_eq!(
        result.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// `o365flow analyze -q INPUTS --out OUT EXTRA...`, which must exit 0.
pub fn analyze_out(inputs: &[PathBuf], out: &Path, extra: &[&str]) {
    run_ok(
        o365flow_command()
            .args(["analyze", "-q"])
            .args(inputs)
            .arg("--out")
            .arg(out)
            .args(extra),
    );
}

/// `o365flow report INPUTS --out OUT`, which must exit 0.
pub fn report_out(inputs: &[PathBuf], out: &Path) {
    run_ok(
        o365flow_command()
            .arg("report")
            .args(inputs)
            .arg("--out")
            .arg(out),
    );
}

/// The report files two report directories must hold byte for byte when they report on the
/// same flows.
pub const REPORT_FILES: [&str; 6] = [
    "summary.json",
    "report.md",
    "report.html",
    "firewall-rules.csv",
    "firewall/proxy.pac",
    "firewall/optimize-names.txt",
];

pub fn assert_same_report(a: &Path, b: &Path) {
    for name in REPORT_FILES {
        let left = std::fs::read(a.join(name)).unwrap();
        let right = std::fs::read(b.join(name)).unwrap();
        assert!(
            left == right,
            "{name} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// The rows of a table of summary.json (`verdict`, `ports`, `firewall`...) as text cells.
pub fn summary_rows(summary: &serde_json::Value, table: &str) -> Vec<Vec<String>> {
    summary[table]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// Two sites made from the samples (paris: the top-level captures, lyon: the client captures)
/// written into one tree with `--partition site=NAME --partition date`, and each site's plain
/// flows.parquet (lyon first: the tree's path order).
pub struct TwoSites {
    pub dir: tempfile::TempDir,
    pub tree: PathBuf,
    pub plain: Vec<PathBuf>,
}

pub fn two_sites() -> TwoSites {
    let dir = tempfile::tempdir().unwrap();
    let central = dir.path().join("central");
    let mut plain = Vec::new();
    for (site, sources) in [("lyon", "clients"), ("paris", "")] {
        let inputs = sample_captures(sources);
        analyze_out(
            &inputs,
            &central,
            &[
                "--partition",
                &format!("site={site}"),
                "--partition",
                "date",
            ],
        );
        let own = dir.path().join(site);
        analyze_out(&inputs, &own, &[]);
        plain.push(own.join("flows.parquet"));
    }
    TwoSites {
        tree: central.join("flows"),
        plain,
        dir,
    }
}

/// One classic little-endian pcap record: header (seconds, fraction, captured and wire length)
/// and data.
pub fn pcap_record(secs: u32, frac: u32, caplen: u32, len: u32, data: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    for v in [secs, frac, caplen, len] {
        r.extend_from_slice(&v.to_le_bytes());
    }
    r.extend_from_slice(data);
    r
}

/// Byte offsets where each whole record of a little-endian classic pcap ends.
pub fn record_ends(pcap: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
        if at > pcap.len() {
            break;
        }
        ends.push(at);
    }
    ends
}
