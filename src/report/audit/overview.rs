//! The summary on top of the report: what was analysed, how Office 365 traffic crosses the
//! firewall (shares per port verdict and path), the firewall rules it needs beyond TCP 80/443
//! and the findings by severity, one line each. Built from the report's own tables, so it never
//! disagrees with them.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use super::findings::{Finding, Severity};
use super::firewall::ObservedSet;
use super::tenants::OwnTenants;
use super::{bools, human_share, ints, proxied, texts, Table, Totals, BYTES, FLOW_COUNT, PORT};
use crate::classify::PortVerdict;
use crate::report::meta::RunMeta;

/// Flows and bytes of one part of Office 365 traffic, with its shares.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Share {
    /// Stable key: a port verdict (`tunneled-443`...), `direct` or `proxy`.
    pub key: String,
    /// How the summary names it.
    pub label: String,
    pub flows: i64,
    pub bytes: i64,
    pub share_of_flows: String,
    pub share_of_bytes: String,
}

/// One finding as a line of the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FindingLine {
    pub kind: String,
    pub severity: String,
    pub title: String,
    pub flows: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Overview {
    pub captures: usize,
    /// First and last packet over all captures (RFC 3339), empty without packets.
    pub first_packet: String,
    pub last_packet: String,
    /// Seconds of traffic the captures cover together.
    pub covered_seconds: f64,
    pub sites: Vec<String>,
    /// The company's own tenants and the tenants seen.
    pub tenants: OwnTenants,
    /// Per port verdict, in the order TCP 443, QUIC 443, port 80, other ports, other on 443.
    pub port_verdicts: Vec<Share>,
    /// Direct, then through a proxy.
    pub paths: Vec<Share>,
    /// `AREA set SET transport/port` for each endpoint set and observed port beyond TCP 80 and
    /// 443 (UDP 443 included: it needs a rule of its own) that Microsoft lists for the set
    /// (`port_listed = yes`): one firewall rule each.
    pub rules_beyond_web: Vec<String>,
    /// Observed (set, port) pairs beyond TCP 80 and 443 that Microsoft does not list for the
    /// set: not rules to open, the `exotic-ports` finding lists them.
    pub unlisted_ports: usize,
    /// Findings per severity: (severity, count), high first.
    pub severity_counts: Vec<(String, usize)>,
    pub findings: Vec<FindingLine>,
}

/// Firewall rules the summary line lists; the rest are counted.
pub const MAX_RULES_SHOWN: usize = 10;

/// The summary's words for observed ports beyond TCP 80/443 that Microsoft does not list for
/// their set (rendered with a link to the exotic-ports finding when it is there).
pub fn unlisted_ports_text(n: usize) -> String {
    format!("{n} observed ports beyond TCP 80/443 that Microsoft does not list for their set (not rules to open)")
}

/// How the summary names each port verdict, in its order.
const VERDICT_LABELS: [(PortVerdict, &str); 5] = [
    (PortVerdict::Tunneled443, "TLS on TCP 443"),
    (PortVerdict::Quic443, "QUIC on UDP 443"),
    (PortVerdict::Web80, "TCP 80"),
    (PortVerdict::Exotic, "other ports"),
    (PortVerdict::NonTls443, "not TLS on 443"),
];

fn share(key: &str, label: &str, flows: i64, bytes: i64, totals: &Totals) -> Share {
    Share {
        key: key.to_owned(),
        label: label.to_owned(),
        flows,
        bytes,
        share_of_flows: human_share(flows, totals.o365_flows),
        share_of_bytes: human_share(bytes, totals.o365_bytes),
    }
}

pub(super) fn overview(
    o365: &DataFrame,
    meta: &RunMeta,
    totals: &Totals,
    sets: &[ObservedSet],
    findings: &[Finding],
    tenants: OwnTenants,
) -> PolarsResult<Overview> {
    let verdicts = texts(o365, "port_verdict")?;
    let bytes = ints(o365, BYTES)?;
    let counts = ints(o365, FLOW_COUNT)?;
    let port_verdicts = VERDICT_LABELS
        .iter()
        .map(|(v, label)| {
            let (flows, sum) = verdicts
                .iter()
                .zip(bytes.iter().zip(&counts))
                .filter(|(p, _)| p.as_deref() == Some(v.as_str()))
                .fold((0, 0), |(f, b), (_, (bytes, n))| (f + n, b + bytes));
            share(v.as_str(), label, flows, sum, totals)
        })
        .collect();
    let via = proxied(o365)?;
    let (mut proxy_flows, mut proxy_bytes) = (0, 0);
    for (p, (b, n)) in via.iter().zip(bytes.iter().zip(&counts)) {
        if *p {
            proxy_flows += n;
            proxy_bytes += b;
        }
    }
    let paths = vec![
        share(
            "direct",
            "direct",
            totals.o365_flows - proxy_flows,
            totals.o365_bytes - proxy_bytes,
            totals,
        ),
        share("proxy", "through a proxy", proxy_flows, proxy_bytes, totals),
    ];
    // (set, port) -> listed, over Microsoft's sets only (not --catalog-extra entries).
    let ids = ints(o365, "endpoint_id")?;
    let ports = texts(o365, PORT)?;
    let listed = bools(o365, "port_listed")?;
    let mut beyond: BTreeMap<(i64, String), bool> = BTreeMap::new();
    for (i, (id, port)) in ids.iter().zip(&ports).enumerate() {
        let Some(port) = port else { continue };
        if port == "tcp/80" || port == "tcp/443" {
            continue;
        }
        if !sets.iter().any(|s| i64::from(s.endpoint_id) == *id) {
            continue;
        }
        let l = listed.get(i).copied().unwrap_or(false);
        *beyond.entry((*id, port.clone())).or_insert(l) |= l;
    }
    let area = |id: i64| {
        sets.iter()
            .find(|s| i64::from(s.endpoint_id) == id)
            .map(|s| s.service_area.clone())
            .unwrap_or_default()
    };
    let rules_beyond_web = beyond
        .iter()
        .filter(|(_, l)| **l)
        .map(|((id, p), _)| format!("{} set {id} {p}", area(*id)))
        .collect();
    let unlisted_ports = beyond.values().filter(|l| !**l).count();
    let severity_counts = [Severity::High, Severity::Warning, Severity::Info]
        .iter()
        .map(|s| {
            (
                s.as_str().to_owned(),
                findings.iter().filter(|f| f.severity == *s).count(),
            )
        })
        .collect();
    let firsts = meta.captures.iter().map(|c| &c.first_packet);
    let lasts = meta.captures.iter().map(|c| &c.last_packet);
    Ok(Overview {
        captures: meta.captures.len(),
        first_packet: firsts
            .filter(|t| !t.is_empty())
            .min()
            .cloned()
            .unwrap_or_default(),
        last_packet: lasts.max().cloned().unwrap_or_default(),
        covered_seconds: meta.covered_seconds(),
        sites: meta.sites.clone(),
        tenants,
        port_verdicts,
        paths,
        rules_beyond_web,
        unlisted_ports,
        severity_counts,
        findings: findings
            .iter()
            .map(|f| FindingLine {
                kind: f.kind.to_owned(),
                severity: f.severity.as_str().to_owned(),
                title: f.title.clone(),
                flows: f.flows,
            })
            .collect(),
    })
}

impl Overview {
    /// The lines of the summary as (label, text), the same in Markdown and HTML; findings and
    /// shares are rendered apart (they link and tabulate).
    pub fn lines(&self, totals: &Totals) -> Vec<(&'static str, String)> {
        let sites = if self.sites.is_empty() {
            "not named (--partition site=NAME names them)".to_owned()
        } else {
            self.sites.join(", ")
        };
        let span = if self.first_packet.is_empty() {
            "no packets".to_owned()
        } else {
            format!(
                "{} to {} ({:.1} s of traffic)",
                self.first_packet, self.last_packet, self.covered_seconds
            )
        };
        let rules = if self.rules_beyond_web.is_empty() {
            "none: TCP 80 and 443 carry all the traffic on ports Microsoft lists".to_owned()
        } else {
            let n = self.rules_beyond_web.len();
            let shown: Vec<&str> = self
                .rules_beyond_web
                .iter()
                .take(MAX_RULES_SHOWN)
                .map(String::as_str)
                .collect();
            let more = n - shown.len();
            format!(
                "{n} ({}{})",
                shown.join(", "),
                if more > 0 {
                    format!(", +{more} more")
                } else {
                    String::new()
                }
            )
        };
        let counts: Vec<String> = self
            .severity_counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let t = &self.tenants;
        let others = t.others;
        let tenants = match t.how.as_str() {
            "declared" => format!(
                "{} (declared with --tenant); {others} other tenants reached",
                t.tenants.join(", ")
            ),
            "presumed" => format!(
                "{} (presumed the company's own: the tenant with the most clients; declare with --tenant); {others} other tenants reached",
                t.tenants.join(", ")
            ),
            _ => "no tenant names seen".to_owned(),
        };
        let tenants = if t.mail_domains > 0 {
            format!(
                "{tenants}; {} recipients' mail domains (not tenants)",
                t.mail_domains
            )
        } else {
            tenants
        };
        vec![
            ("Captures", format!("{}; sites: {sites}", self.captures)),
            ("Time span", span),
            (
                "Office 365",
                format!(
                    "{} of {} flows, {} of {} bytes ({} of all bytes)",
                    totals.o365_flows,
                    totals.flows,
                    totals.o365_bytes,
                    totals.bytes,
                    human_share(totals.o365_bytes, totals.bytes)
                ),
            ),
            (
                "Paths",
                self.paths
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {} of bytes ({} flows)",
                            p.label, p.share_of_bytes, p.flows
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ("Firewall rules beyond TCP 80/443", rules),
            ("Tenants", tenants),
            ("Findings", counts.join(", ")),
        ]
    }
}

/// The appendix table: one row per capture with everything needed to prove what was read.
pub fn provenance(meta: &RunMeta) -> Table {
    let columns = [
        ("file", false),
        ("size (bytes)", true),
        ("SHA-256", false),
        ("link type", false),
        ("packets", true),
        ("bytes of traffic", true),
        ("first packet", false),
        ("last packet", false),
        ("span (s)", true),
        ("snaplen", true),
        ("truncated", true),
        ("skipped", true),
        ("dropped", true),
        ("read error", false),
    ];
    let rows = meta
        .captures
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.size_bytes.to_string(),
                c.sha256.clone(),
                c.link_type.clone(),
                c.packets.to_string(),
                c.bytes.to_string(),
                c.first_packet.clone(),
                c.last_packet.clone(),
                format!("{:.1}", c.duration_seconds),
                c.snaplen.map_or("unknown".to_owned(), |s| s.to_string()),
                c.truncated_packets.to_string(),
                c.skipped_packets.to_string(),
                c.dropped_packets.to_string(),
                if c.read_error { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    Table {
        id: "provenance",
        title: "Captures read".to_owned(),
        columns: columns.iter().map(|(c, _)| (*c).to_owned()).collect(),
        numeric: columns.iter().map(|(_, n)| *n).collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_rules_line_lists_ten_and_counts_the_rest() {
        let o = Overview {
            rules_beyond_web: (0..12)
                .map(|p| format!("Skype set 11 udp/{}", 3478 + p))
                .collect(),
            ..Overview::default()
        };
        let lines = o.lines(&Totals::default());
        let rules = lines
            .iter()
            .find(|(k, _)| *k == "Firewall rules beyond TCP 80/443")
            .map(|(_, v)| v.as_str());
        let shown: Vec<String> = (0..10)
            .map(|p| format!("Skype set 11 udp/{}", 3478 + p))
            .collect();
        assert_eq!(
            rules,
            Some(format!("12 ({}, +2 more)", shown.join(", ")).as_str())
        );
    }
}
