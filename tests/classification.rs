//! Hand-checked classification cases against the embedded catalog (2025-12-01 worldwide data),
//! covering every matching rule: exact names, the three wildcard forms, label boundaries, case
//! and trailing dot, specificity, ties broken by port, by category and by id, longest prefix,
//! and name over address. Each expected set was read off the JSON by hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::IpAddr;

use o365flow::catalog::Catalog;
use o365flow::classify::{classify, MatchedBy, Signals};
use o365flow::wire::Transport;

use Transport::{Tcp, Udp};

/// A documentation address (RFC 5737) that no catalog prefix contains.
const NOWHERE: &str = "192.0.2.1";

struct Case {
    name: Option<&'static str>,
    ip: &'static str,
    transport: Transport,
    port: u16,
    /// (service area, endpoint id, category, matched_by, port listed)
    expect: Option<(&'static str, u32, &'static str, MatchedBy, bool)>,
}

const fn by_name(
    name: &'static str,
    transport: Transport,
    port: u16,
    area: &'static str,
    id: u32,
    category: &'static str,
    listed: bool,
) -> Case {
    Case {
        name: Some(name),
        ip: NOWHERE,
        transport,
        port,
        expect: Some((area, id, category, MatchedBy::Sni, listed)),
    }
}

const fn unmatched(name: &'static str) -> Case {
    Case {
        name: Some(name),
        ip: NOWHERE,
        transport: Tcp,
        port: 443,
        expect: None,
    }
}

const fn by_ip(
    ip: &'static str,
    transport: Transport,
    port: u16,
    area: &'static str,
    id: u32,
    category: &'static str,
    listed: bool,
) -> Case {
    Case {
        name: None,
        ip,
        transport,
        port,
        expect: Some((area, id, category, MatchedBy::Ip, listed)),
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Exact name in sets 1 (Optimize, tcp 80,443 udp 443) and 2 (Allow, tcp 143,587,993,995): the port decides.
    by_name("outlook.office365.com", Tcp, 443, "Exchange", 1, "Optimize", true),
    by_name("outlook.office365.com", Tcp, 993, "Exchange", 2, "Allow", true),
    by_name("outlook.office365.com", Tcp, 587, "Exchange", 2, "Allow", true),
    by_name("outlook.office365.com", Udp, 443, "Exchange", 1, "Optimize", true),
    // Neither set lists tcp 25: category decides (Optimize > Allow), port not listed.
    by_name("outlook.office365.com", Tcp, 25, "Exchange", 1, "Optimize", false),
    // Case-insensitive, trailing dot ignored.
    by_name("OUTLOOK.Office365.COM.", Tcp, 443, "Exchange", 1, "Optimize", true),
    // The set that lists the port wins before specificity (issue 17): on 587 the exact name's set
    // 2, on 443 *.office365.com (id 71), which lists tcp/443 where set 2 does not.
    by_name("smtp.office365.com", Tcp, 587, "Exchange", 2, "Allow", true),
    by_name("smtp.office365.com", Tcp, 443, "Common", 71, "Default", true),
    // No matching set lists the port: the most specific pattern decides.
    by_name("smtp.office365.com", Tcp, 8080, "Exchange", 2, "Allow", false),
    by_name("foo.office365.com", Tcp, 443, "Common", 71, "Default", true),
    // Specificity: *.trouter.teams.microsoft.com (id 181, 4 fixed labels) over *.teams.microsoft.com (id 12, 3).
    by_name("x.trouter.teams.microsoft.com", Tcp, 443, "MEM", 181, "Default", true),
    by_name("a.b.trouter.teams.microsoft.com", Tcp, 443, "MEM", 181, "Default", true),
    by_name("presence.teams.microsoft.com", Tcp, 443, "Skype", 12, "Allow", true),
    by_name("teams.microsoft.com", Tcp, 443, "Skype", 12, "Allow", true),
    by_name("teams.cloud.microsoft", Tcp, 443, "Skype", 12, "Allow", true),
    by_name("x.teams.cloud.microsoft", Udp, 443, "Skype", 12, "Allow", true),
    by_name("x.cloud.microsoft", Tcp, 443, "Common", 184, "Default", true),
    by_name("x.lync.com", Tcp, 443, "Skype", 12, "Allow", true),
    by_name("contoso.sharepoint.com", Tcp, 443, "SharePoint", 31, "Optimize", true),
    by_name("contoso-my.sharepoint.com", Udp, 443, "SharePoint", 31, "Optimize", true),
    // Middle-label wildcard (3 fixed labels) beats *.onmicrosoft.com (2).
    by_name("autodiscover.contoso.onmicrosoft.com", Tcp, 443, "Exchange", 8, "Default", true),
    by_name("autodiscover.a.b.onmicrosoft.com", Tcp, 443, "Exchange", 8, "Default", true),
    by_name("contoso.onmicrosoft.com", Tcp, 443, "Common", 78, "Default", true),
    // Wildcard inside a label.
    by_name("abccdn.onenote.net", Tcp, 443, "Common", 51, "Default", true),
    // Longer fixed suffix wins among wildcards: *.mail.protection.outlook.com > *.protection.outlook.com > *.outlook.com.
    by_name("contoso-com.mail.protection.outlook.com", Tcp, 25, "Exchange", 10, "Allow", true),
    by_name("x.protection.outlook.com", Tcp, 443, "Exchange", 9, "Allow", true),
    by_name("x.outlook.com", Tcp, 443, "Exchange", 8, "Default", true),
    by_name("www.outlook.com", Tcp, 443, "Common", 121, "Default", true),
    by_name("contoso.mx.microsoft", Tcp, 25, "Exchange", 10, "Allow", true),
    // *.microsoft.com is in id 50 (tcp 443) and 78 (tcp 80,443): same pattern, tie by port, then id.
    // (www.microsoft.com itself is an exact name in id 125.)
    by_name("www.microsoft.com", Tcp, 443, "Common", 125, "Default", true),
    by_name("foo.microsoft.com", Tcp, 443, "Common", 50, "Default", true),
    by_name("foo.microsoft.com", Tcp, 80, "Common", 78, "Default", true),
    by_name("account.live.com", Tcp, 443, "Common", 97, "Default", true),
    by_name("account.live.com", Tcp, 80, "Common", 116, "Default", true),
    by_name("ajax.aspnetcdn.com", Tcp, 443, "Common", 53, "Default", true),
    by_name("ajax.aspnetcdn.com", Tcp, 80, "Common", 91, "Default", true),
    by_name("login.microsoftonline.com", Tcp, 443, "Common", 56, "Allow", true),
    by_name("x.office.com", Tcp, 443, "Common", 147, "Default", true),
    by_name("x.office.net", Udp, 443, "Common", 47, "Default", true),
    by_name("time.windows.com", Udp, 123, "MEM", 165, "Default", true),
    by_name("aka.ms", Tcp, 443, "Skype", 17, "Default", true),
    // Addresses: longest prefix; 52.112.0.0/14 and 2603:1063::/38 are in sets 11 and 12.
    by_ip("52.113.194.132", Udp, 3478, "Skype", 11, "Optimize", true),
    by_ip("52.113.194.132", Tcp, 443, "Skype", 12, "Allow", true),
    // README's rule 4: on UDP 443 only set 12 lists the port; on a port neither lists, Optimize first.
    by_ip("52.112.1.1", Udp, 443, "Skype", 12, "Allow", true),
    by_ip("52.112.1.1", Udp, 5000, "Skype", 11, "Optimize", false),
    by_ip("2603:1063::1", Udp, 3479, "Skype", 11, "Optimize", true),
    by_ip("52.96.10.10", Tcp, 993, "Exchange", 2, "Allow", true),
    by_ip("52.96.10.10", Tcp, 443, "Exchange", 1, "Optimize", true),
    by_ip("::ffff:52.96.10.10", Tcp, 443, "Exchange", 1, "Optimize", true),
    // Look-alikes and boundaries that must stay unmatched.
    unmatched("notoffice365.com"),
    unmatched("office365.com.evil.net"),
    unmatched("outlook.office365.com.attacker.io"),
    unmatched("evilsharepoint.com"),
    unmatched("sharepoint.com"),
    unmatched("microsoft.com.phish.net"),
    unmatched("teams-microsoft.com"),
    unmatched("outlook-office365.com"),
    unmatched("login.microsoftonline.com.example.org"),
    unmatched("microsoftonline.com.ru"),
    unmatched("office365.co.uk"),
    unmatched("cdn.onenote.net"),
    unmatched("microsoft.com"),
    unmatched("onmicrosoft.com"),
    unmatched("autodiscover.onmicrosoft.com.evil.org"),
];

fn run(catalog: &Catalog, case: &Case) -> Option<(String, u32, String, MatchedBy, bool)> {
    let ip: IpAddr = case.ip.parse().unwrap();
    let c = classify(
        catalog,
        &Signals {
            sni: case.name,
            sni_source: MatchedBy::Sni,
            http_host: None,
            dns_name: None,
            cert_names: &[],
            server_ip: Some(ip),
            transport: case.transport,
            server_port: case.port,
        },
    );
    c.service.map(|s| {
        (
            s.service_area.as_str().to_owned(),
            s.endpoint_id.0,
            s.category.as_str().to_owned(),
            s.matched_by,
            s.port_listed,
        )
    })
}

#[test]
fn hand_checked_table() {
    let catalog = Catalog::embedded().unwrap();
    assert!(CASES.len() >= 40);
    assert!(CASES.iter().filter(|c| c.expect.is_none()).count() >= 10);
    let mut failures = Vec::new();
    for case in CASES {
        let got = run(&catalog, case);
        let want = case
            .expect
            .map(|(a, id, cat, by, listed)| (a.to_owned(), id, cat.to_owned(), by, listed));
        if got != want {
            failures.push(format!(
                "{:?} {} {:?}/{}: got {got:?}, want {want:?}",
                case.name, case.ip, case.transport, case.port
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn name_beats_address_and_both_are_evidence() {
    let catalog = Catalog::embedded().unwrap();
    // teams.microsoft.com served from an Exchange prefix: the name decides.
    let c = classify(
        &catalog,
        &Signals {
            sni: Some("teams.microsoft.com"),
            sni_source: MatchedBy::Sni,
            http_host: None,
            dns_name: None,
            cert_names: &[],
            server_ip: Some("52.96.10.10".parse().unwrap()),
            transport: Tcp,
            server_port: 443,
        },
    );
    let s = c.service.unwrap();
    assert_eq!((s.endpoint_id.0, s.matched_by), (12, MatchedBy::Sni));
    let evidence: Vec<String> = c.evidence.iter().map(|e| e.to_string()).collect();
    // The winner, the best candidate that lost and why, then the other signal's best.
    assert_eq!(
        evidence,
        vec![
            "sni:teams.microsoft.com#12",
            "sni:*.microsoft.com#50 (less specific)",
            "ip:52.96.0.0/14#1 (weaker signal)"
        ]
    );
    // An unknown name on a catalog address: the address decides.
    let c = classify(
        &catalog,
        &Signals {
            sni: Some("example.org"),
            sni_source: MatchedBy::Sni,
            http_host: None,
            dns_name: None,
            cert_names: &[],
            server_ip: Some("52.112.1.1".parse().unwrap()),
            transport: Tcp,
            server_port: 443,
        },
    );
    let s = c.service.unwrap();
    assert_eq!((s.endpoint_id.0, s.matched_by), (12, MatchedBy::Ip));
    let evidence: Vec<String> = c.evidence.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        evidence,
        [
            "ip:52.112.0.0/14#12",
            "ip:52.112.0.0/14#11 (tcp/443 not listed)"
        ]
    );
}

#[test]
fn microsoft_owned_names_and_the_unlisted_evidence() {
    use o365flow::classify::{microsoft_owned, MicrosoftStatus};
    for name in [
        "microsoft.com",
        "x.microsoft.com",
        "gate.hockeyapp.net",
        "API.MicrosoftStream.com.",
        "teams.cloud.microsoft",
    ] {
        assert!(microsoft_owned(name), "{name}");
    }
    for name in [
        "notmicrosoft.com",
        "microsoft.com.evil.net",
        "office.com-login.net",
        "hockeyapp.net.example",
        "",
    ] {
        assert!(!microsoft_owned(name), "{name}");
    }
    // In the Teams sample, Microsoft names outside every endpoint set: the list an admin sends on.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/teams.pcap");
    let catalog = Catalog::embedded().unwrap();
    let a = o365flow::analyze(&[path], &catalog, &o365flow::AnalysisConfig::default());
    let mut unlisted: Vec<String> = a
        .flows
        .iter()
        .filter(|f| f.microsoft == MicrosoftStatus::Unlisted)
        .filter_map(|f| f.sni.clone())
        .collect();
    unlisted.sort();
    assert_eq!(
        unlisted,
        [
            "api.microsoftstream.com",
            "euno-1.api.microsoftstream.com",
            "gate.hockeyapp.net",
            "gate.hockeyapp.net"
        ]
    );
    assert_eq!(
        a.flows
            .iter()
            .filter(|f| f.microsoft == MicrosoftStatus::Listed)
            .count(),
        41
    );
}

/// Issue 17: candidates from every signal; the set that lists the flow's port wins before the
/// signal's precedence. Teams media after a DNS answer: the DNS name's set (12) does not list
/// udp/3478, the address's set (11, Optimize) does.
#[test]
fn the_set_that_lists_the_port_wins_across_signals() {
    let catalog = Catalog::embedded().unwrap();
    let media = |port: u16| {
        classify(
            &catalog,
            &Signals {
                sni: None,
                sni_source: MatchedBy::Sni,
                http_host: None,
                dns_name: Some("euaz.tr.teams.microsoft.com"),
                cert_names: &[],
                server_ip: Some("52.114.250.123".parse().unwrap()),
                transport: o365flow::wire::Transport::Udp,
                server_port: port,
            },
        )
    };
    let c = media(3478);
    let s = c.service.unwrap();
    assert_eq!(
        (
            s.endpoint_id.0,
            s.category.as_str(),
            s.matched_by,
            s.port_listed
        ),
        (11, "Optimize", MatchedBy::Ip, true)
    );
    let evidence: Vec<String> = c.evidence.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        evidence,
        [
            "ip:52.112.0.0/14#11",
            "dns:*.teams.microsoft.com#12 (udp/3478 not listed)"
        ]
    );
    // UDP 443 is listed by the name's set: precedence decides again, the DNS name wins.
    let s = media(443).service.unwrap();
    assert_eq!(
        (s.endpoint_id.0, s.matched_by, s.port_listed),
        (12, MatchedBy::Dns, true)
    );
    // No candidate lists the port: the existing order decides and port_listed is false.
    let s = media(5000).service.unwrap();
    assert_eq!(
        (s.endpoint_id.0, s.matched_by, s.port_listed),
        (12, MatchedBy::Dns, false)
    );
    // A proxied flow is judged without the proxy's address: only the target's name counts.
    let c = classify(
        &catalog,
        &Signals {
            sni: Some("outlook.office365.com"),
            sni_source: MatchedBy::Sni,
            http_host: Some("outlook.office365.com"),
            dns_name: None,
            cert_names: &[],
            server_ip: None,
            transport: Tcp,
            server_port: 993,
        },
    );
    let s = c.service.unwrap();
    assert_eq!(
        (s.endpoint_id.0, s.matched_by, s.port_listed),
        (2, MatchedBy::Sni, true)
    );
    let evidence: Vec<String> = c.evidence.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        evidence,
        [
            "sni:outlook.office365.com#2",
            "sni:outlook.office365.com#1 (tcp/993 not listed)",
            "http-host:outlook.office365.com#2"
        ]
    );
}

#[test]
fn proxy_targets_are_judged_on_their_port() {
    use o365flow::classify::{FlowPath, Target};
    use o365flow::wire::Transport::Udp;
    let t = Target::of(Tcp, 3128, true, Some("outlook.office365.com:993"));
    assert_eq!(
        (t.path, t.host, t.transport, t.port),
        (FlowPath::Proxy, Some("outlook.office365.com"), Tcp, 993)
    );
    let t = Target::of(Tcp, 1080, true, Some("[2001:db8::1]:443"));
    assert_eq!((t.host, t.port), (Some("2001:db8::1"), 443));
    // A target without a port keeps the server's; a direct flow is its own target.
    assert_eq!(Target::of(Tcp, 3128, true, Some("a.example")).port, 3128);
    let t = Target::of(Udp, 3478, false, None);
    assert_eq!(
        (t.path, t.host, t.transport, t.port),
        (FlowPath::Direct, None, Udp, 3478)
    );
}

/// A ClientHello in one TLS record whose SNI is 16 KB of one-letter labels and then a Teams
/// name, over TCP segments of 1,400 bytes, for `flows` flows: the worst name a capture can
/// bring to the catalog and ownership lookups.
fn long_sni_capture(flows: u16) -> Vec<u8> {
    fn ipv4_tcp(
        src: [u8; 4],
        dst: [u8; 4],
        ports: (u16, u16),
        seq: u32,
        flags: u8,
        data: &[u8],
    ) -> Vec<u8> {
        let mut f = vec![
            0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 8, 0,
        ];
        let total = (40 + data.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&ports.0.to_be_bytes());
        f.extend_from_slice(&ports.1.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(data);
        f
    }
    let name = "a.".repeat(8_000) + "teams.microsoft.com";
    let len = |n: usize| (n as u16).to_be_bytes();
    let mut sni = vec![0];
    sni.extend_from_slice(&len(name.len()));
    sni.extend_from_slice(name.as_bytes());
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&len(sni.len() + 2));
    ext.extend_from_slice(&len(sni.len()));
    ext.extend_from_slice(&sni);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x11; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&len(ext.len()));
    body.extend_from_slice(&ext);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&len(body.len() + 4));
    record.extend_from_slice(&[1, 0]);
    record.extend_from_slice(&len(body.len()));
    record.extend_from_slice(&body);
    let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    pcap.extend_from_slice(&[0xff, 0xff, 0, 0, 1, 0, 0, 0]);
    let (client, server) = ([10, 0, 0, 5], [52, 112, 0, 10]);
    let mut micros = 0;
    let mut put = |frame: Vec<u8>| {
        micros += 100;
        let n = frame.len() as u32;
        pcap.extend(common::pcap_record(1_700_000_000, micros, n, n, &frame));
    };
    for i in 0..flows {
        let port = 20_000 + i;
        put(ipv4_tcp(client, server, (port, 443), 1000, 0x02, &[]));
        put(ipv4_tcp(server, client, (443, port), 5000, 0x12, &[]));
        put(ipv4_tcp(client, server, (port, 443), 1001, 0x10, &[]));
        for (k, segment) in record.chunks(1400).enumerate() {
            let seq = 1001 + (k * 1400) as u32;
            put(ipv4_tcp(client, server, (port, 443), seq, 0x18, segment));
        }
    }
    pcap
}

/// The whole 16 KB name is kept and judged as a short one would be (`*.teams.microsoft.com`),
/// found from the name's last labels only. Looking up all 8,000 suffixes took 14 s for 100
/// such flows in a debug build; criterion's "16 KB name" bench keeps the cost in view.
#[test]
fn a_sixteen_kilobyte_sni_is_judged_like_a_short_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long-sni.pcap");
    std::fs::write(&path, long_sni_capture(3)).unwrap();
    let analysis = common::analyze_one(&path);
    assert_eq!(analysis.flows.len(), 3);
    for row in &analysis.flows {
        let sni = row.sni.as_deref().unwrap();
        assert_eq!(sni.len(), 16_019);
        assert!(sni.ends_with(".a.teams.microsoft.com"));
        assert_eq!(row.matched_by, Some(MatchedBy::Sni));
        assert_eq!(row.endpoint_id.map(|id| id.0), Some(12));
        assert_eq!(row.evidence[0], "sni:*.teams.microsoft.com#12");
    }
}
