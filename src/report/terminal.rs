//! The compact summary printed after a run.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::row::FlowRow;
use super::summary::RunSummary;
use crate::classify::PortVerdict;
use crate::dissect::AppProtocol;
use crate::wire::Transport;

pub fn render(summary: &RunSummary, rows: &[FlowRow]) -> String {
    let mut out = String::new();
    let tcp = rows
        .iter()
        .filter(|r| r.transport == Transport::Tcp)
        .count();
    let udp = rows
        .iter()
        .filter(|r| r.transport == Transport::Udp)
        .count();
    let _ = writeln!(
        out,
        "captures read: {}   packets: {}   bytes: {}   flows: {} ({tcp} tcp, {udp} udp, {} other)",
        summary.captures.len(),
        summary.packets,
        summary.bytes,
        rows.len(),
        rows.len() - tcp - udp
    );
    let tls = rows
        .iter()
        .filter(|r| r.app_protocol == AppProtocol::Tls)
        .count();
    let quic = rows
        .iter()
        .filter(|r| r.app_protocol == AppProtocol::Quic)
        .count();
    let named = rows.iter().filter(|r| r.sni.is_some()).count();
    let _ = writeln!(
        out,
        "TLS flows: {tls}, QUIC flows: {quic}, flows with a server name (SNI): {named}"
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

    let o365: Vec<&FlowRow> = rows.iter().filter(|r| r.service_area.is_some()).collect();
    let bytes: u64 = o365.iter().map(|r| r.bytes_c2s + r.bytes_s2c).sum();
    let _ = writeln!(out, "Office 365 flows: {} ({bytes} bytes)", o365.len());
    if !o365.is_empty() {
        let mut table: BTreeMap<&str, [usize; 5]> = BTreeMap::new();
        for r in &o365 {
            let area = r.service_area.as_ref().map(|s| s.as_str()).unwrap_or("");
            let col = PortVerdict::ALL
                .iter()
                .position(|v| *v == r.port_verdict)
                .unwrap_or(4);
            if let Some(cell) = table.entry(area).or_default().get_mut(col) {
                *cell += 1;
            }
        }
        let _ = write!(out, "  {:<12}", "service");
        for v in PortVerdict::ALL {
            let _ = write!(out, " {:>12}", v.as_str());
        }
        let _ = writeln!(out, " {:>8}", "total");
        for (area, counts) in &table {
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
