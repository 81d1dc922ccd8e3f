//! Writing the flow table: the format follows the file extension.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ecs::EcsFlow;
use super::row::FlowRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowFormat {
    Csv,
    Parquet,
    JsonLines,
}

impl FlowFormat {
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(FlowFormat::Csv),
            "parquet" => Some(FlowFormat::Parquet),
            "jsonl" | "ndjson" => Some(FlowFormat::JsonLines),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: unknown flow file type (use .csv, .parquet or .jsonl)")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path}: this build has no CSV/Parquet support (built without the `report` feature)")]
    NotBuilt { path: PathBuf },
}

/// Spreadsheet formula injection (OWASP "CSV injection"): a cell starting with one of these is
/// prefixed with a quote so it is shown as text, never evaluated.
pub fn csv_safe(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

pub fn write_flows(rows: &[FlowRow], path: &Path) -> Result<(), WriteError> {
    let format = FlowFormat::from_path(path).ok_or_else(|| WriteError::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    let io = |e: &dyn std::fmt::Display| WriteError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
    }
    match format {
        FlowFormat::JsonLines => {
            let file = File::create(path).map_err(|e| io(&e))?;
            let mut out = BufWriter::new(file);
            for row in rows {
                serde_json::to_writer(&mut out, &EcsFlow::from(row)).map_err(|e| io(&e))?;
                out.write_all(b"\n").map_err(|e| io(&e))?;
            }
            out.flush().map_err(|e| io(&e))
        }
        #[cfg(feature = "report")]
        FlowFormat::Csv | FlowFormat::Parquet => {
            use super::frame::{flows_frame, Layout};
            use polars::prelude::{CsvWriter, ParquetWriter, SerWriter};
            let layout = if format == FlowFormat::Csv {
                Layout::Text
            } else {
                Layout::Typed
            };
            let mut df = flows_frame(rows, layout).map_err(|e| io(&e))?;
            let file = File::create(path).map_err(|e| io(&e))?;
            if format == FlowFormat::Csv {
                CsvWriter::new(BufWriter::new(file))
                    .finish(&mut df)
                    .map_err(|e| io(&e))
            } else {
                ParquetWriter::new(file)
                    .finish(&mut df)
                    .map(|_| ())
                    .map_err(|e| io(&e))
            }
        }
        #[cfg(not(feature = "report"))]
        FlowFormat::Csv | FlowFormat::Parquet => Err(WriteError::NotBuilt {
            path: path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_safe("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_safe("+1"), "'+1");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("teams.microsoft.com"), "teams.microsoft.com");
    }
}
