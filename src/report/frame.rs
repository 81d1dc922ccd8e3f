//! Flow rows as a polars DataFrame: typed for Parquet, flattened to text for CSV.

use polars::prelude::*;

use super::row::FlowRow;
use super::write::csv_safe;

/// How list and time columns are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Timestamps as UTC datetimes (ns), lists as lists: Parquet.
    Typed,
    /// Timestamps as RFC 3339 text, lists `|`-joined, cells formula-safe: CSV.
    Text,
}

fn text_col<'a>(
    name: &str,
    rows: &'a [FlowRow],
    layout: Layout,
    f: impl Fn(&'a FlowRow) -> Option<String>,
) -> Column {
    let values: Vec<Option<String>> = rows
        .iter()
        .map(|r| match layout {
            // In CSV an empty value is an empty cell, not a quoted empty string.
            Layout::Text => f(r)
                .filter(|s| !s.is_empty())
                .map(|s| csv_safe(&s).into_owned()),
            Layout::Typed => f(r),
        })
        .collect();
    Column::new(name.into(), values)
}

fn list_col<'a>(
    name: &str,
    rows: &'a [FlowRow],
    layout: Layout,
    f: impl Fn(&'a FlowRow) -> &'a [String],
) -> Column {
    match layout {
        Layout::Text => text_col(name, rows, layout, |r| Some(f(r).join("|"))),
        Layout::Typed => {
            let total: usize = rows.iter().map(|r| f(r).len()).sum();
            let mut builder = ListStringChunkedBuilder::new(name.into(), rows.len(), total);
            for r in rows {
                builder.append_values_iter(f(r).iter().map(String::as_str));
            }
            builder.finish().into_series().into_column()
        }
    }
}

fn time_col(
    name: &str,
    rows: &[FlowRow],
    layout: Layout,
    pick: impl Fn(&FlowRow) -> (crate::time::Timestamp, crate::time::Precision),
) -> PolarsResult<Column> {
    Ok(match layout {
        // Text only where it is written: formatting dates costs more than the rest of a row.
        Layout::Text => text_col(name, rows, layout, |r| {
            let (ts, precision) = pick(r);
            Some(ts.rfc3339(precision))
        }),
        Layout::Typed => {
            let nanos: Vec<i64> = rows.iter().map(|r| pick(r).0.nanos()).collect();
            Series::new(name.into(), nanos)
                .cast(&DataType::Datetime(
                    TimeUnit::Nanoseconds,
                    Some(TimeZone::UTC),
                ))?
                .into_column()
        }
    })
}

fn int_col(name: &str, rows: &[FlowRow], f: impl Fn(&FlowRow) -> i32) -> Column {
    let v: Vec<i32> = rows.iter().map(f).collect();
    Column::new(name.into(), v)
}

fn count_col(name: &str, rows: &[FlowRow], f: impl Fn(&FlowRow) -> u64) -> Column {
    // Signed 64-bit: every engine reads it (Spark has no unsigned types).
    let v: Vec<i64> = rows
        .iter()
        .map(|r| i64::try_from(f(r)).unwrap_or(i64::MAX))
        .collect();
    Column::new(name.into(), v)
}

pub fn flows_frame(rows: &[FlowRow], layout: Layout) -> PolarsResult<DataFrame> {
    let columns = vec![
        text_col("capture", rows, layout, |r| Some(r.capture.clone())),
        time_col("first_seen", rows, layout, |r| (r.first_seen, r.precision))?,
        time_col("last_seen", rows, layout, |r| (r.last_seen, r.precision))?,
        text_col("transport", rows, layout, |r| {
            Some(r.transport.as_str().to_owned())
        }),
        text_col("client_ip", rows, layout, |r| Some(r.client_ip.to_string())),
        int_col("client_port", rows, |r| i32::from(r.client_port)),
        text_col("server_ip", rows, layout, |r| Some(r.server_ip.to_string())),
        int_col("server_port", rows, |r| i32::from(r.server_port)),
        count_col("packets_c2s", rows, |r| r.packets_c2s),
        count_col("packets_s2c", rows, |r| r.packets_s2c),
        count_col("bytes_c2s", rows, |r| r.bytes_c2s),
        count_col("bytes_s2c", rows, |r| r.bytes_s2c),
        text_col("app_protocol", rows, layout, |r| {
            Some(r.app_protocol.as_str().to_owned())
        }),
        text_col("sni", rows, layout, |r| r.sni.clone()),
        list_col("alpn", rows, layout, |r| &r.alpn),
        list_col("tls_offered", rows, layout, |r| &r.tls_offered),
        text_col("service_area", rows, layout, |r| {
            r.service_area.as_ref().map(|s| s.as_str().to_owned())
        }),
        Column::new(
            "endpoint_id".into(),
            rows.iter()
                .map(|r| r.endpoint_id.map(|e| i64::from(e.0)))
                .collect::<Vec<_>>(),
        ),
        text_col("category", rows, layout, |r| {
            r.category.map(|c| c.as_str().to_owned())
        }),
        text_col("matched_by", rows, layout, |r| {
            r.matched_by.map(|m| m.as_str().to_owned())
        }),
        Column::new(
            "port_listed".into(),
            rows.iter().map(|r| r.port_listed).collect::<Vec<_>>(),
        ),
        text_col("port_verdict", rows, layout, |r| {
            Some(r.port_verdict.as_str().to_owned())
        }),
        text_col("tcp_flags_c2s", rows, layout, |r| {
            Some(r.tcp_flags_c2s.clone())
        }),
        text_col("tcp_flags_s2c", rows, layout, |r| {
            Some(r.tcp_flags_s2c.clone())
        }),
        Column::new(
            "handshake_completed".into(),
            rows.iter()
                .map(|r| r.handshake_completed)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "server_answered".into(),
            rows.iter().map(|r| r.server_answered).collect::<Vec<_>>(),
        ),
        Column::new(
            "tls_incomplete".into(),
            rows.iter().map(|r| r.tls_incomplete).collect::<Vec<_>>(),
        ),
        list_col("evidence", rows, layout, |r| &r.evidence),
        int_col("ip_protocol", rows, |r| i32::from(r.ip_protocol)),
        text_col("quic_version", rows, layout, |r| r.quic_version.clone()),
        text_col("tunnel", rows, layout, |r| {
            Some(r.tunnel.clone()).filter(|t| !t.is_empty())
        }),
        text_col("http_host", rows, layout, |r| r.http_host.clone()),
        text_col("proxy_target", rows, layout, |r| r.proxy_target.clone()),
        Column::new(
            "via_proxy".into(),
            rows.iter().map(|r| r.via_proxy).collect::<Vec<_>>(),
        ),
        text_col("dns_query", rows, layout, |r| r.dns_query.clone()),
        text_col("dns_name", rows, layout, |r| r.dns_name.clone()),
        list_col("media_seen", rows, layout, |r| &r.media_seen),
        text_col("detected_by", rows, layout, |r| {
            r.detected_by.map(str::to_owned)
        }),
        text_col("ja4", rows, layout, |r| r.ja4.clone()),
        Column::new("ech".into(), rows.iter().map(|r| r.ech).collect::<Vec<_>>()),
        text_col("tls_version", rows, layout, |r| r.tls_version.clone()),
        text_col("alpn_selected", rows, layout, |r| r.alpn_selected.clone()),
        list_col("cert_names", rows, layout, |r| &r.cert_names),
        text_col("cert_issuer", rows, layout, |r| r.cert_issuer.clone()),
        text_col("outcome", rows, layout, |r| Some(r.outcome.to_owned())),
        text_col("direction", rows, layout, |r| Some(r.direction.to_owned())),
        text_col("microsoft", rows, layout, |r| {
            Some(r.microsoft.as_str().to_owned())
        }),
        text_col("user_agent", rows, layout, |r| r.user_agent.clone()),
        text_col("client_app", rows, layout, |r| r.client_app.clone()),
        text_col("client_confidence", rows, layout, |r| {
            r.client_confidence.map(|c| c.as_str().to_owned())
        }),
        list_col("client_evidence", rows, layout, |r| &r.client_evidence),
        text_col("published_service", rows, layout, |r| {
            r.published_service.clone()
        }),
    ];
    DataFrame::new(rows.len(), columns)
}
