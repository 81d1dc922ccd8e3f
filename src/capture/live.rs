//! Live capture from an interface (a SPAN/mirror port) with libpcap. The capture runs on its own
//! thread and hands packets to analysis in batches through a bounded queue: a batch holds up to
//! 64 packets back to back in one buffer, and analysis hands emptied batches back, so no packet
//! costs an allocation. When analysis falls behind and no batch is free, packets are dropped
//! and counted (never hidden), so memory stays bounded. Optionally every packet is also written
//! to rotating pcap files for a later `analyze`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::error::CaptureError;
use super::link::LinkType;
use crate::time::Timestamp;

#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    /// BPF filter, checked when the capture opens.
    pub filter: Option<String>,
    pub snaplen: i32,
    /// Kernel buffer size in bytes.
    pub buffer_bytes: i32,
    pub promiscuous: bool,
    /// Packets the queue between capture and analysis holds.
    pub queue_packets: usize,
    /// Directory for rotating pcap files of the raw packets.
    pub write_pcap: Option<PathBuf>,
    /// Start a new pcap file after this many bytes.
    pub rotate_bytes: u64,
    /// pcap files kept (oldest deleted first).
    pub keep_files: usize,
}

/// Packets copied off the capture ring for the analysis thread, their bytes back to back in
/// one buffer that is reused batch after batch.
#[derive(Debug, Default)]
pub struct PacketBatch {
    bytes: Vec<u8>,
    packets: Vec<BatchEntry>,
}

#[derive(Debug, Clone, Copy)]
struct BatchEntry {
    ts: Timestamp,
    wire_len: u32,
    start: usize,
    end: usize,
}

/// Packets a batch holds at most.
pub const BATCH_PACKETS: usize = 64;

/// A recycled batch keeps at most this much buffer (a burst of large packets is not kept): 64
/// full-size Ethernet frames fit, and the pool (`--queue` / 64 batches) retains at most this
/// much per batch between bursts.
const KEEP_BATCH_BYTES: usize = 128 << 10;

impl PacketBatch {
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Packet `i`: capture time, length on the wire, captured bytes.
    pub fn get(&self, i: usize) -> Option<(Timestamp, u32, &[u8])> {
        let e = self.packets.get(i)?;
        Some((e.ts, e.wire_len, self.bytes.get(e.start..e.end)?))
    }

    fn push(&mut self, ts: Timestamp, wire_len: u32, data: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.packets.push(BatchEntry {
            ts,
            wire_len,
            start,
            end: self.bytes.len(),
        });
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.packets.clear();
        if self.bytes.capacity() > KEEP_BATCH_BYTES {
            self.bytes.shrink_to(KEEP_BATCH_BYTES);
        }
    }
}

/// Counters shared by the capture thread and the analysis side.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Packets the kernel dropped (libpcap statistics: buffer full, interface drops).
    pub kernel_dropped: AtomicU64,
    /// Packets dropped because the analysis queue was full.
    pub queue_dropped: AtomicU64,
}

pub struct LiveCapture {
    pub batches: Receiver<PacketBatch>,
    /// Emptied batches back to the capture thread.
    recycle: SyncSender<PacketBatch>,
    pub counters: Arc<LiveCounters>,
    pub link: LinkType,
    thread: Option<JoinHandle<Result<(), CaptureError>>>,
}

fn error(interface: &str, reason: impl std::fmt::Display) -> CaptureError {
    CaptureError::Device {
        interface: interface.to_owned(),
        reason: reason.to_string(),
    }
}

/// Opens the interface (this is the step that needs privileges) and starts the capture thread.
/// `stop` ends it; the queue then closes.
pub fn start(options: &LiveOptions, stop: Arc<AtomicBool>) -> Result<LiveCapture, CaptureError> {
    let name = options.interface.as_str();
    let mut capture = pcap::Capture::from_device(name)
        .map_err(|e| error(name, e))?
        .promisc(options.promiscuous)
        .snaplen(options.snaplen)
        .buffer_size(options.buffer_bytes)
        // Not immediate mode: in immediate mode libpcap on Linux uses a TPACKET_V2 ring of
        // fixed frames of snaplen bytes each (about 500 packets in 32 MiB at the default
        // snaplen), where TPACKET_V3 packs packets into blocks handed over when full or after
        // this timeout: the same buffer holds about a hundred times more small packets.
        .timeout(BLOCK_MILLIS)
        .open()
        .map_err(|e| error(name, e))?
        // A blocking read waits for a packet however long it takes (in immediate mode the read
        // timeout never fires), so a quiet interface could never see `stop`: read without
        // blocking and wait on the descriptor with a timeout of our own (`wait_readable`).
        .setnonblock()
        .map_err(|e| error(name, e))?;
    if let Some(filter) = &options.filter {
        capture
            .filter(filter, true)
            .map_err(|e| error(name, format!("invalid capture filter {filter:?}: {e}")))?;
    }
    let link = LinkType::from_dlt(capture.get_datalink().0);
    // `--queue` packets in batches: two at least, one filling while one is analysed.
    let batch_packets = options.queue_packets.clamp(1, BATCH_PACKETS);
    let pool = (options.queue_packets / batch_packets).max(2);
    let (sender, batches) = sync_channel(pool);
    let (recycle, free) = sync_channel(pool);
    let counters = Arc::new(LiveCounters::default());
    let thread_counters = Arc::clone(&counters);
    let options = options.clone();
    let thread = std::thread::Builder::new()
        .name("o365flow-capture".into())
        .spawn(move || {
            let mut queue = Queue {
                sender,
                free,
                allocated: 0,
                pool,
                batch_packets,
                filling: None,
                counters: Arc::clone(&thread_counters),
            };
            capture_loop(capture, &options, &mut queue, &thread_counters, &stop)
        })
        .map_err(|e| error(name, e))?;
    Ok(LiveCapture {
        batches,
        recycle,
        counters,
        link,
        thread: Some(thread),
    })
}

impl LiveCapture {
    /// Hands an analysed batch back for reuse.
    pub fn recycle(&self, mut batch: PacketBatch) {
        batch.clear();
        // The capture thread has ended, or holds enough: the batch is freed.
        let _ = self.recycle.try_send(batch);
    }

    /// Waits for the capture thread once `stop` is set; packets it queued stay readable.
    pub fn join(&mut self) -> Result<(), CaptureError> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(error("capture thread", "panicked"))),
            None => Ok(()),
        }
    }
}

/// Rotating pcap files: `o365flow-<unix seconds>-<n>.pcap`, the newest `keep` kept.
struct Rotation {
    /// A dead handle of the live link type: it opens the files while the live handle is busy.
    template: pcap::Capture<pcap::Dead>,
    dir: PathBuf,
    rotate_bytes: u64,
    keep: usize,
    current: Option<pcap::Savefile>,
    current_bytes: u64,
    written: Vec<PathBuf>,
    sequence: u64,
}

impl Rotation {
    fn write(&mut self, packet: &pcap::Packet<'_>) -> Result<(), String> {
        if self.current.is_none() || self.current_bytes >= self.rotate_bytes {
            if let Some(mut old) = self.current.take() {
                old.flush().map_err(|e| e.to_string())?;
            }
            std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            self.sequence += 1;
            let path = self
                .dir
                .join(format!("o365flow-{seconds}-{:04}.pcap", self.sequence));
            self.current = Some(self.template.savefile(&path).map_err(|e| e.to_string())?);
            self.current_bytes = 24;
            self.written.push(path);
            while self.written.len() > self.keep.max(1) {
                let oldest = self.written.remove(0);
                let _ = std::fs::remove_file(oldest);
            }
        }
        if let Some(file) = self.current.as_mut() {
            file.write(packet);
        }
        self.current_bytes += 16 + packet.data.len() as u64;
        Ok(())
    }

    fn finish(&mut self) {
        if let Some(mut file) = self.current.take() {
            let _ = file.flush();
        }
    }
}

/// The capture thread's side of the queue: the batch being filled, emptied batches coming back,
/// at most `pool` batches in all.
struct Queue {
    sender: SyncSender<PacketBatch>,
    free: Receiver<PacketBatch>,
    allocated: usize,
    pool: usize,
    batch_packets: usize,
    filling: Option<PacketBatch>,
    /// Where packets of a batch that could not be queued are counted (as queue drops).
    counters: Arc<LiveCounters>,
}

impl Queue {
    /// Adds a packet; false when no batch is free (analysis is behind: the packet is dropped).
    fn push(&mut self, ts: Timestamp, wire_len: u32, data: &[u8]) -> Result<bool, Gone> {
        if self.filling.is_none() {
            self.filling = match self.free.try_recv() {
                Ok(batch) => Some(batch),
                Err(_) if self.allocated < self.pool => {
                    self.allocated += 1;
                    Some(PacketBatch::default())
                }
                Err(_) => return Ok(false),
            };
        }
        let Some(batch) = self.filling.as_mut() else {
            return Ok(false);
        };
        batch.push(ts, wire_len, data);
        if batch.len() >= self.batch_packets {
            self.send()?;
        }
        Ok(true)
    }

    /// Sends the batch being filled, if it holds anything.
    fn send(&mut self) -> Result<(), Gone> {
        match self.filling.take() {
            Some(batch) if !batch.is_empty() => match self.sender.try_send(batch) {
                Ok(()) => Ok(()),
                // The channel holds every batch there is, so this should not happen; if it
                // does, the batch's packets are lost to the queue and counted as such, and the
                // batch is reused.
                Err(TrySendError::Full(mut batch)) => {
                    let lost = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                    self.counters
                        .queue_dropped
                        .fetch_add(lost, Ordering::Relaxed);
                    batch.clear();
                    self.filling = Some(batch);
                    Ok(())
                }
                Err(TrySendError::Disconnected(_)) => Err(Gone),
            },
            other => {
                self.filling = other;
                Ok(())
            }
        }
    }
}

/// The analysis side is gone: nothing left to capture for.
struct Gone;

fn capture_loop(
    mut capture: pcap::Capture<pcap::Active>,
    options: &LiveOptions,
    queue: &mut Queue,
    counters: &LiveCounters,
    stop: &AtomicBool,
) -> Result<(), CaptureError> {
    let name = options.interface.as_str();
    let linktype = capture.get_datalink();
    let template = match options.write_pcap {
        Some(_) => Some(pcap::Capture::dead(linktype).map_err(|e| error(name, e))?),
        None => None,
    };
    let mut rotation = options
        .write_pcap
        .as_ref()
        .zip(template)
        .map(|(dir, template)| Rotation {
            template,
            dir: dir.clone(),
            rotate_bytes: options.rotate_bytes.max(1024),
            keep: options.keep_files,
            current: None,
            current_bytes: 0,
            written: Vec::new(),
            sequence: 0,
        });
    let mut last_stats = std::time::Instant::now();
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        if last_stats.elapsed() >= std::time::Duration::from_millis(500) {
            update_stats(&mut capture, counters);
            last_stats = std::time::Instant::now();
        }
        let packet = match capture.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing more for now: what was read goes to analysis before waiting.
                if queue.send().is_err() {
                    break Ok(());
                }
                wait_readable(&capture);
                continue;
            }
            Err(pcap::Error::NoMorePackets) => break Ok(()),
            Err(e) => break Err(error(name, e)),
        };
        let header = *packet.header;
        // time_t and suseconds_t are i64 here but narrower on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        let ts = Timestamp(
            i64::from(header.ts.tv_sec) * 1_000_000_000 + i64::from(header.ts.tv_usec) * 1_000,
        );
        if let Some(rotation) = rotation.as_mut() {
            match rotation.write(&packet) {
                Ok(()) => {}
                Err(reason) => break Err(error(name, format!("--write-pcap: {reason}"))),
            }
        }
        match queue.push(ts, header.len, packet.data) {
            Ok(true) => {}
            Ok(false) => {
                counters.queue_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(Gone) => break Ok(()),
        }
    };
    // What was read before the stop is still analysed.
    let _ = queue.send();
    update_stats(&mut capture, counters);
    if let Some(rotation) = rotation.as_mut() {
        rotation.finish();
    }
    result
}

/// The longest a packet waits in a part-filled kernel block before analysis sees it.
const BLOCK_MILLIS: i32 = 50;

/// How long the capture thread waits for a packet before it looks at `stop` again.
const POLL_MILLIS: u16 = 100;

/// Waits until the capture has packets or `POLL_MILLIS` pass (a signal may end it sooner).
fn wait_readable(capture: &pcap::Capture<pcap::Active>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(capture.as_fd(), PollFlags::POLLIN)];
    // An error (EINTR from a signal) is one more turn of the loop, which checks `stop`.
    let _ = poll(&mut fds, PollTimeout::from(POLL_MILLIS));
}

fn update_stats(capture: &mut pcap::Capture<pcap::Active>, counters: &LiveCounters) {
    if let Ok(stat) = capture.stats() {
        counters.kernel_dropped.store(
            u64::from(stat.dropped) + u64::from(stat.if_dropped),
            Ordering::Relaxed,
        );
    }
}

/// Interfaces libpcap can capture on: name, description, addresses.
pub fn interfaces() -> Result<Vec<(String, String, Vec<String>)>, CaptureError> {
    let devices = pcap::Device::list().map_err(|e| error("interfaces", e))?;
    Ok(devices
        .into_iter()
        .map(|d| {
            (
                d.name,
                d.desc.unwrap_or_default(),
                d.addresses.iter().map(|a| a.addr.to_string()).collect(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fill_send_drop_when_none_is_free_and_come_back() {
        let (sender, batches) = sync_channel(2);
        let (recycle, free) = sync_channel(2);
        let mut queue = Queue {
            sender,
            free,
            allocated: 0,
            pool: 2,
            batch_packets: 3,
            filling: None,
            counters: Arc::new(LiveCounters::default()),
        };
        let mut kept = Vec::new();
        for i in 0..8u8 {
            kept.push(
                queue
                    .push(Timestamp(i64::from(i)), 100 + u32::from(i), &[i; 5])
                    .is_ok_and(|k| k),
            );
        }
        // Two batches of three sent, then none free: the last two packets dropped.
        assert_eq!(kept, [true, true, true, true, true, true, false, false]);
        let first = batches.try_recv().expect("a batch");
        assert_eq!(first.len(), 3);
        assert_eq!(first.get(1), Some((Timestamp(1), 101, &[1u8; 5][..])));
        assert_eq!(first.get(3), None);
        // Analysis hands the batch back: it is reused, empty.
        let mut done = first;
        done.clear();
        recycle.try_send(done).expect("recycle");
        assert!(queue.push(Timestamp(9), 60, &[9; 2]).is_ok_and(|k| k));
        assert!(queue.send().is_ok());
        let second = batches.try_recv().expect("second");
        assert_eq!(second.get(2), Some((Timestamp(5), 105, &[5u8; 5][..])));
        let third = batches.try_recv().expect("the partial batch");
        assert_eq!(third.len(), 1);
        assert_eq!(third.get(0), Some((Timestamp(9), 60, &[9u8; 2][..])));
        assert_eq!(queue.allocated, 2);
        drop(batches);
        assert!(queue.push(Timestamp(10), 1, &[1]).is_ok_and(|k| !k));
    }

    #[test]
    fn a_batch_the_channel_cannot_take_is_counted_as_queue_drops() {
        let (sender, batches) = sync_channel(1);
        let (_recycle, free) = sync_channel(1);
        let mut queue = Queue {
            sender,
            free,
            allocated: 0,
            // More batches than the channel holds (cannot happen in `start`).
            pool: 3,
            batch_packets: 2,
            filling: None,
            counters: Arc::new(LiveCounters::default()),
        };
        for i in 0..5u8 {
            assert!(queue
                .push(Timestamp(i64::from(i)), 10, &[i])
                .is_ok_and(|k| k));
        }
        // The first batch went, the second found the channel full: two packets lost.
        assert_eq!(queue.counters.queue_dropped.load(Ordering::Relaxed), 2);
        assert_eq!(batches.try_recv().map(|b| b.len()).ok(), Some(2));
        assert!(queue.send().is_ok());
        assert_eq!(batches.try_recv().map(|b| b.len()).ok(), Some(1));
    }

    #[test]
    fn a_recycled_batch_keeps_a_bounded_buffer() {
        let mut batch = PacketBatch::default();
        let jumbo = vec![0u8; 65_535];
        for i in 0..BATCH_PACKETS {
            batch.push(Timestamp(i64::try_from(i).unwrap_or(0)), 65_535, &jumbo);
        }
        assert!(batch.bytes.capacity() > KEEP_BATCH_BYTES);
        batch.clear();
        assert!(batch.bytes.capacity() <= KEEP_BATCH_BYTES);
        assert!(batch.is_empty());
    }
}
