//! o365flow: read packet captures, follow each flow, find what it really is (TLS server names,
//! ports, protocol), match it to the Office 365 endpoint catalog and write flow tables and reports.
//!
//! Data flows one way through the modules (a module never imports a later stage):
//! `capture` (files) -> `wire` (typed views over bytes) -> `flow` (direction-free table, expiry)
//! -> `dissect` (per-flow protocol state) -> `catalog` + `classify` (Office 365 service, verdicts)
//! -> `report` (rows, CSV/Parquet/JSONL, terminal summary). `analyzer` drives one run through
//! all stages; the binary only parses arguments and maps the outcome to an exit code.

pub mod analyzer;
pub mod capture;
pub mod catalog;
pub mod classify;
pub mod dissect;
pub mod files;
pub mod flow;
pub mod hex;
pub mod live;
pub mod report;
pub mod time;
pub mod wire;

pub use analyzer::{analyze, analyze_with_progress, Analysis, AnalysisConfig, Progress};
