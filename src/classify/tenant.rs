//! The Office 365 tenant a server name carries. Microsoft names some endpoints after the
//! customer's tenant (its initial `<tenant>.onmicrosoft.com` domain) or after the customer's mail
//! domain; the catalog lists them as `*` patterns (`*.sharepoint.com`, `*.onmicrosoft.com`,
//! `autodiscover.*.onmicrosoft.com`, `*.mail.protection.outlook.com`, `*.mx.microsoft`). Reading
//! the tenant tells the company's own traffic from traffic to other organisations' tenants.
//! Pure text; no I/O.

/// Suffixes of SharePoint and OneDrive site names after the tenant: `contoso-my` is contoso's
/// OneDrive, `contoso-admin` its SharePoint admin centre, `contoso-myfiles`/`contoso-files`
/// hosts of its files.
const SHAREPOINT_SUFFIXES: [&str; 4] = ["-my", "-admin", "-myfiles", "-files"];

/// Labels under `sharepoint.com` that are Microsoft's own services, not tenants.
const SHAREPOINT_SERVICES: [&str; 2] = ["www", "static"];

/// The tenant a server name carries, lower case, or None:
/// - `<tenant>.sharepoint.com`, `<tenant>-my.sharepoint.com`, `<tenant>-admin.sharepoint.com`
///   (and `-myfiles`, `-files`), also with labels in front (`x.contoso.sharepoint.com`);
/// - `<tenant>.onmicrosoft.com`, `<tenant>.mail.onmicrosoft.com`,
///   `autodiscover.<tenant>.onmicrosoft.com`;
/// - `<mail-domain-with-dashes>.mail.protection.outlook.com` (`contoso-com` for contoso.com)
///   and the same first label of `*.mx.microsoft` (Microsoft's newer MX host names): the
///   tenant's mail domain as Microsoft writes it.
pub fn tenant_of(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let n = labels.len();
    let ends = |suffix: &[&str]| n > suffix.len() && labels.ends_with(suffix);
    let label = |from_end: usize| {
        n.checked_sub(from_end + 1)
            .and_then(|i| labels.get(i))
            .copied()
    };
    let tenant = if ends(&["sharepoint", "com"]) {
        let site = label(2)?;
        if SHAREPOINT_SERVICES.contains(&site) {
            return None;
        }
        SHAREPOINT_SUFFIXES
            .iter()
            .find_map(|s| site.strip_suffix(s).filter(|t| !t.is_empty()))
            .unwrap_or(site)
    } else if ends(&["mail", "onmicrosoft", "com"]) {
        label(3)?
    } else if ends(&["onmicrosoft", "com"]) {
        label(2)?
    } else if ends(&["mail", "protection", "outlook", "com"]) {
        label(4)?
    } else if ends(&["mx", "microsoft"]) && n >= 4 {
        // `contoso-com.<code>.mx.microsoft`: the first label is the domain.
        labels.first().copied()?
    } else {
        return None;
    };
    valid(tenant).then(|| tenant.to_owned())
}

/// The tenant of a flow: from the name the client sent (TLS SNI, in QUIC too), else the HTTP
/// Host, else the host of the proxy target (`host:port`), else the name a DNS answer gave the
/// server address. The first name present decides, as for the service match.
pub fn of_flow(
    sni: Option<&str>,
    http_host: Option<&str>,
    proxy_target: Option<&str>,
    dns_name: Option<&str>,
) -> Option<String> {
    // `host:port`: a Host header may carry a port, a proxy target always does.
    sni.or(http_host.map(without_port))
        .or(proxy_target.map(without_port))
        .or(dns_name)
        .and_then(tenant_of)
}

/// `host` of `host:port` (`[v6]:port` too); text without a numeric port stays as it is.
pub fn without_port(text: &str) -> &str {
    super::split_host_port(text).0
}

/// A tenant as Microsoft allows it: letters, digits and dashes, 1 to 63 characters (a DNS
/// label). Anything else from the wire is not taken for a tenant.
fn valid(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 63
        && !tenant.starts_with('-')
        && !tenant.ends_with('-')
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `--tenant NAME`: a tenant (`contoso`) or a name carrying it (`contoso.onmicrosoft.com`,
/// `contoso.sharepoint.com`), as the tenant, lower case.
pub fn parse_tenant(arg: &str) -> Result<String, String> {
    let lower = arg.trim().to_ascii_lowercase();
    let tenant = tenant_of(&lower).unwrap_or(lower);
    if valid(&tenant) {
        Ok(tenant)
    } else {
        Err(format!(
            "tenant {arg:?}: give the tenant (letters, digits, '-'), e.g. contoso, or contoso.onmicrosoft.com"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_tenant() {
        for (name, tenant) in [
            ("contoso.sharepoint.com", Some("contoso")),
            ("Contoso-my.SharePoint.com.", Some("contoso")),
            ("contoso-admin.sharepoint.com", Some("contoso")),
            ("contoso-myfiles.sharepoint.com", Some("contoso")),
            ("x.fabrikam.sharepoint.com", Some("fabrikam")),
            ("contoso.onmicrosoft.com", Some("contoso")),
            ("autodiscover.contoso.onmicrosoft.com", Some("contoso")),
            ("contoso.mail.onmicrosoft.com", Some("contoso")),
            (
                "contoso-com.mail.protection.outlook.com",
                Some("contoso-com"),
            ),
            ("contoso-com.a-v1.mx.microsoft", Some("contoso-com")),
            ("sharepoint.com", None),
            ("www.sharepoint.com", None),
            ("-my.sharepoint.com", None),
            ("onmicrosoft.com", None),
            ("mail.protection.outlook.com", None),
            ("outlook.office365.com", None),
            ("notsharepoint.com", None),
            ("a<b.sharepoint.com", None),
            ("teams.microsoft.com", None),
        ] {
            assert_eq!(tenant_of(name).as_deref(), tenant, "{name}");
        }
    }

    #[test]
    fn a_flow_takes_the_first_name_present() {
        assert_eq!(
            of_flow(
                Some("contoso.sharepoint.com"),
                None,
                None,
                Some("x.onmicrosoft.com")
            ),
            Some("contoso".to_owned())
        );
        assert_eq!(
            of_flow(None, Some("fabrikam-my.sharepoint.com:443"), None, None),
            Some("fabrikam".to_owned())
        );
        assert_eq!(
            of_flow(None, None, Some("contoso.sharepoint.com:443"), None),
            Some("contoso".to_owned())
        );
        assert_eq!(
            of_flow(
                Some("outlook.office365.com"),
                None,
                None,
                Some("contoso.sharepoint.com")
            ),
            None
        );
    }

    #[test]
    fn tenant_arguments() {
        assert_eq!(parse_tenant("Contoso").as_deref(), Ok("contoso"));
        assert_eq!(
            parse_tenant("contoso.onmicrosoft.com").as_deref(),
            Ok("contoso")
        );
        assert!(parse_tenant("contoso.com").is_err());
        assert!(parse_tenant("").is_err());
    }
}
