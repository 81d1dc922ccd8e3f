//! Flow rows as a polars DataFrame: typed for Parquet, flattened to text for CSV.

use std::borrow::Cow;
use std::fmt::Write;
use std::net::IpAddr;

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
    f: impl Fn(&'a FlowRow) -> Option<Cow<'a, str>>,
) -> Column {
    // Straight into polars' buffer: the rows' text is borrowed, never collected first.
    let mut builder = StringChunkedBuilder::new(name.into(), rows.len());
    for r in rows {
        match layout {
            // In CSV an empty value is an empty cell, not a quoted empty string.
            Layout::Text => match f(r).filter(|s| !s.is_empty()) {
                Some(text) => builder.append_value(csv_safe(&text)),
                None => builder.append_null(),
            },
            Layout::Typed => builder.append_option(f(r)),
        }
    }
    builder.finish().into_series().into_column()
}

/// Addresses as text, written into one reused buffer (no string per cell). The same in both
/// layouts: an address never starts like a formula.
fn address_col(name: &str, rows: &[FlowRow], pick: impl Fn(&FlowRow) -> IpAddr) -> Column {
    let mut builder = StringChunkedBuilder::new(name.into(), rows.len());
    let mut text = String::with_capacity(48);
    for r in rows {
        text.clear();
        let _ = write!(text, "{}", pick(r));
        builder.append_value(&text);
    }
    builder.finish().into_series().into_column()
}

/// A text cell borrowed from the row.
fn cell(text: &str) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(text))
}

/// An optional text cell borrowed from the row.
fn opt(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(Cow::Borrowed)
}

fn list_col<'a>(
    name: &str,
    rows: &'a [FlowRow],
    layout: Layout,
    f: impl Fn(&'a FlowRow) -> &'a [String],
) -> Column {
    match layout {
        Layout::Text => text_col(name, rows, layout, |r| Some(Cow::Owned(f(r).join("|")))),
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
            Some(Cow::Owned(ts.rfc3339(precision)))
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
    let mut columns = first_columns(rows, layout)?;
    columns.extend(last_columns(rows, layout));
    DataFrame::new(rows.len(), columns)
}

/// [`flows_frame`] with half the columns built on a second thread: the last chunk of a
/// streamed flow file is written after the packets, when nothing else runs beside it.
pub fn flows_frame_on_two_threads(rows: &[FlowRow], layout: Layout) -> PolarsResult<DataFrame> {
    let (first, last) = std::thread::scope(|scope| {
        let last = scope.spawn(|| last_columns(rows, layout));
        (first_columns(rows, layout), last.join())
    });
    let mut columns = first?;
    match last {
        Ok(last) => columns.extend(last),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    DataFrame::new(rows.len(), columns)
}

/// Columns `capture` to `tls_incomplete`, in order.
fn first_columns(rows: &[FlowRow], layout: Layout) -> PolarsResult<Vec<Column>> {
    Ok(vec![
        text_col("capture", rows, layout, |r| cell(&r.capture)),
        time_col("first_seen", rows, layout, |r| (r.first_seen, r.precision))?,
        time_col("last_seen", rows, layout, |r| (r.last_seen, r.precision))?,
        text_col("transport", rows, layout, |r| cell(r.transport.as_str())),
        address_col("client_ip", rows, |r| r.client_ip),
        int_col("client_port", rows, |r| i32::from(r.client_port)),
        address_col("server_ip", rows, |r| r.server_ip),
        int_col("server_port", rows, |r| i32::from(r.server_port)),
        count_col("packets_c2s", rows, |r| r.packets_c2s),
        count_col("packets_s2c", rows, |r| r.packets_s2c),
        count_col("bytes_c2s", rows, |r| r.bytes_c2s),
        count_col("bytes_s2c", rows, |r| r.bytes_s2c),
        text_col("app_protocol", rows, layout, |r| {
            cell(r.app_protocol.as_str())
        }),
        text_col("sni", rows, layout, |r| opt(&r.sni)),
        list_col("alpn", rows, layout, |r| &r.alpn),
        list_col("tls_offered", rows, layout, |r| &r.tls_offered),
        text_col("service_area", rows, layout, |r| {
            r.service_area.as_ref().map(|s| Cow::Borrowed(s.as_str()))
        }),
        Column::new(
            "endpoint_id".into(),
            rows.iter()
                .map(|r| r.endpoint_id.map(|e| i64::from(e.0)))
                .collect::<Vec<_>>(),
        ),
        text_col("category", rows, layout, |r| {
            r.category.map(|c| Cow::Borrowed(c.as_str()))
        }),
        text_col("matched_by", rows, layout, |r| {
            r.matched_by.map(|m| Cow::Borrowed(m.as_str()))
        }),
        Column::new(
            "port_listed".into(),
            rows.iter().map(|r| r.port_listed).collect::<Vec<_>>(),
        ),
        text_col("port_verdict", rows, layout, |r| {
            cell(r.port_verdict.as_str())
        }),
        text_col("tcp_flags_c2s", rows, layout, |r| cell(&r.tcp_flags_c2s)),
        text_col("tcp_flags_s2c", rows, layout, |r| cell(&r.tcp_flags_s2c)),
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
    ])
}

/// Columns `evidence` to the last, in order.
fn last_columns(rows: &[FlowRow], layout: Layout) -> Vec<Column> {
    vec![
        list_col("evidence", rows, layout, |r| &r.evidence),
        int_col("ip_protocol", rows, |r| i32::from(r.ip_protocol)),
        text_col("quic_version", rows, layout, |r| opt(&r.quic_version)),
        text_col("tunnel", rows, layout, |r| {
            cell(&r.tunnel).filter(|t| !t.is_empty())
        }),
        text_col("http_host", rows, layout, |r| opt(&r.http_host)),
        text_col("proxy_target", rows, layout, |r| opt(&r.proxy_target)),
        Column::new(
            "via_proxy".into(),
            rows.iter().map(|r| r.via_proxy).collect::<Vec<_>>(),
        ),
        text_col("dns_query", rows, layout, |r| opt(&r.dns_query)),
        text_col("dns_name", rows, layout, |r| opt(&r.dns_name)),
        list_col("media_seen", rows, layout, |r| &r.media_seen),
        text_col("detected_by", rows, layout, |r| {
            r.detected_by.map(Cow::Borrowed)
        }),
        text_col("ja4", rows, layout, |r| opt(&r.ja4)),
        Column::new("ech".into(), rows.iter().map(|r| r.ech).collect::<Vec<_>>()),
        text_col("tls_version", rows, layout, |r| opt(&r.tls_version)),
        text_col("alpn_selected", rows, layout, |r| opt(&r.alpn_selected)),
        list_col("cert_names", rows, layout, |r| &r.cert_names),
        text_col("cert_issuer", rows, layout, |r| opt(&r.cert_issuer)),
        text_col("outcome", rows, layout, |r| cell(r.outcome.as_str())),
        text_col("direction", rows, layout, |r| cell(r.direction.as_str())),
        text_col("microsoft", rows, layout, |r| cell(r.microsoft.as_str())),
        text_col("user_agent", rows, layout, |r| opt(&r.user_agent)),
        text_col("client_app", rows, layout, |r| opt(&r.client_app)),
        text_col("client_confidence", rows, layout, |r| {
            r.client_confidence.map(|c| Cow::Borrowed(c.as_str()))
        }),
        list_col("client_evidence", rows, layout, |r| &r.client_evidence),
        text_col("published_service", rows, layout, |r| {
            opt(&r.published_service)
        }),
        text_col("path", rows, layout, |r| cell(r.path.as_str())),
        text_col("end_reason", rows, layout, |r| cell(r.end_reason.as_str())),
    ]
}
