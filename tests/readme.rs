//! Numbers the README shows that no other test pins: the example terminal summary under
//! "Reading the summary" is what `analyze` prints over the top-level samples, line for line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

/// The indented block that follows `heading` in the README, without its indentation.
fn readme_block(heading: &str) -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let after = readme
        .split_once(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"))
        .1;
    after
        .lines()
        .skip_while(|l| !l.starts_with("    "))
        .take_while(|l| l.starts_with("    "))
        .map(|l| l[4..].to_owned())
        .collect()
}

#[test]
fn readme_summary_example_is_what_analyze_prints() {
    let expected = readme_block("### Reading the summary");
    assert!(expected.len() >= 10, "{expected:?}");
    let out = common::o365flow_command()
        .arg("analyze")
        .args(common::sample_captures(""))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed, expected, "README's summary example is stale");
}
