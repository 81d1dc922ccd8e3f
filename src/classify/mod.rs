//! Office 365 service classification and port verdicts for finished flows.
//!
//! Every signal of a flow (the name it sent, HTTP host, certificate, DNS name, address) points
//! to candidate endpoint sets; the set that lists the flow's transport and port wins, then the
//! strongest signal (see `classify_with_user`). A proxied flow is judged on its target
//! (`Target`). The winner and the best candidates that lost are kept as evidence.

use std::fmt;
use std::net::IpAddr;

use crate::catalog::{Catalog, CatalogHit, Category, EndpointId, ServiceArea};
use crate::dissect::AppProtocol;
use crate::wire::Transport;

pub mod client;
pub mod owners;
pub mod tenant;
pub mod verdict;

pub use owners::{MicrosoftStatus, Ownership};
pub use verdict::{FlowVerdict, Judge, Outcome};

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

/// Whether a flow reaches its server directly or asks a proxy to reach another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowPath {
    #[default]
    Direct,
    /// An HTTP CONNECT, an absolute-URI HTTP request or a SOCKS request: the flow's server is
    /// a proxy, and the flow is judged on the target it asked for.
    Proxy,
}

impl FlowPath {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowPath::Direct => "direct",
            FlowPath::Proxy => "proxy",
        }
    }

    pub const ALL: [FlowPath; 2] = [FlowPath::Direct, FlowPath::Proxy];
}

impl fmt::Display for FlowPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The endpoint a flow is judged on: its own server, or the target a proxy was asked to reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    pub path: FlowPath,
    /// The host a proxy was asked to reach (no port); `None` for a direct flow.
    pub host: Option<&'a str>,
    pub transport: Transport,
    pub port: u16,
}

impl<'a> Target<'a> {
    /// A direct flow is judged on its server port; a proxied one on the target's port (a
    /// proxy carries TCP streams). A target without a readable port keeps the server's.
    pub fn of(
        transport: Transport,
        server_port: u16,
        via_proxy: bool,
        proxy_target: Option<&'a str>,
    ) -> Self {
        match proxy_target.filter(|_| via_proxy) {
            Some(target) => {
                let (host, port) = split_host_port(target);
                Target {
                    path: FlowPath::Proxy,
                    host: Some(host).filter(|h| !h.is_empty()),
                    transport: Transport::Tcp,
                    port: port.unwrap_or(server_port),
                }
            }
            None => Target {
                path: if via_proxy {
                    FlowPath::Proxy
                } else {
                    FlowPath::Direct
                },
                host: None,
                transport,
                port: server_port,
            },
        }
    }
}

/// `host:port`, `[v6]:port`, `host` or `v6` to the host and the port when there is one.
pub fn split_host_port(text: &str) -> (&str, Option<u16>) {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (text, None),
        },
        _ => (text, None),
    }
}

/// What the flow told us that can identify its service.
#[derive(Clone, Copy, Debug)]
pub struct Signals<'a> {
    pub sni: Option<&'a str>,
    /// Where `sni` came from: `Sni` (TLS over TCP) or `QuicSni` (a QUIC Initial).
    pub sni_source: MatchedBy,
    /// The host a plain HTTP request or a proxy request named (port removed).
    pub http_host: Option<&'a str>,
    /// The name a DNS answer in the capture gave the server address.
    pub dns_name: Option<&'a str>,
    /// Names in the server's certificate (TLS 1.2 and older), subject first.
    pub cert_names: &'a [String],
    /// The server's address; `None` when it says nothing of the service (a proxy's).
    pub server_ip: Option<IpAddr>,
    /// The transport and port the flow is judged on (a proxied flow's target port).
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
    /// Why this hit lost to the winner (`None` for the winner and for hits of its set).
    pub lost: Option<LostBecause>,
}

/// The first rule of the order that put a candidate behind the winner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LostBecause {
    /// The winner's set lists the flow's transport and port; this one's does not.
    PortNotListed(Transport, u16),
    WeakerSignal,
    /// At the same signal the user's own entry (`--catalog-extra`) comes first.
    UserEntryFirst,
    LessSpecific,
    Category(Category),
    HigherId,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}#{}", self.by, self.matched, self.endpoint_id)?;
        match &self.lost {
            None => Ok(()),
            Some(LostBecause::PortNotListed(transport, port)) => {
                write!(f, " ({}/{port} not listed)", transport.as_str())
            }
            Some(LostBecause::WeakerSignal) => f.write_str(" (weaker signal)"),
            Some(LostBecause::UserEntryFirst) => f.write_str(" (user entry first)"),
            Some(LostBecause::LessSpecific) => f.write_str(" (less specific)"),
            Some(LostBecause::Category(winner)) => write!(f, " ({winner} first)"),
            Some(LostBecause::HigherId) => f.write_str(" (higher id)"),
        }
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
    /// The winner, the best candidate that lost, then each signal's best, each once.
    pub evidence: Vec<Evidence>,
}

/// One endpoint set a signal of the flow points to.
#[derive(Clone, Copy, Debug)]
struct Candidate<'c> {
    /// Signal precedence: 0 = the name the client sent, ..., 4 = the server address.
    level: u8,
    by: MatchedBy,
    user: bool,
    hit: CatalogHit<'c>,
    listed: bool,
}

impl Candidate<'_> {
    /// The matching rule: the set that lists the port, then signal precedence (the user's
    /// entry first at the same signal), most specific entry, category, lowest id.
    fn key(&self) -> (bool, u8, bool, u16, Category, EndpointId) {
        let (rank, category, id) = self.hit.order_key();
        (!self.listed, self.level, !self.user, rank, category, id)
    }

    fn evidence(&self, winner: Option<&Candidate<'_>>, port: (Transport, u16)) -> Evidence {
        let lost = winner.filter(|w| w.hit.set.id != self.hit.set.id).map(|w| {
            let (mine, theirs) = (self.key(), w.key());
            if mine.0 != theirs.0 {
                LostBecause::PortNotListed(port.0, port.1)
            } else if mine.1 != theirs.1 {
                LostBecause::WeakerSignal
            } else if mine.2 != theirs.2 {
                LostBecause::UserEntryFirst
            } else if mine.3 != theirs.3 {
                LostBecause::LessSpecific
            } else if mine.4 != theirs.4 {
                LostBecause::Category(w.hit.set.category)
            } else {
                LostBecause::HigherId
            }
        });
        Evidence {
            by: if self.user { MatchedBy::User } else { self.by },
            matched: self.hit.matched.to_string(),
            endpoint_id: self.hit.set.id,
            lost,
        }
    }
}

/// Every catalog hit of every signal: the name the client sent (TLS/QUIC), the HTTP host, the
/// server's certificate, DNS, then the address.
fn candidates<'c>(
    catalog: &'c Catalog,
    user: bool,
    signals: &Signals<'_>,
    out: &mut Vec<Candidate<'c>>,
) {
    let (transport, port) = (signals.transport, signals.server_port);
    let mut push = |level: u8, by: MatchedBy, hits: Vec<CatalogHit<'c>>| {
        out.extend(hits.into_iter().map(|hit| Candidate {
            level,
            by,
            user,
            hit,
            listed: hit.set.lists_port(transport, port),
        }));
    };
    let name = |n: Option<&str>| n.filter(|n| !n.is_empty()).map(|n| catalog.name_hits(n));
    if let Some(hits) = name(signals.sni) {
        push(0, signals.sni_source, hits);
    }
    if let Some(hits) = name(signals.http_host) {
        push(1, MatchedBy::HttpHost, hits);
    }
    // The first certificate name that matches anything (the subject before the SANs).
    if let Some(hits) = signals
        .cert_names
        .iter()
        .map(|n| catalog.name_hits(n))
        .find(|h| !h.is_empty())
    {
        push(2, MatchedBy::Cert, hits);
    }
    if let Some(hits) = name(signals.dns_name) {
        push(3, MatchedBy::Dns, hits);
    }
    if let Some(ip) = signals.server_ip {
        push(4, MatchedBy::Ip, catalog.addr_hits(ip));
    }
}

pub fn classify(catalog: &Catalog, signals: &Signals<'_>) -> Classification {
    classify_with_user(catalog, None, signals)
}

/// At most this many evidence entries per flow: the winner, the best loser and each signal's
/// best are rarely more.
const MAX_EVIDENCE: usize = 6;

/// Classifies with Microsoft's catalog and the user's own entries (`--catalog-extra`).
/// Candidates come from every signal; the set that lists the flow's port wins, then the
/// stronger signal (the user's entry first at the same signal, so a proxy's address never hides
/// the Office 365 name a client sent through it), the most specific entry, Optimize > Allow >
/// Default, the lowest id.
pub fn classify_with_user(
    catalog: &Catalog,
    user: Option<&Catalog>,
    signals: &Signals<'_>,
) -> Classification {
    let mut all = Vec::new();
    candidates(catalog, false, signals, &mut all);
    if let Some(user) = user {
        candidates(user, true, signals, &mut all);
    }
    all.sort_by_key(Candidate::key);
    let Some(winner) = all.first().copied() else {
        return Classification::default();
    };
    let port = (signals.transport, signals.server_port);
    let mut chosen: Vec<&Candidate<'_>> = vec![&winner];
    let same = |a: &Candidate<'_>, b: &Candidate<'_>| {
        a.level == b.level && a.user == b.user && a.hit.set.id == b.hit.set.id
    };
    if let Some(loser) = all.iter().find(|c| c.hit.set.id != winner.hit.set.id) {
        chosen.push(loser);
    }
    for level in 0..=4 {
        for user in [true, false] {
            let best = all.iter().find(|c| c.level == level && c.user == user);
            if let Some(best) = best.filter(|b| !chosen.iter().any(|c| same(c, b))) {
                chosen.push(best);
            }
        }
    }
    chosen.truncate(MAX_EVIDENCE);
    let evidence = chosen
        .iter()
        .map(|c| c.evidence(Some(&winner), port))
        .collect();
    let set = winner.hit.set;
    Classification {
        service: Some(ServiceMatch {
            service_area: set.service_area.clone(),
            endpoint_id: set.id,
            category: set.category,
            matched_by: if winner.user {
                MatchedBy::User
            } else {
                winner.by
            },
            port_listed: winner.listed,
        }),
        evidence,
    }
}
