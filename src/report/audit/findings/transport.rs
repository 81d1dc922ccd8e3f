//! Findings about how Office 365 traffic crosses the firewall: ports beyond 80/443, Teams
//! media and QUIC that never get through, non-TLS on 443, Optimize endpoints behind a proxy.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;

use super::super::temporal::Temporal;
use super::super::{bools, filter, ints, proxied, server_endpoints, tally, texts, PORT};
use super::{count_flows, finding, lines, with_name, Finding, Severity};
use crate::catalog::{Category, ServiceArea};
use crate::classify::{Outcome, PortVerdict};

/// How long after an unanswered QUIC attempt a TCP 443 connection to the same name counts as
/// its fallback (capture time).
const QUIC_FALLBACK_NS: i64 = 30_000_000_000;

pub(super) fn exotic_ports(o365: &DataFrame) -> PolarsResult<Option<Finding>> {
    let exotic = filter(
        o365,
        texts(o365, "port_verdict")?
            .iter()
            .map(|v| v.as_deref() == Some(PortVerdict::Exotic.as_str())),
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
pub(super) fn media_fallback(o365: &DataFrame) -> PolarsResult<Option<Finding>> {
    let area = texts(o365, "service_area")?;
    let transport = texts(o365, "transport")?;
    let port = ints(o365, "server_port")?;
    let judged_port = texts(o365, PORT)?;
    let outcome = texts(o365, "outcome")?;
    let client = texts(o365, "client_ip")?;
    let is_teams =
        |i: usize| area.get(i).cloned().flatten().as_deref() == Some(ServiceArea::Skype.as_str());
    let mut over_tcp: BTreeSet<String> = BTreeSet::new();
    for i in 0..o365.height() {
        // Directly or through a proxy: either way Teams is reached over TCP 443.
        if is_teams(i)
            && judged_port.get(i).cloned().flatten().as_deref() == Some("tcp/443")
            && outcome.get(i).cloned().flatten().as_deref() == Some(Outcome::Established.as_str())
        {
            over_tcp.extend(client.get(i).cloned().flatten());
        }
    }
    let keep: Vec<bool> = (0..o365.height())
        .map(|i| {
            is_teams(i)
                && transport.get(i).cloned().flatten().as_deref() == Some("udp")
                && port.get(i).is_some_and(|p| (3478..=3481).contains(p))
                && outcome.get(i).cloned().flatten().as_deref()
                    != Some(Outcome::Established.as_str())
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

/// QUIC to names Microsoft lists for UDP 443 that the server never answered, followed by TCP
/// 443 from the same client to the same name: something on the path drops UDP 443.
pub(super) fn quic_blocked(temporal: &Temporal) -> PolarsResult<Option<Finding>> {
    let name_of = |id: u32| temporal.strings.name(id).to_owned();
    // (client, lowercased name) -> start times of its TCP 443 connections.
    let mut tcp: HashMap<(u32, u32), Vec<i64>> = HashMap::new();
    for (client, name, start) in &temporal.tcp443 {
        tcp.entry((*client, *name)).or_default().push(*start);
    }
    // Sorted, so each attempt finds the first start at or after its own by binary search:
    // scanning them all was quadratic for one client and name with many of both.
    for starts in tcp.values_mut() {
        starts.sort_unstable();
    }
    // name -> (clients, flows, endpoint sets)
    let mut blocked: BTreeMap<String, (BTreeSet<String>, i64, BTreeSet<i64>)> = BTreeMap::new();
    let mut flows = 0;
    for attempt in &temporal.quic {
        let fell_back = tcp
            .get(&(attempt.client, attempt.name))
            .is_some_and(|starts| {
                let first_after = starts.partition_point(|s| *s < attempt.start);
                starts
                    .get(first_after)
                    .is_some_and(|s| *s <= attempt.end.saturating_add(QUIC_FALLBACK_NS))
            });
        if fell_back {
            let entry = blocked.entry(name_of(attempt.shown)).or_default();
            entry.0.insert(name_of(attempt.client));
            entry.1 += 1;
            entry.2.extend(attempt.endpoint_id);
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

pub(super) fn non_tls_443(df: &DataFrame) -> PolarsResult<Option<Finding>> {
    // Only connections that carried something: an unanswered SYN to 443 shows no protocol.
    let verdict = texts(df, "port_verdict")?;
    let outcome = texts(df, "outcome")?;
    let hit = filter(
        df,
        verdict.iter().zip(&outcome).map(|(v, o)| {
            v.as_deref() == Some("non-tls-443")
                && o.as_deref() == Some(Outcome::Established.as_str())
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

pub(super) fn optimize_via_proxy(o365: &DataFrame) -> PolarsResult<Option<Finding>> {
    let category = texts(o365, "category")?;
    let proxy = proxied(o365)?;
    let hit = filter(
        o365,
        category
            .iter()
            .zip(&proxy)
            .map(|(c, p)| *p && c.as_deref() == Some(Category::Optimize.as_str())),
    )?;
    if hit.height() == 0 {
        return Ok(None);
    }
    let mut hit = with_name(&hit)?;
    let proxy_at = server_endpoints(&hit)?;
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
