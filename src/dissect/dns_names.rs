//! Server address -> name, learnt from DNS answers seen in the capture. Bounded (oldest answers
//! are dropped first when full, and counted) and time-aware: a name is used for a flow only if
//! the answer came before the flow started and had not expired (TTL, with a grace period since
//! clients keep connections to an address longer than its TTL).

use crate::flow::FastMap;
use std::net::IpAddr;

use crate::time::{Duration, Timestamp};

/// Connections outlive TTLs: an answer stays usable this long past its TTL.
const GRACE: Duration = Duration::from_secs(3600);
/// Clock skew between the DNS answer and the flow's first packet that is still believed.
const EARLY: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
struct Answer {
    name: Box<str>,
    seen: Timestamp,
    until: Timestamp,
}

#[derive(Clone, Debug)]
pub struct DnsNames {
    by_addr: FastMap<IpAddr, Answer>,
    capacity: usize,
    /// Answers dropped because the map was full.
    pub evicted: u64,
}

impl DnsNames {
    pub fn new(capacity: usize) -> Self {
        DnsNames {
            by_addr: FastMap::default(),
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    /// Records that `name` resolved to `addr` at `seen` with `ttl` seconds.
    pub fn insert(&mut self, addr: IpAddr, name: &str, ttl: u32, seen: Timestamp) {
        if !self.by_addr.contains_key(&addr) && self.by_addr.len() >= self.capacity {
            self.drop_oldest();
        }
        let until = Timestamp(
            seen.0
                .saturating_add(Duration::from_secs(i64::from(ttl)).0)
                .saturating_add(GRACE.0),
        );
        self.by_addr.insert(
            addr,
            Answer {
                name: name.into(),
                seen,
                until,
            },
        );
    }

    /// The name `addr` had when a flow started at `start`, if an answer covers that time.
    pub fn lookup(&self, addr: IpAddr, start: Timestamp) -> Option<&str> {
        let answer = self.by_addr.get(&addr)?;
        let earliest = Timestamp(answer.seen.0.saturating_sub(EARLY.0));
        (start >= earliest && start <= answer.until).then_some(&*answer.name)
    }

    fn drop_oldest(&mut self) {
        // A sixteenth at a time keeps the cost per insert constant on average.
        let batch = (self.by_addr.len() / 16).max(1);
        let mut by_age: Vec<(Timestamp, IpAddr)> =
            self.by_addr.iter().map(|(a, v)| (v.seen, *a)).collect();
        if batch < by_age.len() {
            by_age.select_nth_unstable(batch);
            by_age.truncate(batch);
        }
        for (_, addr) in by_age {
            self.by_addr.remove(&addr);
            self.evicted += 1;
        }
    }
}

impl Default for DnsNames {
    fn default() -> Self {
        DnsNames::new(262_144)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_secs_nanos(secs, 0)
    }

    #[test]
    fn answers_cover_flows_after_them_until_ttl_and_grace() {
        let mut names = DnsNames::new(4);
        let ip: IpAddr = "52.113.194.132".parse().unwrap();
        names.insert(ip, "teams.microsoft.com", 60, t(100));
        assert_eq!(names.lookup(ip, t(100)), Some("teams.microsoft.com"));
        assert_eq!(names.lookup(ip, t(99)), Some("teams.microsoft.com"), "skew");
        assert_eq!(names.lookup(ip, t(50)), None, "flow before the answer");
        assert_eq!(
            names.lookup(ip, t(100 + 60 + 3600)),
            Some("teams.microsoft.com")
        );
        assert_eq!(names.lookup(ip, t(100 + 60 + 3601)), None);
    }

    #[test]
    fn bounded_and_counted() {
        let mut names = DnsNames::new(4);
        for i in 0..10u8 {
            names.insert(IpAddr::from([10, 0, 0, i]), "x", 60, t(i64::from(i)));
        }
        assert!(names.len() <= 4);
        assert_eq!(names.evicted, 6);
        assert!(names.lookup(IpAddr::from([10, 0, 0, 9]), t(9)).is_some());
        assert!(names.lookup(IpAddr::from([10, 0, 0, 0]), t(9)).is_none());
    }
}
