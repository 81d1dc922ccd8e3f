//! Flows: a direction-free key per conversation, the record of what each side sent, a bounded
//! table that expires idle flows on capture time, and bounded stream buffers for handshakes.
//! Knows nothing of protocols above TCP/UDP: per-flow protocol state is a type parameter.

pub mod defrag;
pub mod key;
pub mod reassembly;
pub mod record;
pub mod table;

pub use key::{Endpoint, FlowKey};
pub use reassembly::{Push, StreamBuffer};
pub use record::{FlowRecord, Side};
pub use table::{EndReason, FlowEntry, FlowTable, TableLimits, TableStats};
