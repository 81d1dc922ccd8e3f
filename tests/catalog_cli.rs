//! `o365flow catalog show` and `catalog diff` on the snapshots in ../shared/catalog. The id lists
//! were computed independently from the JSON (a few lines of Python comparing sets by id).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

fn run(args: &[&str]) -> (i32, String) {
    // An empty data directory: no stored catalog of the machine's user interferes.
    let data = tempfile::tempdir().unwrap();
    let (code, stdout, _) = common::run_with_data_dir(data.path(), args);
    (code, stdout)
}

#[test]
fn show_names_version_and_counts() {
    let (code, text) = run(&["catalog", "show"]);
    assert_eq!(code, 0);
    assert!(text.contains("version: 2025-12-01+fac674b969f5"), "{text}");
    assert!(text.contains("endpoint sets: 79"), "{text}");
    assert!(
        text.contains("  MEM                  0       1       14     15"),
        "{text}"
    );
}

fn diff_json(shared: &std::path::Path, old: &str, new: &str) -> serde_json::Value {
    let dir = shared.join("catalog");
    let (code, text) = run(&[
        "catalog",
        "diff",
        dir.join(old).to_str().unwrap(),
        dir.join(new).to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn older_to_current_adds_the_fifteen_mem_sets_and_nothing_else() {
    let Some(shared) =
        common::shared_dir("older_to_current_adds_the_fifteen_mem_sets_and_nothing_else")
    else {
        return;
    };
    let d = diff_json(
        &shared,
        "m365-worldwide-endpoints.older.json",
        "m365-worldwide-endpoints.json",
    );
    assert_eq!(
        ids(&d["added"]),
        [163, 164, 165, 169, 170, 171, 173, 179, 181, 182, 186, 187, 188, 189, 192]
    );
    assert!(ids(&d["removed"]).is_empty());
    assert!(d["changed"].as_array().unwrap().is_empty());
}

#[test]
fn legacy_to_current_adds_removes_and_changes() {
    let Some(shared) = common::shared_dir("legacy_to_current_adds_removes_and_changes") else {
        return;
    };
    let d = diff_json(
        &shared,
        "m365-worldwide-endpoints.legacy.json",
        "m365-worldwide-endpoints.json",
    );
    assert_eq!(
        ids(&d["added"]),
        [163, 164, 165, 169, 170, 171, 173, 179, 181, 182, 184, 186, 187, 188, 189, 192]
    );
    assert_eq!(
        ids(&d["removed"]),
        [
            3, 5, 6, 13, 15, 18, 22, 26, 29, 38, 41, 42, 43, 44, 45, 52, 65, 67, 68, 72, 74, 82,
            88, 98, 99, 100, 101, 102, 103, 106, 109, 110, 111, 112, 113, 115, 120, 123, 128, 148,
            149, 150, 154, 157
        ]
    );
    let changed: Vec<i64> = d["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        changed,
        [
            1, 2, 8, 9, 10, 11, 12, 16, 17, 19, 27, 31, 32, 37, 39, 46, 47, 50, 53, 56, 59, 64, 66,
            70, 71, 75, 78, 89, 91, 92, 93, 96, 97, 105, 114, 116, 117, 118, 125, 127, 147, 152,
            153, 156
        ]
    );
    // Set 1 gained outlook.cloud.microsoft; set 11 (Teams media) dropped the old 13.107.64.0/18.
    let set = |id: i64| {
        d["changed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    assert!(set(1)["urls_added"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u == "outlook.cloud.microsoft"));
    assert!(set(11)["ips_removed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u == "13.107.64.0/18"));
}

#[test]
fn diff_refuses_a_broken_file_by_set_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"id": 4, "serviceArea": "Exchange", "category": "Sometimes"}]"#,
    )
    .unwrap();
    let out = common::o365flow_command()
        .args([
            "catalog",
            "diff",
            bad.to_str().unwrap(),
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("endpoint set 4: field category"));
}

#[test]
fn import_stores_a_catalog_that_analyze_then_uses() {
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A one-set catalog that names the local sample's servers.
    let lab = dir.path().join("lab.json");
    std::fs::write(
        &lab,
        r#"[{"id": 7, "serviceArea": "SharePoint", "category": "Optimize", "ips": ["127.0.0.0/8"], "tcpPorts": "18443"}]"#,
    )
    .unwrap();
    let cmd = |args: &[&str]| common::run_with_data_dir(data.path(), args);
    // Before: the embedded catalog.
    let (code, text, _) = cmd(&["catalog", "show"]);
    assert_eq!(code, 0);
    assert!(text.contains("embedded"), "{text}");
    let (code, text, err) = cmd(&[
        "catalog",
        "import",
        lab.to_str().unwrap(),
        "--version",
        "2026112501",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("stored 1 endpoint sets as Worldwide catalog version 2026112501"),
        "{text}"
    );
    let (_, text, _) = cmd(&["catalog", "show"]);
    assert!(
        text.contains("version: 2026112501") && text.contains("endpoint sets: 1"),
        "{text}"
    );
    let sample = common::samples_dir().join("local-sll2-o365-tls.pcap");
    let (code, text, _) = cmd(&["analyze", sample.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("(version 2026112501)"), "{text}");
    // A broken file is refused and the stored catalog stays.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"id\": 1}").unwrap();
    let (code, _, err) = cmd(&["catalog", "import", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let (_, text, _) = cmd(&["catalog", "show"]);
    assert!(text.contains("version: 2026112501"), "{text}");
    let (code, _, err) = cmd(&[
        "catalog",
        "import",
        lab.to_str().unwrap(),
        "--instance",
        "mars",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown instance"), "{err}");
}
