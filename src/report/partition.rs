//! Hive-style partitions of the flow table (`flows/site=NAME/date=YYYY-MM-DD/part-ID.parquet`),
//! the layout Spark, DuckDB, polars and pandas read as one table with `site` and `date` columns.
//! Part files are named after the run's captures (their SHA-256), so analysing the same
//! captures again replaces their parts instead of adding copies.

use std::str::FromStr;

use super::meta::RunMeta;
use super::row::FlowRow;

/// One level of the partition tree, outermost first as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionKey {
    /// A fixed value for the whole run: the sensor or site the captures come from.
    Site(String),
    /// The UTC day of each flow's first packet.
    Date,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PartitionError {
    #[error("unknown partition {0:?}: use site=NAME or date")]
    Unknown(String),
    #[error(
        "site name {0:?}: use letters, digits, '.', '_' and '-' (it becomes a directory name)"
    )]
    BadSite(String),
}

impl FromStr for PartitionKey {
    type Err = PartitionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            None if s == "date" => Ok(PartitionKey::Date),
            Some(("site", name)) => {
                let fine = !name.is_empty()
                    && name.len() <= 64
                    && !name.starts_with('.')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
                if fine {
                    Ok(PartitionKey::Site(name.to_owned()))
                } else {
                    Err(PartitionError::BadSite(name.to_owned()))
                }
            }
            _ => Err(PartitionError::Unknown(s.to_owned())),
        }
    }
}

/// The directory of a row below `flows/`, e.g. `site=paris/date=2026-01-05`.
pub fn partition_dir(keys: &[PartitionKey], row: &FlowRow) -> String {
    keys.iter()
        .map(|k| match k {
            PartitionKey::Site(name) => format!("site={name}"),
            PartitionKey::Date => {
                let day = row.first_seen.utc_day();
                format!("date={}", if day.is_empty() { "unknown" } else { &day })
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The part file name of a run: `part-` and 12 hex digits of a SHA-256 over the captures'
/// contents (their SHA-256, in order), or over names and start times for live captures, which
/// have no file digest.
pub fn part_file_name(meta: &RunMeta) -> String {
    let mut identity = Vec::new();
    for c in &meta.captures {
        if c.sha256.is_empty() {
            identity.extend_from_slice(b"live\0");
            identity.extend_from_slice(c.name.as_bytes());
            identity.push(0);
            identity.extend_from_slice(c.first_packet.as_bytes());
        } else {
            identity.extend_from_slice(c.sha256.as_bytes());
        }
        identity.push(b'\n');
    }
    format!("part-{}.parquet", crate::catalog::sha256_prefix(&identity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_refuse() {
        assert_eq!(
            "site=paris-1".parse::<PartitionKey>(),
            Ok(PartitionKey::Site("paris-1".into()))
        );
        assert_eq!("date".parse::<PartitionKey>(), Ok(PartitionKey::Date));
        assert!(matches!(
            "site=../etc".parse::<PartitionKey>(),
            Err(PartitionError::BadSite(_))
        ));
        assert!(matches!(
            "site=".parse::<PartitionKey>(),
            Err(PartitionError::BadSite(_))
        ));
        assert!(matches!(
            "hour".parse::<PartitionKey>(),
            Err(PartitionError::Unknown(_))
        ));
    }

    #[test]
    fn part_names_follow_capture_content() {
        let mut meta = RunMeta::default();
        meta.captures.push(super::super::meta::CaptureMeta {
            name: "a.pcap".into(),
            sha256: "ab".repeat(32),
            ..Default::default()
        });
        let first = part_file_name(&meta);
        meta.captures[0].name = "renamed.pcap".into();
        assert_eq!(part_file_name(&meta), first, "the name does not count");
        meta.captures[0].sha256 = "cd".repeat(32);
        assert_ne!(part_file_name(&meta), first);
        assert!(first.starts_with("part-") && first.ends_with(".parquet"));
        assert_eq!(first.len(), "part-".len() + 12 + ".parquet".len());
    }
}
