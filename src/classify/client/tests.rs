//! Client rules on hand-made facts: each rule of the embedded file, patterns, loading errors.

use super::*;

pub(super) fn facts<'a>(names: &'a [&'a str]) -> ClientFacts<'a> {
    ClientFacts {
        transport: Transport::Tcp,
        server_port: 443,
        app_protocol: "tls",
        names,
        ja4: None,
        alpn: &[],
        user_agent: None,
        http_path: None,
        media: &[],
        service_area: None,
        microsoft: MicrosoftStatus::No,
        client_microsoft: MicrosoftStatus::No,
        direction: Direction::Outbound,
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

#[test]
fn glob_patterns() {
    assert!(glob("*.teams.microsoft.com", "a.b.teams.microsoft.com"));
    assert!(!glob("*.teams.microsoft.com", "teams.microsoft.com"));
    assert!(glob("adfs.*", "adfs.contoso.com"));
    assert!(glob("*adfs*", "on-prem adfs"));
    assert!(glob("exact", "exact"));
    assert!(!glob("exact", "exactly"));
    assert!(!glob("a*b*c", "ab"));
    // The last piece may not reuse characters a middle piece consumed.
    assert!(!glob("a*b*b", "ab"));
    assert!(glob("a*b*b", "axbxb"));
    assert!(!glob("a*a", "a"));
    assert!(glob("a**b", "ab"));
    assert!(glob("*", ""));
    assert!(glob("sip.*.com", "sip.contoso.com"));
    assert!(!glob("sip.*.com", "sip.com"));
}

#[test]
fn the_embedded_rules_load() {
    let rules = ClientRules::embedded().unwrap();
    assert!(rules.rules().len() >= 20);
    let mut ids: Vec<&str> = rules.rules().iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "rule ids are unique");
}

#[test]
fn bad_rules_are_named() {
    let e = ClientRules::parse(
        "[[rule]]\nid = \"x\"\nclient = \"y\"\ndirection = [\"sideways\"]\n",
        "mine.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("mine.toml") && e.contains("\"x\"") && e.contains("direction"));
    let e = ClientRules::parse("[[rule]]\nid = \"x\"\n", "mine.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("client"), "{e}");
    let e = ClientRules::parse("[[rule]]\nid = \"x\"\nclient=\"y\"\nport = 1\n", "m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("port"), "{e}");
}

#[test]
fn first_rule_that_holds_wins_and_user_rules_come_first() {
    let rules = ClientRules::parse(
        r#"
            [[rule]]
            id = "a"
            client = "teams-desktop"
            confidence = "high"
            name = ["*.teams.microsoft.com"]
            user_agent = ["Teams/"]
            [[rule]]
            id = "b"
            client = "teams"
            confidence = "low"
            name = ["*.teams.microsoft.com", "teams.microsoft.com"]
            "#,
        "t",
    )
    .unwrap();
    let names = ["presence.teams.microsoft.com"];
    let mut f = facts(&names);
    let id = rules.identify(&f);
    let c = id.client.unwrap();
    assert_eq!((c.app.as_str(), c.confidence), ("teams", Confidence::Low));
    assert_eq!(c.evidence, ["rule=b", "name=presence.teams.microsoft.com"]);
    f.user_agent = Some("Mozilla/5.0 Teams/1.5.00.8070 Electron/7.2.4");
    let c = rules.identify(&f).client.unwrap();
    assert_eq!(c.app, "teams-desktop");
    assert_eq!(
        c.evidence,
        [
            "rule=a",
            "name=presence.teams.microsoft.com",
            "user_agent=Mozilla/5.0 Teams/1.5.00.8070 Electron/7.2.4"
        ]
    );
}

#[test]
fn no_alpn_needs_a_client_hello() {
    let rules = ClientRules::parse(
        "[[rule]]\nid = \"n\"\nclient = \"native\"\nno_alpn = true\n",
        "t",
    )
    .unwrap();
    let mut f = facts(&[]);
    assert_eq!(rules.identify(&f).client, None);
    f.ja4 = Some("t12d220700_0d4ca5d4ec72_3304d8368043");
    assert_eq!(rules.identify(&f).client.unwrap().app, "native");
    let alpn = ["h2".to_owned()];
    f.alpn = &alpn;
    assert_eq!(rules.identify(&f).client, None);
}
