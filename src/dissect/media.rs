//! Real-time media on UDP: STUN, TURN, Microsoft's MTURN, RTP, RTCP, DTLS, recognised from
//! either side's datagrams, and which of them a flow carried.

use super::{AppProtocol, DissectShared, FlowDissect, Stage, MAX_MEDIA_DATAGRAMS};
use crate::wire::media::{media_packet, Media, MediaPacket};

/// The media kinds a flow carried, as bits: a flow may show STUN checks, then RTP and RTCP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaSeen(u8);

impl MediaSeen {
    const NAMES: [(u8, &'static str); 7] = [
        (1, "stun"),
        (2, "turn"),
        (4, "mturn"),
        (8, "rtp"),
        (16, "rtcp"),
        (32, "dtls"),
        (64, "ms-attributes"),
    ];

    /// `|`-joined names, e.g. `stun|mturn|rtcp`; empty when nothing was seen.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, name)| *name)
            .collect()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FlowDissect {
    /// A media datagram (or one between recognised ones) is taken here; `false` when the
    /// datagram is for the other dissectors.
    pub(super) fn on_media(
        &mut self,
        payload: &[u8],
        server_port: u16,
        shared: &mut DissectShared,
    ) -> bool {
        // Media (STUN, TURN, MTURN, RTP, RTCP, DTLS) may be seen from either side first; a
        // unidirectional capture may hold the server's half only.
        if matches!(self.stage, Stage::Probing | Stage::Media(_)) {
            // RTP/RTCP headers are weak evidence: on a well-known server port they need a STUN
            // exchange before them (a DNS ID or NTP header can look like RTP).
            let weak = |p: &MediaPacket| matches!(p.kind, Media::Rtp | Media::Rtcp);
            if let Some(packet) = media_packet(payload)
                .filter(|p| !(weak(p) && server_port < 1024 && self.media.is_empty()))
            {
                self.note_media(packet);
                match &mut self.stage {
                    Stage::Media(left) if *left > 1 => *left -= 1,
                    Stage::Media(_) => self.finish(shared),
                    _ => self.stage = Stage::Media(MAX_MEDIA_DATAGRAMS),
                }
                return true;
            }
            if let Stage::Media(left) = &mut self.stage {
                // Encrypted media (SRTP after DTLS, proprietary payloads) between recognised ones.
                if *left > 1 {
                    *left -= 1;
                } else {
                    self.finish(shared);
                }
                return true;
            }
        }
        false
    }
}

impl FlowDissect {
    /// Records a media datagram; the first one recognised names the flow's protocol.
    pub(super) fn note_media(&mut self, packet: MediaPacket) {
        let bit = match packet.kind {
            Media::Stun => 1,
            Media::Turn => 2,
            Media::Rtp => 8,
            Media::Rtcp => 16,
            Media::Dtls => 32,
        };
        self.media.0 |= bit;
        if packet.mturn {
            self.media.0 |= 4;
        }
        if packet.microsoft {
            self.media.0 |= 64;
        }
        if self.app == AppProtocol::Unknown {
            self.app = match (packet.kind, packet.mturn) {
                (Media::Stun | Media::Turn, true) => AppProtocol::Mturn,
                (Media::Stun, false) => AppProtocol::Stun,
                (Media::Turn, false) => AppProtocol::Turn,
                (Media::Rtp, _) => AppProtocol::Rtp,
                (Media::Rtcp, _) => AppProtocol::Rtcp,
                (Media::Dtls, _) => AppProtocol::Dtls,
            };
        }
    }
}
