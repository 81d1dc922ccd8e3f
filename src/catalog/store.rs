//! Catalogs stored in the user's data directory (`$O365FLOW_DATA_DIR`, else
//! `$XDG_DATA_HOME/o365flow`, else `~/.local/share/o365flow`): `catalogs/INSTANCE/VERSION.json`.
//! `analyze` uses the newest stored worldwide catalog when one exists, else the embedded one.

use std::path::{Path, PathBuf};

use super::{Catalog, CatalogError};

/// Microsoft's cloud instances, as the endpoint web service names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Instance {
    #[default]
    Worldwide,
    UsGovDod,
    UsGovGccHigh,
    China,
}

impl Instance {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "worldwide" => Some(Instance::Worldwide),
            "usgovdod" => Some(Instance::UsGovDod),
            "usgovgcchigh" => Some(Instance::UsGovGccHigh),
            "china" => Some(Instance::China),
            _ => None,
        }
    }

    /// The web service's spelling (`/endpoints/Worldwide`).
    pub fn service_name(self) -> &'static str {
        match self {
            Instance::Worldwide => "Worldwide",
            Instance::UsGovDod => "USGovDoD",
            Instance::UsGovGccHigh => "USGovGCCHigh",
            Instance::China => "China",
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            Instance::Worldwide => "worldwide",
            Instance::UsGovDod => "usgovdod",
            Instance::UsGovGccHigh => "usgovgcchigh",
            Instance::China => "china",
        }
    }
}

pub fn data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("O365FLOW_DATA_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("o365flow"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/o365flow"))
}

fn instance_dir(data: &Path, instance: Instance) -> PathBuf {
    data.join("catalogs").join(instance.dir_name())
}

/// Sort key of a version: its first eight digits (`2025120100` and `2025-12-01+...` both give
/// 20251201), then the full text.
fn version_key(version: &str) -> (String, String) {
    let digits: String = version
        .chars()
        .filter(char::is_ascii_digit)
        .take(10)
        .collect();
    (digits, version.to_owned())
}

/// Validates `text` as endpoint JSON and stores it under its version; returns the stored path.
pub fn store(
    data: &Path,
    instance: Instance,
    text: &str,
    version: &str,
    source_name: &str,
) -> Result<PathBuf, CatalogError> {
    Catalog::from_json(text, source_name)?;
    let safe: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '+' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = instance_dir(data, instance);
    let io = |e: std::io::Error| CatalogError::Read {
        path: dir.clone(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join(format!("{safe}.json"));
    // Written under a temporary name, then renamed: a stored catalog is never half written.
    let tmp = dir.join(format!(".{safe}.json.tmp"));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

/// The stored versions of an instance, oldest first.
pub fn stored_versions(data: &Path, instance: Instance) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(instance_dir(data, instance)) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_owned(), p)))
        .filter(|(v, _)| !v.starts_with('.'))
        .collect();
    found.sort_by_key(|(v, _)| version_key(v));
    found
}

/// The newest stored catalog of an instance, with its version.
pub fn newest(data: &Path, instance: Instance) -> Option<Result<Catalog, CatalogError>> {
    let (version, path) = stored_versions(data, instance).pop()?;
    Some(Catalog::from_file(&path).map(|mut c| {
        c.version = version;
        c
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_finds_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let json = super::super::EMBEDDED_JSON;
        store(dir.path(), Instance::Worldwide, json, "2025110100", "a").unwrap();
        store(
            dir.path(),
            Instance::Worldwide,
            json,
            "2025-12-01+fac674b969f5",
            "b",
        )
        .unwrap();
        store(dir.path(), Instance::China, json, "2026010100", "c").unwrap();
        let newest = newest(dir.path(), Instance::Worldwide).unwrap().unwrap();
        assert_eq!(newest.version(), "2025-12-01+fac674b969f5");
        assert!(store(dir.path(), Instance::Worldwide, "[{]", "x", "bad").is_err());
        assert_eq!(stored_versions(dir.path(), Instance::Worldwide).len(), 2);
        assert_eq!(Instance::parse("USGovDoD"), Some(Instance::UsGovDod));
    }
}
