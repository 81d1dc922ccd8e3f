//! One complete verdict per ended flow, as typed values: the endpoint set (service area,
//! category, whether it lists the port) and the evidence, the path (direct or a proxy's target),
//! the port verdict, direction, Microsoft ownership, the client program and published service,
//! and how the attempt ended. Rows are built from the flow record, the dissectors' facts and
//! this verdict, once.

use std::fmt;

use super::client::{ClientFacts, ClientRules, Confidence, IdentifyMemo};
use super::{
    classify_with_user, split_host_port, Classification, Direction, FlowPath, MatchedBy,
    MicrosoftStatus, Ownership, PortVerdict, Signals, Target,
};
use crate::catalog::Catalog;
use crate::dissect::{AppProtocol, FlowDissect};
use crate::flow::FlowRecord;
use crate::wire::Transport;

/// How the attempt ended, as an audit needs it to show blocked endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The server answered.
    Established,
    /// The server never sent a packet.
    NoReply,
    /// The SYN got a RST instead of a SYN+ACK: connection refused.
    Reset,
    /// The ClientHello got a fatal TLS alert.
    TlsAlert,
    /// An ICMP destination unreachable quoted the flow.
    RejectedIcmp,
}

impl Outcome {
    pub fn of(record: &FlowRecord, dissect: &FlowDissect) -> Self {
        if record.rejected_by_icmp {
            Outcome::RejectedIcmp
        } else if dissect.tls_alert.is_some() {
            Outcome::TlsAlert
        } else if !record.server_answered() {
            Outcome::NoReply
        } else if record.transport == Transport::Tcp
            && record.syn_seen
            && record.reset
            && !record.syn_ack_seen
        {
            Outcome::Reset
        } else {
            Outcome::Established
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::NoReply => "no-reply",
            Outcome::Reset => "reset",
            Outcome::TlsAlert => "tls-alert",
            Outcome::RejectedIcmp => "rejected-icmp",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The program behind a flow and the rule that named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub app: String,
    pub confidence: Confidence,
    /// `rule=ID`, then each fact that satisfied it.
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowVerdict {
    pub classification: Classification,
    pub path: FlowPath,
    pub port_verdict: PortVerdict,
    pub direction: Direction,
    pub microsoft: MicrosoftStatus,
    pub client: Option<Client>,
    /// `published-RULE` when a rule other than the client's decided `published_service`.
    pub published_evidence: Option<String>,
    pub published_service: Option<String>,
    pub outcome: Outcome,
}

/// What every verdict of a run is judged against.
#[derive(Clone, Copy, Debug)]
pub struct Judge<'a> {
    pub catalog: &'a Catalog,
    /// The user's own entries (`--catalog-extra`).
    pub user_catalog: Option<&'a Catalog>,
    /// The networks inside the firewall (for `direction`).
    pub internal: &'a [ipnet::IpNet],
    pub client_rules: &'a ClientRules,
}

impl Judge<'_> {
    /// The verdict on an ended flow; `dns_name` is the name an earlier DNS answer gave its
    /// server address (looked up for flows without a server name of their own); `memo`
    /// remembers client identifications across the run's flows.
    pub fn judge(
        &self,
        record: &FlowRecord,
        dissect: &FlowDissect,
        dns_name: Option<&str>,
        memo: &mut IdentifyMemo,
    ) -> FlowVerdict {
        let hello = dissect.client_hello.as_deref();
        let sni = hello.and_then(|h| h.sni.as_deref());
        // A proxied flow is judged on the target it asked the proxy for: the proxy's address,
        // port and DNS name say nothing of the service behind it.
        let target = Target::of(
            record.transport,
            record.server.port,
            dissect.via_proxy,
            dissect.proxy_target(),
        );
        let http_host = target
            .host
            .or(dissect.http_host())
            .map(|h| split_host_port(h).0);
        let cert_names: &[String] = dissect
            .server_hello
            .as_deref()
            .and_then(|h| h.certificate.as_ref())
            .map(|c| c.names.as_slice())
            .unwrap_or_default();
        let direct = target.path == FlowPath::Direct;
        // DNS lookups are not Office 365 traffic, and port 53 is no Office 365 port.
        let classification = if dissect.app == AppProtocol::Dns {
            Classification::default()
        } else {
            classify_with_user(
                self.catalog,
                self.user_catalog,
                &Signals {
                    sni,
                    sni_source: if dissect.app == AppProtocol::Quic {
                        MatchedBy::QuicSni
                    } else {
                        MatchedBy::Sni
                    },
                    http_host,
                    dns_name: dns_name.filter(|_| direct),
                    cert_names,
                    server_ip: Some(record.server.ip).filter(|_| direct),
                    transport: target.transport,
                    server_port: target.port,
                },
            )
        };
        // Verdicts rest on what the payload showed, never on a port guess. A proxied flow is
        // judged on its target's port and on what the tunnel carries (TLS after a CONNECT).
        let judged_app = match (target.path, hello) {
            (FlowPath::Proxy, Some(_)) => AppProtocol::Tls,
            _ => dissect.app,
        };
        let port_verdict = PortVerdict::of(target.transport, target.port, judged_app);
        let direction = Direction::of(record.client.ip, record.server.ip, self.internal);
        // The names a flow showed, strongest first: as sent, HTTP host or proxy target, DNS,
        // certificate.
        let names: Vec<&str> = sni
            .into_iter()
            .chain(dissect.http_host())
            .chain(dns_name)
            .chain(cert_names.iter().map(String::as_str))
            .collect();
        let service_area = classification.service.as_ref().map(|s| &s.service_area);
        let ownership = Ownership::get();
        let microsoft = ownership.status(
            service_area.is_some(),
            names.iter().copied(),
            record.server.ip,
        );
        let client_microsoft = if self
            .catalog
            .match_addr(record.client.ip, record.transport, record.server.port)
            .is_some()
        {
            MicrosoftStatus::Listed
        } else if ownership.owns_addr(record.client.ip) {
            MicrosoftStatus::Unlisted
        } else {
            MicrosoftStatus::No
        };
        let (app, _) = AppProtocol::detected(dissect.app, record.transport, record.server.port);
        let media = dissect.media.names();
        let alpn = hello.map(|h| h.alpn.as_slice()).unwrap_or_default();
        let facts = ClientFacts {
            transport: record.transport,
            server_port: record.server.port,
            app_protocol: app.as_str(),
            names: &names,
            ja4: hello.map(|h| h.ja4.as_str()).filter(|j| !j.is_empty()),
            alpn,
            user_agent: dissect.user_agent(),
            http_path: dissect.http_path(),
            media: &media,
            service_area: service_area.map(|a| a.as_str()),
            microsoft,
            client_microsoft,
            direction,
        };
        let identified = self.client_rules.identify_remembered(&facts, memo);
        let client = identified.client.map(|c| Client {
            app: c.app,
            confidence: c.confidence,
            evidence: c.evidence,
        });
        let published_evidence = identified
            .published_evidence
            .first()
            .filter(|rule| !client.as_ref().is_some_and(|c| c.evidence.contains(rule)))
            .map(|rule| format!("published-{rule}"));
        FlowVerdict {
            classification,
            path: target.path,
            port_verdict,
            direction,
            microsoft,
            client,
            published_evidence,
            published_service: identified.published,
            outcome: Outcome::of(record, dissect),
        }
    }
}
