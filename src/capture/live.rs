//! Live capture from an interface (a SPAN/mirror port) with libpcap. The capture runs on its own
//! thread and hands packets to analysis through a bounded queue: when analysis falls behind,
//! packets are dropped and counted (never hidden), so memory stays bounded. Optionally every
//! packet is also written to rotating pcap files for a later `analyze`.

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

/// A packet copied off the capture ring for the analysis thread.
pub struct LivePacket {
    pub ts: Timestamp,
    pub wire_len: u32,
    pub data: Vec<u8>,
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
    pub packets: Receiver<LivePacket>,
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
    let (sender, packets) = sync_channel(options.queue_packets.max(1));
    let counters = Arc::new(LiveCounters::default());
    let thread_counters = Arc::clone(&counters);
    let options = options.clone();
    let thread = std::thread::Builder::new()
        .name("o365flow-capture".into())
        .spawn(move || capture_loop(capture, &options, &sender, &thread_counters, &stop))
        .map_err(|e| error(name, e))?;
    Ok(LiveCapture {
        packets,
        counters,
        link,
        thread: Some(thread),
    })
}

impl LiveCapture {
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

fn capture_loop(
    mut capture: pcap::Capture<pcap::Active>,
    options: &LiveOptions,
    sender: &SyncSender<LivePacket>,
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
        let live = LivePacket {
            ts,
            wire_len: header.len,
            data: packet.data.to_vec(),
        };
        if let Some(rotation) = rotation.as_mut() {
            match rotation.write(&packet) {
                Ok(()) => {}
                Err(reason) => break Err(error(name, format!("--write-pcap: {reason}"))),
            }
        }
        match sender.try_send(live) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                counters.queue_dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The analysis side is gone: nothing left to do.
            Err(TrySendError::Disconnected(_)) => break Ok(()),
        }
    };
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
