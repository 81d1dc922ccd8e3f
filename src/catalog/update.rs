//! `catalog update`: asks Microsoft's endpoint web service for the latest version of an
//! instance's data and downloads it only when the data directory does not hold it yet.
//! A failed download or invalid data leaves the stored catalogs untouched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::store::{self, Instance};
use super::CatalogError;

/// Microsoft's endpoint web service (docs: https://aka.ms/ipurlws).
pub const SERVICE_URL: &str = "https://endpoints.office.com";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The latest version was already stored: nothing was downloaded.
    UpToDate {
        version: String,
    },
    Stored {
        version: String,
        path: PathBuf,
    },
}

/// A random version-4 UUID, as the service asks for in `ClientRequestId`.
fn client_request_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // An all-zero id is still a valid request id if the system RNG should fail.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut hex = String::with_capacity(32);
    crate::hex::push_bytes(&mut hex, &b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn fetch(agent: &ureq::Agent, url: &str) -> Result<String, CatalogError> {
    let failed = |reason: String| CatalogError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let mut response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| failed(e.to_string()))
}

/// Checks `/version/{instance}` and fetches `/endpoints/{instance}` when it is newer than every
/// stored catalog.
pub fn update(
    data: &Path,
    instance: Instance,
    service_url: &str,
    proxy: Option<&str>,
) -> Result<UpdateOutcome, CatalogError> {
    let base = service_url.trim_end_matches('/');
    let proxy = match proxy {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| CatalogError::Fetch {
            url: p.to_owned(),
            reason: e.to_string(),
        })?),
        None => None,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(proxy)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let name = instance.service_name();
    let version_url = format!(
        "{base}/version/{name}?ClientRequestId={}",
        client_request_id()
    );
    let text = fetch(&agent, &version_url)?;
    #[derive(serde::Deserialize)]
    struct Version {
        latest: String,
    }
    let latest = serde_json::from_str::<Version>(&text)
        .map_err(|e| CatalogError::Json {
            source_name: version_url.clone(),
            reason: e.to_string(),
        })?
        .latest;
    if latest.is_empty() || !latest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CatalogError::Json {
            source_name: version_url,
            reason: format!("latest version {latest:?} is not YYYYMMDDNN"),
        });
    }
    if store::stored_versions(data, instance)
        .iter()
        .any(|(v, _)| *v == latest)
    {
        return Ok(UpdateOutcome::UpToDate { version: latest });
    }
    let endpoints_url = format!(
        "{base}/endpoints/{name}?ClientRequestId={}",
        client_request_id()
    );
    let json = fetch(&agent, &endpoints_url)?;
    let path = store::store(data, instance, &json, &latest, &endpoints_url)?;
    Ok(UpdateOutcome::Stored {
        version: latest,
        path,
    })
}
