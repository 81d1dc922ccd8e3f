//! Longest-prefix match over IPv4 and IPv6: one hash map per prefix length present, probed
//! from the longest length down. The catalog has a few dozen distinct lengths at most.

use crate::flow::FastMap as HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Clone, Debug)]
struct ByLength<K, T> {
    len: u8,
    map: HashMap<K, (IpNet, Vec<T>)>,
}

#[derive(Clone, Debug)]
pub struct PrefixIndex<T> {
    v4: Vec<ByLength<u32, T>>,
    v6: Vec<ByLength<u128, T>>,
}

impl<T> Default for PrefixIndex<T> {
    fn default() -> Self {
        PrefixIndex {
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

fn mask4(addr: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - u32::from(len.min(32))))
    }
}

fn mask6(addr: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        addr & (u128::MAX << (128 - u32::from(len.min(128))))
    }
}

fn slot<K, T>(
    levels: &mut Vec<ByLength<K, T>>,
    len: u8,
) -> Option<&mut HashMap<K, (IpNet, Vec<T>)>> {
    if !levels.iter().any(|l| l.len == len) {
        // Kept sorted longest first, so a lookup stops at the first hit.
        let at = levels
            .iter()
            .position(|l| l.len < len)
            .unwrap_or(levels.len());
        levels.insert(
            at,
            ByLength {
                len,
                map: HashMap::default(),
            },
        );
    }
    levels.iter_mut().find(|l| l.len == len).map(|l| &mut l.map)
}

impl<T: Clone + PartialEq> PrefixIndex<T> {
    pub fn insert(&mut self, net: IpNet, value: T) {
        let net = net.trunc();
        let entry = match net {
            IpNet::V4(n) => slot(&mut self.v4, n.prefix_len()).map(|m| {
                m.entry(u32::from(n.network()))
                    .or_insert_with(|| (net, Vec::new()))
            }),
            IpNet::V6(n) => slot(&mut self.v6, n.prefix_len()).map(|m| {
                m.entry(u128::from(n.network()))
                    .or_insert_with(|| (net, Vec::new()))
            }),
        };
        let Some(entry) = entry else { return };
        if !entry.1.contains(&value) {
            entry.1.push(value);
        }
    }

    pub fn len(&self) -> usize {
        self.v4.iter().map(|l| l.map.len()).sum::<usize>()
            + self.v6.iter().map(|l| l.map.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The longest prefix containing `addr`, with its values.
    pub fn lookup(&self, addr: IpAddr) -> Option<(IpNet, &[T])> {
        self.containing(addr).next()
    }

    /// Every prefix containing `addr`, longest first, with its values.
    pub fn lookup_all(&self, addr: IpAddr) -> Vec<(IpNet, &[T])> {
        self.containing(addr).collect()
    }

    fn containing(&self, addr: IpAddr) -> impl Iterator<Item = (IpNet, &[T])> + '_ {
        // IPv4-mapped IPv6 addresses are looked up as IPv4.
        let (v4, v6) = match addr {
            IpAddr::V4(a) => (Some(u32::from(a)), None),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(mapped) => (Some(u32::from(mapped)), None),
                None => (None, Some(u128::from(a))),
            },
        };
        let four = self
            .v4
            .iter()
            .filter_map(move |l| l.map.get(&mask4(v4?, l.len)));
        let six = self
            .v6
            .iter()
            .filter_map(move |l| l.map.get(&mask6(v6?, l.len)));
        four.chain(six)
            .map(|(net, values)| (*net, values.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_v4_and_v6() {
        let mut idx = PrefixIndex::default();
        idx.insert("52.96.0.0/14".parse().unwrap(), 1);
        idx.insert("52.96.0.0/14".parse().unwrap(), 2);
        idx.insert("52.97.1.0/24".parse().unwrap(), 9);
        idx.insert("2603:1006::/40".parse().unwrap(), 1);
        idx.insert("0.0.0.0/0".parse().unwrap(), 100);
        let (net, v) = idx.lookup("52.97.1.5".parse().unwrap()).unwrap();
        assert_eq!((net.to_string().as_str(), v), ("52.97.1.0/24", &[9][..]));
        let (net, v) = idx.lookup("52.99.255.255".parse().unwrap()).unwrap();
        assert_eq!((net.to_string().as_str(), v), ("52.96.0.0/14", &[1, 2][..]));
        assert_eq!(idx.lookup("52.100.0.0".parse().unwrap()).unwrap().1, &[100]);
        assert_eq!(idx.lookup("2603:1006::1".parse().unwrap()).unwrap().1, &[1]);
        assert!(idx.lookup("2603:1007::1".parse().unwrap()).is_none());
        let all: Vec<u8> = idx
            .lookup_all("52.97.1.5".parse().unwrap())
            .iter()
            .map(|(net, _)| net.prefix_len())
            .collect();
        assert_eq!(all, [24, 14, 0]);
        assert_eq!(
            idx.lookup("::ffff:52.97.1.5".parse().unwrap()).unwrap().1,
            &[9]
        );
    }
}
