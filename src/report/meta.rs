//! The run's metadata: what was read (captures with size, SHA-256, packets, bytes, time span,
//! snaplen, truncation, skipped link types, drops), with which catalog, internal networks and
//! o365flow version. It goes into summary.json and into the Parquet file's key-value metadata,
//! so `o365flow report` rebuilds the whole report, header included, from flow files alone.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::row::SCHEMA_VERSION;
use super::summary::{RunSummary, Warning};

/// Key of the JSON-encoded [`RunMeta`] in a flows.parquet file's key-value metadata.
pub const PARQUET_META_KEY: &str = "o365flow.run";
/// Key of the flow schema version alone, for engines that read key-value metadata but not JSON.
pub const PARQUET_SCHEMA_KEY: &str = "o365flow.schema_version";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureMeta {
    pub name: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub link_type: String,
    pub packets: u64,
    pub bytes: u64,
    /// RFC 3339, UTC; empty for a capture without packets.
    pub first_packet: String,
    pub last_packet: String,
    pub duration_seconds: f64,
    pub snaplen: Option<u32>,
    pub truncated_packets: u64,
    /// Packets of a link type o365flow does not decode.
    pub skipped_packets: u64,
    /// Packets the kernel or the capture queue dropped (live capture; 0 for files).
    pub dropped_packets: u64,
    pub read_error: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub schema_version: u32,
    pub o365flow_version: String,
    /// Catalog name and version, e.g. `m365-worldwide-endpoints.json (version 2025120100)`.
    pub catalog: String,
    pub internal_networks: Vec<String>,
    pub pseudonymized: bool,
    pub captures: Vec<CaptureMeta>,
    pub malformed_packets: u64,
    /// Flows ended early because the flow table was full.
    pub evicted_flows: u64,
    pub warnings: Vec<String>,
    /// Sites the flows come from (`--partition site=NAME`); empty when none was named.
    #[serde(default)]
    pub sites: Vec<String>,
    /// The company's own Office 365 tenants (`--tenant`); empty: the report presumes the
    /// tenant with the most clients.
    #[serde(default)]
    pub tenants: Vec<String>,
}

impl RunMeta {
    pub fn from_run(summary: &RunSummary, internal: &[ipnet::IpNet]) -> Self {
        let captures = summary
            .captures
            .iter()
            .map(|c| {
                let skipped = summary
                    .warnings
                    .iter()
                    .filter_map(|w| match w {
                        Warning::SkippedLinkType { path, packets, .. } if *path == c.path => {
                            Some(*packets)
                        }
                        _ => None,
                    })
                    .sum();
                let when = |t: Option<crate::time::Timestamp>| {
                    t.map(|t| t.rfc3339(c.precision)).unwrap_or_default()
                };
                let duration = match (c.first_ts, c.last_ts) {
                    (Some(a), Some(b)) => (b.nanos() - a.nanos()) as f64 / 1e9,
                    _ => 0.0,
                };
                CaptureMeta {
                    name: c.name.clone(),
                    size_bytes: c.size,
                    sha256: c.sha256.clone(),
                    link_type: c.link_type.to_string(),
                    packets: c.packets,
                    bytes: c.bytes,
                    first_packet: when(c.first_ts),
                    last_packet: when(c.last_ts),
                    duration_seconds: duration,
                    snaplen: c.snaplen,
                    truncated_packets: c.truncated_packets,
                    skipped_packets: skipped,
                    dropped_packets: c.dropped_packets,
                    read_error: c.read_error,
                }
            })
            .collect();
        RunMeta {
            schema_version: SCHEMA_VERSION,
            o365flow_version: env!("CARGO_PKG_VERSION").to_owned(),
            catalog: summary.catalog.clone(),
            internal_networks: internal.iter().map(|n| n.to_string()).collect(),
            pseudonymized: false,
            captures,
            malformed_packets: summary.malformed,
            evicted_flows: summary.table.evicted,
            warnings: summary.warnings.iter().map(|w| w.to_string()).collect(),
            sites: Vec::new(),
            tenants: Vec::new(),
        }
    }

    /// A live run's identity: its captures' names and first packet times (live captures have
    /// no digest); None for a run of capture files.
    fn live_identity(&self) -> Option<Vec<(&str, &str)>> {
        let live = !self.captures.is_empty() && self.captures.iter().all(|c| c.sha256.is_empty());
        live.then(|| {
            self.captures
                .iter()
                .map(|c| (c.name.as_str(), c.first_packet.as_str()))
                .collect()
        })
    }

    /// Several runs (flow files) as one report: captures in order, counts added. The first
    /// run's catalog, networks and versions stand; differences become warnings. The parts of
    /// one live run carry snapshots of the same run taken as they were written: the latest
    /// (most packets) stands for the run.
    pub fn merge(runs: &[RunMeta]) -> RunMeta {
        // One pass: the latest snapshot of each live run (most packets, later file on a tie).
        // Comparing every part with every other was quadratic in the parts of a long live run.
        let identities: Vec<Option<Vec<(&str, &str)>>> =
            runs.iter().map(RunMeta::live_identity).collect();
        let mut latest: HashMap<&[(&str, &str)], (u64, usize)> = HashMap::default();
        for (i, (run, id)) in runs.iter().zip(&identities).enumerate() {
            if let Some(id) = id {
                let best = latest.entry(id.as_slice()).or_insert((run.packets(), i));
                *best = (*best).max((run.packets(), i));
            }
        }
        let runs: Vec<&RunMeta> = runs
            .iter()
            .zip(&identities)
            .enumerate()
            .filter(|(i, (_, id))| {
                id.as_ref()
                    .is_none_or(|id| latest.get(id.as_slice()).map(|&(_, j)| j) == Some(*i))
            })
            .map(|(_, (run, _))| run)
            .collect();
        let Some(first) = runs.first().copied() else {
            return RunMeta {
                schema_version: SCHEMA_VERSION,
                o365flow_version: env!("CARGO_PKG_VERSION").to_owned(),
                ..RunMeta::default()
            };
        };
        let mut out = first.clone();
        // Warnings, sites and tenants once each, however many parts repeat them.
        let mut warnings = Once::of(&out.warnings);
        let mut sites = Once::of(&out.sites);
        let mut tenants = Once::of(&out.tenants);
        for run in runs.iter().copied().skip(1) {
            out.captures.extend(run.captures.iter().cloned());
            out.malformed_packets += run.malformed_packets;
            out.evicted_flows += run.evicted_flows;
            out.pseudonymized |= run.pseudonymized;
            warnings.extend(&mut out.warnings, &run.warnings);
            sites.extend(&mut out.sites, &run.sites);
            tenants.extend(&mut out.tenants, &run.tenants);
            if run.catalog != first.catalog {
                let warning = format!(
                    "flow files judged with different catalogs: {} and {}",
                    first.catalog, run.catalog
                );
                warnings.extend(&mut out.warnings, &[warning]);
            }
            if run.internal_networks != first.internal_networks {
                let warning = format!(
                    "flow files used different internal networks: {:?} and {:?}",
                    first.internal_networks, run.internal_networks
                );
                warnings.extend(&mut out.warnings, &[warning]);
            }
        }
        out
    }

    pub fn packets(&self) -> u64 {
        self.captures.iter().map(|c| c.packets).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.captures.iter().map(|c| c.bytes).sum()
    }

    pub fn truncated_packets(&self) -> u64 {
        self.captures.iter().map(|c| c.truncated_packets).sum()
    }

    /// Seconds of traffic the captures cover together.
    pub fn covered_seconds(&self) -> f64 {
        self.captures.iter().map(|c| c.duration_seconds).sum()
    }
}

/// Adds to a list only what it does not hold yet (a set beside it: no scan per value).
struct Once(HashSet<String>);

impl Once {
    fn of(list: &[String]) -> Once {
        Once(list.iter().cloned().collect())
    }

    fn extend(&mut self, list: &mut Vec<String>, more: &[String]) {
        for value in more {
            if self.0.insert(value.clone()) {
                list.push(value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(packets: u64, first: &str) -> RunMeta {
        RunMeta {
            captures: vec![CaptureMeta {
                name: "live:eth1".into(),
                packets,
                first_packet: first.into(),
                ..CaptureMeta::default()
            }],
            ..RunMeta::default()
        }
    }

    #[test]
    fn a_live_runs_part_snapshots_merge_into_its_latest() {
        let a = "2026-01-05T10:00:00.000000Z";
        let merged = RunMeta::merge(&[live(10, a), live(30, a), live(20, a)]);
        assert_eq!(merged.captures, live(30, a).captures);
        // Another run (another start) stays a run of its own.
        let b = "2026-01-06T10:00:00.000000Z";
        let merged = RunMeta::merge(&[live(10, a), live(5, b), live(30, a)]);
        assert_eq!(merged.packets(), 35);
        // Capture files are never merged away.
        let mut file = live(10, a);
        file.captures[0].sha256 = "ab".repeat(32);
        assert_eq!(RunMeta::merge(&[file.clone(), file]).packets(), 20);
    }

    #[test]
    fn many_parts_merge_once_with_each_warning_once() {
        // A month of hourly parts and more: one live run, its latest snapshot in the middle,
        // every part after the first judged with another catalog.
        let a = "2026-01-05T10:00:00.000000Z";
        let mut parts: Vec<RunMeta> = (0..20_000u64)
            .map(|i| RunMeta {
                catalog: if i == 0 { "first" } else { "second" }.into(),
                warnings: vec!["2 packets truncated".into()],
                ..live(i % 10_007, a)
            })
            .collect();
        parts[0].warnings.clear();
        let merged = RunMeta::merge(&parts);
        assert_eq!(merged.packets(), 10_006);
        assert_eq!(merged.captures.len(), 1);
        // Only the latest snapshot stands, so only its warnings and catalog count.
        assert_eq!(merged.catalog, "second");
        assert_eq!(merged.warnings, ["2 packets truncated"]);
        // Equal snapshots: the later file stands.
        let (mut early, late) = (live(7, a), live(7, a));
        early.catalog = "early".into();
        assert_eq!(RunMeta::merge(&[early, late.clone()]).catalog, late.catalog);
        // Capture files are all kept; a repeated warning shows once.
        let file = |catalog: &str| {
            let mut f = live(1, a);
            f.captures[0].sha256 = "ab".repeat(32);
            f.catalog = catalog.into();
            f.tenants = vec!["contoso".into(), catalog.into()];
            f
        };
        let files: Vec<RunMeta> = [vec![file("first")], vec![file("second"); 1_000]].concat();
        let merged = RunMeta::merge(&files);
        assert_eq!(merged.packets(), 1_001);
        assert_eq!(merged.tenants, ["contoso", "first", "second"]);
        assert_eq!(
            merged.warnings,
            ["flow files judged with different catalogs: first and second"]
        );
    }
}
