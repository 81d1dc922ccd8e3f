//! Writing the flow table: the format follows the file extension.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ecs::EcsFlow;
pub use super::escape::csv_safe;
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
            write_json_lines(&mut out, rows).map_err(|e| io(&e))?;
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
            let mut file = BufWriter::new(File::create(path).map_err(|e| io(&e))?);
            if format == FlowFormat::Csv {
                CsvWriter::new(&mut file)
                    .finish(&mut df)
                    .map_err(|e| io(&e))?;
            } else {
                ParquetWriter::new(&mut file)
                    .finish(&mut df)
                    .map_err(|e| io(&e))?;
            }
            file.flush().map_err(|e| io(&e))
        }
        #[cfg(not(feature = "report"))]
        FlowFormat::Csv | FlowFormat::Parquet => Err(WriteError::NotBuilt {
            path: path.to_path_buf(),
        }),
    }
}

/// One JSON object per flow and line, in Elastic Common Schema names.
fn write_json_lines(out: &mut impl Write, rows: &[FlowRow]) -> std::io::Result<()> {
    for row in rows {
        serde_json::to_writer(&mut *out, &EcsFlow::from(row))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A temporary name beside `path` (same directory, which is created, and same extension, which
/// picks the format of flow files), renamed into place once the file is complete, so a reader
/// never sees half a file.
pub fn temp_path_for(path: &Path) -> Result<PathBuf, WriteError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| WriteError::Io {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(dir.join(format!(".tmp{}-{name}", std::process::id())))
}

/// A flow file written chunk by chunk as rows are streamed out of a run (`Engine::stream_rows`),
/// under a temporary name until [`FlowStream::finish`] renames it into place. JSON lines and
/// CSV append; Parquet adds a row group per chunk.
pub struct FlowStream {
    path: PathBuf,
    tmp: PathBuf,
    format: FlowFormat,
    out: Option<StreamOut>,
    /// Rows written so far (CSV writes its header before the first).
    rows: u64,
    /// Build each chunk's columns on two threads (polars' columns only).
    #[cfg(feature = "report")]
    two_threads: bool,
}

enum StreamOut {
    Text(BufWriter<File>),
    #[cfg(feature = "report")]
    /// Buffered: the Parquet writer makes many tiny writes (about 12 per column chunk).
    Parquet(Box<polars::io::parquet::write::BatchedWriter<BufWriter<File>>>),
    /// Parquet's writer needs the first chunk's schema: the file waits for it.
    #[cfg(feature = "report")]
    ParquetPending(File),
}

impl FlowStream {
    /// A flow file at `path` written chunk by chunk; with `threads` above 1 each chunk's
    /// columns are built on two threads.
    pub fn create(path: &Path, threads: usize) -> Result<Self, WriteError> {
        // Only polars' columns are built on threads.
        #[cfg(not(feature = "report"))]
        let _ = threads;
        let format = FlowFormat::from_path(path).ok_or_else(|| WriteError::UnknownFormat {
            path: path.to_path_buf(),
        })?;
        #[cfg(not(feature = "report"))]
        if format != FlowFormat::JsonLines {
            return Err(WriteError::NotBuilt {
                path: path.to_path_buf(),
            });
        }
        let tmp = temp_path_for(path)?;
        let file = File::create(&tmp).map_err(|e| WriteError::Io {
            path: tmp.clone(),
            reason: e.to_string(),
        })?;
        let out = match format {
            #[cfg(feature = "report")]
            FlowFormat::Parquet => StreamOut::ParquetPending(file),
            _ => StreamOut::Text(BufWriter::with_capacity(1 << 20, file)),
        };
        Ok(FlowStream {
            path: path.to_path_buf(),
            tmp,
            format,
            out: Some(out),
            rows: 0,
            #[cfg(feature = "report")]
            two_threads: threads > 1,
        })
    }

    fn error(&self, e: &dyn std::fmt::Display) -> WriteError {
        WriteError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Appends `rows` (one chunk).
    pub fn write(&mut self, rows: &[FlowRow]) -> Result<(), WriteError> {
        let out = self.out.take();
        let result = match out {
            Some(StreamOut::Text(mut w)) => {
                let r = self.write_text(&mut w, rows);
                self.out = Some(StreamOut::Text(w));
                r
            }
            #[cfg(feature = "report")]
            Some(StreamOut::ParquetPending(file)) => {
                let df = self
                    .frame(rows, super::frame::Layout::Typed)
                    .map_err(|e| self.error(&e))?;
                let mut writer = polars::prelude::ParquetWriter::new(BufWriter::new(file))
                    .batched(df.schema())
                    .map_err(|e| self.error(&e))?;
                writer.write_batch(&df).map_err(|e| self.error(&e))?;
                self.out = Some(StreamOut::Parquet(Box::new(writer)));
                Ok(())
            }
            #[cfg(feature = "report")]
            Some(StreamOut::Parquet(mut writer)) => {
                let r = self
                    .frame(rows, super::frame::Layout::Typed)
                    .and_then(|df| writer.write_batch(&df))
                    .map_err(|e| self.error(&e));
                self.out = Some(StreamOut::Parquet(writer));
                r
            }
            None => Err(self.error(&"the flow file failed earlier")),
        };
        self.rows += rows.len() as u64;
        result
    }

    #[cfg(feature = "report")]
    fn frame(
        &self,
        rows: &[FlowRow],
        layout: super::frame::Layout,
    ) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
        if self.two_threads {
            super::frame::flows_frame_on_two_threads(rows, layout)
        } else {
            super::frame::flows_frame(rows, layout)
        }
    }

    /// CSV (a header before the first chunk only) or JSON lines.
    fn write_text(&self, w: &mut BufWriter<File>, rows: &[FlowRow]) -> Result<(), WriteError> {
        match self.format {
            #[cfg(feature = "report")]
            FlowFormat::Csv => {
                use polars::prelude::{CsvWriter, SerWriter};
                let mut df = self
                    .frame(rows, super::frame::Layout::Text)
                    .map_err(|e| self.error(&e))?;
                CsvWriter::new(w)
                    .include_header(self.rows == 0)
                    .finish(&mut df)
                    .map_err(|e| self.error(&e))
            }
            _ => write_json_lines(w, rows).map_err(|e| self.error(&e)),
        }
    }

    /// Completes the file (an empty table when no chunk came) and renames it into place.
    pub fn finish(mut self) -> Result<(), WriteError> {
        match self.out.take() {
            Some(StreamOut::Text(mut w)) => {
                if self.rows == 0 && self.format != FlowFormat::JsonLines {
                    drop(w);
                    write_flows(&[], &self.tmp)?;
                } else {
                    w.flush().map_err(|e| self.error(&e))?;
                }
            }
            #[cfg(feature = "report")]
            Some(StreamOut::ParquetPending(file)) => {
                drop(file);
                write_flows(&[], &self.tmp)?;
            }
            #[cfg(feature = "report")]
            Some(StreamOut::Parquet(writer)) => {
                let size = writer.finish().map_err(|e| self.error(&e))?;
                // The writer keeps its buffer to itself: dropping it flushes, and a failed
                // flush shows as a short file.
                drop(writer);
                let written = std::fs::metadata(&self.tmp).map_err(|e| self.error(&e))?;
                if written.len() != size {
                    return Err(self.error(&format!("wrote {} of {size} bytes", written.len())));
                }
            }
            None => return Err(self.error(&"the flow file failed earlier")),
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|e| self.error(&e))
    }

    /// Removes the temporary file (nothing was read).
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
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
