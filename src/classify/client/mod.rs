//! Which program sent a flow (`client_app`), how sure we are (`client_confidence`) and why
//! (`client_evidence`), plus inbound services published to the internet (`published_service`).
//!
//! The rules are data (`data/clients.toml`, compiled in; users add their own with
//! `--client-rules FILE`, tried first). A rule lists conditions on what the flow showed: every
//! condition given must hold, and a list condition holds when any of its values does. The first
//! rule that holds and names a `client` decides the client; the first that names a `published`
//! service decides that column. Facts come from the finished flow, so this runs once per flow,
//! never per packet.

use std::borrow::Cow;
use std::path::Path;

use serde::Deserialize;

use super::{Direction, MicrosoftStatus};
use crate::catalog::domain::{normalize, normalized};
use crate::catalog::PortSet;
use crate::wire::Transport;

mod glob;
mod memo;
use glob::{globs, Glob};
pub use memo::IdentifyMemo;

const EMBEDDED: &str = include_str!("../data/clients.toml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    High,
    Medium,
    Low,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{source_name}: cannot read: {reason}")]
    Read { source_name: String, reason: String },
    #[error("{source_name}: {reason}")]
    Syntax { source_name: String, reason: String },
    #[error("{source_name}: rule {rule:?}: field {field}: {reason}")]
    Field {
        source_name: String,
        rule: String,
        field: &'static str,
        reason: String,
    },
}

/// One rule as written in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    client: Option<String>,
    published: Option<String>,
    confidence: Option<Confidence>,
    #[serde(default)]
    why: String,
    #[serde(default)]
    app_protocol: Vec<String>,
    transport: Option<String>,
    #[serde(default)]
    server_port: Vec<String>,
    #[serde(default)]
    name: Vec<String>,
    #[serde(default)]
    ja4: Vec<String>,
    #[serde(default)]
    alpn: Vec<String>,
    no_alpn: Option<bool>,
    #[serde(default)]
    user_agent: Vec<String>,
    #[serde(default)]
    http_path: Vec<String>,
    #[serde(default)]
    media: Vec<String>,
    #[serde(default)]
    service_area: Vec<String>,
    #[serde(default)]
    microsoft: Vec<String>,
    #[serde(default)]
    client_microsoft: Vec<String>,
    #[serde(default)]
    direction: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

/// A checked rule: text lower-cased once, ports parsed.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub client: Option<String>,
    pub published: Option<String>,
    pub confidence: Confidence,
    pub why: String,
    app_protocol: Vec<String>,
    transport: Option<Transport>,
    server_port: Option<PortSet>,
    name: Vec<Glob>,
    ja4: Vec<Glob>,
    alpn: Vec<String>,
    no_alpn: Option<bool>,
    user_agent: Vec<String>,
    http_path: Vec<String>,
    media: Vec<String>,
    service_area: Vec<Glob>,
    microsoft: Vec<MicrosoftStatus>,
    client_microsoft: Vec<MicrosoftStatus>,
    direction: Vec<Direction>,
}

/// What a finished flow showed, as the rules see it.
#[derive(Clone, Copy, Debug)]
pub struct ClientFacts<'a> {
    pub transport: Transport,
    pub server_port: u16,
    pub app_protocol: &'a str,
    /// Server names, strongest first: SNI, HTTP host or proxy target, DNS, certificate.
    pub names: &'a [&'a str],
    pub ja4: Option<&'a str>,
    pub alpn: &'a [String],
    pub user_agent: Option<&'a str>,
    pub http_path: Option<&'a str>,
    pub media: &'a [&'a str],
    /// The service area (or `--catalog-extra` label) the flow matched.
    pub service_area: Option<&'a str>,
    /// Who owns the server.
    pub microsoft: MicrosoftStatus,
    /// Who owns the client address (Microsoft's servers connect in to published services).
    pub client_microsoft: MicrosoftStatus,
    pub direction: Direction,
}

/// The facts rules compare without regard to case, lowercased once per flow.
struct LowerFacts {
    user_agent: Option<String>,
    http_path: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMatch {
    pub app: String,
    pub confidence: Confidence,
    /// `rule=ID` first, then each fact that satisfied a condition.
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identification {
    pub client: Option<ClientMatch>,
    pub published: Option<String>,
    /// `published=ID` and its facts, when a published-service rule held.
    pub published_evidence: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ClientRules {
    rules: Vec<Rule>,
}

fn parse_status(text: &str) -> Option<MicrosoftStatus> {
    Some(match text {
        "listed" => MicrosoftStatus::Listed,
        "consumer" => MicrosoftStatus::Consumer,
        "unlisted" => MicrosoftStatus::Unlisted,
        "no" => MicrosoftStatus::No,
        _ => return None,
    })
}

fn parse_direction(text: &str) -> Option<Direction> {
    Some(match text {
        "outbound" => Direction::Outbound,
        "inbound" => Direction::Inbound,
        "internal" => Direction::Internal,
        "external" => Direction::External,
        _ => return None,
    })
}

fn lower(values: Vec<String>) -> Vec<String> {
    values.into_iter().map(|v| v.to_ascii_lowercase()).collect()
}

impl Rule {
    fn check(raw: RawRule, source_name: &str) -> Result<Rule, RulesError> {
        let field = |field: &'static str, reason: String| RulesError::Field {
            source_name: source_name.to_owned(),
            rule: raw.id.clone(),
            field,
            reason,
        };
        if raw.id.trim().is_empty() {
            return Err(field("id", "missing".into()));
        }
        if raw.client.is_none() && raw.published.is_none() {
            return Err(field(
                "client",
                "a rule names a `client`, a `published` service or both".into(),
            ));
        }
        let transport = match raw.transport.as_deref() {
            None => None,
            Some("tcp") => Some(Transport::Tcp),
            Some("udp") => Some(Transport::Udp),
            Some(other) => return Err(field("transport", format!("{other:?} is not tcp or udp"))),
        };
        let server_port = if raw.server_port.is_empty() {
            None
        } else {
            Some(PortSet::parse(&raw.server_port.join(",")).map_err(|e| field("server_port", e))?)
        };
        let statuses = |name: &'static str, values: &[String]| {
            values
                .iter()
                .map(|v| {
                    parse_status(v).ok_or_else(|| {
                        field(
                            name,
                            format!("{v:?} is not listed, consumer, unlisted or no"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let microsoft = statuses("microsoft", &raw.microsoft)?;
        let client_microsoft = statuses("client_microsoft", &raw.client_microsoft)?;
        let direction = raw
            .direction
            .iter()
            .map(|v| {
                parse_direction(v).ok_or_else(|| {
                    field(
                        "direction",
                        format!("{v:?} is not outbound, inbound, internal or external"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rule {
            id: raw.id,
            client: raw.client,
            published: raw.published,
            confidence: raw.confidence.unwrap_or(Confidence::Medium),
            why: raw.why,
            app_protocol: lower(raw.app_protocol),
            transport,
            server_port,
            name: globs(raw.name.iter().map(|n| normalize(n))),
            ja4: globs(lower(raw.ja4)),
            alpn: raw.alpn,
            no_alpn: raw.no_alpn,
            user_agent: lower(raw.user_agent),
            http_path: lower(raw.http_path),
            media: lower(raw.media),
            service_area: globs(lower(raw.service_area)),
            microsoft,
            client_microsoft,
            direction,
        })
    }

    /// False when a condition that needs no text comparison fails, or a fact a condition
    /// needs is missing: most rules fail here, before any name or User-Agent is matched.
    fn may_hold(&self, f: &ClientFacts<'_>) -> bool {
        self.transport.is_none_or(|t| t == f.transport)
            && self
                .server_port
                .as_ref()
                .is_none_or(|ports| ports.contains(f.server_port))
            && (self.microsoft.is_empty() || self.microsoft.contains(&f.microsoft))
            && (self.client_microsoft.is_empty()
                || self.client_microsoft.contains(&f.client_microsoft))
            && (self.direction.is_empty() || self.direction.contains(&f.direction))
            && (self.name.is_empty() || !f.names.is_empty())
            && (self.ja4.is_empty() || f.ja4.is_some())
            && (self.alpn.is_empty() || !f.alpn.is_empty())
            && (self.user_agent.is_empty() || f.user_agent.is_some())
            && (self.http_path.is_empty() || f.http_path.is_some())
            && (self.media.is_empty() || !f.media.is_empty())
            && (self.service_area.is_empty() || f.service_area.is_some())
    }

    /// Whether every condition holds (names already normalized); the evidence is written only
    /// when asked for (most rules fail, and formatting it for each would cost more than the
    /// checks).
    fn holds(
        &self,
        f: &ClientFacts<'_>,
        lower: &LowerFacts,
        mut why: Option<&mut Vec<String>>,
    ) -> bool {
        macro_rules! note {
            ($($arg:tt)*) => {
                if let Some(w) = why.as_mut() {
                    w.push(format!($($arg)*));
                }
            };
        }
        // The conditions that need no text comparison first: most rules fail there. Below, those
        // conditions only write their evidence.
        if !self.may_hold(f) {
            return false;
        }
        let mut all = || -> Option<()> {
            if !self.app_protocol.is_empty() {
                let app = self.app_protocol.iter().find(|a| *a == f.app_protocol)?;
                note!("app={app}");
            }
            if self.server_port.is_some() {
                note!("port={}", f.server_port);
            }
            if !self.name.is_empty() {
                let name = f
                    .names
                    .iter()
                    .find(|n| self.name.iter().any(|p| p.matches(n)))?;
                note!("name={name}");
            }
            if !self.ja4.is_empty() {
                let ja4 = f.ja4.filter(|j| self.ja4.iter().any(|p| p.matches(j)))?;
                note!("ja4={ja4}");
            }
            if !self.alpn.is_empty() {
                let alpn = f.alpn.iter().find(|a| self.alpn.contains(a))?;
                note!("alpn={alpn}");
            }
            if let Some(wanted) = self.no_alpn {
                // Only a ClientHello can show that no ALPN was offered.
                if f.ja4.is_none() || f.alpn.is_empty() != wanted {
                    return None;
                }
                note!("{}", if wanted { "alpn=none" } else { "alpn=some" });
            }
            if !self.user_agent.is_empty() {
                let (ua, lower) = (f.user_agent?, lower.user_agent.as_deref()?);
                self.user_agent
                    .iter()
                    .find(|u| lower.contains(u.as_str()))?;
                note!("user_agent={ua}");
            }
            if !self.http_path.is_empty() {
                let (path, lower) = (f.http_path?, lower.http_path.as_deref()?);
                self.http_path
                    .iter()
                    .find(|p| lower.starts_with(p.as_str()))?;
                note!("http_path={path}");
            }
            if !self.media.is_empty() {
                let m = f
                    .media
                    .iter()
                    .find(|m| self.media.iter().any(|w| w == *m))?;
                note!("media={m}");
            }
            if !self.service_area.is_empty() {
                let area = f.service_area?;
                let lower = area.to_ascii_lowercase();
                self.service_area.iter().find(|p| p.matches(&lower))?;
                note!("service_area={area}");
            }
            if !self.microsoft.is_empty() {
                note!("microsoft={}", f.microsoft.as_str());
            }
            if !self.client_microsoft.is_empty() {
                note!("client_microsoft={}", f.client_microsoft.as_str());
            }
            if !self.direction.is_empty() {
                note!("direction={}", f.direction.as_str());
            }
            Some(())
        };
        all().is_some()
    }
}

impl ClientRules {
    /// The rules shipped with o365flow.
    pub fn embedded() -> Result<Self, RulesError> {
        Self::parse(EMBEDDED, "clients.toml (embedded)")
    }

    pub fn parse(text: &str, source_name: &str) -> Result<Self, RulesError> {
        let file: RawFile = toml::from_str(text).map_err(|e| RulesError::Syntax {
            source_name: source_name.to_owned(),
            reason: e.to_string(),
        })?;
        let rules = file
            .rule
            .into_iter()
            .map(|r| Rule::check(r, source_name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ClientRules { rules })
    }

    /// The user's rules from `path`, tried before the embedded ones.
    pub fn with_user_file(path: &Path) -> Result<Self, RulesError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RulesError::Read {
            source_name: source_name.clone(),
            reason: e.to_string(),
        })?;
        let mut rules = Self::parse(&text, &source_name)?;
        rules.rules.extend(Self::embedded()?.rules);
        Ok(rules)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn identify(&self, facts: &ClientFacts<'_>) -> Identification {
        let names: Vec<Cow<'_, str>> = facts.names.iter().map(|n| normalized(n)).collect();
        let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        let facts = ClientFacts {
            names: &names,
            ..*facts
        };
        // Once per flow, not once per rule that asks.
        let lower = LowerFacts {
            user_agent: facts.user_agent.map(str::to_ascii_lowercase),
            http_path: facts.http_path.map(str::to_ascii_lowercase),
        };
        let mut out = Identification::default();
        for rule in &self.rules {
            let wants_client = rule.client.is_some() && out.client.is_none();
            let wants_published = rule.published.is_some() && out.published.is_none();
            if !wants_client && !wants_published || !rule.holds(&facts, &lower, None) {
                continue;
            }
            let mut evidence = vec![format!("rule={}", rule.id)];
            rule.holds(&facts, &lower, Some(&mut evidence));
            if wants_published {
                out.published = rule.published.clone();
                out.published_evidence = evidence.clone();
            }
            if let (true, Some(app)) = (wants_client, &rule.client) {
                out.client = Some(ClientMatch {
                    app: app.clone(),
                    confidence: rule.confidence,
                    evidence,
                });
            }
            if out.client.is_some() && out.published.is_some() {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
