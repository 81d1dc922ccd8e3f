//! The compact summary printed after a run.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::row::FlowRow;
use super::summary::RunSummary;
use crate::classify::PortVerdict;
use crate::dissect::AppProtocol;
use crate::wire::Transport;

/// What the terminal summary counts over the flows, gathered row by row (so it needs no rows
/// kept when they are streamed to a file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowTally {
    pub flows: usize,
    pub tcp: usize,
    pub udp: usize,
    pub tls: usize,
    pub quic: usize,
    pub named: usize,
    pub o365: usize,
    pub o365_bytes: u64,
    /// Office 365 flows per service area and port verdict (`PortVerdict::ALL` order).
    pub by_area: BTreeMap<String, [usize; 5]>,
}

impl FlowTally {
    pub fn of(rows: &[FlowRow]) -> Self {
        let mut tally = FlowTally::default();
        for r in rows {
            tally.add(r);
        }
        tally
    }

    pub fn add(&mut self, r: &FlowRow) {
        self.flows += 1;
        match r.transport {
            Transport::Tcp => self.tcp += 1,
            Transport::Udp => self.udp += 1,
            _ => {}
        }
        match r.app_protocol {
            AppProtocol::Tls => self.tls += 1,
            AppProtocol::Quic => self.quic += 1,
            _ => {}
        }
        self.named += usize::from(r.sni.is_some());
        let Some(area) = &r.service_area else {
            return;
        };
        self.o365 += 1;
        self.o365_bytes += r.bytes_c2s + r.bytes_s2c;
        let col = PortVerdict::ALL
            .iter()
            .position(|v| *v == r.port_verdict)
            .unwrap_or(4);
        let counts = match self.by_area.get_mut(area.as_str()) {
            Some(counts) => counts,
            None => self.by_area.entry(area.as_str().to_owned()).or_default(),
        };
        if let Some(cell) = counts.get_mut(col) {
            *cell += 1;
        }
    }
}

pub fn render(summary: &RunSummary, tally: &FlowTally) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "captures read: {}   packets: {}   bytes: {}   flows: {} ({} tcp, {} udp, {} other)",
        summary.captures.len(),
        summary.packets,
        summary.bytes,
        tally.flows,
        tally.tcp,
        tally.udp,
        tally.flows - tally.tcp - tally.udp
    );
    let _ = writeln!(
        out,
        "TLS flows: {}, QUIC flows: {}, flows with a server name (SNI): {}",
        tally.tls, tally.quic, tally.named
    );
    let truncated: u64 = summary.captures.iter().map(|c| c.truncated_packets).sum();
    if truncated > 0 || summary.fragments > 0 || summary.non_ip_packets > 0 {
        let _ = writeln!(
            out,
            "not placed in flows: {} non-IP, {} of {} IP fragments; snaplen-truncated packets: {truncated}",
            summary.non_ip_packets,
            summary.fragments - summary.fragments_placed.min(summary.fragments),
            summary.fragments
        );
    }
    let _ = writeln!(out, "catalog: {}", summary.catalog);
    let _ = writeln!(
        out,
        "Office 365 flows: {} ({} bytes)",
        tally.o365, tally.o365_bytes
    );
    if tally.o365 > 0 {
        let _ = write!(out, "  {:<12}", "service");
        for v in PortVerdict::ALL {
            let _ = write!(out, " {:>12}", v.as_str());
        }
        let _ = writeln!(out, " {:>8}", "total");
        for (area, counts) in &tally.by_area {
            let _ = write!(out, "  {area:<12}");
            for c in counts {
                let _ = write!(out, " {c:>12}");
            }
            let _ = writeln!(out, " {:>8}", counts.iter().sum::<usize>());
        }
    }
    let t = &summary.table;
    if t.evicted > 0 || t.expired > 0 || t.port_reuse > 0 {
        let _ = writeln!(
            out,
            "flow table: peak {} flows, {} expired idle, {} evicted, {} ended by port reuse",
            t.peak_flows, t.expired, t.evicted, t.port_reuse
        );
    }
    if summary.warnings.is_empty() {
        let _ = writeln!(out, "warnings: none");
    } else {
        let _ = writeln!(out, "warnings ({}):", summary.warnings.len());
        for w in &summary.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

/// The report's verdict and findings, compactly, after the run summary.
#[cfg(feature = "report")]
pub fn findings(report: &super::audit::AuditReport) -> String {
    let mut out = String::new();
    let t = &report.totals;
    let _ = writeln!(
        out,
        "report: Office 365 {} of {} flows, {} of {} bytes",
        t.o365_flows, t.flows, t.o365_bytes, t.bytes
    );
    for bar in &report.verdict_bars {
        let parts: Vec<String> = bar
            .parts
            .iter()
            .filter(|(_, b)| *b > 0)
            .map(|(v, b)| format!("{v} {b}"))
            .collect();
        let _ = writeln!(out, "  {:<12} {}", bar.service_area, parts.join(", "));
    }
    if report.findings.is_empty() {
        let _ = writeln!(out, "findings: none");
    }
    for f in &report.findings {
        let _ = writeln!(
            out,
            "finding [{}] {} ({} flows)",
            f.severity.as_str(),
            f.title,
            f.flows
        );
    }
    out
}
