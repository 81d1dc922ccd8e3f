//! Per-flow protocol state: decides what a flow carries from its payload and keeps what the
//! handshake revealed. Stateless byte parsing lives in `wire`; buffering lives in `flow`.
//!
//! One room per protocol family, each an `impl FlowDissect` over the shared state machine
//! (`Stage`): `stream` (TLS over TCP: ClientHello, then the server's first flight),
//! `plaintext` (HTTP, proxies, SOCKS, mail banners and STARTTLS), `quic` (Initials decrypted,
//! CRYPTO reassembled; gQUIC), `media` (STUN/TURN/RTP/RTCP/DTLS), `dns` (queries and the
//! address -> name index), and the UDP dispatch with SIP and VPNs here. `app` names the
//! protocols; `budget` holds what every flow shares: the handshake buffer budget, scratch
//! buffers, memos and the DNS index, owned by the engine and passed in with each packet.

mod app;
mod budget;
mod dns;
pub mod dns_names;
mod media;
mod plaintext;
mod quic;
mod stream;
#[cfg(test)]
mod tests;

pub use app::AppProtocol;
pub use budget::{DissectShared, HandshakeBudget};
pub use dns_names::DnsNames;
pub use media::MediaSeen;

use crate::flow::{Side, StreamBuffer};
use crate::time::Timestamp;
use crate::wire::plaintext::{sip_message, sip_user_agent};
use crate::wire::quic::{QuicVersion, MAX_CID_LEN};
use crate::wire::tls::{looks_like_client_hello, ClientHello, ProbeProgress};
use crate::wire::tls_server::ServerHello;
use crate::wire::vpn;
use crate::wire::{TcpHeader, Transport};

/// A client stream being buffered, and how far its ClientHello was read (so each segment
/// reads only what it added).
#[derive(Debug)]
struct Buffered {
    stream: StreamBuffer,
    progress: ProbeProgress,
}

impl From<StreamBuffer> for Buffered {
    fn from(stream: StreamBuffer) -> Self {
        Buffered {
            stream,
            progress: ProbeProgress::default(),
        }
    }
}

impl std::ops::Deref for Buffered {
    type Target = StreamBuffer;
    fn deref(&self) -> &StreamBuffer {
        &self.stream
    }
}

impl std::ops::DerefMut for Buffered {
    fn deref_mut(&mut self) -> &mut StreamBuffer {
        &mut self.stream
    }
}

#[derive(Debug, Default)]
enum Stage {
    /// Nothing decided yet; the buffer exists once the client sent payload.
    #[default]
    Probing,
    Buffering(Box<Buffered>, usize),
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

/// One packet of a flow, as the dissectors see it.
#[derive(Clone, Copy, Debug)]
pub struct FlowPacket<'p> {
    pub transport: Transport,
    pub side: Side,
    pub tcp: Option<TcpHeader>,
    pub payload: &'p [u8],
    /// The flow's server port (plaintext protocols are told apart by it).
    pub server_port: u16,
    /// Capture time of the packet.
    pub now: Timestamp,
}

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
    pub fn on_packet(&mut self, packet: FlowPacket<'_>, shared: &mut DissectShared) {
        let FlowPacket {
            transport,
            side,
            tcp,
            payload,
            server_port,
            now,
        } = packet;
        if self.is_done() {
            return;
        }
        if let Stage::Dns = self.stage {
            let message = match transport {
                Transport::Tcp => payload.get(2..).unwrap_or_default(),
                _ => payload,
            };
            self.on_dns(message, now, shared);
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
            if let Some(msg) = message.and_then(crate::wire::dns::parse) {
                self.release(shared);
                self.app = AppProtocol::Dns;
                self.stage = Stage::Dns;
                self.record_dns(msg, now, shared);
                return;
            }
        }
        match (transport, tcp) {
            (Transport::Esp, _) => {
                // ESP is its own IP protocol: the transport is the evidence.
                self.app = AppProtocol::Esp;
                self.finish(shared);
            }
            (Transport::Tcp, Some(tcp)) => self.on_tcp(side, tcp, payload, server_port, shared),
            (Transport::Udp, _) => self.on_udp(side, payload, server_port, shared),
            // Other transports are recognised by the protocol dissectors of later work.
            _ => self.finish(shared),
        }
    }

    fn on_udp(&mut self, side: Side, payload: &[u8], server_port: u16, shared: &mut DissectShared) {
        if payload.is_empty() {
            return;
        }
        if self.on_media(payload, server_port, shared) {
            return;
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
                self.finish(shared);
                return;
            }
        }
        self.on_quic(side, payload, shared);
    }

    /// Reserves a handshake buffer from the shared budget; when it is spent, the flow's
    /// handshake stays unread (and counted), and inspection stops.
    fn reserve(&mut self, shared: &mut DissectShared) -> Option<usize> {
        let reserved = shared.budget.reserve();
        if reserved.is_none() {
            self.incomplete_handshake = true;
            self.finish(shared);
        }
        reserved
    }

    /// Gives a buffer's reservation back and leaves the stage `Probing`.
    fn release(&mut self, shared: &mut DissectShared) {
        if let Stage::Buffering(_, reserved)
        | Stage::Quic(_, reserved)
        | Stage::ServerFlight(_, reserved, _) = &self.stage
        {
            shared.budget.give_back(*reserved);
        }
        self.stage = Stage::Probing;
    }

    /// Stops inspecting and gives the buffer's reservation back. Called when the flow ends too.
    pub fn finish(&mut self, shared: &mut DissectShared) {
        if let Stage::Buffering(buf, _) = &self.stage {
            // The flow ended mid-ClientHello (capture cut, lost segment): still TLS.
            if looks_like_client_hello(buf.contiguous()) {
                self.upgrade_to_tls();
                self.incomplete_handshake |= self.client_hello.is_none();
            }
        }
        self.release(shared);
        self.stage = Stage::Done;
    }
}

/// Text kept from a header for reports and rules: at most 256 bytes of it.
fn bounded_text(bytes: &[u8]) -> String {
    lossy(bytes.get(..bytes.len().min(256)).unwrap_or_default())
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
