//! The Office 365 endpoint catalog: Microsoft's endpoint sets, compiled into a domain matcher
//! and a longest-prefix matcher, and the tie-break that picks one set for a flow.
//!
//! A name or address can belong to several sets, through several patterns or prefixes
//! (`name_hits`, `addr_hits`). Within one signal the best set is the one that lists the flow's
//! transport and port, then the most specific pattern (see `domain`) or longest prefix, then
//! Optimize > Allow > Default, then the lowest id. `classify` applies the same order across
//! signals, with the signal's precedence after the port rule.

pub mod diff;
pub mod domain;
pub mod prefix;
pub mod raw;
pub mod store;
pub mod update;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

pub use domain::{DomainIndex, DomainPattern, Specificity};
pub use prefix::PrefixIndex;

use crate::wire::Transport;

/// The catalog compiled into the binary (see `src/catalog/data/SOURCE.md`).
pub const EMBEDDED_JSON: &str = include_str!("data/m365-worldwide-endpoints.json");
pub const EMBEDDED_NAME: &str = "embedded worldwide 2025-12-01";
/// As-of date of the embedded snapshot (the commit date of its source, see data/SOURCE.md).
const EMBEDDED_AS_OF: &str = "2025-12-01";

/// First 12 hex digits of the SHA-256 of `bytes`.
pub fn sha256_prefix(bytes: &[u8]) -> String {
    crate::hex::sha256_prefix(bytes, 6)
}

/// Immutable id of an endpoint set, stable across catalog versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(pub u32);

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceArea {
    Exchange,
    SharePoint,
    /// Teams and Skype for Business (the catalog keeps the code `Skype`).
    Skype,
    Common,
    /// Microsoft Endpoint Manager / Intune.
    Mem,
    /// A service area code this build does not know yet, kept verbatim.
    Other(Box<str>),
}

impl ServiceArea {
    pub fn from_code(code: &str) -> Self {
        match code {
            "Exchange" => ServiceArea::Exchange,
            "SharePoint" => ServiceArea::SharePoint,
            "Skype" => ServiceArea::Skype,
            "Common" => ServiceArea::Common,
            "MEM" => ServiceArea::Mem,
            other => ServiceArea::Other(other.into()),
        }
    }

    /// The catalog's own code.
    pub fn as_str(&self) -> &str {
        match self {
            ServiceArea::Exchange => "Exchange",
            ServiceArea::SharePoint => "SharePoint",
            ServiceArea::Skype => "Skype",
            ServiceArea::Common => "Common",
            ServiceArea::Mem => "MEM",
            ServiceArea::Other(s) => s,
        }
    }
}

impl fmt::Display for ServiceArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Microsoft's network categories; the derived order is the priority (Optimize first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Optimize,
    Allow,
    Default,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Optimize => "Optimize",
            Category::Allow => "Allow",
            Category::Default => "Default",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ports of one transport as inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSet(Vec<(u16, u16)>);

impl PortSet {
    /// Parses `"80,443"`, `"143, 587, 993, 995"` or `"3478-3481"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (part, part),
            };
            let lo: u16 = lo.parse().map_err(|_| format!("bad port {part:?}"))?;
            let hi: u16 = hi.parse().map_err(|_| format!("bad port {part:?}"))?;
            if lo > hi {
                return Err(format!("bad port range {part:?}"));
            }
            ranges.push((lo, hi));
        }
        Ok(PortSet(ranges))
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSet {
    pub id: EndpointId,
    pub service_area: ServiceArea,
    pub category: Category,
    pub required: bool,
    pub express_route: bool,
    pub tcp_ports: PortSet,
    pub udp_ports: PortSet,
    pub urls: Vec<String>,
    pub ips: Vec<IpNet>,
}

impl EndpointSet {
    /// Does this set list the flow's transport and server port?
    pub fn lists_port(&self, transport: Transport, port: u16) -> bool {
        match transport {
            Transport::Tcp => self.tcp_ports.contains(port),
            Transport::Udp => self.udp_ports.contains(port),
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: cannot read catalog: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{source_name}: not Microsoft endpoint JSON: {reason}")]
    Json { source_name: String, reason: String },
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{source_name}: endpoint set {id}: field {field}: {reason}")]
    Field {
        source_name: String,
        id: i64,
        field: &'static str,
        reason: String,
    },
}

/// Index of a set inside one `Catalog`.
type SetIndex = u32;

#[derive(Clone, Debug)]
pub struct Catalog {
    name: String,
    version: String,
    sets: Vec<EndpointSet>,
    /// Each id's first set: reports look a set up by id for every row.
    by_id: crate::flow::FastMap<EndpointId, SetIndex>,
    names: DomainIndex<SetIndex>,
    prefixes: PrefixIndex<SetIndex>,
}

/// The catalog entry that matched: a domain pattern or a prefix (text made only when shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchedEntry<'c> {
    Pattern(&'c DomainPattern),
    Prefix(IpNet),
}

impl fmt::Display for MatchedEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchedEntry::Pattern(p) => f.write_str(p.as_str()),
            MatchedEntry::Prefix(n) => write!(f, "{n}"),
        }
    }
}

/// One set a name or address belongs to, and the entry that put it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogHit<'c> {
    pub set: &'c EndpointSet,
    pub matched: MatchedEntry<'c>,
    /// 0 for the most specific pattern or longest prefix that matched; ties share a rank.
    pub rank: u16,
}

impl CatalogHit<'_> {
    /// The order after the port rule and the signal: most specific entry, Optimize > Allow >
    /// Default, lowest id.
    pub fn order_key(&self) -> (u16, Category, EndpointId) {
        (self.rank, self.set.category, self.set.id)
    }
}

/// A pattern or prefix that matched, and the set chosen among those it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogMatch<'c> {
    pub set: &'c EndpointSet,
    /// The catalog entry that matched.
    pub matched: MatchedEntry<'c>,
    /// Whether the chosen set lists the flow's transport and server port.
    pub port_listed: bool,
}

impl Catalog {
    pub fn embedded() -> Result<Self, CatalogError> {
        let mut catalog = Catalog::from_json(EMBEDDED_JSON, EMBEDDED_NAME)?;
        catalog.version = format!(
            "{EMBEDDED_AS_OF}+{}",
            sha256_prefix(EMBEDDED_JSON.as_bytes())
        );
        Ok(catalog)
    }

    pub fn from_file(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut catalog = Catalog::from_json(&text, &path.display().to_string())?;
        // No version number travels with a bare /endpoints file: its date and content name it.
        let as_of = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t)
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .unwrap_or_else(|| "unknown-date".to_owned());
        catalog.version = format!("{as_of}+{}", sha256_prefix(text.as_bytes()));
        Ok(catalog)
    }

    /// The endpoint sets of a file as Microsoft wrote them, after the same validation as
    /// `from_json` (so a diff never reads a file `analyze` would refuse).
    pub fn raw_from_file(path: &Path) -> Result<Vec<raw::RawEndpointSet>, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let name = path.display().to_string();
        Catalog::from_json(&text, &name)?;
        parse_raw(&text, &name)
    }

    pub fn from_json(text: &str, source_name: &str) -> Result<Self, CatalogError> {
        let raw = parse_raw(text, source_name)?;
        let mut catalog = Catalog::from_raw(raw, source_name)?;
        catalog.version = format!("unknown-date+{}", sha256_prefix(text.as_bytes()));
        Ok(catalog)
    }

    /// The user's own entries (`--catalog-extra FILE`, TOML): names and prefixes with a service
    /// label, e.g. an on-premises ADFS farm, an Exchange hybrid server, a Skype for Business
    /// Edge or the company proxy. Each becomes an endpoint set with id 1000000 + its position.
    ///
    /// ```toml
    /// [[service]]
    /// name = "ADFS (on-premises)"   # shown as service_area
    /// category = "Allow"            # optional: Optimize, Allow or Default (the default)
    /// tcp_ports = "443"             # optional, the catalog's syntax
    /// names = ["adfs.contoso.com"]
    /// prefixes = ["198.51.100.10/32"]
    /// ```
    pub fn from_user_toml(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Catalog::from_user_toml_text(&text, &path.display().to_string())
    }

    /// [`Catalog::from_user_toml`] on text already read (`name` names it in errors); the fuzz
    /// target `catalog_extra` calls it directly.
    pub fn from_user_toml_text(text: &str, name: &str) -> Result<Self, CatalogError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct UserService {
            name: String,
            category: Option<String>,
            tcp_ports: Option<String>,
            udp_ports: Option<String>,
            #[serde(default)]
            names: Vec<String>,
            #[serde(default)]
            prefixes: Vec<String>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct UserFile {
            #[serde(default)]
            service: Vec<UserService>,
        }
        let file: UserFile = toml::from_str(text).map_err(|e| CatalogError::Json {
            source_name: name.to_owned(),
            reason: e.to_string(),
        })?;
        let raw = file
            .service
            .into_iter()
            .enumerate()
            .map(|(i, s)| raw::RawEndpointSet {
                id: 1_000_000 + i as i64,
                service_area: Some(s.name),
                service_area_display_name: None,
                urls: s.names,
                ips: s.prefixes,
                tcp_ports: s.tcp_ports,
                udp_ports: s.udp_ports,
                express_route: None,
                category: Some(s.category.unwrap_or_else(|| "Default".to_owned())),
                required: Some(true),
                notes: None,
            })
            .collect();
        let mut catalog = Catalog::from_raw(raw, name)?;
        catalog.version = format!("user+{}", sha256_prefix(text.as_bytes()));
        Ok(catalog)
    }

    fn from_raw(raw: Vec<raw::RawEndpointSet>, source_name: &str) -> Result<Self, CatalogError> {
        let mut catalog = Catalog {
            name: source_name.to_owned(),
            version: String::new(),
            sets: Vec::with_capacity(raw.len()),
            by_id: Default::default(),
            names: DomainIndex::default(),
            prefixes: PrefixIndex::default(),
        };
        for r in raw {
            let field = |field: &'static str, reason: String| CatalogError::Field {
                source_name: source_name.to_owned(),
                id: r.id,
                field,
                reason,
            };
            let id = u32::try_from(r.id).map_err(|_| field("id", "not a positive id".into()))?;
            let service_area = match r.service_area.as_deref() {
                Some(code) if !code.trim().is_empty() => ServiceArea::from_code(code.trim()),
                _ => return Err(field("serviceArea", "missing".into())),
            };
            let category = match r.category.as_deref() {
                Some("Optimize") => Category::Optimize,
                Some("Allow") => Category::Allow,
                Some("Default") => Category::Default,
                Some(other) => return Err(field("category", format!("unknown value {other:?}"))),
                None => return Err(field("category", "missing".into())),
            };
            let tcp_ports = PortSet::parse(r.tcp_ports.as_deref().unwrap_or(""))
                .map_err(|e| field("tcpPorts", e))?;
            let udp_ports = PortSet::parse(r.udp_ports.as_deref().unwrap_or(""))
                .map_err(|e| field("udpPorts", e))?;
            let mut ips = Vec::with_capacity(r.ips.len());
            for ip in &r.ips {
                ips.push(
                    ip.trim()
                        .parse::<IpNet>()
                        .map_err(|e| field("ips", format!("{ip:?}: {e}")))?,
                );
            }
            let index = SetIndex::try_from(catalog.sets.len())
                .map_err(|_| field("id", "too many endpoint sets".into()))?;
            for url in &r.urls {
                let pattern = DomainPattern::parse(url)
                    .map_err(|e| field("urls", format!("{url:?}: {e}")))?;
                catalog.names.insert(pattern, index);
            }
            for net in &ips {
                catalog.prefixes.insert(*net, index);
            }
            catalog.by_id.entry(EndpointId(id)).or_insert(index);
            catalog.sets.push(EndpointSet {
                id: EndpointId(id),
                service_area,
                category,
                required: r.required.unwrap_or(true),
                express_route: r.express_route.unwrap_or(false),
                tcp_ports,
                udp_ports,
                urls: r.urls,
                ips,
            });
        }
        Ok(catalog)
    }

    /// Where the catalog came from: the embedded snapshot or a file path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The data's version: Microsoft's version number when known, else the as-of date and
    /// the first 12 hex digits of the file's SHA-256 (e.g. `2025-12-01+fac674b969f5`).
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn sets(&self) -> &[EndpointSet] {
        &self.sets
    }

    pub fn set(&self, id: EndpointId) -> Option<&EndpointSet> {
        let index = *self.by_id.get(&id)?;
        self.sets.get(usize::try_from(index).ok()?)
    }

    /// Every set a server name belongs to, through every pattern that matches it, most
    /// specific pattern first.
    pub fn name_hits(&self, name: &str) -> Vec<CatalogHit<'_>> {
        let mut hits = Vec::new();
        for hit in self.names.lookup_all(name) {
            for set in hit.values.iter().filter_map(|i| self.sets.get(*i as usize)) {
                hits.push(CatalogHit {
                    set,
                    matched: MatchedEntry::Pattern(hit.pattern),
                    rank: hit.rank,
                });
            }
        }
        hits
    }

    /// Every set a server address belongs to, through every prefix that contains it, longest
    /// prefix first.
    pub fn addr_hits(&self, addr: IpAddr) -> Vec<CatalogHit<'_>> {
        let mut hits = Vec::new();
        for (rank, (net, sets)) in self.prefixes.lookup_all(addr).into_iter().enumerate() {
            let rank = u16::try_from(rank).unwrap_or(u16::MAX);
            for set in sets.iter().filter_map(|i| self.sets.get(*i as usize)) {
                hits.push(CatalogHit {
                    set,
                    matched: MatchedEntry::Prefix(net),
                    rank,
                });
            }
        }
        hits
    }

    /// Best set for a server name: the matching rule of `classify` within one signal.
    pub fn match_name(
        &self,
        name: &str,
        transport: Transport,
        port: u16,
    ) -> Option<CatalogMatch<'_>> {
        best_hit(self.name_hits(name), transport, port)
    }

    /// Best set for a server address: the matching rule of `classify` within one signal.
    pub fn match_addr(
        &self,
        addr: IpAddr,
        transport: Transport,
        port: u16,
    ) -> Option<CatalogMatch<'_>> {
        best_hit(self.addr_hits(addr), transport, port)
    }
}

/// A set that lists the port first, then the most specific entry, Optimize > Allow > Default,
/// the lowest id.
fn best_hit(
    hits: Vec<CatalogHit<'_>>,
    transport: Transport,
    port: u16,
) -> Option<CatalogMatch<'_>> {
    let best = hits
        .into_iter()
        .min_by_key(|h| (!h.set.lists_port(transport, port), h.order_key()))?;
    Some(CatalogMatch {
        set: best.set,
        matched: best.matched,
        port_listed: best.set.lists_port(transport, port),
    })
}

fn parse_raw(text: &str, source_name: &str) -> Result<Vec<raw::RawEndpointSet>, CatalogError> {
    serde_json::from_str(text).map_err(|e| CatalogError::Json {
        source_name: source_name.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_compiles_with_every_set() {
        let c = Catalog::embedded().unwrap();
        assert_eq!(c.sets().len(), 79);
        assert_eq!(
            c.set(EndpointId(11)).unwrap().udp_ports.to_string(),
            "3478,3479,3480,3481"
        );
    }

    #[test]
    fn field_errors_name_the_set_and_field() {
        let bad =
            r#"[{"id": 7, "serviceArea": "Exchange", "category": "Optimize", "tcpPorts": "80,x"}]"#;
        let err = Catalog::from_json(bad, "t.json").unwrap_err().to_string();
        assert_eq!(
            err,
            "t.json: endpoint set 7: field tcpPorts: bad port \"x\""
        );
        let bad = r#"[{"id": 9, "serviceArea": "Exchange", "category": "Fast"}]"#;
        let err = Catalog::from_json(bad, "t.json").unwrap_err().to_string();
        assert!(err.contains("endpoint set 9: field category"), "{err}");
        let bad =
            r#"[{"id": 3, "serviceArea": "Skype", "category": "Allow", "ips": ["1.2.3.0/33"]}]"#;
        let err = Catalog::from_json(bad, "t.json").unwrap_err().to_string();
        assert!(err.contains("endpoint set 3: field ips"), "{err}");
    }

    #[test]
    fn port_sets() {
        let p = PortSet::parse("143, 587, 993, 995").unwrap();
        assert!(p.contains(993) && !p.contains(443));
        let r = PortSet::parse("3478-3481").unwrap();
        assert!(r.contains(3480) && !r.contains(3482));
        assert!(PortSet::parse("5-1").is_err());
    }
}
