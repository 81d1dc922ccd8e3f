//! TCP and UDP flow counts per Ethernet capture equal tshark's conversation counts (from the
//! corpus MANIFEST, `tshark -q -z conv,tcp -z conv,udp`), or differ for a reason written in
//! tests/data/flow_count_differences.csv. A listed difference that no longer holds fails too,
//! so the table stays true.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use o365flow::wire::Transport;

#[test]
fn flow_counts_match_tshark_or_have_a_written_reason() {
    let Some(shared) = common::shared_dir("flow_counts_match_tshark_or_have_a_written_reason")
    else {
        return;
    };
    let table_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/flow_count_differences.csv");
    let reasons: BTreeMap<String, _> = common::read_csv(&table_path)
        .into_iter()
        .map(|r| (r["file"].clone(), r))
        .collect();
    let mut problems = Vec::new();
    let (mut checked, mut equal_count) = (0, 0);
    for (file, _category, link, tshark_tcp, tshark_udp) in common::manifest(&shared) {
        if link != "ether" {
            continue;
        }
        checked += 1;
        let analysis = common::analyze_one(&shared.join("corpus").join(&file));
        let count = |t| analysis.flows.iter().filter(|f| f.transport == t).count();
        let (tcp, udp) = (count(Transport::Tcp), count(Transport::Udp));
        let equal = (tcp, udp) == (tshark_tcp, tshark_udp);
        equal_count += usize::from(equal);
        match (equal, reasons.get(&file)) {
            (true, None) => {}
            (true, Some(_)) => problems.push(format!("{file}: counts now equal tshark ({tcp}/{udp}); remove it from the table")),
            (false, None) => problems.push(format!(
                "{file}: tcp {tcp} udp {udp}, tshark tcp {tshark_tcp} udp {tshark_udp}, no reason written"
            )),
            (false, Some(r)) => {
                let listed = (r["ours_tcp"].parse::<usize>().unwrap(), r["ours_udp"].parse::<usize>().unwrap());
                let tshark = (r["tshark_tcp"].parse::<usize>().unwrap(), r["tshark_udp"].parse::<usize>().unwrap());
                assert!(!r["reason"].trim().is_empty(), "{file}: empty reason");
                if listed != (tcp, udp) || tshark != (tshark_tcp, tshark_udp) {
                    problems.push(format!(
                        "{file}: table says ours {listed:?} tshark {tshark:?}, measured ours {:?} tshark {:?}",
                        (tcp, udp),
                        (tshark_tcp, tshark_udp)
                    ));
                }
            }
        }
    }
    eprintln!(
        "Ethernet captures checked: {checked}, listed differences: {}",
        reasons.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The README states these numbers.
    assert_eq!(
        (checked, equal_count, reasons.len()),
        (80, 70, 10),
        "(Ethernet captures checked, equal to tshark, listed differences)"
    );
}
