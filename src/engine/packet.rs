//! The packet path: decode, ICMP errors matched to the flows they quote, IP fragments
//! reassembled, the flow table, the dissectors; and the run's counters and warnings.

use crate::capture::{self, LinkType};
use crate::catalog::Catalog;
use crate::dissect::{DissectShared, FlowDissect, FlowPacket};
use crate::flow::defrag::{Defragmenter, FragmentKey, Pushed, Reassembled};
use crate::flow::table::PacketMeta;
use crate::flow::{Endpoint, FlowEntry, FlowTable, Side};
use crate::report::{CaptureSummary, FlowRow, RunSummary, Warning};
use crate::time::{Precision, Timestamp};
use crate::wire::l2l4::{transport_of, unreachable_original, FragmentInfo};
use crate::wire::{decode, DecodeError, Decoded, Transport};

use super::rows::{CaptureRef, Finisher, Pipe, RowMaker, RowOutput, RowSink, PIPE_BATCH};
use super::{Analysis, AnalysisConfig};

fn fragment_key(f: &FragmentInfo<'_>) -> FragmentKey {
    FragmentKey {
        src: f.src,
        dst: f.dst,
        protocol: f.protocol,
        id: f.id,
    }
}

/// The flow of a fragmented datagram, by its addresses, protocol and transport ports.
fn datagram_flow(
    table: &mut FlowTable<FlowDissect>,
    key: FragmentKey,
    (sport, dport): (u16, u16),
) -> Option<(&mut FlowEntry<FlowDissect>, Side)> {
    let src = Endpoint {
        ip: key.src,
        port: sport,
    };
    let dst = Endpoint {
        ip: key.dst,
        port: dport,
    };
    table.find_mut(src, dst, Transport::from_ip_number(key.protocol))
}

/// Credits a whole datagram's later fragments to its flow (found by the ports in the datagram,
/// which a first fragment too short for them could not give) and dissects its payload.
fn place_whole(
    table: &mut FlowTable<FlowDissect>,
    whole: &Reassembled,
    now: Timestamp,
    summary: &mut RunSummary,
    shared: &mut DissectShared,
) {
    let key = whole.key;
    let Some((sport, dport, tcp, payload)) = transport_of(key.protocol, &whole.payload) else {
        return;
    };
    let transport = Transport::from_ip_number(key.protocol);
    let Some((entry, side)) = datagram_flow(table, key, (sport, dport)) else {
        return;
    };
    summary.fragments_placed += whole.later_packets;
    entry.record.credit(
        side,
        whole.later_packets,
        whole.later_bytes,
        whole.last_seen,
    );
    let server_port = entry.record.server.port;
    entry.state.on_packet(
        FlowPacket {
            transport,
            side,
            tcp,
            payload,
            server_port,
            now,
        },
        shared,
    );
}

/// Malformed packets of one capture: count, first packet number, first reason.
pub type Malformed = Option<(u64, u64, String)>;

/// The analysis state of one run, fed packet by packet: by `analyze` from files, by live
/// capture from an interface.
pub struct Engine<'a> {
    pub(super) config: &'a AnalysisConfig,
    /// Captures registered so far.
    captures: usize,
    pub(super) summary: RunSummary,
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
                shared: DissectShared::new(config.max_handshake, config.max_handshake_total),
                output: RowOutput::Here(Box::new(RowMaker::new(catalog, config))),
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
        Engine::new_piped_with(catalog, config, scope, 64)
    }

    /// [`Engine::new_piped`] with at most `batches` batches of ended flows (256 each) waiting
    /// for the row maker: a live run keeps few, so its memory does not follow the row maker's
    /// moments of lag.
    pub fn new_piped_with<'env>(
        catalog: &'a Catalog,
        config: &'a AnalysisConfig,
        scope: &'a std::thread::Scope<'a, 'env>,
        batches: usize,
    ) -> Self {
        let mut engine = Engine::new(catalog, config);
        let (to_maker, from_engine) = std::sync::mpsc::sync_channel(batches.max(1));
        let maker = RowMaker::new(catalog, config);
        let handle = scope.spawn(move || maker.run(from_engine));
        engine.fin.output = RowOutput::Piped(Pipe {
            pending: Vec::with_capacity(PIPE_BATCH),
            since: None,
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

    /// Flows ended early so far because the flow table was full.
    pub fn evicted_flows(&self) -> u64 {
        self.table.stats().evicted
    }

    /// Flows being tracked now.
    pub fn open_flows(&self) -> usize {
        self.table.len()
    }

    /// Ends flows idle at `now` (live capture calls this when no packets arrive).
    pub fn expire_idle(&mut self, now: crate::time::Timestamp) {
        let fin = &mut self.fin;
        self.table.sweep(now, &mut |e, r| fin.end(e, r));
        fin.output.hand_over();
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
                    // The datagram's payload is dissected once it is whole: now, when the
                    // first fragment is the last to arrive.
                    let key = fragment_key(&first);
                    if let Pushed::Whole(whole) =
                        defrag.push(key, 0, true, first.data, wire_len, packet.ts)
                    {
                        place_whole(table, &whole, packet.ts, summary, &mut fin.shared);
                    }
                    return;
                }
                let server_port = entry.record.server.port;
                entry.state.on_packet(
                    FlowPacket {
                        transport: ip.transport,
                        side,
                        tcp: ip.tcp,
                        payload: ip.payload,
                        server_port,
                        now: packet.ts,
                    },
                    &mut fin.shared,
                );
            }
            Ok(Decoded::Fragment(piece)) => {
                summary.fragments += 1;
                let key = fragment_key(&piece);
                let pushed = defrag.push(
                    key,
                    piece.offset,
                    piece.more,
                    piece.data,
                    wire_len,
                    packet.ts,
                );
                match pushed {
                    Pushed::Held => {}
                    Pushed::Whole(whole) => {
                        place_whole(table, &whole, packet.ts, summary, &mut fin.shared)
                    }
                    // A later fragment's copy (the first fragment's was counted by the flow
                    // table).
                    Pushed::LateCopy { ports: Some(ports) } => {
                        if let Some((entry, side)) = datagram_flow(table, key, ports) {
                            summary.fragments_placed += 1;
                            entry.record.credit(side, 1, u64::from(wire_len), packet.ts);
                        }
                    }
                    Pushed::LateCopy { .. } => {}
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
        // Datagrams still missing pieces when the captures ended are incomplete too.
        summary.fragments_incomplete = self.defrag.stats.incomplete + self.defrag.pending() as u64;
        if summary.table.evicted > 0 {
            summary.warnings.push(Warning::Evictions {
                count: summary.table.evicted,
                max_flows: self.config.limits.max_flows,
            });
        }
        if fin.shared.budget.refused > 0 {
            summary.warnings.push(Warning::HandshakeBuffers {
                refused: fin.shared.budget.refused,
                overflowed: fin.shared.budget.overflowed,
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
