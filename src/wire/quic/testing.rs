//! Builds protected client Initials the way a sender would (tests of this and later stages).

use ring::aead::{self, quic as hp, Aad, LessSafeKey, Nonce, UnboundKey};

use super::keys::{client_secrets, TAG_LEN};
use super::version::QuicVersion;

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
    let (key, iv, hpk) = client_secrets(&profile, dcid).unwrap();
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
