//! The plaintext starts of TCP conversations: HTTP/1.x requests (Host, CONNECT target), mail
//! server banners (IMAP, POP3, SMTP) and SOCKS connect requests. These decide `app_protocol`
//! and what a proxy was asked to reach; a TLS ClientHello may follow (STARTTLS, CONNECT, SOCKS).
//! Hand-written: only the first line or header block is read, bounded, borrowed, never copied.

use super::field::{be16, prefixed8};

/// How far into a segment a request line and headers are searched.
const MAX_HEAD: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Banner {
    Imap,
    Pop3,
    Smtp,
}

/// A server's greeting: `* OK` (IMAP), `+OK` (POP3), `220 ` with SMTP in it (SMTP; a bare 220 is
/// also FTP's, so SMTP needs its name in the banner or an SMTP port).
pub fn server_banner(payload: &[u8], server_port: u16) -> Option<Banner> {
    let line = first_line(payload)?;
    if line.starts_with(b"* OK") || line.starts_with(b"* PREAUTH") {
        return Some(Banner::Imap);
    }
    if line.starts_with(b"+OK") {
        return Some(Banner::Pop3);
    }
    if line.starts_with(b"220") {
        let says_smtp = contains_ignore_case(line, b"SMTP");
        if says_smtp || matches!(server_port, 25 | 465 | 587 | 2525) {
            return Some(Banner::Smtp);
        }
    }
    None
}

/// A client's first mail command when the banner was missed (capture started late).
pub fn client_mail_command(payload: &[u8]) -> Option<Banner> {
    let line = first_line(payload)?;
    let word = line.split(|b| *b == b' ').next()?;
    const SMTP: [&[u8]; 3] = [b"EHLO", b"HELO", b"STARTTLS"];
    const POP3: [&[u8]; 4] = [b"STLS", b"CAPA", b"USER", b"AUTH"];
    if SMTP.iter().any(|c| word.eq_ignore_ascii_case(c)) {
        return Some(Banner::Smtp);
    }
    if POP3.iter().any(|c| word.eq_ignore_ascii_case(c)) {
        return Some(Banner::Pop3);
    }
    // IMAP commands carry a tag first: "a1 STARTTLS", "A001 CAPABILITY".
    let mut words = line.split(|b| *b == b' ');
    let (_, command) = (words.next()?, words.next()?);
    let command = command.strip_suffix(b"\r").unwrap_or(command);
    const IMAP: [&[u8]; 3] = [b"STARTTLS", b"CAPABILITY", b"LOGIN"];
    IMAP.iter()
        .any(|c| command.eq_ignore_ascii_case(c))
        .then_some(Banner::Imap)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    /// The Host header, when the segment holds it.
    pub host: Option<&'a [u8]>,
    /// The User-Agent header (a CONNECT through a proxy carries the client's too).
    pub user_agent: Option<&'a [u8]>,
}

impl<'a> HttpRequest<'a> {
    pub fn is_connect(&self) -> bool {
        self.method == b"CONNECT"
    }

    /// The authority and the path of an absolute-form target (`http://host[:port]/path`,
    /// RFC 9112 3.2.2), which a client sends only to a proxy.
    fn absolute_parts(&self) -> Option<(&'a [u8], &'a [u8])> {
        let scheme = self.target.get(..7)?;
        if !scheme.eq_ignore_ascii_case(b"http://") {
            return None;
        }
        let rest = self.target.get(7..)?;
        let end = rest
            .iter()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        // Credentials before an `@` are not part of the host.
        let host = match authority.iter().rposition(|b| *b == b'@') {
            Some(at) => authority.get(at + 1..)?,
            None => authority,
        };
        (!host.is_empty()).then_some((host, path))
    }

    /// `host:port` of an absolute-form target (port 80 when the URI names none).
    pub fn absolute_target(&self) -> Option<String> {
        let (host, _) = self.absolute_parts()?;
        let host = String::from_utf8_lossy(host);
        let has_port = match host.rsplit_once(':') {
            Some((h, p)) => {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && {
                    // `[v6]` alone has colons inside the brackets only.
                    !h.ends_with('[') && (h.ends_with(']') || !h.contains(':'))
                }
            }
            None => false,
        };
        Some(if has_port {
            host.into_owned()
        } else {
            format!("{host}:80")
        })
    }

    /// Path of an absolute-form target, without its query (`/` when it has none).
    pub fn absolute_path(&self) -> Option<&'a [u8]> {
        let (_, path) = self.absolute_parts()?;
        let path = path.split(|b| *b == b'?' || *b == b'#').next()?;
        Some(if path.is_empty() { b"/" } else { path })
    }
}

/// An HTTP/1.x request line (and Host header) at the start of a client stream.
pub fn http_request(payload: &[u8]) -> Option<HttpRequest<'_>> {
    let head = payload.get(..payload.len().min(MAX_HEAD))?;
    let line = first_line(head)?;
    let mut parts = line.splitn(3, |b| *b == b' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    // Any upper-case token is a method (WebDAV adds MKCOL, PROPFIND, LOCK...); the version
    // field keeps this strict.
    let is_method = (3..=16).contains(&method.len()) && method.iter().all(u8::is_ascii_uppercase);
    if !is_method || !version.starts_with(b"HTTP/1.") || target.is_empty() {
        return None;
    }
    let host = header(head, b"host");
    let user_agent = header(head, b"user-agent");
    Some(HttpRequest {
        method,
        target,
        host,
        user_agent,
    })
}

/// The value of header `name` (lower case) in a message head: the lines after the first, up to
/// the blank line. Trimmed, borrowed.
pub fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let head = head.get(..head.len().min(MAX_HEAD))?;
    head.split(|b| *b == b'\n')
        .skip(1)
        .take_while(|l| !l.is_empty() && *l != b"\r")
        .find_map(|l| {
            let (key, value) = split_once(l, b':')?;
            trim(key).eq_ignore_ascii_case(name).then(|| trim(value))
        })
}

/// The program a SIP message names: `User-Agent` in requests, `Server` in responses.
pub fn sip_user_agent(payload: &[u8]) -> Option<&[u8]> {
    header(payload, b"user-agent").or_else(|| header(payload, b"server"))
}

/// True for an HTTP/1.x status line.
pub fn http_response(payload: &[u8]) -> bool {
    payload.starts_with(b"HTTP/1.")
}

/// A SIP request (`INVITE sip:bob@example.com SIP/2.0`) or status line (`SIP/2.0 200 OK`).
pub fn sip_message(payload: &[u8]) -> bool {
    // Every SIP message starts with an upper-case letter (a method, or `SIP/2.0`): most
    // datagrams are refused here without looking for the end of a line.
    if !payload.first().is_some_and(u8::is_ascii_uppercase) {
        return false;
    }
    let Some(line) = first_line(payload) else {
        return false;
    };
    if line.starts_with(b"SIP/2.0 ") {
        return true;
    }
    let mut parts = line.splitn(3, |b| *b == b' ');
    let (Some(method), Some(uri), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    method.iter().all(u8::is_ascii_uppercase)
        && !method.is_empty()
        && (uri.starts_with(b"sip:") || uri.starts_with(b"sips:") || uri.starts_with(b"tel:"))
        && version == b"SIP/2.0"
}

/// The destination a SOCKS client asks for: SOCKS4/4a CONNECT or a SOCKS5 CONNECT request
/// (the message after the method negotiation). Returns `host:port` text parts.
pub fn socks_connect(payload: &[u8]) -> Option<(SocksHost<'_>, u16)> {
    match payload {
        // SOCKS4: ver 4, cmd 1, port, IPv4, user id NUL; 4a puts 0.0.0.x and a name after it.
        [4, 1, p0, p1, a, b, c, d, rest @ ..] => {
            let port = u16::from_be_bytes([*p0, *p1]);
            let user_end = rest.iter().position(|x| *x == 0)?;
            if *a == 0 && *b == 0 && *c == 0 && *d != 0 {
                let name = rest.get(user_end + 1..)?;
                let name = name.get(..name.iter().position(|x| *x == 0)?)?;
                return Some((SocksHost::Name(name), port));
            }
            Some((SocksHost::V4([*a, *b, *c, *d]), port))
        }
        // SOCKS5 request: ver 5, cmd 1 (CONNECT), reserved 0, address type, address, port.
        [5, 1, 0, kind, rest @ ..] => {
            let (host, after) = match kind {
                1 => (
                    SocksHost::V4(rest.get(..4)?.try_into().ok()?),
                    rest.get(4..)?,
                ),
                3 => {
                    let name = prefixed8(rest, 0)?;
                    (SocksHost::Name(name), rest.get(1 + name.len()..)?)
                }
                4 => (
                    SocksHost::V6(rest.get(..16)?.try_into().ok()?),
                    rest.get(16..)?,
                ),
                _ => return None,
            };
            if after.len() != 2 {
                return None;
            }
            Some((host, be16(after, 0)?))
        }
        _ => None,
    }
}

/// True for a SOCKS5 method negotiation greeting (ver 5, n methods, n method bytes).
pub fn socks5_greeting(payload: &[u8]) -> bool {
    match payload {
        [5, n, methods @ ..] => *n > 0 && methods.len() == usize::from(*n),
        _ => false,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocksHost<'a> {
    Name(&'a [u8]),
    V4([u8; 4]),
    V6([u8; 16]),
}

fn first_line(payload: &[u8]) -> Option<&[u8]> {
    let head = payload.get(..payload.len().min(MAX_HEAD))?;
    let end = head.iter().position(|b| *b == b'\n')?;
    let line = head.get(..end)?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

fn split_once(bytes: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|b| *b == sep)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    bytes.get(start..end).unwrap_or_default()
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_requests() {
        let r = http_request(
            b"GET /a HTTP/1.1\r\nUser-Agent: x\r\nHost:  outlook.office365.com \r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (r.method, r.target, r.host),
            (&b"GET"[..], &b"/a"[..], Some(&b"outlook.office365.com"[..]))
        );
        assert_eq!(r.user_agent, Some(&b"x"[..]));
        let c = http_request(
            b"CONNECT teams.microsoft.com:443 HTTP/1.1\r\nHost: teams.microsoft.com:443\r\n\r\n",
        )
        .unwrap();
        assert!(c.is_connect());
        assert_eq!(c.absolute_target(), None);
        let proxied = |line: &[u8]| {
            let r = http_request(line).unwrap();
            (r.absolute_target(), r.absolute_path().map(|p| p.to_vec()))
        };
        assert_eq!(
            proxied(b"GET http://outlook.office365.com/owa/?x=1 HTTP/1.1\r\n\r\n"),
            (
                Some("outlook.office365.com:80".to_owned()),
                Some(b"/owa/".to_vec())
            )
        );
        assert_eq!(
            proxied(b"GET HTTP://u:p@a.example:8080 HTTP/1.1\r\n\r\n"),
            (Some("a.example:8080".to_owned()), Some(b"/".to_vec()))
        );
        assert_eq!(
            proxied(b"GET http://[2001:db8::1]/ HTTP/1.1\r\n\r\n").0,
            Some("[2001:db8::1]:80".to_owned())
        );
        assert_eq!(proxied(b"GET http:// HTTP/1.1\r\n\r\n").0, None);
        assert_eq!(proxied(b"GET /index.html HTTP/1.1\r\n\r\n").0, None);
        assert_eq!(c.target, b"teams.microsoft.com:443");
        assert!(http_request(b"GET / SIP/2.0\r\n").is_none());
        assert!(http_request(b"\x16\x03\x01\x00").is_none());
        assert!(http_request(b"GET / HTTP/1.1").is_none(), "no line end yet");
        assert!(http_response(b"HTTP/1.1 200 Connection established\r\n"));
        assert!(http_request(b"MKCOL /webdav HTTP/1.1\r\n").is_some());
        assert!(http_request(b"get / HTTP/1.1\r\n").is_none());
        assert!(sip_message(
            b"REGISTER sip:example.com SIP/2.0\r\nVia: x\r\n"
        ));
        assert!(sip_message(b"SIP/2.0 401 Unauthorized\r\n"));
        assert_eq!(
            sip_user_agent(b"REGISTER sip:a SIP/2.0\r\nUser-Agent: UCCAPI/16.0 OC/16.0\r\n\r\n"),
            Some(&b"UCCAPI/16.0 OC/16.0"[..])
        );
        assert_eq!(
            sip_user_agent(b"SIP/2.0 200 OK\r\nServer: RTC/7.0\r\n\r\nUser-Agent: body"),
            Some(&b"RTC/7.0"[..])
        );
        assert!(!sip_message(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn banners_and_commands() {
        assert_eq!(
            server_banner(b"* OK [CAPABILITY IMAP4rev1] ready\r\n", 143),
            Some(Banner::Imap)
        );
        assert_eq!(
            server_banner(b"+OK POP3 ready\r\n", 110),
            Some(Banner::Pop3)
        );
        assert_eq!(
            server_banner(b"220 mx.example ESMTP Postfix\r\n", 2500),
            Some(Banner::Smtp)
        );
        assert_eq!(server_banner(b"220 ProFTPD ready\r\n", 21), None);
        assert_eq!(server_banner(b"220 ready\r\n", 587), Some(Banner::Smtp));
        assert_eq!(client_mail_command(b"EHLO client\r\n"), Some(Banner::Smtp));
        assert_eq!(client_mail_command(b"STLS\r\n"), Some(Banner::Pop3));
        assert_eq!(client_mail_command(b"a1 STARTTLS\r\n"), Some(Banner::Imap));
        assert_eq!(client_mail_command(b"hello\r\n"), None);
    }

    #[test]
    fn socks_requests() {
        let mut v5 = vec![5, 1, 0, 3, 15];
        v5.extend_from_slice(b"www.youtube.com");
        v5.extend_from_slice(&443u16.to_be_bytes());
        assert_eq!(
            socks_connect(&v5),
            Some((SocksHost::Name(b"www.youtube.com"), 443))
        );
        assert_eq!(
            socks_connect(&[5, 1, 0, 1, 10, 0, 0, 1, 0, 80]),
            Some((SocksHost::V4([10, 0, 0, 1]), 80))
        );
        let mut v4a = vec![4, 1, 1, 187, 0, 0, 0, 9, b'u', 0];
        v4a.extend_from_slice(b"example.org\0");
        assert_eq!(
            socks_connect(&v4a),
            Some((SocksHost::Name(b"example.org"), 443))
        );
        assert!(socks5_greeting(&[5, 1, 0]));
        assert!(!socks5_greeting(&[5, 2, 0]));
        for cut in 0..v5.len() {
            let _ = socks_connect(&v5[..cut]);
        }
    }
}
