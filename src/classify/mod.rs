//! Office 365 service classification and port verdicts for finished flows.
//!
//! A name match beats an address match; both are kept as evidence. The catalog decides which
//! set a name or address belongs to (see `catalog` for the matching rules).

use std::fmt;
use std::net::IpAddr;

use crate::catalog::{Catalog, CatalogMatch, Category, EndpointId, ServiceArea};
use crate::dissect::AppProtocol;
use crate::wire::Transport;

pub mod client;
pub mod owners;

pub use owners::{MicrosoftStatus, Ownership};

/// Which signal chose the flow's endpoint set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchedBy {
    Sni,
    Ip,
    QuicSni,
    Dns,
    HttpHost,
    Cert,
    User,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Sni => "sni",
            MatchedBy::Ip => "ip",
            MatchedBy::QuicSni => "quic-sni",
            MatchedBy::Dns => "dns",
            MatchedBy::HttpHost => "http-host",
            MatchedBy::Cert => "cert",
            MatchedBy::User => "user",
        }
    }
}

impl fmt::Display for MatchedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a flow reaches its server, as the audit groups it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortVerdict {
    /// TLS on TCP 443.
    Tunneled443,
    /// QUIC on UDP 443.
    Quic443,
    /// Anything else on TCP or UDP 443.
    NonTls443,
    /// TCP 80.
    Web80,
    /// Every other server port (and transports without ports).
    Exotic,
}

impl PortVerdict {
    pub fn of(transport: Transport, server_port: u16, app: AppProtocol) -> Self {
        match (transport, server_port, app) {
            (Transport::Tcp, 443, AppProtocol::Tls) => PortVerdict::Tunneled443,
            (Transport::Udp, 443, AppProtocol::Quic) => PortVerdict::Quic443,
            (Transport::Tcp | Transport::Udp, 443, _) => PortVerdict::NonTls443,
            (Transport::Tcp, 80, _) => PortVerdict::Web80,
            _ => PortVerdict::Exotic,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PortVerdict::Tunneled443 => "tunneled-443",
            PortVerdict::Quic443 => "quic-443",
            PortVerdict::NonTls443 => "non-tls-443",
            PortVerdict::Web80 => "web-80",
            PortVerdict::Exotic => "exotic",
        }
    }

    pub const ALL: [PortVerdict; 5] = [
        PortVerdict::Tunneled443,
        PortVerdict::Quic443,
        PortVerdict::NonTls443,
        PortVerdict::Web80,
        PortVerdict::Exotic,
    ];
}

impl fmt::Display for PortVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a flow crosses the boundary between the internal networks and the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// An internal client to an external server.
    Outbound,
    /// An external client to an internal server (published services).
    Inbound,
    /// Both ends internal.
    Internal,
    /// Neither end internal (transit traffic, or `--internal` does not describe this capture).
    External,
}

impl Direction {
    pub fn of(client: IpAddr, server: IpAddr, internal: &[ipnet::IpNet]) -> Self {
        let inside = |ip: IpAddr| {
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            };
            internal.iter().any(|net| net.contains(&ip))
        };
        match (inside(client), inside(server)) {
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (true, true) => Direction::Internal,
            (false, false) => Direction::External,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::Internal => "internal",
            Direction::External => "external",
        }
    }
}

/// Is `name` under a domain Microsoft owns (`data/microsoft-domains.txt`)?
pub fn microsoft_owned(name: &str) -> bool {
    Ownership::get().owns_name(name)
}

/// The default internal networks: RFC 1918 and IPv6 unique local addresses (RFC 4193).
pub fn default_internal_networks() -> Vec<ipnet::IpNet> {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// What the flow told us that can identify its service.
#[derive(Clone, Copy, Debug)]
pub struct Signals<'a> {
    pub sni: Option<&'a str>,
    /// Where `sni` came from: `Sni` (TLS over TCP) or `QuicSni` (a QUIC Initial).
    pub sni_source: MatchedBy,
    /// The host a plain HTTP request or a proxy CONNECT named (port removed).
    pub http_host: Option<&'a str>,
    /// The name a DNS answer in the capture gave the server address.
    pub dns_name: Option<&'a str>,
    /// Names in the server's certificate (TLS 1.2 and older), subject first.
    pub cert_names: &'a [String],
    pub server_ip: IpAddr,
    pub transport: Transport,
    pub server_port: u16,
}

/// One catalog hit, kept whether or not it decided the flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub by: MatchedBy,
    /// The pattern or prefix that matched.
    pub matched: String,
    pub endpoint_id: EndpointId,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}#{}", self.by, self.matched, self.endpoint_id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceMatch {
    pub service_area: ServiceArea,
    pub endpoint_id: EndpointId,
    pub category: Category,
    pub matched_by: MatchedBy,
    pub port_listed: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classification {
    pub service: Option<ServiceMatch>,
    /// Every signal that hit the catalog, strongest first.
    pub evidence: Vec<Evidence>,
}

/// Every catalog hit for the flow's signals, strongest signal first: the name the client sent
/// (TLS/QUIC), the HTTP host, the server's certificate, DNS, then the address.
fn hits<'c>(
    catalog: &'c Catalog,
    signals: &Signals<'_>,
) -> [Option<(MatchedBy, CatalogMatch<'c>)>; 5] {
    let (transport, port) = (signals.transport, signals.server_port);
    let by_name = |name: Option<&str>, by: MatchedBy| {
        name.filter(|n| !n.is_empty())
            .and_then(|n| catalog.match_name(n, transport, port))
            .map(|m| (by, m))
    };
    [
        by_name(signals.sni, signals.sni_source),
        by_name(signals.http_host, MatchedBy::HttpHost),
        signals
            .cert_names
            .iter()
            .find_map(|n| catalog.match_name(n, transport, port))
            .map(|m| (MatchedBy::Cert, m)),
        by_name(signals.dns_name, MatchedBy::Dns),
        catalog
            .match_addr(signals.server_ip, transport, port)
            .map(|m| (MatchedBy::Ip, m)),
    ]
}

pub fn classify(catalog: &Catalog, signals: &Signals<'_>) -> Classification {
    classify_with_user(catalog, None, signals)
}

/// Classifies with Microsoft's catalog and the user's own entries (`--catalog-extra`). The
/// strongest signal decides; at the same signal the user's entry wins (`matched_by = user`), so a
/// proxy's address never hides the Office 365 name a client sent through it. Every hit is kept
/// as evidence.
pub fn classify_with_user(
    catalog: &Catalog,
    user: Option<&Catalog>,
    signals: &Signals<'_>,
) -> Classification {
    let microsoft = hits(catalog, signals);
    let mine = user.map(|u| hits(u, signals));
    let mut evidence = Vec::new();
    let mut service = None;
    for (level, hit) in microsoft.iter().enumerate() {
        let user_hit = mine
            .as_ref()
            .and_then(|m| m.get(level))
            .and_then(|h| h.as_ref());
        for (by, m, is_user) in user_hit
            .map(|(by, m)| (*by, m, true))
            .into_iter()
            .chain(hit.as_ref().map(|(by, m)| (*by, m, false)))
        {
            let by = if is_user { MatchedBy::User } else { by };
            evidence.push(Evidence {
                by,
                matched: m.matched.to_string(),
                endpoint_id: m.set.id,
            });
            if service.is_none() {
                service = Some(ServiceMatch {
                    service_area: m.set.service_area.clone(),
                    endpoint_id: m.set.id,
                    category: m.set.category,
                    matched_by: by,
                    port_listed: m.port_listed,
                });
            }
        }
    }
    Classification { service, evidence }
}
