//! Flows grouped by every value the report's tables and findings read: the tables need counts
//! and bytes per group, not every row, so a group of equal flows is one row with its flow count
//! (`FLOW_COUNT`), bytes, first start and last end. `analyze` and `report` group all their rows
//! at once; a live run groups each batch of ended flows and merges it into the groups so far
//! ([`merge`]), which gives the same groups, so its report equals one rebuilt from its parts.
//!
//! Flows that only the totals count (not Office 365, not Microsoft, no client program, no
//! published service, nothing a finding looks for: most of a mirror port's traffic) lose their
//! values before grouping, so they make one group however many servers they reach.

use polars::prelude::*;

use super::{bools, ints, texts, BYTES, END_NS, FLOW_COUNT, O365, PORT, START_NS};
use crate::classify::PortVerdict;

/// The columns a group is made of (those present: older flow files lack some).
const KEY: [&str; 30] = [
    "client_ip",
    "server_ip",
    "server_port",
    "transport",
    O365,
    PORT,
    "service_area",
    "endpoint_id",
    "category",
    "matched_by",
    "port_listed",
    "port_verdict",
    "app_protocol",
    "sni",
    "http_host",
    "proxy_target",
    "dns_name",
    "path",
    "tenant",
    "client_app",
    "microsoft",
    "published_service",
    "outcome",
    "server_answered",
    "tls_incomplete",
    "tls_version",
    "cert_issuer",
    "ech",
    // Read for presence only (visibility): a fingerprint and the SYN flag.
    "ja4",
    "tcp_flags_c2s",
];

const COUNTS_ONLY: &str = "_counts_only";

/// Rows only the totals count: nothing in the report looks at them beyond their flow count and
/// bytes (see `findings::all` and the clients table, which read rows beyond Office 365).
fn counts_only(df: &DataFrame) -> PolarsResult<Vec<bool>> {
    let o365 = bools(df, O365)?;
    let microsoft = texts(df, "microsoft")?;
    let client_app = texts(df, "client_app")?;
    let published = texts(df, "published_service")?;
    let verdict = texts(df, "port_verdict")?;
    let app = texts(df, "app_protocol")?;
    let port = ints(df, "server_port")?;
    Ok((0..df.height())
        .map(|i| {
            fn text(c: &[Option<String>], i: usize) -> Option<&str> {
                c.get(i).and_then(|v| v.as_deref())
            }
            // The legacy-protocols finding reads these for any flow.
            let legacy = match text(&app, i) {
                Some("pop3" | "imap" | "smtp" | "sip") => true,
                Some("tls") => matches!(port.get(i), Some(993 | 995 | 465)),
                _ => false,
            };
            !o365.get(i).copied().unwrap_or(false)
                && text(&microsoft, i) != Some("unlisted")
                && text(&client_app, i).is_none()
                && text(&published, i).is_none()
                && text(&verdict, i) != Some(PortVerdict::NonTls443.as_str())
                && !legacy
        })
        .collect())
}

/// The ja4 and TCP flags columns reduced to what the report reads of them.
fn presence_only(df: &mut DataFrame) -> PolarsResult<()> {
    if df.get_column_index("ja4").is_some() {
        let ja4: Vec<Option<&str>> = texts(df, "ja4")?
            .iter()
            .map(|v| v.as_ref().map(|_| "seen"))
            .collect();
        df.with_column(Column::new("ja4".into(), ja4))?;
    }
    if df.get_column_index("tcp_flags_c2s").is_some() {
        let flags: Vec<Option<&str>> = texts(df, "tcp_flags_c2s")?
            .iter()
            .map(|v| v.as_ref().map(|f| if f.contains('S') { "S" } else { "" }))
            .collect();
        df.with_column(Column::new("tcp_flags_c2s".into(), flags))?;
    }
    Ok(())
}

/// Groups a prepared frame (`prepare`) or a stack of grouped frames: one row per group, in a
/// fixed order (first start, then the key), so the report's tables list ties the same way
/// however the flows were gathered.
pub fn group(df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut df = df.clone();
    presence_only(&mut df)?;
    let only = counts_only(&df)?;
    df.with_column(Column::new(COUNTS_ONLY.into(), only))?;
    let key: Vec<&str> = KEY
        .iter()
        .copied()
        .filter(|k| df.get_column_index(k).is_some())
        .collect();
    let mut blank = Vec::with_capacity(key.len());
    for k in &key {
        if *k == O365 {
            continue;
        }
        let dtype = df.column(k)?.dtype().clone();
        blank.push(
            when(col(COUNTS_ONLY))
                .then(lit(NULL).cast(dtype))
                .otherwise(col(*k))
                .alias(*k),
        );
    }
    let mut order: Vec<&str> = vec![START_NS];
    order.extend(key.iter().copied());
    df.lazy()
        .with_columns(blank)
        .group_by(key.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg([
            col(FLOW_COUNT)
                .sum()
                .cast(DataType::Int64)
                .alias(FLOW_COUNT),
            col(BYTES).sum().cast(DataType::Int64).alias(BYTES),
            col(START_NS).min().alias(START_NS),
            col(END_NS).max().alias(END_NS),
        ])
        .sort(
            order,
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()
}

/// The groups of two grouped frames together (the same as grouping their rows at once).
pub fn merge(a: &DataFrame, b: &DataFrame) -> PolarsResult<DataFrame> {
    let mut both = a.clone();
    both.vstack_mut(&b.select(a.get_column_names().into_iter().cloned())?)?;
    group(&both)
}

/// Flows, Office 365 flows among them, and bytes of some groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spilled {
    pub flows: u64,
    pub o365: u64,
    pub bytes: u64,
}

impl Spilled {
    fn of(df: &DataFrame) -> PolarsResult<Spilled> {
        let counts = ints(df, FLOW_COUNT)?;
        let o365 = bools(df, O365)?;
        let unsigned = |v: &i64| u64::try_from(*v).unwrap_or(0);
        Ok(Spilled {
            flows: counts.iter().map(unsigned).sum(),
            o365: counts
                .iter()
                .zip(&o365)
                .filter(|(_, o)| **o)
                .map(|(c, _)| unsigned(c))
                .sum(),
            bytes: ints(df, BYTES)?.iter().map(unsigned).sum(),
        })
    }

    pub fn add(&mut self, other: Spilled) {
        self.flows += other.flows;
        self.o365 += other.o365;
        self.bytes += other.bytes;
    }
}

/// What [`spill`] did to keep within the limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overflow {
    /// Flows now in groups without a client or server address (merged with others).
    pub coarsened: Spilled,
    /// Flows whose groups lost everything but their counts: they count as other traffic.
    pub demoted: Spilled,
}

/// Coarsening drops the client address, except of Teams flows (the media-fallback finding
/// pairs a client's UDP media with its TCP 443), and the server address, except of flows
/// through a proxy (its address names the proxy in the Paths table and findings). Names,
/// endpoint sets, ports, verdicts and outcomes stay, so every table and finding keeps the
/// flows and bytes.
fn coarsened(df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut set = Vec::new();
    let teams = col("service_area").eq(lit(crate::catalog::ServiceArea::Skype.as_str()));
    let proxied = if df.get_column_index("path").is_some() {
        col("path").eq(lit(crate::classify::FlowPath::Proxy.as_str()))
    } else {
        lit(false)
    };
    for (k, keep) in [("client_ip", teams), ("server_ip", proxied)] {
        let dtype = df.column(k)?.dtype().clone();
        set.push(
            when(keep.fill_null(lit(false)))
                .then(col(k))
                .otherwise(lit(NULL).cast(dtype))
                .alias(k),
        );
    }
    df.clone().lazy().with_columns(set).collect()
}

/// Which groups are coarse: a row of flows has both addresses, a coarsened group lacks one.
fn coarse(df: &DataFrame) -> PolarsResult<Vec<bool>> {
    Ok(texts(df, "client_ip")?
        .iter()
        .zip(texts(df, "server_ip")?)
        .map(|(c, s)| c.is_none() || s.is_none())
        .collect())
}

/// Each row's values apart from the addresses, as one text: rows equal in it merge once
/// coarsened (near enough: a kept address of a Teams or proxied row only splits more).
fn signatures(df: &DataFrame) -> PolarsResult<Vec<String>> {
    let columns: Vec<Vec<Option<String>>> = KEY
        .iter()
        .filter(|k| !matches!(**k, "client_ip" | "server_ip"))
        .filter(|k| df.get_column_index(k).is_some())
        .map(|k| texts(df, k))
        .collect::<PolarsResult<_>>()?;
    Ok((0..df.height())
        .map(|i| {
            let mut sig = String::new();
            for c in &columns {
                if let Some(Some(v)) = c.get(i) {
                    sig.push_str(v);
                }
                sig.push('\u{1f}');
            }
            sig
        })
        .collect())
}

fn with_nulls(df: &DataFrame, columns: &[&str], o365: Option<bool>) -> PolarsResult<DataFrame> {
    let mut set: Vec<Expr> = o365.map(|o| lit(o).alias(O365)).into_iter().collect();
    for k in columns {
        if let Ok(column) = df.column(k) {
            set.push(lit(NULL).cast(column.dtype().clone()).alias(*k));
        }
    }
    df.clone().lazy().with_columns(set).collect()
}

fn by_bytes(df: &DataFrame) -> PolarsResult<DataFrame> {
    df.sort(
        [BYTES],
        SortMultipleOptions::default()
            .with_order_descending(true)
            .with_maintain_order(true),
    )
}

/// Splits off the rows where `keep` is false.
fn split(df: &DataFrame, keep: &[bool]) -> PolarsResult<(DataFrame, DataFrame)> {
    let yes: BooleanChunked = keep.iter().copied().collect();
    let no: BooleanChunked = keep.iter().map(|k| !k).collect();
    Ok((df.filter(&yes)?, df.filter(&no)?))
}

/// Keeps at most `keep` groups beside the one of flows only the totals count. The groups with
/// the fewest bytes lose their addresses and merge with groups equal in everything else, as
/// few of them as makes the groups fit (chosen in one pass over the groups' other values);
/// when no number of them would, none does, and the smallest groups count as other traffic
/// instead (`demoted`). The group of flows only the totals count is never touched.
/// `coarsened` is what the result holds, so a flow is never counted twice.
pub fn spill(groups: &DataFrame, keep: usize) -> PolarsResult<(DataFrame, Overflow)> {
    let mut overflow = Overflow::default();
    let limit = keep.saturating_add(1);
    if groups.height() <= limit {
        return Ok((groups.clone(), overflow));
    }
    let others = counts_only(groups)?;
    let (totals_only, rest) = split(groups, &others)?;
    let (coarse_groups, fine) = split(&rest, &coarse(&rest)?)?;
    let fine = by_bytes(&fine)?;
    // With the largest `r` fine groups kept whole, the groups are: the totals-only one, those
    // `r`, and the distinct signatures among the coarse groups and the fine ones after `r`.
    let fine_sigs = signatures(&fine)?;
    let coarse_sigs = signatures(&coarse_groups)?;
    let mut seen: std::collections::HashSet<&str> =
        coarse_sigs.iter().map(String::as_str).collect();
    let n = fine.height();
    let mut distinct_from = vec![seen.len(); n + 1];
    for r in (0..n).rev() {
        if let Some(sig) = fine_sigs.get(r) {
            seen.insert(sig);
        }
        if let Some(d) = distinct_from.get_mut(r) {
            *d = seen.len();
        }
    }
    let fits = |r: usize| {
        totals_only.height() + r + distinct_from.get(r).copied().unwrap_or(usize::MAX) <= limit
    };
    let mut merged = groups.clone();
    if let Some(room) = (0..n).rev().find(|r| fits(*r)) {
        let kept = fine.head(Some(room));
        let small = fine.slice(i64::try_from(room).unwrap_or(i64::MAX), n);
        let mut all = totals_only.clone();
        for part in [&coarse_groups, &kept, &coarsened(&small)?] {
            all.vstack_mut(part)?;
        }
        merged = group(&all)?;
    }
    if merged.height() > limit {
        let others = counts_only(&merged)?;
        let (totals_only, rest) = split(&merged, &others)?;
        let rest = by_bytes(&rest)?;
        let kept = rest.head(Some(keep));
        let small = rest.slice(i64::try_from(keep).unwrap_or(i64::MAX), rest.height());
        overflow.demoted = Spilled::of(&small)?;
        // Nothing left that a table or finding reads: flows only the totals count.
        let small = with_nulls(
            &small,
            &[
                "microsoft",
                "client_app",
                "published_service",
                "port_verdict",
                "app_protocol",
            ],
            Some(false),
        )?;
        let mut all = totals_only;
        all.vstack_mut(&kept)?;
        all.vstack_mut(&small)?;
        merged = group(&all)?;
    }
    let others = counts_only(&merged)?;
    let (_, rest) = split(&merged, &others)?;
    let (now_coarse, _) = split(&rest, &coarse(&rest)?)?;
    overflow.coarsened = Spilled::of(&now_coarse)?;
    Ok((merged, overflow))
}
