//! The flow schema is versioned: its columns and Parquet types for the current `SCHEMA_VERSION`
//! are recorded in tests/data/schema-vN.txt. Changing a column without raising the version (and
//! recording the new schema) fails here; so does raising it without recording.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use o365flow::report::columns::COLUMNS;
use o365flow::report::ecs::EcsFlow;
use o365flow::report::frame::{flows_frame, Layout};
use o365flow::report::row::SCHEMA_VERSION;
use o365flow::report::FlowRow;

fn current_schema() -> String {
    let rows = common::analyze_one(&common::samples_dir().join("teams.pcap")).flows;
    let df = flows_frame(&rows, Layout::Typed).unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, COLUMNS, "the frame's columns are COLUMNS, in order");
    let mut out: String = df
        .columns()
        .iter()
        .map(|c| format!("{} {}\n", c.name(), c.dtype()))
        .collect();
    for path in jsonl_fields(&rows[0]) {
        out.push_str(&format!("jsonl {path}\n"));
    }
    out
}

/// Every field path the JSON-lines writer can produce: a row with every optional value filled
/// (twice: a TLS version ECS has a form for, and one it has not).
fn jsonl_fields(row: &FlowRow) -> std::collections::BTreeSet<String> {
    let text = |s: &str| Some(s.to_owned());
    let list = |s: &str| vec![s.to_owned()];
    let mut full = row.clone();
    full.app_protocol = o365flow::dissect::AppProtocol::Tls;
    full.transport = o365flow::wire::Transport::Tcp;
    full.tcp_flags_c2s = "S".to_owned();
    full.tcp_flags_s2c = "SA".to_owned();
    full.sni = text("a.example");
    full.alpn = list("h2");
    full.tls_offered = list("1.3");
    full.service_area = Some(o365flow::catalog::ServiceArea::Exchange);
    full.endpoint_id = Some(o365flow::catalog::EndpointId(1));
    full.category = Some(o365flow::catalog::Category::Optimize);
    full.matched_by = Some(o365flow::classify::MatchedBy::Sni);
    full.port_listed = Some(true);
    full.evidence = list("sni:a");
    full.quic_version = text("0x00000001");
    full.tunnel = "vlan".to_owned();
    full.http_host = text("a.example");
    full.proxy_target = text("a.example:443");
    full.via_proxy = true;
    full.dns_query = text("a.example");
    full.dns_name = text("a.example");
    full.media_seen = list("stun");
    full.detected_by = Some("payload");
    full.ja4 = text("t13d");
    full.ech = true;
    full.tls_incomplete = true;
    full.tls_version = text("1.3");
    full.alpn_selected = text("h2");
    full.cert_names = list("a.example");
    full.cert_issuer = text("CN=x");
    full.user_agent = text("x");
    full.client_app = text("teams-desktop");
    full.client_confidence = Some(o365flow::classify::client::Confidence::High);
    full.client_evidence = list("rule=x");
    full.published_service = text("adfs");
    full.tenant = text("contoso");
    let mut draft = full.clone();
    draft.tls_version = text("1.3-draft18");
    let mut paths = std::collections::BTreeSet::new();
    for r in [&full, &draft] {
        let value = serde_json::to_value(EcsFlow::from(r)).unwrap();
        common::flatten_json("", &value, &mut |path, _| {
            paths.insert(path.to_owned());
        });
    }
    paths
}

#[test]
fn schema_changes_raise_the_version() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/schema-v{SCHEMA_VERSION}.txt"));
    let now = current_schema();
    // Records a new version only: an existing version's file is never rewritten.
    if std::env::var_os("UPDATE_SCHEMA").is_some() && !path.exists() {
        std::fs::write(&path, &now).unwrap();
    }
    let recorded = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: record the schema of version {SCHEMA_VERSION} (UPDATE_SCHEMA=1 cargo test --test schema)",
            path.display()
        )
    });
    assert!(
        recorded == now,
        "the flow schema changed but SCHEMA_VERSION is still {SCHEMA_VERSION}: raise it in src/report/row.rs, record tests/data/schema-v{{N}}.txt (UPDATE_SCHEMA=1) and document the change in the README"
    );
}

/// The inline sizes that set memory per tracked flow (BENCHMARKS.md): a guard against silent
/// growth of the flow table entry and the output row.
#[test]
fn per_flow_sizes_stay_within_budget() {
    let entry = std::mem::size_of::<o365flow::flow::FlowEntry<o365flow::dissect::FlowDissect>>();
    let row = std::mem::size_of::<o365flow::report::FlowRow>();
    eprintln!("size_of FlowEntry<FlowDissect> = {entry} bytes, FlowRow = {row} bytes");
    assert!(entry <= 224, "flow table entry grew to {entry} bytes");
    assert!(row <= 768, "flow row grew to {row} bytes");
}

/// The column table names each column's JSON-lines field; the JSON writer must emit every one
/// of them (for a row with every optional value filled), and no two columns share a field.
#[test]
fn every_column_reaches_its_json_field() {
    use o365flow::report::columns::{ColumnType, COLUMN_TABLE};
    let rows = common::analyze_one(&common::samples_dir().join("teams.pcap")).flows;
    let fields = jsonl_fields(&rows[0]);
    let mut seen = std::collections::BTreeSet::new();
    for def in &COLUMN_TABLE {
        assert!(
            fields.contains(def.json),
            "column {} names JSON field {}, which the writer does not emit",
            def.name,
            def.json
        );
        assert!(seen.insert(def.json), "two columns claim {}", def.json);
        // A column's cell has the variant its type promises.
        let cell = (def.get)(&rows[0]);
        let matches = matches!(
            (def.ty, &cell),
            (ColumnType::Text, o365flow::report::columns::Cell::Text(_))
                | (ColumnType::List, o365flow::report::columns::Cell::List(_))
                | (ColumnType::Time, o365flow::report::columns::Cell::Time(..))
                | (
                    ColumnType::Address,
                    o365flow::report::columns::Cell::Address(_)
                )
                | (ColumnType::Int, o365flow::report::columns::Cell::Int(_))
                | (ColumnType::Count, o365flow::report::columns::Cell::Count(_))
                | (
                    ColumnType::OptionalId,
                    o365flow::report::columns::Cell::OptionalId(_)
                )
                | (ColumnType::Bool, o365flow::report::columns::Cell::Bool(_))
                | (
                    ColumnType::OptionalBool,
                    o365flow::report::columns::Cell::OptionalBool(_)
                )
        );
        assert!(
            matches,
            "column {} reads {cell:?} for {:?}",
            def.name, def.ty
        );
    }
    assert_eq!(seen.len(), COLUMNS.len());
}
