//! The output edge: one row per flow with the fixed column schema, its writers (CSV and
//! Parquet through polars, JSON lines) and the terminal summary. Strings from the wire are
//! untrusted: CSV cells are protected against formula injection here.

pub mod columns;
pub mod ecs;
pub mod escape;
pub mod meta;
pub mod pseudonym;
pub mod row;
pub mod summary;
pub mod terminal;
pub mod write;

#[cfg(feature = "report")]
pub mod audit;
#[cfg(feature = "report")]
pub mod frame;
#[cfg(feature = "report")]
pub mod out;
#[cfg(feature = "report")]
pub mod pages;
pub mod partition;

pub use row::FlowRow;
pub use summary::{CaptureSummary, RunSummary, Warning};
pub use write::{write_flows, FlowFormat, WriteError};
