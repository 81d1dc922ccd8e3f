//! The application protocols a flow is named by, from its payload or (as a guess) its port.

use std::fmt;

use crate::wire::plaintext::Banner;
use crate::wire::vpn::Infra;
use crate::wire::Transport;

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
    /// The protocol a flow is shown with and how it was decided: what the payload showed
    /// (`payload`), else a guess from the server port (`port`), else unknown (no source).
    pub fn detected(
        from_payload: AppProtocol,
        transport: Transport,
        server_port: u16,
    ) -> (AppProtocol, Option<&'static str>) {
        match from_payload {
            AppProtocol::Unknown => match AppProtocol::guess_from_port(transport, server_port) {
                Some(guess) => (guess, Some("port")),
                None => (AppProtocol::Unknown, None),
            },
            app => (app, Some("payload")),
        }
    }

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
