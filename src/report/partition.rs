//! Hive-style partitions of the flow table (`flows/site=NAME/date=YYYY-MM-DD/part-ID.parquet`),
//! the layout Spark, DuckDB, polars and pandas read as one table with `site` and `date` columns.
//! Part files are named after the run's captures (their SHA-256), so analysing the same
//! captures again replaces their parts instead of adding copies. Live capture adds `hour=HH`
//! below the day and writes a numbered part for each batch of ended flows; `prune_days` deletes
//! the days a sensor no longer keeps.

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
    /// The UTC hour (`00`..`23`) of each flow's first packet (below `date`).
    Hour,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PartitionError {
    #[error("unknown partition {0:?}: use site=NAME, date or hour")]
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
            None if s == "hour" => Ok(PartitionKey::Hour),
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

/// The directory of a row below `flows/`, e.g. `site=paris/date=2026-01-05`. `hour` without
/// `date` gets the date in front of it: `hour=HH` alone would put every day's hour HH together.
pub fn partition_dir(keys: &[PartitionKey], row: &FlowRow) -> String {
    let day = || {
        let day = row.first_seen.utc_day();
        format!("date={}", if day.is_empty() { "unknown" } else { &day })
    };
    let has_date = keys.contains(&PartitionKey::Date);
    keys.iter()
        .map(|k| match k {
            PartitionKey::Site(name) => format!("site={name}"),
            PartitionKey::Date => day(),
            PartitionKey::Hour => {
                let hour = row.first_seen.utc_hour();
                let hour = format!("hour={}", if hour.is_empty() { "unknown" } else { &hour });
                if has_date {
                    hour
                } else {
                    format!("{}/{hour}", day())
                }
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

/// A live run's keys: those given (`--partition`), then `date` and `hour` unless given.
pub fn live_keys(given: &[PartitionKey]) -> Vec<PartitionKey> {
    let mut keys = given.to_vec();
    for key in [PartitionKey::Date, PartitionKey::Hour] {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// The name of a live run's `sequence`-th part: the run's identity (as [`part_file_name`]) and
/// the sequence number, so parts of one run sort in the order they were written.
pub fn live_part_name(meta: &RunMeta, sequence: u64) -> String {
    let run = part_file_name(meta);
    let id = run
        .strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
        .unwrap_or("live");
    format!("part-{id}-{sequence:06}.parquet")
}

/// What one pruning did: the directories deleted, and how many entries could not be looked at or
/// deleted (with the first reason); one failure does not stop the others.
#[derive(Debug, Default)]
pub struct Pruned {
    pub deleted: Vec<std::path::PathBuf>,
    pub failed: u64,
    pub first_error: Option<String>,
}

impl Pruned {
    fn fail(&mut self, path: &std::path::Path, e: &std::io::Error) {
        self.failed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {e}", path.display()));
        }
    }
}

/// `--keep-days N`: deletes every `date=YYYY-MM-DD` directory below `flows` (at any depth, e.g.
/// below `site=NAME`) whose day is more than `keep_days` days before `today` (`YYYY-MM-DD`, UTC):
/// with 1, yesterday stays and the day before goes. Symbolic links are never followed nor
/// deleted (a link in the tree could lead to another tree's days), and only directories whose
/// names parse as days are deleted.
pub fn prune_days(flows: &std::path::Path, keep_days: u32, today: &str) -> Pruned {
    prune_days_with(flows, keep_days, today, &|p| std::fs::remove_dir_all(p))
}

/// [`prune_days`] with the deletion given (tests make it fail).
pub(crate) fn prune_days_with(
    flows: &std::path::Path,
    keep_days: u32,
    today: &str,
    remove: &dyn Fn(&std::path::Path) -> std::io::Result<()>,
) -> Pruned {
    let mut pruned = Pruned::default();
    let Ok(today) = chrono::NaiveDate::parse_from_str(today, "%Y-%m-%d") else {
        return pruned;
    };
    let Some(cutoff) = today.checked_sub_days(chrono::Days::new(u64::from(keep_days))) else {
        return pruned;
    };
    // The flows directory itself is the operator's choice (it may be a link); below it none is
    // followed.
    if flows.is_dir() {
        prune_below(flows, cutoff, 0, remove, &mut pruned);
    }
    pruned
}

fn prune_below(
    dir: &std::path::Path,
    cutoff: chrono::NaiveDate,
    depth: usize,
    remove: &dyn Fn(&std::path::Path) -> std::io::Result<()>,
    pruned: &mut Pruned,
) {
    // Partition trees are shallow (site, date); deeper directories are not ours to walk.
    if depth > 4 {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return pruned.fail(dir, &e),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                pruned.fail(dir, &e);
                continue;
            }
        };
        let path = entry.path();
        // file_type() does not follow links: a link is neither walked nor deleted.
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => {}
            Ok(_) => continue,
            Err(e) => {
                pruned.fail(&path, &e);
                continue;
            }
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.strip_prefix("date=") {
            Some(day) => {
                let old = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .is_ok_and(|day| day < cutoff);
                if old {
                    match remove(&path) {
                        Ok(()) => pruned.deleted.push(path),
                        Err(e) => pruned.fail(&path, &e),
                    }
                }
            }
            None => prune_below(&path, cutoff, depth + 1, remove, pruned),
        }
    }
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
        assert_eq!("hour".parse::<PartitionKey>(), Ok(PartitionKey::Hour));
        assert!(matches!(
            "minute".parse::<PartitionKey>(),
            Err(PartitionError::Unknown(_))
        ));
        assert_eq!(
            live_keys(&[PartitionKey::Site("s".into())]),
            [
                PartitionKey::Site("s".into()),
                PartitionKey::Date,
                PartitionKey::Hour
            ]
        );
        assert_eq!(
            live_keys(&[PartitionKey::Hour, PartitionKey::Date]),
            [PartitionKey::Hour, PartitionKey::Date]
        );
    }

    #[test]
    fn old_days_are_pruned_and_recent_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flows = dir.path().join("flows");
        for day in [
            "site=a/date=2026-01-01/hour=10",
            "site=a/date=2026-01-08/hour=00",
            "site=a/date=2026-01-09/hour=23",
            "site=a/date=2026-01-10/hour=00",
            "date=2025-12-31/hour=01",
            "date=unknown/hour=unknown",
        ] {
            std::fs::create_dir_all(flows.join(day)).expect("mkdir");
        }
        // A link to another tree with an old day: neither walked nor deleted.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(elsewhere.join("date=2020-01-01")).expect("mkdir");
        std::os::unix::fs::symlink(&elsewhere, flows.join("site=link")).expect("symlink");
        std::os::unix::fs::symlink(
            elsewhere.join("date=2020-01-01"),
            flows.join("site=a/date=2020-01-02"),
        )
        .expect("symlink");
        let pruned = prune_days(&flows, 1, "2026-01-10");
        assert_eq!(pruned.failed, 0, "{:?}", pruned.first_error);
        let mut deleted = pruned.deleted;
        deleted.sort();
        assert_eq!(
            deleted,
            [
                flows.join("date=2025-12-31"),
                flows.join("site=a/date=2026-01-01"),
                flows.join("site=a/date=2026-01-08"),
            ]
        );
        for kept in [
            "site=a/date=2026-01-09",
            "site=a/date=2026-01-10",
            "date=unknown",
        ] {
            assert!(flows.join(kept).is_dir(), "{kept}");
        }
        assert!(elsewhere.join("date=2020-01-01").is_dir());
        assert!(flows.join("site=a/date=2020-01-02").is_symlink());
        assert!(prune_days(&flows, 1, "not a day").deleted.is_empty());
        assert!(prune_days(&dir.path().join("missing"), 1, "2026-01-10")
            .deleted
            .is_empty());
    }

    #[test]
    fn a_failed_deletion_does_not_stop_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flows = dir.path().join("flows");
        for day in [
            "site=a/date=2026-01-01",
            "site=b/date=2026-01-01",
            "date=2026-01-02",
        ] {
            std::fs::create_dir_all(flows.join(day)).expect("mkdir");
        }
        let stuck = flows.join("site=a/date=2026-01-01");
        let pruned = prune_days_with(&flows, 1, "2026-01-10", &|p| {
            if p == stuck {
                Err(std::io::Error::other("busy"))
            } else {
                std::fs::remove_dir_all(p)
            }
        });
        assert_eq!(pruned.failed, 1);
        assert!(pruned
            .first_error
            .as_deref()
            .is_some_and(|e| e.ends_with("busy")));
        assert_eq!(pruned.deleted.len(), 2, "{:?}", pruned.deleted);
        assert!(stuck.is_dir());
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
