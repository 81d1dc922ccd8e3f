//! NAT and connection pressure: per source address, the peak number of concurrent Office 365
//! TCP connections, the peak towards one destination address and port, and when each happened
//! (capture time). Source NAT gives a public address one source port per connection towards
//! the same destination address and port, 64,512 of them (ports 1024-65535), so one source
//! holding more than half of them towards one destination, or more than 4,000 Office 365
//! connections at once, is a finding (README, "Reading the report").

use std::collections::BTreeMap;

use polars::prelude::*;

use super::findings::{finding, Finding, Severity};
use super::temporal::Temporal;
use super::{human_share, Table};
use crate::time::{Precision, Timestamp};

/// Source ports a NAT address has towards one destination address and port: 1024-65535.
pub const EPHEMERAL_PORTS: i64 = 64_512;
/// More than this many concurrent Office 365 connections from one source is a finding.
pub const CONCURRENT_LIMIT: i64 = 4_000;
/// Sources shown in the table, most concurrent connections first.
const SHOWN: usize = 20;

/// The most intervals open at once (both ends inclusive: a connection ending when another
/// starts overlaps it) and the first time that many were open.
fn peak(intervals: &[(i64, i64)]) -> (i64, i64) {
    let mut events: Vec<(i64, u8)> = Vec::with_capacity(intervals.len() * 2);
    for (start, end) in intervals {
        events.push((*start, 0));
        events.push(((*end).max(*start), 1));
    }
    // Starts before ends at the same time.
    events.sort_unstable();
    let (mut open, mut best, mut at) = (0i64, 0i64, 0i64);
    for (time, kind) in events {
        if kind == 0 {
            open += 1;
            if open > best {
                best = open;
                at = time;
            }
        } else {
            open -= 1;
        }
    }
    (best, at)
}

fn when(ns: i64) -> String {
    let precision = if ns % 1000 == 0 {
        Precision::Micro
    } else {
        Precision::Nano
    };
    Timestamp(ns).rfc3339(precision)
}

/// One source: its peak, and its busiest destination with that destination's peak.
struct Pressure {
    source: String,
    peak: i64,
    at: i64,
    destination: String,
    destination_peak: i64,
    destination_at: i64,
    flows: i64,
}

/// The connection-pressure table and the `nat-pressure` finding, from each Office 365 TCP
/// connection's start and end ([`Temporal`]).
pub(super) fn pressure(temporal: &Temporal) -> PolarsResult<(Table, Option<Finding>)> {
    let mut per_source: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    let mut per_dest: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for c in &temporal.connections {
        let source = temporal.strings.name(c.source);
        let dest = temporal.strings.name(c.destination);
        let span = (c.start, c.end);
        per_source.entry(source.to_owned()).or_default().push(span);
        per_dest
            .entry((source.to_owned(), dest.to_owned()))
            .or_default()
            .push(span);
    }
    let mut busiest: BTreeMap<&str, (i64, i64, &str)> = BTreeMap::new();
    for ((c, d), spans) in &per_dest {
        let (p, at) = peak(spans);
        let better = busiest
            .get(c.as_str())
            .is_none_or(|(bp, bat, _)| p > *bp || (p == *bp && at < *bat));
        if better {
            busiest.insert(c.as_str(), (p, at, d.as_str()));
        }
    }
    let mut all: Vec<Pressure> = per_source
        .iter()
        .map(|(c, spans)| {
            let (p, at) = peak(spans);
            let (dp, dat, d) = busiest.get(c.as_str()).copied().unwrap_or((0, 0, ""));
            Pressure {
                source: c.clone(),
                peak: p,
                at,
                destination: d.to_owned(),
                destination_peak: dp,
                destination_at: dat,
                flows: spans.len() as i64,
            }
        })
        .collect();
    all.sort_by(|a, b| b.peak.cmp(&a.peak).then(a.source.cmp(&b.source)));
    let mut rows: Vec<Vec<String>> = all
        .iter()
        .take(SHOWN)
        .map(|p| {
            vec![
                p.source.clone(),
                p.flows.to_string(),
                p.peak.to_string(),
                when(p.at),
                p.destination.clone(),
                p.destination_peak.to_string(),
                when(p.destination_at),
                human_share(p.destination_peak, EPHEMERAL_PORTS),
            ]
        })
        .collect();
    let rest = all.get(SHOWN..).unwrap_or_default();
    let title = "Concurrent Office 365 TCP connections per source address".to_owned();
    let title = if rest.is_empty() {
        title
    } else {
        rows.push(vec![
            format!("... {} more sources", rest.len()),
            rest.iter().map(|p| p.flows).sum::<i64>().to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        format!(
            "{title} ({SHOWN} of {} sources, most at once first)",
            all.len()
        )
    };
    let table = Table {
        id: "connections",
        title,
        columns: [
            "source",
            "connections",
            "peak at once",
            "at",
            "busiest destination",
            "peak to it",
            "at",
            "share of 64,512 ports",
        ]
        .map(str::to_owned)
        .to_vec(),
        numeric: vec![false, true, true, false, false, true, false, true],
        rows,
    };
    let mut evidence = Vec::new();
    let mut flows = 0;
    for p in &all {
        let ports = 2 * p.destination_peak > EPHEMERAL_PORTS;
        let many = p.peak > CONCURRENT_LIMIT;
        if ports {
            evidence.push(format!(
                "{} held {} connections to {} at once at {}: {} of the {EPHEMERAL_PORTS} source ports a NAT address has towards one destination",
                p.source,
                p.destination_peak,
                p.destination,
                when(p.destination_at),
                human_share(p.destination_peak, EPHEMERAL_PORTS)
            ));
        }
        if many {
            evidence.push(format!(
                "{} held {} Office 365 connections at once at {} (more than {CONCURRENT_LIMIT})",
                p.source,
                p.peak,
                when(p.at)
            ));
        }
        if ports || many {
            flows += p.flows;
        }
    }
    if evidence.is_empty() {
        return Ok((table, None));
    }
    Ok((
        table,
        Some(finding(
            "nat-pressure",
            Severity::Warning,
            "Source addresses near NAT port exhaustion",
            "Source NAT gives each connection from one public address its own source port towards the same destination address and port: 64,512 of them (1024-65535). Microsoft warns that Outlook alone opens eight or more connections per user, so a public address shared by many clients runs out of ports, and new connections to Office 365 then fail or wait. These sources held more than half of those ports towards one destination, or more than 4,000 Office 365 connections at once.",
            "Give the NAT pool more public addresses (Microsoft's guidance: measure the peak ports per client and size the pool for it), send Optimize traffic direct instead of through one proxy or NAT address, and check the NAT's idle timeouts.",
            flows,
            evidence,
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::peak;

    #[test]
    fn touching_intervals_overlap_and_the_first_peak_counts() {
        assert_eq!(peak(&[]), (0, 0));
        assert_eq!(peak(&[(1, 5), (5, 9)]), (2, 5));
        assert_eq!(peak(&[(1, 2), (3, 4)]), (1, 1));
        assert_eq!(peak(&[(0, 10), (2, 3), (4, 12), (11, 11)]), (2, 2));
        // An end before its start (time went backwards between files) counts as a point.
        assert_eq!(peak(&[(5, 1), (5, 6)]), (2, 5));
    }
}
