//! How much of the Office 365 traffic could be named: per service area, the flows and bytes
//! whose server name was read (TLS SNI, QUIC, a proxy's target, HTTP Host), hidden (Encrypted
//! Client Hello, a ClientHello without SNI or a resumption without a name, a cut handshake, a
//! flow that started before the capture) or not carried at all (address only). The `coverage`
//! finding: more than 10% of the Optimize or the Allow bytes matched to their endpoint set by
//! the server address alone (`matched_by = ip`), whatever the reason no name decided.

use std::collections::BTreeMap;
use std::net::IpAddr;

use polars::prelude::*;

use super::findings::{finding, lines, Finding, Severity};
use crate::classify::tenant;

use super::{
    bools, filter, human_share, ints, proxied, tally, texts, Table, BYTES, FLOW_COUNT, PORT,
};

/// The groups in table order.
const GROUPS: [&str; 3] = ["read", "hidden", "address-only"];

/// Above this share of a category's bytes matched by the address alone, the finding triggers.
const ADDRESS_ONLY_LIMIT: f64 = 0.10;

/// Per category: all flows, and those matched by the address alone with their split into the
/// name groups (read, hidden, address-only).
#[derive(Default, Clone, Copy)]
struct ByAddress {
    all: Sum,
    ip: Sum,
    groups: [Sum; 3],
}

/// (group, how) of each row.
fn visibility(df: &DataFrame) -> PolarsResult<Vec<(&'static str, &'static str)>> {
    let ech = bools(df, "ech")?;
    let sni = texts(df, "sni")?;
    let app = texts(df, "app_protocol")?;
    let via = proxied(df)?;
    let target = texts(df, "proxy_target")?;
    let host = texts(df, "http_host")?;
    let cut = bools(df, "tls_incomplete")?;
    let ja4 = texts(df, "ja4")?;
    let transport = texts(df, "transport")?;
    let flags = texts(df, "tcp_flags_c2s")?;
    let has = |c: &[Option<String>], i: usize| c.get(i).is_some_and(Option::is_some);
    // An address written where a name goes (SNI, Host, proxy target: `52.96.1.1:443`,
    // `[2603:1006::1]:443`) names nothing: the flow is known by its address alone.
    let literal = |c: &[Option<String>], i: usize| {
        c.get(i)
            .and_then(|v| v.as_deref())
            .is_some_and(|v| tenant::without_port(v).parse::<IpAddr>().is_ok())
    };
    let is = |c: &[bool], i: usize| c.get(i).copied().unwrap_or(false);
    Ok((0..df.height())
        .map(|i| {
            let app = app.get(i).cloned().flatten().unwrap_or_default();
            let handshake_protocol = app == "tls" || app == "quic";
            if is(&ech, i) {
                ("hidden", "ech")
            } else if has(&sni, i) {
                if literal(&sni, i) {
                    ("address-only", "ip-literal")
                } else if app == "quic" {
                    ("read", "quic-sni")
                } else {
                    ("read", "tls-sni")
                }
            } else if is(&via, i) && has(&target, i) {
                if literal(&target, i) {
                    ("address-only", "ip-literal")
                } else {
                    ("read", "proxy-target")
                }
            } else if has(&host, i) {
                if literal(&host, i) {
                    ("address-only", "ip-literal")
                } else {
                    ("read", "http-host")
                }
            } else if is(&cut, i) {
                ("hidden", "cut-handshake")
            } else if handshake_protocol && has(&ja4, i) {
                ("hidden", "no-sni")
            } else if handshake_protocol {
                let tcp = transport.get(i).cloned().flatten().as_deref() == Some("tcp");
                let syn = flags
                    .get(i)
                    .cloned()
                    .flatten()
                    .is_some_and(|f| f.contains('S'));
                if tcp && syn {
                    // The connection began in the capture and no ClientHello came.
                    ("address-only", "no-handshake")
                } else {
                    ("hidden", "before-capture")
                }
            } else {
                ("address-only", "no-name-in-protocol")
            }
        })
        .collect())
}

#[derive(Default, Clone, Copy)]
struct Sum {
    flows: i64,
    bytes: i64,
}

impl Sum {
    fn add(&mut self, (flows, bytes): (i64, i64)) {
        self.flows += flows;
        self.bytes += bytes;
    }
}

/// The name-visibility table and the `coverage` finding.
pub(super) fn names(o365: &DataFrame) -> PolarsResult<(Table, Option<Finding>)> {
    let seen = visibility(o365)?;
    let area = texts(o365, "service_area")?;
    let category = texts(o365, "category")?;
    let by = texts(o365, "matched_by")?;
    let bytes = ints(o365, BYTES)?;
    let counts = ints(o365, FLOW_COUNT)?;
    let mut areas: BTreeMap<String, Sum> = BTreeMap::new();
    let mut cells: BTreeMap<(String, usize, &'static str), Sum> = BTreeMap::new();
    let mut categories: BTreeMap<String, ByAddress> = BTreeMap::new();
    let mut by_ip = Vec::with_capacity(o365.height());
    for (i, (group, how)) in seen.iter().enumerate() {
        let a = area.get(i).cloned().flatten().unwrap_or_default();
        let b = (
            counts.get(i).copied().unwrap_or(0),
            bytes.get(i).copied().unwrap_or(0),
        );
        let g = GROUPS.iter().position(|x| x == group).unwrap_or(0);
        areas.entry(a.clone()).or_default().add(b);
        cells.entry((a, g, how)).or_default().add(b);
        let c = category.get(i).cloned().flatten().unwrap_or_default();
        let entry = categories.entry(c).or_default();
        entry.all.add(b);
        let ip = by.get(i).cloned().flatten().as_deref() == Some("ip");
        if ip {
            entry.ip.add(b);
            if let Some(sum) = entry.groups.get_mut(g) {
                sum.add(b);
            }
        }
        by_ip.push(ip);
    }
    let mut ordered: Vec<(&(String, usize, &str), &Sum)> = cells.iter().collect();
    ordered.sort_by(|a, b| {
        (&a.0 .0, a.0 .1)
            .cmp(&(&b.0 .0, b.0 .1))
            .then(b.1.bytes.cmp(&a.1.bytes))
            .then(a.0 .2.cmp(b.0 .2))
    });
    let rows = ordered
        .iter()
        .map(|((a, g, how), s)| {
            let all = areas.get(a).copied().unwrap_or_default();
            vec![
                a.clone(),
                GROUPS.get(*g).copied().unwrap_or_default().to_owned(),
                (*how).to_owned(),
                s.flows.to_string(),
                s.bytes.to_string(),
                human_share(s.flows, all.flows),
                human_share(s.bytes, all.bytes),
            ]
        })
        .collect();
    let table = Table {
        id: "names",
        title: "Office 365 traffic whose server name was read, hidden or not carried".to_owned(),
        columns: [
            "service area",
            "name",
            "how",
            "flows",
            "bytes",
            "share of flows in the area",
            "share of bytes in the area",
        ]
        .map(str::to_owned)
        .to_vec(),
        numeric: vec![false, false, false, true, true, true, true],
        rows,
    };
    Ok((table, coverage(o365, &categories, &by_ip)?))
}

/// More than 10% of the Optimize or the Allow bytes matched by the server address alone.
fn coverage(
    o365: &DataFrame,
    categories: &BTreeMap<String, ByAddress>,
    by_ip: &[bool],
) -> PolarsResult<Option<Finding>> {
    let over: Vec<(&String, &ByAddress)> = ["Optimize", "Allow"]
        .iter()
        .filter_map(|c| categories.get_key_value(*c))
        .filter(|(_, s)| {
            s.all.bytes > 0 && s.ip.bytes as f64 > ADDRESS_ONLY_LIMIT * s.all.bytes as f64
        })
        .collect();
    if over.is_empty() {
        return Ok(None);
    }
    let mut evidence: Vec<String> = over
        .iter()
        .map(|(c, s)| {
            let split: Vec<String> = GROUPS
                .iter()
                .zip(&s.groups)
                .filter(|(_, sum)| sum.flows > 0)
                .map(|(g, sum)| format!("{g} {} bytes", sum.bytes))
                .collect();
            format!(
                "{c}: {} of {} bytes ({}) and {} of {} flows matched by address alone (name {})",
                s.ip.bytes,
                s.all.bytes,
                human_share(s.ip.bytes, s.all.bytes),
                s.ip.flows,
                s.all.flows,
                split.join(", ")
            )
        })
        .collect();
    let category = texts(o365, "category")?;
    let keep = by_ip.iter().zip(&category).map(|(ip, c)| {
        *ip && over
            .iter()
            .any(|(name, _)| c.as_deref() == Some(name.as_str()))
    });
    let hit = filter(o365, keep)?;
    let t = tally(
        &hit,
        &["service_area", "category", "server_ip", PORT],
        "client_ip",
    )?;
    evidence.extend(lines(
        &t,
        ["service_area", "category", "server_ip", PORT],
        |v| format!("{} {} to {} {}", v[0], v[1], v[2], v[3]),
    )?);
    Ok(Some(finding(
        "coverage",
        Severity::Info,
        "Office 365 traffic classified by address alone",
        "More than 10% of the Optimize or Allow bytes were matched to their endpoint set by the server address alone (matched_by = ip): no name decided, because the name was hidden (Encrypted Client Hello, a ClientHello without SNI, a cut handshake, a connection already open when the capture began), never carried (media, VPN and other protocols without one, TCP connections that sent no ClientHello), or read but not in the catalog. Their endpoint set, category and port verdict were chosen from the address: Microsoft's prefixes are shared between endpoint sets with different categories and ports, and addresses change, so these verdicts are weaker than those from a name. The first lines split each category's bytes by what happened to the name (the Names table has the same groups per service area).",
        "Check these addresses against the endpoint sets they matched. Where names were hidden, capture whole connections from their start with a snaplen that keeps handshakes (0 or 65535) and check whether clients use ECH; where the protocol carries none (Teams media, VPN), the address is all there is: keep the rules for the set's prefixes current.",
        super::flow_count(&hit),
        evidence,
    )))
}
