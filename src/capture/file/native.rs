//! The pure-Rust reader of classic pcap files: records parsed in place (`pcap-parser`) from a
//! large buffer refilled by big reads, handing the digest the bytes it read. Its packets and
//! errors match libpcap's word for word (`tests/readers.rs`).

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use pcap_parser::nom;

use super::super::link::LinkType;
use super::digest::{Digest, READ_CHUNK};

/// A record before numbering: timestamp parts as the file has them scaled to nanoseconds.
pub(super) struct Record<'a> {
    pub secs: i64,
    pub nanos: i64,
    pub wire_len: u32,
    pub data: &'a [u8],
}

/// libpcap's largest valid record for the link types decoded here (`MAXIMUM_SNAPLEN`); it
/// refuses bigger ones, and so does the native reader.
const MAX_RECORD_DATA: usize = 262_144;
const RECORD_HEADER: usize = 16;

/// Classic pcap records read from a buffer refilled by large reads. Parsing borrows from the
/// buffer; only a record cut by the buffer's end is moved to the front of the next one.
pub(super) struct NativeReader {
    file: File,
    /// Shared with the digest thread (which hashes it while records are parsed from it), so a
    /// refill goes into a buffer nobody else holds.
    pub(super) buffer: Arc<Vec<u8>>,
    /// Earlier buffers, reused once the digest thread has let go of them.
    spare: Vec<Arc<Vec<u8>>>,
    start: usize,
    pub(super) end: usize,
    at_eof: bool,
    big_endian: bool,
    nano: bool,
    /// libpcap hands out at most this many bytes of a record (the header's snaplen, or the
    /// maximum when the header's is 0 or larger).
    snapshot: usize,
}

const BUFFER_SIZE: usize = READ_CHUNK + MAX_RECORD_DATA + RECORD_HEADER;

/// Read buffers kept from one file's reader for the next: each file took fresh ones (0.5 MB
/// each, up to six with the chunks in flight), and touching their new pages made a run over 16
/// files 25,000 page faults dearer than one over a file of the same packets. At most
/// `POOLED` are kept (about 3 MB).
static POOL: Mutex<Vec<Arc<Vec<u8>>>> = Mutex::new(Vec::new());
const POOLED: usize = 6;

/// A read buffer from the pool, or a new one.
fn read_buffer() -> Arc<Vec<u8>> {
    POOL.lock()
        .ok()
        .and_then(|mut pool| pool.pop())
        .unwrap_or_else(|| Arc::new(vec![0; BUFFER_SIZE]))
}

impl Drop for NativeReader {
    /// The reader's buffers go back to the pool (those the digest thread no longer holds).
    fn drop(&mut self) {
        let Ok(mut pool) = POOL.lock() else { return };
        let current = std::mem::take(&mut self.buffer);
        for buffer in self.spare.drain(..).chain(std::iter::once(current)) {
            if pool.len() < POOLED && buffer.len() == BUFFER_SIZE && Arc::strong_count(&buffer) == 1
            {
                pool.push(buffer);
            }
        }
    }
}

impl NativeReader {
    /// The reader for `path` when it is a classic pcap (version 2.4, either byte order,
    /// microseconds or nanoseconds) of a link type this crate decodes; `Ok(None)` otherwise.
    pub(super) fn open(path: &Path, link: LinkType) -> std::io::Result<Option<NativeReader>> {
        if let LinkType::Unsupported(_) = link {
            return Ok(None);
        }
        let file = File::open(path)?;
        let mut reader = NativeReader {
            file,
            buffer: read_buffer(),
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
                None if held => read_buffer(),
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

    pub(super) fn next_record(
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
    pub(super) fn hash_rest(&mut self, digest: &mut Digest) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    /// `tests/readers.rs` puts records across the first read's end at this offset; a changed
    /// read size must move them too.
    #[test]
    fn the_first_read_ends_where_the_reader_tests_expect() {
        assert_eq!(super::BUFFER_SIZE, (1 << 18) + 262_144 + 16);
    }
}
