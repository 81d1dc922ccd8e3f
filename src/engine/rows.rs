//! Ended flows to rows: the finisher on the packet path (handshake buffers released, DNS name
//! looked up), then the row maker, which needs nothing from the packet path and so may run on a
//! thread of its own: classification, ownership, client rules, and the row kept or streamed.

use crate::catalog::Catalog;
use crate::classify::client::IdentifyMemo;
use crate::classify::Judge;
use crate::dissect::{DissectShared, FlowDissect};
use crate::flow::{EndReason, FlowEntry};
use crate::report::row::EndedFlow;
use crate::report::terminal::FlowTally;
use crate::report::FlowRow;
use crate::time::Precision;

use super::order::sort_rows;
use super::AnalysisConfig;

/// Where finished rows go when they are not kept: every `chunk` rows, sorted among themselves.
pub(super) struct RowSink<'a> {
    pub(super) chunk: usize,
    pub(super) write: WriteChunk<'a>,
}

/// Takes one sorted chunk of rows (it may change them in place, e.g. to pseudonymize).
pub(super) type WriteChunk<'a> = Box<dyn FnMut(&mut [FlowRow]) + Send + 'a>;

/// Per-capture facts the flow-ending code needs.
pub(super) struct CaptureRef {
    pub(super) name: String,
    pub(super) precision: Precision,
}

/// A flow that ended, with what only the packet path knows at that moment (the DNS name its
/// server address had): everything a row is made from.
pub(super) struct Ended {
    pub(super) entry: FlowEntry<FlowDissect>,
    pub(super) dns_name: Option<String>,
    pub(super) reason: EndReason,
}

/// Ends flows on the packet path: releases their handshake buffers and looks up DNS names,
/// then hands them to the row maker, here or on its own thread.
pub(super) struct Finisher<'a> {
    pub(super) shared: DissectShared,
    pub(super) output: RowOutput<'a>,
}

impl Finisher<'_> {
    pub(super) fn end(&mut self, mut entry: FlowEntry<FlowDissect>, reason: EndReason) {
        entry.state.finish(&mut self.shared);
        let has_sni = entry
            .state
            .client_hello
            .as_deref()
            .is_some_and(|h| h.sni.is_some());
        // Only a flow without a server name of its own is named (and classified) through DNS.
        let dns_name = if has_sni {
            None
        } else {
            self.shared
                .dns
                .lookup(entry.record.server.ip, entry.record.first_seen)
                .map(str::to_owned)
        };
        self.output.push(Ended {
            entry,
            dns_name,
            reason,
        });
    }
}

/// Rows made on the packet path's thread, or sent in batches to a thread of their own.
pub(super) enum RowOutput<'a> {
    Here(Box<RowMaker<'a>>),
    Piped(Pipe<'a>),
}

/// Ended flows sent to the row maker's thread, in batches.
pub(super) struct Pipe<'a> {
    pub(super) pending: Vec<Ended>,
    /// When the first of `pending` ended: a batch waits at most `PIPE_WAIT` for more.
    pub(super) since: Option<std::time::Instant>,
    pub(super) to_maker: Option<std::sync::mpsc::SyncSender<PipeMessage<'a>>>,
    pub(super) maker: Option<std::thread::ScopedJoinHandle<'a, RowMaker<'a>>>,
}

pub(super) enum PipeMessage<'a> {
    Capture(CaptureRef),
    Sink(RowSink<'a>),
    Ended(Vec<Ended>),
}

/// The most rows a chunk's room is taken for up front (`RowMaker::set_sink`): a chunk larger
/// than this (a live run's `--part-rows`) grows as it fills.
const MAX_CHUNK_RESERVE: usize = 32_768;

/// Ended flows per message to the row maker's thread.
pub(super) const PIPE_BATCH: usize = 256;

/// The longest an ended flow waits in a part-filled batch (when flows end slowly, a live
/// run's reports still see them within about a second).
const PIPE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl<'a> RowOutput<'a> {
    pub(super) fn push(&mut self, ended: Ended) {
        match self {
            RowOutput::Here(maker) => maker.make(ended),
            RowOutput::Piped(pipe) => {
                pipe.pending.push(ended);
                let since = *pipe.since.get_or_insert_with(std::time::Instant::now);
                if pipe.pending.len() >= PIPE_BATCH || since.elapsed() >= PIPE_WAIT {
                    pipe.send_pending();
                }
            }
        }
    }

    /// Sends the ended flows waiting for a batch to fill (a quiet moment of a live run).
    pub(super) fn hand_over(&mut self) {
        if let RowOutput::Piped(pipe) = self {
            pipe.send_pending();
        }
    }

    pub(super) fn begin_capture(&mut self, capture: CaptureRef) {
        match self {
            RowOutput::Here(maker) => maker.captures.push(capture),
            RowOutput::Piped(pipe) => {
                pipe.send_pending();
                pipe.send(PipeMessage::Capture(capture));
            }
        }
    }

    pub(super) fn set_sink(&mut self, sink: RowSink<'a>) {
        match self {
            RowOutput::Here(maker) => maker.set_sink(sink),
            RowOutput::Piped(pipe) => {
                pipe.send_pending();
                pipe.send(PipeMessage::Sink(sink));
            }
        }
    }

    /// Every row not streamed out, sorted, and the tally of all rows.
    pub(super) fn finish(self) -> (Vec<FlowRow>, FlowTally) {
        let mut maker = match self {
            RowOutput::Here(maker) => *maker,
            RowOutput::Piped(mut pipe) => {
                pipe.send_pending();
                pipe.to_maker = None;
                match pipe.maker.take().map(|h| h.join()) {
                    Some(Ok(maker)) => maker,
                    // The row maker panicked: a bug, surfaced where it happened.
                    Some(Err(panic)) => std::panic::resume_unwind(panic),
                    None => return (Vec::new(), FlowTally::default()),
                }
            }
        };
        maker.flush();
        let mut rows = std::mem::take(&mut maker.rows);
        sort_rows(&mut rows);
        (rows, std::mem::take(&mut maker.tally))
    }
}

impl<'a> Pipe<'a> {
    pub(super) fn send(&mut self, message: PipeMessage<'a>) {
        if let Some(to_maker) = &self.to_maker {
            if to_maker.send(message).is_err() {
                // The row maker's thread is gone (it panicked): `finish` surfaces why.
                self.to_maker = None;
            }
        }
    }

    pub(super) fn send_pending(&mut self) {
        self.since = None;
        if !self.pending.is_empty() {
            // Full size at once: a batch grown push by push copies its flows several times.
            let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(PIPE_BATCH));
            self.send(PipeMessage::Ended(batch));
        }
    }
}

/// Makes rows from ended flows: classification, ownership, client rules; keeps or streams
/// them. Needs nothing from the packet path, so it can run on a thread of its own.
pub(super) struct RowMaker<'a> {
    pub(super) judge: Judge<'a>,
    pub(super) identify_memo: IdentifyMemo,
    pub(super) captures: Vec<CaptureRef>,
    pub(super) rows: Vec<FlowRow>,
    pub(super) tally: FlowTally,
    pub(super) sink: Option<RowSink<'a>>,
}

impl<'a> RowMaker<'a> {
    pub(super) fn new(catalog: &'a Catalog, config: &'a AnalysisConfig) -> Self {
        RowMaker {
            judge: Judge {
                catalog,
                user_catalog: config.user_catalog.as_ref(),
                internal: &config.internal,
                client_rules: &config.client_rules,
            },
            identify_memo: IdentifyMemo::default(),
            captures: Vec::new(),
            rows: Vec::new(),
            tally: FlowTally::default(),
            sink: None,
        }
    }

    /// Makes rows until the packet path closes the pipe.
    pub(super) fn run(mut self, from_engine: std::sync::mpsc::Receiver<PipeMessage<'a>>) -> Self {
        for message in from_engine {
            match message {
                PipeMessage::Capture(c) => self.captures.push(c),
                PipeMessage::Sink(sink) => self.set_sink(sink),
                PipeMessage::Ended(batch) => {
                    for ended in batch {
                        self.make(ended);
                    }
                }
            }
        }
        self
    }

    /// Rows go to `sink` a chunk at a time from now on. The chunk's room is taken at once:
    /// grown push by push, the first chunk was copied about twice over and its pages faulted
    /// in twice (page faults in row making were 4.7% of a one-thread run over 40,716 flows).
    fn set_sink(&mut self, sink: RowSink<'a>) {
        self.rows.reserve(
            sink.chunk
                .min(MAX_CHUNK_RESERVE)
                .saturating_sub(self.rows.len()),
        );
        self.sink = Some(sink);
    }

    pub(super) fn make(&mut self, ended: Ended) {
        let Ended {
            entry,
            dns_name,
            reason,
        } = ended;
        let record = &entry.record;
        let verdict = self.judge.judge(
            record,
            &entry.state,
            dns_name.as_deref(),
            &mut self.identify_memo,
        );
        let (name, precision) = self
            .captures
            .get(record.capture as usize)
            .map(|c| (c.name.as_str(), c.precision))
            .unwrap_or(("", Precision::Micro));
        let row = FlowRow::new(
            EndedFlow {
                record,
                dissect: &entry.state,
                dns_name: dns_name.as_deref(),
                end_reason: reason,
            },
            verdict,
            name,
            precision,
        );
        self.tally.add(&row);
        self.rows.push(row);
        if self
            .sink
            .as_ref()
            .is_some_and(|s| self.rows.len() >= s.chunk)
        {
            self.flush();
        }
    }

    /// Hands the rows held so far to the sink, if there is one.
    pub(super) fn flush(&mut self) {
        if let Some(sink) = &mut self.sink {
            sort_rows(&mut self.rows);
            (sink.write)(&mut self.rows);
            // Kept for the next chunk: growing a fresh vector of rows several hundred bytes
            // each, chunk after chunk, copied each row about twice (3.8% of one thread).
            self.rows.clear();
        }
    }
}
