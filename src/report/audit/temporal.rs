//! What the report needs from each flow's own times, which grouping flows by their other values
//! loses: the NAT table's concurrent connections (each connection's start and end), the
//! `quic-blocked` finding (an unanswered QUIC attempt followed by TCP 443 to the same name) and
//! the timeline (bytes by the bucket a flow started in).
//!
//! Gathered flow by flow, in any order, and bounded: the interval lists keep at most
//! [`MAX_INTERVALS`] entries each (the oldest added go first, counted in `evicted`), the strings
//! they name at most [`MAX_STRINGS`], and the timeline only the bucket sizes still fine enough
//! for the span seen (about 48 buckets each). Below those limits the result is exactly that of
//! the flows' own rows, so a live run's report equals one rebuilt from its flow parts.

use std::collections::{BTreeMap, HashMap, VecDeque};

use polars::prelude::*;

use super::{bools, ints, server_endpoints, texts, BYTES, END_NS, PORT, START_NS};
use crate::dissect::AppProtocol;

/// Entries each interval list keeps (about 24 bytes each).
pub const MAX_INTERVALS: usize = 1 << 20;
/// Distinct addresses, destinations and names the lists refer to.
pub const MAX_STRINGS: usize = 1 << 20;

/// Timeline bucket sizes, finest first; the last one is used whatever the span.
const BUCKET_SECONDS: [i64; 12] = [
    1,
    10,
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    86_400,
    7 * 86_400,
    COARSEST,
];
/// The bucket size used whatever the span.
const COARSEST: i64 = 30 * 86_400;
/// A bucket size is used while the span holds at most this many of it.
const MAX_BUCKETS: i64 = 48;

/// Strings stored once, referred to by number.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        if self.names.len() >= MAX_STRINGS {
            return None;
        }
        let id = u32::try_from(self.names.len()).ok()?;
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        Some(id)
    }

    pub(crate) fn name(&self, id: u32) -> &str {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.names.get(i))
            .map_or("", String::as_str)
    }
}

/// One Office 365 TCP connection: source address, destination `address:port`, start, end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Connection {
    pub source: u32,
    pub destination: u32,
    pub start: i64,
    pub end: i64,
}

/// One QUIC attempt to a name Microsoft lists for UDP 443 that the server never answered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QuicAttempt {
    pub client: u32,
    /// The name, lowercased.
    pub name: u32,
    /// The name as the flow carried it (shown in the evidence).
    pub shown: u32,
    pub start: i64,
    pub end: i64,
    pub endpoint_id: Option<i64>,
}

/// Per bucket size still in use: bytes per (bucket start in ns, service area).
type Buckets = BTreeMap<(i64, String), i64>;

#[derive(Clone, Debug)]
pub struct Temporal {
    pub(crate) strings: Interner,
    pub(crate) connections: VecDeque<Connection>,
    pub(crate) quic: VecDeque<QuicAttempt>,
    /// (client, lowercased name) -> start of each TCP 443 connection.
    pub(crate) tcp443: VecDeque<(u32, u32, i64)>,
    /// Entries dropped from the lists above (oldest first) or never added (no string room).
    pub evicted: u64,
    first_start: Option<i64>,
    last_start: Option<i64>,
    /// (bucket seconds, sums) for each size the span still allows, finest first.
    timeline: Vec<(i64, Buckets)>,
}

impl Default for Temporal {
    fn default() -> Self {
        Temporal {
            strings: Interner::default(),
            connections: VecDeque::new(),
            quic: VecDeque::new(),
            tcp443: VecDeque::new(),
            evicted: 0,
            first_start: None,
            last_start: None,
            timeline: BUCKET_SECONDS
                .iter()
                .map(|b| (*b, Buckets::new()))
                .collect(),
        }
    }
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T, evicted: &mut u64) {
    if list.len() >= MAX_INTERVALS {
        list.pop_front();
        *evicted += 1;
    }
    list.push_back(item);
}

impl Temporal {
    /// Adds the Office 365 rows of a prepared frame (`prepare`, filtered to `o365`).
    pub fn add(&mut self, o365: &DataFrame) -> PolarsResult<()> {
        let transport = texts(o365, "transport")?;
        let client = texts(o365, "client_ip")?;
        let destination = server_endpoints(o365)?;
        let start = ints(o365, START_NS)?;
        let end = ints(o365, END_NS)?;
        let area = texts(o365, "service_area")?;
        let bytes = ints(o365, BYTES)?;
        let port = texts(o365, PORT)?;
        let app = texts(o365, "app_protocol")?;
        let listed = bools(o365, "port_listed")?;
        let answered = bools(o365, "server_answered")?;
        let ids = ints(o365, "endpoint_id")?;
        let name = super::findings::names(o365)?;
        fn at(v: &[Option<String>], i: usize) -> Option<&str> {
            v.get(i).and_then(|s| s.as_deref())
        }
        for i in 0..o365.height() {
            let (s, e) = (
                start.get(i).copied().unwrap_or(0),
                end.get(i).copied().unwrap_or(0),
            );
            self.add_to_timeline(
                s,
                at(&area, i).unwrap_or_default(),
                bytes.get(i).copied().unwrap_or(0),
            );
            let Some(c) = at(&client, i) else { continue };
            if at(&transport, i) == Some("tcp") {
                if let Some(d) = destination.get(i) {
                    match (self.strings.id(c), self.strings.id(d)) {
                        (Some(source), Some(destination)) => push_bounded(
                            &mut self.connections,
                            Connection {
                                source,
                                destination,
                                start: s,
                                end: e,
                            },
                            &mut self.evicted,
                        ),
                        _ => self.evicted += 1,
                    }
                }
            }
            let Some(n) = at(&name, i) else { continue };
            let port = at(&port, i);
            if port == Some("tcp/443") {
                match (self.strings.id(c), self.strings.id(&n.to_ascii_lowercase())) {
                    (Some(c), Some(n)) => {
                        push_bounded(&mut self.tcp443, (c, n, s), &mut self.evicted)
                    }
                    _ => self.evicted += 1,
                }
            }
            let unanswered_quic = port == Some("udp/443")
                && at(&app, i) == Some(AppProtocol::Quic.as_str())
                && listed.get(i).copied().unwrap_or(false)
                && !answered.get(i).copied().unwrap_or(true);
            if unanswered_quic {
                let strings = (
                    self.strings.id(c),
                    self.strings.id(&n.to_ascii_lowercase()),
                    self.strings.id(n),
                );
                match strings {
                    (Some(client), Some(name), Some(shown)) => push_bounded(
                        &mut self.quic,
                        QuicAttempt {
                            client,
                            name,
                            shown,
                            start: s,
                            end: e,
                            endpoint_id: ids.get(i).copied(),
                        },
                        &mut self.evicted,
                    ),
                    _ => self.evicted += 1,
                }
            }
        }
        Ok(())
    }

    fn add_to_timeline(&mut self, start: i64, area: &str, bytes: i64) {
        let first = self.first_start.map_or(start, |f| f.min(start));
        let last = self.last_start.map_or(start, |l| l.max(start));
        self.first_start = Some(first);
        self.last_start = Some(last);
        let span = (last - first) / 1_000_000_000;
        // A size too fine for the span stays too fine: the span only grows.
        self.timeline
            .retain(|(b, _)| *b == COARSEST || span / *b <= MAX_BUCKETS);
        for (b, sums) in &mut self.timeline {
            let bucket_ns = *b * 1_000_000_000;
            let bucket = start.div_euclid(bucket_ns) * bucket_ns;
            *sums.entry((bucket, area.to_owned())).or_default() += bytes;
        }
    }

    /// The timeline: the finest bucket size with at most 48 buckets over the span of starts,
    /// and bytes per (bucket, service area) in bucket then area order.
    pub fn timeline(&self) -> super::Timeline {
        let (Some(first), Some(last)) = (self.first_start, self.last_start) else {
            return super::Timeline::default();
        };
        let span = (last - first) / 1_000_000_000;
        let Some((bucket_seconds, sums)) = self
            .timeline
            .iter()
            .find(|(b, _)| span / *b <= MAX_BUCKETS)
            .or_else(|| self.timeline.last())
        else {
            return super::Timeline::default();
        };
        super::Timeline {
            bucket_seconds: *bucket_seconds,
            points: sums
                .iter()
                .map(|((bucket, area), bytes)| (*bucket, area.clone(), *bytes))
                .collect(),
        }
    }
}
