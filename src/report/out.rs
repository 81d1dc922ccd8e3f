//! `--out DIR`: the flow table (Parquet with the run's metadata, CSV, JSON lines) and the
//! report set (summary.json, report.md, report.html, firewall-rules.csv, firewall/). Every file
//! is written under a temporary name and renamed into place, so a reader never sees half a file,
//! and summary.json comes last, so a reader that sees it sees the whole set.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::audit::{self, firewall, render, AuditReport, Gathered};
use super::columns::COLUMN_TABLE;
use super::frame::{flows_frame, Layout};
use super::meta::{RunMeta, PARQUET_META_KEY, PARQUET_SCHEMA_KEY};
use super::partition::{
    live_keys, live_part_name, part_file_name, partition_dir, prune_days_with, PartitionKey,
};
use super::row::FlowRow;
use super::write::{csv_safe, temp_path_for, write_flows, WriteError};
use crate::catalog::Catalog;

fn io_error(path: &Path, e: &dyn std::fmt::Display) -> WriteError {
    WriteError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes `path` through `write` into a temporary name in the same directory (keeping the
/// extension, which picks the format of flow files), then renames it into place. The file's
/// data reaches the disk before the rename, and the rename before this returns: a sensor that
/// loses power mid-run keeps whole parts and reports under their names, never empty files
/// (a rename alone may reach the disk before the data it names).
fn replace_file(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    let tmp = temp_path_for(path)?;
    write(&tmp)?;
    File::open(&tmp)
        .and_then(|file| file.sync_all())
        .map_err(|e| io_error(&tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, &e))?;
    // The directory entry; some file systems cannot sync a directory, and the data is safe.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temporary name, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    replace_file(path, |tmp| {
        let mut file = File::create(tmp).map_err(|e| io_error(tmp, &e))?;
        file.write_all(bytes).map_err(|e| io_error(tmp, &e))
    })
}

/// The flow table as Parquet with the run's metadata in its key-value metadata.
pub fn write_parquet(df: &DataFrame, meta: &RunMeta, path: &Path) -> Result<(), WriteError> {
    let json = serde_json::to_string(meta).map_err(|e| io_error(path, &e))?;
    replace_file(path, |tmp| {
        // Buffered: the Parquet writer makes many tiny writes (about 12 per column chunk).
        let mut file = BufWriter::new(File::create(tmp).map_err(|e| io_error(tmp, &e))?);
        let mut df = df.clone();
        ParquetWriter::new(&mut file)
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![
                (PARQUET_META_KEY.to_owned(), json),
                (
                    PARQUET_SCHEMA_KEY.to_owned(),
                    meta.schema_version.to_string(),
                ),
            ])))
            .finish(&mut df)
            .map_err(|e| io_error(tmp, &e))?;
        file.flush().map_err(|e| io_error(tmp, &e))
    })
}

/// The Parquet files under `path`: the file itself, or every `*.parquet` below a directory (a
/// partitioned `flows/` tree), in path order. Entries whose name below the directory starts
/// with `.` or `_` (temporary files, engines' markers and work directories) are skipped.
fn parquet_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), WriteError> {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let wanted = |file: &Path| {
        file.extension().is_some_and(|x| x == "parquet")
            && file.strip_prefix(path).is_ok_and(|below| {
                below.components().all(|c| {
                    let name = c.as_os_str().to_string_lossy();
                    !name.starts_with('.') && !name.starts_with('_')
                })
            })
    };
    let mut found = Vec::new();
    crate::files::collect_files(path, &wanted, &mut found).map_err(|e| io_error(path, &e))?;
    found.sort();
    out.extend(found);
    Ok(())
}

/// Runs `read` on the file `path`, turning a panic into an error: polars' Parquet reader panics
/// on some malformed files (a sorting column whose boolean has no value, found by the fuzz
/// target `flow_file`), and a bad flow file must be refused like any other bad input.
fn refuse_panics<T>(
    path: &Path,
    read: impl FnOnce() -> Result<T, WriteError>,
) -> Result<T, WriteError> {
    let quiet = QuietPanics::begin();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    drop(quiet);
    result.unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(io_error(
            path,
            &format!("not a readable Parquet flow file (the reader failed: {reason})"),
        ))
    })
}

/// While one is alive, panic messages are not printed: a panic [`refuse_panics`] turns into an
/// error must not also print a panic report (the error message says what failed).
struct QuietPanics;

static QUIET_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl QuietPanics {
    fn begin() -> QuietPanics {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if QUIET_PANICS.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    previous(info);
                }
            }));
        });
        QUIET_PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        QuietPanics
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        QUIET_PANICS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Reads flow files written by `analyze --out` (or `--flows x.parquet`), or partitioned trees
/// of them: the rows of all, and each run's metadata once (the parts of one run carry the same
/// metadata; a file without it gets an empty one and a warning).
pub fn read_flow_files(paths: &[PathBuf]) -> Result<(DataFrame, Vec<RunMeta>), WriteError> {
    let mut files = Vec::new();
    for path in paths {
        parquet_files(path, &mut files)?;
    }
    let mut frames: Option<DataFrame> = None;
    let mut metas: Vec<RunMeta> = Vec::new();
    let mut seen_metas: std::collections::HashSet<String> = std::collections::HashSet::new();
    for path in &files {
        let (stored, df) = refuse_panics(path, || {
            let file = File::open(path).map_err(|e| io_error(path, &e))?;
            let checked = file.try_clone().map_err(|e| io_error(path, &e))?;
            let mut reader = ParquetReader::new(file);
            let metadata = reader.get_metadata().map_err(|e| io_error(path, &e))?;
            super::pages::check(&checked, metadata).map_err(|reason| {
                io_error(
                    path,
                    &format!("not a readable Parquet flow file ({reason})"),
                )
            })?;
            let stored = metadata
                .key_value_metadata()
                .as_ref()
                .and_then(|kv| kv.iter().find(|k| k.key == PARQUET_META_KEY))
                .and_then(|k| k.value.clone());
            // Only the flow schema's columns, left out before decoding: the report reads no
            // others, and a directory of files each with columns of its own would grow the
            // stacked table by every file's columns, null-filled in all the others (quadratic
            // in the files).
            let schema = reader.schema().map_err(|e| io_error(path, &e))?;
            let known: Vec<usize> = schema
                .iter_names()
                .enumerate()
                .filter(|(_, name)| COLUMN_TABLE.iter().any(|c| c.name == name.as_str()))
                .map(|(at, _)| at)
                .collect();
            if known.len() < schema.len() {
                reader = reader.with_projection(Some(known));
            }
            let df = reader.finish().map_err(|e| io_error(path, &e))?;
            // polars can hand out columns of different lengths from a malformed file (found by
            // the fuzz target `flow_file`); every later step assumes one height.
            let height = df.height();
            if let Some(column) = df.columns().iter().find(|c| c.len() != height) {
                return Err(io_error(
                    path,
                    &format!(
                        "not a readable Parquet flow file (column {} has {} rows, the table {height})",
                        column.name(),
                        column.len()
                    ),
                ));
            }
            Ok((stored, df))
        })?;
        let meta = match stored {
            Some(json) => serde_json::from_str(&json).map_err(|e| io_error(path, &e))?,
            None => RunMeta {
                warnings: vec![format!(
                    "{}: no o365flow run metadata (not written by analyze --out?)",
                    path.display()
                )],
                ..RunMeta::default()
            },
        };
        // Once each, compared by their canonical text: comparing each with every kept one was
        // quadratic in the parts of a long live run (each carries another snapshot).
        if seen_metas.insert(serde_json::to_string(&meta).map_err(|e| io_error(path, &e))?) {
            metas.push(meta);
        }
        frames = Some(match frames {
            None => df,
            Some(mut all) => {
                let df = align(&mut all, df).map_err(|e| io_error(path, &e))?;
                all.vstack_mut(&df).map_err(|e| io_error(path, &e))?;
                all
            }
        });
    }
    let df = frames.ok_or_else(|| WriteError::Io {
        path: paths.first().cloned().unwrap_or_default(),
        reason: "no flow files given (or no .parquet files in the directory)".into(),
    })?;
    Ok((df, metas))
}

/// Flow files of different schema versions (a column added since, such as `tenant` in schema
/// 5) stack by name: a column one side lacks is added to it as nulls of the other's type, and
/// `next` takes `all`'s column order.
fn align(all: &mut DataFrame, mut next: DataFrame) -> PolarsResult<DataFrame> {
    for column in next.columns() {
        if all.get_column_index(column.name()).is_none() {
            let nulls = Column::full_null(column.name().clone(), all.height(), column.dtype());
            all.with_column(nulls)?;
        }
    }
    let missing: Vec<Column> = all
        .columns()
        .iter()
        .filter(|c| next.get_column_index(c.name()).is_none())
        .map(|c| Column::full_null(c.name().clone(), next.height(), c.dtype()))
        .collect();
    for column in missing {
        next.with_column(column)?;
    }
    next.select(all.get_column_names_owned())
}

/// A rendered table as CSV through polars, cells protected against formula injection.
fn table_csv(table: &audit::Table) -> PolarsResult<Vec<u8>> {
    let columns: Vec<Column> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values: Vec<String> = table
                .rows
                .iter()
                .map(|r| csv_safe(r.get(i).map(String::as_str).unwrap_or("")).into_owned())
                .collect();
            Column::new(name.as_str().into(), values)
        })
        .collect();
    let mut df = DataFrame::new_infer_height(columns)?;
    let mut out = Vec::new();
    CsvWriter::new(&mut out).finish(&mut df)?;
    Ok(out)
}

/// The report files for a built report. summary.json is published last: a reader that sees it
/// (a first time, or a new version of it) sees every other file of the same set complete.
pub fn write_report(report: &AuditReport, dir: &Path) -> Result<(), WriteError> {
    let json = render::summary_json(report).map_err(|e| io_error(dir, &e))?;
    write_atomic(&dir.join("report.md"), render::markdown(report).as_bytes())?;
    write_atomic(&dir.join("report.html"), render::html(report).as_bytes())?;
    let rules = table_csv(&report.firewall).map_err(|e| io_error(dir, &e))?;
    write_atomic(&dir.join("firewall-rules.csv"), &rules)?;
    let lists = dir.join("firewall");
    for (name, text) in firewall::lists(&report.firewall_sets) {
        write_atomic(&lists.join(name), text.as_bytes())?;
    }
    write_atomic(
        &lists.join("proxy.pac"),
        firewall::pac(&report.firewall_sets).as_bytes(),
    )?;
    write_atomic(&dir.join("summary.json"), json.as_bytes())
}

/// `analyze --out DIR --partition ...`: the flow table as Hive-style partitions under
/// `DIR/flows/`, one part file per partition named after the run's captures (replacing the
/// part of an earlier run over the same captures).
fn write_partitioned(
    rows: &[FlowRow],
    df: &DataFrame,
    meta: &RunMeta,
    keys: &[PartitionKey],
    dir: &Path,
) -> Result<(), WriteError> {
    split_parts(
        rows,
        df,
        meta,
        keys,
        &dir.join("flows"),
        &part_file_name(meta),
    )
    .map(|_| ())
}

/// Writes `rows` (whose frame is `df`) as the part file `name` in each of their partitions
/// below `flows`; returns the files written.
fn split_parts(
    rows: &[FlowRow],
    df: &DataFrame,
    meta: &RunMeta,
    keys: &[PartitionKey],
    flows: &Path,
    name: &str,
) -> Result<Vec<PathBuf>, WriteError> {
    let dirs: Vec<String> = rows.iter().map(|row| partition_dir(keys, row)).collect();
    let distinct: std::collections::BTreeSet<&String> = dirs.iter().collect();
    let mut written = Vec::new();
    for partition in distinct {
        let mask: BooleanChunked = dirs.iter().map(|d| d == partition).collect();
        let part = df.filter(&mask).map_err(|e| io_error(flows, &e))?;
        let path = flows.join(partition).join(name);
        write_parquet(&part, meta, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Live capture: one batch of ended flows as part files `name` below `flows` (e.g.
/// `DIR/flows/date=2026-01-05/hour=13/part-....parquet`), each with the run's metadata as it is
/// now; returns the files written.
pub fn write_parts(
    rows: &[FlowRow],
    meta: &RunMeta,
    keys: &[PartitionKey],
    flows: &Path,
    name: &str,
) -> Result<Vec<PathBuf>, WriteError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let df = flows_frame(rows, Layout::Typed).map_err(|e| io_error(flows, &e))?;
    split_parts(rows, &df, meta, keys, flows, name)
}

/// Live capture's flow parts below `DIR/flows/` (`--partition` keys, then `date` and `hour`):
/// one numbered part per batch of ended flows; with `keep_days`, older days are deleted. A day
/// that cannot be deleted is counted apart ([`LiveParts::prune_failures`]): the part was written.
pub struct LiveParts {
    flows: PathBuf,
    keys: Vec<PartitionKey>,
    keep_days: Option<u32>,
    sequence: u64,
    remove: fn(&Path) -> std::io::Result<()>,
    prune_failed: u64,
    prune_first_error: Option<String>,
}

impl LiveParts {
    pub fn new(dir: &Path, given: &[PartitionKey], keep_days: Option<u32>) -> LiveParts {
        LiveParts {
            flows: dir.join("flows"),
            keys: live_keys(given),
            keep_days,
            sequence: 0,
            remove: |p| std::fs::remove_dir_all(p),
            prune_failed: 0,
            prune_first_error: None,
        }
    }

    /// Writes one batch (with the run's metadata as it is now), then prunes old days (also when
    /// the batch failed: old days go all the same).
    pub fn write(&mut self, rows: &[FlowRow], meta: &RunMeta) -> Result<(), WriteError> {
        self.sequence += 1;
        let name = live_part_name(meta, self.sequence);
        let written = write_parts(rows, meta, &self.keys, &self.flows, &name).map(|_| ());
        if let Some(days) = self.keep_days {
            let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
            let pruned = prune_days_with(&self.flows, days, &today, &self.remove);
            self.prune_failed += pruned.failed;
            if self.prune_first_error.is_none() {
                self.prune_first_error = pruned.first_error;
            }
        }
        written
    }

    /// How many entries `--keep-days` could not delete (or look at), with the first reason.
    pub fn prune_failures(&self) -> Option<(u64, String)> {
        (self.prune_failed > 0).then(|| {
            (
                self.prune_failed,
                self.prune_first_error.clone().unwrap_or_default(),
            )
        })
    }
}

/// Live capture's report set: the report over every flow of the run (`gathered`), with
/// flows.csv and flows.jsonl of the most recent ones (`recent`); the Parquet table is in the
/// parts ([`LiveParts`]).
pub fn write_live_report(
    recent: &[FlowRow],
    gathered: &Gathered,
    meta: &RunMeta,
    catalog: &Catalog,
    dir: &Path,
) -> Result<AuditReport, WriteError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
    for name in ["flows.csv", "flows.jsonl"] {
        replace_file(&dir.join(name), |tmp| write_flows(recent, tmp))?;
    }
    let report = audit::build_gathered(gathered, meta, catalog).map_err(|e| io_error(dir, &e))?;
    write_report(&report, dir)?;
    Ok(report)
}

/// `analyze --out DIR`: flow files and the report for one run; with partition keys the Parquet
/// table goes to `DIR/flows/KEY=VALUE/...` instead of `DIR/flows.parquet`.
pub fn write_analysis(
    rows: &[FlowRow],
    meta: &RunMeta,
    catalog: &Catalog,
    dir: &Path,
    partitions: &[PartitionKey],
) -> Result<AuditReport, WriteError> {
    let df = flows_frame(rows, Layout::Typed).map_err(|e| io_error(dir, &e))?;
    if partitions.is_empty() {
        write_parquet(&df, meta, &dir.join("flows.parquet"))?;
    } else {
        write_partitioned(rows, &df, meta, partitions, dir)?;
    }
    for name in ["flows.csv", "flows.jsonl"] {
        replace_file(&dir.join(name), |tmp| write_flows(rows, tmp))?;
    }
    let report = audit::build(&df, meta, catalog).map_err(|e| io_error(dir, &e))?;
    write_report(&report, dir)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_that_cannot_be_pruned_is_not_a_failed_part() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("flows/date=2000-01-01");
        std::fs::create_dir_all(&old).expect("mkdir");
        let mut parts = LiveParts::new(dir.path(), &[], Some(1));
        parts.remove = |_| Err(std::io::Error::other("busy"));
        assert!(parts.write(&[], &RunMeta::default()).is_ok());
        let (failed, reason) = parts.prune_failures().expect("a prune failure");
        assert_eq!(failed, 1);
        assert!(
            reason.contains("date=2000-01-01") && reason.ends_with("busy"),
            "{reason}"
        );
        assert!(old.is_dir());
        parts.remove = |p| std::fs::remove_dir_all(p);
        assert!(parts.write(&[], &RunMeta::default()).is_ok());
        assert!(!old.exists());
    }
}
