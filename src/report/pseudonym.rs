//! `--pseudonymize`: internal addresses replaced by stable pseudonyms in every output, for
//! reports that leave the company. A pseudonym is an IPv6 documentation address (2001:db8::/32,
//! RFC 3849) derived with HMAC-SHA-256 from the address and a key: the same address always gets
//! the same pseudonym within a run (and across runs given the same key in
//! `O365FLOW_PSEUDONYM_KEY`), the column types stay addresses, and without the key the mapping
//! cannot be reversed by trying every private address.

use std::net::{IpAddr, Ipv6Addr};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::row::FlowRow;

pub struct Pseudonymizer {
    key: hmac::Key,
    internal: Vec<ipnet::IpNet>,
}

impl Pseudonymizer {
    pub fn new(key: &[u8], internal: &[ipnet::IpNet]) -> Self {
        Pseudonymizer {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            internal: internal.to_vec(),
        }
    }

    /// Keyed by `O365FLOW_PSEUDONYM_KEY` when set (stable across runs), else a random key.
    pub fn for_run(internal: &[ipnet::IpNet]) -> Self {
        if let Some(key) = std::env::var_os("O365FLOW_PSEUDONYM_KEY").filter(|k| !k.is_empty()) {
            return Self::new(key.to_string_lossy().as_bytes(), internal);
        }
        let mut key = [0u8; 32];
        // A failing system RNG leaves a zero key: still a consistent mapping, only guessable.
        let _ = SystemRandom::new().fill(&mut key);
        Self::new(&key, internal)
    }

    fn is_internal(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.internal.iter().any(|net| net.contains(&ip))
    }

    /// The pseudonym of an internal address; other addresses unchanged.
    pub fn addr(&self, ip: IpAddr) -> IpAddr {
        if !self.is_internal(ip) {
            return ip;
        }
        let bytes = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let tag = hmac::sign(&self.key, &bytes);
        let mut octets = [0u8; 16];
        octets[0] = 0x20;
        octets[1] = 0x01;
        octets[2] = 0x0d;
        octets[3] = 0xb8;
        for (slot, byte) in octets.iter_mut().skip(4).zip(tag.as_ref()) {
            *slot = *byte;
        }
        IpAddr::V6(Ipv6Addr::from(octets))
    }

    /// Text that may be an address, `address:port` or `[v6]:port` (Host headers, proxy
    /// targets, certificate names): the address part replaced when internal.
    pub fn text(&self, text: &str) -> String {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return self.addr(ip).to_string();
        }
        if let Some(rest) = text.strip_prefix('[') {
            if let Some((host, port)) = rest.split_once("]:") {
                if let Ok(ip) = host.parse::<IpAddr>() {
                    return format!("[{}]:{port}", self.addr(ip));
                }
            }
        }
        if let Some((host, port)) = text.rsplit_once(':') {
            if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
                return match self.addr(IpAddr::V4(ip)) {
                    IpAddr::V6(v6) => format!("[{v6}]:{port}"),
                    v4 => format!("{v4}:{port}"),
                };
            }
        }
        text.to_owned()
    }

    pub fn rows(&self, rows: &mut [FlowRow]) {
        for r in rows {
            r.client_ip = self.addr(r.client_ip);
            r.server_ip = self.addr(r.server_ip);
            for field in [&mut r.http_host, &mut r.proxy_target, &mut r.dns_name] {
                if let Some(value) = field.as_mut() {
                    *value = self.text(value);
                }
            }
            for name in &mut r.cert_names {
                *name = self.text(name);
            }
        }
    }

    /// The same replacement over a flow frame (flow files read back by `o365flow report`).
    #[cfg(feature = "report")]
    pub fn frame(&self, df: &mut polars::prelude::DataFrame) -> polars::prelude::PolarsResult<()> {
        use polars::prelude::*;
        for name in [
            "client_ip",
            "server_ip",
            "http_host",
            "proxy_target",
            "dns_name",
        ] {
            let Ok(column) = df.column(name) else {
                continue;
            };
            let mapped: StringChunked = column
                .str()?
                .iter()
                .map(|v| v.map(|s| self.text(s)))
                .collect();
            df.with_column(mapped.with_name(name.into()).into_column())?;
        }
        if let Ok(column) = df.column("cert_names") {
            if let Ok(lists) = column.list() {
                let mut builder =
                    ListStringChunkedBuilder::new("cert_names".into(), lists.len(), lists.len());
                for entry in lists.series_iter() {
                    let names: Vec<String> = match entry {
                        Some(series) => series
                            .str()?
                            .iter()
                            .flatten()
                            .map(|s| self.text(s))
                            .collect(),
                        None => Vec::new(),
                    };
                    builder.append_values_iter(names.iter().map(String::as_str));
                }
                df.with_column(builder.finish().into_series().into_column())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_get_stable_documentation_pseudonyms() {
        let internal = crate::classify::default_internal_networks();
        let p = Pseudonymizer::new(b"key", &internal);
        let a: IpAddr = "192.168.1.6".parse().unwrap();
        let pa = p.addr(a);
        assert_eq!(pa, p.addr(a));
        assert!(pa.to_string().starts_with("2001:db8:"), "{pa}");
        assert_ne!(pa, p.addr("192.168.1.7".parse().unwrap()));
        let public: IpAddr = "52.112.0.1".parse().unwrap();
        assert_eq!(p.addr(public), public);
        assert_eq!(
            p.text("10.0.0.5:8080"),
            format!("[{}]:8080", p.addr("10.0.0.5".parse().unwrap()))
        );
        assert_eq!(p.text("teams.microsoft.com:443"), "teams.microsoft.com:443");
        assert_eq!(p.text("52.112.0.1"), "52.112.0.1");
        let other = Pseudonymizer::new(b"other key", &internal);
        assert_ne!(other.addr(a), pa);
    }
}
