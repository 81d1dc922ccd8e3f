//! Live analysis: packets from a capture thread (`capture::live`) through the same engine as
//! `analyze`, with idle flows finished while capture continues, a status callback every second,
//! a report callback every `report_every`, and a clean stop (signal, duration or count).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analyzer::{sort_rows, Engine};
use crate::capture::live::{LiveCapture, LiveCounters};
use crate::capture::{CaptureError, RawPacket};
use crate::catalog::Catalog;
use crate::report::terminal::FlowTally;
use crate::report::{CaptureSummary, Warning};
use crate::time::{Precision, Timestamp};
use crate::{Analysis, AnalysisConfig};

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
}

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
    /// Called every `report_every` with the flows finished so far and the run's summary.
    pub on_report: &'c mut dyn FnMut(&Analysis),
    /// Called about once a second.
    pub on_status: &'c mut dyn FnMut(&LiveStatus),
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

/// Runs until `control.stop` is set (or the duration or count is reached), then finishes every
/// flow and returns the whole run.
pub fn run(
    interface: &str,
    capture: LiveCapture,
    catalog: &Catalog,
    config: &AnalysisConfig,
    control: LiveControl<'_>,
) -> Result<Analysis, CaptureError> {
    let mut engine = Engine::new(catalog, config);
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
    let started = Instant::now();
    let mut last_status = Instant::now();
    let mut bytes_at_status = 0u64;
    let mut last_report = Instant::now();
    let counters = Arc::clone(&capture.counters);
    let link = capture.link;
    let mut handle = |packet: crate::capture::live::LivePacket,
                      engine: &mut Engine<'_>,
                      cap: &mut CaptureSummary| {
        let raw = RawPacket {
            number: cap.packets + 1,
            ts: packet.ts,
            wire_len: packet.wire_len,
            data: &packet.data,
        };
        cap.count(&raw);
        if !matches!(link, crate::capture::LinkType::Unsupported(_)) {
            engine.packet(index, link, &raw, &mut malformed);
        }
    };
    loop {
        let done = control.stop.load(Ordering::Relaxed)
            || control.duration.is_some_and(|d| started.elapsed() >= d)
            || control.count.is_some_and(|c| cap.packets >= c);
        if done {
            control.stop.store(true, Ordering::Relaxed);
            break;
        }
        match capture.packets.recv_timeout(Duration::from_millis(200)) {
            Ok(packet) => handle(packet, &mut engine, &mut cap),
            Err(RecvTimeoutError::Timeout) => engine.expire_idle(now()),
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            let finished = engine.finished();
            let o365 = finished.iter().filter(|r| r.service_area.is_some()).count();
            let seconds = last_status.elapsed().as_secs_f64();
            (control.on_status)(&LiveStatus {
                packets: cap.packets,
                bytes: cap.bytes,
                mbit_per_second: (cap.bytes - bytes_at_status) as f64 * 8.0 / 1e6 / seconds,
                open_flows: engine.open_flows(),
                finished_flows: finished.len(),
                o365_share: if finished.is_empty() {
                    0.0
                } else {
                    o365 as f64 / finished.len() as f64
                },
                kernel_dropped: counters.kernel_dropped.load(Ordering::Relaxed),
                queue_dropped: counters.queue_dropped.load(Ordering::Relaxed),
            });
            bytes_at_status = cap.bytes;
            last_status = Instant::now();
        }
        if let Some(every) = control.report_every {
            if last_report.elapsed() >= every {
                let mut summary = engine.summary().clone();
                summary.packets = cap.packets;
                summary.bytes = cap.bytes;
                summary.captures.push(with_drops(&cap, &counters));
                let mut flows = engine.finished().to_vec();
                sort_rows(&mut flows);
                let tally = FlowTally::of(&flows);
                (control.on_report)(&Analysis {
                    flows,
                    tally,
                    summary,
                });
                last_report = Instant::now();
            }
        }
    }
    // The capture thread stops on the flag; what it queued before is still analysed.
    let mut capture = capture;
    let ended = capture.join();
    while let Ok(packet) = capture.packets.try_recv() {
        handle(packet, &mut engine, &mut cap);
    }
    let kernel = counters.kernel_dropped.load(Ordering::Relaxed);
    let queue = counters.queue_dropped.load(Ordering::Relaxed);
    engine.end_capture(with_drops(&cap, &counters), malformed);
    if kernel + queue > 0 {
        engine
            .summary_mut()
            .warnings
            .push(Warning::Dropped { kernel, queue });
    }
    if let Err(e) = ended {
        engine.summary_mut().warnings.push(Warning::Capture(e));
    }
    Ok(engine.finish())
}
