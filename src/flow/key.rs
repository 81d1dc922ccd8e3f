//! Direction-free flow keys: both directions of a conversation hash to the same key.

use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// The two endpoints in canonical (sorted) order plus the IP protocol number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub low: Endpoint,
    pub high: Endpoint,
    pub protocol: u8,
}

impl FlowKey {
    /// The key for a packet from `src` to `dst`, and whether the sender is the key's `low` side.
    pub fn new(src: Endpoint, dst: Endpoint, protocol: u8) -> (FlowKey, bool) {
        if src <= dst {
            (
                FlowKey {
                    low: src,
                    high: dst,
                    protocol,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    low: dst,
                    high: src,
                    protocol,
                },
                false,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: s.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn both_directions_share_a_key() {
        let pairs = [
            (ep("10.0.0.1", 50000), ep("52.96.0.1", 443)),
            (ep("52.96.0.1", 443), ep("10.0.0.1", 50000)),
            (ep("::1", 1), ep("10.0.0.1", 2)),
            (ep("10.0.0.1", 7), ep("10.0.0.1", 7)),
        ];
        for (a, b) in pairs {
            let (k1, a_low) = FlowKey::new(a, b, 6);
            let (k2, b_low) = FlowKey::new(b, a, 6);
            assert_eq!(k1, k2);
            assert!(a_low || b_low);
            assert!(a == b || a_low != b_low);
        }
    }
}
