//! The audit report: from a flow table (the typed Parquet layout, from `analyze` or read back
//! from flow files) and the run's metadata to the verdict, ports matrix, findings, firewall
//! rules, clients, top talkers, timeline and never-seen endpoints. Every table and aggregation
//! is a polars operation over the flow frame; rendering (Markdown, HTML, CSV, lists) is separate
//! (`render`, `firewall`).

pub mod findings;
pub mod firewall;
pub mod groups;
pub mod nat;
pub mod overview;
pub mod render;
pub mod svg;
mod tables;
pub mod temporal;
pub mod tenants;
mod visibility;

use polars::prelude::*;
use serde::Serialize;

use super::meta::RunMeta;
use crate::catalog::{Catalog, EndpointId};
use crate::classify::{FlowPath, PortVerdict, Target};
use crate::wire::Transport;
use findings::Finding;
use tables::{caveats, paths_table};
use temporal::Temporal;

/// A table as rendered: headers, text cells, which columns are numeric (right-aligned, sorted
/// as numbers).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Table {
    pub id: &'static str,
    pub title: String,
    pub columns: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

/// One bar of the verdict chart: a service area's Office 365 bytes per port verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VerdictBar {
    pub service_area: String,
    /// (port verdict, bytes), in `PortVerdict::ALL` order.
    pub parts: Vec<(String, i64)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub flows: i64,
    pub bytes: i64,
    pub o365_flows: i64,
    pub o365_bytes: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub bucket_seconds: i64,
    /// (bucket start in ns since the epoch, service area, bytes of flows starting in it).
    pub points: Vec<(i64, String, i64)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AuditReport {
    pub meta: RunMeta,
    pub caveats: Vec<String>,
    pub totals: Totals,
    /// The summary on top of the report.
    pub overview: overview::Overview,
    pub verdict: Table,
    pub verdict_bars: Vec<VerdictBar>,
    pub ports: Table,
    pub paths: Table,
    /// Office 365 tenants reached, and which is the company's own.
    pub tenants: Table,
    /// Office 365 bytes and flows whose server name was read, hidden or not carried.
    pub names: Table,
    /// Peak concurrent Office 365 TCP connections per source address.
    pub connections: Table,
    pub findings: Vec<Finding>,
    pub firewall: Table,
    pub firewall_sets: Vec<firewall::ObservedSet>,
    pub clients: Table,
    pub talkers: Table,
    pub timeline: Timeline,
    pub never_seen: Table,
}

/// Columns the report adds to the flow frame before any table is built.
pub(crate) const BYTES: &str = "bytes";
pub(crate) const PORT: &str = "port";
pub(crate) const O365: &str = "o365";
pub(crate) const START_NS: &str = "start_ns";
pub(crate) const END_NS: &str = "end_ns";
/// The flows a row stands for: 1 for a flow, more for a group of them (`groups`).
pub(crate) const FLOW_COUNT: &str = "flow_count";

/// The flows behind the rows of a frame (`FLOW_COUNT` summed).
pub(crate) fn flow_count(df: &DataFrame) -> i64 {
    ints(df, FLOW_COUNT).map_or(0, |counts| counts.iter().sum())
}

/// Which rows went through a proxy (`path = proxy`); flow files older than schema 3 have no
/// `path` column, and their flows were all judged as direct.
pub(crate) fn proxied(df: &DataFrame) -> PolarsResult<Vec<bool>> {
    if df.get_column_index("path").is_none() {
        return Ok(vec![false; df.height()]);
    }
    Ok(texts(df, "path")?
        .iter()
        .map(|p| p.as_deref() == Some(FlowPath::Proxy.as_str()))
        .collect())
}

/// Text of each value of a column (numbers and booleans as text); None for null.
pub(crate) fn texts(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    let column = df.column(name)?.cast(&DataType::String)?;
    Ok(column.str()?.iter().map(|v| v.map(str::to_owned)).collect())
}

pub(crate) fn ints(df: &DataFrame, name: &str) -> PolarsResult<Vec<i64>> {
    let column = df.column(name)?.cast(&DataType::Int64)?;
    Ok(column.i64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

pub(crate) fn bools(df: &DataFrame, name: &str) -> PolarsResult<Vec<bool>> {
    let column = df.column(name)?.cast(&DataType::Boolean)?;
    Ok(column.bool()?.iter().map(|v| v.unwrap_or(false)).collect())
}

pub(crate) fn filter(df: &DataFrame, keep: impl Iterator<Item = bool>) -> PolarsResult<DataFrame> {
    let mask: BooleanChunked = keep.collect();
    df.filter(&mask)
}

fn descending() -> SortMultipleOptions {
    SortMultipleOptions::default()
        .with_order_descending(true)
        .with_maintain_order(true)
}

/// Flows, bytes and distinct values of `distinct` per group of `keys`, most bytes first.
pub(crate) fn tally(df: &DataFrame, keys: &[&str], distinct: &str) -> PolarsResult<DataFrame> {
    df.clone()
        .lazy()
        .group_by_stable(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg([
            col(FLOW_COUNT).sum().cast(DataType::Int64).alias("flows"),
            col(BYTES).sum().cast(DataType::Int64).alias(BYTES),
            // Coarsened groups have no addresses (`groups::spill`): not a client of their own.
            col(distinct)
                .drop_nulls()
                .n_unique()
                .cast(DataType::Int64)
                .alias(format!("distinct_{distinct}")),
        ])
        .sort([BYTES], descending())
        .collect()
}

fn cell(value: AnyValue<'_>) -> String {
    match value {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => s.to_owned(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Boolean(b) => if b { "yes" } else { "no" }.to_owned(),
        other => other.to_string(),
    }
}

/// A frame as a rendered table, with the given header names.
pub(crate) fn table_of(
    id: &'static str,
    title: &str,
    df: &DataFrame,
    headers: &[&str],
) -> PolarsResult<Table> {
    let columns = df.columns();
    let numeric = columns
        .iter()
        .map(|c| c.dtype().is_primitive_numeric())
        .collect();
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut row = Vec::with_capacity(columns.len());
        for c in columns {
            row.push(cell(c.get(i)?));
        }
        rows.push(row);
    }
    let mut names: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    names.extend(
        columns
            .iter()
            .skip(headers.len())
            .map(|c| c.name().to_string()),
    );
    Ok(Table {
        id,
        title: title.to_owned(),
        columns: names,
        numeric,
        rows,
    })
}

/// The flow frame with the report's helper columns, in a fixed row order (so a report over
/// several flow files equals one over the captures analysed together).
pub fn prepare(flows: &DataFrame) -> PolarsResult<DataFrame> {
    let mut df = flows.clone();
    df.with_column(Column::new(FLOW_COUNT.into(), vec![1i64; df.height()]))?;
    let c2s = ints(&df, "bytes_c2s")?;
    let s2c = ints(&df, "bytes_s2c")?;
    let bytes: Vec<i64> = c2s.iter().zip(&s2c).map(|(a, b)| a + b).collect();
    df.with_column(Column::new(BYTES.into(), bytes))?;
    // The port a flow is judged on: a proxied flow's target port (`Target::of`), so a proxy's
    // own port never shows as an Office 365 port.
    let transport = texts(&df, "transport")?;
    let port = ints(&df, "server_port")?;
    let proxied = proxied(&df)?;
    let target = texts(&df, "proxy_target")?;
    let ports: Vec<String> = (0..df.height())
        .map(|i| {
            let server_port = port
                .get(i)
                .and_then(|p| u16::try_from(*p).ok())
                .unwrap_or(0);
            let transport = match transport.get(i).cloned().flatten().as_deref() {
                Some("tcp") => Transport::Tcp,
                Some("udp") => Transport::Udp,
                other => return format!("{}/{server_port}", other.unwrap_or("")),
            };
            let target = Target::of(
                transport,
                server_port,
                proxied.get(i).copied().unwrap_or(false),
                target.get(i).and_then(|t| t.as_deref()),
            );
            format!("{}/{}", target.transport.as_str(), target.port)
        })
        .collect();
    df.with_column(Column::new(PORT.into(), ports))?;
    let area = texts(&df, "service_area")?;
    let by = texts(&df, "matched_by")?;
    // Office 365 traffic: matched a set of Microsoft's catalog (not only the user's entries).
    let o365: Vec<bool> = area
        .iter()
        .zip(&by)
        .map(|(a, b)| a.is_some() && b.as_deref() != Some("user"))
        .collect();
    df.with_column(Column::new(O365.into(), o365))?;
    tenants::with_tenant(&mut df)?;
    let start = df.column("first_seen")?.cast(&DataType::Int64)?;
    df.with_column(start.with_name(START_NS.into()))?;
    let end = df.column("last_seen")?.cast(&DataType::Int64)?;
    df.with_column(end.with_name(END_NS.into()))?;
    df.sort(
        [
            START_NS,
            "client_ip",
            "client_port",
            "server_ip",
            "server_port",
            "transport",
        ],
        SortMultipleOptions::default().with_maintain_order(true),
    )
}

fn human_share(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "0.0%".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// The verdict chart's stacking order: the web ports first, the exceptions last.
const CHART_ORDER: [PortVerdict; 5] = [
    PortVerdict::Tunneled443,
    PortVerdict::Quic443,
    PortVerdict::Web80,
    PortVerdict::Exotic,
    PortVerdict::NonTls443,
];

/// What the report is built from: the flows grouped ([`groups`]) and their times
/// ([`Temporal`]). Gathered at once from a flow table ([`Gathered::of`]) or batch by batch
/// ([`Gathered::bounded`], [`Gathered::add`]), with the same result while no limit is reached.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    pub groups: Option<DataFrame>,
    pub temporal: Temporal,
    /// What went over the limit on groups ([`Gathered::limit`]).
    pub overflow: groups::Overflow,
}

impl Gathered {
    /// Every flow of a flow table, with no limit (the table is in memory anyway).
    pub fn of(flows: &DataFrame) -> PolarsResult<Gathered> {
        let mut gathered = Gathered::default();
        gathered.add(flows)?;
        Ok(gathered)
    }

    /// An empty gathering whose record of connection times keeps a bounded number of entries
    /// (a live run: memory must not grow with the hours run).
    pub fn bounded() -> Gathered {
        Gathered {
            temporal: Temporal::bounded(),
            ..Gathered::default()
        }
    }

    /// Adds a flow table's rows.
    pub fn add(&mut self, flows: &DataFrame) -> PolarsResult<()> {
        let df = prepare(flows)?;
        let o365 = filter(&df, bools(&df, O365)?.into_iter())?;
        // Grouping first: when it fails, neither part of the gathering has the batch.
        let grouped = groups::group(&df)?;
        let merged = match &self.groups {
            None => grouped,
            Some(before) => groups::merge(before, &grouped)?,
        };
        self.temporal.add(&o365)?;
        self.groups = Some(merged);
        Ok(())
    }

    /// Keeps at most `max_groups` groups (and the one of flows only the totals count), as
    /// [`groups::spill`] does, counting what it changed in `overflow`.
    pub fn limit(&mut self, max_groups: usize) -> PolarsResult<()> {
        if let Some(groups) = &self.groups {
            let (kept, spilled) = groups::spill(groups, max_groups)?;
            self.groups = Some(kept);
            // Coarsened: what the groups hold now; demoted: every flow moved so far.
            if spilled != groups::Overflow::default() {
                self.overflow.coarsened = spilled.coarsened;
            }
            self.overflow.demoted.add(spilled.demoted);
        }
        Ok(())
    }

    /// What the limits cost the report, for its header.
    pub fn caveats(&self) -> Vec<String> {
        let mut out = Vec::new();
        let (coarse, demoted) = (self.overflow.coarsened, self.overflow.demoted);
        if coarse.flows > 0 {
            out.push(format!(
                "{} flows ({} of them Office 365, {} bytes) are kept without their client or server address (the report's limit of flow groups; Teams flows keep their client, proxied ones their proxy): they count in every table's flows and bytes, but not in client counts or top talkers, and their evidence lines show no address",
                coarse.flows, coarse.o365, coarse.bytes
            ));
        }
        if demoted.flows > 0 {
            out.push(format!(
                "{} flows ({} of them Office 365, {} bytes) went over the report's limit of flow groups: they count in the totals only, as other traffic (the connections table and timeline still have them)",
                demoted.flows, demoted.o365, demoted.bytes
            ));
        }
        let evicted = self.temporal.evicted;
        if evicted.connections > 0 {
            out.push(format!(
                "the connections table left out {} connections: it keeps the times of at most {} (the earliest went first)",
                evicted.connections,
                temporal::MAX_INTERVALS
            ));
        }
        if evicted.quic_blocked > 0 {
            out.push(format!(
                "the quic-blocked finding left out {} QUIC attempts or TCP 443 connections: it keeps the times of at most {} of each (the earliest went first)",
                evicted.quic_blocked,
                temporal::MAX_INTERVALS
            ));
        }
        out
    }

    /// Groups kept.
    pub fn len(&self) -> usize {
        self.groups.as_ref().map_or(0, DataFrame::height)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds every table and finding of the report from a flow table.
pub fn build(flows: &DataFrame, meta: &RunMeta, catalog: &Catalog) -> PolarsResult<AuditReport> {
    build_gathered(&Gathered::of(flows)?, meta, catalog)
}

/// Builds every table and finding of the report from grouped flows and their times.
pub fn build_gathered(
    gathered: &Gathered,
    meta: &RunMeta,
    catalog: &Catalog,
) -> PolarsResult<AuditReport> {
    let df = match &gathered.groups {
        Some(groups) => groups.clone(),
        None => Gathered::of(&crate::report::frame::flows_frame(
            &[],
            crate::report::frame::Layout::Typed,
        )?)?
        .groups
        .unwrap_or_default(),
    };
    let temporal = &gathered.temporal;
    let o365 = filter(&df, bools(&df, O365)?.into_iter())?;
    let totals = Totals {
        flows: flow_count(&df),
        bytes: ints(&df, BYTES)?.iter().sum(),
        o365_flows: flow_count(&o365),
        o365_bytes: ints(&o365, BYTES)?.iter().sum(),
    };

    // 2. Verdict: Office 365 flows and bytes per service area and port verdict.
    let mut verdict_df = tally(&o365, &["service_area", "port_verdict"], "client_ip")?;
    let verdict_bytes = ints(&verdict_df, BYTES)?;
    let shares: Vec<String> = verdict_bytes
        .iter()
        .map(|b| human_share(*b, totals.o365_bytes))
        .collect();
    verdict_df.with_column(Column::new("share_of_o365_bytes".into(), shares))?;
    let verdict_df = verdict_df.sort(
        ["service_area", BYTES],
        SortMultipleOptions::default()
            .with_order_descending_multi([false, true])
            .with_maintain_order(true),
    )?;
    let verdict = table_of(
        "verdict",
        "Office 365 traffic per service area and port verdict",
        &verdict_df,
        &[
            "service area",
            "port verdict",
            "flows",
            "bytes",
            "clients",
            "share of Office 365 bytes",
        ],
    )?;
    let verdict_bytes = ints(&verdict_df, BYTES)?;
    let areas = texts(&verdict_df, "service_area")?;
    let verdicts = texts(&verdict_df, "port_verdict")?;
    let mut verdict_bars: Vec<VerdictBar> = Vec::new();
    for ((area, v), bytes) in areas.iter().zip(&verdicts).zip(&verdict_bytes) {
        let area = area.clone().unwrap_or_default();
        if verdict_bars.last().map(|b| &b.service_area) != Some(&area) {
            verdict_bars.push(VerdictBar {
                service_area: area,
                parts: CHART_ORDER
                    .iter()
                    .map(|v| (v.as_str().to_owned(), 0))
                    .collect(),
            });
        }
        if let Some(bar) = verdict_bars.last_mut() {
            if let Some(part) = bar
                .parts
                .iter_mut()
                .find(|(name, _)| Some(name) == v.as_ref())
            {
                part.1 += bytes;
            }
        }
    }

    // 3. Ports matrix: service area x transport/port, and whether Microsoft lists the port.
    let ports_df = tally(&o365, &["service_area", PORT, "port_listed"], "client_ip")?.sort(
        ["service_area", BYTES],
        SortMultipleOptions::default()
            .with_order_descending_multi([false, true])
            .with_maintain_order(true),
    )?;
    let ports = table_of(
        "ports",
        "Ports matrix: service area x transport/port",
        &ports_df,
        &[
            "service area",
            "transport/port",
            "Microsoft lists the port",
            "flows",
            "bytes",
            "clients",
        ],
    )?;

    // 4. Paths: direct, or through which proxy (with how many clients use it).
    let paths = paths_table(&o365)?;

    // 5. Firewall rules for the observed endpoint sets.
    let (firewall, firewall_sets) = firewall::rules(&o365, catalog)?;

    // 6. Clients: which client types talk to which services, on which ports.
    let has_client: Vec<bool> = texts(&df, "client_app")?
        .iter()
        .map(Option::is_some)
        .collect();
    let with_client = filter(&df, has_client.into_iter())?;
    let clients_df = tally(
        &with_client,
        &["client_app", "service_area", PORT],
        "client_ip",
    )?;
    let clients = table_of(
        "clients",
        "Clients: which programs reach which services, on which ports",
        &clients_df,
        &[
            "client",
            "service area",
            "transport/port",
            "flows",
            "bytes",
            "client addresses",
        ],
    )?;

    // 7. Top talkers: internal clients by Office 365 bytes.
    let talkers_df = tally(&o365, &["client_ip"], "service_area")?
        .lazy()
        .filter(col("client_ip").is_not_null())
        .collect()?
        .head(Some(20));
    let talkers = table_of(
        "talkers",
        "Top talkers: clients by Office 365 bytes",
        &talkers_df,
        &["client", "flows", "bytes", "service areas"],
    )?;
    let timeline = temporal.timeline();

    // 8. Required endpoints never seen.
    let seen: std::collections::BTreeSet<i64> = ints(&o365, "endpoint_id")?.into_iter().collect();
    let never: Vec<&crate::catalog::EndpointSet> = catalog
        .sets()
        .iter()
        .filter(|s| s.required && !seen.contains(&i64::from(s.id.0)))
        .collect();
    let never_df = DataFrame::new_infer_height(vec![
        Column::new(
            "endpoint_id".into(),
            never.iter().map(|s| i64::from(s.id.0)).collect::<Vec<_>>(),
        ),
        Column::new(
            "service_area".into(),
            never
                .iter()
                .map(|s| s.service_area.as_str().to_owned())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "category".into(),
            never
                .iter()
                .map(|s| s.category.as_str().to_owned())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "ports".into(),
            never
                .iter()
                .map(|s| firewall::ports_text(s))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "destinations".into(),
            never
                .iter()
                .map(|s| firewall::destinations_preview(s))
                .collect::<Vec<_>>(),
        ),
    ])?;
    let never_seen = table_of(
        "never-seen",
        "Required endpoint sets never seen",
        &never_df,
        &[
            "endpoint set",
            "service area",
            "category",
            "ports",
            "destinations",
        ],
    )?;

    let mut findings = findings::all(&df, &o365, temporal, catalog)?;
    let (tenants, own_tenants, foreign) = tenants::tenants(&o365, meta)?;
    findings.extend(foreign);
    let (names, coverage) = visibility::names(&o365)?;
    findings.extend(coverage);
    let (connections, nat) = nat::pressure(temporal)?;
    findings.extend(nat);
    findings.sort_by_key(|f| f.severity);
    let overview =
        overview::overview(&o365, meta, &totals, &firewall_sets, &findings, own_tenants)?;
    let mut caveats = caveats(meta);
    caveats.extend(gathered.caveats());
    Ok(AuditReport {
        meta: meta.clone(),
        caveats,
        totals,
        overview,
        verdict,
        verdict_bars,
        ports,
        paths,
        tenants,
        names,
        connections,
        findings,
        firewall,
        firewall_sets,
        clients,
        talkers,
        timeline,
        never_seen,
    })
}

/// Each row's server as `address:port` (`[v6]:port`): how a proxy is named.
pub(crate) fn server_endpoints(df: &DataFrame) -> PolarsResult<Vec<String>> {
    let server = texts(df, "server_ip")?;
    let port = ints(df, "server_port")?;
    Ok(server
        .into_iter()
        .zip(port)
        .map(|(ip, port)| {
            let ip = ip.unwrap_or_default();
            if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            }
        })
        .collect())
}

/// The catalog set for an id from the flow table (user entries are not in it).
pub(crate) fn catalog_set(catalog: &Catalog, id: i64) -> Option<&crate::catalog::EndpointSet> {
    u32::try_from(id)
        .ok()
        .and_then(|id| catalog.set(EndpointId(id)))
}
