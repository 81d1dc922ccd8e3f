//! JA4 fingerprints equal the JA4 reference implementation's values (../shared/ja4) for the
//! first ClientHello of every stream there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[test]
fn ja4_matches_the_reference_implementation() {
    let Some(shared) = common::shared_dir("ja4_matches_the_reference_implementation") else {
        return;
    };
    let dir = shared.join("ja4");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".ja4.csv"))
        .collect();
    files.sort();
    let (mut checked, mut failures) = (0, Vec::new());
    for csv in files {
        let capture = dir.join(
            csv.file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".ja4.csv"),
        );
        let analysis = common::analyze_one(&capture);
        // The raw ja4_r column holds commas, so only the leading fields are split off.
        let text = std::fs::read_to_string(&csv).unwrap();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.splitn(9, ',').collect();
            let (src, sport, dst, dport, hello, ja4) = (
                fields[1], fields[2], fields[3], fields[4], fields[6], fields[7],
            );
            if hello != "1" {
                continue;
            }
            checked += 1;
            let key = (
                src.to_owned(),
                sport.parse::<u16>().unwrap(),
                dst.to_owned(),
                dport.parse::<u16>().unwrap(),
            );
            let ours: Vec<_> = analysis
                .flows
                .iter()
                .filter(|f| common::five_tuple(f) == key)
                .map(|f| f.ja4.clone().unwrap_or_default())
                .collect();
            if !ours.iter().any(|j| j == ja4) {
                failures.push(format!(
                    "{}: {key:?}: reference {ja4}, ours {ours:?}",
                    capture.display()
                ));
            }
        }
    }
    eprintln!(
        "JA4 first ClientHellos checked: {checked}, different: {}",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The README states this number: every first ClientHello of the reference files.
    assert_eq!(checked, 128, "reference rows checked");
}
