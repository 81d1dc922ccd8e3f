//! QUIC: client Initials decrypted (every known version, and unknown ones with the known
//! versions' keys), their CRYPTO frames reassembled into the ClientHello; gQUIC CHLOs in clear.

use super::AppProtocol;
use super::{DissectShared, FlowDissect, QuicHandshake, Stage, MAX_QUIC_DATAGRAMS};
use crate::flow::{Push, Side, StreamBuffer};
use crate::wire::quic::{
    chlo_server_name, crypto_frames, decrypt_initial, gquic_version, initial_headers,
    parse_long_header, Handshake, InitialKeys, QuicVersion, MAX_CID_LEN,
};
use crate::wire::tls::{probe_handshake, ClientHello, Probe};

impl FlowDissect {
    /// A datagram once media, SIP and VPNs are ruled out: the client's Initials.
    pub(super) fn on_quic(&mut self, side: Side, payload: &[u8], shared: &mut DissectShared) {
        // Only the client's Initials carry the ClientHello; server datagrams decide nothing more.
        if side == Side::Server {
            if let Stage::Probing = self.stage {
                self.probe_datagrams = self.probe_datagrams.saturating_add(1);
                if self.probe_datagrams > MAX_QUIC_DATAGRAMS {
                    self.finish(shared);
                }
            }
            return;
        }
        if let Stage::Probing = self.stage {
            if let Some(header) = initial_headers(payload).next() {
                let Some(reserved) = self.reserve(shared) else {
                    return;
                };
                let mut crypto = StreamBuffer::new(shared.budget.max_handshake);
                // CRYPTO offsets count from zero: "after a SYN at u32::MAX".
                crypto.start_after_syn(u32::MAX);
                let mut original_dcid = [0u8; MAX_CID_LEN];
                let len = header.dcid.len().min(MAX_CID_LEN);
                if let (Some(dst), Some(src)) =
                    (original_dcid.get_mut(..len), header.dcid.get(..len))
                {
                    dst.copy_from_slice(src);
                }
                self.stage = Stage::Quic(
                    Box::new(QuicHandshake {
                        crypto,
                        version: header.version,
                        original_dcid,
                        original_dcid_len: len,
                        client_datagrams: 0,
                    }),
                    reserved,
                );
            } else if let Some(version) = gquic_version(payload) {
                // gQUIC up to Q046 sends its CHLO tag table in clear.
                self.app = AppProtocol::Quic;
                self.quic_version = Some(version);
                if let Some(name) = chlo_server_name(payload) {
                    self.client_hello = Some(Box::new(gquic_hello(name)));
                    self.finish(shared);
                }
                return;
            } else if parse_long_header(payload).is_some()
                && self.probe_datagrams < MAX_QUIC_DATAGRAMS
            {
                // 0-RTT or Handshake of a known version before the Initial (reordering): wait.
                self.probe_datagrams += 1;
                return;
            } else {
                self.finish(shared);
                return;
            }
        }
        match &mut self.stage {
            Stage::Quic(quic, _) => {
                quic.client_datagrams = quic.client_datagrams.saturating_add(1);
                let outcome = feed_quic_datagram(quic, payload, shared);
                if let Some(version) = outcome.decrypted {
                    self.app = AppProtocol::Quic;
                    self.quic_version = Some(version);
                }
                match outcome.answer {
                    Some(Probe::ClientHello(mut hello)) => {
                        hello.set_ja4_transport('q');
                        self.client_hello = Some(Box::new(hello));
                        self.finish(shared);
                    }
                    Some(Probe::NeedMore) | None
                        if quic.client_datagrams < MAX_QUIC_DATAGRAMS && !outcome.overflow => {}
                    Some(_) | None => {
                        if self.app == AppProtocol::Quic {
                            self.incomplete_handshake = true;
                        }
                        if outcome.overflow {
                            shared.budget.overflowed += 1;
                        }
                        self.finish(shared);
                    }
                }
            }
            Stage::Probing => {
                // gQUIC whose CHLO was not in the first datagram.
                if let Some(name) = chlo_server_name(payload) {
                    self.client_hello = Some(Box::new(gquic_hello(name)));
                    self.finish(shared);
                }
            }
            _ => {}
        }
    }
}

/// What one client datagram did to a QUIC handshake under reassembly.
struct QuicOutcome {
    /// The version of a packet that authenticated (proof the flow is QUIC).
    decrypted: Option<QuicVersion>,
    answer: Option<Probe>,
    overflow: bool,
}

/// Decrypts every Initial coalesced in the datagram and collects its CRYPTO frames.
fn feed_quic_datagram(
    quic: &mut QuicHandshake,
    datagram: &[u8],
    shared: &mut DissectShared,
) -> QuicOutcome {
    let mut outcome = QuicOutcome {
        decrypted: None,
        answer: None,
        overflow: false,
    };
    let mut rest = datagram;
    let mut grew = false;
    // A datagram holds a handful of coalesced packets at most; the bound keeps hostile input cheap.
    for _ in 0..4 {
        let original = quic
            .original_dcid
            .get(..quic.original_dcid_len)
            .unwrap_or_default();
        // Keys come from the packet's own DCID (first flight, or after a Retry), else from the
        // first Initial's DCID (later Initials to the server's chosen ID); an unknown version's
        // Initial is tried with each known version's keys.
        let opened = initial_headers(rest).find_map(|header| {
            [header.dcid, original]
                .into_iter()
                .filter_map(|dcid| InitialKeys::client(header.keyed_as, dcid))
                .find_map(|keys| decrypt_initial(rest, &header, &keys, &mut shared.decrypted))
                .map(|range| (header, range))
        });
        let end = match opened {
            Some((header, range)) => {
                outcome.decrypted = Some(header.version);
                quic.version = header.version;
                let plain = shared.decrypted.get(range).unwrap_or_default();
                for (offset, data) in crypto_frames(plain, header.keyed_as) {
                    let Ok(offset) = u32::try_from(offset) else {
                        outcome.overflow = true;
                        continue;
                    };
                    match quic.crypto.push(offset, data) {
                        Push::Grew => grew = true,
                        Push::Overflow => outcome.overflow = true,
                        Push::Unchanged => {}
                    }
                }
                header.end
            }
            // Another packet of a known version (Handshake, 0-RTT, an Initial of other keys).
            None => match parse_long_header(rest) {
                Some(header) => header.end,
                None => break,
            },
        };
        rest = rest.get(end..).unwrap_or_default();
    }
    if grew {
        let stream = quic.crypto.contiguous();
        outcome.answer = Some(match quic.version.handshake() {
            Some(Handshake::GoogleChlo) => match chlo_server_name(stream) {
                Some(name) => Probe::ClientHello(gquic_hello(name)),
                None => Probe::NeedMore,
            },
            _ => probe_handshake(stream, shared.budget.max_handshake, &mut shared.ja4),
        });
    }
    outcome
}

/// A gQUIC CHLO tells only the server name (no TLS lists, so no JA4).
fn gquic_hello(server_name: &[u8]) -> ClientHello {
    ClientHello {
        sni: Some(String::from_utf8_lossy(server_name).into_owned()),
        ..ClientHello::default()
    }
}
