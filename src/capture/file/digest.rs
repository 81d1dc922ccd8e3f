//! The capture's size and SHA-256 (the report identifies each capture by them), computed from
//! the bytes the native reader already read (inline or on a thread beside it), or by reading
//! the file on its own when libpcap reads the packets.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Read size: 4,096 reads a GiB keep system calls rare, and a read buffer of this plus the
/// largest record (about 512 KB) fits a core's 1 MiB L2 cache, where 1 MiB reads made a 1.3 MB
/// buffer. Measured, not derived: about 5% off a default run on the bench capture and 0-4% off
/// one thread (BENCHMARKS.md); 128 KiB was no better.
pub(super) const READ_CHUNK: usize = 1 << 18;

/// SHA-256 and size of the bytes seen so far.
pub(super) struct Sha256Sum {
    context: ring::digest::Context,
    size: u64,
}

impl Sha256Sum {
    pub(super) fn new() -> Self {
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

pub(super) enum Digest {
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
    pub(super) fn chunks() -> Digest {
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
    pub(super) fn take(&mut self, buffer: &Arc<Vec<u8>>, range: std::ops::Range<usize>) {
        match self {
            Digest::Inline(sum) => sum.update(buffer.get(range).unwrap_or_default()),
            // A closed channel means the digest thread died; finish reports it.
            Digest::Chunks { sender, .. } => {
                let _ = sender.send((Arc::clone(buffer), range));
            }
            Digest::OwnRead(_) | Digest::AfterRead(_) => {}
        }
    }

    pub(super) fn finish(self) -> std::io::Result<(u64, String)> {
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
