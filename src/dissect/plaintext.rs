//! Plaintext starts of TCP conversations: HTTP requests (Host, CONNECT and absolute-URI
//! proxy requests), SOCKS, mail banners and commands, SIP, STUN over TCP; then a ClientHello
//! may follow (STARTTLS, CONNECT, SOCKS).

use super::{
    bounded_text, lossy, AppProtocol, DissectShared, FlowDissect, Stage, MAX_PLAINTEXT_SEGMENTS,
};
use crate::flow::{Side, StreamBuffer};
use crate::wire::media::{stun, Media, MediaPacket};
use crate::wire::plaintext::{
    client_mail_command, http_request, http_response, server_banner, sip_message, sip_user_agent,
    socks_connect, SocksHost,
};
use crate::wire::tls::{looks_like_client_hello, looks_like_record};
use crate::wire::vpn;

impl FlowDissect {
    /// Reads what a plaintext start says (HTTP request, proxy request, mail banner or command)
    /// and waits for a ClientHello unless the protocol cannot upgrade (plain HTTP requests).
    pub(super) fn plaintext_start(
        &mut self,
        side: Side,
        bytes: &[u8],
        server_port: u16,
        shared: &mut DissectShared,
    ) {
        self.release(shared);
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
    pub(super) fn await_tls(
        &mut self,
        seq: u32,
        payload: &[u8],
        server_port: u16,
        shared: &mut DissectShared,
    ) {
        if looks_like_client_hello(payload) {
            let Some(reserved) = self.reserve(shared) else {
                return;
            };
            let buf = StreamBuffer::new(shared.budget.max_handshake);
            self.stage = Stage::Buffering(Box::new(buf.into()), reserved);
            self.push_and_probe(seq, payload, server_port, shared);
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
            _ => self.finish(shared),
        }
    }

    /// A plaintext protocol was seen before the current TLS attempt.
    pub(super) fn after_plaintext(&self) -> bool {
        self.app != AppProtocol::Unknown || self.via_proxy
    }
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
