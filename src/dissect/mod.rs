//! Per-flow protocol state: decides what a flow carries from its payload and keeps what the
//! handshake revealed. Stateless byte parsing lives in `wire`; buffering lives in `flow`.

use std::fmt;

use crate::flow::{Push, Side, StreamBuffer};
use crate::wire::quic::{
    chlo_server_name, crypto_frames, decrypt_initial, gquic_version, parse_long_header, Handshake,
    InitialKeys, QuicVersion, MAX_CID_LEN,
};
use crate::wire::tls::{probe_client_hello, probe_handshake, ClientHello, Probe};
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
    decrypted: Vec<u8>,
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
            decrypted: Vec::new(),
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
    /// QUIC Initials seen; their CRYPTO stream is being collected.
    Quic(Box<QuicHandshake>, usize),
    /// Done inspecting; counting continues in the flow record.
    Done,
}

/// A client's QUIC Initial CRYPTO stream under reassembly.
#[derive(Debug)]
struct QuicHandshake {
    crypto: StreamBuffer,
    version: QuicVersion,
    /// The DCID of the client's first Initial: Initial keys stay derived from it until a Retry.
    original_dcid: [u8; MAX_CID_LEN],
    original_dcid_len: usize,
    client_datagrams: u8,
}

/// Client datagrams inspected for a QUIC ClientHello before giving up.
const MAX_QUIC_DATAGRAMS: u8 = 8;

/// What the dissectors learned about one flow.
#[derive(Debug, Default)]
pub struct FlowDissect {
    stage: Stage,
    pub app: AppProtocol,
    pub client_hello: Option<Box<ClientHello>>,
    /// The handshake could not be read completely (too large, gaps, budget).
    pub incomplete_handshake: bool,
    /// QUIC version of the client's Initial packets (or gQUIC version tag).
    pub quic_version: Option<QuicVersion>,
    /// Client datagrams seen while still probing (0-RTT can arrive before the Initial).
    probe_datagrams: u8,
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
            (Transport::Udp, _) => self.on_udp(side, payload, budget),
            // Other transports are recognised by the protocol dissectors of later work.
            _ => self.finish(budget),
        }
    }

    fn on_udp(&mut self, side: Side, payload: &[u8], budget: &mut DissectBudget) {
        // Only the client's Initials carry the ClientHello; server datagrams decide nothing.
        if side == Side::Server || payload.is_empty() {
            return;
        }
        if let Stage::Probing = self.stage {
            if let Some(header) = parse_long_header(payload).filter(|h| h.is_initial()) {
                if budget.in_use + budget.max_handshake > budget.max_total {
                    budget.refused += 1;
                    self.incomplete_handshake = true;
                    self.finish(budget);
                    return;
                }
                let mut crypto = StreamBuffer::new(budget.max_handshake);
                // CRYPTO offsets count from zero: "after a SYN at u32::MAX".
                crypto.start_after_syn(u32::MAX);
                let mut original_dcid = [0u8; MAX_CID_LEN];
                let len = header.dcid.len().min(MAX_CID_LEN);
                if let (Some(dst), Some(src)) =
                    (original_dcid.get_mut(..len), header.dcid.get(..len))
                {
                    dst.copy_from_slice(src);
                }
                budget.in_use += budget.max_handshake;
                budget.peak_in_use = budget.peak_in_use.max(budget.in_use);
                self.stage = Stage::Quic(
                    Box::new(QuicHandshake {
                        crypto,
                        version: header.version,
                        original_dcid,
                        original_dcid_len: len,
                        client_datagrams: 0,
                    }),
                    budget.max_handshake,
                );
            } else if let Some(version) = gquic_version(payload) {
                // gQUIC up to Q046 sends its CHLO tag table in clear.
                self.app = AppProtocol::Quic;
                self.quic_version = Some(version);
                if let Some(name) = chlo_server_name(payload) {
                    self.client_hello = Some(Box::new(ClientHello {
                        sni: Some(String::from_utf8_lossy(name).into_owned()),
                        ..ClientHello::default()
                    }));
                    self.finish(budget);
                }
                return;
            } else if parse_long_header(payload).is_some()
                && self.probe_datagrams < MAX_QUIC_DATAGRAMS
            {
                // 0-RTT or Handshake of a known version before the Initial (reordering): wait.
                self.probe_datagrams += 1;
                return;
            } else {
                self.finish(budget);
                return;
            }
        }
        match &mut self.stage {
            Stage::Quic(quic, _) => {
                quic.client_datagrams = quic.client_datagrams.saturating_add(1);
                let outcome = feed_quic_datagram(quic, payload, budget);
                if let Some(version) = outcome.decrypted {
                    self.app = AppProtocol::Quic;
                    self.quic_version = Some(version);
                }
                match outcome.answer {
                    Some(Probe::ClientHello(hello)) => {
                        self.client_hello = Some(Box::new(hello));
                        self.finish(budget);
                    }
                    Some(Probe::NeedMore) | None
                        if quic.client_datagrams < MAX_QUIC_DATAGRAMS && !outcome.overflow => {}
                    Some(_) | None => {
                        if self.app == AppProtocol::Quic {
                            self.incomplete_handshake = true;
                        }
                        if outcome.overflow {
                            budget.overflowed += 1;
                        }
                        self.finish(budget);
                    }
                }
            }
            Stage::Probing => {
                // gQUIC whose CHLO was not in the first datagram.
                if let Some(name) = chlo_server_name(payload) {
                    self.client_hello = Some(Box::new(ClientHello {
                        sni: Some(String::from_utf8_lossy(name).into_owned()),
                        ..ClientHello::default()
                    }));
                    self.finish(budget);
                }
            }
            _ => {}
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
        if let Stage::Quic(_, reserved) = &self.stage {
            budget.in_use = budget.in_use.saturating_sub(*reserved);
        }
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
    budget: &mut DissectBudget,
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
        let Some(header) = parse_long_header(rest) else {
            break;
        };
        let next = rest.get(header.end..).unwrap_or_default();
        if header.is_initial() {
            let original = quic
                .original_dcid
                .get(..quic.original_dcid_len)
                .unwrap_or_default();
            // Keys come from the packet's own DCID (first flight, or after a Retry), else from
            // the first Initial's DCID (later Initials to the server's chosen ID).
            let range = [header.dcid, original]
                .into_iter()
                .filter_map(|dcid| InitialKeys::client(header.version, dcid))
                .find_map(|keys| decrypt_initial(rest, &header, &keys, &mut budget.decrypted));
            if let Some(range) = range {
                outcome.decrypted = Some(header.version);
                quic.version = header.version;
                let plain = budget.decrypted.get(range).unwrap_or_default();
                for (offset, data) in crypto_frames(plain, header.version) {
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
            }
        }
        rest = next;
    }
    if grew {
        let stream = quic.crypto.contiguous();
        outcome.answer = Some(match quic.version.handshake() {
            Some(Handshake::GoogleChlo) => match chlo_server_name(stream) {
                Some(name) => Probe::ClientHello(ClientHello {
                    sni: Some(String::from_utf8_lossy(name).into_owned()),
                    ..ClientHello::default()
                }),
                None => Probe::NeedMore,
            },
            _ => probe_handshake(stream, budget.max_handshake),
        });
    }
    outcome
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
