//! Run-level facts: what was read, what was counted, and every warning, for the terminal
//! summary, the exit code and (later) summary.json.

use std::fmt;
use std::path::PathBuf;

use crate::capture::{CaptureError, LinkType};
use crate::flow::TableStats;
use crate::time::{Precision, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSummary {
    pub path: PathBuf,
    /// File name as shown in the `capture` column.
    pub name: String,
    pub link_type: LinkType,
    pub precision: Precision,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Packets kept shorter than sent (snaplen).
    pub truncated_packets: u64,
    /// Reading stopped early at an error (the error is among the warnings).
    pub read_error: bool,
    /// The capture header's snaplen.
    pub snaplen: Option<u32>,
    /// File size in bytes and SHA-256 (hex), when the file could be read again for them.
    pub size: u64,
    pub sha256: String,
    /// Live capture: packets the kernel or the analysis queue dropped.
    pub dropped_packets: u64,
}

impl CaptureSummary {
    /// A capture about to be read: no packets counted yet.
    pub fn new(
        path: PathBuf,
        name: String,
        link_type: LinkType,
        precision: Precision,
        snaplen: Option<u32>,
    ) -> Self {
        CaptureSummary {
            path,
            name,
            link_type,
            precision,
            packets: 0,
            bytes: 0,
            first_ts: None,
            last_ts: None,
            truncated_packets: 0,
            read_error: false,
            snaplen,
            size: 0,
            sha256: String::new(),
            dropped_packets: 0,
        }
    }

    /// Counts one packet read from this capture.
    pub fn count(&mut self, packet: &crate::capture::RawPacket<'_>) {
        let wire_len = packet.length_on_wire();
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        self.first_ts = Some(self.first_ts.map_or(packet.ts, |t| t.min(packet.ts)));
        self.last_ts = Some(self.last_ts.map_or(packet.ts, |t| t.max(packet.ts)));
        if packet.is_truncated() {
            self.truncated_packets += 1;
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// An input could not be found, opened or read to the end.
    Capture(CaptureError),
    /// A capture of a link type this build does not decode: its packets were skipped.
    SkippedLinkType {
        path: PathBuf,
        link: LinkType,
        packets: u64,
    },
    /// Packets whose bytes contradict their headers (beyond snaplen truncation).
    Malformed {
        path: PathBuf,
        count: u64,
        first_packet: u64,
        first_reason: String,
    },
    /// The flow table was full: flows were ended early.
    Evictions { count: u64, max_flows: usize },
    /// Handshake buffers hit their limits: some server names may be missing.
    HandshakeBuffers { refused: u64, overflowed: u64 },
    /// Live capture lost packets: the kernel's buffer or the analysis queue was full.
    Dropped { kernel: u64, queue: u64 },
    /// Live capture's report reached its limit of `cap` flow groups: `coarsened` flows lost
    /// their addresses, `demoted` count in the totals only.
    ReportGroups {
        coarsened: u64,
        demoted: u64,
        cap: usize,
    },
    /// Live capture could not gather `failed` batches of flows for the report (they are in the
    /// flow parts, not in the report).
    ReportGather { failed: u64, first_reason: String },
    /// Live capture could not write `failed` batches of flows to the parts.
    Parts { failed: u64, first_reason: String },
    /// Live capture's writer thread (parts and periodic reports) panicked: what it had not
    /// written is missing from the parts; the final report is written all the same.
    WriterPanicked,
    /// Live capture's periodic reports: `skipped` were due while the writer was busy, `failed`
    /// could not be written (the first reason, if any failed).
    Reports {
        skipped: u64,
        failed: u64,
        first_reason: Option<String>,
    },
    /// `--keep-days` could not delete (or look at) `failed` old entries of the flow parts.
    Prune { failed: u64, first_reason: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Capture(e) => write!(f, "{e}"),
            Warning::SkippedLinkType { path, link, packets } => write!(
                f,
                "{}: link type {link} is not supported: {packets} packets skipped",
                path.display()
            ),
            Warning::Malformed {
                path,
                count,
                first_packet,
                first_reason,
            } => write!(
                f,
                "{}: {count} malformed packet(s), first at packet {first_packet}: {first_reason}",
                path.display()
            ),
            Warning::Evictions { count, max_flows } => write!(
                f,
                "flow table full ({max_flows} flows): {count} flows evicted early (raise --max-flows)"
            ),
            Warning::Dropped { kernel, queue } => write!(
                f,
                "packets dropped: {kernel} by the kernel (capture buffer full; raise --buffer-size), {queue} by the analysis queue (analysis could not keep up; raise --queue)"
            ),
            Warning::HandshakeBuffers { refused, overflowed } => write!(
                f,
                "handshake buffers: {refused} flows refused (memory budget), {overflowed} too large or gapped"
            ),
            Warning::ReportGroups {
                coarsened,
                demoted,
                cap,
            } => write!(
                f,
                "the report reached its limit of {cap} flow groups (--report-groups): {coarsened} flows are counted without their addresses, {demoted} in the totals only (o365flow report DIR/flows has them all)"
            ),
            Warning::ReportGather {
                failed,
                first_reason,
            } => write!(
                f,
                "{failed} batches of flows could not be gathered for the report (they are in the flow parts unless writing those failed too), first: {first_reason}"
            ),
            Warning::Parts { failed, first_reason } => write!(
                f,
                "{failed} batches of flows could not be written to the flow parts, first: {first_reason}"
            ),
            Warning::Prune {
                failed,
                first_reason,
            } => write!(
                f,
                "--keep-days: {failed} old entries of the flow parts could not be deleted, first: {first_reason}"
            ),
            Warning::Reports {
                skipped,
                failed,
                first_reason,
            } => {
                write!(
                    f,
                    "periodic reports: {skipped} skipped (the writer was busy), {failed} failed"
                )?;
                match first_reason {
                    Some(reason) => write!(f, ", first: {reason}"),
                    None => Ok(()),
                }
            }
            Warning::WriterPanicked => write!(
                f,
                "the parts writer panicked: flows not yet written may be missing from the flow parts, and the final report covers only the most recent flows (--recent-rows)"
            ),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub captures: Vec<CaptureSummary>,
    pub packets: u64,
    pub bytes: u64,
    pub ip_packets: u64,
    pub non_ip_packets: u64,
    /// Non-first IP fragments seen.
    pub fragments: u64,
    /// Of those, fragments credited to their flow: once their datagram was reassembled, or as
    /// a copy arriving after it was (a mirror port's duplicate).
    pub fragments_placed: u64,
    /// Datagrams reassembled from fragments.
    pub fragments_reassembled: u64,
    /// Fragmented datagrams never made whole (timeout, limits, or pieces still missing when
    /// the captures ended). A datagram dropped for its limits counts again if more of its
    /// pieces come and are never made whole.
    pub fragments_incomplete: u64,
    /// Packets too short to reach their transport header because of snaplen.
    pub undecodable_truncated: u64,
    pub malformed: u64,
    pub skipped_link_packets: u64,
    pub table: TableStats,
    pub catalog: String,
    pub warnings: Vec<Warning>,
}

impl RunSummary {
    /// At least one capture was opened and read.
    pub fn any_input_read(&self) -> bool {
        !self.captures.is_empty()
    }
}
