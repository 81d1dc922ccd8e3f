//! `analyze --out DIR --partition site=NAME --partition date`: a Hive-style Parquet tree that
//! engines read as one table, that re-runs replace instead of duplicating, and that `report`
//! reads to the same report as the plain flow files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use polars::prelude::*;

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rows_of(parquet: &Path) -> usize {
    ParquetReader::new(std::fs::File::open(parquet).unwrap())
        .finish()
        .unwrap()
        .height()
}

#[test]
fn partitions_form_one_table_for_polars() {
    let sites = common::two_sites();
    let files = parquet_files(&sites.tree);
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        let rel = f
            .strip_prefix(&sites.tree)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        assert_eq!(parts.len(), 3, "{rel}");
        assert!(parts[0] == "site=paris" || parts[0] == "site=lyon", "{rel}");
        assert!(
            parts[1].starts_with("date=") && parts[1].len() == "date=2026-01-05".len(),
            "{rel}"
        );
        assert!(parts[2].starts_with("part-") && parts[2].ends_with(".parquet"));
    }
    let expected: usize = sites.plain.iter().map(|p| rows_of(p)).sum();

    // polars' lazy scanner reads the tree as one table with `site` and `date` columns.
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(true),
            hive_start_idx: 0,
            schema: None,
            try_parse_dates: false,
        },
        ..Default::default()
    };
    let glob = format!("{}/**/*.parquet", sites.tree.display());
    let df = LazyFrame::scan_parquet(PlRefPath::new(glob.as_str()), args)
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(df.height(), expected);
    let per_site = df
        .clone()
        .lazy()
        .group_by([col("site")])
        .agg([len().alias("n")])
        .sort(["site"], Default::default())
        .collect()
        .unwrap();
    let names: Vec<String> = per_site
        .column("site")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_owned())
        .collect();
    assert_eq!(names, ["lyon", "paris"]);
    let counts: Vec<u32> = per_site
        .column("n")
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(
        counts,
        [
            rows_of(&sites.plain[0]) as u32,
            rows_of(&sites.plain[1]) as u32
        ]
    );
    // Every flow sits in the partition of its UTC start day.
    let dates = df
        .clone()
        .lazy()
        .select([
            col("date"),
            col("first_seen")
                .dt()
                .strftime("%Y-%m-%d")
                .alias("start_day"),
        ])
        .collect()
        .unwrap();
    let a = dates.column("date").unwrap().str().unwrap().clone();
    let b = dates.column("start_day").unwrap().str().unwrap().clone();
    assert!(a.iter().zip(b.iter()).all(|(x, y)| x.is_some() && x == y));
}

#[test]
fn rerunning_replaces_parts() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = common::sample_captures("clients");
    let flags = ["--partition", "site=lyon", "--partition", "date"];
    common::analyze_out(&inputs, dir.path(), &flags);
    let first = parquet_files(&dir.path().join("flows"));
    let rows: usize = first.iter().map(|p| rows_of(p)).sum();
    common::analyze_out(&inputs, dir.path(), &flags);
    let second = parquet_files(&dir.path().join("flows"));
    assert_eq!(first, second, "same captures, same part files");
    assert_eq!(rows, second.iter().map(|p| rows_of(p)).sum::<usize>());
    assert!(!dir.path().join("flows.parquet").exists());
    for other in ["flows.csv", "flows.jsonl", "summary.json", "report.html"] {
        assert!(dir.path().join(other).is_file(), "{other}");
    }
    // Other captures add their own parts beside.
    common::analyze_out(&common::sample_captures("report")[..1], dir.path(), &flags);
    let third = parquet_files(&dir.path().join("flows"));
    assert!(third.len() > second.len());
    assert!(second.iter().all(|p| third.contains(p)));
}

#[test]
fn report_over_the_tree_equals_report_over_plain_files() {
    let sites = common::two_sites();
    let dir = tempfile::tempdir().unwrap();
    let (from_tree, from_plain) = (dir.path().join("tree"), dir.path().join("plain"));
    common::report_out(std::slice::from_ref(&sites.tree), &from_tree);
    // The tree is read in path order (site=lyon before site=paris): the same order of runs.
    common::report_out(&sites.plain, &from_plain);
    // The tree's runs named their sites (--partition site=NAME), the plain files' runs did not:
    // the report over the tree says so, and is otherwise the same, byte for byte.
    let read = |dir: &std::path::Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let mut summary: serde_json::Value =
        serde_json::from_str(&read(&from_tree, "summary.json")).unwrap();
    let named = serde_json::json!(["lyon", "paris"]);
    assert_eq!(summary["meta"]["sites"], named);
    assert_eq!(summary["overview"]["sites"], named);
    assert_eq!(summary["meta"]["schema_version"], 5);
    assert!(summary["meta"]["captures"].as_array().unwrap().len() > 10);
    summary["meta"]["sites"] = serde_json::json!([]);
    summary["overview"]["sites"] = serde_json::json!([]);
    let plain: serde_json::Value =
        serde_json::from_str(&read(&from_plain, "summary.json")).unwrap();
    assert_eq!(summary, plain);
    for name in ["report.md", "report.html"] {
        let tree = read(&from_tree, name);
        assert!(tree.contains("sites: lyon, paris"), "{name}");
        assert_eq!(
            tree.replace(
                "sites: lyon, paris",
                "sites: not named (--partition site=NAME names them)"
            ),
            read(&from_plain, name),
            "{name}"
        );
    }
    for name in ["firewall-rules.csv", "firewall/proxy.pac"] {
        assert_eq!(read(&from_tree, name), read(&from_plain, name), "{name}");
    }
}

#[test]
fn parquet_metadata_names_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    common::analyze_out(&common::sample_captures("clients")[..1], dir.path(), &[]);
    let mut reader =
        ParquetReader::new(std::fs::File::open(dir.path().join("flows.parquet")).unwrap());
    let kv = reader
        .get_metadata()
        .unwrap()
        .key_value_metadata()
        .clone()
        .unwrap();
    let version = kv
        .iter()
        .find(|k| k.key == "o365flow.schema_version")
        .and_then(|k| k.value.clone());
    assert_eq!(
        version.as_deref(),
        Some(o365flow::report::row::SCHEMA_VERSION.to_string().as_str())
    );
}

/// `--partition hour` without `date`: every part sits below its day (`date=.../hour=HH/`), so
/// one hour of different days never shares a directory.
#[test]
fn an_hour_partition_sits_below_its_date() {
    let out = tempfile::tempdir().unwrap();
    let status = common::o365flow_command()
        .arg("analyze")
        .arg("-q")
        .arg(common::samples_dir().join("teams.pcap"))
        .args(["--partition", "hour", "--out"])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.code().unwrap() <= 1, "{status}");
    let tree = out.path().join("flows");
    let files = parquet_files(&tree);
    assert!(!files.is_empty());
    for f in &files {
        let rel = f
            .strip_prefix(&tree)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        assert_eq!(parts.len(), 3, "{rel}");
        assert!(
            parts[0].starts_with("date=") && parts[0].len() == "date=2026-01-05".len(),
            "{rel}"
        );
        assert!(
            parts[1].starts_with("hour=") && parts[1].len() == "hour=08".len(),
            "{rel}"
        );
    }
}
