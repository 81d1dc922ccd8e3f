//! o365flow: read packet captures, follow each flow, find what it really is (TLS server names,
//! ports, protocol), match it to the Office 365 endpoint catalog and write flow tables and reports.
//!
//! Data flows one way through the modules (a module never imports a later stage):
//! `capture` (files) -> `wire` (typed views over bytes) -> `flow` (direction-free table, expiry)
//! -> `dissect` (per-flow protocol state) -> `catalog` + `classify` (Office 365 service, verdicts)
//! -> `report` (rows, CSV/Parquet/JSONL, terminal summary). `engine` drives one run through
//! all stages, from capture files or a live interface; `monitor` serves a live run's counters
//! as Prometheus metrics; the binary only parses arguments and maps the outcome to an exit
//! code.

pub mod capture;
pub mod catalog;
pub mod classify;
pub mod dissect;
pub mod engine;
pub mod files;
pub mod flow;
pub mod hex;
#[cfg(feature = "metrics")]
pub mod monitor;
pub mod report;
pub mod time;
pub mod wire;

pub use engine::{analyze, analyze_with_progress, Analysis, AnalysisConfig, Progress};
