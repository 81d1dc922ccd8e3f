//! Office 365 tenants: which tenants the flows reached (the `tenant` column), with flows, bytes
//! and clients, which one is the company's own (`--tenant`, else presumed: the tenant with the
//! most clients) and the finding for traffic to other organisations' tenants.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use serde::Serialize;

use super::findings::{finding, Finding, Severity};
use super::{ints, texts, Table, BYTES};
use crate::classify::tenant;
use crate::report::meta::RunMeta;

pub(crate) const TENANT: &str = "tenant";

/// How the company's own tenants were decided.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OwnTenants {
    /// The company's own tenants.
    pub tenants: Vec<String>,
    /// `declared` (`--tenant`), `presumed` (the tenant with the most clients), or `none` (no
    /// tenant in the flows).
    pub how: String,
    /// Every tenant seen, most bytes first.
    pub seen: Vec<String>,
}

/// The flow frame with a `tenant` column: flow files before schema 5 have none, so it is read
/// from the names as the row maker does (`classify::tenant::of_flow`).
pub(super) fn with_tenant(df: &mut DataFrame) -> PolarsResult<()> {
    if df.get_column_index(TENANT).is_some() {
        return Ok(());
    }
    let sni = texts(df, "sni")?;
    let host = texts(df, "http_host")?;
    let target = texts(df, "proxy_target")?;
    let dns = texts(df, "dns_name")?;
    let tenants: Vec<Option<String>> = (0..df.height())
        .map(|i| tenant::of_flow(at(&sni, i), at(&host, i), at(&target, i), at(&dns, i)))
        .collect();
    df.with_column(Column::new(TENANT.into(), tenants))?;
    Ok(())
}

fn at(column: &[Option<String>], i: usize) -> Option<&str> {
    column.get(i).and_then(|v| v.as_deref())
}

/// The name each row's tenant came from, lower case (the first present of SNI, HTTP host,
/// proxy target host, DNS name; ports dropped).
fn names(df: &DataFrame) -> PolarsResult<Vec<String>> {
    let sni = texts(df, "sni")?;
    let host = texts(df, "http_host")?;
    let target = texts(df, "proxy_target")?;
    let dns = texts(df, "dns_name")?;
    Ok((0..df.height())
        .map(|i| {
            let at = |c: &[Option<String>]| c.get(i).cloned().flatten();
            let name = at(&sni)
                .or_else(|| at(&host).map(|h| tenant::without_port(&h).to_owned()))
                .or_else(|| at(&target).map(|t| tenant::without_port(&t).to_owned()))
                .or_else(|| at(&dns))
                .unwrap_or_default();
            name.to_ascii_lowercase()
        })
        .collect())
}

#[derive(Default)]
struct PerTenant {
    flows: i64,
    bytes: i64,
    names: BTreeSet<String>,
    clients: BTreeSet<String>,
}

/// The tenants table, who is the company's own, and the finding for other tenants.
pub(super) fn tenants(
    o365: &DataFrame,
    meta: &RunMeta,
) -> PolarsResult<(Table, OwnTenants, Option<Finding>)> {
    let tenant = texts(o365, TENANT)?;
    let names = names(o365)?;
    let clients = texts(o365, "client_ip")?;
    let bytes = ints(o365, BYTES)?;
    let mut per: BTreeMap<String, PerTenant> = BTreeMap::new();
    for (i, t) in tenant.iter().enumerate() {
        let Some(t) = t else { continue };
        let entry = per.entry(t.clone()).or_default();
        entry.flows += 1;
        entry.bytes += bytes.get(i).copied().unwrap_or(0);
        entry.names.extend(names.get(i).cloned());
        entry.clients.extend(clients.get(i).cloned().flatten());
    }
    // Most bytes first, then by name.
    let mut order: Vec<(&String, &PerTenant)> = per.iter().collect();
    order.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
    let own = if !meta.tenants.is_empty() {
        OwnTenants {
            tenants: meta.tenants.clone(),
            how: "declared".to_owned(),
            seen: Vec::new(),
        }
    } else if let Some((name, _)) = per.iter().max_by(|a, b| {
        // Most clients, then most bytes, then the first name in order.
        a.1.clients
            .len()
            .cmp(&b.1.clients.len())
            .then(a.1.bytes.cmp(&b.1.bytes))
            .then(b.0.cmp(a.0))
    }) {
        OwnTenants {
            tenants: vec![name.clone()],
            how: "presumed".to_owned(),
            seen: Vec::new(),
        }
    } else {
        OwnTenants {
            how: "none".to_owned(),
            ..OwnTenants::default()
        }
    };
    let own = OwnTenants {
        seen: order.iter().map(|(t, _)| (*t).clone()).collect(),
        ..own
    };
    let is_own = |t: &str| own.tenants.iter().any(|o| o == t);
    let rows = order
        .iter()
        .map(|(t, p)| {
            vec![
                (*t).clone(),
                if is_own(t) { own.how.as_str() } else { "no" }.to_owned(),
                p.names.iter().cloned().collect::<Vec<_>>().join(" "),
                p.flows.to_string(),
                p.bytes.to_string(),
                p.clients.len().to_string(),
            ]
        })
        .collect();
    let table = Table {
        id: "tenants",
        title: "Office 365 tenants reached".to_owned(),
        columns: ["tenant", "own", "names", "flows", "bytes", "clients"]
            .map(str::to_owned)
            .to_vec(),
        numeric: vec![false, false, false, true, true, true],
        rows,
    };
    let foreign: Vec<&(&String, &PerTenant)> = order.iter().filter(|(t, _)| !is_own(t)).collect();
    if foreign.is_empty() {
        return Ok((table, own, None));
    }
    let evidence = foreign
        .iter()
        .map(|(t, p)| {
            let clients: Vec<&String> = p.clients.iter().collect();
            let shown: Vec<&str> = clients.iter().take(10).map(|c| c.as_str()).collect();
            let more = clients.len().saturating_sub(shown.len());
            format!(
                "tenant {t}: names {}; clients {}{}: {} flows, {} bytes",
                p.names.iter().cloned().collect::<Vec<_>>().join(" "),
                shown.join(" "),
                if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                },
                p.flows,
                p.bytes
            )
        })
        .collect();
    let whose = match own.how.as_str() {
        "declared" => format!(
            "The company's own tenants were declared with --tenant: {}.",
            own.tenants.join(", ")
        ),
        _ => format!(
            "No --tenant was given: {} (the tenant with the most clients) is presumed the company's own.",
            own.tenants.join(", ")
        ),
    };
    let flows = foreign.iter().map(|(_, p)| p.flows).sum();
    Ok((
        table,
        own,
        Some(finding(
            "foreign-tenants",
            Severity::Warning,
            "Office 365 traffic to other organisations' tenants",
            &format!(
                "These flows reached SharePoint, OneDrive, Exchange or the directory of tenants other than the company's own: data may leave to a foreign tenant (a personal or another company's account) over the same names and addresses the firewall allows for Microsoft 365. {whose}"
            ),
            "Confirm which tenants are the company's (declare them with --tenant). To allow only those, use Microsoft's Tenant Restrictions (v2): the proxy or the devices add the tenant restriction header and sign-ins to other tenants are refused.",
            flows,
            evidence,
        )),
    ))
}
