//! The run's metadata: what was read (captures with size, SHA-256, packets, bytes, time span,
//! snaplen, truncation, skipped link types, drops), with which catalog, internal networks and
//! o365flow version. It goes into summary.json and into the Parquet file's key-value metadata,
//! so `o365flow report` rebuilds the whole report, header included, from flow files alone.

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
        let superseded = |i: usize, run: &RunMeta| {
            let Some(id) = run.live_identity() else {
                return false;
            };
            runs.iter().enumerate().any(|(j, other)| {
                j != i
                    && other.live_identity().as_ref() == Some(&id)
                    && (other.packets(), j) > (run.packets(), i)
            })
        };
        let runs: Vec<&RunMeta> = runs
            .iter()
            .enumerate()
            .filter(|(i, run)| !superseded(*i, run))
            .map(|(_, run)| run)
            .collect();
        let Some(first) = runs.first().copied() else {
            return RunMeta {
                schema_version: SCHEMA_VERSION,
                o365flow_version: env!("CARGO_PKG_VERSION").to_owned(),
                ..RunMeta::default()
            };
        };
        let mut out = first.clone();
        for run in runs.iter().copied().skip(1) {
            out.captures.extend(run.captures.iter().cloned());
            out.malformed_packets += run.malformed_packets;
            out.evicted_flows += run.evicted_flows;
            out.pseudonymized |= run.pseudonymized;
            for w in &run.warnings {
                if !out.warnings.contains(w) {
                    out.warnings.push(w.clone());
                }
            }
            for (all, more) in [
                (&mut out.sites, &run.sites),
                (&mut out.tenants, &run.tenants),
            ] {
                for value in more {
                    if !all.contains(value) {
                        all.push(value.clone());
                    }
                }
            }
            if run.catalog != first.catalog {
                out.warnings.push(format!(
                    "flow files judged with different catalogs: {} and {}",
                    first.catalog, run.catalog
                ));
            }
            if run.internal_networks != first.internal_networks {
                out.warnings.push(format!(
                    "flow files used different internal networks: {:?} and {:?}",
                    first.internal_networks, run.internal_networks
                ));
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
}
