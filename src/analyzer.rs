//! Drives one analysis: every capture file in order through decode, the flow table, the
//! dissectors and classification, into flow rows and a run summary. Files given together are
//! one analysis: a flow continuing from one file into the next stays one flow.

use std::path::PathBuf;

use crate::capture::file::{DigestMode, ReaderChoice};
use crate::capture::{self, FileSource, LinkType};
use crate::catalog::Catalog;
use crate::classify::client::{ClientFacts, ClientRules};
use crate::classify::{
    classify_with_user, split_host_port, Classification, Direction, FlowPath, MatchedBy,
    MicrosoftStatus, Ownership, Signals, Target,
};
use crate::dissect::{AppProtocol, DissectBudget, FlowDissect};
use crate::flow::defrag::{Defragmenter, FragmentKey};
use crate::flow::table::PacketMeta;
use crate::flow::{EndReason, Endpoint, FlowEntry, FlowTable, TableLimits};
use crate::report::terminal::FlowTally;
use crate::report::{CaptureSummary, FlowRow, RunSummary, Warning};
use crate::time::Precision;
use crate::wire::l2l4::{transport_of, unreachable_original, FragmentInfo};
use crate::wire::{decode, DecodeError, Decoded, Transport};

fn fragment_key(f: &FragmentInfo<'_>) -> FragmentKey {
    FragmentKey {
        src: f.src,
        dst: f.dst,
        protocol: f.protocol,
        id: f.id,
    }
}

#[derive(Clone, Debug)]
pub struct AnalysisConfig {
    pub limits: TableLimits,
    /// Largest ClientHello read per flow, in bytes.
    pub max_handshake: usize,
    /// Bytes all flows together may hold in handshake buffers.
    pub max_handshake_total: usize,
    /// The networks on the inside of the firewall (for `direction`).
    pub internal: Vec<ipnet::IpNet>,
    /// The user's own entries (`--catalog-extra`), matched before the catalog.
    pub user_catalog: Option<Catalog>,
    /// Client identification rules (the embedded ones, after the user's `--client-rules`).
    pub client_rules: ClientRules,
    /// 1: one thread does everything (each capture's SHA-256 as it is read, or after its
    /// packets for captures libpcap reads); more: the digest runs on a thread of its own (and
    /// callers may pipe rows, `Engine::new_piped`).
    pub threads: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        let budget = DissectBudget::default();
        AnalysisConfig {
            limits: TableLimits::default(),
            max_handshake: budget.max_handshake,
            max_handshake_total: budget.max_total,
            internal: crate::classify::default_internal_networks(),
            user_catalog: None,
            // The embedded rules are checked by a unit test; empty rules only name no clients.
            client_rules: ClientRules::embedded().unwrap_or_default(),
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

#[derive(Debug)]
pub struct Analysis {
    /// One row per flow, ordered by first packet time; empty when the rows were streamed out
    /// ([`Engine::stream_rows`]).
    pub flows: Vec<FlowRow>,
    /// Counts over every flow of the run, streamed or kept.
    pub tally: FlowTally,
    pub summary: RunSummary,
}

/// Where finished rows go when they are not kept: every `chunk` rows, sorted among themselves.
struct RowSink<'a> {
    chunk: usize,
    write: WriteChunk<'a>,
}

/// Takes one sorted chunk of rows (it may change them in place, e.g. to pseudonymize).
type WriteChunk<'a> = Box<dyn FnMut(&mut [FlowRow]) + Send + 'a>;

/// Per-capture facts the flow-ending code needs.
struct CaptureRef {
    name: String,
    precision: Precision,
}

/// A flow that ended, with what only the packet path knows at that moment (the DNS name its
/// server address had): everything a row is made from.
struct Ended {
    entry: FlowEntry<FlowDissect>,
    dns_name: Option<String>,
    reason: EndReason,
}

/// Ends flows on the packet path: releases their handshake buffers and looks up DNS names,
/// then hands them to the row maker, here or on its own thread.
struct Finisher<'a> {
    budget: DissectBudget,
    output: RowOutput<'a>,
}

impl Finisher<'_> {
    fn end(&mut self, mut entry: FlowEntry<FlowDissect>, reason: EndReason) {
        entry.state.finish(&mut self.budget);
        let has_sni = entry
            .state
            .client_hello
            .as_deref()
            .is_some_and(|h| h.sni.is_some());
        // Only a flow without a server name of its own is named (and classified) through DNS.
        let dns_name = if has_sni {
            None
        } else {
            self.budget
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
enum RowOutput<'a> {
    Here(RowMaker<'a>),
    Piped(Pipe<'a>),
}

/// Ended flows sent to the row maker's thread, in batches.
struct Pipe<'a> {
    pending: Vec<Ended>,
    to_maker: Option<std::sync::mpsc::SyncSender<PipeMessage<'a>>>,
    maker: Option<std::thread::ScopedJoinHandle<'a, RowMaker<'a>>>,
}

enum PipeMessage<'a> {
    Capture(CaptureRef),
    Sink(RowSink<'a>),
    Ended(Vec<Ended>),
}

/// Ended flows per message to the row maker's thread.
const PIPE_BATCH: usize = 256;

impl<'a> RowOutput<'a> {
    fn push(&mut self, ended: Ended) {
        match self {
            RowOutput::Here(maker) => maker.make(ended),
            RowOutput::Piped(pipe) => {
                pipe.pending.push(ended);
                if pipe.pending.len() >= PIPE_BATCH {
                    pipe.send_pending();
                }
            }
        }
    }

    fn begin_capture(&mut self, capture: CaptureRef) {
        match self {
            RowOutput::Here(maker) => maker.captures.push(capture),
            RowOutput::Piped(pipe) => {
                pipe.send_pending();
                pipe.send(PipeMessage::Capture(capture));
            }
        }
    }

    fn set_sink(&mut self, sink: RowSink<'a>) {
        match self {
            RowOutput::Here(maker) => maker.sink = Some(sink),
            RowOutput::Piped(pipe) => {
                pipe.send_pending();
                pipe.send(PipeMessage::Sink(sink));
            }
        }
    }

    /// Every row not streamed out, sorted, and the tally of all rows.
    fn finish(self) -> (Vec<FlowRow>, FlowTally) {
        let mut maker = match self {
            RowOutput::Here(maker) => maker,
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
    fn send(&mut self, message: PipeMessage<'a>) {
        if let Some(to_maker) = &self.to_maker {
            if to_maker.send(message).is_err() {
                // The row maker's thread is gone (it panicked): `finish` surfaces why.
                self.to_maker = None;
            }
        }
    }

    fn send_pending(&mut self) {
        if !self.pending.is_empty() {
            // Full size at once: a batch grown push by push copies its flows several times.
            let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(PIPE_BATCH));
            self.send(PipeMessage::Ended(batch));
        }
    }
}

/// Makes rows from ended flows: classification, ownership, client rules; keeps or streams
/// them. Needs nothing from the packet path, so it can run on a thread of its own.
struct RowMaker<'a> {
    catalog: &'a Catalog,
    user_catalog: Option<&'a Catalog>,
    internal: &'a [ipnet::IpNet],
    client_rules: &'a ClientRules,
    captures: Vec<CaptureRef>,
    rows: Vec<FlowRow>,
    tally: FlowTally,
    sink: Option<RowSink<'a>>,
}

impl<'a> RowMaker<'a> {
    fn new(catalog: &'a Catalog, config: &'a AnalysisConfig) -> Self {
        RowMaker {
            catalog,
            user_catalog: config.user_catalog.as_ref(),
            internal: &config.internal,
            client_rules: &config.client_rules,
            captures: Vec::new(),
            rows: Vec::new(),
            tally: FlowTally::default(),
            sink: None,
        }
    }

    /// Makes rows until the packet path closes the pipe.
    fn run(mut self, from_engine: std::sync::mpsc::Receiver<PipeMessage<'a>>) -> Self {
        for message in from_engine {
            match message {
                PipeMessage::Capture(c) => self.captures.push(c),
                PipeMessage::Sink(sink) => self.sink = Some(sink),
                PipeMessage::Ended(batch) => {
                    for ended in batch {
                        self.make(ended);
                    }
                }
            }
        }
        self
    }

    fn make(&mut self, ended: Ended) {
        let Ended {
            entry,
            dns_name,
            reason,
        } = ended;
        let dns_name = dns_name.as_deref();
        let record = &entry.record;
        let sni = entry
            .state
            .client_hello
            .as_deref()
            .and_then(|h| h.sni.as_deref());
        // A proxied flow is judged on the target it asked the proxy for: the proxy's address,
        // port and DNS name say nothing of the service behind it.
        let target = Target::of(
            record.transport,
            record.server.port,
            entry.state.via_proxy,
            entry.state.proxy_target(),
        );
        let http_host = target
            .host
            .or(entry.state.http_host())
            .map(|h| split_host_port(h).0);
        let cert_names: &[String] = entry
            .state
            .server_hello
            .as_deref()
            .and_then(|h| h.certificate.as_ref())
            .map(|c| c.names.as_slice())
            .unwrap_or_default();
        let sni_source = if entry.state.app == AppProtocol::Quic {
            MatchedBy::QuicSni
        } else {
            MatchedBy::Sni
        };
        let direct = target.path == FlowPath::Direct;
        // DNS lookups are not Office 365 traffic, and port 53 is no Office 365 port.
        let classification = if entry.state.app == AppProtocol::Dns {
            Classification::default()
        } else {
            classify_with_user(
                self.catalog,
                self.user_catalog,
                &Signals {
                    sni,
                    sni_source,
                    http_host,
                    dns_name: dns_name.filter(|_| direct),
                    cert_names,
                    server_ip: Some(record.server.ip).filter(|_| direct),
                    transport: target.transport,
                    server_port: target.port,
                },
            )
        };
        let dns_name = dns_name.map(str::to_owned);
        let (name, precision) = self
            .captures
            .get(record.capture as usize)
            .map(|c| (c.name.as_str(), c.precision))
            .unwrap_or(("", Precision::Micro));
        let mut row = FlowRow::build(
            record,
            &entry.state,
            &classification,
            &target,
            name,
            precision,
        );
        row.dns_name = dns_name;
        row.end_reason = reason;
        let direction = Direction::of(record.client.ip, record.server.ip, self.internal);
        row.direction = direction.as_str();
        let names: Vec<&str> = row
            .sni
            .iter()
            .chain(row.http_host.iter())
            .chain(row.dns_name.iter())
            .chain(row.cert_names.iter())
            .map(String::as_str)
            .collect();
        let ownership = Ownership::get();
        row.microsoft = ownership.status(
            row.service_area.is_some(),
            names.iter().copied(),
            record.server.ip,
        );
        let client_microsoft = if self
            .catalog
            .match_addr(record.client.ip, record.transport, record.server.port)
            .is_some()
        {
            MicrosoftStatus::Listed
        } else if ownership.owns_addr(record.client.ip) {
            MicrosoftStatus::Unlisted
        } else {
            MicrosoftStatus::No
        };
        let identified = self.client_rules.identify(&ClientFacts {
            transport: record.transport,
            server_port: record.server.port,
            app_protocol: row.app_protocol.as_str(),
            names: &names,
            ja4: row.ja4.as_deref(),
            alpn: &row.alpn,
            user_agent: row.user_agent.as_deref(),
            http_path: entry.state.http_path(),
            media: &row.media_seen,
            service_area: row.service_area.as_ref().map(|a| a.as_str()),
            microsoft: row.microsoft,
            client_microsoft,
            direction,
        });
        if let Some(client) = identified.client {
            row.client_app = Some(client.app);
            row.client_confidence = Some(client.confidence);
            row.client_evidence = client.evidence;
        }
        if let Some(rule) = identified.published_evidence.first() {
            if !row.client_evidence.contains(rule) {
                row.client_evidence.push(format!("published-{rule}"));
            }
        }
        row.published_service = identified.published;
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
    fn flush(&mut self) {
        if let Some(sink) = &mut self.sink {
            sort_rows(&mut self.rows);
            (sink.write)(&mut self.rows);
            // Kept for the next chunk: growing a fresh vector of rows several hundred bytes
            // each, chunk after chunk, copied each row about twice (3.8% of one thread).
            self.rows.clear();
        }
    }
}

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

/// Malformed packets of one capture: count, first packet number, first reason.
type Malformed = Option<(u64, u64, String)>;

/// The analysis state of one run, fed packet by packet: by `analyze` from files, by live
/// capture from an interface.
pub struct Engine<'a> {
    config: &'a AnalysisConfig,
    /// Captures registered so far.
    captures: usize,
    summary: RunSummary,
    table: FlowTable<FlowDissect>,
    defrag: Defragmenter,
    fin: Finisher<'a>,
}

impl<'a> Engine<'a> {
    pub fn new(catalog: &'a Catalog, config: &'a AnalysisConfig) -> Self {
        Engine {
            config,
            captures: 0,
            summary: RunSummary {
                catalog: format!("{} (version {})", catalog.name(), catalog.version()),
                ..RunSummary::default()
            },
            table: FlowTable::new(config.limits),
            defrag: Defragmenter::default(),
            fin: Finisher {
                budget: DissectBudget::new(config.max_handshake, config.max_handshake_total),
                output: RowOutput::Here(RowMaker::new(catalog, config)),
            },
        }
    }

    /// An engine whose rows are made on a second thread of `scope` (classification, client
    /// rules and row building), while the calling thread runs the packet path. Results are
    /// those of [`Engine::new`]: the row maker gets the ended flows in the same order.
    pub fn new_piped<'env>(
        catalog: &'a Catalog,
        config: &'a AnalysisConfig,
        scope: &'a std::thread::Scope<'a, 'env>,
    ) -> Self {
        let mut engine = Engine::new(catalog, config);
        let (to_maker, from_engine) = std::sync::mpsc::sync_channel(64);
        let maker = RowMaker::new(catalog, config);
        let handle = scope.spawn(move || maker.run(from_engine));
        engine.fin.output = RowOutput::Piped(Pipe {
            pending: Vec::with_capacity(PIPE_BATCH),
            to_maker: Some(to_maker),
            maker: Some(handle),
        });
        engine
    }

    /// Registers a capture (a file, or a live interface) and returns its index for `packet`.
    pub fn begin_capture(&mut self, name: &str, precision: Precision) -> u32 {
        let index = u32::try_from(self.captures).unwrap_or(u32::MAX);
        self.captures += 1;
        self.fin.output.begin_capture(CaptureRef {
            name: name.to_owned(),
            precision,
        });
        index
    }

    pub fn summary(&self) -> &RunSummary {
        &self.summary
    }

    pub fn summary_mut(&mut self) -> &mut RunSummary {
        &mut self.summary
    }

    /// Streams finished rows to `write` instead of keeping them: every `chunk` rows (each
    /// chunk sorted like [`sort_rows`]) and the rest when the run finishes. Memory then holds at
    /// most the flow table and one chunk, whatever the number of flows; a run with fewer than
    /// `chunk` flows writes them in one sorted piece, as if they were kept.
    pub fn stream_rows(&mut self, chunk: usize, write: impl FnMut(&mut [FlowRow]) + Send + 'a) {
        self.fin.output.set_sink(RowSink {
            chunk: chunk.max(1),
            write: Box::new(write),
        });
    }

    /// Flows finished so far (idle, evicted, ended), in the order they ended (when streaming:
    /// those not handed over yet; nothing for a piped engine, whose rows are on another thread).
    pub fn finished(&self) -> &[FlowRow] {
        match &self.fin.output {
            RowOutput::Here(maker) => &maker.rows,
            RowOutput::Piped(_) => &[],
        }
    }

    /// Flows being tracked now.
    pub fn open_flows(&self) -> usize {
        self.table.len()
    }

    /// Ends flows idle at `now` (live capture calls this when no packets arrive).
    pub fn expire_idle(&mut self, now: crate::time::Timestamp) {
        let fin = &mut self.fin;
        self.table.sweep(now, &mut |e, r| fin.end(e, r));
    }

    /// One packet of capture `capture` (link type `link`). `malformed` collects the capture's
    /// malformed packets.
    pub fn packet(
        &mut self,
        capture: u32,
        link: LinkType,
        packet: &capture::RawPacket<'_>,
        malformed: &mut Malformed,
    ) {
        let wire_len = packet.length_on_wire();
        let (summary, table, defrag, fin) = (
            &mut self.summary,
            &mut self.table,
            &mut self.defrag,
            &mut self.fin,
        );
        let mut bad = |reason: String| {
            let m = malformed.get_or_insert((0, packet.number, reason));
            m.0 += 1;
        };
        match decode(link, packet.data) {
            Ok(Decoded::Ip(ip)) => {
                summary.ip_packets += 1;
                if ip.ip_incomplete && !packet.is_truncated() {
                    bad("IP length exceeds the captured packet".into());
                }
                let meta = PacketMeta::of(&ip, packet.ts, wire_len);
                // An ICMP unreachable marks the flow it quotes as rejected (it still counts as
                // an ICMP flow of its own).
                if let Some((src, sport, dst, dport, protocol)) =
                    unreachable_original(ip.transport, ip.payload)
                {
                    let transport = Transport::from_ip_number(protocol);
                    let (a, b) = (
                        Endpoint {
                            ip: src,
                            port: sport,
                        },
                        Endpoint {
                            ip: dst,
                            port: dport,
                        },
                    );
                    if let Some((rejected, _)) = table.find_mut(a, b, transport) {
                        rejected.record.rejected_by_icmp = true;
                    }
                }
                let Some((entry, side)) = table.packet(&meta, capture, &mut |e, r| fin.end(e, r))
                else {
                    return;
                };
                if let Some(first) = ip.fragment {
                    // The datagram's payload is dissected once it is whole.
                    let key = fragment_key(&first);
                    defrag.push(key, 0, true, first.data, wire_len, packet.ts);
                    return;
                }
                let server_port = entry.record.server.port;
                fin.budget.now = packet.ts;
                entry.state.on_packet(
                    ip.transport,
                    side,
                    ip.tcp,
                    ip.payload,
                    server_port,
                    &mut fin.budget,
                );
            }
            Ok(Decoded::Fragment(piece)) => {
                summary.fragments += 1;
                let key = fragment_key(&piece);
                let Some(whole) = defrag.push(
                    key,
                    piece.offset,
                    piece.more,
                    piece.data,
                    wire_len,
                    packet.ts,
                ) else {
                    return;
                };
                let Some((sport, dport, tcp, payload)) = transport_of(key.protocol, &whole.payload)
                else {
                    return;
                };
                let src = Endpoint {
                    ip: key.src,
                    port: sport,
                };
                let dst = Endpoint {
                    ip: key.dst,
                    port: dport,
                };
                let transport = Transport::from_ip_number(key.protocol);
                if let Some((entry, side)) = table.find_mut(src, dst, transport) {
                    summary.fragments_placed += whole.later_packets;
                    entry.record.credit(
                        side,
                        whole.later_packets,
                        whole.later_bytes,
                        whole.last_seen,
                    );
                    let server_port = entry.record.server.port;
                    fin.budget.now = packet.ts;
                    entry.state.on_packet(
                        transport,
                        side,
                        tcp,
                        payload,
                        server_port,
                        &mut fin.budget,
                    );
                }
            }
            Ok(Decoded::NotIp) => summary.non_ip_packets += 1,
            Err(DecodeError::Truncated(_)) if packet.is_truncated() => {
                summary.undecodable_truncated += 1
            }
            Err(e) => bad(e.to_string()),
        }
    }

    /// Ends every open flow and returns the run's flows (ordered by first packet) and summary.
    pub fn finish(mut self) -> Analysis {
        let (summary, table, fin) = (&mut self.summary, &mut self.table, &mut self.fin);
        table.drain(&mut |e, r| fin.end(e, r));
        summary.table = table.stats();
        summary.fragments_reassembled = self.defrag.stats.reassembled;
        summary.fragments_incomplete = self.defrag.stats.incomplete;
        if summary.table.evicted > 0 {
            summary.warnings.push(Warning::Evictions {
                count: summary.table.evicted,
                max_flows: self.config.limits.max_flows,
            });
        }
        if fin.budget.refused > 0 {
            summary.warnings.push(Warning::HandshakeBuffers {
                refused: fin.budget.refused,
                overflowed: fin.budget.overflowed,
            });
        }
        let (flows, tally) = self.fin.output.finish();
        Analysis {
            flows,
            tally,
            summary: self.summary,
        }
    }
}

/// Flows by first packet, then capture and endpoints: output order independent of hashing.
pub fn sort_rows(rows: &mut [FlowRow]) {
    fn order(a: &FlowRow, b: &FlowRow) -> std::cmp::Ordering {
        (
            a.first_seen,
            &a.capture,
            a.client_ip,
            a.client_port,
            a.server_ip,
            a.server_port,
        )
            .cmp(&(
                b.first_seen,
                &b.capture,
                b.client_ip,
                b.client_port,
                b.server_ip,
                b.server_port,
            ))
    }
    sort_large(rows, order);
}

/// Stable sort for large elements (a row is several hundred bytes): sorts positions, then
/// moves each element once, cycle by cycle, instead of n log n times.
fn sort_large<T>(items: &mut [T], order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let mut source: Vec<usize> = (0..items.len()).collect();
    source.sort_by(|&a, &b| match (items.get(a), items.get(b)) {
        (Some(x), Some(y)) => order(x, y),
        _ => std::cmp::Ordering::Equal,
    });
    for start in 0..source.len() {
        let mut at = start;
        // Position `at` receives the element now at `source[at]`; a placed position points at
        // itself, so a cycle (or a position already placed) ends where it started.
        while let Some(&from) = source.get(at) {
            if let Some(slot) = source.get_mut(at) {
                *slot = at;
            }
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
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
        let link = source.link_type();
        let mut malformed: Malformed = None;
        let mut unreported: u64 = 0;
        loop {
            let packet = match source.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    cap.read_error = true;
                    engine.summary.warnings.push(Warning::Capture(e));
                    break;
                }
            };
            cap.count(&packet);
            // pcap record header 16 bytes (pcapng blocks are a little larger: close enough).
            unreported += packet.data.len() as u64 + 16;
            if cap.packets % 4096 == 0 {
                progress.advance(unreported);
                unreported = 0;
            }
            if let LinkType::Unsupported(_) = link {
                continue;
            }
            engine.packet(capture_index, link, &packet, &mut malformed);
        }
        progress.advance(unreported);
        // A file that cannot be read again keeps no digest.
        if let Some(Ok((size, sha256))) = source.finish_digest() {
            cap.size = size;
            cap.sha256 = sha256;
        }
        engine.end_capture(cap, malformed);
    }
    progress.finish();
}

impl Engine<'_> {
    /// Adds a finished capture's counts and warnings to the run.
    pub fn end_capture(&mut self, cap: CaptureSummary, malformed: Malformed) {
        let summary = &mut self.summary;
        summary.packets += cap.packets;
        summary.bytes += cap.bytes;
        if let LinkType::Unsupported(_) = cap.link_type {
            summary.skipped_link_packets += cap.packets;
            summary.warnings.push(Warning::SkippedLinkType {
                path: cap.path.clone(),
                link: cap.link_type,
                packets: cap.packets,
            });
        }
        if let Some((count, first_packet, first_reason)) = malformed {
            summary.malformed += count;
            summary.warnings.push(Warning::Malformed {
                path: cap.path.clone(),
                count,
                first_packet,
                first_reason,
            });
        }
        summary.captures.push(cap);
    }
}

impl Analysis {
    /// Warnings or not, did anything get read? (Exit code 2 when not.)
    pub fn read_anything(&self) -> bool {
        self.summary.any_input_read()
    }
}

#[cfg(test)]
mod sort_tests {
    use super::sort_large;

    #[test]
    fn sorts_like_a_stable_sort() {
        // (key, original position): equal keys must keep their order.
        let mut state = 0x2545_f491_u32;
        for len in [0usize, 1, 2, 3, 10, 257, 1000] {
            let items: Vec<(u32, usize)> = (0..len)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state % 17, i)
                })
                .collect();
            let mut expected = items.clone();
            expected.sort_by_key(|x| x.0);
            let mut got = items;
            sort_large(&mut got, |a, b| a.0.cmp(&b.0));
            assert_eq!(got, expected, "{len}");
        }
    }
}
