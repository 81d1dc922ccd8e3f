//! What every flow's dissector shares, owned by the engine and passed in with each packet: the
//! handshake buffer budget, scratch buffers, the JA4 and certificate memos, the DNS index.

use super::DnsNames;
use crate::wire::ja4::Ja4Memo;
use crate::wire::tls_server::CertificateMemo;

/// Limits and counters of the handshake buffers all flows hold together.
#[derive(Clone, Debug)]
pub struct HandshakeBudget {
    /// Largest ClientHello (and so per-flow stream buffer) accepted.
    pub max_handshake: usize,
    /// Bytes all flows together may hold in handshake buffers.
    pub max_total: usize,
    pub in_use: usize,
    pub peak_in_use: usize,
    /// Flows whose handshake was not buffered because the total budget was spent.
    pub refused: u64,
    /// Flows whose handshake outgrew `max_handshake` or left too many gaps.
    pub overflowed: u64,
}

impl HandshakeBudget {
    /// Reserves one handshake buffer (`max_handshake` bytes) and returns its size; `None`, and
    /// counted as refused, when all flows together would hold more than `max_total`.
    pub fn reserve(&mut self) -> Option<usize> {
        if self.in_use + self.max_handshake > self.max_total {
            self.refused += 1;
            return None;
        }
        self.in_use += self.max_handshake;
        self.peak_in_use = self.peak_in_use.max(self.in_use);
        Some(self.max_handshake)
    }

    /// Gives a reservation back.
    pub fn give_back(&mut self, reserved: usize) {
        self.in_use = self.in_use.saturating_sub(reserved);
    }
}

/// The state dissectors share across flows.
#[derive(Clone, Debug)]
pub struct DissectShared {
    pub budget: HandshakeBudget,
    /// Address -> name from every DNS answer seen so far.
    pub dns: DnsNames,
    pub(super) scratch: Vec<u8>,
    pub(super) decrypted: Vec<u8>,
    /// Server certificates read so far (bounded).
    pub(super) certificates: CertificateMemo,
    /// JA4 fingerprints computed so far (bounded).
    pub(super) ja4: Ja4Memo,
}

impl DissectShared {
    pub fn new(max_handshake: usize, max_total: usize) -> Self {
        DissectShared {
            budget: HandshakeBudget {
                max_handshake,
                max_total,
                in_use: 0,
                peak_in_use: 0,
                refused: 0,
                overflowed: 0,
            },
            dns: DnsNames::default(),
            scratch: Vec::new(),
            decrypted: Vec::new(),
            certificates: CertificateMemo::default(),
            ja4: Ja4Memo::default(),
        }
    }
}

impl Default for DissectShared {
    fn default() -> Self {
        DissectShared::new(32 * 1024, 256 * 1024 * 1024)
    }
}
