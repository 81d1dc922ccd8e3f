//! Issue 19: the report is built from flows gathered in groups, batch by batch, as a live run
//! hands them to its parts. Gathering the same flows in any batches, in any order, gives the
//! report of all of them at once; a limit on groups keeps the totals and says what it left out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::audit::{analyze_out, sample};
use o365flow::catalog::Catalog;
use o365flow::report::audit::{build, build_gathered, Gathered};
use o365flow::report::out::read_flow_files;

/// Captures that fill every table built from flow times (NAT pressure, quic-blocked, the
/// timeline) and from groups (tenants, names, verdicts, clients, findings).
fn flows() -> (polars::prelude::DataFrame, o365flow::report::meta::RunMeta) {
    let dir = analyze_out(
        &[
            sample("teams.pcap"),
            sample("clients/proxy-user-agents.pcap"),
            sample("report/nat-pressure.pcap"),
            sample("report/tenants.pcap"),
            sample("report/names.pcap"),
            sample("verdicts/quic-blocked-fallback.pcap"),
        ],
        &[],
    );
    let (df, metas) = read_flow_files(&[dir.path().join("flows.parquet")]).unwrap();
    (df, metas.into_iter().next().unwrap())
}

#[test]
fn gathering_in_batches_in_any_order_gives_the_report_of_all_flows() {
    let (df, meta) = flows();
    let catalog = Catalog::embedded().unwrap();
    let whole = build(&df, &meta, &catalog).unwrap();
    assert!(df.height() > 4_000, "{} flows", df.height());
    assert!(whole.findings.iter().any(|f| f.kind == "nat-pressure"));
    assert!(whole.findings.iter().any(|f| f.kind == "quic-blocked"));
    assert!(whole.findings.iter().any(|f| f.kind == "foreign-tenants"));
    for batch in [1_000, 333, 4_999] {
        let mut gathered = Gathered::default();
        // Last batch first: a live run hands flows over as they end, not as they began.
        let starts: Vec<usize> = (0..df.height()).step_by(batch).collect();
        for start in starts.iter().rev() {
            gathered
                .add(&df.slice(i64::try_from(*start).unwrap(), batch))
                .unwrap();
        }
        let report = build_gathered(&gathered, &meta, &catalog).unwrap();
        assert_eq!(report, whole, "batches of {batch}");
    }
}

/// (service area, port verdict, flows, bytes) of the verdict table.
fn verdict_counts(report: &o365flow::report::audit::AuditReport) -> Vec<[String; 4]> {
    report
        .verdict
        .rows
        .iter()
        .map(|r| [r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()])
        .collect()
}

/// The report's header has a caveat starting with `start`.
fn assert_caveat(report: &o365flow::report::audit::AuditReport, start: &str) {
    assert!(
        report.caveats.iter().any(|c| c.starts_with(start)),
        "no caveat {start:?} in {:?}",
        report.caveats
    );
}

#[test]
fn a_limit_on_groups_first_drops_addresses_then_detail_and_keeps_the_totals() {
    let (df, meta) = flows();
    let catalog = Catalog::embedded().unwrap();
    let whole = build(&df, &meta, &catalog).unwrap();
    let total = u64::try_from(whole.totals.flows).unwrap();

    // Coarsening: the smallest groups lose their addresses; every count stays.
    let mut gathered = Gathered::of(&df).unwrap();
    let groups = gathered.len();
    gathered.limit(60).unwrap();
    let o = gathered.overflow;
    assert!(
        gathered.len() < groups,
        "{} of {groups} groups",
        gathered.len()
    );
    assert!(o.coarsened.flows > 0 && o.coarsened.flows < total, "{o:?}");
    assert!(o.coarsened.o365 > 0 && o.coarsened.o365 <= o.coarsened.flows);
    assert_eq!(o.demoted.flows, 0, "{o:?}");
    let coarse = build_gathered(&gathered, &meta, &catalog).unwrap();
    assert_eq!(coarse.totals, whole.totals);
    assert_eq!(verdict_counts(&coarse), verdict_counts(&whole));
    assert_eq!(coarse.findings.len(), whole.findings.len());
    for (c, w) in coarse.findings.iter().zip(&whole.findings) {
        assert_eq!((c.kind, c.flows), (w.kind, w.flows));
    }
    assert_caveat(
        &coarse,
        &format!(
            "{} flows ({} of them Office 365, {} bytes) are kept without their client or server address",
            o.coarsened.flows, o.coarsened.o365, o.coarsened.bytes
        ),
    );
    // Proxied flows keep their proxy's address: the Paths table names the same proxies.
    let paths = |r: &o365flow::report::audit::AuditReport| -> Vec<Vec<String>> {
        r.paths.rows.iter().map(|row| row[..5].to_vec()).collect()
    };
    assert_eq!(paths(&coarse), paths(&whole));
    // No talker without an address.
    assert!(coarse.talkers.rows.iter().all(|r| !r[0].is_empty()));

    // Demoting: beyond what coarsening can do, the smallest groups count in the totals only.
    gathered.limit(2).unwrap();
    assert!(gathered.len() <= 3, "{} groups", gathered.len());
    let o = gathered.overflow;
    assert!(o.demoted.flows > 0 && o.demoted.flows < total, "{o:?}");
    let limited = build_gathered(&gathered, &meta, &catalog).unwrap();
    assert_eq!(limited.totals.flows, whole.totals.flows);
    assert_eq!(limited.totals.bytes, whole.totals.bytes);
    assert_eq!(
        limited.totals.o365_flows,
        whole.totals.o365_flows - i64::try_from(o.demoted.o365).unwrap()
    );
    assert_caveat(
        &limited,
        &format!(
            "{} flows ({} of them Office 365, {} bytes) went over the report's limit",
            o.demoted.flows, o.demoted.o365, o.demoted.bytes
        ),
    );
    // The group of flows only the totals count is never counted as going over: limiting
    // again changes nothing.
    gathered.limit(2).unwrap();
    assert_eq!(gathered.overflow, o);
}
