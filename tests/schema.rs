//! The flow schema is versioned: its columns and Parquet types for the current `SCHEMA_VERSION`
//! are recorded in tests/data/schema-vN.txt. Changing a column without raising the version (and
//! recording the new schema) fails here; so does raising it without recording.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use o365flow::report::frame::{flows_frame, Layout};
use o365flow::report::row::{COLUMNS, SCHEMA_VERSION};

fn current_schema() -> String {
    let rows = common::analyze_one(&common::samples_dir().join("teams.pcap")).flows;
    let df = flows_frame(&rows, Layout::Typed).unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, COLUMNS, "the frame's columns are COLUMNS, in order");
    df.columns()
        .iter()
        .map(|c| format!("{} {}\n", c.name(), c.dtype()))
        .collect()
}

#[test]
fn schema_changes_raise_the_version() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/schema-v{SCHEMA_VERSION}.txt"));
    let now = current_schema();
    // Records a new version only: an existing version's file is never rewritten.
    if std::env::var_os("UPDATE_SCHEMA").is_some() && !path.exists() {
        std::fs::write(&path, &now).unwrap();
    }
    let recorded = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: record the schema of version {SCHEMA_VERSION} (UPDATE_SCHEMA=1 cargo test --test schema)",
            path.display()
        )
    });
    assert!(
        recorded == now,
        "the flow schema changed but SCHEMA_VERSION is still {SCHEMA_VERSION}: raise it in src/report/row.rs, record tests/data/schema-v{{N}}.txt (UPDATE_SCHEMA=1) and document the change in the README"
    );
}

/// The inline sizes that set memory per tracked flow (BENCHMARKS.md): a guard against silent
/// growth of the flow table entry and the output row.
#[test]
fn per_flow_sizes_stay_within_budget() {
    let entry = std::mem::size_of::<o365flow::flow::FlowEntry<o365flow::dissect::FlowDissect>>();
    let row = std::mem::size_of::<o365flow::report::FlowRow>();
    eprintln!("size_of FlowEntry<FlowDissect> = {entry} bytes, FlowRow = {row} bytes");
    assert!(entry <= 336, "flow table entry grew to {entry} bytes");
    assert!(row <= 768, "flow row grew to {row} bytes");
}
