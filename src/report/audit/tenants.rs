//! Office 365 tenants: which tenants (and recipients' mail domains) the flows reached (the
//! `tenant` column), with flows, bytes and clients, which one is the company's own (`--tenant`,
//! else presumed: the tenant with the most clients) and the finding for traffic to other
//! organisations' tenants. Mail domains (Exchange Online Protection MX names) are shown with
//! their kind and never judged foreign: they name the recipient of a mail, not a tenant the
//! data is stored in.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use serde::Serialize;

use super::findings::{finding, Finding, Severity};
use super::{ints, texts, Table, BYTES, FLOW_COUNT};
use crate::classify::tenant::{self, Kind};
use crate::report::meta::RunMeta;

pub(crate) const TENANT: &str = "tenant";

/// Rows of the tenants table; the rest are summed in one "... N more" row.
pub const MAX_TENANT_ROWS: usize = 50;
/// Names listed per tenant (table and evidence); the rest are counted.
pub const MAX_NAMES: usize = 10;
/// Clients listed per tenant in the finding's evidence.
const MAX_CLIENTS: usize = 10;

/// How the company's own tenants were decided.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OwnTenants {
    /// The company's own tenants (mail domains declared with --tenant included).
    pub tenants: Vec<String>,
    /// `declared` (`--tenant`), `presumed` (the tenant with the most clients), or `none` (no
    /// tenant in the flows).
    pub how: String,
    /// Tenants seen (not mail domains), most bytes first, at most `MAX_TENANT_ROWS`.
    pub seen: Vec<String>,
    /// Tenants seen beyond `seen`.
    pub seen_more: usize,
    /// Tenants seen that are not the company's own (all of them, not only those in `seen`).
    pub others: usize,
    /// Recipients' mail domains seen (Exchange Online Protection MX names).
    pub mail_domains: usize,
}

/// The flow frame with a `tenant` column: flow files before schema 5 have none (and rows of
/// such files stacked with newer ones have it null), so it is read from the names the flow
/// carried as the row maker does (`classify::tenant::of_flow`). A row that carried no name has
/// no tenant, whatever its column says (version 5 files written before the tenant stopped
/// falling back to the DNS name).
pub(super) fn with_tenant(df: &mut DataFrame) -> PolarsResult<()> {
    let present = if df.get_column_index(TENANT).is_some() {
        texts(df, TENANT)?
    } else {
        vec![None; df.height()]
    };
    let names = flow_names(df)?;
    let tenants: Vec<Option<String>> = present
        .into_iter()
        .zip(&names)
        .map(|(t, n)| {
            let n = n.as_deref()?;
            t.or_else(|| tenant::tenant_of(n))
        })
        .collect();
    df.with_column(Column::new(TENANT.into(), tenants))?;
    Ok(())
}

/// The name each row carried (`classify::tenant::flow_name`: SNI, HTTP host, proxy target
/// host; lower case, no port), the one its tenant comes from.
fn flow_names(df: &DataFrame) -> PolarsResult<Vec<Option<String>>> {
    let sni = texts(df, "sni")?;
    let host = texts(df, "http_host")?;
    let target = texts(df, "proxy_target")?;
    Ok((0..df.height())
        .map(|i| tenant::flow_name(at(&sni, i), at(&host, i), at(&target, i)))
        .collect())
}

fn at(column: &[Option<String>], i: usize) -> Option<&str> {
    column.get(i).and_then(|v| v.as_deref())
}

#[derive(Default)]
struct PerTenant {
    flows: i64,
    bytes: i64,
    names: BTreeSet<String>,
    clients: BTreeSet<String>,
}

/// `a b c` of the first `MAX_NAMES` names, then `(+N more)`.
fn listed<'a>(items: impl ExactSizeIterator<Item = &'a String>, max: usize) -> String {
    let n = items.len();
    let shown: Vec<&str> = items.take(max).map(String::as_str).collect();
    let more = n.saturating_sub(shown.len());
    if more > 0 {
        format!("{} (+{more} more)", shown.join(" "))
    } else {
        shown.join(" ")
    }
}

/// The tenants table, who is the company's own, and the finding for other tenants.
pub(super) fn tenants(
    o365: &DataFrame,
    meta: &RunMeta,
) -> PolarsResult<(Table, OwnTenants, Option<Finding>)> {
    let tenant = texts(o365, TENANT)?;
    let names = flow_names(o365)?;
    let clients = texts(o365, "client_ip")?;
    let bytes = ints(o365, BYTES)?;
    let counts = ints(o365, FLOW_COUNT)?;
    let mut per: BTreeMap<(String, Kind), PerTenant> = BTreeMap::new();
    for (i, t) in tenant.iter().enumerate() {
        let Some(t) = t else { continue };
        let name = names.get(i).cloned().flatten();
        // A mail domain only comes from an MX name; anything else is a tenant.
        let kind = match name.as_deref().and_then(tenant::read) {
            Some((_, Kind::MailDomain)) => Kind::MailDomain,
            _ => Kind::Tenant,
        };
        let entry = per.entry((t.clone(), kind)).or_default();
        entry.flows += counts.get(i).copied().unwrap_or(0);
        entry.bytes += bytes.get(i).copied().unwrap_or(0);
        entry.names.extend(name);
        entry.clients.extend(clients.get(i).cloned().flatten());
    }
    // Most bytes first, then by name.
    let mut order: Vec<(&(String, Kind), &PerTenant)> = per.iter().collect();
    order.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
    let (own, how) = if !meta.tenants.is_empty() {
        (meta.tenants.clone(), "declared")
    } else if let Some(((name, _), _)) = per
        .iter()
        .filter(|((_, kind), _)| *kind == Kind::Tenant)
        .max_by(|a, b| {
            // Most clients, then most bytes, then the first name in order.
            a.1.clients
                .len()
                .cmp(&b.1.clients.len())
                .then(a.1.bytes.cmp(&b.1.bytes))
                .then(b.0.cmp(a.0))
        })
    {
        (vec![name.clone()], "presumed")
    } else {
        (Vec::new(), "none")
    };
    // A set: a flow file's metadata may declare any number of tenants.
    let own_set: std::collections::HashSet<&str> = own.iter().map(String::as_str).collect();
    let is_own = |t: &str| own_set.contains(t);
    let seen_all: Vec<&String> = order
        .iter()
        .filter(|((_, k), _)| *k == Kind::Tenant)
        .map(|((t, _), _)| t)
        .collect();
    let own_tenants = OwnTenants {
        tenants: own.clone(),
        how: how.to_owned(),
        seen: seen_all
            .iter()
            .take(MAX_TENANT_ROWS)
            .map(|t| (*t).clone())
            .collect(),
        seen_more: seen_all.len().saturating_sub(MAX_TENANT_ROWS),
        others: seen_all.iter().filter(|t| !is_own(t)).count(),
        mail_domains: order.len() - seen_all.len(),
    };
    let mut rows: Vec<Vec<String>> = order
        .iter()
        .take(MAX_TENANT_ROWS)
        .map(|((t, kind), p)| {
            let own = if is_own(t) {
                how
            } else if *kind == Kind::MailDomain {
                "-"
            } else {
                "no"
            };
            vec![
                t.clone(),
                kind.as_str().to_owned(),
                own.to_owned(),
                listed(p.names.iter(), MAX_NAMES),
                p.flows.to_string(),
                p.bytes.to_string(),
                p.clients.len().to_string(),
            ]
        })
        .collect();
    let rest = order.get(MAX_TENANT_ROWS..).unwrap_or_default();
    if !rest.is_empty() {
        rows.push(vec![
            format!("... {} more", rest.len()),
            String::new(),
            String::new(),
            String::new(),
            rest.iter().map(|(_, p)| p.flows).sum::<i64>().to_string(),
            rest.iter().map(|(_, p)| p.bytes).sum::<i64>().to_string(),
            String::new(),
        ]);
    }
    let table = Table {
        id: "tenants",
        title: "Office 365 tenants and mail domains reached".to_owned(),
        columns: [
            "tenant", "kind", "own", "names", "flows", "bytes", "clients",
        ]
        .map(str::to_owned)
        .to_vec(),
        numeric: vec![false, false, false, false, true, true, true],
        rows,
    };
    let foreign: Vec<&(&(String, Kind), &PerTenant)> = order
        .iter()
        .filter(|((t, kind), _)| *kind == Kind::Tenant && !is_own(t))
        .collect();
    if foreign.is_empty() {
        return Ok((table, own_tenants, None));
    }
    let evidence = foreign
        .iter()
        .map(|((t, _), p)| {
            format!(
                "tenant {t}: names {}; clients {}: {} flows, {} bytes",
                listed(p.names.iter(), MAX_NAMES),
                listed(p.clients.iter(), MAX_CLIENTS),
                p.flows,
                p.bytes
            )
        })
        .collect();
    let whose = match how {
        "declared" => format!(
            "The company's own tenants were declared with --tenant: {}.",
            own.join(", ")
        ),
        _ => format!(
            "No --tenant was given: {} (the tenant with the most clients) is presumed the company's own.",
            own.join(", ")
        ),
    };
    let flows = foreign.iter().map(|(_, p)| p.flows).sum();
    Ok((
        table,
        own_tenants,
        Some(finding(
            "foreign-tenants",
            Severity::Warning,
            "Office 365 traffic to other organisations' tenants",
            &format!(
                "These flows reached SharePoint, OneDrive or the directory of tenants other than the company's own: data may leave to a foreign tenant (a personal or another company's account) over the same names and addresses the firewall allows for Microsoft 365. Mail to other companies' Exchange Online MX names (mail domains in the tenants table) is not counted: it names the recipient, not a tenant the data is stored in. {whose}"
            ),
            "Confirm which tenants are the company's (declare them with --tenant). To allow only those, use Microsoft's Tenant Restrictions (v2): the proxy or the devices add the tenant restriction header and sign-ins to other tenants are refused.",
            flows,
            evidence,
        )),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// 55 tenants (t00 with 12 names, 2 flows of 100 bytes each; the others one flow, fewer
    /// bytes) and one mail domain: the table keeps 50 rows and sums the rest, a tenant lists 10
    /// names, `seen` keeps 50 tenants and counts the rest.
    #[test]
    fn tables_keyed_by_tenant_are_bounded() {
        let mut sni = Vec::new();
        let mut bytes = Vec::new();
        let mut clients = Vec::new();
        for n in 0..12 {
            sni.push(format!("s{n:02}.t00.sharepoint.com"));
            bytes.push(100i64);
            clients.push("10.0.0.1".to_owned());
        }
        for t in 1..55 {
            sni.push(format!("t{t:02}.sharepoint.com"));
            bytes.push(90 - t);
            clients.push(format!("10.0.1.{t}"));
        }
        sni.push("contoso-com.mail.protection.outlook.com".to_owned());
        bytes.push(1);
        clients.push("10.0.0.1".to_owned());
        let rows = sni.len();
        let none: Vec<Option<String>> = vec![None; rows];
        let mut df = DataFrame::new_infer_height(vec![
            Column::new("sni".into(), sni),
            Column::new("http_host".into(), none.clone()),
            Column::new("proxy_target".into(), none),
            Column::new("client_ip".into(), clients),
            Column::new(BYTES.into(), bytes),
            Column::new(super::super::FLOW_COUNT.into(), vec![1i64; rows]),
        ])
        .unwrap();
        with_tenant(&mut df).unwrap();
        let (table, own, finding) = tenants(&df, &RunMeta::default()).unwrap();
        assert_eq!(table.rows.len(), MAX_TENANT_ROWS + 1);
        assert_eq!(
            table.rows[0],
            [
                "t00",
                "tenant",
                "presumed",
                "s00.t00.sharepoint.com s01.t00.sharepoint.com s02.t00.sharepoint.com s03.t00.sharepoint.com s04.t00.sharepoint.com s05.t00.sharepoint.com s06.t00.sharepoint.com s07.t00.sharepoint.com s08.t00.sharepoint.com s09.t00.sharepoint.com (+2 more)",
                "12",
                "1200",
                "1"
            ]
        );
        // Rows 51-56: t50..t54 (40..36 bytes) and the mail domain (1 byte).
        assert_eq!(
            table.rows[MAX_TENANT_ROWS],
            ["... 6 more", "", "", "", "6", "191", ""]
        );
        assert_eq!(own.seen.len(), MAX_TENANT_ROWS);
        assert_eq!(own.seen_more, 5);
        assert_eq!((own.others, own.mail_domains), (54, 1));
        let f = finding.unwrap();
        assert_eq!((f.flows, f.evidence.len(), f.more), (54, 50, 4));
    }
}
