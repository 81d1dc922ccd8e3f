//! JA4 TLS client fingerprints (FoxIO's JA4 specification, BSD-licensed): `a_b_c`, where `a`
//! summarises the ClientHello (transport, highest version, SNI present, cipher and extension
//! counts, first ALPN), `b` hashes the sorted cipher suites, and `c` the sorted extensions
//! (without SNI and ALPN) followed by the signature algorithms in their original order.
//! Written from the specification; GREASE values (RFC 8701) never count.
//!
//! JA4 reads plain lists (`Ja4Input`) that the ClientHello parser fills in its one walk over
//! the extensions; nothing here walks a ClientHello's bytes.

use super::super::field::is_grease;
use super::super::memo::BytesMemo;
use super::record::extension;

/// Fingerprints remembered, and the bytes of their inputs together: beyond either the memo
/// starts over. Inputs larger than a sane ClientHello's lists are never remembered.
const MAX_REMEMBERED: usize = 4096;
const MAX_REMEMBERED_BYTES: usize = 2 << 20;
const MAX_REMEMBERED_INPUT: usize = 4096;

/// The ClientHello fields JA4 reads, in wire order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ja4Input {
    pub ciphers: Vec<u16>,
    pub extensions: Vec<u16>,
    pub signature_algorithms: Vec<u16>,
    pub first_alpn: Option<Vec<u8>>,
    pub supported_versions: Vec<u16>,
    pub legacy_version: u16,
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn push_hex_list(out: &mut String, values: &[u16]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::hex::push_u16(out, *v);
    }
}

/// Appends the first 12 hex digits of the SHA-256 of `text`, or twelve zeros for no text.
fn push_hash12(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push_str("000000000000");
    } else {
        crate::hex::push_sha256_prefix(out, text.as_bytes(), 6);
    }
}

/// Appends a count as two digits, capped at 99 as the specification says.
fn push_count(out: &mut String, count: usize) {
    let n = u8::try_from(count.min(99)).unwrap_or(99);
    out.push(char::from(b'0' + n / 10));
    out.push(char::from(b'0' + n % 10));
}

/// JA4 fingerprints already computed, by their inputs. A capture's ClientHellos come from a
/// few client builds, each sending the same lists every time, while computing a fingerprint
/// (sorting, hex, two SHA-256) costs about a microsecond.
#[derive(Clone, Debug)]
pub struct Ja4Memo {
    known: BytesMemo<(String, String)>,
    key: Vec<u8>,
}

impl Default for Ja4Memo {
    fn default() -> Self {
        Ja4Memo {
            known: BytesMemo::new(MAX_REMEMBERED, MAX_REMEMBERED_BYTES, MAX_REMEMBERED_INPUT),
            key: Vec::new(),
        }
    }
}

impl Ja4Memo {
    /// [`ja4`], computed once per distinct input.
    pub fn ja4(&mut self, transport: char, input: &Ja4Input) -> (String, String) {
        self.key.clear();
        input.write_key(transport, &mut self.key);
        self.known
            .get_or_compute(&self.key, || ja4(transport, input))
    }

    /// Distinct inputs remembered now.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

impl Ja4Input {
    /// Every field, unambiguously (each list after its length), after the transport.
    fn write_key(&self, transport: char, key: &mut Vec<u8>) {
        let mut buf = [0u8; 4];
        key.extend_from_slice(transport.encode_utf8(&mut buf).as_bytes());
        key.extend_from_slice(&self.legacy_version.to_le_bytes());
        for list in [
            &self.ciphers,
            &self.extensions,
            &self.signature_algorithms,
            &self.supported_versions,
        ] {
            key.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for value in list {
                key.extend_from_slice(&value.to_le_bytes());
            }
        }
        match &self.first_alpn {
            Some(alpn) => {
                key.extend_from_slice(&(alpn.len() as u32).to_le_bytes());
                key.extend_from_slice(alpn);
            }
            None => key.extend_from_slice(&u32::MAX.to_le_bytes()),
        }
    }
}

/// Returns (`ja4`, `ja4_r`) for a ClientHello carried over `transport`: `t` (TCP), `q` (QUIC),
/// `d` (DTLS). Runs for every ClientHello, so the raw form is written once and the hashed
/// form hashes its pieces in place (four allocations in all).
pub fn ja4(transport: char, input: &Ja4Input) -> (String, String) {
    let mut ciphers: Vec<u16> = input
        .ciphers
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let cipher_count = ciphers.len();
    ciphers.sort_unstable();
    let extension_count = input.extensions.iter().filter(|e| !is_grease(**e)).count();
    // SNI and ALPN count but are not listed.
    let mut listed_ext: Vec<u16> = input
        .extensions
        .iter()
        .copied()
        .filter(|e| !is_grease(*e) && *e != extension::SERVER_NAME && *e != extension::ALPN)
        .collect();
    listed_ext.sort_unstable();
    let version = input
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(input.legacy_version);
    let sigalgs = &input.signature_algorithms;
    let mut raw =
        String::with_capacity(12 + (cipher_count + listed_ext.len() + sigalgs.len() + 2) * 5);
    raw.push(transport);
    raw.push_str(version_code(version));
    raw.push(if input.extensions.contains(&extension::SERVER_NAME) {
        'd'
    } else {
        'i'
    });
    push_count(&mut raw, cipher_count);
    push_count(&mut raw, extension_count);
    match input.first_alpn.as_deref() {
        Some([first, .., last])
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() =>
        {
            raw.push(char::from(*first));
            raw.push(char::from(*last));
        }
        Some([only]) if only.is_ascii_alphanumeric() => {
            raw.push(char::from(*only));
            raw.push(char::from(*only));
        }
        // Non-alphanumeric ends: the reference implementation writes "99" (checked against its
        // value for ../shared/ja4/tls-non-ascii-alpn.pcapng), not the hex digits an older
        // revision of the specification described.
        Some(value) if !value.is_empty() => raw.push_str("99"),
        _ => raw.push_str("00"),
    }
    let a_end = raw.len();
    raw.push('_');
    let ciphers_start = raw.len();
    push_hex_list(&mut raw, &ciphers);
    let ciphers_end = raw.len();
    raw.push('_');
    let extensions_start = raw.len();
    push_hex_list(&mut raw, &listed_ext);
    if !sigalgs.is_empty() && !listed_ext.is_empty() {
        raw.push('_');
        push_hex_list(&mut raw, sigalgs);
    }
    let mut hashed = String::with_capacity(a_end + 26);
    hashed.push_str(raw.get(..a_end).unwrap_or_default());
    hashed.push('_');
    push_hash12(
        &mut hashed,
        raw.get(ciphers_start..ciphers_end).unwrap_or_default(),
    );
    hashed.push('_');
    push_hash12(&mut hashed, raw.get(extensions_start..).unwrap_or_default());
    (hashed, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_shape_from_the_specification() {
        // The raw form in ../shared/ja4/tls12.pcap.ja4.csv row 1 rebuilt from its parts.
        let input = Ja4Input {
            ciphers: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc02c, 0xc030, 0xc00a,
                0xc009, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x0022, 0x0033,
                0x002b, 0x000d, 0x002d, 0x001c, 0x0015,
            ],
            signature_algorithms: vec![
                0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203,
                0x0201,
            ],
            first_alpn: Some(b"h2".to_vec()),
            supported_versions: vec![0x0304, 0x0303],
            legacy_version: 0x0303,
        };
        let (ja4, raw) = ja4('t', &input);
        assert_eq!(ja4, "t13d1715h2_5b57614c22b0_3d5424432f57");
        assert!(raw.starts_with("t13d1715h2_002f,0035,009c"));
    }

    #[test]
    fn grease_empty_and_odd_alpn() {
        let input = Ja4Input {
            ciphers: vec![0x0a0a, 0x1301],
            extensions: vec![0x1a1a],
            first_alpn: Some(vec![0xab, 0xcd]),
            legacy_version: 0x0303,
            ..Ja4Input::default()
        };
        let (ja4, _) = ja4('q', &input);
        assert!(ja4.starts_with("q12i010099_"), "{ja4}");
        assert!(ja4.ends_with("_000000000000"));
    }

    #[test]
    fn the_memo_gives_what_ja4_computes_and_stays_bounded() {
        let mut memo = Ja4Memo::default();
        let base = Ja4Input {
            ciphers: vec![0x1301, 0x1302, 0x0a0a],
            extensions: vec![0x0000, 0x0010, 0x002b],
            signature_algorithms: vec![0x0403],
            first_alpn: Some(b"h2".to_vec()),
            supported_versions: vec![0x0304],
            legacy_version: 0x0303,
        };
        // Inputs differing in one field each, and the same lists split differently.
        let mut inputs = vec![base.clone()];
        let mut other = base.clone();
        other.first_alpn = None;
        inputs.push(other);
        let mut other = base.clone();
        other.ciphers.push(0x0010);
        other.extensions.pop();
        inputs.push(other);
        let mut other = base.clone();
        other.ciphers = vec![0x1301, 0x1302];
        other.extensions = vec![0x0a0a, 0x0000, 0x0010, 0x002b];
        inputs.push(other);
        for transport in ['t', 'q'] {
            for input in &inputs {
                for _ in 0..2 {
                    assert_eq!(memo.ja4(transport, input), ja4(transport, input));
                }
            }
        }
        assert_eq!(memo.len(), 2 * inputs.len());
        for n in 0..2 * MAX_REMEMBERED as u16 {
            let mut input = base.clone();
            input.ciphers.push(n);
            assert_eq!(memo.ja4('t', &input), ja4('t', &input));
            assert!(memo.len() <= MAX_REMEMBERED);
        }
        // Huge lists are computed, not remembered.
        let mut huge = base.clone();
        huge.ciphers = (0..4000).collect();
        assert_eq!(memo.ja4('t', &huge), ja4('t', &huge));
        assert!(memo.known.bytes() <= MAX_REMEMBERED_BYTES);
    }
}
