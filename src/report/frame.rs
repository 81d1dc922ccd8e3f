//! Flow rows as a polars DataFrame, one column per entry of the column table
//! (`columns::COLUMN_TABLE`): typed for Parquet, flattened to text for CSV.

use std::fmt::Write;

use polars::prelude::*;

use super::columns::{Cell, ColumnDef, ColumnType, COLUMN_TABLE};
use super::escape::csv_safe;
use super::row::FlowRow;
use crate::time::{Precision, Timestamp};

/// How a column reads its cell from a row.
type Getter = for<'r> fn(&'r FlowRow) -> Cell<'r>;

/// How list and time columns are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Timestamps as UTC datetimes (ns), lists as lists: Parquet.
    Typed,
    /// Timestamps as RFC 3339 text, lists `|`-joined, cells formula-safe: CSV.
    Text,
}

/// Text cells straight into polars' buffer: the rows' text is borrowed, never collected first.
fn text_col(name: &str, rows: &[FlowRow], layout: Layout, get: Getter) -> Column {
    let mut builder = StringChunkedBuilder::new(name.into(), rows.len());
    for r in rows {
        let value = match get(r) {
            Cell::Text(value) => value,
            _ => None,
        };
        match layout {
            // In CSV an empty value is an empty cell, not a quoted empty string.
            Layout::Text => match value.filter(|s| !s.is_empty()) {
                Some(text) => builder.append_value(csv_safe(&text)),
                None => builder.append_null(),
            },
            Layout::Typed => builder.append_option(value),
        }
    }
    builder.finish().into_series().into_column()
}

/// Addresses as text, written into one reused buffer (no string per cell). The same in both
/// layouts: an address never starts like a formula.
fn address_col(name: &str, rows: &[FlowRow], get: Getter) -> Column {
    let mut builder = StringChunkedBuilder::new(name.into(), rows.len());
    let mut text = String::with_capacity(48);
    for r in rows {
        text.clear();
        if let Cell::Address(ip) = get(r) {
            push_address(&mut text, ip);
        }
        builder.append_value(&text);
    }
    builder.finish().into_series().into_column()
}

/// Appends an address as `Display` writes it. IPv4 digit by digit: through `fmt` each address
/// cost about 1,200 instructions, 3% of all the work besides the digest (callgrind, 64 MiB of
/// the bench capture); IPv6, rarer and with its zero-run rules, through `Display`.
fn push_address(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(_) => {
            let _ = write!(out, "{ip}");
        }
    }
}

fn list_of(get: Getter, r: &FlowRow) -> &[String] {
    match get(r) {
        Cell::List(values) => values,
        _ => &[],
    }
}

fn list_col(name: &str, rows: &[FlowRow], layout: Layout, get: Getter) -> Column {
    match layout {
        Layout::Text => {
            let mut builder = StringChunkedBuilder::new(name.into(), rows.len());
            for r in rows {
                let joined = list_of(get, r).join("|");
                if joined.is_empty() {
                    builder.append_null();
                } else {
                    builder.append_value(csv_safe(&joined));
                }
            }
            builder.finish().into_series().into_column()
        }
        Layout::Typed => {
            let total: usize = rows.iter().map(|r| list_of(get, r).len()).sum();
            let mut builder = ListStringChunkedBuilder::new(name.into(), rows.len(), total);
            for r in rows {
                builder.append_values_iter(list_of(get, r).iter().map(String::as_str));
            }
            builder.finish().into_series().into_column()
        }
    }
}

fn time_col(name: &str, rows: &[FlowRow], layout: Layout, get: Getter) -> PolarsResult<Column> {
    let time = |r: &FlowRow| match get(r) {
        Cell::Time(ts, precision) => (ts, precision),
        _ => (Timestamp::default(), Precision::Micro),
    };
    Ok(match layout {
        // Text only where it is written: formatting dates costs more than the rest of a row.
        Layout::Text => {
            let mut builder = StringChunkedBuilder::new(name.into(), rows.len());
            for r in rows {
                let (ts, precision) = time(r);
                builder.append_value(csv_safe(&ts.rfc3339(precision)));
            }
            builder.finish().into_series().into_column()
        }
        Layout::Typed => {
            let nanos: Vec<i64> = rows.iter().map(|r| time(r).0.nanos()).collect();
            Series::new(name.into(), nanos)
                .cast(&DataType::Datetime(
                    TimeUnit::Nanoseconds,
                    Some(TimeZone::UTC),
                ))?
                .into_column()
        }
    })
}

/// One column of the table, built for every row.
fn column(def: &ColumnDef, rows: &[FlowRow], layout: Layout) -> PolarsResult<Column> {
    let (name, get) = (def.name, def.get);
    Ok(match def.ty {
        ColumnType::Text => text_col(name, rows, layout, get),
        ColumnType::List => list_col(name, rows, layout, get),
        ColumnType::Time => time_col(name, rows, layout, get)?,
        ColumnType::Address => address_col(name, rows, get),
        ColumnType::Int => {
            let values: Vec<i32> = rows
                .iter()
                .map(|r| match get(r) {
                    Cell::Int(v) => v,
                    _ => 0,
                })
                .collect();
            Column::new(name.into(), values)
        }
        ColumnType::Count => {
            // Signed 64-bit: every engine reads it (Spark has no unsigned types).
            let values: Vec<i64> = rows
                .iter()
                .map(|r| match get(r) {
                    Cell::Count(v) => i64::try_from(v).unwrap_or(i64::MAX),
                    _ => 0,
                })
                .collect();
            Column::new(name.into(), values)
        }
        ColumnType::OptionalId => {
            let values: Vec<Option<i64>> = rows
                .iter()
                .map(|r| match get(r) {
                    Cell::OptionalId(v) => v,
                    _ => None,
                })
                .collect();
            Column::new(name.into(), values)
        }
        ColumnType::Bool => {
            let values: Vec<bool> = rows
                .iter()
                .map(|r| matches!(get(r), Cell::Bool(true)))
                .collect();
            Column::new(name.into(), values)
        }
        ColumnType::OptionalBool => {
            let values: Vec<Option<bool>> = rows
                .iter()
                .map(|r| match get(r) {
                    Cell::OptionalBool(v) => v,
                    _ => None,
                })
                .collect();
            Column::new(name.into(), values)
        }
    })
}

fn columns(table: &[ColumnDef], rows: &[FlowRow], layout: Layout) -> PolarsResult<Vec<Column>> {
    table.iter().map(|def| column(def, rows, layout)).collect()
}

pub fn flows_frame(rows: &[FlowRow], layout: Layout) -> PolarsResult<DataFrame> {
    DataFrame::new(rows.len(), columns(&COLUMN_TABLE, rows, layout)?)
}

/// [`flows_frame`] with half the columns built on a second thread: the last chunk of a
/// streamed flow file is written after the packets, when nothing else runs beside it.
pub fn flows_frame_on_two_threads(rows: &[FlowRow], layout: Layout) -> PolarsResult<DataFrame> {
    let (first, last) = COLUMN_TABLE.split_at(COLUMN_TABLE.len() / 2);
    let (first, last) = std::thread::scope(|scope| {
        let last = scope.spawn(|| columns(last, rows, layout));
        (columns(first, rows, layout), last.join())
    });
    let mut all = first?;
    match last {
        Ok(last) => all.extend(last?),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    DataFrame::new(rows.len(), all)
}

#[cfg(test)]
mod tests {
    use super::push_address;
    use std::net::IpAddr;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let mut text = String::new();
        let mut checked = 0;
        // Every octet value in every position, and IPv6 with and without zero runs.
        for value in 0..=255u8 {
            for ip in [
                [value, 0, 0, 0],
                [1, value, 10, 100],
                [255, 99, value, 9],
                [0, 0, 0, value],
            ] {
                let ip = IpAddr::from(ip);
                text.clear();
                push_address(&mut text, ip);
                assert_eq!(text, ip.to_string());
                checked += 1;
            }
        }
        for ip in ["2001:db8::1", "::ffff:10.0.0.1", "fe80::1:2:3:4", "::"] {
            let ip: IpAddr = ip.parse().unwrap();
            text.clear();
            push_address(&mut text, ip);
            assert_eq!(text, ip.to_string());
            checked += 1;
        }
        assert_eq!(checked, 1028);
    }
}
