//! The server's first TLS flight: ServerHello (negotiated version, selected ALPN) and, for TLS
//! 1.2 and older where it travels in clear, the server certificate's names and issuer (parsed
//! with x509-parser). The certificate is the evidence for SSL-inspection findings and a server
//! name when the client sent none. Records and extensions are walked with `record`'s readers,
//! the same the ClientHello side uses.

use std::sync::Arc;

use tls_parser::{parse_tls_message_handshake, TlsMessage, TlsMessageHandshake};
use x509_parser::extensions::GeneralName;

use super::super::field::{be16, be24, prefixed8};
use super::super::memo::BytesMemo;
use super::record::{content, extension, handshake, raw_extensions, records, TlsVersion};

/// Names kept from one certificate (Google's carry over a hundred SANs; some CDNs more).
const MAX_NAMES: usize = 256;
/// Distinct leaf certificates remembered, and their bytes together: beyond either the memory
/// starts over (a capture rarely holds more than a few hundred).
const MAX_REMEMBERED: usize = 1024;
const MAX_REMEMBERED_BYTES: usize = 4 << 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// The version the server chose (supported_versions for TLS 1.3, else the legacy field).
    pub version: TlsVersion,
    pub alpn: Option<String>,
    /// Shared: every connection to a server brings the same certificate.
    pub certificate: Option<Arc<Certificate>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Certificate {
    /// Subject common name first, then the DNS and IP subject alternative names (deduplicated).
    pub names: Vec<String>,
    /// Issuer distinguished name, e.g. `C=US, O=Microsoft Corporation, CN=Microsoft RSA TLS CA 01`.
    pub issuer: String,
}

/// Leaf certificates already read, by their DER bytes. A server presents the same certificate
/// to every connection, so a capture holds few distinct ones, while reading one (x509 parsing,
/// the issuer's name as text) costs microseconds.
#[derive(Clone, Debug)]
pub struct CertificateMemo {
    read: BytesMemo<Option<Arc<Certificate>>>,
}

impl Default for CertificateMemo {
    fn default() -> Self {
        CertificateMemo {
            read: BytesMemo::new(MAX_REMEMBERED, MAX_REMEMBERED_BYTES, MAX_REMEMBERED_BYTES),
        }
    }
}

impl CertificateMemo {
    /// What `parse` makes of `der`, parsed once per distinct certificate.
    fn read(
        &mut self,
        der: &[u8],
        parse: impl FnOnce(&[u8]) -> Option<Certificate>,
    ) -> Option<Arc<Certificate>> {
        self.read.get_or_compute(der, || parse(der).map(Arc::new))
    }

    /// Distinct certificates remembered now.
    pub fn len(&self) -> usize {
        self.read.len()
    }

    pub fn is_empty(&self) -> bool {
        self.read.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerProbe {
    NeedMore,
    /// Not a TLS server flight (or not one we can read).
    NotTls,
    Done(ServerHello),
    /// The server answered the ClientHello with a fatal alert (its description code), no
    /// ServerHello: refused, as a firewall blocking by SNI or a failing inspection proxy does.
    Alert(u8),
}

/// Examines the start of the server's byte stream. `scratch` collects handshake bytes;
/// `certificates` remembers the certificates read before.
pub fn probe_server_flight(
    stream: &[u8],
    scratch: &mut Vec<u8>,
    certificates: &mut CertificateMemo,
) -> ServerProbe {
    scratch.clear();
    let mut flight_ended = false;
    for (index, record) in records(stream).enumerate() {
        let known =
            (content::CHANGE_CIPHER_SPEC..=content::APPLICATION_DATA).contains(&record.kind);
        if !known || record.major != 3 {
            return if index == 0 {
                ServerProbe::NotTls
            } else {
                done_or_not(scratch, true, certificates)
            };
        }
        if record.kind == content::ALERT {
            // Level 2 is fatal: the handshake ends here, before any ServerHello.
            if let (true, [2, description, ..]) = (record.is_complete(), record.body) {
                if scratch.is_empty() {
                    return ServerProbe::Alert(*description);
                }
            }
            // A warning alert may come first (unrecognized_name before the ServerHello,
            // http_ipv6.pcap frame 98): skip it.
            continue;
        }
        if record.kind != content::HANDSHAKE {
            // ChangeCipherSpec or encrypted data: the clear part of the flight is over.
            flight_ended = true;
            break;
        }
        scratch.extend_from_slice(record.body);
        if !record.is_complete() {
            break;
        }
    }
    done_or_not(scratch, flight_ended, certificates)
}

fn done_or_not(
    handshake: &[u8],
    flight_ended: bool,
    certificates: &mut CertificateMemo,
) -> ServerProbe {
    let Some(&handshake::SERVER_HELLO) = handshake.first() else {
        return if handshake.is_empty() && !flight_ended {
            ServerProbe::NeedMore
        } else {
            ServerProbe::NotTls
        };
    };
    let Some(sh_len) = be24(handshake, 1) else {
        return ServerProbe::NeedMore;
    };
    let Some(sh_message) = handshake.get(..4 + sh_len) else {
        return if flight_ended {
            ServerProbe::NotTls
        } else {
            ServerProbe::NeedMore
        };
    };
    let Some(mut hello) = parse_server_hello(sh_message) else {
        return ServerProbe::NotTls;
    };
    // TLS 1.3 encrypts the certificate: the ServerHello is all there is to read.
    if hello.version.0 >= 0x0304 {
        return ServerProbe::Done(hello);
    }
    let rest = handshake.get(4 + sh_len..).unwrap_or_default();
    match rest.first() {
        Some(&handshake::CERTIFICATE) => {
            let Some(len) = be24(rest, 1) else {
                return ServerProbe::NeedMore;
            };
            match rest.get(..4 + len) {
                Some(message) => {
                    hello.certificate = read_certificate_message(message, certificates);
                    ServerProbe::Done(hello)
                }
                None if flight_ended => ServerProbe::Done(hello),
                None => ServerProbe::NeedMore,
            }
        }
        // Resumption (no certificate) or another message: done with what we have.
        Some(_) => ServerProbe::Done(hello),
        None if flight_ended => ServerProbe::Done(hello),
        None => ServerProbe::NeedMore,
    }
}

fn parse_server_hello(message: &[u8]) -> Option<ServerHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) =
        parse_tls_message_handshake(message)
    else {
        return None;
    };
    let mut hello = ServerHello {
        version: TlsVersion(sh.version.0),
        ..ServerHello::default()
    };
    for (kind, value) in raw_extensions(sh.ext.unwrap_or_default()) {
        match kind {
            extension::SUPPORTED_VERSIONS => {
                if let Some(v) = be16(value, 0) {
                    hello.version = TlsVersion(v);
                }
            }
            extension::ALPN => {
                // The protocol list's 2-byte length, then the one name's 1-byte length.
                hello.alpn = prefixed8(value, 2).map(|p| String::from_utf8_lossy(p).into_owned());
            }
            _ => {}
        }
    }
    Some(hello)
}

fn read_certificate_message(
    message: &[u8],
    certificates: &mut CertificateMemo,
) -> Option<Arc<Certificate>> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::Certificate(chain)))) =
        parse_tls_message_handshake(message)
    else {
        return None;
    };
    let leaf = chain.cert_chain.first()?;
    certificates.read(leaf.data, parse_certificate)
}

/// Names and issuer of a DER certificate.
fn parse_certificate(der: &[u8]) -> Option<Certificate> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            let text = match name {
                GeneralName::DNSName(dns) => (*dns).to_owned(),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes)
                        .map(|a| std::net::IpAddr::from(a).to_string())
                        .unwrap_or_default(),
                    16 => <[u8; 16]>::try_from(*bytes)
                        .map(|a| std::net::IpAddr::from(a).to_string())
                        .unwrap_or_default(),
                    _ => continue,
                },
                _ => continue,
            };
            // DNS names compare without case: `Outlook.office.com` (CN) is `outlook.office.com`.
            // The cap first: past it, comparing each of thousands of names with 256 is waste.
            if names.len() < MAX_NAMES
                && !text.is_empty()
                && !names.iter().any(|n| n.eq_ignore_ascii_case(&text))
            {
                names.push(text);
            }
            if names.len() >= MAX_NAMES {
                break;
            }
        }
    }
    names.truncate(MAX_NAMES);
    Some(Certificate {
        names,
        issuer: cert.issuer().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::record::testing::handshake_record;
    use super::*;

    fn server_hello(version_ext: Option<u16>, alpn: Option<&str>) -> Vec<u8> {
        let mut ext = Vec::new();
        if let Some(v) = version_ext {
            ext.extend_from_slice(&[0, 0x2b, 0, 2]);
            ext.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(p) = alpn {
            ext.extend_from_slice(&[0, 0x10]);
            ext.extend_from_slice(&((p.len() + 3) as u16).to_be_bytes());
            ext.extend_from_slice(&((p.len() + 1) as u16).to_be_bytes());
            ext.push(p.len() as u8);
            ext.extend_from_slice(p.as_bytes());
        }
        let mut body = vec![3, 3];
        body.extend_from_slice(&[9; 32]);
        body.push(0);
        body.extend_from_slice(&[0x13, 0x01, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        handshake_record(3, handshake::SERVER_HELLO, &body)
    }

    #[test]
    fn tls13_server_hello_and_alpn() {
        let rec = server_hello(Some(0x0304), Some("h2"));
        let mut scratch = Vec::new();
        let mut memo = CertificateMemo::default();
        let ServerProbe::Done(hello) = probe_server_flight(&rec, &mut scratch, &mut memo) else {
            panic!("not done")
        };
        assert_eq!(hello.version.to_string(), "1.3");
        assert_eq!(hello.alpn.as_deref(), Some("h2"));
        for cut in 0..rec.len() {
            assert_eq!(
                probe_server_flight(&rec[..cut], &mut scratch, &mut memo),
                ServerProbe::NeedMore,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn tls12_waits_for_the_certificate_and_rejects_garbage() {
        let rec = server_hello(None, None);
        let mut scratch = Vec::new();
        let mut memo = CertificateMemo::default();
        assert_eq!(
            probe_server_flight(&rec, &mut scratch, &mut memo),
            ServerProbe::NeedMore
        );
        let mut with_ccs = rec.clone();
        with_ccs.extend_from_slice(&[20, 3, 3, 0, 1, 1]);
        let ServerProbe::Done(hello) = probe_server_flight(&with_ccs, &mut scratch, &mut memo)
        else {
            panic!("resumption flight")
        };
        assert_eq!(
            (hello.version.to_string(), hello.certificate),
            ("1.2".to_owned(), None)
        );
        assert_eq!(
            probe_server_flight(b"HTTP/1.1 200 OK\r\n", &mut scratch, &mut memo),
            ServerProbe::NotTls
        );
        // handshake_failure (40), fatal: refused.
        assert_eq!(
            probe_server_flight(&[21, 3, 3, 0, 2, 2, 40], &mut scratch, &mut memo),
            ServerProbe::Alert(40)
        );
        // A warning (unrecognized_name) is skipped.
        assert_eq!(
            probe_server_flight(&[21, 3, 3, 0, 2, 1, 112], &mut scratch, &mut memo),
            ServerProbe::NeedMore
        );
    }

    #[test]
    fn certificates_are_read_once_and_the_memo_stays_bounded() {
        let mut memo = CertificateMemo::default();
        let parsed = std::cell::Cell::new(0);
        let parse = |der: &[u8]| {
            parsed.set(parsed.get() + 1);
            (der.first() != Some(&0)).then(|| Certificate {
                names: vec![format!("{}.example", der.len())],
                issuer: "CN=test".into(),
            })
        };
        let first = memo.read(&[1; 100], parse);
        let again = memo.read(&[1; 100], parse);
        assert!(Arc::ptr_eq(
            first.as_ref().unwrap(),
            again.as_ref().unwrap()
        ));
        assert_eq!(again.unwrap().names, ["100.example"]);
        // Unreadable certificates are remembered too.
        assert_eq!(memo.read(&[0; 50], parse), None);
        assert_eq!(memo.read(&[0; 50], parse), None);
        assert_eq!(parsed.get(), 2);
        for n in 0..3 * MAX_REMEMBERED {
            let der = (n as u32).to_be_bytes();
            let mut bytes = vec![1];
            bytes.extend_from_slice(&der);
            assert!(memo.read(&bytes, parse).is_some());
            assert!(memo.len() <= MAX_REMEMBERED);
        }
        assert_eq!(parsed.get(), 2 + 3 * MAX_REMEMBERED);
        // Bytes are bounded as well as entries.
        let big = vec![2; MAX_REMEMBERED_BYTES / 3];
        for n in 0..4u8 {
            let mut der = big.clone();
            der.push(n);
            memo.read(&der, parse);
            assert!(memo.read.bytes() <= MAX_REMEMBERED_BYTES);
        }
    }
}
