//! The one error type of capture sources: what went wrong finding, opening or reading a capture
//! or an interface, naming the file (and packet) or the interface.

use std::path::PathBuf;

/// Failures while finding or reading captures. Each names the file, and the packet number
/// (1-based, as Wireshark counts) when it happened inside the file.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CaptureError {
    #[error("{path}: no such file or directory")]
    Missing { path: PathBuf },
    #[error("{path}: directory holds no .pcap, .pcapng or .cap files")]
    EmptyDirectory { path: PathBuf },
    #[error("{path}: cannot read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: not a capture libpcap can read: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("interface {interface}: {reason}")]
    Device { interface: String, reason: String },
    #[error("{path}: packet {packet}: {reason}; results up to packet {last_good} kept")]
    Packet {
        path: PathBuf,
        packet: u64,
        last_good: u64,
        reason: String,
    },
}
