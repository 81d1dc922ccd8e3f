//! Findings: what an auditor should look at, each with severity, a one-line explanation, the
//! evidence (flows, names, counts) and the recommended action. Each is a polars filter and
//! tally over the flow frame.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use serde::Serialize;

use super::{
    bools, catalog_set, filter, ints, proxied, tally, texts, BYTES, END_NS, PORT, START_NS,
};
use crate::catalog::Catalog;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable identifier of the finding type, e.g. `exotic-ports`.
    pub kind: &'static str,
    pub severity: Severity,
    pub title: String,
    pub explanation: String,
    /// One line per group of flows, most bytes first (at most `MAX_EVIDENCE`).
    pub evidence: Vec<String>,
    /// Evidence lines left out.
    pub more: usize,
    pub flows: i64,
    pub action: String,
}

const MAX_EVIDENCE: usize = 50;

/// Issuers of the certificates Microsoft's own services present (data file, one per line).
const MICROSOFT_ISSUERS: &str = include_str!("data/microsoft-issuers.txt");

fn finding(
    kind: &'static str,
    severity: Severity,
    title: &str,
    explanation: &str,
    action: &str,
    flows: i64,
    mut evidence: Vec<String>,
) -> Finding {
    let more = evidence.len().saturating_sub(MAX_EVIDENCE);
    evidence.truncate(MAX_EVIDENCE);
    Finding {
        kind,
        severity,
        title: title.to_owned(),
        explanation: explanation.to_owned(),
        evidence,
        more,
        flows,
        action: action.to_owned(),
    }
}

/// `key1 key2: N flows, B bytes` lines from a tally.
fn lines<const N: usize>(
    df: &DataFrame,
    keys: [&str; N],
    describe: impl Fn(&[String; N]) -> String,
) -> PolarsResult<Vec<String>> {
    let columns: Vec<Vec<Option<String>>> = keys
        .iter()
        .map(|k| texts(df, k))
        .collect::<PolarsResult<_>>()?;
    let flows = ints(df, "flows")?;
    let bytes = ints(df, BYTES)?;
    Ok((0..df.height())
        .map(|i| {
            let values: [String; N] = std::array::from_fn(|k| {
                columns
                    .get(k)
                    .and_then(|c| c.get(i).cloned().flatten())
                    .unwrap_or_default()
            });
            format!(
                "{}: {} flows, {} bytes",
                describe(&values),
                flows.get(i).copied().unwrap_or(0),
                bytes.get(i).copied().unwrap_or(0)
            )
        })
        .collect())
}

fn count_flows(df: &DataFrame) -> i64 {
    df.height() as i64
}

/// The best server name of each row: SNI, HTTP host or CONNECT target, DNS name.
fn names(df: &DataFrame) -> PolarsResult<Vec<Option<String>>> {
    let sni = texts(df, "sni")?;
    let host = texts(df, "http_host")?;
    let dns = texts(df, "dns_name")?;
    Ok(sni
        .into_iter()
        .zip(host)
        .zip(dns)
        .map(|((s, h), d)| s.or(h).or(d))
        .collect())
}

fn with_name(df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut out = df.clone();
    let n: Vec<Option<String>> = names(df)?;
    out.with_column(Column::new("name".into(), n))?;
    Ok(out)
}

pub fn all(df: &DataFrame, o365: &DataFrame, catalog: &Catalog) -> PolarsResult<Vec<Finding>> {
    let mut out = Vec::new();
    out.extend(exotic_ports(o365)?);
    out.extend(media_fallback(o365)?);
    out.extend(quic_blocked(o365)?);
    out.extend(non_tls_443(df)?);
    out.extend(optimize_via_proxy(o365)?);
    out.extend(tls_inspection(df)?);
    out.extend(blocked_required(o365, catalog)?);
    out.extend(unlisted_microsoft(df)?);
    out.extend(published_services(df)?);
    out.extend(legacy(df)?);
    out.extend(coverage(o365)?);
    out.sort_by_key(|f| f.severity);
    Ok(out)
}

fn exotic_ports(o365: &DataFrame) -> PolarsResult<Option<Finding>> {
    let exotic = filter(
        o365,
        texts(o365, "port_verdict")?
            .iter()
            .map(|v| v.as_deref() == Some("exotic")),
    )?;
    if exotic.height() == 0 {
        return Ok(None);
    }
    let t = tally(
        &with_name(&exotic)?,
        &["service_area", PORT, "port_listed", "name"],
        "client_ip",
    )?;
    let unlisted = bools(&t, "port_listed")?.iter().any(|l| !l);
    let evidence = lines(&t, ["service_area", PORT, "port_listed", "name"], |v| {
        format!(
            "{} {} {} ({})",
            v[0],
            v[1],
            if v[3].is_empty() {
                "(address only)"
            } else {
                &v[3]
            },
            if v[2] == "true" {
                "Microsoft lists this port"
            } else {
                "Microsoft does not list this port for the set"
            }
        )
    })?;
    Ok(Some(finding(
        "exotic-ports",
        if unlisted { Severity::Warning } else { Severity::Info },
        "Office 365 traffic on ports other than 80 and 443",
        "These flows need firewall rules beyond web ports (Teams media on UDP 3478-3481, mail protocols, SIP); where Microsoft lists the port the rule is required, otherwise the traffic deserves a look.",
        "Open exactly the listed ports to the endpoint sets in firewall-rules.csv; investigate ports Microsoft does not list.",
        count_flows(&exotic),
        evidence,
    )))
}

/// Teams media to UDP 3478-3481 never answered while the same clients reach Teams over TCP 443:
/// media falls back to TCP (worse call quality).
fn media_fallback(o365: &DataFrame) -> PolarsResult<Option<Finding>> {
    let area = texts(o365, "service_area")?;
    let transport = texts(o365, "transport")?;
    let port = ints(o365, "server_port")?;
    let judged_port = texts(o365, PORT)?;
    let outcome = texts(o365, "outcome")?;
    let client = texts(o365, "client_ip")?;
    let is_teams = |i: usize| area.get(i).cloned().flatten().as_deref() == Some("Skype");
    let mut over_tcp: BTreeSet<String> = BTreeSet::new();
    for i in 0..o365.height() {
        // Directly or through a proxy: either way Teams is reached over TCP 443.
        if is_teams(i)
            && judged_port.get(i).cloned().flatten().as_deref() == Some("tcp/443")
            && outcome.get(i).cloned().flatten().as_deref() == Some("established")
        {
            over_tcp.extend(client.get(i).cloned().flatten());
        }
    }
    let keep: Vec<bool> = (0..o365.height())
        .map(|i| {
            is_teams(i)
                && transport.get(i).cloned().flatten().as_deref() == Some("udp")
                && port.get(i).is_some_and(|p| (3478..=3481).contains(p))
                && outcome.get(i).cloned().flatten().as_deref() != Some("established")
                && client
                    .get(i)
                    .cloned()
                    .flatten()
                    .is_some_and(|c| over_tcp.contains(&c))
        })
        .collect();
    let unanswered = filter(o365, keep.into_iter())?;
    if unanswered.height() == 0 {
        return Ok(None);
    }
    let t = tally(&unanswered, &["client_ip", PORT, "outcome"], "server_ip")?;
    let evidence = lines(&t, ["client_ip", PORT, "outcome"], |v| {
        format!(
            "client {} to {} ({}; the same client reaches Teams on tcp/443)",
            v[0], v[1], v[2]
        )
    })?;
    Ok(Some(finding(
        "media-fallback",
        Severity::Warning,
        "Teams media on UDP 3478-3481 unanswered: calls fall back to TCP",
        "Clients that reach Teams over TCP 443 sent media to UDP 3478-3481 and got no answer; Teams then relays media over TCP, with more delay and loss.",
        "Allow UDP 3478-3481 outbound to the Teams media prefixes (endpoint set 11, Optimize) and bypass proxies for them.",
        count_flows(&unanswered),
        evidence,
    )))
}

/// How long after an unanswered QUIC attempt a TCP 443 connection to the same name counts as
/// its fallback (capture time).
const QUIC_FALLBACK_NS: i64 = 30_000_000_000;

/// QUIC to names Microsoft lists for UDP 443 that the server never answered, followed by TCP
/// 443 from the same client to the same name: something on the path drops UDP 443.
fn quic_blocked(o365: &DataFrame) -> PolarsResult<Option<Finding>> {
    let port = texts(o365, PORT)?;
    let app = texts(o365, "app_protocol")?;
    let listed = bools(o365, "port_listed")?;
    let answered = bools(o365, "server_answered")?;
    let client = texts(o365, "client_ip")?;
    let name = names(o365)?;
    let start = ints(o365, START_NS)?;
    let end = ints(o365, END_NS)?;
    let ids = ints(o365, "endpoint_id")?;
    let at = |v: &[Option<String>], i: usize| v.get(i).cloned().flatten();
    // (client, name) -> start times of its TCP 443 connections.
    let mut tcp: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for i in 0..o365.height() {
        if at(&port, i).as_deref() == Some("tcp/443") {
            if let (Some(c), Some(n)) = (at(&client, i), at(&name, i)) {
                tcp.entry((c, n.to_ascii_lowercase()))
                    .or_default()
                    .push(start.get(i).copied().unwrap_or(0));
            }
        }
    }
    // name -> (clients, flows, endpoint sets)
    let mut blocked: BTreeMap<String, (BTreeSet<String>, i64, BTreeSet<i64>)> = BTreeMap::new();
    let mut flows = 0;
    for i in 0..o365.height() {
        let quic = at(&port, i).as_deref() == Some("udp/443")
            && at(&app, i).as_deref() == Some("quic")
            && listed.get(i).copied().unwrap_or(false)
            && !answered.get(i).copied().unwrap_or(true);
        let (Some(c), Some(n)) = (at(&client, i), at(&name, i)) else {
            continue;
        };
        if !quic {
            continue;
        }
        let (first, last) = (
            start.get(i).copied().unwrap_or(0),
            end.get(i).copied().unwrap_or(0),
        );
        let fell_back = tcp
            .get(&(c.clone(), n.to_ascii_lowercase()))
            .is_some_and(|starts| {
                starts
                    .iter()
                    .any(|s| *s >= first && *s <= last.saturating_add(QUIC_FALLBACK_NS))
            });
        if fell_back {
            let entry = blocked.entry(n).or_default();
            entry.0.insert(c);
            entry.1 += 1;
            entry.2.extend(ids.get(i).copied());
            flows += 1;
        }
    }
    if blocked.is_empty() {
        return Ok(None);
    }
    let mut sets = BTreeSet::new();
    let evidence = blocked
        .iter()
        .map(|(name, (clients, n, ids))| {
            sets.extend(ids.iter().copied());
            let ids: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
            format!(
                "{name} (endpoint set {}): {n} unanswered QUIC flows from {} clients ({}), then TCP 443",
                ids.join(", "),
                clients.len(),
                clients.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    let sets: Vec<String> = sets.iter().map(|i| i.to_string()).collect();
    Ok(Some(finding(
        "quic-blocked",
        Severity::Warning,
        "QUIC blocked, clients fall back to TCP",
        "Clients sent QUIC (UDP 443) to names Microsoft lists for UDP 443, got no answer, and then connected to the same names over TCP 443 within 30 seconds: UDP 443 is dropped on the way.",
        &format!(
            "Allow UDP 443 to endpoint sets {} (Microsoft lists it), or accept the slower TCP path knowingly.",
            sets.join(", ")
        ),
        flows,
        evidence,
    )))
}

fn non_tls_443(df: &DataFrame) -> PolarsResult<Option<Finding>> {
    // Only connections that carried something: an unanswered SYN to 443 shows no protocol.
    let verdict = texts(df, "port_verdict")?;
    let outcome = texts(df, "outcome")?;
    let hit = filter(
        df,
        verdict.iter().zip(&outcome).map(|(v, o)| {
            v.as_deref() == Some("non-tls-443") && o.as_deref() == Some("established")
        }),
    )?;
    if hit.height() == 0 {
        return Ok(None);
    }
    let t = tally(&hit, &["app_protocol", "server_ip", PORT], "client_ip")?;
    let evidence = lines(&t, ["app_protocol", "server_ip", PORT], |v| {
        format!(
            "{} to {} {}",
            if v[0].is_empty() { "unknown" } else { &v[0] },
            v[1],
            v[2]
        )
    })?;
    Ok(Some(finding(
        "non-tls-443",
        Severity::Warning,
        "Traffic on port 443 that is not TLS or QUIC",
        "Port 443 is open for TLS; other protocols on it (VPNs, tunnels, plain HTTP, unknown payloads) pass rules written for web traffic.",
        "Identify the programs; block or write explicit rules for them.",
        count_flows(&hit),
        evidence,
    )))
}

fn optimize_via_proxy(o365: &DataFrame) -> PolarsResult<Option<Finding>> {
    let category = texts(o365, "category")?;
    let proxy = proxied(o365)?;
    let hit = filter(
        o365,
        category
            .iter()
            .zip(&proxy)
            .map(|(c, p)| *p && c.as_deref() == Some("Optimize")),
    )?;
    if hit.height() == 0 {
        return Ok(None);
    }
    let mut hit = with_name(&hit)?;
    let server = texts(&hit, "server_ip")?;
    let port = ints(&hit, "server_port")?;
    let proxy_at: Vec<String> = server
        .iter()
        .zip(&port)
        .map(|(ip, port)| {
            let ip = ip.clone().unwrap_or_default();
            if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            }
        })
        .collect();
    hit.with_column(Column::new("proxy_at".into(), proxy_at))?;
    let t = tally(&hit, &["service_area", "name", "proxy_at"], "client_ip")?;
    let evidence = lines(&t, ["service_area", "name", "proxy_at"], |v| {
        format!("{} {} through the proxy {}", v[0], v[1], v[2])
    })?;
    Ok(Some(finding(
        "optimize-via-proxy",
        Severity::Warning,
        "Optimize endpoints reached through an explicit proxy",
        "Microsoft marks these endpoints Optimize: latency-sensitive, and they should bypass proxies and TLS inspection.",
        "Send the Optimize names and prefixes direct (see firewall/proxy.pac and the firewall lists).",
        count_flows(&hit),
        evidence,
    )))
}

/// Does the issuer belong to a CA Microsoft uses for its services?
pub fn microsoft_issuer(issuer: &str) -> bool {
    let issuer = issuer.to_ascii_lowercase();
    MICROSOFT_ISSUERS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|known| issuer.contains(&known.to_ascii_lowercase()))
}

fn tls_inspection(df: &DataFrame) -> PolarsResult<Option<Finding>> {
    let o365 = bools(df, super::O365)?;
    let microsoft = texts(df, "microsoft")?;
    let issuer = texts(df, "cert_issuer")?;
    let keep: Vec<bool> = (0..df.height())
        .map(|i| {
            let ours = o365.get(i).copied().unwrap_or(false)
                || microsoft.get(i).cloned().flatten().as_deref() == Some("unlisted");
            let foreign = issuer
                .get(i)
                .cloned()
                .flatten()
                .is_some_and(|s| !microsoft_issuer(&s));
            ours && foreign
        })
        .collect();
    let hit = filter(df, keep.into_iter())?;
    if hit.height() == 0 {
        return Ok(None);
    }
    let t = tally(&with_name(&hit)?, &["name", "cert_issuer"], "client_ip")?;
    let evidence = lines(&t, ["name", "cert_issuer"], |v| {
        format!("{} certificate issued by \"{}\"", v[0], v[1])
    })?;
    Ok(Some(finding(
        "tls-inspection",
        Severity::High,
        "TLS inspection of Microsoft traffic (certificates from a CA Microsoft does not use)",
        "A server certificate for a Microsoft name was issued by a CA outside Microsoft's list: a TLS-inspecting proxy or firewall re-signs the traffic (or the server is not Microsoft's).",
        "Exempt Office 365 Optimize and Allow endpoints from TLS inspection, as Microsoft recommends.",
        count_flows(&hit),
        evidence,
    )))
}

fn blocked_required(o365: &DataFrame, catalog: &Catalog) -> PolarsResult<Option<Finding>> {
    let ids = ints(o365, "endpoint_id")?;
    let outcome = texts(o365, "outcome")?;
    let keep: Vec<bool> = (0..o365.height())
        .map(|i| {
            let required = ids
                .get(i)
                .and_then(|id| catalog_set(catalog, *id))
                .is_some_and(|s| s.required);
            let failed = !matches!(
                outcome.get(i).cloned().flatten().as_deref(),
                Some("established") | None
            );
            required && failed
        })
        .collect();
    let hit = filter(o365, keep.into_iter())?;
    if hit.height() == 0 {
        return Ok(None);
    }
    let t = tally(
        &with_name(&hit)?,
        &["service_area", "endpoint_id", "name", PORT, "outcome"],
        "client_ip",
    )?;
    let evidence = lines(
        &t,
        ["service_area", "endpoint_id", "name", PORT, "outcome"],
        |v| {
            let name = if v[2].is_empty() {
                "(address only)"
            } else {
                &v[2]
            };
            format!("{} set {} {} {}: {}", v[0], v[1], name, v[3], v[4])
        },
    )?;
    Ok(Some(finding(
        "blocked-required",
        Severity::High,
        "Required Office 365 endpoints blocked or unanswered",
        "Microsoft marks these endpoint sets required; attempts went unanswered, were reset, rejected by ICMP or refused with a TLS alert.",
        "Check the firewall and proxy rules for these sets and ports (firewall-rules.csv).",
        count_flows(&hit),
        evidence,
    )))
}

fn unlisted_microsoft(df: &DataFrame) -> PolarsResult<Option<Finding>> {
    let hit = filter(
        df,
        texts(df, "microsoft")?
            .iter()
            .map(|v| v.as_deref() == Some("unlisted")),
    )?;
    if hit.height() == 0 {
        return Ok(None);
    }
    let mut named = with_name(&hit)?;
    // Address-only flows list the address.
    let name = texts(&named, "name")?;
    let server = texts(&named, "server_ip")?;
    let label: Vec<String> = name
        .into_iter()
        .zip(server)
        .map(|(n, s)| n.unwrap_or_else(|| format!("address {}", s.unwrap_or_default())))
        .collect();
    named.with_column(Column::new("label".into(), label))?;
    let t = tally(&named, &["label", PORT], "client_ip")?;
    let evidence = lines(&t, ["label", PORT], |v| format!("{} {}", v[0], v[1]))?;
    Ok(Some(finding(
        "unlisted-microsoft",
        Severity::Info,
        "Microsoft names and addresses that no endpoint set lists",
        "Traffic to Microsoft-owned names or address blocks outside the Microsoft 365 catalog (Azure, other Microsoft services, or endpoints the catalog misses).",
        "Decide whether to allow them; send the list to Microsoft if Office 365 needs them.",
        count_flows(&hit),
        evidence,
    )))
}

fn published_services(df: &DataFrame) -> PolarsResult<Option<Finding>> {
    let hit = filter(
        df,
        texts(df, "published_service")?.iter().map(Option::is_some),
    )?;
    if hit.height() == 0 {
        return Ok(None);
    }
    let t = tally(&hit, &["published_service", "server_ip", PORT], "client_ip")?;
    let evidence = lines(&t, ["published_service", "server_ip", PORT], |v| {
        format!("{} on {} {}", v[0], v[1], v[2])
    })?;
    Ok(Some(finding(
        "published-services",
        Severity::Info,
        "Inbound published services (AD FS, Exchange hybrid, Lync Edge)",
        "Internal servers that take connections from the internet for Office 365 hybrid features.",
        "Keep these rules limited to the ports and (where Microsoft publishes them) source prefixes the feature needs.",
        count_flows(&hit),
        evidence,
    )))
}

fn legacy(df: &DataFrame) -> PolarsResult<Option<Finding>> {
    let app = texts(df, "app_protocol")?;
    let port = ints(df, "server_port")?;
    let client = texts(df, "client_app")?;
    let tls = texts(df, "tls_version")?;
    let o365 = bools(df, super::O365)?;
    let mut reason: Vec<Option<String>> = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let app_i = app.get(i).cloned().flatten().unwrap_or_default();
        let port_i = port.get(i).copied().unwrap_or(0);
        let old_tls = tls
            .get(i)
            .cloned()
            .flatten()
            .filter(|v| matches!(v.as_str(), "1.0" | "1.1" | "ssl3" | "ssl2"));
        let r = match (app_i.as_str(), port_i) {
            ("pop3", _) | ("tls", 995) => Some("POP3".to_owned()),
            ("imap", _) | ("tls", 993) => Some("IMAP".to_owned()),
            ("smtp", _) | ("tls", 465) => {
                Some("SMTP (client submission uses basic authentication)".to_owned())
            }
            ("sip", _) => Some("SIP (Lync / Skype for Business)".to_owned()),
            _ if client.get(i).cloned().flatten().as_deref() == Some("skype-for-business") => {
                Some("Lync / Skype for Business".to_owned())
            }
            _ => None,
        }
        .or_else(|| {
            old_tls
                .filter(|_| o365.get(i).copied().unwrap_or(false))
                .map(|v| format!("TLS {v} to Office 365"))
        });
        reason.push(r);
    }
    let keep: Vec<bool> = reason.iter().map(Option::is_some).collect();
    let mut with_reason = df.clone();
    with_reason.with_column(Column::new("reason".into(), reason))?;
    let hit = filter(&with_reason, keep.into_iter())?;
    if hit.height() == 0 {
        return Ok(None);
    }
    let t = tally(&hit, &["reason", "server_ip", PORT], "client_ip")?;
    let evidence = lines(&t, ["reason", "server_ip", PORT], |v| {
        format!("{} to {} {}", v[0], v[1], v[2])
    })?;
    Ok(Some(finding(
        "legacy-protocols",
        Severity::Warning,
        "Legacy protocols and TLS below 1.2",
        "POP, IMAP and SMTP AUTH use basic authentication, which Exchange Online retires; Skype for Business Online is retired; Microsoft 365 refuses TLS 1.0 and 1.1.",
        "Move these clients to modern authentication (Outlook, Exchange ActiveSync with OAuth, Teams) and TLS 1.2 or later.",
        count_flows(&hit),
        evidence,
    )))
}

/// Office 365 flows whose service name is hidden: classified by address only.
fn coverage(o365: &DataFrame) -> PolarsResult<Option<Finding>> {
    let by = texts(o365, "matched_by")?;
    let ech = bools(o365, "ech")?;
    let app = texts(o365, "app_protocol")?;
    let ja4 = texts(o365, "ja4")?;
    let incomplete = bools(o365, "tls_incomplete")?;
    let bytes = ints(o365, BYTES)?;
    let mut why: BTreeMap<&'static str, (i64, i64)> = BTreeMap::new();
    let mut hidden = 0;
    for i in 0..o365.height() {
        if by.get(i).cloned().flatten().as_deref() != Some("ip") {
            continue;
        }
        hidden += 1;
        let app_i = app.get(i).cloned().flatten().unwrap_or_default();
        let reason = if ech.get(i).copied().unwrap_or(false) {
            "Encrypted Client Hello"
        } else if incomplete.get(i).copied().unwrap_or(false) {
            "ClientHello cut or incomplete"
        } else if (app_i == "tls" || app_i == "quic") && ja4.get(i).cloned().flatten().is_none() {
            "capture started mid-flow (no ClientHello seen)"
        } else if app_i == "tls" || app_i == "quic" {
            "no SNI in the ClientHello (or session resumption)"
        } else {
            "no name in the protocol (media, VPN, plain traffic)"
        };
        let entry = why.entry(reason).or_default();
        entry.0 += 1;
        entry.1 += bytes.get(i).copied().unwrap_or(0);
    }
    if hidden == 0 {
        return Ok(None);
    }
    let total_flows = o365.height() as i64;
    let total_bytes: i64 = bytes.iter().sum();
    let hidden_bytes: i64 = why.values().map(|v| v.1).sum();
    let mut evidence = vec![format!(
        "{hidden} of {total_flows} Office 365 flows ({}) and {hidden_bytes} of {total_bytes} bytes ({}) classified by address only",
        super::human_share(hidden, total_flows),
        super::human_share(hidden_bytes, total_bytes)
    )];
    evidence.extend(
        why.iter()
            .map(|(reason, (f, b))| format!("{reason}: {f} flows, {b} bytes")),
    );
    Ok(Some(finding(
        "coverage",
        Severity::Info,
        "Office 365 traffic whose service name is hidden",
        "These flows were matched by server address only: the name the client asked for was not visible, so the endpoint set is a best guess.",
        "Capture whole connections from their start, with a snaplen that keeps handshakes (0 or 65535).",
        hidden,
        evidence,
    )))
}
