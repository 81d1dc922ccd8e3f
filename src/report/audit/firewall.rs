//! Firewall rules the observed traffic needs: per endpoint set seen in the flows, the catalog's
//! destinations (names, IPv4 and IPv6 prefixes), ports and category, with what was observed.
//! Also plain lists a firewall imports as external dynamic lists, and a PAC file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use polars::prelude::*;
use serde::Serialize;

use super::{catalog_set, ints, table_of, tally, texts, Table, BYTES, PORT};
use crate::catalog::{Catalog, EndpointSet};

/// An endpoint set the flows reached, with the catalog's destinations for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedSet {
    pub endpoint_id: u32,
    pub service_area: String,
    pub category: String,
    pub required: bool,
    pub names: Vec<String>,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    pub tcp_ports: String,
    pub udp_ports: String,
    pub observed_ports: Vec<String>,
    pub flows: i64,
    pub bytes: i64,
}

pub fn ports_text(set: &EndpointSet) -> String {
    let mut parts = Vec::new();
    if !set.tcp_ports.is_empty() {
        parts.push(format!("tcp {}", set.tcp_ports));
    }
    if !set.udp_ports.is_empty() {
        parts.push(format!("udp {}", set.udp_ports));
    }
    parts.join("; ")
}

/// A few of a set's destinations, for tables.
pub fn destinations_preview(set: &EndpointSet) -> String {
    let all: Vec<String> = set
        .urls
        .iter()
        .cloned()
        .chain(set.ips.iter().map(|n| n.to_string()))
        .collect();
    let shown = all.iter().take(4).cloned().collect::<Vec<_>>().join(" ");
    if all.len() > 4 {
        format!("{shown} (+{} more)", all.len() - 4)
    } else {
        shown
    }
}

pub fn rules(o365: &DataFrame, catalog: &Catalog) -> PolarsResult<(Table, Vec<ObservedSet>)> {
    let per_set = tally(o365, &["endpoint_id"], "client_ip")?;
    let per_port = o365
        .clone()
        .lazy()
        .group_by_stable([col("endpoint_id"), col(PORT)])
        .agg([len().alias("flows")])
        .collect()?;
    let mut observed_ports: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for (id, port) in ints(&per_port, "endpoint_id")?
        .into_iter()
        .zip(texts(&per_port, PORT)?)
    {
        observed_ports.entry(id).or_default().extend(port);
    }
    let ids = ints(&per_set, "endpoint_id")?;
    let flows = ints(&per_set, "flows")?;
    let bytes = ints(&per_set, BYTES)?;
    let mut sets: Vec<ObservedSet> = Vec::new();
    for ((id, flows), bytes) in ids.iter().zip(&flows).zip(&bytes) {
        // User entries (--catalog-extra) are the admin's own servers: no rule from Microsoft.
        let Some(set) = catalog_set(catalog, *id) else {
            continue;
        };
        sets.push(ObservedSet {
            endpoint_id: set.id.0,
            service_area: set.service_area.as_str().to_owned(),
            category: set.category.as_str().to_owned(),
            required: set.required,
            names: set.urls.clone(),
            ipv4: set
                .ips
                .iter()
                .filter(|n| matches!(n, ipnet::IpNet::V4(_)))
                .map(|n| n.to_string())
                .collect(),
            ipv6: set
                .ips
                .iter()
                .filter(|n| matches!(n, ipnet::IpNet::V6(_)))
                .map(|n| n.to_string())
                .collect(),
            tcp_ports: set.tcp_ports.to_string(),
            udp_ports: set.udp_ports.to_string(),
            observed_ports: observed_ports
                .get(id)
                .map(|p| p.iter().cloned().collect())
                .unwrap_or_default(),
            flows: *flows,
            bytes: *bytes,
        });
    }
    sets.sort_by_key(|s| s.endpoint_id);
    let column = |name: &str, f: &dyn Fn(&ObservedSet) -> String| {
        Column::new(name.into(), sets.iter().map(f).collect::<Vec<String>>())
    };
    let df = DataFrame::new_infer_height(vec![
        Column::new(
            "endpoint_id".into(),
            sets.iter()
                .map(|s| i64::from(s.endpoint_id))
                .collect::<Vec<_>>(),
        ),
        column("service_area", &|s| s.service_area.clone()),
        column("category", &|s| s.category.clone()),
        Column::new(
            "required".into(),
            sets.iter().map(|s| s.required).collect::<Vec<_>>(),
        ),
        column("tcp_ports", &|s| s.tcp_ports.clone()),
        column("udp_ports", &|s| s.udp_ports.clone()),
        column("names", &|s| s.names.join(" ")),
        column("ipv4_prefixes", &|s| s.ipv4.join(" ")),
        column("ipv6_prefixes", &|s| s.ipv6.join(" ")),
        column("observed_ports", &|s| s.observed_ports.join(" ")),
        Column::new(
            "flows".into(),
            sets.iter().map(|s| s.flows).collect::<Vec<_>>(),
        ),
        Column::new(
            "bytes".into(),
            sets.iter().map(|s| s.bytes).collect::<Vec<_>>(),
        ),
    ])?;
    let table = table_of(
        "firewall",
        "Firewall rules the observed traffic needs",
        &df,
        &[
            "endpoint set",
            "service area",
            "category",
            "required",
            "tcp ports",
            "udp ports",
            "names",
            "IPv4 prefixes",
            "IPv6 prefixes",
            "observed",
            "flows",
            "bytes",
        ],
    )?;
    Ok((table, sets))
}

/// Plain lists, one entry per line, per category and kind: `optimize-names.txt`,
/// `optimize-ipv4.txt`, `optimize-ipv6.txt`, then allow-, default-. Wildcards stay as Microsoft
/// writes them (`*.teams.microsoft.com`), which firewalls' domain lists accept.
pub fn lists(sets: &[ObservedSet]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for category in ["Optimize", "Allow", "Default"] {
        let of = |pick: &dyn Fn(&ObservedSet) -> &Vec<String>| {
            let all: BTreeSet<&String> = sets
                .iter()
                .filter(|s| s.category == category)
                .flat_map(|s| pick(s).iter())
                .collect();
            all.into_iter().fold(String::new(), |mut acc, line| {
                acc.push_str(line);
                acc.push('\n');
                acc
            })
        };
        let lower = category.to_ascii_lowercase();
        out.push((format!("{lower}-names.txt"), of(&|s| &s.names)));
        out.push((format!("{lower}-ipv4.txt"), of(&|s| &s.ipv4)));
        out.push((format!("{lower}-ipv6.txt"), of(&|s| &s.ipv6)));
    }
    out
}

/// A PAC file sending the observed Optimize and Allow names direct and everything else to the
/// proxy (edit the PROXY line for your network).
pub fn pac(sets: &[ObservedSet]) -> String {
    let names: BTreeSet<&String> = sets
        .iter()
        .filter(|s| s.category == "Optimize" || s.category == "Allow")
        .flat_map(|s| s.names.iter())
        .collect();
    let mut out = String::from(
        "// Generated by o365flow from observed Office 365 traffic: Optimize and Allow endpoints\n\
         // go direct (Microsoft recommends bypassing proxies for them), the rest to the proxy.\n\
         var proxy = \"PROXY proxy.example.com:8080\"; // edit for your network\n\
         var direct = [\n",
    );
    for name in &names {
        // Names come from the catalog, not the wire; still, keep the JS string literal plain.
        let clean: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'))
            .collect();
        let _ = writeln!(out, "  \"{clean}\",");
    }
    out.push_str(
        "];\n\
         function FindProxyForURL(url, host) {\n\
         \x20 host = host.toLowerCase();\n\
         \x20 for (var i = 0; i < direct.length; i++) {\n\
         \x20   if (shExpMatch(host, direct[i])) return \"DIRECT\";\n\
         \x20 }\n\
         \x20 return proxy;\n\
         }\n",
    );
    out
}
