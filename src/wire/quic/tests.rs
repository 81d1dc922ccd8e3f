//! Unit tests of QUIC Initial reading: RFC 9000/9001 vectors, sealed Initials of every version
//! family, unknown versions borrowing known keys, hostile headers and frames, gQUIC tags.

use super::frames::zero_run;
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
