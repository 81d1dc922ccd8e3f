//! QUIC version numbers and what each known version means for reading its Initials: the
//! per-version profile (Initial salt, key labels, Initial packet type bits, what the CRYPTO
//! stream carries, Google framing). Every other part of `quic` looks versions up here.

use std::fmt;

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
pub(super) enum Labels {
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
pub(super) struct Profile {
    pub salt: [u8; 20],
    pub labels: Labels,
    /// Long-header type bits of an Initial packet: 0 in v1, 1 in v2.
    pub initial_type: u8,
    pub handshake: Handshake,
    /// Google's T05x/Q050 keep gQUIC frame types inside RFC 9001 packets (CRYPTO is 0x08).
    pub google_frames: bool,
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

    pub(super) fn profile(self) -> Option<Profile> {
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
impl QuicVersion {
    /// Versions of the form 0x?a?a?a?a (RFC 9000 15), sent to force version negotiation.
    pub fn is_reserved(self) -> bool {
        self.0 & 0x0f0f_0f0f == 0x0a0a_0a0a
    }

    /// A version whose Initials may be protected with a known version's keys: not version
    /// negotiation (0) and not a Google tag (`Q0xx`/`T0xx`, which `gquic_version` reads).
    pub(super) fn may_borrow_keys(self) -> bool {
        let tag = self.0 >> 24;
        self.0 != 0 && self.profile().is_none() && tag != u32::from(b'Q') && tag != u32::from(b'T')
    }
}
