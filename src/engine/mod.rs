//! The engine: one analysis run, fed packet by packet from any packet source (capture files,
//! a live interface) through decode, defragmentation, the flow table and the dissectors; ended
//! flows go to the row maker (classification, ownership, client rules) on this thread or its
//! own, and rows are kept or streamed out. Files given together are one analysis: a flow
//! continuing from one file into the next stays one flow.
//!
//! Rooms: `packet` (the packet path and the run's counters), `source` (the loop every packet
//! source shares), `files` (capture files), `live` (a live interface), `rows` (ended flows to
//! rows), `order` (the rows' output order).

mod files;
pub mod live;
mod order;
mod packet;
mod rows;
mod source;

pub use files::{analyze, analyze_with_progress, run_files, Progress};
pub use order::sort_rows;
pub use packet::{Engine, Malformed};
pub use source::{Next, PacketSource, ReadEnd, RunObserver, Unobserved};

use crate::catalog::Catalog;
use crate::classify::client::ClientRules;
use crate::dissect::DissectShared;
use crate::flow::TableLimits;
use crate::report::terminal::FlowTally;
use crate::report::{FlowRow, RunSummary};

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
        let budget = DissectShared::default().budget;
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

impl Analysis {
    /// Warnings or not, did anything get read? (Exit code 2 when not.)
    pub fn read_anything(&self) -> bool {
        self.summary.any_input_read()
    }
}
