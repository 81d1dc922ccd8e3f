//! TLS ClientHello: record-layer defragmentation (a ClientHello may span several records) and
//! extraction of the server name, ALPN list and offered versions with `tls-parser`.
//!
//! The caller hands the start of the client's byte stream; the answer distinguishes "need more
//! bytes" from "this is not TLS", so a split ClientHello waits and a non-TLS stream stops early.

use std::fmt;

use super::ja4;
use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_message_handshake, TlsExtension, TlsMessage,
    TlsMessageHandshake,
};

const RECORD_HEADER: usize = 5;
const CONTENT_HANDSHAKE: u8 = 0x16;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// RFC 8446 5.1: a plaintext record carries at most 2^14 bytes; allow the 2^14+2048 of TLS 1.2
/// compressed records so odd stacks are not cut off.
const MAX_RECORD: usize = (1 << 14) + 2048;

/// A TLS protocol version as carried on the wire (0x0303 = TLS 1.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    /// RFC 8701 GREASE values (0x?a?a) are noise, not versions.
    pub fn is_grease(self) -> bool {
        self.0 & 0x0f0f == 0x0a0a && (self.0 >> 8) == (self.0 & 0xff)
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0x0300 => f.write_str("ssl3"),
            0x0301 => f.write_str("1.0"),
            0x0302 => f.write_str("1.1"),
            0x0303 => f.write_str("1.2"),
            0x0304 => f.write_str("1.3"),
            0x0002 => f.write_str("ssl2"),
            v if v >> 8 == 0x7f => write!(f, "1.3-draft{}", v & 0xff),
            v => write!(f, "0x{v:04x}"),
        }
    }
}

/// What a ClientHello revealed. Owned: it outlives the packet that completed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// supported_versions when present (GREASE removed), else the legacy version.
    pub offered_versions: Vec<TlsVersion>,
    pub legacy_version: TlsVersion,
    /// JA4 fingerprint as for TLS over TCP (`t...`); QUIC callers swap the first letter.
    pub ja4: String,
    /// JA4 raw form (`ja4_r`): the same with the lists in clear.
    pub ja4_raw: String,
    /// The client offered Encrypted Client Hello (extension 0xfe0d).
    pub ech: bool,
}

impl ClientHello {
    /// Marks the fingerprints as taken from a QUIC Initial (`q` instead of `t`).
    pub fn set_ja4_transport(&mut self, transport: char) {
        for text in [&mut self.ja4, &mut self.ja4_raw] {
            if !text.is_empty() {
                text.replace_range(..1, transport.encode_utf8(&mut [0; 4]));
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Looks like TLS so far; the ClientHello is not complete yet.
    NeedMore,
    /// The stream does not start with a TLS handshake record.
    NotTls,
    /// TLS, but the first handshake message is not a ClientHello (or it is malformed).
    NotClientHello,
    /// The ClientHello needs more bytes than the caller allows.
    TooLarge,
    ClientHello(ClientHello),
}

/// Examines the start of a client byte stream. `scratch` is reused between calls to collect
/// handshake bytes spread over records; `max_handshake` bounds it; `ja4` remembers the
/// fingerprints computed before.
pub fn probe_client_hello(
    stream: &[u8],
    scratch: &mut Vec<u8>,
    max_handshake: usize,
    ja4: &mut ja4::Ja4Memo,
) -> Probe {
    match stream.first() {
        None => return Probe::NeedMore,
        Some(&CONTENT_HANDSHAKE) => {}
        Some(_) => return Probe::NotTls,
    }
    // Record version: SSL 3.0 .. TLS 1.3 all use major 3 and a minor of at most 4.
    if let (Some(&major), Some(&minor)) = (stream.get(1), stream.get(2)) {
        if major != 3 || minor > 4 {
            return Probe::NotTls;
        }
    }
    scratch.clear();
    let mut pos = 0usize;
    loop {
        let Some(header) = stream.get(pos..pos + RECORD_HEADER) else {
            return Probe::NeedMore;
        };
        let (kind, len) = match header {
            [kind, _, _, hi, lo] => (*kind, usize::from(u16::from_be_bytes([*hi, *lo]))),
            _ => return Probe::NeedMore,
        };
        if kind != CONTENT_HANDSHAKE || len == 0 || len > MAX_RECORD {
            return if pos == 0 && len > MAX_RECORD {
                Probe::NotTls
            } else {
                Probe::NotClientHello
            };
        }
        let body_start = pos + RECORD_HEADER;
        let available = stream.get(body_start..).unwrap_or_default();
        let take = available.len().min(len);
        scratch.extend_from_slice(available.get(..take).unwrap_or_default());
        if let Some(answer) = judge_handshake(scratch, max_handshake, ja4) {
            return answer;
        }
        if take < len {
            return Probe::NeedMore;
        }
        pos = body_start + len;
    }
}

/// A TLS record header (change cipher spec, alert, handshake or application data; SSL 3.0 to
/// TLS 1.3; a length within the record limit): evidence of TLS when the ClientHello was missed
/// (capture started mid-connection).
pub fn looks_like_record(bytes: &[u8]) -> bool {
    match bytes {
        [20..=23, 3, 0..=4, hi, lo, ..] => {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            (1..=MAX_RECORD).contains(&len)
        }
        _ => false,
    }
}

/// Examines handshake messages without a record layer (the QUIC CRYPTO stream).
pub fn probe_handshake(handshake: &[u8], max_handshake: usize, ja4: &mut ja4::Ja4Memo) -> Probe {
    judge_handshake(handshake, max_handshake, ja4).unwrap_or(Probe::NeedMore)
}

/// `Some` once the collected handshake bytes decide the question, `None` to read on.
fn judge_handshake(
    handshake: &[u8],
    max_handshake: usize,
    ja4: &mut ja4::Ja4Memo,
) -> Option<Probe> {
    let msg_type = *handshake.first()?;
    if msg_type != HANDSHAKE_CLIENT_HELLO {
        return Some(Probe::NotClientHello);
    }
    let len_bytes = handshake.get(1..4)?;
    let body_len = len_bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    let total = body_len + 4;
    if total > max_handshake {
        return Some(Probe::TooLarge);
    }
    let message = handshake.get(..total)?;
    Some(match read_client_hello(message, Some(ja4)) {
        Some(hello) => Probe::ClientHello(hello),
        None => Probe::NotClientHello,
    })
}

/// Parses one complete handshake message that must be a ClientHello.
pub fn parse_client_hello(message: &[u8]) -> Option<ClientHello> {
    read_client_hello(message, None)
}

/// [`parse_client_hello`], its JA4 taken from `memo` when it has seen the same lists.
fn read_client_hello(message: &[u8], memo: Option<&mut ja4::Ja4Memo>) -> Option<ClientHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
        parse_tls_message_handshake(message)
    else {
        return None;
    };
    let legacy_version = TlsVersion(ch.version.0);
    let mut hello = ClientHello {
        legacy_version,
        ..ClientHello::default()
    };
    let mut supported = None;
    let mut rest = ch.ext.unwrap_or_default();
    // One extension at a time: a malformed late extension must not hide the SNI before it.
    while !rest.is_empty() {
        let Ok((next, ext)) = parse_tls_client_hello_extension(rest) else {
            break;
        };
        rest = next;
        match ext {
            TlsExtension::SNI(names) => {
                if let Some((_, name)) = names.first() {
                    hello.sni = Some(String::from_utf8_lossy(name).into_owned());
                }
            }
            TlsExtension::ALPN(protocols) => {
                hello.alpn = protocols
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
            }
            TlsExtension::SupportedVersions(versions) => {
                supported = Some(
                    versions
                        .iter()
                        .map(|v| TlsVersion(v.0))
                        .filter(|v| !v.is_grease())
                        .collect::<Vec<_>>(),
                );
            }
            _ => {}
        }
    }
    hello.offered_versions = supported.unwrap_or_else(|| vec![legacy_version]);
    let mut input = ja4::Ja4Input {
        ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
        legacy_version: legacy_version.0,
        ..ja4::Ja4Input::default()
    };
    ja4::scan_extensions(ch.ext.unwrap_or_default(), &mut input);
    input.supported_versions = supported_raw(ch.ext.unwrap_or_default());
    hello.ech = input.extensions.contains(&0xfe0d);
    let (fingerprint, raw) = match memo {
        Some(memo) => memo.ja4('t', &input),
        None => ja4::ja4('t', &input),
    };
    hello.ja4 = fingerprint;
    hello.ja4_raw = raw;
    Some(hello)
}

/// The (type, value) pairs of a raw extensions block (2-byte type, 2-byte length, value), as
/// ClientHello and ServerHello carry them; ends at the first extension that does not fit.
pub fn raw_extensions(block: &[u8]) -> RawExtensions<'_> {
    RawExtensions { rest: block }
}

pub struct RawExtensions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RawExtensions<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let kind = u16::from_be_bytes([*self.rest.first()?, *self.rest.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*self.rest.get(2)?, *self.rest.get(3)?]));
        let value = self.rest.get(4..4 + len)?;
        self.rest = self.rest.get(4 + len..).unwrap_or_default();
        Some((kind, value))
    }
}

/// The supported_versions list (extension 43) as sent, GREASE included (JA4 filters it).
fn supported_raw(block: &[u8]) -> Vec<u16> {
    let Some((_, value)) = raw_extensions(block).find(|(kind, _)| *kind == 0x002b) else {
        return Vec::new();
    };
    let list_len = value.first().map_or(0, |l| usize::from(*l));
    value
        .get(1..1 + list_len)
        .unwrap_or_default()
        .chunks_exact(2)
        .filter_map(|c| Some(u16::from_be_bytes([*c.first()?, *c.get(1)?])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello for "outlook.office365.com" with ALPN h2,http/1.1 and
    /// supported_versions 1.3,1.2, built field by field.
    pub(crate) fn client_hello_record(sni: &str) -> Vec<u8> {
        let mut ext = Vec::new();
        // server_name
        let name = sni.as_bytes();
        let mut sn = Vec::new();
        sn.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        sn.push(0);
        sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sn.extend_from_slice(name);
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sn);
        // ALPN
        let mut alpn = Vec::new();
        for p in ["h2", "http/1.1"] {
            alpn.push(p.len() as u8);
            alpn.extend_from_slice(p.as_bytes());
        }
        ext.extend_from_slice(&[0, 16]);
        ext.extend_from_slice(&((alpn.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(alpn.len() as u16).to_be_bytes());
        ext.extend_from_slice(&alpn);
        // supported_versions: GREASE, 1.3, 1.2
        ext.extend_from_slice(&[0, 43, 0, 7, 6, 0x3a, 0x3a, 3, 4, 3, 3]);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn full_client_hello() {
        let rec = client_hello_record("outlook.office365.com");
        let mut scratch = Vec::new();
        let mut memo = ja4::Ja4Memo::default();
        let Probe::ClientHello(ch) = probe_client_hello(&rec, &mut scratch, 65536, &mut memo)
        else {
            panic!("no hello")
        };
        assert_eq!(ch.sni.as_deref(), Some("outlook.office365.com"));
        assert_eq!(ch.alpn, vec!["h2", "http/1.1"]);
        let v: Vec<String> = ch.offered_versions.iter().map(|v| v.to_string()).collect();
        assert_eq!(v, vec!["1.3", "1.2"]);
    }

    #[test]
    fn every_prefix_needs_more_and_never_panics() {
        let rec = client_hello_record("a.example");
        let mut scratch = Vec::new();
        let mut memo = ja4::Ja4Memo::default();
        for cut in 0..rec.len() {
            assert_eq!(
                probe_client_hello(&rec[..cut], &mut scratch, 65536, &mut memo),
                Probe::NeedMore,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn hello_split_over_two_records() {
        let rec = client_hello_record("teams.microsoft.com");
        let hs = &rec[5..];
        let (a, b) = hs.split_at(30);
        let mut two = vec![0x16, 3, 1];
        two.extend_from_slice(&(a.len() as u16).to_be_bytes());
        two.extend_from_slice(a);
        two.extend_from_slice(&[0x16, 3, 1]);
        two.extend_from_slice(&(b.len() as u16).to_be_bytes());
        two.extend_from_slice(b);
        let mut scratch = Vec::new();
        let mut memo = ja4::Ja4Memo::default();
        let Probe::ClientHello(ch) = probe_client_hello(&two, &mut scratch, 65536, &mut memo)
        else {
            panic!("no hello")
        };
        assert_eq!(ch.sni.as_deref(), Some("teams.microsoft.com"));
    }

    #[test]
    fn non_tls_and_oversize() {
        let mut scratch = Vec::new();
        let mut memo = ja4::Ja4Memo::default();
        assert_eq!(
            probe_client_hello(b"GET / HTTP/1.1\r\n", &mut scratch, 65536, &mut memo),
            Probe::NotTls
        );
        let rec = client_hello_record("a.example");
        assert_eq!(
            probe_client_hello(&rec, &mut scratch, 20, &mut memo),
            Probe::TooLarge
        );
        // A handshake record whose first message is a ServerHello.
        let mut sh = rec.clone();
        sh[5] = 2;
        assert_eq!(
            probe_client_hello(&sh, &mut scratch, 65536, &mut memo),
            Probe::NotClientHello
        );
    }

    #[test]
    fn grease_is_recognised() {
        assert!(TlsVersion(0x1a1a).is_grease());
        assert!(!TlsVersion(0x0303).is_grease());
    }
}
