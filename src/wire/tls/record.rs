//! TLS framing both sides read, with every field offset in one place: the record layer (5-byte
//! header, content type, version, length) walked by [`records`], the protocol version type, and
//! the extension list of a hello (2-byte type, 2-byte length, value) walked by
//! [`raw_extensions`]. The ClientHello and server-flight readers are loops over these.

use std::fmt;

use super::super::field::{be16, is_grease};

/// Record header: content type, version (2), length (2).
pub const RECORD_HEADER: usize = 5;
/// RFC 8446 5.1: a plaintext record carries at most 2^14 bytes; allow the 2^14+2048 of TLS 1.2
/// compressed records so odd stacks are not cut off.
pub const MAX_RECORD: usize = (1 << 14) + 2048;

/// Record content types (RFC 8446 5.1).
pub mod content {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
}

/// Handshake message types (RFC 8446 4) read here.
pub mod handshake {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const CERTIFICATE: u8 = 11;
}

/// Extension types (IANA TLS ExtensionType registry) read here.
pub mod extension {
    pub const SERVER_NAME: u16 = 0x0000;
    pub const SIGNATURE_ALGORITHMS: u16 = 0x000d;
    pub const ALPN: u16 = 0x0010;
    pub const SUPPORTED_VERSIONS: u16 = 0x002b;
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
}

/// A TLS protocol version as carried on the wire (0x0303 = TLS 1.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    /// RFC 8701 GREASE values (0x?a?a) are noise, not versions.
    pub fn is_grease(self) -> bool {
        is_grease(self.0)
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

/// One record as far as the stream holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: u8,
    /// Major version byte of the record header (3 for SSL 3.0 to TLS 1.3).
    pub major: u8,
    /// The length the header declares.
    pub len: usize,
    /// The body as captured: `len` bytes, or fewer when the stream ends inside the record.
    pub body: &'a [u8],
}

impl Record<'_> {
    pub fn is_complete(&self) -> bool {
        self.body.len() == self.len
    }
}

/// The records a byte stream starts with, each whose 5-byte header is there; the walk ends
/// after a record cut short by the end of the stream. Headers are not judged: callers decide
/// what content types and lengths they accept.
pub fn records(stream: &[u8]) -> Records<'_> {
    Records { stream, pos: 0 }
}

pub struct Records<'a> {
    stream: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let header = self
            .stream
            .get(self.pos..self.pos.checked_add(RECORD_HEADER)?)?;
        let (kind, major) = (*header.first()?, *header.get(1)?);
        let len = usize::from(be16(header, 3)?);
        let body_start = self.pos + RECORD_HEADER;
        let available = self.stream.get(body_start..).unwrap_or_default();
        let body = available
            .get(..len.min(available.len()))
            .unwrap_or_default();
        self.pos = body_start.saturating_add(len);
        Some(Record {
            kind,
            major,
            len,
            body,
        })
    }
}

/// A handshake record header followed by a ClientHello type byte: the start of a client's TLS
/// stream (enough to keep buffering it).
pub fn looks_like_client_hello(stream: &[u8]) -> bool {
    matches!(stream, [0x16, 3, minor, _, _, 1, ..] if *minor <= 4)
}

/// A TLS record header (change cipher spec, alert, handshake or application data; SSL 3.0 to
/// TLS 1.3; a length within the record limit): evidence of TLS when the ClientHello was missed
/// (capture started mid-connection).
pub fn looks_like_record(bytes: &[u8]) -> bool {
    match bytes {
        [content::CHANGE_CIPHER_SPEC..=content::APPLICATION_DATA, 3, 0..=4, hi, lo, ..] => {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            (1..=MAX_RECORD).contains(&len)
        }
        _ => false,
    }
}

/// The (type, value) pairs of a raw extensions block, as ClientHello and ServerHello carry
/// them; ends at the first extension that does not fit.
pub fn raw_extensions(block: &[u8]) -> RawExtensions<'_> {
    RawExtensions { rest: block }
}

pub struct RawExtensions<'a> {
    rest: &'a [u8],
}

impl<'a> RawExtensions<'a> {
    /// The bytes not walked yet, starting with the next extension's type field.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for RawExtensions<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let kind = be16(self.rest, 0)?;
        let len = usize::from(be16(self.rest, 2)?);
        let value = self.rest.get(4..4 + len)?;
        self.rest = self.rest.get(4 + len..).unwrap_or_default();
        Some((kind, value))
    }
}

/// Builds records the way a peer sends them (the client and server tests).
#[cfg(test)]
pub(crate) mod testing {
    /// One handshake message of `msg_type` with `body`, in one handshake record of version
    /// 3.`minor`.
    pub(crate) fn handshake_record(minor: u8, msg_type: u8, body: &[u8]) -> Vec<u8> {
        let mut message = vec![msg_type];
        message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        message.extend_from_slice(body);
        let mut record = vec![super::content::HANDSHAKE, 3, minor];
        record.extend_from_slice(&(message.len() as u16).to_be_bytes());
        record.extend_from_slice(&message);
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_end_after_a_cut_one() {
        let stream = [22, 3, 1, 0, 2, 9, 9, 23, 3, 3, 0, 4, 1];
        let all: Vec<Record<'_>> = records(&stream).collect();
        assert_eq!(all.len(), 2);
        assert!(all[0].is_complete() && all[0].body == [9, 9]);
        assert_eq!((all[1].kind, all[1].len, all[1].body), (23, 4, &[1u8][..]));
        assert!(!all[1].is_complete());
        assert_eq!(records(&stream[..4]).count(), 0);
    }

    #[test]
    fn extensions_and_record_headers() {
        let block = [0, 0, 0, 1, 7, 0, 0x10, 0, 0, 0xff];
        let mut walk = raw_extensions(&block);
        assert_eq!(walk.next(), Some((0, &[7u8][..])));
        assert_eq!(walk.rest(), &block[5..]);
        assert_eq!(walk.next(), Some((0x10, &[][..])));
        assert_eq!(walk.next(), None);
        assert!(looks_like_record(&[23, 3, 3, 0, 20]));
        assert!(!looks_like_record(&[23, 3, 5, 0, 20]));
        assert!(!looks_like_record(&[24, 3, 3, 0, 20]));
    }

    #[test]
    fn grease_is_recognised() {
        assert!(TlsVersion(0x1a1a).is_grease());
        assert!(!TlsVersion(0x0303).is_grease());
    }
}
