//! Tables of the report beside the verdict: paths (direct or through which proxy), the
//! header's caveats and the timeline.

use polars::prelude::*;

use super::{proxied, server_endpoints, table_of, tally, Table, BYTES};
use crate::classify::FlowPath;
use crate::report::meta::RunMeta;

const ROUTE: &str = "route";

/// Office 365 flows and bytes per service area, category and path: `direct`, or
/// `proxy ADDRESS:PORT` for each proxy the clients asked.
pub(super) fn paths_table(o365: &DataFrame) -> PolarsResult<Table> {
    let route: Vec<String> = proxied(o365)?
        .into_iter()
        .zip(server_endpoints(o365)?)
        .map(|(proxied, server)| {
            if proxied {
                format!("proxy {server}")
            } else {
                FlowPath::Direct.as_str().to_owned()
            }
        })
        .collect();
    let mut df = o365.clone();
    df.with_column(Column::new(ROUTE.into(), route))?;
    let paths_df = tally(&df, &["service_area", "category", ROUTE], "client_ip")?.sort(
        ["service_area", "category", BYTES],
        SortMultipleOptions::default()
            .with_order_descending_multi([false, false, true])
            .with_maintain_order(true),
    )?;
    table_of(
        "paths",
        "Paths: Office 365 traffic direct or through a proxy",
        &paths_df,
        &[
            "service area",
            "category",
            "path",
            "flows",
            "bytes",
            "clients",
        ],
    )
}

/// Warnings for the header: what the captures cannot show.
pub(super) fn caveats(meta: &RunMeta) -> Vec<String> {
    let mut out = Vec::new();
    let truncated = meta.truncated_packets();
    if truncated > 0 {
        out.push(format!(
            "{truncated} packets were cut by the capture's snaplen: server names in cut handshakes are missing, byte counts are those kept"
        ));
    }
    let hours = meta.covered_seconds() / 3600.0;
    if hours < 24.0 {
        out.push(format!(
            "the captures cover {hours:.2} hours: \"never seen\" endpoints may simply not have been used in that time (a working day or more is needed to judge them)"
        ));
    }
    if meta.evicted_flows > 0 {
        out.push(format!(
            "{} flows were ended early because the flow table was full (counts are split, not lost)",
            meta.evicted_flows
        ));
    }
    let skipped: u64 = meta.captures.iter().map(|c| c.skipped_packets).sum();
    if skipped > 0 {
        out.push(format!(
            "{skipped} packets of unsupported link types were skipped"
        ));
    }
    let dropped: u64 = meta.captures.iter().map(|c| c.dropped_packets).sum();
    if dropped > 0 {
        out.push(format!("{dropped} packets were dropped while capturing"));
    }
    if meta.captures.iter().any(|c| c.read_error) {
        out.push("some captures could not be read to the end (see warnings)".to_owned());
    }
    out
}
