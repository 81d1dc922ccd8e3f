//! The JSON-lines flow output claims Elastic Common Schema fields: every field outside the
//! `o365flow.*` namespace must be an ECS field of the type ECS gives it (the table below is
//! copied by hand from the ECS 8.11 field reference), and hold a value of that type.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq)]
enum EcsType {
    Ip,
    Long,
    Keyword,
    Date,
}

/// ECS 8.11 fields o365flow writes, with their ECS types. `keyword` fields may be arrays of
/// strings (ECS: any field may hold an array of its type).
const ECS_FIELDS: &[(&str, EcsType)] = &[
    ("@timestamp", EcsType::Date),
    ("ecs.version", EcsType::Keyword),
    ("event.kind", EcsType::Keyword),
    ("event.category", EcsType::Keyword),
    ("event.type", EcsType::Keyword),
    ("event.dataset", EcsType::Keyword),
    ("event.start", EcsType::Date),
    ("event.end", EcsType::Date),
    ("event.duration", EcsType::Long),
    ("source.ip", EcsType::Ip),
    ("source.port", EcsType::Long),
    ("source.packets", EcsType::Long),
    ("source.bytes", EcsType::Long),
    ("destination.ip", EcsType::Ip),
    ("destination.port", EcsType::Long),
    ("destination.packets", EcsType::Long),
    ("destination.bytes", EcsType::Long),
    ("destination.domain", EcsType::Keyword),
    ("network.transport", EcsType::Keyword),
    ("network.type", EcsType::Keyword),
    ("network.iana_number", EcsType::Keyword),
    ("network.protocol", EcsType::Keyword),
    ("network.direction", EcsType::Keyword),
    ("network.packets", EcsType::Long),
    ("network.bytes", EcsType::Long),
    ("tls.version", EcsType::Keyword),
    ("tls.version_protocol", EcsType::Keyword),
    ("tls.next_protocol", EcsType::Keyword),
    ("tls.client.server_name", EcsType::Keyword),
    ("tls.server.issuer", EcsType::Keyword),
    ("tls.server.x509.alternative_names", EcsType::Keyword),
    ("url.domain", EcsType::Keyword),
    ("user_agent.original", EcsType::Keyword),
    ("dns.question.name", EcsType::Keyword),
];

/// ECS's allowed values for the categorisation fields o365flow sets.
const ALLOWED: &[(&str, &[&str])] = &[
    ("event.kind", &["event"]),
    ("event.category", &["network"]),
    ("event.type", &["connection"]),
    (
        "network.direction",
        &[
            "ingress", "egress", "inbound", "outbound", "internal", "external", "unknown",
        ],
    ),
    ("network.type", &["ipv4", "ipv6"]),
];

fn check_value(path: &str, ty: EcsType, value: &Value) -> Result<(), String> {
    let ok = match (ty, value) {
        (EcsType::Ip, Value::String(s)) => s.parse::<IpAddr>().is_ok(),
        (EcsType::Long, Value::Number(n)) => n.as_i64().is_some(),
        (EcsType::Keyword, Value::String(_)) => true,
        (EcsType::Keyword, Value::Array(items)) => items.iter().all(Value::is_string),
        (EcsType::Date, Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        _ => false,
    };
    if !ok {
        return Err(format!("{path}: {value} is not an ECS {ty:?}"));
    }
    if let Some((_, allowed)) = ALLOWED.iter().find(|(p, _)| *p == path) {
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for v in values {
            if !allowed.iter().any(|a| v == *a) {
                return Err(format!(
                    "{path}: {v} is not one of ECS's values {allowed:?}"
                ));
            }
        }
    }
    if path.ends_with(".port") && !value.as_i64().is_some_and(|p| (0..=65535).contains(&p)) {
        return Err(format!("{path}: {value} is not a port"));
    }
    Ok(())
}

/// Problems in one record: unknown non-custom fields, wrong types, missing core fields.
fn validate(record: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    common::flatten_json("", record, &mut |path, value| {
        if path.starts_with("o365flow.") {
            return;
        }
        match ECS_FIELDS.iter().find(|(p, _)| *p == path) {
            None => problems.push(format!("{path}: not an ECS field in the table")),
            Some((_, ty)) => {
                if let Err(e) = check_value(path, *ty, value) {
                    problems.push(e);
                }
            }
        }
    });
    for required in [
        "@timestamp",
        "ecs.version",
        "source.ip",
        "destination.ip",
        "network.iana_number",
        "network.direction",
        "event.start",
    ] {
        if common::field(record, required).is_null() {
            problems.push(format!("{required}: missing"));
        }
    }
    problems
}

fn jsonl_of(captures: &[PathBuf], dir: &Path) -> Vec<Value> {
    let flows = dir.join("flows.jsonl");
    let out = common::o365flow_command()
        .args([
            "analyze",
            "-q",
            "--internal",
            "10.0.0.0/8,192.168.0.0/16,172.16.0.0/12",
        ])
        .args(captures)
        .arg("--flows")
        .arg(&flows)
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::read_jsonl(&flows)
}

fn assert_valid(records: &[Value]) {
    let mut problems: Vec<String> = records.iter().flat_map(validate).collect();
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{problems:#?}");
}

fn sample_captures() -> Vec<PathBuf> {
    ["", "clients", "report", "protocols", "tunnels"]
        .iter()
        .flat_map(|d| common::sample_captures(d))
        .collect()
}

#[test]
fn jsonl_of_the_samples_is_valid_ecs() {
    let dir = tempfile::tempdir().unwrap();
    let records = jsonl_of(&sample_captures(), dir.path());
    assert!(records.len() > 100, "{} flows", records.len());
    assert_valid(&records);
    // The mapping is the one the README promises, on a known flow.
    let teams = records
        .iter()
        .find(|r| common::field(r, "tls.client.server_name") == "teams.microsoft.com")
        .unwrap();
    assert_eq!(common::field(teams, "network.transport"), "tcp");
    assert_eq!(common::field(teams, "network.iana_number"), "6");
    assert_eq!(common::field(teams, "network.protocol"), "tls");
    assert_eq!(common::field(teams, "destination.port"), 443);
    assert_eq!(common::field(teams, "network.direction"), "outbound");
    assert_eq!(common::field(teams, "o365flow.service_area"), "Skype");
    let bytes = |p: &str| common::field(teams, p).as_u64().unwrap();
    assert_eq!(
        bytes("network.bytes"),
        bytes("source.bytes") + bytes("destination.bytes")
    );
}

#[test]
fn jsonl_of_the_corpus_is_valid_ecs() {
    let Some(shared) = common::shared_dir("jsonl_of_the_corpus_is_valid_ecs") else {
        return;
    };
    let mut captures: Vec<PathBuf> = std::fs::read_dir(shared.join("corpus"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng" | "cap")
            )
        })
        .collect();
    captures.sort();
    let dir = tempfile::tempdir().unwrap();
    let records = jsonl_of(&captures, dir.path());
    assert!(records.len() > 500, "{} flows", records.len());
    assert_valid(&records);
    // Every kind of value the mapping has a branch for shows up somewhere in the corpus.
    for path in [
        "tls.version",
        "tls.server.issuer",
        "tls.server.x509.alternative_names",
        "dns.question.name",
        "user_agent.original",
        "url.domain",
    ] {
        assert!(
            records.iter().any(|r| !common::field(r, path).is_null()),
            "no flow of the corpus has {path}"
        );
    }
}

#[test]
fn the_validator_rejects_wrong_types() {
    let bad = serde_json::json!({
        "@timestamp": "yesterday",
        "ecs": {"version": "8.11.0"},
        "source": {"ip": "not-an-ip", "port": 70000},
        "destination": {"ip": "192.0.2.1"},
        "network": {"iana_number": 6, "direction": "sideways", "made_up": "x"},
        "event": {"start": "2026-01-01T00:00:00Z"}
    });
    let problems = validate(&bad);
    for expected in [
        "@timestamp",
        "source.ip",
        "source.port",
        "network.iana_number",
        "network.direction",
        "network.made_up",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected} not caught: {problems:#?}"
        );
    }
}
