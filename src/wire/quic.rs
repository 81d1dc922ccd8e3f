//! QUIC Initial packets: long-header parsing, RFC 9001 Initial key derivation and header
//! protection removal for every version seen in the wild (v1, v2 per RFC 9369, IETF drafts
//! 22-34, Facebook mvfst, Google T050/T051 and Q050), CRYPTO frame extraction, and the gQUIC
//! CHLO tag table (Q043-Q050) for the server name.
//!
//! Crypto comes from `ring` (HKDF-SHA256, AES-128-GCM, AES header protection); nothing here is
//! hand-written cryptography. Decoding runs in stages that are different types: a parsed
//! `LongHeader` (protected), then `decrypt_initial` (header protection removed, AEAD opened),
//! then frames. The AEAD tag makes a successful decryption proof that the flow is QUIC.

use std::fmt;

use ring::aead::{self, quic as hp, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{self, KeyType, Prk, Salt, HKDF_SHA256};

/// Longest connection ID any version allows (RFC 9000 17.2: 20 bytes).
pub const MAX_CID_LEN: usize = 20;
const SAMPLE_LEN: usize = 16;
const TAG_LEN: usize = 16;

/// A QUIC version number as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuicVersion(pub u32);

impl fmt::Display for QuicVersion {
    /// `Q046`-style tags for Google's versions, hex for everything else (as tshark prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.to_be_bytes();
        if b[0] == b'Q' && b[1..].iter().all(u8::is_ascii_digit) {
            write!(f, "Q{}{}{}", b[1] as char, b[2] as char, b[3] as char)
        } else {
            write!(f, "0x{:08x}", self.0)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Labels {
    /// "quic key" / "quic iv" / "quic hp": v1 and every draft.
    V1,
    /// "quicv2 key" / "quicv2 iv" / "quicv2 hp": RFC 9369.
    V2,
}

/// What the CRYPTO stream of a version carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// A TLS 1.3 ClientHello (IETF QUIC, mvfst, Google T05x).
    Tls,
    /// A gQUIC CHLO tag table (Google Q050).
    GoogleChlo,
}

#[derive(Clone, Copy, Debug)]
struct Profile {
    salt: [u8; 20],
    labels: Labels,
    /// Long-header type bits of an Initial packet: 0 in v1, 1 in v2.
    initial_type: u8,
    handshake: Handshake,
    /// Google's T05x/Q050 keep gQUIC frame types inside RFC 9001 packets (CRYPTO is 0x08).
    google_frames: bool,
}

const SALT_V1: [u8; 20] = hex20(b"38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
const SALT_V2: [u8; 20] = hex20(b"0dede3def700a6db819381be6e269dcbf9bd2ed9");
const SALT_DRAFT_22: [u8; 20] = hex20(b"7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a");
const SALT_DRAFT_23: [u8; 20] = hex20(b"c3eef712c72ebb5a11a7d2432bb46365bef9f502");
const SALT_DRAFT_29: [u8; 20] = hex20(b"afbfec289993d24c9e9786f19c6111e04390a899");
const SALT_Q050: [u8; 20] = hex20(b"504574efd066fe2f9d945cfcdbd3a7f0d3b56b45");
const SALT_T050: [u8; 20] = hex20(b"7ff579e5acd072915580304c43a2367c60488310");
const SALT_T051: [u8; 20] = hex20(b"7a4edef4e7ccee5fa4506c19124fc8ccda6e033d");

/// Compile-time hex decoding of the salts above (40 hex digits each). Only ever evaluated in
/// constants, where an out-of-range index is a compile error, not a panic.
#[allow(clippy::indexing_slicing)]
const fn hex20(text: &[u8; 40]) -> [u8; 20] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => 0,
        }
    }
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        out[i] = (nibble(text[2 * i]) << 4) | nibble(text[2 * i + 1]);
        i += 1;
    }
    out
}

impl QuicVersion {
    pub const V1: QuicVersion = QuicVersion(0x0000_0001);
    pub const V2: QuicVersion = QuicVersion(0x6b33_43cf);

    fn profile(self) -> Option<Profile> {
        let tls = |salt| Profile {
            salt,
            labels: Labels::V1,
            initial_type: 0,
            handshake: Handshake::Tls,
            google_frames: false,
        };
        let google = |salt, handshake| Profile {
            handshake,
            google_frames: true,
            ..tls(salt)
        };
        Some(match self.0 {
            0x0000_0001 => tls(SALT_V1),
            0x6b33_43cf => Profile {
                salt: SALT_V2,
                labels: Labels::V2,
                initial_type: 1,
                handshake: Handshake::Tls,
                google_frames: false,
            },
            // IETF drafts: the salt changed at drafts 23, 29 and 33 (RFC 9001 kept 33's).
            0xff00_0016 => tls(SALT_DRAFT_22),
            0xff00_0017..=0xff00_001c => tls(SALT_DRAFT_23),
            0xff00_001d..=0xff00_0020 => tls(SALT_DRAFT_29),
            0xff00_0021..=0xff00_0022 => tls(SALT_V1),
            // Facebook mvfst: 0xfaceb001 follows draft 22, later ones draft 27.
            0xface_b001 => tls(SALT_DRAFT_22),
            0xface_b002 | 0xface_b00e => tls(SALT_DRAFT_23),
            // Google: T05x carry TLS, Q050 a gQUIC CHLO, all in RFC 9001-style Initials.
            0x5430_3530 => google(SALT_T050, Handshake::Tls),
            0x5430_3531 => google(SALT_T051, Handshake::Tls),
            0x5130_3530 => google(SALT_Q050, Handshake::GoogleChlo),
            _ => return None,
        })
    }

    /// Versions whose Initial packets this module can decrypt.
    pub fn is_decryptable(self) -> bool {
        self.profile().is_some()
    }

    pub fn handshake(self) -> Option<Handshake> {
        self.profile().map(|p| p.handshake)
    }
}

/// Known versions whose Initial keys are tried, in this order, on an Initial of a version this
/// module does not know: clients protect such Initials with the keys of a version they know.
const FALLBACK_VERSIONS: [QuicVersion; 5] = [
    QuicVersion::V1,
    QuicVersion::V2,
    QuicVersion(0xff00_001d),
    QuicVersion(0xff00_0017),
    QuicVersion(0xff00_0016),
];

/// RFC 9000 14.1: a client pads every datagram carrying an Initial to at least 1200 bytes. An
/// unknown version counts as a possible Initial only in a datagram that large.
const MIN_INITIAL_DATAGRAM: usize = 1200;

impl QuicVersion {
    /// Versions of the form 0x?a?a?a?a (RFC 9000 15), sent to force version negotiation.
    pub fn is_reserved(self) -> bool {
        self.0 & 0x0f0f_0f0f == 0x0a0a_0a0a
    }

    /// A version whose Initials may be protected with a known version's keys: not version
    /// negotiation (0) and not a Google tag (`Q0xx`/`T0xx`, which `gquic_version` reads).
    fn may_borrow_keys(self) -> bool {
        let tag = self.0 >> 24;
        self.0 != 0 && self.profile().is_none() && tag != u32::from(b'Q') && tag != u32::from(b'T')
    }
}

/// A long-header packet as sent: header protection still on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongHeader<'a> {
    pub first: u8,
    /// The version the packet carries.
    pub version: QuicVersion,
    /// The known version whose layout and keys the packet is read with: `version` itself, or
    /// for a version this module does not know, the one tried (`initial_headers`).
    pub keyed_as: QuicVersion,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    pub token: &'a [u8],
    /// Offset of the (protected) packet number.
    pub pn_offset: usize,
    /// Offset just past this packet inside the datagram (coalesced packets follow).
    pub end: usize,
}

impl LongHeader<'_> {
    /// Initial packet of a version we can decrypt.
    pub fn is_initial(&self) -> bool {
        self.keyed_as
            .profile()
            .is_some_and(|p| (self.first >> 4) & 0x03 == p.initial_type)
    }
}

/// Reads a QUIC variable-length integer (RFC 9000 16) at `*pos`, advancing it.
pub fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *buf.get(*pos)?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(*pos..pos.checked_add(len)?)?;
    let mut value = u64::from(first & 0x3f);
    for b in bytes.get(1..).unwrap_or_default() {
        value = (value << 8) | u64::from(*b);
    }
    *pos += len;
    Some(value)
}

/// Parses a long header with a length field (Initial, 0-RTT, Handshake) of a version we know.
/// `None` for short headers, version negotiation, Retry, unknown versions or short input.
pub fn parse_long_header(datagram: &[u8]) -> Option<LongHeader<'_>> {
    let version = QuicVersion(u32::from_be_bytes(datagram.get(1..5)?.try_into().ok()?));
    parse_long_header_as(datagram, version)
}

/// The Initial packet at the start of `datagram`, read as each version whose keys it may use:
/// its own when this module knows it; for a version it does not know (a reserved one that
/// forces version negotiation, or a newer one), each known IETF version in turn, as tshark
/// does, in a datagram padded like an Initial.
pub fn initial_headers(datagram: &[u8]) -> impl Iterator<Item = LongHeader<'_>> {
    let version = datagram
        .get(1..5)
        .and_then(|v| v.try_into().ok())
        .map(|v| QuicVersion(u32::from_be_bytes(v)));
    let fixed_bit = datagram.first().is_some_and(|b| b & 0x40 != 0);
    let borrowed: &[QuicVersion] = match version {
        Some(v) if v.may_borrow_keys() && fixed_bit && datagram.len() >= MIN_INITIAL_DATAGRAM => {
            &FALLBACK_VERSIONS
        }
        _ => &[],
    };
    let own = parse_long_header(datagram);
    own.into_iter()
        .chain(
            borrowed
                .iter()
                .filter_map(move |keyed| parse_long_header_as(datagram, *keyed)),
        )
        .filter(LongHeader::is_initial)
}

/// A long header read with the layout of `keyed_as` (its own version, or a known version whose
/// keys an unknown one may use).
fn parse_long_header_as(datagram: &[u8], keyed_as: QuicVersion) -> Option<LongHeader<'_>> {
    let first = *datagram.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = QuicVersion(u32::from_be_bytes(datagram.get(1..5)?.try_into().ok()?));
    let profile = keyed_as.profile()?;
    let kind = (first >> 4) & 0x03;
    // Retry is type 3 in v1, 0 in v2: it has no length field.
    let retry = if profile.labels == Labels::V2 { 0 } else { 3 };
    if kind == retry {
        return None;
    }
    let mut pos = 5;
    let dcid_len = usize::from(*datagram.get(pos)?);
    if dcid_len > MAX_CID_LEN {
        return None;
    }
    let dcid = datagram.get(pos + 1..pos + 1 + dcid_len)?;
    pos += 1 + dcid_len;
    let scid_len = usize::from(*datagram.get(pos)?);
    if scid_len > MAX_CID_LEN {
        return None;
    }
    let scid = datagram.get(pos + 1..pos + 1 + scid_len)?;
    pos += 1 + scid_len;
    let mut token: &[u8] = &[];
    if kind == profile.initial_type {
        let token_len = usize::try_from(varint(datagram, &mut pos)?).ok()?;
        token = datagram.get(pos..pos.checked_add(token_len)?)?;
        pos += token_len;
    }
    let length = usize::try_from(varint(datagram, &mut pos)?).ok()?;
    let end = pos.checked_add(length)?;
    if end > datagram.len() {
        return None;
    }
    Some(LongHeader {
        first,
        version,
        keyed_as,
        dcid,
        scid,
        token,
        pn_offset: pos,
        end,
    })
}

/// ring's HKDF output length as a key type.
struct OutLen(usize);

impl KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 7.1) with an empty context.
fn expand_label(secret: &Prk, label: &[u8], out: &mut [u8]) -> Option<()> {
    let len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).ok()?];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    secret.expand(&info, OutLen(out.len())).ok()?.fill(out).ok()
}

/// The client's Initial keys for one version and destination connection ID.
pub struct InitialKeys {
    key: LessSafeKey,
    iv: [u8; 12],
    hp: hp::HeaderProtectionKey,
}

impl InitialKeys {
    pub fn client(version: QuicVersion, dcid: &[u8]) -> Option<Self> {
        let profile = version.profile()?;
        let initial = Salt::new(HKDF_SHA256, &profile.salt).extract(dcid);
        let mut client = [0u8; 32];
        expand_label(&initial, b"client in", &mut client)?;
        let client = Prk::new_less_safe(hkdf::HKDF_SHA256, &client);
        let (key_label, iv_label, hp_label): (&[u8], &[u8], &[u8]) = match profile.labels {
            Labels::V1 => (b"quic key", b"quic iv", b"quic hp"),
            Labels::V2 => (b"quicv2 key", b"quicv2 iv", b"quicv2 hp"),
        };
        let (mut key, mut iv, mut hp_key) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&client, key_label, &mut key)?;
        expand_label(&client, iv_label, &mut iv)?;
        expand_label(&client, hp_label, &mut hp_key)?;
        Some(InitialKeys {
            key: LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).ok()?),
            iv,
            hp: hp::HeaderProtectionKey::new(&hp::AES_128, &hp_key).ok()?,
        })
    }
}

/// Removes header protection and opens the AEAD of one Initial packet. The plaintext frames
/// are left in `scratch` at the returned range; `None` when the packet does not authenticate
/// with these keys. (A range rather than a slice lets callers retry other keys in a loop.)
pub fn decrypt_initial(
    datagram: &[u8],
    header: &LongHeader<'_>,
    keys: &InitialKeys,
    scratch: &mut Vec<u8>,
) -> Option<std::ops::Range<usize>> {
    let packet = datagram.get(..header.end)?;
    let sample_at = header.pn_offset.checked_add(4)?;
    let sample = packet.get(sample_at..sample_at + SAMPLE_LEN)?;
    let mask = keys.hp.new_mask(sample).ok()?;
    let first = header.first ^ (mask.first()? & 0x0f);
    let pn_len = usize::from(first & 0x03) + 1;
    let payload_at = header.pn_offset + pn_len;
    if packet.len() < payload_at + TAG_LEN {
        return None;
    }
    scratch.clear();
    scratch.extend_from_slice(packet);
    *scratch.first_mut()? = first;
    let mut packet_number = 0u64;
    for i in 0..pn_len {
        let byte = scratch.get_mut(header.pn_offset + i)?;
        *byte ^= mask.get(1 + i)?;
        packet_number = (packet_number << 8) | u64::from(*byte);
    }
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().skip(4).zip(packet_number.to_be_bytes()) {
        *n ^= p;
    }
    let (aad, body) = scratch.split_at_mut(payload_at);
    let plain = keys
        .key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&*aad), body)
        .ok()?;
    Some(payload_at..payload_at + plain.len())
}

/// The CRYPTO frames of a decrypted Initial payload of `version`, as (stream offset, data).
/// Stops quietly at the first frame type an Initial cannot carry or at malformed bytes.
pub fn crypto_frames(plain: &[u8], version: QuicVersion) -> CryptoFrames<'_> {
    let google = version.profile().is_some_and(|p| p.google_frames);
    CryptoFrames {
        plain,
        pos: 0,
        google,
    }
}

pub struct CryptoFrames<'a> {
    plain: &'a [u8],
    pos: usize,
    google: bool,
}

impl<'a> Iterator for CryptoFrames<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let kind = *self.plain.get(self.pos)?;
            self.pos += 1;
            if kind == 0x00 {
                // PADDING, in both: Initials are padded to 1200 bytes, often hundreds at once.
                self.pos += zero_run(self.plain.get(self.pos..).unwrap_or_default());
                continue;
            }
            if self.google {
                // gQUIC frames: only PADDING and CRYPTO (0x08, varint offset and length) are
                // read; anything else (gQUIC ACK 0x40.., STREAM 0x80..) ends the walk.
                match kind {
                    0x08 => return self.crypto_body(),
                    _ => return None,
                }
            }
            match kind {
                0x01 => {} // PING
                0x02 | 0x03 => {
                    // ACK: largest, delay, range count, first range, ranges, ECN counts.
                    let mut fields = 3;
                    let _largest = varint(self.plain, &mut self.pos)?;
                    let _delay = varint(self.plain, &mut self.pos)?;
                    let ranges = varint(self.plain, &mut self.pos)?;
                    fields += ranges.checked_mul(2)?;
                    if kind == 0x03 {
                        fields += 3;
                    }
                    for _ in 1..fields {
                        varint(self.plain, &mut self.pos)?;
                    }
                }
                0x06 => return self.crypto_body(),
                0x1c | 0x1d => {
                    let _code = varint(self.plain, &mut self.pos)?;
                    if kind == 0x1c {
                        let _frame = varint(self.plain, &mut self.pos)?;
                    }
                    let len = usize::try_from(varint(self.plain, &mut self.pos)?).ok()?;
                    self.pos = self.pos.checked_add(len)?;
                }
                _ => return None,
            }
        }
    }
}

/// Length of the run of zero bytes `bytes` starts with, eight bytes at a time.
fn zero_run(bytes: &[u8]) -> usize {
    let words = bytes
        .chunks_exact(8)
        .take_while(|w| w.iter().fold(0u8, |acc, b| acc | b) == 0)
        .count();
    let rest = bytes.get(words * 8..).unwrap_or_default();
    words * 8 + rest.iter().take_while(|b| **b == 0).count()
}

impl<'a> CryptoFrames<'a> {
    /// Offset, length and data of a CRYPTO frame whose type byte was just read.
    fn crypto_body(&mut self) -> Option<(u64, &'a [u8])> {
        let offset = varint(self.plain, &mut self.pos)?;
        let len = usize::try_from(varint(self.plain, &mut self.pos)?).ok()?;
        let data = self.plain.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some((offset, data))
    }
}

/// The gQUIC version tag of a client packet: `Q046`+ in a long header (offset 1), older
/// versions in a public header with the version flag and an 8-byte connection ID (offset 9).
pub fn gquic_version(payload: &[u8]) -> Option<QuicVersion> {
    let tag_at = |at: usize| -> Option<QuicVersion> {
        let tag: [u8; 4] = payload.get(at..at + 4)?.try_into().ok()?;
        let [q, digits @ ..] = tag;
        let is_q = q == b'Q' && digits.iter().all(u8::is_ascii_digit);
        is_q.then(|| QuicVersion(u32::from_be_bytes(tag)))
    };
    let first = *payload.first()?;
    if first & 0x80 != 0 {
        return tag_at(1);
    }
    // Public flags: 0x01 version present, 0x08 8-byte connection ID present.
    if first & 0x09 == 0x09 {
        return tag_at(9);
    }
    None
}

/// Upper bound on CHLO tag entries; real hellos carry about 30.
const MAX_CHLO_TAGS: usize = 128;

/// The server name (`SNI` tag) of a gQUIC CHLO message found anywhere in `data`. The tag table
/// is `CHLO`, count (u16 LE), padding (u16), then (tag, end offset u32 LE) pairs, then values.
pub fn chlo_server_name(data: &[u8]) -> Option<&[u8]> {
    let start = data.windows(4).position(|w| w == b"CHLO")?;
    let msg = data.get(start..)?;
    let count = usize::from(u16::from_le_bytes([*msg.get(4)?, *msg.get(5)?]));
    if count == 0 || count > MAX_CHLO_TAGS {
        return None;
    }
    let table = msg.get(8..8 + count * 8)?;
    let values = msg.get(8 + count * 8..)?;
    let mut prev_end = 0usize;
    for entry in table.chunks_exact(8) {
        let tag = entry.get(..4)?;
        let end = u32::from_le_bytes(entry.get(4..8)?.try_into().ok()?) as usize;
        if end < prev_end {
            return None;
        }
        if tag == b"SNI\0" {
            return values.get(prev_end..end).filter(|v| !v.is_empty());
        }
        prev_end = end;
    }
    None
}

/// Builds protected client Initials the way a sender would (tests of this and later stages).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) fn seal_initial(version: QuicVersion, dcid: &[u8], frames: &[u8]) -> Vec<u8> {
        seal_initial_keyed(version, version, dcid, frames, 1100)
    }

    /// A client Initial carrying `version` on the wire, protected with the keys of `keyed_as`,
    /// its payload padded to `payload_len` bytes.
    pub(crate) fn seal_initial_keyed(
        version: QuicVersion,
        keyed_as: QuicVersion,
        dcid: &[u8],
        frames: &[u8],
        payload_len: usize,
    ) -> Vec<u8> {
        // Builds and protects a client Initial the way a sender would, with ring.
        let profile = keyed_as.profile().unwrap();
        let initial = Salt::new(HKDF_SHA256, &profile.salt).extract(dcid);
        let mut client = [0u8; 32];
        expand_label(&initial, b"client in", &mut client).unwrap();
        let client = Prk::new_less_safe(HKDF_SHA256, &client);
        let labels: (&[u8], &[u8], &[u8]) = match profile.labels {
            Labels::V1 => (b"quic key", b"quic iv", b"quic hp"),
            Labels::V2 => (b"quicv2 key", b"quicv2 iv", b"quicv2 hp"),
        };
        let (mut key, mut iv, mut hpk) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&client, labels.0, &mut key).unwrap();
        expand_label(&client, labels.1, &mut iv).unwrap();
        expand_label(&client, labels.2, &mut hpk).unwrap();
        let pn: u32 = 2;
        let mut payload = frames.to_vec();
        payload.resize(payload_len, 0);
        let mut header = vec![0xc3 | (profile.initial_type << 4)];
        header.extend_from_slice(&version.0.to_be_bytes());
        header.push(dcid.len() as u8);
        header.extend_from_slice(dcid);
        header.push(0);
        header.push(0); // token
        let length = 4 + payload.len() + TAG_LEN;
        header.extend_from_slice(&((length as u16) | 0x4000).to_be_bytes());
        let pn_offset = header.len();
        header.extend_from_slice(&pn.to_be_bytes());
        let mut nonce = iv;
        for (n, p) in nonce.iter_mut().skip(8).zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).unwrap());
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header),
            &mut payload,
        )
        .unwrap();
        let mut packet = header;
        packet.extend_from_slice(&payload);
        let hp_key = hp::HeaderProtectionKey::new(&hp::AES_128, &hpk).unwrap();
        let mask = hp_key
            .new_mask(&packet[pn_offset + 4..pn_offset + 20])
            .unwrap();
        packet[0] ^= mask[0] & 0x0f;
        for i in 0..4 {
            packet[pn_offset + i] ^= mask[1 + i];
        }
        packet
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{seal_initial, seal_initial_keyed};
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn varints_from_rfc9000_appendix_a1() {
        for (hex, value) in [
            ("c2197c5eff14e88c", 151_288_809_941_952_652u64),
            ("9d7f3e7d", 494_878_333),
            ("7bbd", 15_293),
            ("25", 37),
            ("4025", 37),
        ] {
            let bytes = unhex(hex);
            let mut pos = 0;
            assert_eq!(varint(&bytes, &mut pos), Some(value));
            assert_eq!(pos, bytes.len());
        }
        let mut pos = 0;
        assert_eq!(varint(&[0xc2, 0x19], &mut pos), None);
    }

    #[test]
    fn version_display() {
        assert_eq!(QuicVersion(0x5130_3436).to_string(), "Q046");
        assert_eq!(QuicVersion::V1.to_string(), "0x00000001");
        assert_eq!(QuicVersion(0xff00_001d).to_string(), "0xff00001d");
    }

    /// RFC 9001 Appendix A.1/A.2 values: the client IV for DCID 8394c8f03e515708 and the header
    /// protection mask of the appendix's sample. (v2 and the drafts are checked end to end on
    /// real captures in tests/corpus_quic.rs.)
    #[test]
    fn rfc9001_appendix_a_keys_and_header_protection() {
        let dcid = unhex("8394c8f03e515708");
        let keys = InitialKeys::client(QuicVersion::V1, &dcid).unwrap();
        assert_eq!(keys.iv.to_vec(), unhex("fa044b2f42a3fd3b46fb255c"));
        // A.2: sample d1b1c98dd7689fb8ec11d242b123dc9b -> mask 437b9aec36.
        let mask = keys
            .hp
            .new_mask(&unhex("d1b1c98dd7689fb8ec11d242b123dc9b"))
            .unwrap();
        assert_eq!(mask.to_vec(), unhex("437b9aec36"));
    }

    #[test]
    fn sealed_initials_of_every_family_decrypt() {
        for v in [
            0x0000_0001u32,
            0x6b33_43cf,
            0xff00_0016,
            0xff00_0017,
            0xff00_001d,
            0xff00_0022,
            0xface_b002,
            0x5430_3531,
            0x5130_3530,
        ] {
            let version = QuicVersion(v);
            let crypto_type = if version.profile().unwrap().google_frames {
                0x08
            } else {
                0x06
            };
            let frames = [crypto_type, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o', 0x01];
            let dcid = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
            let mut datagram = seal_initial(version, &dcid, &frames);
            datagram.extend_from_slice(&[0; 30]); // padding after the packet
            let header = parse_long_header(&datagram).unwrap();
            assert!(header.is_initial(), "{version}");
            let keys = InitialKeys::client(version, header.dcid).unwrap();
            let mut scratch = Vec::new();
            let range = decrypt_initial(&datagram, &header, &keys, &mut scratch).unwrap();
            let crypto: Vec<_> = crypto_frames(&scratch[range], version).collect();
            assert_eq!(crypto, vec![(0u64, &b"hello"[..])], "{version}");
            // A flipped ciphertext byte fails authentication.
            let mut bad = datagram.clone();
            bad[header.end - 1] ^= 1;
            assert!(decrypt_initial(&bad, &header, &keys, &mut scratch).is_none());
        }
    }

    /// An Initial sent with a reserved or unknown version (to force version negotiation) is
    /// opened with the keys of the known version its sender used; the version stays as seen.
    #[test]
    fn unknown_versions_borrow_known_keys() {
        let frames = [0x06, 0x00, 0x02, b'h', b'i'];
        let dcid = [9u8; 8];
        for (wire, keyed) in [
            (0x1a2a_3a4a_u32, QuicVersion::V1),
            (0xfafa_fafa, QuicVersion::V2),
            (0x0000_0002, QuicVersion(0xff00_001d)),
        ] {
            let wire = QuicVersion(wire);
            let datagram = seal_initial_keyed(wire, keyed, &dcid, &frames, 1200);
            let opened: Vec<(QuicVersion, Vec<u8>)> = initial_headers(&datagram)
                .filter_map(|h| {
                    let keys = InitialKeys::client(h.keyed_as, h.dcid)?;
                    let mut scratch = Vec::new();
                    let range = decrypt_initial(&datagram, &h, &keys, &mut scratch)?;
                    assert_eq!(h.version, wire);
                    Some((h.keyed_as, scratch[range].to_vec()))
                })
                .collect();
            assert_eq!(opened.len(), 1, "{wire}");
            assert_eq!(opened[0].0, keyed, "{wire}");
            assert_eq!(&opened[0].1[..5], &frames, "{wire}");
            // Not padded like an Initial: not tried.
            let short = seal_initial_keyed(wire, keyed, &dcid, &frames, 1000);
            assert_eq!(initial_headers(&short).count(), 0, "{wire}");
        }
        assert!(QuicVersion(0x1a2a_3a4a).is_reserved());
        assert!(!QuicVersion::V1.is_reserved());
        // Version negotiation and Google tags never borrow keys.
        for never in [0u32, 0x5130_3436, 0x5430_3939] {
            let mut datagram =
                seal_initial_keyed(QuicVersion::V1, QuicVersion::V1, &dcid, &frames, 1200);
            datagram[1..5].copy_from_slice(&never.to_be_bytes());
            assert_eq!(initial_headers(&datagram).count(), 0, "{never:#x}");
        }
    }

    #[test]
    fn truncated_and_hostile_headers() {
        let good = seal_initial(QuicVersion::V1, &[1, 2, 3, 4], &[0x01]);
        for cut in 0..good.len() {
            let _ = parse_long_header(&good[..cut]);
        }
        let mut long_cid = good.clone();
        long_cid[5] = 21;
        assert!(parse_long_header(&long_cid).is_none());
        assert!(
            parse_long_header(&[0xc0, 0, 0, 0, 0]).is_none(),
            "version negotiation"
        );
        assert!(
            parse_long_header(&[0xc0, 0x0a, 0x0a, 0x0a, 0x0a, 0, 0, 0, 1]).is_none(),
            "unknown version"
        );
        // CRYPTO with a length past the end, and an ACK with an absurd range count.
        let v1 = QuicVersion::V1;
        assert_eq!(
            crypto_frames(&[0x06, 0x00, 0x40, 0xff, 1, 2], v1).count(),
            0
        );
        assert_eq!(
            crypto_frames(
                &[0x02, 0, 0, 0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                v1
            )
            .count(),
            0
        );
        // Google framing: CRYPTO is 0x08, and 0x06 means nothing.
        let t051 = QuicVersion(0x5430_3531);
        assert_eq!(
            crypto_frames(&[0x00, 0x08, 0x00, 0x02, 7, 8], t051).collect::<Vec<_>>(),
            vec![(0, &[7u8, 8][..])]
        );
        assert_eq!(crypto_frames(&[0x06, 0x00, 0x02, 7, 8], t051).count(), 0);
    }

    #[test]
    fn chlo_tags() {
        let mut chlo = b"CHLO".to_vec();
        chlo.extend_from_slice(&2u16.to_le_bytes());
        chlo.extend_from_slice(&[0, 0]);
        chlo.extend_from_slice(b"PAD\0");
        chlo.extend_from_slice(&3u32.to_le_bytes());
        chlo.extend_from_slice(b"SNI\0");
        chlo.extend_from_slice(&18u32.to_le_bytes());
        chlo.extend_from_slice(b"---www.gstatic.com");
        let mut stream = b"junk before".to_vec();
        stream.extend_from_slice(&chlo);
        assert_eq!(chlo_server_name(&stream), Some(&b"www.gstatic.com"[..]));
        let mut lying = chlo.clone();
        lying[4] = 0xff;
        assert_eq!(chlo_server_name(&lying), None);
        for cut in 0..chlo.len() {
            let _ = chlo_server_name(&chlo[..cut]);
        }
        assert_eq!(
            gquic_version(&[0xc3, b'Q', b'0', b'4', b'6', 0x50]),
            Some(QuicVersion(0x5130_3436))
        );
        let mut public = vec![0x0d, 1, 2, 3, 4, 5, 6, 7, 8];
        public.extend_from_slice(b"Q035");
        assert_eq!(gquic_version(&public).unwrap().to_string(), "Q035");
    }

    #[test]
    fn zero_runs_end_at_the_first_other_byte() {
        for zeros in 0..40 {
            let mut bytes = vec![0u8; zeros];
            assert_eq!(zero_run(&bytes), zeros);
            bytes.extend_from_slice(&[6, 0, 0]);
            assert_eq!(zero_run(&bytes), zeros);
        }
    }
}
