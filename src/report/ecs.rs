//! The JSON-lines flow record in Elastic Common Schema (ECS) names, so a SIEM ingests it without
//! a mapping: `source.ip`, `destination.port`, `network.transport`, `tls.client.server_name`...
//! Facts ECS has no field for stay under `o365flow.*` with the column names of the CSV and
//! Parquet tables (ECS's convention for custom fields: a namespace of their own).
//!
//! ECS field types (reference: elastic.co/guide/en/ecs/current): `ip`, `long`, `keyword`,
//! `date`, `boolean`; the README's "JSON lines (ECS)" table and tests/ecs.rs list each field used.

use serde::Serialize;

use super::row::{FlowRow, SCHEMA_VERSION};
use crate::wire::Transport;

/// The ECS release whose field definitions this record follows.
pub const ECS_VERSION: &str = "8.11.0";

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
pub struct EcsFlow<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    ecs: Ecs,
    event: Event,
    source: Endpoint<'a>,
    destination: Endpoint<'a>,
    network: Network,
    #[serde(skip_serializing_if = "Tls::is_empty")]
    tls: Tls<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<Url<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<UserAgent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<Dns<'a>>,
    o365flow: Custom<'a>,
}

#[derive(Serialize)]
struct Ecs {
    version: &'static str,
}

#[derive(Serialize)]
struct Event {
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    kind_of: [&'static str; 1],
    dataset: &'static str,
    start: String,
    end: String,
    /// Nanoseconds, as ECS defines `event.duration`.
    duration: i64,
}

#[derive(Serialize)]
struct Endpoint<'a> {
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    packets: u64,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
}

#[derive(Serialize)]
struct Network {
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'static str>,
    #[serde(rename = "type")]
    ip_type: &'static str,
    iana_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    direction: &'static str,
    packets: u64,
    bytes: u64,
}

#[derive(Serialize, Default)]
struct Tls<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_protocol: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_protocol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<TlsClient<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<TlsServer<'a>>,
}

impl Tls<'_> {
    fn is_empty(&self) -> bool {
        self.version.is_none()
            && self.next_protocol.is_none()
            && self.client.is_none()
            && self.server.is_none()
    }
}

#[derive(Serialize)]
struct TlsClient<'a> {
    server_name: &'a str,
}

#[derive(Serialize)]
struct TlsServer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x509: Option<X509<'a>>,
}

#[derive(Serialize)]
struct X509<'a> {
    alternative_names: &'a [String],
}

#[derive(Serialize)]
struct Url<'a> {
    domain: &'a str,
}

#[derive(Serialize)]
struct UserAgent<'a> {
    original: &'a str,
}

#[derive(Serialize)]
struct Dns<'a> {
    question: DnsQuestion<'a>,
}

#[derive(Serialize)]
struct DnsQuestion<'a> {
    name: &'a str,
}

/// The columns ECS has no field for, under their table names.
#[derive(Serialize)]
struct Custom<'a> {
    schema_version: u32,
    capture: &'a str,
    port_verdict: &'static str,
    outcome: &'static str,
    microsoft: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_area: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    matched_by: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port_listed: Option<bool>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    evidence: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    detected_by: Option<&'static str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    alpn: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tls_offered: &'a [String],
    /// A TLS version without an ECS form (drafts, unknown codes), as the table writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ja4: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    ech: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    quic_version: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    tcp_flags_c2s: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    tcp_flags_s2c: &'a str,
    handshake_completed: bool,
    server_answered: bool,
    #[serde(skip_serializing_if = "is_false")]
    tls_incomplete: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    tunnel: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy_target: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    via_proxy: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    media_seen: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    client_app: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_confidence: Option<&'static str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    client_evidence: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    published_service: Option<&'a str>,
    path: &'static str,
    end_reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
}

/// IANA protocol keyword (what ECS asks for in `network.transport`); None for numbers without a
/// keyword here (the number is in `network.iana_number`).
fn iana_keyword(t: Transport) -> Option<&'static str> {
    match t {
        Transport::Tcp => Some("tcp"),
        Transport::Udp => Some("udp"),
        Transport::Icmp => Some("icmp"),
        Transport::Icmpv6 => Some("ipv6-icmp"),
        Transport::Esp => Some("esp"),
        Transport::Ah => Some("ah"),
        Transport::Gre => Some("gre"),
        Transport::Other(_) => None,
    }
}

/// `tls.version_protocol` and `tls.version` from the table's version text (`1.2`, `ssl3`);
/// None for drafts and unknown codes.
fn tls_version(text: &str) -> Option<(&'static str, &'static str)> {
    Some(match text {
        "1.0" => ("tls", "1.0"),
        "1.1" => ("tls", "1.1"),
        "1.2" => ("tls", "1.2"),
        "1.3" => ("tls", "1.3"),
        "ssl3" => ("ssl", "3.0"),
        "ssl2" => ("ssl", "2.0"),
        _ => return None,
    })
}

impl<'a> From<&'a FlowRow> for EcsFlow<'a> {
    fn from(r: &'a FlowRow) -> Self {
        let start = r.first_seen_text();
        let ports = r.transport.has_ports();
        let version = r.tls_version.as_deref().map(|v| (v, tls_version(v)));
        let app = r.app_protocol.as_str();
        EcsFlow {
            timestamp: start.clone(),
            ecs: Ecs {
                version: ECS_VERSION,
            },
            event: Event {
                kind: "event",
                category: ["network"],
                kind_of: ["connection"],
                dataset: "o365flow.flows",
                start,
                end: r.last_seen_text(),
                duration: (r.last_seen.nanos() - r.first_seen.nanos()).max(0),
            },
            source: Endpoint {
                ip: r.client_ip.to_string(),
                port: ports.then_some(r.client_port),
                packets: r.packets_c2s,
                bytes: r.bytes_c2s,
                domain: None,
            },
            destination: Endpoint {
                ip: r.server_ip.to_string(),
                port: ports.then_some(r.server_port),
                packets: r.packets_s2c,
                bytes: r.bytes_s2c,
                domain: r.dns_name.as_deref(),
            },
            network: Network {
                transport: iana_keyword(r.transport),
                ip_type: if r.client_ip.is_ipv4() {
                    "ipv4"
                } else {
                    "ipv6"
                },
                iana_number: r.ip_protocol.to_string(),
                protocol: Some(app).filter(|a| *a != "unknown"),
                direction: r.direction.as_str(),
                packets: r.packets_c2s + r.packets_s2c,
                bytes: r.bytes_c2s + r.bytes_s2c,
            },
            tls: Tls {
                version: version.and_then(|(_, v)| v).map(|v| v.1),
                version_protocol: version.and_then(|(_, v)| v).map(|v| v.0),
                next_protocol: r.alpn_selected.as_deref(),
                client: r
                    .sni
                    .as_deref()
                    .map(|server_name| TlsClient { server_name }),
                server: (r.cert_issuer.is_some() || !r.cert_names.is_empty()).then(|| TlsServer {
                    issuer: r.cert_issuer.as_deref(),
                    x509: (!r.cert_names.is_empty()).then_some(X509 {
                        alternative_names: &r.cert_names,
                    }),
                }),
            },
            url: r.http_host.as_deref().map(|domain| Url { domain }),
            user_agent: r
                .user_agent
                .as_deref()
                .map(|original| UserAgent { original }),
            dns: r.dns_query.as_deref().map(|name| Dns {
                question: DnsQuestion { name },
            }),
            o365flow: Custom {
                schema_version: SCHEMA_VERSION,
                capture: &r.capture,
                port_verdict: r.port_verdict.as_str(),
                outcome: r.outcome.as_str(),
                microsoft: r.microsoft.as_str(),
                service_area: r.service_area.as_ref().map(|s| s.as_str()),
                endpoint_id: r.endpoint_id.map(|e| e.0),
                category: r.category.map(|c| c.as_str()),
                matched_by: r.matched_by.map(|m| m.as_str()),
                port_listed: r.port_listed,
                evidence: &r.evidence,
                detected_by: r.detected_by,
                alpn: &r.alpn,
                tls_offered: &r.tls_offered,
                tls_version: version.filter(|(_, v)| v.is_none()).map(|(text, _)| text),
                ja4: r.ja4.as_deref(),
                ech: r.ech,
                quic_version: r.quic_version.as_deref(),
                tcp_flags_c2s: &r.tcp_flags_c2s,
                tcp_flags_s2c: &r.tcp_flags_s2c,
                handshake_completed: r.handshake_completed,
                server_answered: r.server_answered,
                tls_incomplete: r.tls_incomplete,
                tunnel: &r.tunnel,
                proxy_target: r.proxy_target.as_deref(),
                via_proxy: r.via_proxy,
                media_seen: &r.media_seen,
                client_app: r.client_app.as_deref(),
                client_confidence: r.client_confidence.map(|c| c.as_str()),
                client_evidence: &r.client_evidence,
                published_service: r.published_service.as_deref(),
                path: r.path.as_str(),
                end_reason: r.end_reason.as_str(),
                tenant: r.tenant.as_deref(),
            },
        }
    }
}
