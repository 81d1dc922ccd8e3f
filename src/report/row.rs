//! The flow row: the one schema every writer follows. Columns are added over time, never
//! renamed; `COLUMNS` lists them in output order.

use std::net::IpAddr;

use crate::catalog::{Category, EndpointId, ServiceArea};
use crate::classify::client::Confidence;
use crate::classify::tenant;
use crate::classify::{
    Direction, FlowPath, FlowVerdict, MatchedBy, MicrosoftStatus, Outcome, PortVerdict,
};
use crate::dissect::{AppProtocol, FlowDissect};
use crate::flow::{EndReason, FlowRecord, Side};
use crate::time::{Precision, Timestamp};
use crate::wire::Transport;

/// Version of the flow schema (`COLUMNS`, their types and meanings). Raised by hand whenever a
/// column is added or changes; tests/schema.rs fails when the columns change without it.
pub const SCHEMA_VERSION: u32 = 5;

/// What the flow table and the dissectors hand over when a flow ends.
#[derive(Clone, Copy, Debug)]
pub struct EndedFlow<'a> {
    pub record: &'a FlowRecord,
    pub dissect: &'a FlowDissect,
    /// The name an earlier DNS answer gave the server address (flows without SNI).
    pub dns_name: Option<&'a str>,
    pub end_reason: EndReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRow {
    pub capture: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Resolution of the capture the flow was first seen in.
    pub precision: Precision,
    pub transport: Transport,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
    pub packets_c2s: u64,
    pub packets_s2c: u64,
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub app_protocol: AppProtocol,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub tls_offered: Vec<String>,
    pub service_area: Option<ServiceArea>,
    pub endpoint_id: Option<EndpointId>,
    pub category: Option<Category>,
    pub matched_by: Option<MatchedBy>,
    pub port_listed: Option<bool>,
    pub port_verdict: PortVerdict,
    pub tcp_flags_c2s: String,
    pub tcp_flags_s2c: String,
    pub handshake_completed: bool,
    pub server_answered: bool,
    /// A ClientHello started but could not be read completely.
    pub tls_incomplete: bool,
    /// Every catalog hit, e.g. `sni:*.teams.microsoft.com#12|ip:52.112.0.0/14#11`.
    pub evidence: Vec<String>,
    /// IP protocol number (useful when `transport` is `other`).
    pub ip_protocol: u8,
    /// QUIC version of the client's Initials, e.g. `0x00000001`, or a gQUIC tag like `Q046`.
    pub quic_version: Option<String>,
    /// Encapsulations removed to reach the flow, outermost first, e.g. `gre|erspan-ii`.
    pub tunnel: String,
    /// Host header of the first HTTP request.
    pub http_host: Option<String>,
    /// HTTP CONNECT target or SOCKS destination (`host:port`).
    pub proxy_target: Option<String>,
    /// The client asked a proxy to reach `proxy_target`.
    pub via_proxy: bool,
    /// The name a DNS flow asked for.
    pub dns_query: Option<String>,
    /// The name a DNS answer in the capture gave the server address (for flows without SNI).
    pub dns_name: Option<String>,
    /// Media kinds a UDP flow carried: `stun`, `turn`, `mturn`, `rtp`, `rtcp`, `dtls`,
    /// `ms-attributes` (Microsoft MS-TURN/MS-ICE attributes).
    pub media_seen: Vec<String>,
    /// How `app_protocol` was decided: `payload` (its bytes), `port` (a guess from the server
    /// port when the payload said nothing), empty when neither.
    pub detected_by: Option<&'static str>,
    /// JA4 fingerprint of the ClientHello (`t` over TCP, `q` in QUIC).
    pub ja4: Option<String>,
    /// The ClientHello offered Encrypted Client Hello.
    pub ech: bool,
    /// TLS version the server chose (ServerHello).
    pub tls_version: Option<String>,
    /// ALPN protocol the server chose.
    pub alpn_selected: Option<String>,
    /// Server certificate names (subject CN, then DNS SANs), TLS 1.2 and older.
    pub cert_names: Vec<String>,
    /// Server certificate issuer.
    pub cert_issuer: Option<String>,
    /// How the attempt ended: `established`, `no-reply`, `reset`, `tls-alert`, `rejected-icmp`.
    pub outcome: Outcome,
    /// `outbound`, `inbound`, `internal` or `external`, from the `--internal` networks.
    pub direction: Direction,
    /// `listed` (in the catalog), `consumer` (a Microsoft consumer service no set lists),
    /// `unlisted` (another Microsoft name or address no set lists), `no`.
    pub microsoft: MicrosoftStatus,
    /// User-Agent of the first HTTP request (CONNECT included) or SIP message.
    pub user_agent: Option<String>,
    /// The program behind the flow, from the client rules (`teams-desktop`, `outlook-mobile`...).
    pub client_app: Option<String>,
    pub client_confidence: Option<Confidence>,
    /// The rule that decided `client_app` (`rule=ID`) and the facts that satisfied it.
    pub client_evidence: Vec<String>,
    /// An inbound flow to a service published to the internet: `adfs`, `exchange-hybrid`,
    /// `lync-edge`.
    pub published_service: Option<String>,
    /// `direct`, or `proxy` when the client asked this server (a proxy) to reach
    /// `proxy_target`: the service columns and `port_verdict` then describe the target.
    pub path: FlowPath,
    /// Why the flow ended: `idle`, `evicted` (the table was full), `port-reuse`,
    /// `end-of-capture`.
    pub end_reason: EndReason,
    /// The Office 365 tenant the server name carries (`contoso` for contoso.sharepoint.com,
    /// `contoso-com` for contoso-com.mail.protection.outlook.com); see `classify::tenant`.
    pub tenant: Option<String>,
}

impl FlowRow {
    /// The row of an ended flow: its record, what the dissectors found, the verdict, the name
    /// a DNS answer gave its server address, why it ended, and the capture it started in.
    pub fn new(
        ended: EndedFlow<'_>,
        verdict: FlowVerdict,
        capture: &str,
        precision: Precision,
    ) -> Self {
        let EndedFlow {
            record,
            dissect,
            dns_name,
            end_reason,
        } = ended;
        let hello = dissect.client_hello.as_deref();
        let server = dissect.server_hello.as_deref();
        let cert = server.and_then(|s| s.certificate.as_ref());
        let (app_protocol, detected_by) =
            AppProtocol::detected(dissect.app, record.transport, record.server.port);
        let FlowVerdict {
            classification,
            path,
            port_verdict,
            direction,
            microsoft,
            client,
            published_evidence,
            published_service,
            outcome,
        } = verdict;
        let service = classification.service.as_ref();
        let is_tcp = record.transport == Transport::Tcp;
        let flags = |side| {
            if is_tcp {
                record.tcp_flags(side).letters()
            } else {
                String::new()
            }
        };
        let (client_app, client_confidence, mut client_evidence) = match client {
            Some(c) => (Some(c.app), Some(c.confidence), c.evidence),
            None => (None, None, Vec::new()),
        };
        client_evidence.extend(published_evidence);
        let tenant = tenant::of_flow(
            hello.and_then(|h| h.sni.as_deref()),
            dissect.http_host(),
            dissect.proxy_target(),
            dns_name,
        );
        FlowRow {
            capture: capture.to_owned(),
            first_seen: record.first_seen,
            last_seen: record.last_seen,
            precision,
            transport: record.transport,
            client_ip: record.client.ip,
            client_port: record.client.port,
            server_ip: record.server.ip,
            server_port: record.server.port,
            packets_c2s: record.packets(Side::Client),
            packets_s2c: record.packets(Side::Server),
            bytes_c2s: record.bytes(Side::Client),
            bytes_s2c: record.bytes(Side::Server),
            app_protocol,
            sni: hello.and_then(|h| h.sni.clone()),
            alpn: hello.map(|h| h.alpn.clone()).unwrap_or_default(),
            tls_offered: hello
                .map(|h| h.offered_versions.iter().map(|v| v.to_string()).collect())
                .unwrap_or_default(),
            service_area: service.map(|s| s.service_area.clone()),
            endpoint_id: service.map(|s| s.endpoint_id),
            category: service.map(|s| s.category),
            matched_by: service.map(|s| s.matched_by),
            port_listed: service.map(|s| s.port_listed),
            port_verdict,
            tcp_flags_c2s: flags(Side::Client),
            tcp_flags_s2c: flags(Side::Server),
            handshake_completed: record.handshake_completed,
            server_answered: record.server_answered(),
            tls_incomplete: dissect.incomplete_handshake,
            evidence: classification
                .evidence
                .iter()
                .map(|e| e.to_string())
                .collect(),
            ip_protocol: record.transport.ip_number(),
            quic_version: dissect.quic_version.map(|v| v.to_string()),
            tunnel: record.tunnel.to_string(),
            http_host: dissect.http_host().map(str::to_owned),
            proxy_target: dissect.proxy_target().map(str::to_owned),
            via_proxy: dissect.via_proxy,
            dns_query: dissect.dns_query().map(str::to_owned),
            dns_name: dns_name.map(str::to_owned),
            media_seen: dissect
                .media
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            detected_by,
            ja4: hello.map(|h| h.ja4.clone()).filter(|j| !j.is_empty()),
            ech: hello.is_some_and(|h| h.ech),
            tls_version: server.map(|s| s.version.to_string()),
            alpn_selected: server.and_then(|s| s.alpn.clone()),
            cert_names: cert.map(|c| c.names.clone()).unwrap_or_default(),
            cert_issuer: cert.map(|c| c.issuer.clone()),
            outcome,
            direction,
            microsoft,
            user_agent: dissect.user_agent().map(str::to_owned),
            client_app,
            client_confidence,
            client_evidence,
            published_service,
            path,
            end_reason,
            tenant,
        }
    }

    pub fn first_seen_text(&self) -> String {
        self.first_seen.rfc3339(self.precision)
    }

    pub fn last_seen_text(&self) -> String {
        self.last_seen.rfc3339(self.precision)
    }
}
