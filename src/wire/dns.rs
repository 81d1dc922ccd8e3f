//! DNS messages (RFC 1035): the question name, and the A/AAAA answers with their TTLs.
//! Names are decoded with compression pointers followed at most `MAX_POINTERS` times, so a
//! pointer loop ends; labels and names are bounded by the RFC's limits.

use super::field::be16;

use std::net::IpAddr;

const HEADER: usize = 12;
const MAX_POINTERS: usize = 16;
const MAX_NAME: usize = 255;
/// Answers read per message; real responses carry a handful.
pub const MAX_ANSWERS: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsMessage {
    pub response: bool,
    /// The first question's name, lower-case, without the trailing dot.
    pub query: String,
    /// Addresses from A and AAAA answers, with their TTL in seconds.
    pub addresses: Vec<(IpAddr, u32)>,
}

/// Reads a possibly compressed name at `at`; returns it and the offset after it in the message.
fn read_name(msg: &[u8], at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut pos = at;
    let mut after = None;
    let mut pointers = 0;
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => {
                return Some((name, after.unwrap_or(pos + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return None;
                }
                let target = usize::from(be16(msg, pos)? & 0x3fff);
                after.get_or_insert(pos + 2);
                pos = target;
            }
            l if l & 0xc0 != 0 => return None,
            l => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(l))?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    name.push(char::from(b.to_ascii_lowercase()));
                }
                if name.len() > MAX_NAME {
                    return None;
                }
                pos += 1 + usize::from(l);
            }
        }
    }
}

/// Parses a DNS message (UDP payload, or TCP payload after its 2-byte length). Rejects what is
/// not plausibly DNS: opcode other than QUERY, no question, absurd counts.
pub fn parse(msg: &[u8]) -> Option<DnsMessage> {
    let flags = be16(msg, 2)?;
    let questions = be16(msg, 4)?;
    let answers = be16(msg, 6)?;
    let opcode = (flags >> 11) & 0x0f;
    if opcode != 0 || questions != 1 || answers > 512 {
        return None;
    }
    let response = flags & 0x8000 != 0;
    let (query, mut pos) = read_name(msg, HEADER)?;
    let qtype = be16(msg, pos)?;
    let qclass = be16(msg, pos + 2)?;
    if qtype == 0 || !(qclass == 1 || qclass == 255 || qclass & 0x7fff == 1) {
        return None;
    }
    pos += 4;
    let mut addresses = Vec::new();
    for _ in 0..usize::from(answers).min(MAX_ANSWERS) {
        let Some((_, after)) = read_name(msg, pos) else {
            break;
        };
        let (Some(rtype), Some(ttl_hi), Some(ttl_lo), Some(rdlen)) = (
            be16(msg, after),
            be16(msg, after + 4),
            be16(msg, after + 6),
            be16(msg, after + 8),
        ) else {
            break;
        };
        let ttl = (u32::from(ttl_hi) << 16) | u32::from(ttl_lo);
        let data_at = after + 10;
        let Some(data) = msg.get(data_at..data_at + usize::from(rdlen)) else {
            break;
        };
        match (rtype, data.len()) {
            (1, 4) => {
                let a: [u8; 4] = data.try_into().ok()?;
                addresses.push((IpAddr::from(a), ttl));
            }
            (28, 16) => {
                let a: [u8; 16] = data.try_into().ok()?;
                addresses.push((IpAddr::from(a), ttl));
            }
            _ => {}
        }
        pos = data_at + usize::from(rdlen);
    }
    Some(DnsMessage {
        response,
        query,
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response for teams.microsoft.com: CNAME to a.b.net, then an A record for a.b.net.
    fn response() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        for label in ["teams", "microsoft", "com"] {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&[0, 1, 0, 1]);
        // CNAME: pointer to the question name (offset 12), type 5, class 1, ttl 60, rdata a.b.net
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 9]);
        let cname_at = m.len();
        m.extend_from_slice(&[1, b'a', 1, b'b', 3, b'n', b'e', b't', 0]);
        // A: pointer to the CNAME target, ttl 300, 52.113.194.132
        m.extend_from_slice(&[
            0xc0,
            cname_at as u8,
            0,
            1,
            0,
            1,
            0,
            0,
            1,
            44,
            0,
            4,
            52,
            113,
            194,
            132,
        ]);
        m
    }

    #[test]
    fn query_and_addresses() {
        let msg = parse(&response()).unwrap();
        assert!(msg.response);
        assert_eq!(msg.query, "teams.microsoft.com");
        assert_eq!(
            msg.addresses,
            vec![("52.113.194.132".parse().unwrap(), 300)]
        );
    }

    #[test]
    fn loops_and_truncation_are_safe() {
        let mut looping = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        looping.extend_from_slice(&[0xc0, 12]);
        assert!(parse(&looping).is_none());
        let full = response();
        for cut in 0..full.len() {
            let _ = parse(&full[..cut]);
        }
        assert!(parse(b"\x16\x03\x01\x02\x00\x01\x00\x00\x00\x00\x00\x00").is_none());
    }
}
