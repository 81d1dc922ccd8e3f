//! Capture files (and directories of them) as one run: each file's packets through the engine,
//! with its summary (size, SHA-256, counts) and warnings.

use std::path::PathBuf;

use crate::capture::file::{DigestMode, ReaderChoice};
use crate::capture::{self, FileSource};
use crate::catalog::Catalog;
use crate::report::{CaptureSummary, Warning};

use super::packet::{Engine, Malformed};
use super::source::{ReadEnd, RunObserver};
use super::{Analysis, AnalysisConfig};

/// Told how far a run has read, for a progress bar. Bytes are file bytes: each packet's kept
/// bytes plus its record header, so the total is the files' size.
pub trait Progress {
    fn start(&mut self, _total_bytes: u64) {}
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
}

struct NoProgress;

impl Progress for NoProgress {}

/// Analyses the inputs (files or directories) as one run. Never fails as a whole: problems
/// become warnings in the summary, and everything read before a problem is kept.
pub fn analyze(inputs: &[PathBuf], catalog: &Catalog, config: &AnalysisConfig) -> Analysis {
    analyze_with_progress(inputs, catalog, config, &mut NoProgress)
}

/// Reports file bytes read (each packet's kept bytes plus its record header) to a progress
/// bar every 4096 packets.
struct FileProgress<'p> {
    progress: &'p mut dyn Progress,
    unreported: u64,
}

impl RunObserver for FileProgress<'_> {
    fn after(&mut self, _: &Engine<'_>, capture: &CaptureSummary, kept_bytes: usize) -> bool {
        // pcap record header 16 bytes (pcapng blocks are a little larger: close enough).
        self.unreported += kept_bytes as u64 + 16;
        if capture.packets % 4096 == 0 {
            self.progress.advance(std::mem::take(&mut self.unreported));
        }
        true
    }
}

/// [`analyze`], reporting the bytes read to `progress` now and then (every 4096 packets).
pub fn analyze_with_progress(
    inputs: &[PathBuf],
    catalog: &Catalog,
    config: &AnalysisConfig,
    progress: &mut dyn Progress,
) -> Analysis {
    let mut engine = Engine::new(catalog, config);
    run_files(&mut engine, inputs, progress);
    engine.finish()
}

/// Feeds the inputs (files or directories, in order) to `engine`, with their capture summaries
/// and warnings.
pub fn run_files(engine: &mut Engine<'_>, inputs: &[PathBuf], progress: &mut dyn Progress) {
    let (files, errors) = capture::expand_inputs(inputs);
    engine
        .summary
        .warnings
        .extend(errors.into_iter().map(Warning::Capture));
    progress.start(
        files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum(),
    );
    for path in files {
        // The file's SHA-256 for the report: on one thread the reader hashes the bytes it
        // reads; with more, another core hashes them while this one analyses.
        let digest_mode = if engine.config.threads <= 1 {
            DigestMode::Inline
        } else {
            DigestMode::Beside
        };
        let mut source = match FileSource::open_with(&path, ReaderChoice::Auto, digest_mode) {
            Ok(s) => s,
            Err(e) => {
                engine.summary.warnings.push(Warning::Capture(e));
                continue;
            }
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let capture_index = engine.begin_capture(&name, source.precision());
        let mut cap = CaptureSummary::new(
            path.clone(),
            name,
            source.link_type(),
            source.precision(),
            source.snaplen(),
        );
        let mut malformed: Malformed = None;
        let mut observer = FileProgress {
            progress: &mut *progress,
            unreported: 0,
        };
        let end = engine.read_capture(
            capture_index,
            &mut source,
            &mut cap,
            &mut malformed,
            &mut observer,
        );
        let rest = observer.unreported;
        progress.advance(rest);
        if let ReadEnd::Failed(e) = end {
            cap.read_error = true;
            engine.summary.warnings.push(Warning::Capture(e));
        }
        // A file that cannot be read again keeps no digest.
        if let Some(Ok((size, sha256))) = source.finish_digest() {
            cap.size = size;
            cap.sha256 = sha256;
        }
        engine.end_capture(cap, malformed);
    }
    progress.finish();
}
