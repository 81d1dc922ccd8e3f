//! The flow table in its three formats carries the same columns, in order, with the documented
//! types; `--catalog` replaces the embedded catalog and a broken one is refused by name.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use o365flow::report::columns::COLUMNS;
use o365flow::report::write_flows;
use polars::prelude::*;

#[test]
fn csv_parquet_and_jsonl_share_the_schema() {
    let analysis = common::analyze_one(&common::samples_dir().join("teams.pcap"));
    let dir = tempfile::tempdir().unwrap();
    let (csv, parquet, jsonl) = (
        dir.path().join("f.csv"),
        dir.path().join("f.parquet"),
        dir.path().join("f.jsonl"),
    );
    for p in [&csv, &parquet, &jsonl] {
        write_flows(&analysis.flows, p).unwrap();
    }
    let n = analysis.flows.len();
    assert_eq!(n, 83);

    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next().unwrap(), COLUMNS.join(","));
    assert_eq!(text.lines().count(), n + 1);

    let df = ParquetReader::new(std::fs::File::open(&parquet).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), n);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, COLUMNS);
    let dtype = |c: &str| df.column(c).unwrap().dtype().clone();
    assert_eq!(
        dtype("first_seen"),
        DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
    );
    assert_eq!(dtype("alpn"), DataType::List(Box::new(DataType::String)));
    assert_eq!(dtype("bytes_c2s"), DataType::Int64);
    assert_eq!(dtype("server_port"), DataType::Int32);
    assert_eq!(dtype("port_listed"), DataType::Boolean);
    assert_eq!(dtype("endpoint_id"), DataType::Int64);
    let total: i64 = df
        .column("bytes_c2s")
        .unwrap()
        .i64()
        .unwrap()
        .sum()
        .unwrap()
        + df.column("bytes_s2c")
            .unwrap()
            .i64()
            .unwrap()
            .sum()
            .unwrap();
    let expected: u64 = analysis
        .flows
        .iter()
        .map(|f| f.bytes_c2s + f.bytes_s2c)
        .sum();
    assert_eq!(total as u64, expected);

    let lines = common::read_jsonl(&jsonl);
    assert_eq!(lines.len(), n);
    // ECS names (tests/ecs.rs checks their types): the same flows, in the same order.
    for (v, row) in lines.iter().zip(&analysis.flows) {
        assert_eq!(common::field(v, "source.ip"), &row.client_ip.to_string());
        if row.transport.has_ports() {
            assert_eq!(common::field(v, "destination.port"), row.server_port);
        } else {
            assert!(common::field(v, "destination.port").is_null());
        }
        assert_eq!(
            common::field(v, "network.transport"),
            row.transport.as_str()
        );
        assert_eq!(common::field(v, "o365flow.capture"), row.capture.as_str());
    }
    let teams = lines
        .iter()
        .find(|v| common::field(v, "tls.client.server_name") == "teams.microsoft.com")
        .unwrap();
    assert_eq!(
        common::field(teams, "o365flow.alpn"),
        &serde_json::json!(["h2", "http/1.1"])
    );
    assert_eq!(common::field(teams, "o365flow.endpoint_id"), 12);
    assert_eq!(common::field(teams, "o365flow.service_area"), "Skype");
}

#[test]
fn catalog_flag_replaces_the_embedded_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let custom = dir.path().join("lab.json");
    std::fs::write(
        &custom,
        r#"[{"id": 900, "serviceArea": "Exchange", "serviceAreaDisplayName": "Lab",
             "urls": ["*.office365.com"], "ips": ["127.0.0.0/8"], "tcpPorts": "18443",
             "expressRoute": false, "category": "Optimize", "required": true}]"#,
    )
    .unwrap();
    let flows = dir.path().join("f.csv");
    let out = common::o365flow_command()
        .args(["analyze", "-q"])
        .arg(common::samples_dir().join("local-sll2-o365-tls.pcap"))
        .arg("--catalog")
        .arg(&custom)
        .arg("--flows")
        .arg(&flows)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&flows).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    // outlook.office365.com by name on a listed port; the others by the loopback prefix.
    assert!(
        rows[0].contains(
            ",outlook.office365.com,h2|http/1.1,1.2,Exchange,900,Optimize,sni,true,exotic,"
        ),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains(",contoso.sharepoint.com,,1.2,Exchange,900,Optimize,ip,true,exotic,"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains(",Exchange,900,Optimize,ip,false,exotic,"),
        "{}",
        rows[2]
    );

    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"[{"id": 5, "serviceArea": "Skype", "category": "Optimize", "udpPorts": "3478-x"}]"#,
    )
    .unwrap();
    let out = common::o365flow_command()
        .args(["analyze", "-q"])
        .arg(common::samples_dir().join("dlt_ppp.pcap"))
        .arg("--catalog")
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.json: endpoint set 5: field udpPorts"),
        "{err}"
    );
}

#[test]
fn older_and_legacy_snapshots_load() {
    let Some(shared) = common::shared_dir("older_and_legacy_snapshots_load") else {
        return;
    };
    for (file, sets) in [
        ("m365-worldwide-endpoints.older.json", 64),
        ("m365-worldwide-endpoints.legacy.json", 107),
        ("instances/m365-china-endpoints.json", 22),
        ("instances/m365-usgovdod-endpoints.json", 25),
        ("instances/m365-usgovgcchigh-endpoints.json", 26),
    ] {
        let c = o365flow::catalog::Catalog::from_file(&shared.join("catalog").join(file)).unwrap();
        assert_eq!(c.sets().len(), sets, "{file}");
    }
}

#[test]
fn catalog_extra_entries_match_as_user_at_their_signal_level() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("site.toml");
    std::fs::write(
        &extra,
        r#"
[[service]]
name = "Lab Teams front end"
category = "Allow"
tcp_ports = "18444"
names = ["teams.microsoft.com"]

[[service]]
name = "Lab servers"
prefixes = ["127.0.0.0/8"]
"#,
    )
    .unwrap();
    let flows = dir.path().join("f.jsonl");
    let out = common::o365flow_command()
        .args(["analyze", "-q"])
        .arg(common::samples_dir().join("local-sll2-o365-tls.pcap"))
        .arg("--catalog-extra")
        .arg(&extra)
        .arg("--flows")
        .arg(&flows)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = common::read_jsonl(&flows);
    let pick = |i: usize| {
        (
            common::field(&rows[i], "o365flow.service_area")
                .as_str()
                .unwrap_or("")
                .to_owned(),
            common::field(&rows[i], "o365flow.matched_by")
                .as_str()
                .unwrap_or("")
                .to_owned(),
            common::field(&rows[i], "o365flow.port_listed").as_bool(),
        )
    };
    // An SNI the catalog knows still beats the user's address entry...
    assert_eq!(
        pick(0),
        ("Exchange".to_owned(), "sni".to_owned(), Some(false))
    );
    // ...while the user's own name entry beats the catalog at the same (SNI) level.
    assert_eq!(
        pick(2),
        (
            "Lab Teams front end".to_owned(),
            "user".to_owned(),
            Some(true)
        )
    );
    assert!(common::field(&rows[2], "o365flow.evidence")
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "sni:teams.microsoft.com#12 (tcp/18444 not listed)"));
    // No name at all: the user's prefix decides.
    assert_eq!(
        pick(3),
        ("Lab servers".to_owned(), "user".to_owned(), Some(false))
    );

    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[[service]]\nname = \"x\"\nprefixes = [\"10.0.0.0/33\"]\n",
    )
    .unwrap();
    let out = common::o365flow_command()
        .args(["analyze", "-q"])
        .arg(common::samples_dir().join("dlt_ppp.pcap"))
        .arg("--catalog-extra")
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("endpoint set 1000000: field ips"));
}

/// Rows streamed out in chunks (what `analyze --flows` does without `--out`) are the rows a
/// kept run returns: none lost or doubled, each chunk sorted, and the counts agree.
#[test]
fn streamed_rows_equal_kept_rows() {
    let catalog = o365flow::catalog::Catalog::embedded().unwrap();
    let config = o365flow::AnalysisConfig::default();
    let inputs = [common::samples_dir()];
    let kept = o365flow::analyze(&inputs, &catalog, &config);
    let mut chunks: Vec<Vec<o365flow::report::FlowRow>> = Vec::new();
    let mut engine = o365flow::engine::Engine::new(&catalog, &config);
    engine.stream_rows(7, |rows| chunks.push(rows.to_vec()));
    o365flow::engine::run_files(&mut engine, &inputs, &mut NoBar);
    let streamed = engine.finish();
    assert!(streamed.flows.is_empty());
    assert!(chunks.len() > 10, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| c.len() <= 7 && !c.is_empty()));
    for chunk in &chunks {
        let mut sorted = chunk.clone();
        o365flow::engine::sort_rows(&mut sorted);
        assert!(&sorted == chunk, "each chunk is sorted");
    }
    let mut all: Vec<_> = chunks.into_iter().flatten().collect();
    o365flow::engine::sort_rows(&mut all);
    assert_eq!(all.len(), kept.flows.len());
    assert!(all == kept.flows);
    assert_eq!(streamed.tally, kept.tally);
    assert_eq!(streamed.tally.flows, kept.flows.len());
}

struct NoBar;
impl o365flow::Progress for NoBar {}

/// Each row says why its flow ended: the table's limit (`evicted`), the idle timeout of capture
/// time (`idle`) or the end of the run (`end-of-capture`).
#[test]
fn end_reasons_reach_the_rows() {
    use o365flow::flow::{EndReason, TableLimits};
    let catalog = o365flow::catalog::Catalog::embedded().unwrap();
    let count = |config: &o365flow::AnalysisConfig| {
        let rows = o365flow::analyze(
            &[common::samples_dir().join("teams.pcap")],
            &catalog,
            config,
        )
        .flows;
        let mut counts = std::collections::BTreeMap::new();
        for r in &rows {
            *counts.entry(r.end_reason.as_str()).or_insert(0) += 1;
        }
        counts.into_iter().collect::<Vec<_>>()
    };
    let default = o365flow::AnalysisConfig::default();
    assert_eq!(count(&default), [("end-of-capture", 83)]);
    let mut tiny = o365flow::AnalysisConfig {
        limits: TableLimits {
            max_flows: 8,
            ..TableLimits::default()
        },
        ..o365flow::AnalysisConfig::default()
    };
    let evicted = count(&tiny);
    assert_eq!(evicted, [("end-of-capture", 8), ("evicted", 102)]);
    tiny.limits = TableLimits {
        idle_timeout: o365flow::time::Duration::from_secs(1),
        ..TableLimits::default()
    };
    let idle = count(&tiny);
    assert_eq!(idle, [("end-of-capture", 12), ("idle", 93)]);
    assert_eq!(EndReason::PortReuse.as_str(), "port-reuse");
}
