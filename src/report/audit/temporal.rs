//! What the report needs from each flow's own times, which grouping flows by their other values
//! loses: the NAT table's concurrent connections (each connection's start and end), the
//! `quic-blocked` finding (an unanswered QUIC attempt followed by TCP 443 to the same name) and
//! the timeline (bytes by the bucket a flow started in).
//!
//! Gathered flow by flow, in any order. The timeline keeps only the bucket sizes still fine
//! enough for the span seen (about 48 buckets each). A bounded record (a live run's) keeps at
//! most [`MAX_INTERVALS`] entries per list (the oldest added go first, counted in `evicted`)
//! and [`MAX_STRINGS`] strings (those no entry names any more are dropped first). Below those
//! limits the result is exactly that of the flows' own rows, so a live run's report equals
//! one rebuilt from its flow parts; `analyze` and `report` keep everything.

use std::collections::{BTreeMap, HashMap, VecDeque};

use polars::prelude::*;

use super::{bools, ints, server_endpoints, texts, BYTES, END_NS, PORT, START_NS};
use crate::dissect::AppProtocol;

/// Entries each list of a bounded record keeps (16 to 48 bytes each).
pub const MAX_INTERVALS: usize = 1 << 18;
/// Distinct addresses, destinations and names a bounded record's lists refer to (about 80
/// bytes each with their index); when full, the earliest entries go until some are free.
pub const MAX_STRINGS: usize = 1 << 18;

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
    /// The number of `name`; None when it is new and [`MAX_STRINGS`] are held.
    fn id(&mut self, name: &str) -> Option<u32> {
        if self.names.len() >= MAX_STRINGS && !self.ids.contains_key(name) {
            return None;
        }
        self.id_unbounded(name)
    }

    fn id_unbounded(&mut self, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
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

/// Entries a bounded record left out, per use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    /// Connections (the connections table).
    pub connections: u64,
    /// QUIC attempts and TCP 443 starts (the quic-blocked finding).
    pub quic_blocked: u64,
}

#[derive(Clone, Debug)]
pub struct Temporal {
    /// Lists limited to [`MAX_INTERVALS`] entries and [`MAX_STRINGS`] strings.
    bounded: bool,
    pub(crate) strings: Interner,
    pub(crate) connections: VecDeque<Connection>,
    pub(crate) quic: VecDeque<QuicAttempt>,
    /// (client, lowercased name) -> start of each TCP 443 connection.
    pub(crate) tcp443: VecDeque<(u32, u32, i64)>,
    /// Entries dropped from the lists above (oldest first) or never added (no string room).
    pub evicted: Evicted,
    first_start: Option<i64>,
    last_start: Option<i64>,
    /// (bucket seconds, sums) for each size the span still allows, finest first.
    timeline: Vec<(i64, Buckets)>,
}

impl Default for Temporal {
    fn default() -> Self {
        Temporal {
            bounded: false,
            strings: Interner::default(),
            connections: VecDeque::new(),
            quic: VecDeque::new(),
            tcp443: VecDeque::new(),
            evicted: Evicted::default(),
            first_start: None,
            last_start: None,
            timeline: BUCKET_SECONDS
                .iter()
                .map(|b| (*b, Buckets::new()))
                .collect(),
        }
    }
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T, bounded: bool, evicted: &mut u64) {
    if bounded && list.len() >= MAX_INTERVALS {
        list.pop_front();
        *evicted += 1;
    }
    list.push_back(item);
}

impl Temporal {
    /// A record that keeps at most [`MAX_INTERVALS`] entries per list and [`MAX_STRINGS`]
    /// strings.
    pub fn bounded() -> Temporal {
        Temporal {
            bounded: true,
            ..Temporal::default()
        }
    }

    /// The numbers of `names`, making room first when the strings are full: the strings no
    /// entry names any more go. None when there is still no room (the entry is then left out).
    fn strings<const N: usize>(&mut self, names: [&str; N]) -> Option<[u32; N]> {
        if !self.bounded {
            let ids = names.map(|n| self.strings.id_unbounded(n));
            return ids
                .iter()
                .all(Option::is_some)
                .then(|| ids.map(|i| i.unwrap_or(0)));
        }
        // Numbers handed out by a failed try may be renumbered: each try asks for all again.
        for attempt in 0..2 {
            let ids = names.map(|n| self.strings.id(n));
            if ids.iter().all(Option::is_some) {
                return Some(ids.map(|i| i.unwrap_or(0)));
            }
            if attempt == 0 {
                self.compact_strings();
                // Not a string in eight freed: the earliest entries go too, so that the next
                // strings do not each cost a compaction.
                if self.strings.names.len() > MAX_STRINGS - MAX_STRINGS / 8 {
                    self.evict_earliest_eighth();
                    self.compact_strings();
                }
            }
        }
        None
    }

    /// Drops the earliest eighth of each list, counted: the strings only they named can go.
    fn evict_earliest_eighth(&mut self) {
        fn drop_front<T>(list: &mut VecDeque<T>, evicted: &mut u64) {
            let n = list.len().div_ceil(8);
            list.drain(..n);
            *evicted += n as u64;
        }
        drop_front(&mut self.connections, &mut self.evicted.connections);
        drop_front(&mut self.quic, &mut self.evicted.quic_blocked);
        drop_front(&mut self.tcp443, &mut self.evicted.quic_blocked);
    }

    fn add_connection(&mut self, source: &str, destination: &str, start: i64, end: i64) {
        match self.strings([source, destination]) {
            Some([source, destination]) => push_bounded(
                &mut self.connections,
                Connection {
                    source,
                    destination,
                    start,
                    end,
                },
                self.bounded,
                &mut self.evicted.connections,
            ),
            None => self.evicted.connections += 1,
        }
    }

    fn add_tcp443(&mut self, client: &str, name: &str, start: i64) {
        match self.strings([client, &name.to_ascii_lowercase()]) {
            Some([client, name]) => push_bounded(
                &mut self.tcp443,
                (client, name, start),
                self.bounded,
                &mut self.evicted.quic_blocked,
            ),
            None => self.evicted.quic_blocked += 1,
        }
    }

    fn add_quic(&mut self, client: &str, name: &str, (start, end): (i64, i64), id: Option<i64>) {
        match self.strings([client, &name.to_ascii_lowercase(), name]) {
            Some([client, lower, shown]) => push_bounded(
                &mut self.quic,
                QuicAttempt {
                    client,
                    name: lower,
                    shown,
                    start,
                    end,
                    endpoint_id: id,
                },
                self.bounded,
                &mut self.evicted.quic_blocked,
            ),
            None => self.evicted.quic_blocked += 1,
        }
    }

    /// Keeps only the strings the lists name, renumbered.
    fn compact_strings(&mut self) {
        let mut kept = Interner::default();
        let old = std::mem::take(&mut self.strings);
        let mut renumber = |id: &mut u32| {
            if let Some(new) = kept.id_unbounded(old.name(*id)) {
                *id = new;
            }
        };
        for c in &mut self.connections {
            renumber(&mut c.source);
            renumber(&mut c.destination);
        }
        for q in &mut self.quic {
            renumber(&mut q.client);
            renumber(&mut q.name);
            renumber(&mut q.shown);
        }
        for (client, name, _) in &mut self.tcp443 {
            renumber(client);
            renumber(name);
        }
        self.strings = kept;
    }

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
                    self.add_connection(c, d, s, e);
                }
            }
            let Some(n) = at(&name, i) else { continue };
            let port = at(&port, i);
            if port == Some("tcp/443") {
                self.add_tcp443(c, n, s);
            }
            let unanswered_quic = port == Some("udp/443")
                && at(&app, i) == Some(AppProtocol::Quic.as_str())
                && listed.get(i).copied().unwrap_or(false)
                && !answered.get(i).copied().unwrap_or(true);
            if unanswered_quic {
                self.add_quic(c, n, (s, e), ids.get(i).copied());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_record_drops_the_earliest_entries_and_unused_strings() {
        let mut t = Temporal::bounded();
        let added = 3 * MAX_INTERVALS;
        for i in 0..added {
            t.add_connection(&format!("10.{i}"), "52.96.1.1:443", 0, 1);
        }
        // Every connection was added; the earliest made room for the strings of later ones.
        assert!(t.connections.len() <= MAX_INTERVALS);
        assert!(t.strings.names.len() <= MAX_STRINGS);
        assert_eq!(
            t.evicted.connections + t.connections.len() as u64,
            added as u64
        );
        let sources: Vec<&str> = t
            .connections
            .iter()
            .map(|c| t.strings.name(c.source))
            .collect();
        let expected: Vec<String> = (added - t.connections.len()..added)
            .map(|i| format!("10.{i}"))
            .collect();
        assert_eq!(sources, expected);
        let last = t.connections.back().copied().unwrap();
        assert_eq!(t.strings.name(last.destination), "52.96.1.1:443");
        t.add_tcp443("10.1", "Teams.Microsoft.com", 5);
        let (client, name, start) = t.tcp443.back().copied().unwrap();
        assert_eq!(
            (t.strings.name(client), t.strings.name(name), start),
            ("10.1", "teams.microsoft.com", 5)
        );
    }

    #[test]
    fn an_unbounded_record_keeps_everything() {
        let mut t = Temporal::default();
        for i in 0..MAX_INTERVALS + 3 {
            t.add_connection(&format!("10.{i}"), "52.96.1.1:443", 0, 1);
        }
        assert_eq!(t.connections.len(), MAX_INTERVALS + 3);
        assert_eq!(t.evicted, Evicted::default());
    }
}
