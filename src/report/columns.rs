//! The column table: every column of the flow schema once, in output order, with its type, how
//! it is read from a row and its field in JSON lines (Elastic Common Schema names). The CSV and
//! Parquet writers build their columns from it (`frame`), the column names come from it, and
//! tests/schema.rs checks the JSON-lines writer (`ecs`) emits each column's field.
//! A new column is one entry here, a field of `FlowRow` and, for JSON lines, one in `ecs`.

use std::borrow::Cow;
use std::net::IpAddr;

use super::row::FlowRow;
use crate::time::{Precision, Timestamp};

/// How a column is stored (Parquet types; CSV writes all as text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text, empty as null.
    Text,
    /// A list of text (`|`-joined in CSV).
    List,
    /// A UTC timestamp in nanoseconds (RFC 3339 text in CSV).
    Time,
    /// An IP address as text.
    Address,
    /// 32-bit signed integer (ports, protocol numbers).
    Int,
    /// 64-bit signed counter.
    Count,
    /// A 64-bit id or null.
    OptionalId,
    Bool,
    /// A boolean or null.
    OptionalBool,
}

/// One cell as read from a row, borrowing its text.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'r> {
    Text(Option<Cow<'r, str>>),
    List(&'r [String]),
    Time(Timestamp, Precision),
    Address(IpAddr),
    Int(i32),
    Count(u64),
    OptionalId(Option<i64>),
    Bool(bool),
    OptionalBool(Option<bool>),
}

#[derive(Clone, Copy, Debug)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: ColumnType,
    pub get: for<'r> fn(&'r FlowRow) -> Cell<'r>,
    /// The JSON-lines field carrying the column: an ECS field, or `o365flow.NAME`.
    pub json: &'static str,
}

fn text(value: &str) -> Cell<'_> {
    Cell::Text(Some(Cow::Borrowed(value)))
}

fn optional(value: &Option<String>) -> Cell<'_> {
    Cell::Text(value.as_deref().map(Cow::Borrowed))
}

fn static_text(value: Option<&'static str>) -> Cell<'static> {
    Cell::Text(value.map(Cow::Borrowed))
}

macro_rules! column {
    ($name:literal, $ty:ident, $json:literal, $get:expr) => {
        ColumnDef {
            name: $name,
            ty: ColumnType::$ty,
            get: $get,
            json: $json,
        }
    };
}

/// Number of columns of the current schema.
pub const COLUMN_COUNT: usize = 55;

/// The flow schema, in output order. Columns are added at the end, never renamed.
pub const COLUMN_TABLE: [ColumnDef; COLUMN_COUNT] = [
    column!("capture", Text, "o365flow.capture", |r| text(&r.capture)),
    column!("first_seen", Time, "event.start", |r| Cell::Time(
        r.first_seen,
        r.precision
    )),
    column!("last_seen", Time, "event.end", |r| Cell::Time(
        r.last_seen,
        r.precision
    )),
    column!("transport", Text, "network.transport", |r| text(
        r.transport.as_str()
    )),
    column!("client_ip", Address, "source.ip", |r| Cell::Address(
        r.client_ip
    )),
    column!("client_port", Int, "source.port", |r| Cell::Int(i32::from(
        r.client_port
    ))),
    column!("server_ip", Address, "destination.ip", |r| Cell::Address(
        r.server_ip
    )),
    column!("server_port", Int, "destination.port", |r| Cell::Int(
        i32::from(r.server_port)
    )),
    column!("packets_c2s", Count, "source.packets", |r| Cell::Count(
        r.packets_c2s
    )),
    column!(
        "packets_s2c",
        Count,
        "destination.packets",
        |r| Cell::Count(r.packets_s2c)
    ),
    column!("bytes_c2s", Count, "source.bytes", |r| Cell::Count(
        r.bytes_c2s
    )),
    column!("bytes_s2c", Count, "destination.bytes", |r| Cell::Count(
        r.bytes_s2c
    )),
    column!("app_protocol", Text, "network.protocol", |r| text(
        r.app_protocol.as_str()
    )),
    column!("sni", Text, "tls.client.server_name", |r| optional(&r.sni)),
    column!("alpn", List, "o365flow.alpn", |r| Cell::List(&r.alpn)),
    column!("tls_offered", List, "o365flow.tls_offered", |r| Cell::List(
        &r.tls_offered
    )),
    column!("service_area", Text, "o365flow.service_area", |r| {
        Cell::Text(r.service_area.as_ref().map(|s| Cow::Borrowed(s.as_str())))
    }),
    column!("endpoint_id", OptionalId, "o365flow.endpoint_id", |r| {
        Cell::OptionalId(r.endpoint_id.map(|e| i64::from(e.0)))
    }),
    column!("category", Text, "o365flow.category", |r| {
        static_text(r.category.map(|c| c.as_str()))
    }),
    column!("matched_by", Text, "o365flow.matched_by", |r| {
        static_text(r.matched_by.map(|m| m.as_str()))
    }),
    column!("port_listed", OptionalBool, "o365flow.port_listed", |r| {
        Cell::OptionalBool(r.port_listed)
    }),
    column!("port_verdict", Text, "o365flow.port_verdict", |r| {
        text(r.port_verdict.as_str())
    }),
    column!("tcp_flags_c2s", Text, "o365flow.tcp_flags_c2s", |r| text(
        &r.tcp_flags_c2s
    )),
    column!("tcp_flags_s2c", Text, "o365flow.tcp_flags_s2c", |r| text(
        &r.tcp_flags_s2c
    )),
    column!(
        "handshake_completed",
        Bool,
        "o365flow.handshake_completed",
        |r| { Cell::Bool(r.handshake_completed) }
    ),
    column!("server_answered", Bool, "o365flow.server_answered", |r| {
        Cell::Bool(r.server_answered)
    }),
    column!("tls_incomplete", Bool, "o365flow.tls_incomplete", |r| {
        Cell::Bool(r.tls_incomplete)
    }),
    column!("evidence", List, "o365flow.evidence", |r| Cell::List(
        &r.evidence
    )),
    column!("ip_protocol", Int, "network.iana_number", |r| Cell::Int(
        i32::from(r.ip_protocol)
    )),
    column!("quic_version", Text, "o365flow.quic_version", |r| optional(
        &r.quic_version
    )),
    column!("tunnel", Text, "o365flow.tunnel", |r| {
        Cell::Text(Some(Cow::Borrowed(r.tunnel.as_str())).filter(|t| !t.is_empty()))
    }),
    column!("http_host", Text, "url.domain", |r| optional(&r.http_host)),
    column!("proxy_target", Text, "o365flow.proxy_target", |r| optional(
        &r.proxy_target
    )),
    column!("via_proxy", Bool, "o365flow.via_proxy", |r| Cell::Bool(
        r.via_proxy
    )),
    column!("dns_query", Text, "dns.question.name", |r| optional(
        &r.dns_query
    )),
    column!("dns_name", Text, "destination.domain", |r| optional(
        &r.dns_name
    )),
    column!("media_seen", List, "o365flow.media_seen", |r| Cell::List(
        &r.media_seen
    )),
    column!(
        "detected_by",
        Text,
        "o365flow.detected_by",
        |r| static_text(r.detected_by)
    ),
    column!("ja4", Text, "o365flow.ja4", |r| optional(&r.ja4)),
    column!("ech", Bool, "o365flow.ech", |r| Cell::Bool(r.ech)),
    column!("tls_version", Text, "tls.version", |r| optional(
        &r.tls_version
    )),
    column!("alpn_selected", Text, "tls.next_protocol", |r| optional(
        &r.alpn_selected
    )),
    column!(
        "cert_names",
        List,
        "tls.server.x509.alternative_names",
        |r| { Cell::List(&r.cert_names) }
    ),
    column!("cert_issuer", Text, "tls.server.issuer", |r| optional(
        &r.cert_issuer
    )),
    column!("outcome", Text, "o365flow.outcome", |r| text(
        r.outcome.as_str()
    )),
    column!("direction", Text, "network.direction", |r| text(
        r.direction.as_str()
    )),
    column!("microsoft", Text, "o365flow.microsoft", |r| text(
        r.microsoft.as_str()
    )),
    column!("user_agent", Text, "user_agent.original", |r| optional(
        &r.user_agent
    )),
    column!("client_app", Text, "o365flow.client_app", |r| optional(
        &r.client_app
    )),
    column!(
        "client_confidence",
        Text,
        "o365flow.client_confidence",
        |r| { static_text(r.client_confidence.map(|c| c.as_str())) }
    ),
    column!("client_evidence", List, "o365flow.client_evidence", |r| {
        Cell::List(&r.client_evidence)
    }),
    column!(
        "published_service",
        Text,
        "o365flow.published_service",
        |r| { optional(&r.published_service) }
    ),
    column!("path", Text, "o365flow.path", |r| text(r.path.as_str())),
    column!("end_reason", Text, "o365flow.end_reason", |r| text(
        r.end_reason.as_str()
    )),
    column!("tenant", Text, "o365flow.tenant", |r| optional(&r.tenant)),
];

/// The column names, in output order.
pub const COLUMNS: [&str; COLUMN_COUNT] = names(&COLUMN_TABLE);

// Evaluated at compile time only, where an index out of range is a compile error.
#[allow(clippy::indexing_slicing)]
const fn names<const N: usize>(table: &[ColumnDef; N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = table[i].name;
        i += 1;
    }
    out
}
