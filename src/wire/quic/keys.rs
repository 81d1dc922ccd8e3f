//! Client Initial protection: RFC 9001 key derivation (HKDF from the version's salt and the
//! packet's DCID), header protection removal and AEAD opening with `ring`, and which versions'
//! keys an Initial of an unknown version is tried with (`FALLBACK_VERSIONS`, `initial_headers`).

use ring::aead::{self, quic as hp, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{self, KeyType, Prk, Salt, HKDF_SHA256};

use super::super::field::be32;
use super::header::{parse_long_header, parse_long_header_as, LongHeader};
use super::version::{Labels, Profile, QuicVersion};

const SAMPLE_LEN: usize = 16;
pub(super) const TAG_LEN: usize = 16;

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

/// The Initial packet at the start of `datagram`, read as each version whose keys it may use:
/// its own when this module knows it; for a version it does not know (a reserved one that
/// forces version negotiation, or a newer one), each known IETF version in turn, as tshark
/// does, in a datagram padded like an Initial.
pub fn initial_headers(datagram: &[u8]) -> impl Iterator<Item = LongHeader<'_>> {
    let version = be32(datagram, 1).map(QuicVersion);
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
    pub(super) iv: [u8; 12],
    pub(super) hp: hp::HeaderProtectionKey,
}

impl InitialKeys {
    pub fn client(version: QuicVersion, dcid: &[u8]) -> Option<Self> {
        let (key, iv, hp_key) = client_secrets(&version.profile()?, dcid)?;
        Some(InitialKeys {
            key: LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).ok()?),
            iv,
            hp: hp::HeaderProtectionKey::new(&hp::AES_128, &hp_key).ok()?,
        })
    }
}

/// The client's Initial AEAD key, IV and header protection key (RFC 9001 5.2) for a version's
/// profile and a DCID; the sealing side of the tests derives them here too.
pub(super) fn client_secrets(
    profile: &Profile,
    dcid: &[u8],
) -> Option<([u8; 16], [u8; 12], [u8; 16])> {
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
    Some((key, iv, hp_key))
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
