//! Per-flow protocol state: decides what a flow carries from its payload and keeps what the
//! handshake revealed. Stateless byte parsing lives in `wire`; buffering lives in `flow`.

use std::fmt;

use crate::flow::{Push, Side, StreamBuffer};
use crate::wire::tls::{probe_client_hello, ClientHello, Probe};
use crate::wire::{TcpHeader, Transport};

/// Application protocol of a flow, as the output names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AppProtocol {
    Tls,
    Quic,
    Http,
    Dns,
    Stun,
    Turn,
    Mturn,
    Rtp,
    Rtcp,
    Dtls,
    Sip,
    Imap,
    Pop3,
    Smtp,
    Ike,
    Esp,
    OpenVpn,
    WireGuard,
    Kerberos,
    Ldap,
    Smb,
    Ntp,
    #[default]
    Unknown,
}

impl AppProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            AppProtocol::Tls => "tls",
            AppProtocol::Quic => "quic",
            AppProtocol::Http => "http",
            AppProtocol::Dns => "dns",
            AppProtocol::Stun => "stun",
            AppProtocol::Turn => "turn",
            AppProtocol::Mturn => "mturn",
            AppProtocol::Rtp => "rtp",
            AppProtocol::Rtcp => "rtcp",
            AppProtocol::Dtls => "dtls",
            AppProtocol::Sip => "sip",
            AppProtocol::Imap => "imap",
            AppProtocol::Pop3 => "pop3",
            AppProtocol::Smtp => "smtp",
            AppProtocol::Ike => "ike",
            AppProtocol::Esp => "esp",
            AppProtocol::OpenVpn => "openvpn",
            AppProtocol::WireGuard => "wireguard",
            AppProtocol::Kerberos => "kerberos",
            AppProtocol::Ldap => "ldap",
            AppProtocol::Smb => "smb",
            AppProtocol::Ntp => "ntp",
            AppProtocol::Unknown => "unknown",
        }
    }
}

impl fmt::Display for AppProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Limits and counters shared by all flows' handshake buffers.
#[derive(Clone, Debug)]
pub struct DissectBudget {
    /// Largest ClientHello (and so per-flow stream buffer) accepted.
    pub max_handshake: usize,
    /// Bytes all flows together may hold in handshake buffers.
    pub max_total: usize,
    pub in_use: usize,
    pub peak_in_use: usize,
    /// Flows whose handshake was not buffered because the total budget was spent.
    pub refused: u64,
    /// Flows whose handshake outgrew `max_handshake` or left too many gaps.
    pub overflowed: u64,
    scratch: Vec<u8>,
}

impl DissectBudget {
    pub fn new(max_handshake: usize, max_total: usize) -> Self {
        DissectBudget {
            max_handshake,
            max_total,
            in_use: 0,
            peak_in_use: 0,
            refused: 0,
            overflowed: 0,
            scratch: Vec::new(),
        }
    }
}

impl Default for DissectBudget {
    fn default() -> Self {
        DissectBudget::new(32 * 1024, 256 * 1024 * 1024)
    }
}

#[derive(Debug, Default)]
enum Stage {
    /// Nothing decided yet; the buffer exists once the client sent payload.
    #[default]
    Probing,
    Buffering(Box<StreamBuffer>, usize),
    /// Done inspecting; counting continues in the flow record.
    Done,
}

/// What the dissectors learned about one flow.
#[derive(Debug, Default)]
pub struct FlowDissect {
    stage: Stage,
    pub app: AppProtocol,
    pub client_hello: Option<Box<ClientHello>>,
    /// The handshake could not be read completely (too large, gaps, budget).
    pub incomplete_handshake: bool,
}

impl FlowDissect {
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// Feeds one packet of the flow.
    pub fn on_packet(
        &mut self,
        transport: Transport,
        side: Side,
        tcp: Option<TcpHeader>,
        payload: &[u8],
        budget: &mut DissectBudget,
    ) {
        if self.is_done() {
            return;
        }
        match (transport, tcp) {
            (Transport::Tcp, Some(tcp)) => self.on_tcp(side, tcp, payload, budget),
            // Other transports are recognised by the protocol dissectors of later work.
            _ => self.finish(budget),
        }
    }

    fn on_tcp(&mut self, side: Side, tcp: TcpHeader, payload: &[u8], budget: &mut DissectBudget) {
        let syn = tcp.flags.has(crate::wire::TcpFlags::SYN);
        if side == Side::Server {
            // TLS is client-first: a server speaking first (mail banner, ...) is not TLS here.
            if !payload.is_empty() && !syn {
                self.finish(budget);
            }
            return;
        }
        if syn {
            if let Stage::Probing = self.stage {
                if budget.in_use + budget.max_handshake > budget.max_total {
                    budget.refused += 1;
                    self.incomplete_handshake = true;
                    self.finish(budget);
                    return;
                }
                let mut buf = StreamBuffer::new(budget.max_handshake);
                buf.start_after_syn(tcp.seq);
                self.hold(Box::new(buf), budget);
            }
            if payload.is_empty() {
                return;
            }
            // TCP Fast Open: the SYN carries the first bytes, right after its sequence number.
            self.push_and_probe(tcp.seq.wrapping_add(1), payload, budget);
            return;
        }
        if payload.is_empty() {
            return;
        }
        if let Stage::Probing = self.stage {
            // First payload, no SYN seen: decide from this segment alone when it suffices.
            let scratch = &mut budget.scratch;
            match probe_client_hello(payload, scratch, budget.max_handshake) {
                Probe::NeedMore => {}
                answer => {
                    self.conclude(answer, budget);
                    return;
                }
            }
            if budget.in_use + budget.max_handshake > budget.max_total {
                budget.refused += 1;
                self.incomplete_handshake = true;
                self.finish(budget);
                return;
            }
            self.hold(Box::new(StreamBuffer::new(budget.max_handshake)), budget);
        }
        self.push_and_probe(tcp.seq, payload, budget);
    }

    fn push_and_probe(&mut self, seq: u32, payload: &[u8], budget: &mut DissectBudget) {
        let Stage::Buffering(buf, _) = &mut self.stage else {
            return;
        };
        let pushed = buf.push(seq, payload);
        let answer = if pushed == Push::Unchanged {
            return;
        } else {
            probe_client_hello(buf.contiguous(), &mut budget.scratch, budget.max_handshake)
        };
        match answer {
            Probe::NeedMore if pushed == Push::Overflow => {
                budget.overflowed += 1;
                self.incomplete_handshake = true;
                self.app = AppProtocol::Tls;
                self.finish(budget);
            }
            Probe::NeedMore => {}
            answer => self.conclude(answer, budget),
        }
    }

    fn hold(&mut self, buf: Box<StreamBuffer>, budget: &mut DissectBudget) {
        let reserved = budget.max_handshake;
        budget.in_use += reserved;
        budget.peak_in_use = budget.peak_in_use.max(budget.in_use);
        self.stage = Stage::Buffering(buf, reserved);
    }

    fn conclude(&mut self, answer: Probe, budget: &mut DissectBudget) {
        match answer {
            Probe::ClientHello(hello) => {
                self.app = AppProtocol::Tls;
                self.client_hello = Some(Box::new(hello));
            }
            Probe::NotClientHello => self.app = AppProtocol::Tls,
            Probe::TooLarge => {
                self.app = AppProtocol::Tls;
                self.incomplete_handshake = true;
                budget.overflowed += 1;
            }
            Probe::NotTls | Probe::NeedMore => {}
        }
        self.finish(budget);
    }

    /// Stops inspecting and gives the buffer's reservation back. Called when the flow ends too.
    pub fn finish(&mut self, budget: &mut DissectBudget) {
        if let Stage::Buffering(buf, reserved) = &self.stage {
            budget.in_use = budget.in_use.saturating_sub(*reserved);
            // The flow ended mid-ClientHello (capture cut, lost segment): still TLS.
            if self.app == AppProtocol::Unknown && looks_like_client_hello(buf.contiguous()) {
                self.app = AppProtocol::Tls;
                self.incomplete_handshake = true;
            }
        }
        self.stage = Stage::Done;
    }
}

/// A handshake record header followed by a ClientHello type byte.
fn looks_like_client_hello(stream: &[u8]) -> bool {
    matches!(stream, [0x16, 3, minor, _, _, 1, ..] if *minor <= 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TcpFlags, TcpHeader};

    fn seg(seq: u32, flags: u8) -> TcpHeader {
        TcpHeader {
            seq,
            ack: 0,
            flags: TcpFlags(flags),
        }
    }

    /// A real-shaped ClientHello record for `name`, built by the wire tests' helper logic.
    fn hello(name: &str) -> Vec<u8> {
        let name = name.as_bytes();
        let mut sni = vec![0, 0];
        let list_len = name.len() + 3;
        sni.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        sni.extend_from_slice(&(list_len as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        // Padding extension so the hello spans several segments.
        let mut ext = sni;
        ext.extend_from_slice(&[0, 21, 1, 0]);
        ext.extend_from_slice(&[0; 256]);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[1; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        rec.push(1);
        rec.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        rec.extend_from_slice(&body);
        rec
    }

    #[test]
    fn client_hello_split_out_of_order_and_retransmitted() {
        let rec = hello("outlook.office365.com");
        let mut budget = DissectBudget::new(4096, 1 << 20);
        let mut d = FlowDissect::default();
        let isn = 4_000_000_000u32;
        d.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(isn, TcpFlags::SYN)),
            &[],
            &mut budget,
        );
        let parts: Vec<(u32, &[u8])> = rec
            .chunks(100)
            .enumerate()
            .map(|(i, c)| (isn.wrapping_add(1 + 100 * i as u32), c))
            .collect();
        // Third segment first, then the first twice (retransmission), then the rest.
        for &i in &[2usize, 0, 0, 1] {
            let (seq, data) = parts[i];
            d.on_packet(
                Transport::Tcp,
                Side::Client,
                Some(seg(seq, TcpFlags::ACK)),
                data,
                &mut budget,
            );
            assert!(d.client_hello.is_none());
        }
        for &(seq, data) in &parts[3..] {
            d.on_packet(
                Transport::Tcp,
                Side::Client,
                Some(seg(seq, TcpFlags::ACK)),
                data,
                &mut budget,
            );
        }
        assert_eq!(d.app, AppProtocol::Tls);
        let sni = d.client_hello.as_ref().and_then(|h| h.sni.clone());
        assert_eq!(sni.as_deref(), Some("outlook.office365.com"));
        assert!(d.is_done());
        assert_eq!(budget.in_use, 0, "buffer released once classified");
    }

    #[test]
    fn server_first_protocols_are_not_tls_and_budget_is_enforced() {
        let mut budget = DissectBudget::new(4096, 4096);
        let mut banner = FlowDissect::default();
        banner.on_packet(
            Transport::Tcp,
            Side::Server,
            Some(seg(1, TcpFlags::ACK)),
            b"* OK IMAP4rev1\r\n",
            &mut budget,
        );
        assert!(banner.is_done());
        assert_eq!(banner.app, AppProtocol::Unknown);
        // Two flows start buffering; only one fits the total budget.
        let rec = hello("a.example");
        let (mut a, mut b) = (FlowDissect::default(), FlowDissect::default());
        a.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(10, TcpFlags::ACK)),
            &rec[..50],
            &mut budget,
        );
        b.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(10, TcpFlags::ACK)),
            &rec[..50],
            &mut budget,
        );
        assert_eq!((budget.refused, budget.in_use), (1, 4096));
        assert!(b.is_done() && b.incomplete_handshake);
        a.finish(&mut budget);
        assert_eq!(budget.in_use, 0);
        assert_eq!(a.app, AppProtocol::Tls, "a cut ClientHello is still TLS");
        assert!(a.incomplete_handshake);
    }
}
