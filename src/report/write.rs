//! Writing the flow table: the format follows the file extension.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::row::FlowRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowFormat {
    Csv,
    Parquet,
    JsonLines,
}

impl FlowFormat {
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(FlowFormat::Csv),
            "parquet" => Some(FlowFormat::Parquet),
            "jsonl" | "ndjson" => Some(FlowFormat::JsonLines),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: unknown flow file type (use .csv, .parquet or .jsonl)")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path}: this build has no CSV/Parquet support (built without the `report` feature)")]
    NotBuilt { path: PathBuf },
}

/// Spreadsheet formula injection (OWASP "CSV injection"): a cell starting with one of these is
/// prefixed with a quote so it is shown as text, never evaluated.
pub fn csv_safe(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

pub fn write_flows(rows: &[FlowRow], path: &Path) -> Result<(), WriteError> {
    let format = FlowFormat::from_path(path).ok_or_else(|| WriteError::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    let io = |e: &dyn std::fmt::Display| WriteError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
    }
    match format {
        FlowFormat::JsonLines => {
            let file = File::create(path).map_err(|e| io(&e))?;
            let mut out = BufWriter::new(file);
            for row in rows {
                serde_json::to_writer(&mut out, &JsonRow::from(row)).map_err(|e| io(&e))?;
                out.write_all(b"\n").map_err(|e| io(&e))?;
            }
            out.flush().map_err(|e| io(&e))
        }
        #[cfg(feature = "report")]
        FlowFormat::Csv | FlowFormat::Parquet => {
            use super::frame::{flows_frame, Layout};
            use polars::prelude::{CsvWriter, ParquetWriter, SerWriter};
            let layout = if format == FlowFormat::Csv {
                Layout::Text
            } else {
                Layout::Typed
            };
            let mut df = flows_frame(rows, layout).map_err(|e| io(&e))?;
            let file = File::create(path).map_err(|e| io(&e))?;
            if format == FlowFormat::Csv {
                CsvWriter::new(BufWriter::new(file))
                    .finish(&mut df)
                    .map_err(|e| io(&e))
            } else {
                ParquetWriter::new(file)
                    .finish(&mut df)
                    .map(|_| ())
                    .map_err(|e| io(&e))
            }
        }
        #[cfg(not(feature = "report"))]
        FlowFormat::Csv | FlowFormat::Parquet => Err(WriteError::NotBuilt {
            path: path.to_path_buf(),
        }),
    }
}

/// One JSON object per flow, same names as the CSV columns.
#[derive(Serialize)]
struct JsonRow<'a> {
    capture: &'a str,
    first_seen: String,
    last_seen: String,
    transport: &'static str,
    client_ip: String,
    client_port: u16,
    server_ip: String,
    server_port: u16,
    packets_c2s: u64,
    packets_s2c: u64,
    bytes_c2s: u64,
    bytes_s2c: u64,
    app_protocol: &'static str,
    sni: Option<&'a str>,
    alpn: &'a [String],
    tls_offered: &'a [String],
    service_area: Option<&'a str>,
    endpoint_id: Option<u32>,
    category: Option<&'static str>,
    matched_by: Option<&'static str>,
    port_listed: Option<bool>,
    port_verdict: &'static str,
    tcp_flags_c2s: &'a str,
    tcp_flags_s2c: &'a str,
    handshake_completed: bool,
    server_answered: bool,
    tls_incomplete: bool,
    evidence: &'a [String],
    ip_protocol: u8,
    quic_version: Option<&'a str>,
    tunnel: Option<&'a str>,
    http_host: Option<&'a str>,
    proxy_target: Option<&'a str>,
    via_proxy: bool,
    dns_query: Option<&'a str>,
    dns_name: Option<&'a str>,
    media_seen: &'a [String],
    detected_by: Option<&'static str>,
    ja4: Option<&'a str>,
    ech: bool,
    tls_version: Option<&'a str>,
    alpn_selected: Option<&'a str>,
    cert_names: &'a [String],
    cert_issuer: Option<&'a str>,
    outcome: &'static str,
    direction: &'static str,
    microsoft: &'static str,
    user_agent: Option<&'a str>,
    client_app: Option<&'a str>,
    client_confidence: Option<&'static str>,
    client_evidence: &'a [String],
    published_service: Option<&'a str>,
}

impl<'a> From<&'a FlowRow> for JsonRow<'a> {
    fn from(r: &'a FlowRow) -> Self {
        JsonRow {
            capture: &r.capture,
            first_seen: r.first_seen_text(),
            last_seen: r.last_seen_text(),
            transport: r.transport.as_str(),
            client_ip: r.client_ip.to_string(),
            client_port: r.client_port,
            server_ip: r.server_ip.to_string(),
            server_port: r.server_port,
            packets_c2s: r.packets_c2s,
            packets_s2c: r.packets_s2c,
            bytes_c2s: r.bytes_c2s,
            bytes_s2c: r.bytes_s2c,
            app_protocol: r.app_protocol.as_str(),
            sni: r.sni.as_deref(),
            alpn: &r.alpn,
            tls_offered: &r.tls_offered,
            service_area: r.service_area.as_ref().map(|s| s.as_str()),
            endpoint_id: r.endpoint_id.map(|e| e.0),
            category: r.category.map(|c| c.as_str()),
            matched_by: r.matched_by.map(|m| m.as_str()),
            port_listed: r.port_listed,
            port_verdict: r.port_verdict.as_str(),
            tcp_flags_c2s: &r.tcp_flags_c2s,
            tcp_flags_s2c: &r.tcp_flags_s2c,
            handshake_completed: r.handshake_completed,
            server_answered: r.server_answered,
            tls_incomplete: r.tls_incomplete,
            evidence: &r.evidence,
            ip_protocol: r.ip_protocol,
            quic_version: r.quic_version.as_deref(),
            tunnel: Some(r.tunnel.as_str()).filter(|t| !t.is_empty()),
            http_host: r.http_host.as_deref(),
            proxy_target: r.proxy_target.as_deref(),
            via_proxy: r.via_proxy,
            dns_query: r.dns_query.as_deref(),
            dns_name: r.dns_name.as_deref(),
            media_seen: &r.media_seen,
            detected_by: r.detected_by,
            ja4: r.ja4.as_deref(),
            ech: r.ech,
            tls_version: r.tls_version.as_deref(),
            alpn_selected: r.alpn_selected.as_deref(),
            cert_names: &r.cert_names,
            cert_issuer: r.cert_issuer.as_deref(),
            outcome: r.outcome,
            direction: r.direction,
            microsoft: r.microsoft.as_str(),
            user_agent: r.user_agent.as_deref(),
            client_app: r.client_app.as_deref(),
            client_confidence: r.client_confidence.map(|c| c.as_str()),
            client_evidence: &r.client_evidence,
            published_service: r.published_service.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_safe("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_safe("+1"), "'+1");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("teams.microsoft.com"), "teams.microsoft.com");
    }
}
