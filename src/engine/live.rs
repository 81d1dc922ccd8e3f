//! Live analysis: packets from a capture thread (`capture::live`) through the same engine and
//! the same loop (`source`) as `analyze`, with idle flows finished while capture continues, a status callback every second,
//! a report callback every `report_every`, and a clean stop (signal, duration or count).
//!
//! Memory does not grow with the hours run: ended flows are handed out in batches for the flow
//! parts (`PartControl`, at a row count and at least every `every`), whose writer also gathers
//! them for the report (grouped, `report::audit::Gathered`); only the most recent `recent_rows`
//! are kept as rows (the text flow files of `--out`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::source::{Next, PacketSource, ReadEnd, RunObserver, Unobserved};
use super::{sort_rows, Analysis, AnalysisConfig, Engine};
use crate::capture::live::{LiveCapture, LiveCounters, PacketBatch};
use crate::capture::{CaptureError, LinkType, RawPacket};
use crate::catalog::Catalog;
use crate::report::{CaptureSummary, FlowRow, RunSummary, Warning};
use crate::time::{Precision, Timestamp};

/// What the status line shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveStatus {
    pub packets: u64,
    pub bytes: u64,
    /// Over the last status interval.
    pub mbit_per_second: f64,
    pub open_flows: usize,
    pub finished_flows: usize,
    /// Share of finished flows that matched Office 365.
    pub o365_share: f64,
    pub kernel_dropped: u64,
    pub queue_dropped: u64,
    /// Flows ended early because the flow table was full.
    pub evicted_flows: u64,
    /// Bytes of finished Office 365 flows per (service area, port verdict); at most
    /// `MAX_GROUPS` groups, the rest under (`other`, `other`).
    pub o365_bytes: BTreeMap<(String, &'static str), u64>,
    /// When the last periodic report was written (Unix seconds), as [`ReportStats`] has it.
    pub last_report_unix: Option<f64>,
    /// Periodic reports skipped (the writer was busy) and failed, as [`ReportStats`] has them.
    pub reports_skipped: u64,
    pub reports_failed: u64,
}

/// What became of the periodic reports, kept by whoever writes them (the live command's writer
/// thread) and read into each [`LiveStatus`]: a report handed out is not yet written.
#[derive(Debug, Default)]
pub struct ReportStats {
    /// Unix time of the last report written, in milliseconds; 0: none yet.
    last_written_ms: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
}

impl ReportStats {
    /// A report was written, now.
    pub fn written(&self) {
        let ms = u64::try_from(now().nanos() / 1_000_000).unwrap_or(0);
        self.last_written_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// A report due was skipped (the writer was still busy with earlier work).
    pub fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// A report could not be written.
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// When the last report was written (Unix seconds).
    pub fn last_written_unix(&self) -> Option<f64> {
        let ms = self.last_written_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| ms as f64 / 1e3)
    }

    pub fn skipped_count(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    pub fn failed_count(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Distinct (service area, port verdict) groups counted one by one in `LiveStatus::o365_bytes`.
pub const MAX_GROUPS: usize = 1024;

impl std::fmt::Display for LiveStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "packets {}  {:.2} Mbit/s  flows {} open, {} done  Office 365 {:.0}%  dropped: kernel {}, queue {}",
            self.packets,
            self.mbit_per_second,
            self.open_flows,
            self.finished_flows,
            self.o365_share * 100.0,
            self.kernel_dropped,
            self.queue_dropped
        )
    }
}

pub struct LiveControl<'c> {
    pub stop: Arc<AtomicBool>,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub report_every: Option<Duration>,
    /// Called every `report_every` with the flows not yet handed to the parts, the most recent
    /// flows and the run's summary.
    pub on_report: &'c mut dyn FnMut(LiveSnapshot),
    /// What became of the reports handed to `on_report` (kept by their writer).
    pub reports: Arc<ReportStats>,
    /// Called about once a second.
    pub on_status: &'c mut dyn FnMut(&LiveStatus),
    /// The most recent ended flows kept as rows (0: none), for the text flow files.
    pub recent_rows: usize,
    /// Where ended flows go as they end (`--out`: Parquet parts); None: nowhere.
    pub parts: Option<PartControl<'c>>,
}

/// Batches of ended flows for the flow parts.
pub struct PartControl<'c> {
    /// A batch is handed out at this many rows...
    pub rows: usize,
    /// ...or this long after the previous one, whichever comes first, and at the end.
    pub every: Duration,
    /// Takes one batch (sorted like the report's rows) and the run so far (for the part's
    /// metadata).
    pub write: &'c mut WritePart<'c>,
}

/// Writes one batch of rows to the parts; the error says why it could not.
pub type WritePart<'c> = dyn FnMut(Vec<FlowRow>, &RunSummary) -> Result<(), String> + 'c;

/// Ended flows as the row maker hands them over (one by one): the batch for the next part, the
/// most recent rows for the report, and running counts over all of them.
#[derive(Default)]
struct LiveRows {
    pending: Vec<FlowRow>,
    /// Collect `pending` at all (there are parts to write).
    parts: bool,
    /// The most recent rows, at most `cap`.
    recent: VecDeque<FlowRow>,
    cap: usize,
    finished: u64,
    o365: u64,
    o365_bytes: BTreeMap<(String, &'static str), u64>,
    parts_failed: u64,
    first_part_error: Option<String>,
}

impl LiveRows {
    fn add(&mut self, rows: &mut [FlowRow]) {
        for row in rows.iter() {
            self.finished += 1;
            if let Some(area) = &row.service_area {
                self.o365 += 1;
                let mut group = (area.as_str().to_owned(), row.port_verdict.as_str());
                if self.o365_bytes.len() >= MAX_GROUPS && !self.o365_bytes.contains_key(&group) {
                    group = ("other".to_owned(), "other");
                }
                *self.o365_bytes.entry(group).or_default() += row.bytes_c2s + row.bytes_s2c;
            }
            if self.cap > 0 {
                if self.recent.len() >= self.cap {
                    self.recent.pop_front();
                }
                self.recent.push_back(row.clone());
            }
            if self.parts {
                self.pending.push(row.clone());
            }
        }
    }
}

/// The shared rows, poisoned or not (a panic elsewhere leaves the data as valid as it was).
fn lock(rows: &Mutex<LiveRows>) -> std::sync::MutexGuard<'_, LiveRows> {
    rows.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hands the pending rows to the part writer, at most `parts.rows` a part; failures are
/// counted, the run goes on.
fn write_part(rows: &Mutex<LiveRows>, parts: &mut PartControl<'_>, summary: &RunSummary) {
    let mut batch = std::mem::take(&mut lock(rows).pending);
    sort_rows(&mut batch);
    while !batch.is_empty() {
        let rest = batch.split_off(parts.rows.clamp(1, batch.len()));
        let part = std::mem::replace(&mut batch, rest);
        if let Err(reason) = (parts.write)(part, summary) {
            let mut rows = lock(rows);
            rows.parts_failed += 1;
            rows.first_part_error.get_or_insert(reason);
        }
    }
}

/// What a periodic report is made of besides the flows already handed to the parts (which
/// their writer has gathered).
pub struct LiveSnapshot {
    /// Ended flows not yet handed to the parts.
    pub unwritten: Vec<FlowRow>,
    /// The most recent ended flows (`recent_rows`), in report order.
    pub recent: Vec<FlowRow>,
    pub summary: RunSummary,
}

fn report_snapshot(rows: &LiveRows, summary: RunSummary) -> LiveSnapshot {
    let mut recent: Vec<FlowRow> = rows.recent.iter().cloned().collect();
    sort_rows(&mut recent);
    LiveSnapshot {
        unwritten: rows.pending.clone(),
        recent,
        summary,
    }
}

/// The run so far, as the report and the parts' metadata see it.
fn snapshot(engine: &Engine<'_>, cap: &CaptureSummary, counters: &LiveCounters) -> RunSummary {
    let mut summary = engine.summary().clone();
    summary.packets = cap.packets;
    summary.bytes = cap.bytes;
    summary.captures.push(with_drops(cap, counters));
    summary
}

fn now() -> Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(nanos)
}

fn with_drops(cap: &CaptureSummary, counters: &LiveCounters) -> CaptureSummary {
    let mut cap = cap.clone();
    cap.dropped_packets = counters.kernel_dropped.load(Ordering::Relaxed)
        + counters.queue_dropped.load(Ordering::Relaxed);
    cap
}

/// The capture thread's batches as a packet source: waits up to 200 ms for a batch (then the
/// clock ends idle flows); once draining, takes only what is already queued. Each batch goes
/// back to the capture thread once read.
struct LiveSource<'c> {
    capture: &'c LiveCapture,
    current: Option<PacketBatch>,
    /// The next packet of `current`.
    index: usize,
    number: u64,
    draining: bool,
}

impl PacketSource for LiveSource<'_> {
    fn link_type(&self) -> LinkType {
        self.capture.link
    }

    fn next_packet(&mut self) -> Next<'_> {
        while self
            .current
            .as_ref()
            .is_none_or(|batch| self.index >= batch.len())
        {
            if let Some(done) = self.current.take() {
                self.capture.recycle(done);
            }
            let next = if self.draining {
                match self.capture.batches.try_recv() {
                    Ok(batch) => batch,
                    Err(_) => return Next::End,
                }
            } else {
                match self
                    .capture
                    .batches
                    .recv_timeout(Duration::from_millis(200))
                {
                    Ok(batch) => batch,
                    Err(RecvTimeoutError::Timeout) => return Next::Quiet(now()),
                    Err(RecvTimeoutError::Disconnected) => return Next::End,
                }
            };
            self.current = Some(next);
            self.index = 0;
        }
        let index = self.index;
        self.index += 1;
        self.number += 1;
        match self.current.as_ref().and_then(|batch| batch.get(index)) {
            Some((ts, wire_len, data)) => Next::Packet(RawPacket {
                number: self.number,
                ts,
                wire_len,
                data,
            }),
            None => Next::End,
        }
    }
}

/// The live run between packets: the stop (flag, duration, count), the status line every
/// second, the periodic report.
struct LiveObserver<'c, 'o> {
    control: &'o mut LiveControl<'c>,
    counters: Arc<LiveCounters>,
    rows: Arc<Mutex<LiveRows>>,
    last_part: Instant,
    started: Instant,
    last_status: Instant,
    bytes_at_status: u64,
    last_report: Instant,
}

impl RunObserver for LiveObserver<'_, '_> {
    fn after(&mut self, engine: &Engine<'_>, cap: &CaptureSummary, _: usize) -> bool {
        let control = &mut *self.control;
        let done = control.stop.load(Ordering::Relaxed)
            || control
                .duration
                .is_some_and(|d| self.started.elapsed() >= d)
            || control.count.is_some_and(|c| cap.packets >= c);
        if done {
            control.stop.store(true, Ordering::Relaxed);
            return false;
        }
        if let Some(parts) = control.parts.as_mut() {
            let pending = lock(&self.rows).pending.len();
            if pending >= parts.rows.max(1)
                || (pending > 0 && self.last_part.elapsed() >= parts.every)
            {
                write_part(&self.rows, parts, &snapshot(engine, cap, &self.counters));
                self.last_part = Instant::now();
            }
        }
        if self.last_status.elapsed() >= Duration::from_secs(1) {
            let (finished, o365, o365_bytes) = {
                let rows = lock(&self.rows);
                (rows.finished, rows.o365, rows.o365_bytes.clone())
            };
            let seconds = self.last_status.elapsed().as_secs_f64();
            (control.on_status)(&LiveStatus {
                packets: cap.packets,
                bytes: cap.bytes,
                mbit_per_second: (cap.bytes - self.bytes_at_status) as f64 * 8.0 / 1e6 / seconds,
                open_flows: engine.open_flows(),
                finished_flows: usize::try_from(finished).unwrap_or(usize::MAX),
                o365_share: if finished == 0 {
                    0.0
                } else {
                    o365 as f64 / finished as f64
                },
                kernel_dropped: self.counters.kernel_dropped.load(Ordering::Relaxed),
                queue_dropped: self.counters.queue_dropped.load(Ordering::Relaxed),
                evicted_flows: engine.evicted_flows(),
                o365_bytes,
                last_report_unix: control.reports.last_written_unix(),
                reports_skipped: control.reports.skipped_count(),
                reports_failed: control.reports.failed_count(),
            });
            self.bytes_at_status = cap.bytes;
            self.last_status = Instant::now();
        }
        if let Some(every) = control.report_every {
            if self.last_report.elapsed() >= every {
                let summary = snapshot(engine, cap, &self.counters);
                let report = report_snapshot(&lock(&self.rows), summary);
                (control.on_report)(report);
                self.last_report = Instant::now();
            }
        }
        true
    }
}

/// Runs until `control.stop` is set (or the duration or count is reached), then finishes every
/// flow and returns the whole run.
///
/// With `config.threads` above 1, rows are made (classification, client rules) on a thread of
/// their own beside the packet path ([`Engine::new_piped`]); the results are the same.
pub fn run(
    interface: &str,
    capture: LiveCapture,
    catalog: &Catalog,
    config: &AnalysisConfig,
    control: LiveControl<'_>,
) -> Result<Analysis, CaptureError> {
    if config.threads > 1 {
        std::thread::scope(|scope| {
            let engine = Engine::new_piped_with(catalog, config, scope, 2);
            run_engine(engine, interface, capture, control)
        })
    } else {
        run_engine(Engine::new(catalog, config), interface, capture, control)
    }
}

fn run_engine(
    mut engine: Engine<'_>,
    interface: &str,
    mut capture: LiveCapture,
    mut control: LiveControl<'_>,
) -> Result<Analysis, CaptureError> {
    let rows = Arc::new(Mutex::new(LiveRows {
        parts: control.parts.is_some(),
        cap: control.recent_rows,
        ..LiveRows::default()
    }));
    let sink = Arc::clone(&rows);
    // One row at a time: the periodic report and the parts see every flow ended so far (a
    // piped engine hands ended flows to its row maker at least every second).
    engine.stream_rows(1, move |batch| lock(&sink).add(batch));
    let name = format!("live:{interface}");
    let index = engine.begin_capture(&name, Precision::Micro);
    let mut cap = CaptureSummary::new(
        std::path::PathBuf::from(&name),
        name,
        capture.link,
        Precision::Micro,
        None,
    );
    let mut malformed = None;
    let counters = Arc::clone(&capture.counters);
    let mut observer = LiveObserver {
        control: &mut control,
        counters: Arc::clone(&counters),
        rows: Arc::clone(&rows),
        last_part: Instant::now(),
        started: Instant::now(),
        last_status: Instant::now(),
        bytes_at_status: 0,
        last_report: Instant::now(),
    };
    let mut source = LiveSource {
        capture: &capture,
        current: None,
        index: 0,
        number: 0,
        draining: false,
    };
    let end = engine.read_capture(index, &mut source, &mut cap, &mut malformed, &mut observer);
    let (number, current, at) = (source.number, source.current.take(), source.index);
    // The capture thread stops on the flag; what it queued before is still analysed.
    observer.control.stop.store(true, Ordering::Relaxed);
    let ended = capture.join();
    let mut source = LiveSource {
        capture: &capture,
        current,
        index: at,
        number,
        draining: true,
    };
    engine.read_capture(
        index,
        &mut source,
        &mut cap,
        &mut malformed,
        &mut Unobserved,
    );
    let kernel = counters.kernel_dropped.load(Ordering::Relaxed);
    let queue = counters.queue_dropped.load(Ordering::Relaxed);
    engine.end_capture(with_drops(&cap, &counters), malformed);
    if kernel + queue > 0 {
        engine
            .summary_mut()
            .warnings
            .push(Warning::Dropped { kernel, queue });
    }
    for e in [ended.err(), failed(end)].into_iter().flatten() {
        engine.summary_mut().warnings.push(Warning::Capture(e));
    }
    let evicted_flows = engine.evicted_flows();
    let mut analysis = engine.finish();
    // One last status with every flow ended (the metrics then show the run's end, not the
    // last second before it).
    let (finished, o365, o365_bytes) = {
        let rows = lock(&rows);
        (rows.finished, rows.o365, rows.o365_bytes.clone())
    };
    (control.on_status)(&LiveStatus {
        packets: cap.packets,
        bytes: cap.bytes,
        mbit_per_second: 0.0,
        open_flows: 0,
        finished_flows: usize::try_from(finished).unwrap_or(usize::MAX),
        o365_share: if finished == 0 {
            0.0
        } else {
            o365 as f64 / finished as f64
        },
        kernel_dropped: kernel,
        queue_dropped: queue,
        evicted_flows,
        o365_bytes,
        last_report_unix: control.reports.last_written_unix(),
        reports_skipped: control.reports.skipped_count(),
        reports_failed: control.reports.failed_count(),
    });
    // The last part: its metadata is the run's, and with it the parts' writer has gathered
    // every flow for the final report.
    if let Some(parts) = control.parts.as_mut() {
        write_part(&rows, parts, &analysis.summary);
    }
    let mut rows = lock(&rows);
    if rows.parts_failed > 0 {
        analysis.summary.warnings.push(Warning::Parts {
            failed: rows.parts_failed,
            first_reason: rows.first_part_error.take().unwrap_or_default(),
        });
    }
    analysis.flows = std::mem::take(&mut rows.recent).into();
    sort_rows(&mut analysis.flows);
    Ok(analysis)
}

fn failed(end: ReadEnd) -> Option<CaptureError> {
    match end {
        ReadEnd::Failed(e) => Some(e),
        ReadEnd::Exhausted | ReadEnd::Stopped => None,
    }
}
