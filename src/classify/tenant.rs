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

/// What a `tenant` value is: an Office 365 tenant (its initial `<tenant>.onmicrosoft.com`
/// name, which SharePoint and OneDrive names carry too), or a mail domain with its dots written
/// as dashes (`contoso-com`), which only the Exchange Online Protection MX names
/// (`*.mail.protection.outlook.com`, `*.mx.microsoft`, catalog set 10) carry. A mail domain is
/// the RECIPIENT's: mail sent to another company's MX is not data leaving to a foreign tenant,
/// and Tenant Restrictions do not apply to SMTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Tenant,
    MailDomain,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tenant => "tenant",
            Kind::MailDomain => "mail domain",
        }
    }
}

/// The tenant a server name carries, lower case, or None (see `read`).
pub fn tenant_of(name: &str) -> Option<String> {
    read(name).map(|(tenant, _)| tenant)
}

/// The tenant or mail domain a server name carries, lower case, with its kind, or None:
/// - `<tenant>.sharepoint.com`, `<tenant>-my.sharepoint.com`, `<tenant>-admin.sharepoint.com`
///   (and `-myfiles`, `-files`), also with labels in front (`x.contoso.sharepoint.com`);
/// - `<tenant>.onmicrosoft.com`, `<tenant>.mail.onmicrosoft.com`,
///   `autodiscover.<tenant>.onmicrosoft.com`;
/// - mail domains: `<mail-domain-with-dashes>.mail.protection.outlook.com` (`contoso-com` for
///   contoso.com) and `<mail-domain-with-dashes>.<code>.mx.microsoft` (Microsoft's newer MX
///   host names), the label before the suffix in both.
pub fn read(name: &str) -> Option<(String, Kind)> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let n = labels.len();
    let ends = |suffix: &[&str]| n > suffix.len() && labels.ends_with(suffix);
    let label = |from_end: usize| {
        n.checked_sub(from_end + 1)
            .and_then(|i| labels.get(i))
            .copied()
    };
    let (tenant, kind) = if ends(&["sharepoint", "com"]) {
        let site = label(2)?;
        if SHAREPOINT_SERVICES.contains(&site) {
            return None;
        }
        let tenant = SHAREPOINT_SUFFIXES
            .iter()
            .find_map(|s| site.strip_suffix(s).filter(|t| !t.is_empty()))
            .unwrap_or(site);
        (tenant, Kind::Tenant)
    } else if ends(&["mail", "onmicrosoft", "com"]) {
        (label(3)?, Kind::Tenant)
    } else if ends(&["onmicrosoft", "com"]) {
        (label(2)?, Kind::Tenant)
    } else if ends(&["mail", "protection", "outlook", "com"]) {
        (label(4)?, Kind::MailDomain)
    } else if ends(&["mx", "microsoft"]) {
        // `contoso-com.<code>.mx.microsoft`: the label before `<code>.mx.microsoft`.
        (label(3)?, Kind::MailDomain)
    } else {
        return None;
    };
    valid(tenant).then(|| (tenant.to_owned(), kind))
}

/// The name a flow itself carried, lower case, without a port: the TLS SNI (in QUIC too), else
/// the HTTP Host, else the host of the proxy target (`host:port`). Never the DNS name of the
/// server address: DNS answers map by address only, and SharePoint's and Exchange Online
/// Protection's addresses are shared by every tenant, so a name from DNS may be another
/// client's. The tenant column and the report's tenants table both read this name.
pub fn flow_name(
    sni: Option<&str>,
    http_host: Option<&str>,
    proxy_target: Option<&str>,
) -> Option<String> {
    // `host:port`: a Host header may carry a port, a proxy target always does.
    sni.or(http_host.map(without_port))
        .or(proxy_target.map(without_port))
        .map(str::to_ascii_lowercase)
}

/// The tenant (or mail domain) of a flow: from the name it carried (`flow_name`).
pub fn of_flow(
    sni: Option<&str>,
    http_host: Option<&str>,
    proxy_target: Option<&str>,
) -> Option<String> {
    flow_name(sni, http_host, proxy_target).and_then(|n| tenant_of(&n))
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

/// `--tenant NAME`: a tenant (`contoso`), a name carrying it (`contoso.onmicrosoft.com`,
/// `contoso.sharepoint.com`, `contoso-com.mail.protection.outlook.com`), or a mail domain
/// (`contoso.com`, as Microsoft's MX names write it: `contoso-com`), lower case, trailing dot
/// dropped.
pub fn parse_tenant(arg: &str) -> Result<String, String> {
    let lower = arg.trim().trim_end_matches('.').to_ascii_lowercase();
    let tenant = tenant_of(&lower).unwrap_or_else(|| lower.replace('.', "-"));
    if valid(&tenant) {
        Ok(tenant)
    } else {
        Err(format!(
            "tenant {arg:?}: give the tenant (letters, digits, '-'), e.g. contoso or contoso.onmicrosoft.com, or a mail domain, e.g. contoso.com"
        ))
    }
}

/// Declared tenants without repeats, in the order first given (`--tenant contoso --tenant
/// contoso.onmicrosoft.com` is contoso once).
pub fn distinct(tenants: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tenants.len());
    for t in tenants {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_tenant() {
        let t = |s: &str| Some((s.to_owned(), Kind::Tenant));
        let m = |s: &str| Some((s.to_owned(), Kind::MailDomain));
        for (name, expected) in [
            ("contoso.sharepoint.com", t("contoso")),
            ("Contoso-my.SharePoint.com.", t("contoso")),
            ("contoso-admin.sharepoint.com", t("contoso")),
            ("contoso-myfiles.sharepoint.com", t("contoso")),
            ("x.fabrikam.sharepoint.com", t("fabrikam")),
            ("contoso.onmicrosoft.com", t("contoso")),
            ("autodiscover.contoso.onmicrosoft.com", t("contoso")),
            ("contoso.mail.onmicrosoft.com", t("contoso")),
            ("contoso-com.mail.protection.outlook.com", m("contoso-com")),
            ("contoso-com.a-v1.mx.microsoft", m("contoso-com")),
            // The label counted from the end, not the first one.
            ("x.contoso-com.a-v1.mx.microsoft", m("contoso-com")),
            ("a-v1.mx.microsoft", None),
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
            assert_eq!(read(name), expected, "{name}");
            assert_eq!(tenant_of(name), expected.map(|(t, _)| t), "{name}");
        }
    }

    #[test]
    fn a_flow_takes_the_first_name_it_carried() {
        assert_eq!(
            of_flow(
                Some("contoso.sharepoint.com"),
                Some("x.onmicrosoft.com"),
                None
            ),
            Some("contoso".to_owned())
        );
        assert_eq!(
            of_flow(None, Some("Fabrikam-my.sharepoint.com:443"), None),
            Some("fabrikam".to_owned())
        );
        assert_eq!(
            flow_name(None, Some("Fabrikam-my.sharepoint.com:443"), None).as_deref(),
            Some("fabrikam-my.sharepoint.com")
        );
        assert_eq!(
            of_flow(None, None, Some("contoso.sharepoint.com:443")),
            Some("contoso".to_owned())
        );
        assert_eq!(
            of_flow(
                Some("outlook.office365.com"),
                Some("contoso.sharepoint.com"),
                None
            ),
            None
        );
        assert_eq!(flow_name(None, None, None), None);
    }

    #[test]
    fn tenant_arguments() {
        assert_eq!(parse_tenant("Contoso").as_deref(), Ok("contoso"));
        assert_eq!(
            parse_tenant("contoso.onmicrosoft.com").as_deref(),
            Ok("contoso")
        );
        assert_eq!(parse_tenant("contoso.com").as_deref(), Ok("contoso-com"));
        assert_eq!(
            parse_tenant("Contoso.co.uk.").as_deref(),
            Ok("contoso-co-uk")
        );
        assert_eq!(
            parse_tenant("contoso-com.mail.protection.outlook.com").as_deref(),
            Ok("contoso-com")
        );
        assert_eq!(
            distinct(&["b", "a", "b", "a"].map(str::to_owned)),
            ["b", "a"].map(str::to_owned)
        );
        assert!(parse_tenant("").is_err());
        assert!(parse_tenant("a_b").is_err());
        assert!(parse_tenant("a b").is_err());
    }
}
