//! Capture files. Classic pcap files of the link types o365flow decodes are read by a
//! pure-Rust reader over a large buffer (records parsed in place with `pcap-parser`); pcapng and
//! anything unusual go through libpcap. The native reader exists for speed: libpcap copies every
//! record out of stdio's buffer, and the capture's SHA-256 needed a second read of the file; the
//! native reader hashes the bytes it has already read (`tests/readers.rs` proves both readers
//! hand out the same packets and errors for every sample and corpus capture).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use pcap_parser::nom;

use super::{CaptureError, LinkType};
use crate::time::{Precision, Timestamp};

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

/// SHA-256 and size of the bytes seen so far.
struct Sha256Sum {
    context: ring::digest::Context,
    size: u64,
}

impl Sha256Sum {
    fn new() -> Self {
        Sha256Sum {
            context: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.context.update(bytes);
        self.size += bytes.len() as u64;
    }

    fn finish(self) -> (u64, String) {
        let mut hex = String::with_capacity(64);
        crate::hex::push_bytes(&mut hex, self.context.finish().as_ref());
        (self.size, hex)
    }
}

/// A run of bytes the native reader read: a shared read buffer and the range that is new.
type Chunk = (Arc<Vec<u8>>, std::ops::Range<usize>);

/// Chunks in flight to the digest thread; the reader waits when it runs this far ahead, so
/// memory stays bounded.
const CHUNKS_IN_FLIGHT: usize = 4;

enum Digest {
    Inline(Sha256Sum),
    Chunks {
        sender: SyncSender<Chunk>,
        thread: JoinHandle<(u64, String)>,
    },
    OwnRead(JoinHandle<std::io::Result<(u64, String)>>),
    /// Behind libpcap on one thread: the file is read once more after its packets.
    AfterRead(PathBuf),
}

impl Digest {
    fn chunks() -> Digest {
        let (sender, receiver) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let thread = std::thread::spawn(move || {
            let mut sum = Sha256Sum::new();
            for (buffer, range) in receiver {
                sum.update(buffer.get(range).unwrap_or_default());
            }
            sum.finish()
        });
        Digest::Chunks { sender, thread }
    }

    /// Takes bytes the reader has just read into `buffer` at `range`.
    fn take(&mut self, buffer: &Arc<Vec<u8>>, range: std::ops::Range<usize>) {
        match self {
            Digest::Inline(sum) => sum.update(buffer.get(range).unwrap_or_default()),
            // A closed channel means the digest thread died; finish reports it.
            Digest::Chunks { sender, .. } => {
                let _ = sender.send((Arc::clone(buffer), range));
            }
            Digest::OwnRead(_) | Digest::AfterRead(_) => {}
        }
    }

    fn finish(self) -> std::io::Result<(u64, String)> {
        let died = || std::io::Error::other("the digest thread stopped");
        match self {
            Digest::Inline(sum) => Ok(sum.finish()),
            Digest::Chunks { sender, thread } => {
                drop(sender);
                thread.join().map_err(|_| died())
            }
            Digest::OwnRead(thread) => thread.join().map_err(|_| died())?,
            Digest::AfterRead(path) => file_digest(&path),
        }
    }
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

/// A record before numbering: timestamp parts as the file has them scaled to nanoseconds.
struct Record<'a> {
    secs: i64,
    nanos: i64,
    wire_len: u32,
    data: &'a [u8],
}

/// libpcap's largest valid record for the link types decoded here (`MAXIMUM_SNAPLEN`); it
/// refuses bigger ones, and so does the native reader.
const MAX_RECORD_DATA: usize = 262_144;
const RECORD_HEADER: usize = 16;
/// Read size: large reads keep system calls rare; a whole record always fits.
const READ_CHUNK: usize = 1 << 20;

/// Classic pcap records read from a buffer refilled by large reads. Parsing borrows from the
/// buffer; only a record cut by the buffer's end is moved to the front of the next one.
struct NativeReader {
    file: File,
    /// Shared with the digest thread (which hashes it while records are parsed from it), so a
    /// refill goes into a buffer nobody else holds.
    buffer: Arc<Vec<u8>>,
    /// Earlier buffers, reused once the digest thread has let go of them.
    spare: Vec<Arc<Vec<u8>>>,
    start: usize,
    end: usize,
    at_eof: bool,
    big_endian: bool,
    nano: bool,
    /// libpcap hands out at most this many bytes of a record (the header's snaplen, or the
    /// maximum when the header's is 0 or larger).
    snapshot: usize,
}

const BUFFER_SIZE: usize = READ_CHUNK + MAX_RECORD_DATA + RECORD_HEADER;

impl NativeReader {
    /// The reader for `path` when it is a classic pcap (version 2.4, either byte order,
    /// microseconds or nanoseconds) of a link type this crate decodes; `Ok(None)` otherwise.
    fn open(path: &Path, link: LinkType) -> std::io::Result<Option<NativeReader>> {
        if let LinkType::Unsupported(_) = link {
            return Ok(None);
        }
        let file = File::open(path)?;
        let mut reader = NativeReader {
            file,
            buffer: Arc::new(vec![0; BUFFER_SIZE]),
            spare: Vec::new(),
            start: 0,
            end: 0,
            at_eof: false,
            big_endian: false,
            nano: false,
            snapshot: MAX_RECORD_DATA,
        };
        reader.fill(None)?;
        let Some(head) = reader.buffer.get(reader.start..reader.end) else {
            return Ok(None);
        };
        let Ok((_, header)) = pcap_parser::parse_pcap_header(head) else {
            return Ok(None);
        };
        if header.version_major != 2 || header.version_minor != 4 || header.is_modified_format() {
            return Ok(None);
        }
        reader.start = header.size();
        reader.big_endian = header.is_bigendian();
        reader.nano = header.is_nanosecond_precision();
        let declared = header.snaplen as usize;
        if declared != 0 && declared < MAX_RECORD_DATA {
            reader.snapshot = declared;
        }
        Ok(Some(reader))
    }

    /// Reads more bytes behind the unread ones (moving those to the front first when the
    /// buffer's tail is short, or into another buffer while the digest thread holds this one)
    /// and hands them to the digest.
    fn fill(&mut self, digest: Option<&mut Digest>) -> std::io::Result<usize> {
        let held = Arc::strong_count(&self.buffer) > 1;
        if held || self.buffer.len() - self.end < READ_CHUNK {
            let mut next = match self.spare.iter().position(|b| Arc::strong_count(b) == 1) {
                Some(at) => self.spare.swap_remove(at),
                None if held => Arc::new(vec![0; BUFFER_SIZE]),
                None => Arc::clone(&self.buffer),
            };
            let unread = self.end - self.start;
            if Arc::ptr_eq(&next, &self.buffer) {
                drop(next);
                if let Some(buffer) = Arc::get_mut(&mut self.buffer) {
                    buffer.copy_within(self.start..self.end, 0);
                }
            } else {
                if let (Some(to), Some(from)) = (
                    Arc::get_mut(&mut next),
                    self.buffer.get(self.start..self.end),
                ) {
                    to.get_mut(..unread)
                        .unwrap_or_default()
                        .copy_from_slice(from);
                }
                // Kept for reuse: at most the chunks in flight, the one being hashed and this
                // one exist, as the channel to the digest thread is bounded.
                self.spare.push(std::mem::replace(&mut self.buffer, next));
            }
            self.start = 0;
            self.end = unread;
        }
        let Some(space) = Arc::get_mut(&mut self.buffer).and_then(|b| b.get_mut(self.end..)) else {
            return Err(std::io::Error::other("read buffer still shared"));
        };
        let n = loop {
            match self.file.read(space) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.at_eof = true;
        }
        if let Some(digest) = digest {
            digest.take(&self.buffer, self.end..self.end + n);
        }
        self.end += n;
        Ok(n)
    }

    fn next_record(
        &mut self,
        mut digest: Option<&mut Digest>,
    ) -> Result<Option<Record<'_>>, String> {
        let (head, data_len) = loop {
            let available = self.buffer.get(self.start..self.end).unwrap_or_default();
            let parsed = if self.big_endian {
                pcap_parser::parse_pcap_frame_be(available)
            } else {
                pcap_parser::parse_pcap_frame(available)
            };
            let needed = match parsed {
                Ok((_, block)) => {
                    if block.caplen as usize > MAX_RECORD_DATA {
                        return Err(invalid_length(block.caplen, self.snapshot));
                    }
                    // libpcap keeps both timestamp fields signed 32-bit numbers when the file
                    // is in the host's byte order (0xffffffff is one second before 1970) and
                    // unsigned when it swaps them (its SWAPLONG yields an unsigned value).
                    // Odd, but the two readers must agree (found by fuzz/capture_file).
                    let swapped = self.big_endian != cfg!(target_endian = "big");
                    let field = |v: u32| {
                        if swapped {
                            i64::from(v)
                        } else {
                            i64::from(i32::from_ne_bytes(v.to_ne_bytes()))
                        }
                    };
                    let nanos = if self.nano {
                        field(block.ts_usec)
                    } else {
                        field(block.ts_usec) * 1000
                    };
                    let head = (field(block.ts_sec), nanos, block.origlen);
                    break (head, block.data.len());
                }
                Err(nom::Err::Incomplete(nom::Needed::Size(more))) => available.len() + more.get(),
                Err(nom::Err::Incomplete(nom::Needed::Unknown)) => available.len() + 1,
                Err(_) => return Err("unreadable record".into()),
            };
            let have = available.len();
            if have >= RECORD_HEADER && needed - RECORD_HEADER > MAX_RECORD_DATA {
                return Err(invalid_length(
                    u32::try_from(needed - RECORD_HEADER).unwrap_or(u32::MAX),
                    self.snapshot,
                ));
            }
            if self.at_eof {
                return match have {
                    0 => Ok(None),
                    n if n < RECORD_HEADER => Err(format!(
                        "truncated dump file; tried to read {RECORD_HEADER} header bytes, only got {n}"
                    )),
                    n => Err(format!(
                        "truncated dump file; tried to read {} captured bytes, only got {}",
                        needed - RECORD_HEADER,
                        n - RECORD_HEADER
                    )),
                };
            }
            self.fill(digest.as_deref_mut())
                .map_err(|e| e.to_string())?;
        };
        // Positions, not the parser's borrow, cross the loop: the buffer is refilled inside it.
        let data_start = self.start + RECORD_HEADER;
        self.start = data_start + data_len;
        // libpcap hands out at most the snapshot length of a record and skips the rest.
        let kept = data_len.min(self.snapshot);
        let (secs, nanos, wire_len) = head;
        Ok(Some(Record {
            secs,
            nanos,
            wire_len,
            data: self
                .buffer
                .get(data_start..data_start + kept)
                .unwrap_or_default(),
        }))
    }

    /// Reads (and hashes) the rest of the file after the last record handed out.
    fn hash_rest(&mut self, digest: &mut Digest) -> std::io::Result<()> {
        while !self.at_eof {
            self.start = self.end;
            self.fill(Some(digest))?;
        }
        Ok(())
    }
}

/// libpcap's words for a record longer than any it accepts (the snapshot length is never above
/// the maximum here, so libpcap names the snapshot length).
fn invalid_length(caplen: u32, snapshot: usize) -> String {
    format!("invalid packet capture length {caplen}, bigger than snaplen of {snapshot}")
}

fn pcap_reason(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(msg) => msg.clone(),
        other => other.to_string(),
    }
}

const PCAP_MICRO: u32 = 0xa1b2_c3d4;
const PCAP_NANO: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_BYTE_ORDER: u32 = 0x1a2b_3c4d;
const IF_TSRESOL: u16 = 9;
/// Enough for the section header and the first interface descriptions of any sane file.
const HEAD_BYTES: u64 = 64 * 1024;

/// The timestamp resolution the file records. libpcap scales every timestamp to the precision
/// asked for and does not expose the file's own, so the header is read here (bounded, checked).
fn native_head(path: &Path) -> Result<(Precision, Option<u32>), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    file.take(HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| e.to_string())?;
    Ok((head_precision(&head)?, head_snaplen(&head)))
}

/// The snaplen a capture's header declares: pcap's global header, or pcapng's first Interface
/// Description Block. None when the head is neither or too short.
pub fn head_snaplen(head: &[u8]) -> Option<u32> {
    let word = |at: usize, big: bool| -> Option<u32> {
        let b: [u8; 4] = head.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let magic = word(0, false)?;
    if magic == PCAP_MICRO || magic == PCAP_NANO {
        return word(16, false);
    }
    if magic.swap_bytes() == PCAP_MICRO || magic.swap_bytes() == PCAP_NANO {
        return word(16, true);
    }
    if magic != PCAPNG_SHB {
        return None;
    }
    let big = word(8, false) != Some(PCAPNG_BYTE_ORDER);
    let mut at = 0usize;
    // Blocks are at least 12 bytes long, so the walk ends within the head.
    while let (Some(kind), Some(len)) = (word(at, big), word(at + 4, big)) {
        if len < 12 {
            return None;
        }
        if kind == PCAPNG_IDB {
            // type, length, linktype(2), reserved(2), snaplen(4).
            return word(at + 12, big);
        }
        at = at.checked_add(len as usize)?;
    }
    None
}

/// Size in bytes and SHA-256 (hex) of a file, read in bounded chunks: the report's header
/// identifies each capture by them.
pub fn file_digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut sum = Sha256Sum::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        sum.update(buffer.get(..n).unwrap_or_default());
    }
    Ok(sum.finish())
}

/// The precision a capture's first bytes declare; an error for empty or too-short input.
pub fn head_precision(head: &[u8]) -> Result<Precision, String> {
    if head.is_empty() {
        return Err("empty file".into());
    }
    let Some(magic_bytes) = head.get(..4) else {
        return Err(format!(
            "{} bytes, shorter than any capture header",
            head.len()
        ));
    };
    let magic_le = u32::from_le_bytes(magic_bytes.try_into().map_err(|_| "short header")?);
    let magic_be = magic_le.swap_bytes();
    Ok(match (magic_le, magic_be) {
        (PCAP_NANO, _) | (_, PCAP_NANO) => Precision::Nano,
        (PCAP_MICRO, _) | (_, PCAP_MICRO) => Precision::Micro,
        (PCAPNG_SHB, _) => pcapng_precision(head),
        // Let libpcap name other formats (or refuse them) in its own words.
        _ => Precision::Micro,
    })
}

/// Walks pcapng blocks to the first Interface Description Block and reads `if_tsresol`.
fn pcapng_precision(head: &[u8]) -> Precision {
    let bytes = |at: usize, n: usize| head.get(at..at.checked_add(n)?);
    let read_u32 = |at: usize, big: bool| -> Option<u32> {
        let b: [u8; 4] = bytes(at, 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let read_u16 = |at: usize, big: bool| -> Option<u16> {
        let b: [u8; 2] = bytes(at, 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let big = read_u32(8, false) != Some(PCAPNG_BYTE_ORDER);
    let mut at = 0usize;
    // Each block is at least 12 bytes, so the walk is bounded by the head's length.
    while let (Some(kind), Some(len)) = (read_u32(at, big), read_u32(at + 4, big)) {
        let len = len as usize;
        if len < 12 {
            break;
        }
        if kind == PCAPNG_IDB {
            // type, length, linktype(2), reserved(2), snaplen(4), then options.
            let end = at.saturating_add(len).saturating_sub(4);
            let mut opt = at + 16;
            while opt + 4 <= end {
                let (Some(code), Some(olen)) = (read_u16(opt, big), read_u16(opt + 2, big)) else {
                    break;
                };
                if code == 0 {
                    break;
                }
                if code == IF_TSRESOL {
                    let value = head.get(opt + 4).copied().unwrap_or(6);
                    // High bit set: negative power of two, else negative power of ten.
                    let finer_than_micro = if value & 0x80 != 0 {
                        (value & 0x7f) > 20
                    } else {
                        value > 6
                    };
                    return if finer_than_micro {
                        Precision::Nano
                    } else {
                        Precision::Micro
                    };
                }
                opt += 4 + (olen as usize).div_ceil(4) * 4;
            }
            return Precision::Micro;
        }
        at = match at.checked_add(len) {
            Some(next) => next,
            None => break,
        };
    }
    Precision::Micro
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idb_with_tsresol(value: u8) -> Vec<u8> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&PCAPNG_SHB.to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        shb.extend_from_slice(&PCAPNG_BYTE_ORDER.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        let mut idb = Vec::new();
        idb.extend_from_slice(&PCAPNG_IDB.to_le_bytes());
        idb.extend_from_slice(&32u32.to_le_bytes());
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&IF_TSRESOL.to_le_bytes());
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[value, 0, 0, 0]);
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&32u32.to_le_bytes());
        shb.extend_from_slice(&idb);
        shb
    }

    #[test]
    fn pcapng_tsresol_nano_and_micro() {
        assert_eq!(pcapng_precision(&idb_with_tsresol(9)), Precision::Nano);
        assert_eq!(pcapng_precision(&idb_with_tsresol(6)), Precision::Micro);
    }

    #[test]
    fn pcapng_walk_survives_garbage() {
        let mut bytes = idb_with_tsresol(9);
        bytes.truncate(30);
        assert_eq!(pcapng_precision(&bytes), Precision::Micro);
        assert_eq!(
            pcapng_precision(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]),
            Precision::Micro
        );
    }
}
