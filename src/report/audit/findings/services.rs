//! Findings about the services themselves: TLS inspection, required endpoints blocked,
//! Microsoft names no set lists, published services, legacy protocols, (address-only matches: `visibility`).

use polars::prelude::*;

use super::super::{bools, catalog_set, filter, ints, tally, texts, PORT};
use super::{count_flows, finding, lines, with_name, Finding, Severity, MICROSOFT_ISSUERS};
use crate::catalog::Catalog;

/// Does the issuer belong to a CA Microsoft uses for its services?
pub fn microsoft_issuer(issuer: &str) -> bool {
    let issuer = issuer.to_ascii_lowercase();
    MICROSOFT_ISSUERS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|known| issuer.contains(&known.to_ascii_lowercase()))
}

pub(super) fn tls_inspection(df: &DataFrame) -> PolarsResult<Option<Finding>> {
    let o365 = bools(df, super::super::O365)?;
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

pub(super) fn blocked_required(
    o365: &DataFrame,
    catalog: &Catalog,
) -> PolarsResult<Option<Finding>> {
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

pub(super) fn unlisted_microsoft(df: &DataFrame) -> PolarsResult<Option<Finding>> {
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

pub(super) fn published_services(df: &DataFrame) -> PolarsResult<Option<Finding>> {
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

pub(super) fn legacy(df: &DataFrame) -> PolarsResult<Option<Finding>> {
    let app = texts(df, "app_protocol")?;
    let port = ints(df, "server_port")?;
    let client = texts(df, "client_app")?;
    let tls = texts(df, "tls_version")?;
    let o365 = bools(df, super::super::O365)?;
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
