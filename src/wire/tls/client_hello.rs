//! The ClientHello: collecting its handshake bytes from records (a ClientHello may span
//! several) or from QUIC's CRYPTO stream, then reading it in one walk over its extensions that
//! fills both what the report shows (server name, ALPN, offered versions, ECH) and the lists
//! JA4 hashes. Message framing comes from `tls-parser`, record framing from `record`.
//!
//! The caller hands the start of the client's byte stream; the answer distinguishes "need more
//! bytes" from "this is not TLS", so a split ClientHello waits and a non-TLS stream stops early.

use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_message_handshake, TlsExtension, TlsMessage,
    TlsMessageHandshake,
};

use super::super::field::{be16_list, be24, prefixed16, prefixed8};
use super::ja4::{ja4, Ja4Input, Ja4Memo};
use super::record::{
    content, extension, handshake, raw_extensions, records, TlsVersion, MAX_RECORD, RECORD_HEADER,
};

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
    ja4: &mut Ja4Memo,
) -> Probe {
    match stream.first() {
        None => return Probe::NeedMore,
        Some(&content::HANDSHAKE) => {}
        Some(_) => return Probe::NotTls,
    }
    // Record version: SSL 3.0 .. TLS 1.3 all use major 3 and a minor of at most 4.
    if let (Some(&major), Some(&minor)) = (stream.get(1), stream.get(2)) {
        if major != 3 || minor > 4 {
            return Probe::NotTls;
        }
    }
    scratch.clear();
    for (index, record) in records(stream).enumerate() {
        if record.kind != content::HANDSHAKE || record.len == 0 || record.len > MAX_RECORD {
            return if index == 0 && record.len > MAX_RECORD {
                Probe::NotTls
            } else {
                Probe::NotClientHello
            };
        }
        scratch.extend_from_slice(record.body);
        if let Some(answer) = judge_handshake(scratch, max_handshake, ja4) {
            return answer;
        }
        if !record.is_complete() {
            return Probe::NeedMore;
        }
    }
    Probe::NeedMore
}

/// How far [`probe_client_hello_resuming`] read a client stream that needed more bytes: the
/// next call reads only the records that came since, until the ClientHello can be whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeProgress {
    /// Stream offset just past the last complete record read.
    records_end: usize,
    /// Handshake bytes in those records.
    handshake_bytes: usize,
    /// The ClientHello's length with its 4-byte header; 0 until that header was read.
    needed: usize,
}

/// [`probe_client_hello`] for a stream that grows at its end, the same answers, without
/// reading again what `progress` says was read. Re-reading every record for every segment was
/// quadratic: a 3.7 KB ClientHello sent as 1-byte records in 1-byte segments cost 0.25 s a
/// flow (release build; `scripts/make-hostile.py tiny-records`).
pub fn probe_client_hello_resuming(
    stream: &[u8],
    scratch: &mut Vec<u8>,
    max_handshake: usize,
    ja4: &mut Ja4Memo,
    progress: &mut ProbeProgress,
) -> Probe {
    if progress.needed > 0 && still_short(stream, progress) {
        return Probe::NeedMore;
    }
    let answer = probe_client_hello(stream, scratch, max_handshake, ja4);
    *progress = ProbeProgress::default();
    if answer == Probe::NeedMore {
        // The full probe accepted every record and, with four handshake bytes, a ClientHello
        // header within the limit: from now on only its length can change the answer.
        if let Some(total) = be24(scratch, 1) {
            for record in records(stream).take_while(|r| r.is_complete()) {
                progress.records_end += RECORD_HEADER + record.len;
                progress.handshake_bytes += record.len;
            }
            progress.needed = total + 4;
        }
    }
    answer
}

/// Reads the records after `progress`: true while they cannot complete the ClientHello (the
/// full probe would say `NeedMore`), false when the full probe must answer (a record it would
/// refuse, or enough bytes).
fn still_short(stream: &[u8], progress: &mut ProbeProgress) -> bool {
    let Some(unread) = stream.get(progress.records_end..) else {
        return false;
    };
    for record in records(unread) {
        if record.kind != content::HANDSHAKE || record.len == 0 || record.len > MAX_RECORD {
            return false;
        }
        if !record.is_complete() {
            return progress.handshake_bytes + record.body.len() < progress.needed;
        }
        progress.records_end += RECORD_HEADER + record.len;
        progress.handshake_bytes += record.len;
        if progress.handshake_bytes >= progress.needed {
            return false;
        }
    }
    true
}

/// Examines handshake messages without a record layer (the QUIC CRYPTO stream).
pub fn probe_handshake(handshake: &[u8], max_handshake: usize, ja4: &mut Ja4Memo) -> Probe {
    judge_handshake(handshake, max_handshake, ja4).unwrap_or(Probe::NeedMore)
}

/// `Some` once the collected handshake bytes decide the question, `None` to read on.
fn judge_handshake(handshake: &[u8], max_handshake: usize, ja4: &mut Ja4Memo) -> Option<Probe> {
    let msg_type = *handshake.first()?;
    if msg_type != handshake::CLIENT_HELLO {
        return Some(Probe::NotClientHello);
    }
    let total = be24(handshake, 1)? + 4;
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
fn read_client_hello(message: &[u8], memo: Option<&mut Ja4Memo>) -> Option<ClientHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
        parse_tls_message_handshake(message)
    else {
        return None;
    };
    let legacy_version = TlsVersion(ch.version.0);
    let mut input = Ja4Input {
        ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
        legacy_version: legacy_version.0,
        ..Ja4Input::default()
    };
    let mut named = Named::default();
    walk_extensions(ch.ext.unwrap_or_default(), &mut input, Some(&mut named));
    let (fingerprint, raw) = match memo {
        Some(memo) => memo.ja4('t', &input),
        None => ja4('t', &input),
    };
    Some(ClientHello {
        sni: named.sni,
        alpn: named.alpn,
        offered_versions: named.supported.unwrap_or_else(|| vec![legacy_version]),
        legacy_version,
        ja4: fingerprint,
        ja4_raw: raw,
        ech: input
            .extensions
            .contains(&extension::ENCRYPTED_CLIENT_HELLO),
    })
}

/// ALPN values kept for the report. Clients offer one to three; a hostile ClientHello can list
/// 16,000 empty ones, each a 24-byte `String` for its 1 byte on the wire, held until the run ends.
pub const MAX_ALPN: usize = 32;

/// What the report shows from the extensions, as `tls-parser` reads them.
#[derive(Default)]
struct Named {
    sni: Option<String>,
    alpn: Vec<String>,
    /// supported_versions without GREASE, when the extension was read.
    supported: Option<Vec<TlsVersion>>,
}

impl Named {
    fn take(&mut self, ext: TlsExtension<'_>) {
        match ext {
            TlsExtension::SNI(names) => {
                if let Some((_, name)) = names.first() {
                    self.sni = Some(String::from_utf8_lossy(name).into_owned());
                }
            }
            TlsExtension::ALPN(protocols) => {
                self.alpn = protocols
                    .iter()
                    .take(MAX_ALPN)
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
            }
            TlsExtension::SupportedVersions(versions) => {
                self.supported = Some(
                    versions
                        .iter()
                        .map(|v| TlsVersion(v.0))
                        .filter(|v| !v.is_grease())
                        .collect(),
                );
            }
            _ => {}
        }
    }
}

/// Reads the JA4 inputs of a ClientHello's raw extensions block (extension types in wire
/// order, signature algorithms, first ALPN value, the first supported_versions list as sent);
/// all bounds checked.
pub fn scan_extensions(block: &[u8], input: &mut Ja4Input) {
    walk_extensions(block, input, None);
}

/// The one walk over the extensions: JA4's lists from the raw bytes of every extension, and,
/// when `named` is given, each extension read by `tls-parser` for the names the report shows,
/// up to the first one it cannot read (a malformed late extension must not hide the SNI before
/// it, and what follows a malformed one is not trusted).
fn walk_extensions(block: &[u8], input: &mut Ja4Input, mut named: Option<&mut Named>) {
    let mut walk = raw_extensions(block);
    let mut supported_seen = false;
    loop {
        let framed = walk.rest();
        let Some((kind, value)) = walk.next() else {
            break;
        };
        input.extensions.push(kind);
        match kind {
            extension::SIGNATURE_ALGORITHMS => {
                let list = prefixed16(value, 0).unwrap_or_default();
                input.signature_algorithms = be16_list(list).collect();
            }
            extension::ALPN => {
                // The protocol list's 2-byte length, then the first name's 1-byte length.
                input.first_alpn = prefixed8(value, 2).map(<[u8]>::to_vec);
            }
            // JA4 reads the first list, GREASE included (it filters GREASE itself).
            extension::SUPPORTED_VERSIONS if !supported_seen => {
                supported_seen = true;
                let list = prefixed8(value, 0).unwrap_or_default();
                input.supported_versions = be16_list(list).collect();
            }
            _ => {}
        }
        if let Some(names) = named.as_deref_mut() {
            match parse_tls_client_hello_extension(framed) {
                Ok((_, ext)) => names.take(ext),
                Err(_) => named = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::testing::handshake_record;
    use super::*;

    /// A ClientHello for "outlook.office365.com" with ALPN h2,http/1.1 and
    /// supported_versions 1.3,1.2, built field by field.
    pub(crate) fn client_hello_record(sni: &str) -> Vec<u8> {
        client_hello_record_offering(sni, &["h2", "http/1.1"])
    }

    fn client_hello_record_offering(sni: &str, protocols: &[&str]) -> Vec<u8> {
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
        for p in protocols {
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
        handshake_record(1, handshake::CLIENT_HELLO, &body)
    }

    #[test]
    fn full_client_hello() {
        let rec = client_hello_record("outlook.office365.com");
        let mut scratch = Vec::new();
        let mut memo = Ja4Memo::default();
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
    fn a_hostile_alpn_list_keeps_its_first_values_only() {
        let protocols = vec!["x"; 5_000];
        let rec = client_hello_record_offering("a.example", &protocols);
        let mut memo = Ja4Memo::default();
        let Probe::ClientHello(ch) = probe_client_hello(&rec, &mut Vec::new(), 65536, &mut memo)
        else {
            panic!("no hello")
        };
        assert_eq!(ch.alpn, vec!["x"; MAX_ALPN]);
        assert_eq!(ch.sni.as_deref(), Some("a.example"));
    }

    /// `hello` re-framed as records of at most `size` handshake bytes each.
    fn in_records_of(hello: &[u8], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for body in hello[5..].chunks(size) {
            out.extend_from_slice(&[0x16, 3, 1]);
            out.extend_from_slice(&(body.len() as u16).to_be_bytes());
            out.extend_from_slice(body);
        }
        out
    }

    #[test]
    fn resuming_answers_as_a_full_probe_for_every_prefix() {
        let hello = client_hello_record("teams.microsoft.com");
        let mut streams = vec![
            hello.clone(),
            in_records_of(&hello, 1),
            in_records_of(&hello, 7),
        ];
        // An alert record after three handshake records: the full probe refuses it.
        let mut refused = in_records_of(&hello, 3)[..24].to_vec();
        refused.extend_from_slice(&[0x15, 3, 3, 0, 2, 2, 40]);
        streams.push(refused);
        // A handshake that is not a ClientHello.
        let mut other = in_records_of(&hello, 2);
        other[5] = 2;
        streams.push(other);
        for stream in &streams {
            let mut memo = Ja4Memo::default();
            let mut progress = ProbeProgress::default();
            let (mut full_scratch, mut scratch) = (Vec::new(), Vec::new());
            // The stream as it grows, byte by byte.
            for end in 0..=stream.len() {
                let prefix = &stream[..end];
                let full = probe_client_hello(prefix, &mut full_scratch, 200, &mut memo);
                let resumed = probe_client_hello_resuming(
                    prefix,
                    &mut scratch,
                    200,
                    &mut memo,
                    &mut progress,
                );
                assert_eq!(resumed, full, "prefix {end} of {}", stream.len());
                if full != Probe::NeedMore {
                    break;
                }
            }
        }
        // Once the header is read, a growing stream is not read again from its start.
        let tiny = in_records_of(&hello, 1);
        let mut progress = ProbeProgress::default();
        let mut memo = Ja4Memo::default();
        for end in 0..=60 {
            probe_client_hello_resuming(
                &tiny[..end],
                &mut Vec::new(),
                65536,
                &mut memo,
                &mut progress,
            );
        }
        assert_eq!(progress.needed, hello.len() - 5);
        assert_eq!(
            (progress.records_end, progress.handshake_bytes),
            (60 / 6 * 6, 10)
        );
    }

    #[test]
    fn every_prefix_needs_more_and_never_panics() {
        let rec = client_hello_record("a.example");
        let mut scratch = Vec::new();
        let mut memo = Ja4Memo::default();
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
        let mut memo = Ja4Memo::default();
        let Probe::ClientHello(ch) = probe_client_hello(&two, &mut scratch, 65536, &mut memo)
        else {
            panic!("no hello")
        };
        assert_eq!(ch.sni.as_deref(), Some("teams.microsoft.com"));
    }

    #[test]
    fn non_tls_and_oversize() {
        let mut scratch = Vec::new();
        let mut memo = Ja4Memo::default();
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
}
