//! Client identification and published services, on real and locally made captures. The README's
//! client table is read here: every "capture: flows" claim in it must hold.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use o365flow::classify::MicrosoftStatus;
use o365flow::report::FlowRow;

fn sample(name: &str) -> Vec<FlowRow> {
    common::analyze_one(&common::samples_dir().join(name)).flows
}

/// (client_app, confidence, deciding rule, published_service) of each flow, in flow order.
fn identities(rows: &[FlowRow]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .map(|r| {
            (
                r.client_app.clone().unwrap_or_default(),
                r.client_confidence
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                r.client_evidence.first().cloned().unwrap_or_default(),
                r.published_service.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn want(rows: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .map(|(a, b, c, d)| {
            (
                a.to_string(),
                b.to_string(),
                format!("rule={c}"),
                d.to_string(),
            )
        })
        .collect()
}

#[test]
fn clients_behind_an_explicit_proxy_are_named_by_their_user_agent() {
    let rows = sample("clients/proxy-user-agents.pcap");
    assert_eq!(
        identities(&rows),
        want(&[
            ("teams-desktop", "high", "teams-desktop-ua", ""),
            ("teams-web", "medium", "teams-web-ua", ""),
            ("outlook-desktop", "high", "outlook-desktop-ua", ""),
            ("outlook-mobile", "high", "outlook-mobile-ua", ""),
            ("outlook-web", "medium", "outlook-web-ua", ""),
            ("onedrive-sync", "high", "onedrive-ua", ""),
            ("browser", "medium", "browser-ua", ""),
            ("outlook-web", "medium", "outlook-web-ua", ""),
        ])
    );
    let targets: Vec<&str> = rows
        .iter()
        .map(|r| r.proxy_target.as_deref().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "teams.microsoft.com:443",
            "teams.microsoft.com:443",
            "outlook.office365.com:443",
            "outlook.office365.com:443",
            "outlook.office.com:443",
            "contoso-my.sharepoint.com:443",
            "www.office.com:443",
            "outlook.live.com:443"
        ]
    );
    assert_eq!(
        rows[5].user_agent.as_deref(),
        Some("Microsoft SkyDriveSync 24.010.0114.0003 ship; Windows NT 10.0 (19045)")
    );
    assert_eq!(
        rows[2].client_evidence,
        [
            "rule=outlook-desktop-ua",
            "user_agent=Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"
        ]
    );
    // Outlook.com is a consumer service the catalog does not list; the others are listed.
    let status: Vec<MicrosoftStatus> = rows.iter().map(|r| r.microsoft).collect();
    assert_eq!(status[7], MicrosoftStatus::Consumer);
    assert!(status[..7].iter().all(|s| *s == MicrosoftStatus::Listed));
}

#[test]
fn activesync_adfs_hybrid_edge_and_azure_vpn() {
    let rows = sample("clients/activesync.pcap");
    assert_eq!(
        identities(&rows),
        want(&[("exchange-activesync", "high", "activesync-path", "")])
    );
    // The query (user and device names) is not kept.
    assert_eq!(
        rows[0].client_evidence[1],
        "http_path=/Microsoft-Server-ActiveSync"
    );

    let rows = sample("clients/adfs-inbound.pcap");
    assert_eq!(
        identities(&rows),
        want(&[
            ("adfs", "low", "adfs-name", "adfs"),
            ("adfs", "high", "adfs-path", "adfs"),
        ])
    );
    assert!(rows.iter().all(|r| r.direction.as_str() == "inbound"));
    assert_eq!(
        rows[1].client_evidence.last().unwrap(),
        "published-rule=published-adfs"
    );

    let rows = sample("clients/exchange-hybrid.pcap");
    assert_eq!(
        identities(&rows),
        want(&[(
            "exchange-hybrid",
            "high",
            "exchange-hybrid-in",
            "exchange-hybrid"
        )])
    );
    assert_eq!(
        rows[0].client_evidence,
        [
            "rule=exchange-hybrid-in",
            "port=25",
            "client_microsoft=listed",
            "direction=inbound"
        ]
    );

    let rows = sample("clients/lync-edge-inbound.pcap");
    assert_eq!(
        identities(&rows),
        want(&[("skype-for-business", "medium", "lync-name", "lync-edge")])
    );

    let rows = sample("clients/azure-vpn-ikev2.pcap");
    assert_eq!(
        identities(&rows),
        want(&[
            ("azure-vpn", "medium", "azure-vpn-ipsec", ""),
            ("azure-vpn", "medium", "azure-vpn-ipsec", ""),
        ])
    );
    // 20.40.0.10 is Azure: Microsoft's address block, in no Microsoft 365 set.
    assert!(rows
        .iter()
        .all(|r| r.microsoft == MicrosoftStatus::Unlisted));
    // The same IKE exchange to a non-Microsoft address names no client.
    assert!(identities(&sample("protocols/ikev2.pcap"))
        .iter()
        .all(|i| i.0.is_empty()));
}

#[test]
fn teams_sample_media_signalling_and_peer_to_peer() {
    let rows = sample("teams.pcap");
    let count = |app: &str, rule: &str| {
        rows.iter()
            .filter(|r| {
                r.client_app.as_deref() == Some(app)
                    && r.client_evidence.first().map(String::as_str) == Some(rule)
            })
            .count()
    };
    assert_eq!(count("teams-media", "rule=teams-media"), 8);
    assert_eq!(count("teams-media", "rule=teams-media-port"), 1);
    assert_eq!(count("teams-media-p2p", "rule=teams-media-p2p"), 4);
    assert_eq!(count("teams-desktop", "rule=teams-native"), 8);
    assert_eq!(count("teams", "rule=teams-name"), 11);
    // Peer-to-peer media: the remote peer is a residential address, not a relay.
    let p2p: Vec<String> = rows
        .iter()
        .filter(|r| r.client_app.as_deref() == Some("teams-media-p2p"))
        .map(|r| format!("{}:{}", r.server_ip, r.server_port))
        .collect();
    assert_eq!(
        p2p,
        [
            "192.168.0.4:50005",
            "192.168.0.4:50020",
            "93.71.110.205:16332",
            "93.71.110.205:16333"
        ]
    );
}

/// The README's client table: `| `app` | signals | capture: N; capture: N |`.
fn readme_claims() -> Vec<(String, String, usize)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut claims = Vec::new();
    let mut in_table = false;
    for line in readme.lines() {
        if line.starts_with("| client_app |") {
            in_table = true;
            continue;
        }
        if in_table && !line.starts_with('|') {
            break;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let app = cells[1].trim_matches('`').to_owned();
        for proof in cells[3].split(';') {
            let (capture, n) = proof.trim().rsplit_once(": ").unwrap();
            claims.push((app.clone(), capture.to_owned(), n.parse().unwrap()));
        }
    }
    claims
}

#[test]
fn readme_client_table_holds() {
    let claims = readme_claims();
    assert!(claims.len() >= 25, "{claims:?}");
    let shared = common::shared_dir("readme_client_table_holds (corpus rows)");
    let (mut checked, mut skipped) = (0, 0);
    for (app, capture, n) in &claims {
        let path: PathBuf = if let Some(rest) = capture.strip_prefix("corpus/") {
            match &shared {
                Some(s) => s.join("corpus").join(rest),
                None => {
                    skipped += 1;
                    continue;
                }
            }
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(capture)
        };
        let rows = common::analyze_one(&path).flows;
        let got = rows
            .iter()
            .filter(|r| r.client_app.as_deref() == Some(app.as_str()))
            .count();
        assert_eq!(got, *n, "README: {app} in {capture}");
        checked += 1;
    }
    eprintln!("README client table: {checked} claims checked, {skipped} need ../shared");
}

#[test]
fn user_rules_come_first_and_bad_rules_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("mine.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"our-sync\"\nclient = \"contoso-sync\"\nconfidence = \"high\"\nname = [\"contoso-my.sharepoint.com\"]\n",
    )
    .unwrap();
    let flows = dir.path().join("flows.jsonl");
    let status = common::o365flow_command()
        .args(["analyze", "-q", "--client-rules"])
        .arg(&rules)
        .arg(common::samples_dir().join("clients/proxy-user-agents.pcap"))
        .arg("--flows")
        .arg(&flows)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let apps: Vec<String> = common::read_jsonl(&flows)
        .iter()
        .map(|row| {
            common::field(row, "o365flow.client_app")
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(apps[5], "contoso-sync", "{apps:?}");
    assert_eq!(apps[0], "teams-desktop");

    std::fs::write(
        &rules,
        "[[rule]]\nid = \"x\"\nclient = \"y\"\nmicrosoft = [\"maybe\"]\n",
    )
    .unwrap();
    let out = common::o365flow_command()
        .args(["analyze", "-q", "--client-rules"])
        .arg(&rules)
        .arg(common::samples_dir().join("clients/activesync.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mine.toml") && err.contains("\"x\"") && err.contains("microsoft"),
        "{err}"
    );
}
