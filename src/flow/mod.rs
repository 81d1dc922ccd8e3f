//! Flows: a direction-free key per conversation, the record of what each side sent, a bounded
//! table that expires idle flows on capture time, and bounded stream buffers for handshakes.
//! Knows nothing of protocols above TCP/UDP: per-flow protocol state is a type parameter.

pub mod defrag;
pub mod key;
pub mod reassembly;
pub mod record;
pub mod slab;
pub mod table;

pub use key::{Endpoint, FlowKey};

/// A hash map with a fast keyed hasher: keys come off the wire, so it must resist crafted
/// collisions (foldhash seeds per process) while costing far less than SipHash per packet.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub use reassembly::{Push, StreamBuffer};
pub use record::{FlowRecord, Side};
pub use table::{EndReason, FlowEntry, FlowTable, TableLimits, TableStats};
