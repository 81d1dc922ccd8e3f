//! TLS over TCP: the client's stream buffered until its ClientHello is whole (SYN seen or
//! not, TCP Fast Open, out of order, retransmitted), then the server's first flight.

use super::AppProtocol;
use super::{Buffered, DissectShared, FlowDissect, Stage, MAX_SERVER_SEGMENTS};
use crate::flow::{Push, Side, StreamBuffer};
use crate::wire::plaintext::server_banner;
use crate::wire::tls::{probe_client_hello, probe_client_hello_resuming, Probe};
use crate::wire::tls_server::{probe_server_flight, ServerProbe};
use crate::wire::TcpHeader;

impl FlowDissect {
    pub(super) fn on_tcp(
        &mut self,
        side: Side,
        tcp: TcpHeader,
        payload: &[u8],
        server_port: u16,
        shared: &mut DissectShared,
    ) {
        let syn = tcp.flags.has(crate::wire::TcpFlags::SYN);
        if side == Side::Server {
            if payload.is_empty() || syn {
                return;
            }
            if let Stage::ServerFlight(..) = self.stage {
                self.server_flight(tcp.seq, payload, shared);
                return;
            }
            match &self.stage {
                // The server spoke before any client byte: a banner (IMAP, POP3, SMTP, ...).
                Stage::Probing => self.plaintext_start(Side::Server, payload, server_port, shared),
                Stage::Buffering(buf, _) if buf.contiguous().is_empty() => {
                    self.plaintext_start(Side::Server, payload, server_port, shared)
                }
                Stage::AwaitTls(_) if self.app == AppProtocol::Unknown => {
                    if let Some(banner) = server_banner(payload, server_port) {
                        self.app = banner.into();
                    }
                }
                _ => {}
            }
            return;
        }
        if syn {
            if let Stage::Probing = self.stage {
                let Some(reserved) = self.reserve(shared) else {
                    return;
                };
                let mut buf = StreamBuffer::new(shared.budget.max_handshake);
                buf.start_after_syn(tcp.seq);
                self.stage = Stage::Buffering(Box::new(buf.into()), reserved);
            }
            if payload.is_empty() {
                return;
            }
            // TCP Fast Open: the SYN carries the first bytes, right after its sequence number.
            self.push_and_probe(tcp.seq.wrapping_add(1), payload, server_port, shared);
            return;
        }
        if payload.is_empty() {
            return;
        }
        match self.stage {
            Stage::Probing => {
                // First payload, no SYN seen: decide from this segment alone when it suffices.
                match probe_client_hello(
                    payload,
                    &mut shared.scratch,
                    shared.budget.max_handshake,
                    &mut shared.ja4,
                ) {
                    Probe::NeedMore => {}
                    Probe::NotTls => {
                        self.plaintext_start(Side::Client, payload, server_port, shared);
                        return;
                    }
                    answer => {
                        self.conclude(answer, shared);
                        return;
                    }
                }
                let Some(reserved) = self.reserve(shared) else {
                    return;
                };
                let buf = StreamBuffer::new(shared.budget.max_handshake);
                self.stage = Stage::Buffering(Box::new(buf.into()), reserved);
            }
            Stage::AwaitTls(_) => {
                self.await_tls(tcp.seq, payload, server_port, shared);
                return;
            }
            _ => {}
        }
        self.push_and_probe(tcp.seq, payload, server_port, shared);
    }

    pub(super) fn push_and_probe(
        &mut self,
        seq: u32,
        payload: &[u8],
        server_port: u16,
        shared: &mut DissectShared,
    ) {
        let Stage::Buffering(buf, _) = &mut self.stage else {
            return;
        };
        let pushed = buf.push(seq, payload);
        let answer = if pushed == Push::Unchanged {
            return;
        } else {
            let Buffered { stream, progress } = &mut **buf;
            probe_client_hello_resuming(
                stream.contiguous(),
                &mut shared.scratch,
                shared.budget.max_handshake,
                &mut shared.ja4,
                progress,
            )
        };
        match answer {
            Probe::NeedMore if pushed == Push::Overflow => {
                shared.budget.overflowed += 1;
                self.incomplete_handshake = true;
                self.app = AppProtocol::Tls;
                self.finish(shared);
            }
            Probe::NeedMore => {}
            // The stream starts with something else: read it as a plaintext start.
            Probe::NotTls if self.client_hello.is_none() && !self.after_plaintext() => {
                let stage = std::mem::replace(&mut self.stage, Stage::Done);
                if let Stage::Buffering(buf, reserved) = stage {
                    shared.budget.in_use = shared.budget.in_use.saturating_sub(reserved);
                    self.plaintext_start(Side::Client, buf.contiguous(), server_port, shared);
                }
            }
            answer => self.conclude(answer, shared),
        }
    }

    pub(super) fn conclude(&mut self, answer: Probe, shared: &mut DissectShared) {
        match answer {
            Probe::ClientHello(hello) => {
                self.upgrade_to_tls();
                self.client_hello = Some(Box::new(hello));
                self.await_server_flight(shared);
                return;
            }
            Probe::NotClientHello => self.upgrade_to_tls(),
            Probe::TooLarge => {
                self.upgrade_to_tls();
                self.incomplete_handshake = true;
                shared.budget.overflowed += 1;
            }
            Probe::NotTls | Probe::NeedMore => {}
        }
        self.finish(shared);
    }

    /// After the ClientHello, read the server's answer (bounded like the client's).
    pub(super) fn await_server_flight(&mut self, shared: &mut DissectShared) {
        self.release(shared);
        // A refused server flight leaves the client's handshake complete: no mark.
        let Some(reserved) = shared.budget.reserve() else {
            self.stage = Stage::Done;
            return;
        };
        self.stage = Stage::ServerFlight(
            Box::new(StreamBuffer::new(shared.budget.max_handshake)),
            reserved,
            MAX_SERVER_SEGMENTS,
        );
    }

    pub(super) fn server_flight(&mut self, seq: u32, payload: &[u8], shared: &mut DissectShared) {
        let Stage::ServerFlight(buf, _, left) = &mut self.stage else {
            return;
        };
        let pushed = buf.push(seq, payload);
        *left = left.saturating_sub(1);
        let answer = match pushed {
            Push::Unchanged if *left > 0 => return,
            _ => probe_server_flight(
                buf.contiguous(),
                &mut shared.scratch,
                &mut shared.certificates,
            ),
        };
        match answer {
            ServerProbe::Done(hello) => {
                self.server_hello = Some(Box::new(hello));
                self.finish(shared);
            }
            ServerProbe::Alert(description) => {
                self.tls_alert = Some(description);
                self.finish(shared);
            }
            ServerProbe::NeedMore if *left > 0 && pushed != Push::Overflow => {}
            _ => self.finish(shared),
        }
    }

    /// TLS follows: a flow keeps its first protocol (STARTTLS, CONNECT), else it is TLS.
    pub(super) fn upgrade_to_tls(&mut self) {
        if self.app == AppProtocol::Unknown {
            self.app = AppProtocol::Tls;
        }
    }
}
