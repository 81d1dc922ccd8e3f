//! Findings: what an auditor should look at, each with severity, a one-line explanation, the
//! evidence (flows, names, counts) and the recommended action. Each is a polars filter and
//! tally over the flow frame.

use polars::prelude::*;
use serde::Serialize;

use super::{ints, texts, BYTES};
use crate::catalog::Catalog;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable identifier of the finding type, e.g. `exotic-ports`.
    pub kind: &'static str,
    pub severity: Severity,
    pub title: String,
    pub explanation: String,
    /// One line per group of flows, most bytes first (at most `MAX_EVIDENCE`).
    pub evidence: Vec<String>,
    /// Evidence lines left out.
    pub more: usize,
    pub flows: i64,
    pub action: String,
}

const MAX_EVIDENCE: usize = 50;

/// Issuers of the certificates Microsoft's own services present (data file, one per line).
const MICROSOFT_ISSUERS: &str = include_str!("../data/microsoft-issuers.txt");

pub(super) fn finding(
    kind: &'static str,
    severity: Severity,
    title: &str,
    explanation: &str,
    action: &str,
    flows: i64,
    mut evidence: Vec<String>,
) -> Finding {
    let more = evidence.len().saturating_sub(MAX_EVIDENCE);
    evidence.truncate(MAX_EVIDENCE);
    Finding {
        kind,
        severity,
        title: title.to_owned(),
        explanation: explanation.to_owned(),
        evidence,
        more,
        flows,
        action: action.to_owned(),
    }
}

/// `key1 key2: N flows, B bytes` lines from a tally.
pub(super) fn lines<const N: usize>(
    df: &DataFrame,
    keys: [&str; N],
    describe: impl Fn(&[String; N]) -> String,
) -> PolarsResult<Vec<String>> {
    let columns: Vec<Vec<Option<String>>> = keys
        .iter()
        .map(|k| texts(df, k))
        .collect::<PolarsResult<_>>()?;
    let flows = ints(df, "flows")?;
    let bytes = ints(df, BYTES)?;
    Ok((0..df.height())
        .map(|i| {
            let values: [String; N] = std::array::from_fn(|k| {
                columns
                    .get(k)
                    .and_then(|c| c.get(i).cloned().flatten())
                    .unwrap_or_default()
            });
            format!(
                "{}: {} flows, {} bytes",
                describe(&values),
                flows.get(i).copied().unwrap_or(0),
                bytes.get(i).copied().unwrap_or(0)
            )
        })
        .collect())
}

/// The flows behind the rows of a (grouped) frame.
fn count_flows(df: &DataFrame) -> i64 {
    super::flow_count(df)
}

/// The best server name of each row: SNI, HTTP host or CONNECT target, DNS name.
pub(crate) fn names(df: &DataFrame) -> PolarsResult<Vec<Option<String>>> {
    let sni = texts(df, "sni")?;
    let host = texts(df, "http_host")?;
    let dns = texts(df, "dns_name")?;
    Ok(sni
        .into_iter()
        .zip(host)
        .zip(dns)
        .map(|((s, h), d)| s.or(h).or(d))
        .collect())
}

fn with_name(df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut out = df.clone();
    let n: Vec<Option<String>> = names(df)?;
    out.with_column(Column::new("name".into(), n))?;
    Ok(out)
}

mod services;
mod transport;

pub use services::microsoft_issuer;
use services::{blocked_required, legacy, published_services, tls_inspection, unlisted_microsoft};
use transport::{exotic_ports, media_fallback, non_tls_443, optimize_via_proxy, quic_blocked};

pub fn all(
    df: &DataFrame,
    o365: &DataFrame,
    temporal: &super::temporal::Temporal,
    catalog: &Catalog,
) -> PolarsResult<Vec<Finding>> {
    let mut out = Vec::new();
    out.extend(exotic_ports(o365)?);
    out.extend(media_fallback(o365)?);
    out.extend(quic_blocked(temporal)?);
    out.extend(non_tls_443(df)?);
    out.extend(optimize_via_proxy(o365)?);
    out.extend(tls_inspection(df)?);
    out.extend(blocked_required(o365, catalog)?);
    out.extend(unlisted_microsoft(df)?);
    out.extend(published_services(df)?);
    out.extend(legacy(df)?);
    out.sort_by_key(|f| f.severity);
    Ok(out)
}
