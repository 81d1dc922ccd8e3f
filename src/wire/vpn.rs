//! VPN and infrastructure protocols recognised by their first bytes: IKEv1/IKEv2 (RFC 7296,
//! with the RFC 3948 non-ESP marker on UDP 4500), OpenVPN (hard-reset opcodes, UDP or TCP with
//! its 2-byte length), WireGuard (message types and fixed sizes), NTP (RFC 5905), Kerberos
//! (RFC 4120 ASN.1 application tags), LDAP (BER message) and SMB (NetBIOS session + SMB magic).
//! Each check is a handful of fixed fields; nothing is allocated or copied.

use super::field::{be16, be32};
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Infra {
    Ike,
    OpenVpn,
    WireGuard,
    Ntp,
    Kerberos,
    Ldap,
    Smb,
}

/// IKE header: SPIs, next payload, version 1.0 or 2.0, a known exchange type, and a length
/// equal to the message. On UDP 4500 a 4-byte zero marker comes first.
pub fn ike(payload: &[u8]) -> bool {
    let msg = match payload.get(..4) {
        Some([0, 0, 0, 0]) => payload.get(4..).unwrap_or_default(),
        _ => payload,
    };
    let (Some(&version), Some(&exchange), Some(len)) = (msg.get(17), msg.get(18), be32(msg, 24))
    else {
        return false;
    };
    let known_exchange = match version {
        0x10 => matches!(exchange, 1..=5 | 32 | 33),
        0x20 => matches!(exchange, 34..=37),
        _ => false,
    };
    // The initiator SPI is never zero.
    known_exchange && len as usize == msg.len() && msg.get(..8).is_some_and(|spi| spi != [0; 8])
}

/// OpenVPN control packet opening a session: P_CONTROL_HARD_RESET_CLIENT_V1/V2/V3 (1, 7, 10)
/// or the server's answer (2, 8), key id 0. TCP packets carry a 2-byte length first.
pub fn openvpn(payload: &[u8], tcp: bool) -> bool {
    let packet = if tcp {
        match be16(payload, 0) {
            Some(len) if usize::from(len) + 2 == payload.len() => {
                payload.get(2..).unwrap_or_default()
            }
            _ => return false,
        }
    } else {
        payload
    };
    let Some(&first) = packet.first() else {
        return false;
    };
    let opcode = first >> 3;
    let key_id = first & 0x07;
    // opcode, session id (8), then at least a packet-id array length and a packet id.
    key_id == 0 && matches!(opcode, 1 | 2 | 7 | 8 | 10) && packet.len() >= 14
}

/// WireGuard: type 1 (initiation, 148 bytes), 2 (response, 92), 3 (cookie reply, 64) with three
/// reserved zero bytes; transport data (type 4) is recognised once a handshake was seen.
pub fn wireguard(payload: &[u8]) -> bool {
    matches!(
        (payload.get(..4), payload.len()),
        (Some([1, 0, 0, 0]), 148) | (Some([2, 0, 0, 0]), 92) | (Some([3, 0, 0, 0]), 64)
    )
}

/// NTP v3/v4 client or server packet of the standard 48 bytes (or with extensions/MAC).
pub fn ntp(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let version = (first >> 3) & 0x07;
    let mode = first & 0x07;
    matches!(version, 3 | 4)
        && matches!(mode, 1..=5)
        && (payload.len() == 48 || payload.len() == 68 || payload.len() == 72)
}

/// Kerberos: an ASN.1 application tag of AS-REQ (10), AS-REP (11), TGS-REQ (12), TGS-REP (13),
/// AP-REQ (14) or KRB-ERROR (30) with a definite length. Over TCP a 4-byte length comes first.
pub fn kerberos(payload: &[u8], tcp: bool) -> bool {
    let msg = if tcp {
        match be32(payload, 0) {
            Some(len) if len as usize + 4 == payload.len() => payload.get(4..).unwrap_or_default(),
            _ => return false,
        }
    } else {
        payload
    };
    matches!(msg.first(), Some(0x6a..=0x6e | 0x7e)) && msg.get(1).is_some_and(|l| *l & 0x7f != 0)
}

/// LDAP: a BER SEQUENCE holding an INTEGER message id and an application-tagged operation
/// (bind request 0x60, search 0x63, ...).
pub fn ldap(payload: &[u8]) -> bool {
    let Some(&0x30) = payload.first() else {
        return false;
    };
    let len_byte = *payload.get(1).unwrap_or(&0);
    let header = if len_byte & 0x80 != 0 {
        2 + usize::from(len_byte & 0x7f)
    } else {
        2
    };
    let (Some(&0x02), Some(&id_len)) = (payload.get(header), payload.get(header + 1)) else {
        return false;
    };
    let op = payload
        .get(header + 2 + usize::from(id_len))
        .copied()
        .unwrap_or(0);
    (1..=4).contains(&id_len) && (0x60..=0x7f).contains(&op)
}

/// SMB1/SMB2/SMB3 after a NetBIOS session message header (type 0, 3-byte length).
pub fn smb(payload: &[u8]) -> bool {
    payload.first() == Some(&0)
        && matches!(payload.get(4..8), Some([0xfd..=0xff, b'S', b'M', b'B']))
}

/// The infrastructure protocol a first payload shows, if any.
pub fn recognise(payload: &[u8], tcp: bool) -> Option<Infra> {
    if !tcp && ike(payload) {
        return Some(Infra::Ike);
    }
    if !tcp && wireguard(payload) {
        return Some(Infra::WireGuard);
    }
    if tcp && smb(payload) {
        return Some(Infra::Smb);
    }
    if kerberos(payload, tcp) {
        return Some(Infra::Kerberos);
    }
    if ldap(payload) {
        return Some(Infra::Ldap);
    }
    if !tcp && ntp(payload) {
        return Some(Infra::Ntp);
    }
    if openvpn(payload, tcp) {
        return Some(Infra::OpenVpn);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_v1_v2_and_natt_marker() {
        let mut v2 = vec![
            1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 8, 0, 0, 0, 0,
        ];
        v2.extend_from_slice(&32u32.to_be_bytes());
        v2.extend_from_slice(&[0; 4]);
        assert!(ike(&v2));
        let mut natt = vec![0, 0, 0, 0];
        natt.extend_from_slice(&v2);
        assert!(ike(&natt));
        let mut v1 = v2.clone();
        v1[17] = 0x10;
        v1[18] = 2;
        assert!(ike(&v1));
        v1[27] = 99;
        assert!(!ike(&v1), "length must match");
    }

    #[test]
    fn vpn_and_infrastructure() {
        let mut reset = vec![0x38];
        reset.extend_from_slice(&[9; 13]);
        assert!(openvpn(&reset, false));
        let mut framed = (reset.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&reset);
        assert!(openvpn(&framed, true));
        assert!(!openvpn(&[0x39; 14], false), "key id must be 0");
        let mut wg = vec![1, 0, 0, 0];
        wg.resize(148, 7);
        assert!(wireguard(&wg));
        wg.push(0);
        assert!(!wireguard(&wg));
        let mut ntp_packet = vec![0x23];
        ntp_packet.resize(48, 0);
        assert!(ntp(&ntp_packet));
        assert!(kerberos(&[0x6a, 0x81, 0x10], false));
        assert!(ldap(&[0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07]));
        assert!(smb(&[0, 0, 0, 0x45, 0xfe, b'S', b'M', b'B']));
        assert_eq!(recognise(&[0x16, 3, 1, 0, 5], true), None);
    }
}
