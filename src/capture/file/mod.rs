//! Capture files. Classic pcap files of the link types o365flow decodes are read by a
//! pure-Rust reader over a large buffer (records parsed in place with `pcap-parser`); pcapng and
//! anything unusual go through libpcap. The native reader exists for speed: libpcap copies every
//! record out of stdio's buffer, and the capture's SHA-256 needed a second read of the file; the
//! native reader hashes the bytes it has already read (`tests/readers.rs` proves both readers
//! hand out the same packets and errors for every sample and corpus capture).
//!
//! Files: this one (the source: which reader, numbering, errors), `native` (the pure-Rust pcap
//! reader), `digest` (size and SHA-256), `head` (precision and snaplen from the header).

mod digest;
mod head;
mod native;

use std::path::{Path, PathBuf};

use super::error::CaptureError;
use super::link::LinkType;
use crate::time::{Precision, Timestamp};
use digest::{Digest, Sha256Sum};
use head::native_head;
use native::{NativeReader, Record};

pub use digest::file_digest;
pub use head::{head_precision, head_snaplen};

/// One frame as the capture stored it; `data` borrows the reader's buffer until the next read.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// 1-based position in the file.
    pub number: u64,
    pub ts: Timestamp,
    /// Length on the wire (the record's `len`); never less than `data.len()`.
    pub wire_len: u32,
    pub data: &'a [u8],
}

impl RawPacket<'_> {
    /// Bytes the packet had on the wire: the record's length, never less than what was kept
    /// (a lying record header cannot make a packet shorter than its bytes).
    pub fn length_on_wire(&self) -> u32 {
        self.wire_len
            .max(u32::try_from(self.data.len()).unwrap_or(u32::MAX))
    }

    /// True when the capture kept fewer bytes than were on the wire (snaplen).
    pub fn is_truncated(&self) -> bool {
        (self.wire_len as usize) > self.data.len()
    }
}

/// Which code reads the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderChoice {
    /// The native reader where it applies (classic pcap, decodable link type), else libpcap.
    Auto,
    /// Always libpcap (tests compare the two).
    Libpcap,
}

enum Reader {
    Libpcap(pcap::Capture<pcap::Offline>),
    Native(NativeReader),
}

/// Where the capture's SHA-256 is computed (the report identifies each capture by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestMode {
    Off,
    /// On the reading thread, from the bytes it reads: one core does everything.
    Inline,
    /// On a thread of its own, beside the reading one. The native reader hands it the chunks
    /// it has read (shared, not copied); behind libpcap the thread reads the file itself.
    Beside,
}

pub struct FileSource {
    path: PathBuf,
    reader: Reader,
    digest: Option<Digest>,
    link: LinkType,
    precision: Precision,
    snaplen: Option<u32>,
    read: u64,
    finished: bool,
}

impl FileSource {
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        Self::open_with(path, ReaderChoice::Auto, DigestMode::Off)
    }

    /// Opens `path`; unless `digest` is off, [`FileSource::finish_digest`] gives the file's
    /// size and SHA-256.
    pub fn open_with(
        path: &Path,
        choice: ReaderChoice,
        mode: DigestMode,
    ) -> Result<Self, CaptureError> {
        // Checked first so an empty or unreadable file gets a plain message, not libpcap's.
        let (precision, snaplen) = match native_head(path) {
            Ok(p) => p,
            Err(reason) => {
                return Err(CaptureError::Open {
                    path: path.to_path_buf(),
                    reason,
                })
            }
        };
        // libpcap validates the header and maps the file's link type to its DLT, for both
        // readers.
        let capture = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano)
            .map_err(|e| CaptureError::Open {
                path: path.to_path_buf(),
                reason: pcap_reason(&e),
            })?;
        let link = LinkType::from_dlt(capture.get_datalink().0);
        let native = match choice {
            ReaderChoice::Auto => NativeReader::open(path, link).ok().flatten(),
            ReaderChoice::Libpcap => None,
        };
        let (reader, digest) = match native {
            Some(native) => {
                let mut digest = match mode {
                    DigestMode::Off => None,
                    DigestMode::Inline => Some(Digest::Inline(Sha256Sum::new())),
                    DigestMode::Beside => Some(Digest::chunks()),
                };
                // The bytes read while checking the header.
                if let Some(d) = digest.as_mut() {
                    d.take(&native.buffer, 0..native.end);
                }
                (Reader::Native(native), digest)
            }
            None => {
                // libpcap reads the file; the digest reads it once more, beside or after.
                let digest = match mode {
                    DigestMode::Off => None,
                    DigestMode::Inline => Some(Digest::AfterRead(path.to_path_buf())),
                    DigestMode::Beside => {
                        let path = path.to_path_buf();
                        Some(Digest::OwnRead(std::thread::spawn(move || {
                            file_digest(&path)
                        })))
                    }
                };
                (Reader::Libpcap(capture), digest)
            }
        };
        Ok(FileSource {
            path: path.to_path_buf(),
            reader,
            digest,
            link,
            precision,
            snaplen,
            read: 0,
            finished: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn link_type(&self) -> LinkType {
        self.link
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The largest packet the capture kept (its header's snaplen; the first interface's in
    /// pcapng), when the header says.
    pub fn snaplen(&self) -> Option<u32> {
        self.snaplen
    }

    /// Packets returned so far.
    pub fn packets_read(&self) -> u64 {
        self.read
    }

    /// True when the pure-Rust reader reads this file (false: libpcap).
    pub fn is_native(&self) -> bool {
        matches!(self.reader, Reader::Native(_))
    }

    /// The next frame, `Ok(None)` at the end, or an error naming the packet that could not be
    /// read; after an error the source is finished.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.finished {
            return Ok(None);
        }
        let outcome = match &mut self.reader {
            Reader::Native(native) => native.next_record(self.digest.as_mut()),
            Reader::Libpcap(capture) => match capture.next_packet() {
                Ok(packet) => Ok(Some(Record {
                    secs: packet.header.ts.tv_sec,
                    nanos: packet.header.ts.tv_usec,
                    wire_len: packet.header.len,
                    data: packet.data,
                })),
                Err(pcap::Error::NoMorePackets) => Ok(None),
                Err(e) => Err(pcap_reason(&e)),
            },
        };
        match outcome {
            Ok(Some(record)) => {
                self.read += 1;
                let data = record.data;
                // A record whose wire length is below its captured length lies; trust the bytes.
                let wire_len = record
                    .wire_len
                    .max(u32::try_from(data.len()).unwrap_or(u32::MAX));
                Ok(Some(RawPacket {
                    number: self.read,
                    ts: Timestamp::from_secs_nanos(record.secs, record.nanos),
                    wire_len,
                    data,
                }))
            }
            Ok(None) => {
                self.finished = true;
                Ok(None)
            }
            Err(reason) => {
                self.finished = true;
                Err(CaptureError::Packet {
                    path: self.path.clone(),
                    packet: self.read + 1,
                    last_good: self.read,
                    reason,
                })
            }
        }
    }

    /// Size and SHA-256 (hex) of the whole file, also when reading stopped early; `None` when
    /// the source was opened with the digest off.
    pub fn finish_digest(mut self) -> Option<std::io::Result<(u64, String)>> {
        let mut digest = self.digest.take()?;
        if let Reader::Native(native) = &mut self.reader {
            if let Err(e) = native.hash_rest(&mut digest) {
                return Some(Err(e));
            }
        }
        Some(digest.finish())
    }
}

fn pcap_reason(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(msg) => msg.clone(),
        other => other.to_string(),
    }
}
