//! The PySpark job (scale/spark/o365flow_tables.py) in local mode over the partitioned flow tree
//! of two sites: its tables equal `o365flow report` over the same tree, value for value.
//!
//! Needs Python with pyspark and Java 17: scripts/test installs pyspark into
//! target/spark-venv (or set O365FLOW_SPARK_PYTHON). Without them the test prints why it skips,
//! unless O365FLOW_REQUIRE_SPARK is set (scripts/test sets it, so CI cannot skip silently).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use polars::prelude::*;

fn spark_python() -> Option<PathBuf> {
    let python = std::env::var_os("O365FLOW_SPARK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/spark-venv/bin/python")
        });
    let works = Command::new(&python)
        .args(["-c", "import pyspark"])
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("java")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
    if works {
        return Some(python);
    }
    let why = format!(
        "{} cannot import pyspark, or java is missing (scripts/ensure-deps spark installs both)",
        python.display()
    );
    if std::env::var_os("O365FLOW_REQUIRE_SPARK").is_some() {
        panic!("{why}");
    }
    eprintln!("SKIP spark tests: {why}");
    None
}

/// Rows of a Spark output table (a directory of part-*.parquet files) as text cells, in the
/// report's notation: booleans yes/no, nulls empty.
fn spark_table(dir: &Path, columns: &[&str]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no Parquet in {}", dir.display());
    for file in files {
        let df = ParquetReader::new(std::fs::File::open(&file).unwrap())
            .finish()
            .unwrap();
        for i in 0..df.height() {
            rows.push(
                columns
                    .iter()
                    .map(|c| match df.column(c).unwrap().get(i).unwrap() {
                        AnyValue::Null => String::new(),
                        AnyValue::Boolean(b) => if b { "yes" } else { "no" }.to_owned(),
                        AnyValue::String(s) => s.to_owned(),
                        AnyValue::StringOwned(s) => s.to_string(),
                        AnyValue::Float64(f) => format!("{:.1}%", f * 100.0),
                        other => other.to_string(),
                    })
                    .collect(),
            );
        }
    }
    rows.sort();
    rows
}

/// A table of summary.json as sorted rows of text cells.
fn report_table(summary: &serde_json::Value, id: &str) -> Vec<Vec<String>> {
    let mut rows = common::summary_rows(summary, id);
    rows.sort();
    rows
}

/// The name-visibility table of a Spark run.
fn spark_names(tables: &Path) -> Vec<Vec<String>> {
    spark_table(
        &tables.join("names"),
        &[
            "service_area",
            "name",
            "how",
            "flows",
            "bytes",
            "share_of_flows",
            "share_of_bytes",
        ],
    )
}

/// Runs the PySpark job over a flow tree in local mode, its tables into `tables`.
fn run_job(python: &Path, tree: &Path, tables: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(root.join("scale/spark/o365flow_tables.py"))
        .args(["--master", "local[2]", "--catalog"])
        .arg(root.join("src/catalog/data/m365-worldwide-endpoints.json"))
        .arg("--out")
        .arg(tables)
        .arg(tree)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "spark job failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (kind, flows) of the report's findings, sorted like a Spark table.
fn report_findings(summary: &serde_json::Value) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            vec![
                f["kind"].as_str().unwrap().to_owned(),
                f["flows"].as_i64().unwrap().to_string(),
            ]
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn spark_tables_equal_the_report() {
    let Some(python) = spark_python() else {
        return;
    };
    let sites = common::two_sites();
    let report = sites.dir.path().join("report");
    common::report_out(std::slice::from_ref(&sites.tree), &report);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();

    let tables = sites.dir.path().join("spark");
    run_job(&python, &sites.tree, &tables);

    let verdict = spark_table(
        &tables.join("verdict"),
        &[
            "service_area",
            "port_verdict",
            "flows",
            "bytes",
            "clients",
            "share_of_o365_bytes",
        ],
    );
    assert!(verdict.len() >= 5, "{verdict:?}");
    assert_eq!(verdict, report_table(&summary, "verdict"));

    let ports = spark_table(
        &tables.join("ports"),
        &[
            "service_area",
            "port",
            "port_listed",
            "flows",
            "bytes",
            "clients",
        ],
    );
    assert!(ports.len() >= 5, "{ports:?}");
    assert_eq!(ports, report_table(&summary, "ports"));

    let firewall = spark_table(
        &tables.join("firewall"),
        &[
            "endpoint_id",
            "service_area",
            "category",
            "required",
            "tcp_ports",
            "udp_ports",
            "names",
            "ipv4_prefixes",
            "ipv6_prefixes",
            "observed_ports",
            "flows",
            "bytes",
        ],
    );
    assert!(firewall.len() >= 5, "{firewall:?}");
    assert_eq!(firewall, report_table(&summary, "firewall"));

    let names = spark_names(&tables);
    assert!(names.len() >= 4, "{names:?}");
    assert_eq!(names, report_table(&summary, "names"));

    let findings = spark_table(&tables.join("findings"), &["kind", "flows"]);
    let expected = report_findings(&summary);
    assert!(expected.len() >= 5, "{expected:?}");
    assert_eq!(findings, expected);
}

/// The verdict samples (a company proxy, QUIC blocked and falling back to TCP, Teams media after
/// DNS): Spark's ports matrix and findings equal the report's, the proxy port nowhere.
#[test]
fn spark_judges_proxied_flows_and_blocked_quic_like_the_report() {
    let Some(python) = spark_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let central = dir.path().join("central");
    common::analyze_out(
        &common::sample_captures("verdicts"),
        &central,
        &["--partition", "site=lab", "--partition", "date"],
    );
    let tree = central.join("flows");
    let report = dir.path().join("report");
    common::report_out(std::slice::from_ref(&tree), &report);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    let tables = dir.path().join("spark");
    run_job(&python, &tree, &tables);
    let ports = spark_table(
        &tables.join("ports"),
        &[
            "service_area",
            "port",
            "port_listed",
            "flows",
            "bytes",
            "clients",
        ],
    );
    assert!(ports.iter().all(|r| r[1] != "tcp/3128"), "{ports:?}");
    assert_eq!(ports, report_table(&summary, "ports"));
    let findings = spark_table(&tables.join("findings"), &["kind", "flows"]);
    assert!(
        findings.contains(&vec!["quic-blocked".to_owned(), "1".to_owned()]),
        "{findings:?}"
    );
    assert!(
        findings.contains(&vec!["optimize-via-proxy".to_owned(), "2".to_owned()]),
        "{findings:?}"
    );
    let expected = report_findings(&summary);
    assert_eq!(findings, expected);
}

/// Issue 20's tables over samples/report (tenants, names) and two top-level captures (one
/// site): Spark's tenants table (with the presumed own tenant), name-visibility table and
/// findings equal the report's.
#[test]
fn spark_computes_tenants_and_names_like_the_report() {
    let Some(python) = spark_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let central = dir.path().join("central");
    let mut inputs = common::sample_captures("report");
    inputs.retain(|p| !p.ends_with("nat-pressure.pcap"));
    inputs.push(common::samples_dir().join("teams.pcap"));
    inputs.push(common::samples_dir().join("local-sll2-o365-tls.pcap"));
    common::analyze_out(
        &inputs,
        &central,
        &["--partition", "site=lab", "--partition", "date"],
    );
    let tree = central.join("flows");
    let report = dir.path().join("report");
    common::report_out(std::slice::from_ref(&tree), &report);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    let tables = dir.path().join("spark");
    run_job(&python, &tree, &tables);
    let tenants = spark_table(
        &tables.join("tenants"),
        &["tenant", "own", "names", "flows", "bytes", "clients"],
    );
    assert_eq!(
        tenants.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["contoso", "fabrikam", "northwind"]
    );
    assert_eq!(tenants[0][1], "presumed");
    assert_eq!(tenants, report_table(&summary, "tenants"));
    let names = spark_names(&tables);
    for how in [
        "ech",
        "no-sni",
        "cut-handshake",
        "before-capture",
        "no-handshake",
    ] {
        assert!(names.iter().any(|r| r[2] == how), "{how}: {names:?}");
    }
    assert_eq!(names, report_table(&summary, "names"));
    let findings = spark_table(&tables.join("findings"), &["kind", "flows"]);
    assert!(
        findings.contains(&vec!["foreign-tenants".to_owned(), "3".to_owned()]),
        "{findings:?}"
    );
    assert_eq!(findings, report_findings(&summary));
}
