//! Per-flow protocol state: decides what a flow carries from its payload and keeps what the
//! handshake revealed. Stateless byte parsing lives in `wire`; buffering lives in `flow`.

pub mod dns_names;

use std::fmt;

pub use dns_names::DnsNames;

use crate::flow::{Push, Side, StreamBuffer};
use crate::wire::dns;
use crate::wire::ja4::Ja4Memo;
use crate::wire::media::{media_packet, stun, Media, MediaPacket};
use crate::wire::plaintext::{
    client_mail_command, http_request, http_response, server_banner, sip_message, sip_user_agent,
    socks_connect, Banner, SocksHost,
};
use crate::wire::quic::{
    chlo_server_name, crypto_frames, decrypt_initial, gquic_version, initial_headers,
    parse_long_header, Handshake, InitialKeys, QuicVersion, MAX_CID_LEN,
};
use crate::wire::tls::{
    looks_like_record, probe_client_hello, probe_handshake, ClientHello, Probe,
};
use crate::wire::tls_server::{probe_server_flight, CertificateMemo, ServerHello, ServerProbe};
use crate::wire::vpn::{self, Infra};
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
    /// Server certificates read so far (bounded).
    certificates: CertificateMemo,
    /// JA4 fingerprints computed so far (bounded).
    ja4: Ja4Memo,
    /// Capture time of the packet being dissected (set by the caller before each packet).
    pub now: crate::time::Timestamp,
    /// Address -> name from every DNS answer seen so far.
    pub dns: DnsNames,
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
            certificates: CertificateMemo::default(),
            ja4: Ja4Memo::default(),
            now: crate::time::Timestamp::default(),
            dns: DnsNames::default(),
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
    /// A plaintext start (banner, HTTP CONNECT, SOCKS, STARTTLS) was seen; client segments are
    /// checked for a ClientHello, at most this many more.
    AwaitTls(u8),
    /// Media was recognised; this many more datagrams are looked at for what else it carries.
    Media(u8),
    /// DNS: every message is read, answers feed the address -> name map.
    Dns,
    /// After the ClientHello: the server's first flight (ServerHello, certificate), with this
    /// many more server segments allowed.
    ServerFlight(Box<StreamBuffer>, usize, u8),
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

/// Client segments after a plaintext start checked for a ClientHello before giving up (a
/// STARTTLS exchange takes about five: capability queries, authentication offers, the command).
const MAX_PLAINTEXT_SEGMENTS: u8 = 16;

/// Datagrams of a media flow inspected after the first recognised one (STUN checks, then RTP,
/// RTCP or DTLS follow within a few packets).
const MAX_MEDIA_DATAGRAMS: u8 = 32;

/// Server segments read for the ServerHello and certificate (a certificate chain takes a few).
const MAX_SERVER_SEGMENTS: u8 = 12;

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
    /// Texts from plaintext protocols (HTTP, SIP, SOCKS, DNS): boxed, since most flows
    /// (TLS, QUIC, media) have none and every open flow pays for the fields inline.
    text: Option<Box<TextFacts>>,
    /// The client asked a proxy (HTTP CONNECT or SOCKS) to reach `proxy_target`.
    pub via_proxy: bool,
    /// Media kinds seen on a UDP flow (bit per `MediaSeen` flag).
    pub media: MediaSeen,
    /// What the server's first TLS flight revealed.
    pub server_hello: Option<Box<ServerHello>>,
    /// The server answered the ClientHello with this fatal TLS alert.
    pub tls_alert: Option<u8>,
}

/// The texts a flow's plaintext start showed.
#[derive(Debug, Default)]
struct TextFacts {
    /// Host header of the client's first HTTP request.
    http_host: Option<String>,
    /// What a proxy was asked to reach: HTTP CONNECT target or SOCKS destination, `host:port`.
    proxy_target: Option<String>,
    /// The first name a DNS flow asked for.
    dns_query: Option<String>,
    /// User-Agent of the first HTTP request (CONNECT included) or SIP message.
    user_agent: Option<String>,
    /// Path of the first HTTP request, without its query (which may name users), bounded.
    http_path: Option<String>,
}

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
    fn text_mut(&mut self) -> &mut TextFacts {
        self.text.get_or_insert_with(Box::default)
    }

    fn text(&self) -> Option<&TextFacts> {
        self.text.as_deref()
    }

    /// Host header of the client's first HTTP request.
    pub fn http_host(&self) -> Option<&str> {
        self.text()?.http_host.as_deref()
    }

    /// What a proxy was asked to reach: HTTP CONNECT target or SOCKS destination, `host:port`.
    pub fn proxy_target(&self) -> Option<&str> {
        self.text()?.proxy_target.as_deref()
    }

    /// The first name a DNS flow asked for.
    pub fn dns_query(&self) -> Option<&str> {
        self.text()?.dns_query.as_deref()
    }

    /// User-Agent of the first HTTP request (CONNECT included) or SIP message.
    pub fn user_agent(&self) -> Option<&str> {
        self.text()?.user_agent.as_deref()
    }

    /// Path of the first HTTP request, without its query, bounded.
    pub fn http_path(&self) -> Option<&str> {
        self.text()?.http_path.as_deref()
    }

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
        server_port: u16,
        budget: &mut DissectBudget,
    ) {
        if self.is_done() {
            return;
        }
        if let Stage::Dns = self.stage {
            let message = match transport {
                Transport::Tcp => payload.get(2..).unwrap_or_default(),
                _ => payload,
            };
            self.on_dns(message, budget);
            return;
        }
        let first_payload = match &self.stage {
            Stage::Probing => true,
            Stage::Buffering(buf, _) => buf.contiguous().is_empty(),
            _ => false,
        };
        if first_payload && !payload.is_empty() && transport.has_ports() {
            // DNS is recognised by content on any port (TCP messages carry a 2-byte length).
            let message = match transport {
                Transport::Tcp => payload.get(2..).filter(|m| {
                    crate::wire::be16(payload, 0).is_some_and(|len| usize::from(len) >= m.len())
                }),
                _ => Some(payload),
            };
            if let Some(msg) = message.and_then(dns::parse) {
                self.release(budget);
                self.app = AppProtocol::Dns;
                self.stage = Stage::Dns;
                self.record_dns(msg, budget);
                return;
            }
        }
        match (transport, tcp) {
            (Transport::Esp, _) => {
                // ESP is its own IP protocol: the transport is the evidence.
                self.app = AppProtocol::Esp;
                self.finish(budget);
            }
            (Transport::Tcp, Some(tcp)) => self.on_tcp(side, tcp, payload, server_port, budget),
            (Transport::Udp, _) => self.on_udp(side, payload, server_port, budget),
            // Other transports are recognised by the protocol dissectors of later work.
            _ => self.finish(budget),
        }
    }

    fn on_dns(&mut self, message: &[u8], budget: &mut DissectBudget) {
        if let Some(msg) = dns::parse(message) {
            self.record_dns(msg, budget);
        }
    }

    /// Keeps the first query name and feeds the answers to the address -> name map.
    fn record_dns(&mut self, msg: dns::DnsMessage, budget: &mut DissectBudget) {
        if self.dns_query().is_none() && !msg.query.is_empty() {
            self.text_mut().dns_query = Some(msg.query.clone());
        }
        if msg.response {
            for (addr, ttl) in &msg.addresses {
                budget.dns.insert(*addr, &msg.query, *ttl, budget.now);
            }
        }
    }

    fn on_udp(&mut self, side: Side, payload: &[u8], server_port: u16, budget: &mut DissectBudget) {
        if payload.is_empty() {
            return;
        }
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
                    Stage::Media(_) => self.finish(budget),
                    _ => self.stage = Stage::Media(MAX_MEDIA_DATAGRAMS),
                }
                return;
            }
            if let Stage::Media(left) = &mut self.stage {
                // Encrypted media (SRTP after DTLS, proprietary payloads) between recognised ones.
                if *left > 1 {
                    *left -= 1;
                } else {
                    self.finish(budget);
                }
                return;
            }
        }
        // VPN, signalling and infrastructure protocols, from either side's first datagram.
        if let Stage::Probing = self.stage {
            let settled = if sip_message(payload) {
                self.text_mut().user_agent = sip_user_agent(payload).map(bounded_text);
                Some(AppProtocol::Sip)
            } else {
                vpn::recognise(payload, false).map(AppProtocol::from)
            };
            if let Some(app) = settled {
                self.app = app;
                self.finish(budget);
                return;
            }
        }
        // Only the client's Initials carry the ClientHello; server datagrams decide nothing more.
        if side == Side::Server {
            if let Stage::Probing = self.stage {
                self.probe_datagrams = self.probe_datagrams.saturating_add(1);
                if self.probe_datagrams > MAX_QUIC_DATAGRAMS {
                    self.finish(budget);
                }
            }
            return;
        }
        if let Stage::Probing = self.stage {
            if let Some(header) = initial_headers(payload).next() {
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
                    Some(Probe::ClientHello(mut hello)) => {
                        hello.set_ja4_transport('q');
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

    fn on_tcp(
        &mut self,
        side: Side,
        tcp: TcpHeader,
        payload: &[u8],
        server_port: u16,
        budget: &mut DissectBudget,
    ) {
        let syn = tcp.flags.has(crate::wire::TcpFlags::SYN);
        if side == Side::Server {
            if payload.is_empty() || syn {
                return;
            }
            if let Stage::ServerFlight(..) = self.stage {
                self.server_flight(tcp.seq, payload, budget);
                return;
            }
            match &self.stage {
                // The server spoke before any client byte: a banner (IMAP, POP3, SMTP, ...).
                Stage::Probing => self.plaintext_start(Side::Server, payload, server_port, budget),
                Stage::Buffering(buf, _) if buf.contiguous().is_empty() => {
                    self.plaintext_start(Side::Server, payload, server_port, budget)
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
                if !self.reserve(budget) {
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
            self.push_and_probe(tcp.seq.wrapping_add(1), payload, server_port, budget);
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
                    &mut budget.scratch,
                    budget.max_handshake,
                    &mut budget.ja4,
                ) {
                    Probe::NeedMore => {}
                    Probe::NotTls => {
                        self.plaintext_start(Side::Client, payload, server_port, budget);
                        return;
                    }
                    answer => {
                        self.conclude(answer, budget);
                        return;
                    }
                }
                if !self.reserve(budget) {
                    return;
                }
                self.hold(Box::new(StreamBuffer::new(budget.max_handshake)), budget);
            }
            Stage::AwaitTls(_) => {
                self.await_tls(tcp.seq, payload, server_port, budget);
                return;
            }
            _ => {}
        }
        self.push_and_probe(tcp.seq, payload, server_port, budget);
    }

    /// Checks the shared budget before a handshake buffer is made; refuses (and stops
    /// inspecting) when it is spent.
    fn reserve(&mut self, budget: &mut DissectBudget) -> bool {
        if budget.in_use + budget.max_handshake > budget.max_total {
            budget.refused += 1;
            self.incomplete_handshake = true;
            self.finish(budget);
            return false;
        }
        true
    }

    /// Reads what a plaintext start says (HTTP request, proxy request, mail banner or command)
    /// and waits for a ClientHello unless the protocol cannot upgrade (plain HTTP requests).
    fn plaintext_start(
        &mut self,
        side: Side,
        bytes: &[u8],
        server_port: u16,
        budget: &mut DissectBudget,
    ) {
        self.release(budget);
        let mut upgrade_possible = true;
        // Protocols that are what they are from their first bytes, whichever side spoke.
        let settled = if looks_like_record(bytes) {
            // TLS records without a ClientHello: the capture began mid-connection.
            Some(AppProtocol::Tls)
        } else if sip_message(bytes) {
            self.text_mut().user_agent = sip_user_agent(bytes).map(bounded_text);
            Some(AppProtocol::Sip)
        } else if let Some((turn, microsoft)) =
            stun(bytes).or_else(|| bytes.get(2..).and_then(stun))
        {
            // STUN over TCP, bare (RFC 5389 7.2.2) or with RFC 4571 framing (ICE-TCP); Teams
            // sends its MS-ICE attributes here too.
            self.note_media(MediaPacket {
                kind: if turn { Media::Turn } else { Media::Stun },
                mturn: false,
                microsoft,
                dtls_client_hello: false,
            });
            Some(AppProtocol::Stun)
        } else if side == Side::Server && http_response(bytes) {
            Some(AppProtocol::Http)
        } else {
            vpn::recognise(bytes, true).map(AppProtocol::from)
        };
        if let Some(app) = settled {
            self.app = app;
            self.stage = Stage::Done;
            return;
        }
        match side {
            Side::Server => {
                if let Some(banner) = server_banner(bytes, server_port) {
                    self.app = banner.into();
                }
            }
            Side::Client => {
                if let Some(request) = http_request(bytes) {
                    self.app = AppProtocol::Http;
                    let text = self.text_mut();
                    text.http_host = request.host.map(lossy);
                    text.user_agent = request.user_agent.map(bounded_text);
                    if request.is_connect() {
                        self.via_proxy = true;
                        self.text_mut().proxy_target = Some(lossy(request.target));
                    } else if let Some(target) = request.absolute_target() {
                        // `GET http://host/...`: a request only a proxy is sent.
                        self.via_proxy = true;
                        let text = self.text_mut();
                        text.proxy_target = Some(target);
                        text.http_path = request.absolute_path().map(bounded_text);
                        upgrade_possible = false;
                    } else {
                        let path = request.target.split(|b| *b == b'?').next();
                        self.text_mut().http_path = path.map(bounded_text);
                        upgrade_possible = false;
                    }
                } else if let Some(target) = socks_target(bytes) {
                    self.via_proxy = true;
                    self.text_mut().proxy_target = Some(target);
                } else if let Some(command) = client_mail_command(bytes) {
                    self.app = command.into();
                }
            }
        }
        self.stage = if upgrade_possible {
            Stage::AwaitTls(MAX_PLAINTEXT_SEGMENTS)
        } else {
            Stage::Done
        };
    }

    /// A client segment after a plaintext start: the ClientHello of an upgrade, or more text.
    fn await_tls(
        &mut self,
        seq: u32,
        payload: &[u8],
        server_port: u16,
        budget: &mut DissectBudget,
    ) {
        if looks_like_client_hello(payload) {
            if !self.reserve(budget) {
                return;
            }
            self.hold(Box::new(StreamBuffer::new(budget.max_handshake)), budget);
            self.push_and_probe(seq, payload, server_port, budget);
            return;
        }
        if let Some(target) = socks_target(payload) {
            // SOCKS5: the CONNECT request follows the method negotiation.
            self.via_proxy = true;
            self.text_mut().proxy_target = Some(target);
        } else if self.app == AppProtocol::Unknown {
            if let Some(command) = client_mail_command(payload) {
                self.app = command.into();
            }
        }
        match &mut self.stage {
            Stage::AwaitTls(left) if *left > 1 => *left -= 1,
            _ => self.finish(budget),
        }
    }

    fn push_and_probe(
        &mut self,
        seq: u32,
        payload: &[u8],
        server_port: u16,
        budget: &mut DissectBudget,
    ) {
        let Stage::Buffering(buf, _) = &mut self.stage else {
            return;
        };
        let pushed = buf.push(seq, payload);
        let answer = if pushed == Push::Unchanged {
            return;
        } else {
            probe_client_hello(
                buf.contiguous(),
                &mut budget.scratch,
                budget.max_handshake,
                &mut budget.ja4,
            )
        };
        match answer {
            Probe::NeedMore if pushed == Push::Overflow => {
                budget.overflowed += 1;
                self.incomplete_handshake = true;
                self.app = AppProtocol::Tls;
                self.finish(budget);
            }
            Probe::NeedMore => {}
            // The stream starts with something else: read it as a plaintext start.
            Probe::NotTls if self.client_hello.is_none() && !self.after_plaintext() => {
                let stage = std::mem::replace(&mut self.stage, Stage::Done);
                if let Stage::Buffering(buf, reserved) = stage {
                    budget.in_use = budget.in_use.saturating_sub(reserved);
                    self.plaintext_start(Side::Client, buf.contiguous(), server_port, budget);
                }
            }
            answer => self.conclude(answer, budget),
        }
    }

    /// A plaintext protocol was seen before the current TLS attempt.
    fn after_plaintext(&self) -> bool {
        self.app != AppProtocol::Unknown || self.via_proxy
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
                self.upgrade_to_tls();
                self.client_hello = Some(Box::new(hello));
                self.await_server_flight(budget);
                return;
            }
            Probe::NotClientHello => self.upgrade_to_tls(),
            Probe::TooLarge => {
                self.upgrade_to_tls();
                self.incomplete_handshake = true;
                budget.overflowed += 1;
            }
            Probe::NotTls | Probe::NeedMore => {}
        }
        self.finish(budget);
    }

    /// After the ClientHello, read the server's answer (bounded like the client's).
    fn await_server_flight(&mut self, budget: &mut DissectBudget) {
        self.release(budget);
        if budget.in_use + budget.max_handshake > budget.max_total {
            budget.refused += 1;
            self.stage = Stage::Done;
            return;
        }
        budget.in_use += budget.max_handshake;
        budget.peak_in_use = budget.peak_in_use.max(budget.in_use);
        self.stage = Stage::ServerFlight(
            Box::new(StreamBuffer::new(budget.max_handshake)),
            budget.max_handshake,
            MAX_SERVER_SEGMENTS,
        );
    }

    fn server_flight(&mut self, seq: u32, payload: &[u8], budget: &mut DissectBudget) {
        let Stage::ServerFlight(buf, _, left) = &mut self.stage else {
            return;
        };
        let pushed = buf.push(seq, payload);
        *left = left.saturating_sub(1);
        let answer = match pushed {
            Push::Unchanged if *left > 0 => return,
            _ => probe_server_flight(
                buf.contiguous(),
                &mut budget.scratch,
                &mut budget.certificates,
            ),
        };
        match answer {
            ServerProbe::Done(hello) => {
                self.server_hello = Some(Box::new(hello));
                self.finish(budget);
            }
            ServerProbe::Alert(description) => {
                self.tls_alert = Some(description);
                self.finish(budget);
            }
            ServerProbe::NeedMore if *left > 0 && pushed != Push::Overflow => {}
            _ => self.finish(budget),
        }
    }

    /// TLS follows: a flow keeps its first protocol (STARTTLS, CONNECT), else it is TLS.
    fn upgrade_to_tls(&mut self) {
        if self.app == AppProtocol::Unknown {
            self.app = AppProtocol::Tls;
        }
    }

    /// Gives a buffer's reservation back and leaves the stage `Probing`.
    fn release(&mut self, budget: &mut DissectBudget) {
        if let Stage::Buffering(_, reserved)
        | Stage::Quic(_, reserved)
        | Stage::ServerFlight(_, reserved, _) = &self.stage
        {
            budget.in_use = budget.in_use.saturating_sub(*reserved);
        }
        self.stage = Stage::Probing;
    }

    /// Stops inspecting and gives the buffer's reservation back. Called when the flow ends too.
    pub fn finish(&mut self, budget: &mut DissectBudget) {
        if let Stage::Buffering(buf, _) = &self.stage {
            // The flow ended mid-ClientHello (capture cut, lost segment): still TLS.
            if looks_like_client_hello(buf.contiguous()) {
                self.upgrade_to_tls();
                self.incomplete_handshake |= self.client_hello.is_none();
            }
        }
        self.release(budget);
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
                .find_map(|keys| decrypt_initial(rest, &header, &keys, &mut budget.decrypted))
                .map(|range| (header, range))
        });
        let end = match opened {
            Some((header, range)) => {
                outcome.decrypted = Some(header.version);
                quic.version = header.version;
                let plain = budget.decrypted.get(range).unwrap_or_default();
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
                Some(name) => Probe::ClientHello(ClientHello {
                    sni: Some(String::from_utf8_lossy(name).into_owned()),
                    ..ClientHello::default()
                }),
                None => Probe::NeedMore,
            },
            _ => probe_handshake(stream, budget.max_handshake, &mut budget.ja4),
        });
    }
    outcome
}

impl FlowDissect {
    /// Records a media datagram; the first one recognised names the flow's protocol.
    fn note_media(&mut self, packet: MediaPacket) {
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

impl From<Infra> for AppProtocol {
    fn from(infra: Infra) -> Self {
        match infra {
            Infra::Ike => AppProtocol::Ike,
            Infra::OpenVpn => AppProtocol::OpenVpn,
            Infra::WireGuard => AppProtocol::WireGuard,
            Infra::Ntp => AppProtocol::Ntp,
            Infra::Kerberos => AppProtocol::Kerberos,
            Infra::Ldap => AppProtocol::Ldap,
            Infra::Smb => AppProtocol::Smb,
        }
    }
}

impl AppProtocol {
    /// What the server port suggests when the payload said nothing (shown as `detected_by =
    /// port`, never used for verdicts).
    pub fn guess_from_port(transport: Transport, port: u16) -> Option<AppProtocol> {
        Some(match (transport, port) {
            (Transport::Tcp, 443 | 465 | 563 | 636 | 853 | 993 | 995 | 5061 | 8443) => {
                AppProtocol::Tls
            }
            (Transport::Udp, 443) => AppProtocol::Quic,
            (Transport::Tcp | Transport::Udp, 53) => AppProtocol::Dns,
            (Transport::Tcp, 80 | 8080) => AppProtocol::Http,
            (Transport::Udp, 3478..=3481) => AppProtocol::Stun,
            (Transport::Tcp | Transport::Udp, 5060) => AppProtocol::Sip,
            (Transport::Udp, 500 | 4500) => AppProtocol::Ike,
            (Transport::Tcp | Transport::Udp, 1194) => AppProtocol::OpenVpn,
            (Transport::Udp, 51820) => AppProtocol::WireGuard,
            (Transport::Tcp, 143) => AppProtocol::Imap,
            (Transport::Tcp, 110) => AppProtocol::Pop3,
            (Transport::Tcp, 25 | 587) => AppProtocol::Smtp,
            (Transport::Tcp | Transport::Udp, 88) => AppProtocol::Kerberos,
            (Transport::Tcp | Transport::Udp, 389) => AppProtocol::Ldap,
            (Transport::Tcp, 445) => AppProtocol::Smb,
            (Transport::Udp, 123) => AppProtocol::Ntp,
            _ => return None,
        })
    }
}

impl From<Banner> for AppProtocol {
    fn from(banner: Banner) -> Self {
        match banner {
            Banner::Imap => AppProtocol::Imap,
            Banner::Pop3 => AppProtocol::Pop3,
            Banner::Smtp => AppProtocol::Smtp,
        }
    }
}

/// Text kept from a header for reports and rules: at most 256 bytes of it.
fn bounded_text(bytes: &[u8]) -> String {
    lossy(bytes.get(..bytes.len().min(256)).unwrap_or_default())
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A SOCKS CONNECT destination as `host:port` text.
fn socks_target(payload: &[u8]) -> Option<String> {
    let (host, port) = socks_connect(payload)?;
    Some(match host {
        SocksHost::Name(name) => format!("{}:{port}", lossy(name)),
        SocksHost::V4(a) => format!("{}:{port}", std::net::Ipv4Addr::from(a)),
        SocksHost::V6(a) => format!("[{}]:{port}", std::net::Ipv6Addr::from(a)),
    })
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
            443,
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
                443,
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
                443,
                &mut budget,
            );
        }
        assert_eq!(d.app, AppProtocol::Tls);
        let sni = d.client_hello.as_ref().and_then(|h| h.sni.clone());
        assert_eq!(sni.as_deref(), Some("outlook.office365.com"));
        // Now the server's answer is awaited, in a buffer of its own.
        assert!(!d.is_done());
        assert_eq!(budget.in_use, 4096);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[5; 32]);
        body.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4]);
        let mut record = vec![
            22,
            3,
            3,
            0,
            (body.len() + 4) as u8,
            2,
            0,
            0,
            body.len() as u8,
        ];
        record.extend_from_slice(&body);
        d.on_packet(
            Transport::Tcp,
            Side::Server,
            Some(seg(77, TcpFlags::ACK)),
            &record,
            443,
            &mut budget,
        );
        let version = d.server_hello.as_ref().map(|h| h.version.to_string());
        assert_eq!(version.as_deref(), Some("1.3"));
        assert!(d.is_done());
        assert_eq!(
            budget.in_use, 0,
            "buffers released once the handshake is read"
        );
    }

    #[test]
    fn starttls_keeps_the_mail_protocol_and_reads_the_hello() {
        let mut budget = DissectBudget::new(4096, 1 << 20);
        let mut d = FlowDissect::default();
        let client = |d: &mut FlowDissect, seq: u32, bytes: &[u8], budget: &mut DissectBudget| {
            d.on_packet(
                Transport::Tcp,
                Side::Client,
                Some(seg(seq, TcpFlags::ACK)),
                bytes,
                143,
                budget,
            )
        };
        d.on_packet(
            Transport::Tcp,
            Side::Server,
            Some(seg(1, TcpFlags::ACK)),
            b"* OK IMAP4rev1\r\n",
            143,
            &mut budget,
        );
        assert_eq!(d.app, AppProtocol::Imap);
        assert!(!d.is_done());
        client(&mut d, 100, b"a1 CAPABILITY\r\n", &mut budget);
        client(&mut d, 115, b"a2 STARTTLS\r\n", &mut budget);
        let rec = hello("outlook.office365.com");
        let (first, rest) = rec.split_at(200);
        client(&mut d, 128, first, &mut budget);
        client(&mut d, 328, rest, &mut budget);
        assert_eq!(d.app, AppProtocol::Imap, "the first protocol stays");
        let sni = d.client_hello.as_ref().and_then(|h| h.sni.clone());
        assert_eq!(sni.as_deref(), Some("outlook.office365.com"));
        d.finish(&mut budget); // the flow ends while the server answer is awaited
        assert_eq!(budget.in_use, 0);
    }

    #[test]
    fn proxies_and_plain_http() {
        let mut budget = DissectBudget::new(4096, 1 << 20);
        let mut d = FlowDissect::default();
        let connect =
            b"CONNECT teams.microsoft.com:443 HTTP/1.1\r\nHost: teams.microsoft.com:443\r\n\r\n";
        d.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(1, TcpFlags::ACK)),
            connect,
            8080,
            &mut budget,
        );
        d.on_packet(
            Transport::Tcp,
            Side::Server,
            Some(seg(9, TcpFlags::ACK)),
            b"HTTP/1.1 200 OK\r\n\r\n",
            8080,
            &mut budget,
        );
        let rec = hello("teams.microsoft.com");
        d.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(1 + connect.len() as u32, TcpFlags::ACK)),
            &rec,
            8080,
            &mut budget,
        );
        assert_eq!((d.app, d.via_proxy), (AppProtocol::Http, true));
        assert_eq!(d.proxy_target(), Some("teams.microsoft.com:443"));
        assert_eq!(
            d.client_hello.as_ref().and_then(|h| h.sni.as_deref()),
            Some("teams.microsoft.com")
        );

        let mut get = FlowDissect::default();
        get.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(1, TcpFlags::ACK)),
            b"GET / HTTP/1.1\r\nHost: outlook.office365.com\r\n\r\n",
            80,
            &mut budget,
        );
        assert_eq!(
            (get.app, get.http_host(), get.is_done()),
            (AppProtocol::Http, Some("outlook.office365.com"), true)
        );

        // An absolute-URI request is sent only to a proxy: the URI names the target.
        let mut absolute = FlowDissect::default();
        absolute.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(1, TcpFlags::ACK)),
            b"GET http://outlook.office365.com/owa/?u=a HTTP/1.1\r\nHost: outlook.office365.com\r\n\r\n",
            3128,
            &mut budget,
        );
        assert_eq!(
            (
                absolute.app,
                absolute.via_proxy,
                absolute.proxy_target(),
                absolute.http_path()
            ),
            (
                AppProtocol::Http,
                true,
                Some("outlook.office365.com:80"),
                Some("/owa/")
            )
        );

        let mut socks = FlowDissect::default();
        socks.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(1, TcpFlags::ACK)),
            &[5, 1, 0],
            1080,
            &mut budget,
        );
        let mut request = vec![5, 1, 0, 3, 19];
        request.extend_from_slice(b"teams.microsoft.com");
        request.extend_from_slice(&443u16.to_be_bytes());
        socks.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(4, TcpFlags::ACK)),
            &request,
            1080,
            &mut budget,
        );
        assert_eq!(
            (socks.via_proxy, socks.proxy_target()),
            (true, Some("teams.microsoft.com:443"))
        );
        d.finish(&mut budget);
        assert_eq!(budget.in_use, 0);
    }

    #[test]
    fn handshake_budget_is_enforced() {
        let mut budget = DissectBudget::new(4096, 4096);
        // Two flows start buffering; only one fits the total budget.
        let rec = hello("a.example");
        let (mut a, mut b) = (FlowDissect::default(), FlowDissect::default());
        a.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(10, TcpFlags::ACK)),
            &rec[..50],
            443,
            &mut budget,
        );
        b.on_packet(
            Transport::Tcp,
            Side::Client,
            Some(seg(10, TcpFlags::ACK)),
            &rec[..50],
            443,
            &mut budget,
        );
        assert_eq!((budget.refused, budget.in_use), (1, 4096));
        assert!(b.is_done() && b.incomplete_handshake);
        a.finish(&mut budget);
        assert_eq!(budget.in_use, 0);
        assert_eq!(a.app, AppProtocol::Tls, "a cut ClientHello is still TLS");
        assert!(a.incomplete_handshake);
    }

    #[test]
    fn quic_crypto_offsets_past_any_bound_end_the_handshake_cleanly() {
        use crate::wire::quic::{testing::seal_initial, QuicVersion};
        let dcid = [7u8; 8];
        // CRYPTO at offset 2^62-1 (the largest varint) and at 1 MiB: neither fits the buffer.
        for offset in [
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
            &[0x80, 0x10, 0x00, 0x00][..],
        ] {
            let mut frames = vec![0x06];
            frames.extend_from_slice(offset);
            frames.extend_from_slice(&[0x05, 1, 2, 3, 4, 5]);
            let datagram = seal_initial(QuicVersion::V1, &dcid, &frames);
            let mut budget = DissectBudget::new(4096, 1 << 20);
            let mut d = FlowDissect::default();
            d.on_packet(
                Transport::Udp,
                Side::Client,
                None,
                &datagram,
                443,
                &mut budget,
            );
            assert_eq!(d.app, AppProtocol::Quic, "the Initial authenticated");
            assert!(d.is_done() && d.incomplete_handshake);
            assert!(d.client_hello.is_none());
            assert_eq!(budget.in_use, 0);
            assert_eq!(budget.overflowed, 1);
        }
    }
}
