//! What changed between two versions of Microsoft's endpoint data, endpoint set by endpoint set
//! (ids are stable across versions): sets added, removed and changed, and within a change the
//! URLs and IPs added or removed and every scalar field that moved.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::raw::RawEndpointSet;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CatalogDiff {
    pub added: Vec<i64>,
    pub removed: Vec<i64>,
    pub changed: Vec<SetChange>,
}

/// One field's old and new value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SetChange {
    pub id: i64,
    pub urls_added: Vec<String>,
    pub urls_removed: Vec<String>,
    pub ips_added: Vec<String>,
    pub ips_removed: Vec<String>,
    /// Ports, category, required, expressRoute, notes, service area and its display name.
    pub fields: Vec<FieldChange>,
}

/// Ports as a sorted set of trimmed tokens: "443,80" and "80, 443" are the same list.
fn ports(text: &Option<String>) -> String {
    let set: BTreeSet<&str> = text
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

fn set_delta(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let norm = |v: &[String]| -> BTreeSet<String> {
        v.iter().map(|s| s.trim().to_ascii_lowercase()).collect()
    };
    let (o, n) = (norm(old), norm(new));
    (
        n.difference(&o).cloned().collect(),
        o.difference(&n).cloned().collect(),
    )
}

pub fn diff(old: &[RawEndpointSet], new: &[RawEndpointSet]) -> CatalogDiff {
    let old: BTreeMap<i64, &RawEndpointSet> = old.iter().map(|s| (s.id, s)).collect();
    let new: BTreeMap<i64, &RawEndpointSet> = new.iter().map(|s| (s.id, s)).collect();
    let mut out = CatalogDiff {
        added: new
            .keys()
            .filter(|id| !old.contains_key(id))
            .copied()
            .collect(),
        removed: old
            .keys()
            .filter(|id| !new.contains_key(id))
            .copied()
            .collect(),
        changed: Vec::new(),
    };
    for (id, n) in &new {
        let Some(o) = old.get(id) else { continue };
        let (urls_added, urls_removed) = set_delta(&o.urls, &n.urls);
        let (ips_added, ips_removed) = set_delta(&o.ips, &n.ips);
        let scalars: [(&'static str, String, String); 8] = [
            ("tcpPorts", ports(&o.tcp_ports), ports(&n.tcp_ports)),
            ("udpPorts", ports(&o.udp_ports), ports(&n.udp_ports)),
            ("category", opt(&o.category), opt(&n.category)),
            ("required", opt(&o.required), opt(&n.required)),
            ("expressRoute", opt(&o.express_route), opt(&n.express_route)),
            ("notes", opt(&o.notes), opt(&n.notes)),
            ("serviceArea", opt(&o.service_area), opt(&n.service_area)),
            (
                "serviceAreaDisplayName",
                opt(&o.service_area_display_name),
                opt(&n.service_area_display_name),
            ),
        ];
        let fields: Vec<FieldChange> = scalars
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(field, old, new)| FieldChange { field, old, new })
            .collect();
        let change = SetChange {
            id: *id,
            urls_added,
            urls_removed,
            ips_added,
            ips_removed,
            fields,
        };
        let unchanged = change.urls_added.is_empty()
            && change.urls_removed.is_empty()
            && change.ips_added.is_empty()
            && change.ips_removed.is_empty()
            && change.fields.is_empty();
        if !unchanged {
            out.changed.push(change);
        }
    }
    out
}

impl CatalogDiff {
    /// A plain-text rendering for the terminal.
    pub fn to_text(&self) -> String {
        let ids = |v: &[i64]| {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = format!(
            "endpoint sets: {} added, {} removed, {} changed\n",
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        );
        if !self.added.is_empty() {
            out.push_str(&format!("added: {}\n", ids(&self.added)));
        }
        if !self.removed.is_empty() {
            out.push_str(&format!("removed: {}\n", ids(&self.removed)));
        }
        for c in &self.changed {
            out.push_str(&format!("changed {}:\n", c.id));
            for (label, list) in [
                ("+url", &c.urls_added),
                ("-url", &c.urls_removed),
                ("+ip ", &c.ips_added),
                ("-ip ", &c.ips_removed),
            ] {
                for item in list {
                    out.push_str(&format!("  {label} {item}\n"));
                }
            }
            for f in &c.fields {
                out.push_str(&format!("  {}: {:?} -> {:?}\n", f.field, f.old, f.new));
            }
        }
        out
    }
}
