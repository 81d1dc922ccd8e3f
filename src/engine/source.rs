//! The loop every packet source shares: capture files and live interfaces hand packets to the
//! engine through `PacketSource`, and a `RunObserver` sees the run between packets (progress
//! for files; status, periodic reports and the stop for live capture).

use crate::capture::{CaptureError, FileSource, LinkType, RawPacket};
use crate::report::CaptureSummary;
use crate::time::Timestamp;

use super::packet::{Engine, Malformed};

/// What a packet source has next.
pub enum Next<'p> {
    Packet(RawPacket<'p>),
    /// Nothing arrived for a while (a live interface): the time, to end idle flows.
    Quiet(Timestamp),
    /// No more packets.
    End,
    /// The source cannot go on; what was read before stays.
    Failed(CaptureError),
}

/// A capture file or a live interface, packet by packet.
pub trait PacketSource {
    fn link_type(&self) -> LinkType;
    fn next_packet(&mut self) -> Next<'_>;
}

impl PacketSource for FileSource {
    fn link_type(&self) -> LinkType {
        FileSource::link_type(self)
    }

    #[inline]
    fn next_packet(&mut self) -> Next<'_> {
        match FileSource::next_packet(self) {
            Ok(Some(packet)) => Next::Packet(packet),
            Ok(None) => Next::End,
            Err(e) => Next::Failed(e),
        }
    }
}

/// Sees the run after every packet or quiet period.
pub trait RunObserver {
    /// `kept_bytes`: the captured bytes of the packet just handled (0 after a quiet period).
    /// `false` ends the reading (a live run's stop); files read to the end.
    fn after(&mut self, engine: &Engine<'_>, capture: &CaptureSummary, kept_bytes: usize) -> bool;
}

/// Reads nothing, stops nothing.
pub struct Unobserved;

impl RunObserver for Unobserved {
    fn after(&mut self, _: &Engine<'_>, _: &CaptureSummary, _: usize) -> bool {
        true
    }
}

/// How a reading ended.
#[derive(Debug)]
pub enum ReadEnd {
    /// The source had no more packets.
    Exhausted,
    /// The observer asked to stop.
    Stopped,
    Failed(CaptureError),
}

impl Engine<'_> {
    /// Feeds capture `index` from `source` until it ends, fails or `observer` stops it,
    /// counting each packet into `capture`; `malformed` collects the capture's malformed
    /// packets.
    /// Generic rather than `dyn`: the per-packet calls into the source and the observer are then
    /// direct and inlined (an indirect call each cost about 1% of a one-thread run).
    pub fn read_capture<S: PacketSource + ?Sized, O: RunObserver + ?Sized>(
        &mut self,
        index: u32,
        source: &mut S,
        capture: &mut CaptureSummary,
        malformed: &mut Malformed,
        observer: &mut O,
    ) -> ReadEnd {
        let link = source.link_type();
        let skip = matches!(link, LinkType::Unsupported(_));
        loop {
            let kept_bytes = match source.next_packet() {
                Next::Packet(packet) => {
                    capture.count(&packet);
                    if !skip {
                        self.packet(index, link, &packet, malformed);
                    }
                    packet.data.len()
                }
                Next::Quiet(now) => {
                    self.expire_idle(now);
                    0
                }
                Next::End => return ReadEnd::Exhausted,
                Next::Failed(e) => return ReadEnd::Failed(e),
            };
            if !observer.after(self, capture, kept_bytes) {
                return ReadEnd::Stopped;
            }
        }
    }
}
