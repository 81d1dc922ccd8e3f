//! Real-time media and its signalling on UDP: STUN and TURN (RFC 5389/8489/8656, with
//! Microsoft's MS-TURN attributes), TURN ChannelData, Microsoft's MTURN framing (a 12-byte header
//! with magic 0xff10 in front of STUN, RTP and RTCP on UDP 3478-3481), RTP and RTCP (RFC 3550),
//! and DTLS records (RFC 6347/9147). Hand-written: these are a few fixed header fields each, and
//! no maintained crate offers them as borrowed, allocation-free views.

use super::field::be16;

const STUN_HEADER: usize = 20;
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const MTURN_MAGIC: [u8; 2] = [0xff, 0x10];
const MTURN_HEADER: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Stun,
    /// A TURN method (Allocate, Refresh, Send, Data, CreatePermission, ChannelBind) or
    /// ChannelData framing.
    Turn,
    Rtp,
    Rtcp,
    Dtls,
}

/// What one datagram is, and whether Microsoft's framing or attributes were on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaPacket {
    pub kind: Media,
    /// Wrapped in Microsoft's MTURN header (0xff10).
    pub mturn: bool,
    /// A STUN message carrying Microsoft (MS-TURN / MS-ICE) attributes.
    pub microsoft: bool,
    /// A DTLS ClientHello.
    pub dtls_client_hello: bool,
}

/// STUN: two zero top bits, a length that fits and is a multiple of 4, and either the RFC 5389
/// magic cookie or (classic RFC 3489) a length that matches the datagram exactly.
/// Returns (is TURN, carries Microsoft attributes).
pub fn stun(payload: &[u8]) -> Option<(bool, bool)> {
    let kind = be16(payload, 0)?;
    let len = usize::from(be16(payload, 2)?);
    if kind & 0xc000 != 0 || STUN_HEADER + len > payload.len() {
        return None;
    }
    let cookie = payload.get(4..8)? == MAGIC_COOKIE;
    // Without the cookie (RFC 3489) the length must be exact and aligned. Microsoft's MS-TURN
    // sends unpadded lengths (teams.pcap frame 1250: 194), so with the cookie any length fits.
    if !cookie && (STUN_HEADER + len != payload.len() || len % 4 != 0) {
        return None;
    }
    // Method: bits 0-3, 5-7, 9-13 of the type (the class bits 4 and 8 are removed).
    let method = (kind & 0x000f) | ((kind & 0x00e0) >> 1) | ((kind & 0x3e00) >> 2);
    if !cookie && !matches!(kind, 0x0001 | 0x0101 | 0x0111 | 0x0002 | 0x0102 | 0x0112) {
        return None;
    }
    let turn = matches!(method, 0x003 | 0x004 | 0x006 | 0x007 | 0x008 | 0x009);
    let mut microsoft = false;
    let mut at = STUN_HEADER;
    let end = STUN_HEADER + len;
    // Attributes: type, length, value padded to 4 bytes. A malformed list just ends the walk.
    while at + 4 <= end {
        let (Some(attr), Some(attr_len)) = (be16(payload, at), be16(payload, at + 2)) else {
            break;
        };
        // MS-TURN and MS-ICE attributes (MS-VERSION 0x8008, MS-SEQUENCE-NUMBER 0x8050,
        // candidate identifier 0x8054, service quality 0x8055, implementation version 0x8070...).
        if matches!(
            attr,
            0x8008 | 0x8050 | 0x8054 | 0x8055 | 0x8056 | 0x8070 | 0x8090 | 0x8095
        ) {
            microsoft = true;
        }
        at += 4 + usize::from(attr_len).div_ceil(4) * 4;
    }
    Some((turn, microsoft))
}

/// TURN ChannelData (RFC 8656 12.4): channel 0x4000-0x7fff, then a length that fits.
pub fn channel_data(payload: &[u8]) -> Option<&[u8]> {
    let channel = be16(payload, 0)?;
    let len = usize::from(be16(payload, 2)?);
    if !(0x4000..=0x7fff).contains(&channel)
        || 4 + len > payload.len()
        || payload.len() > 4 + len + 3
    {
        return None;
    }
    payload.get(4..4 + len)
}

/// RTP or RTCP version 2 (RFC 3550), told apart by payload type as RFC 5761 does.
pub fn rtp_or_rtcp(payload: &[u8]) -> Option<Media> {
    let first = *payload.first()?;
    let second = *payload.get(1)?;
    if first >> 6 != 2 {
        return None;
    }
    if (200..=206).contains(&second) {
        // RTCP: the length (in 32-bit words minus one) must fit the datagram.
        let words = usize::from(be16(payload, 2)?);
        return ((words + 1) * 4 <= payload.len()).then_some(Media::Rtcp);
    }
    let payload_type = second & 0x7f;
    // 72-76 would collide with RTCP; 12 bytes of fixed header plus CSRCs must be there.
    let csrc = usize::from(first & 0x0f) * 4;
    if (72..=76).contains(&payload_type) || payload.len() < 12 + csrc {
        return None;
    }
    Some(Media::Rtp)
}

/// DTLS record: content type 20-25, version 1.0/1.2/1.3-compat (0xfeff, 0xfefd), a length
/// that fits. Returns whether it carries a ClientHello.
pub fn dtls(payload: &[u8]) -> Option<bool> {
    let content = *payload.first()?;
    let version = be16(payload, 1)?;
    let len = usize::from(be16(payload, 11)?);
    if !(20..=25).contains(&content) || !matches!(version, 0xfeff | 0xfefd | 0xfefc | 0x0100) {
        return None;
    }
    if 13 + len > payload.len() {
        return None;
    }
    Some(content == 22 && payload.get(13) == Some(&1))
}

/// Classifies one UDP datagram of a media flow, looking through MTURN and ChannelData framing.
pub fn media_packet(payload: &[u8]) -> Option<MediaPacket> {
    let (inner, mturn) = match payload.get(..2) {
        Some(m) if m == MTURN_MAGIC => (payload.get(MTURN_HEADER..)?, true),
        _ => (payload, false),
    };
    let mut packet = MediaPacket {
        kind: Media::Stun,
        mturn,
        microsoft: mturn,
        dtls_client_hello: false,
    };
    if let Some((turn, microsoft)) = stun(inner) {
        packet.kind = if turn { Media::Turn } else { Media::Stun };
        packet.microsoft |= microsoft;
        return Some(packet);
    }
    if let Some(channel) = channel_data(inner) {
        packet.kind = Media::Turn;
        let _ = channel;
        return Some(packet);
    }
    if let Some(hello) = dtls(inner) {
        packet.kind = Media::Dtls;
        packet.dtls_client_hello = hello;
        return Some(packet);
    }
    packet.kind = rtp_or_rtcp(inner)?;
    Some(packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn teams_packets_from_the_corpus() {
        // teams.pcap frame 1238: TURN Allocate to 52.114.250.123:3478, MS-VERSION attribute first
        // (the capture's bytes, shortened to the 20-byte header plus two attributes, length fixed).
        let mut allocate =
            unhex("000300102112a442b2343f6e67f41d58acba639f000f000472c64bc68008000400000006");
        allocate[3] = 0x10;
        let p = media_packet(&allocate).unwrap();
        assert_eq!((p.kind, p.microsoft, p.mturn), (Media::Turn, true, false));
        // teams.pcap frame 1424: MTURN header, then a STUN binding success response.
        let mut mturn = unhex("ff100060deaa296708f708fc010100082112a44281275a7e28b364d88f3d14f9");
        mturn.extend_from_slice(&unhex("0020000800010001"));
        let p = media_packet(&mturn).unwrap();
        assert_eq!((p.kind, p.mturn), (Media::Stun, true));
        // stun_msteams_unidir.pcapng frame 2: an RTCP receiver report (PT 201, 5 words + 1).
        let rtcp = unhex("80c90005000003e85445413b6f681514fa9c98c95d7a5cf38000a15e01e3e4b9");
        assert_eq!(media_packet(&rtcp).unwrap().kind, Media::Rtcp);
    }

    #[test]
    fn rtp_dtls_channel_data_and_negatives() {
        let mut rtp = vec![0x80, 0x6f, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        rtp.extend_from_slice(&[0; 160]);
        assert_eq!(media_packet(&rtp).unwrap().kind, Media::Rtp);
        let mut dtls_hello = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 1];
        dtls_hello.extend_from_slice(&[0; 11]);
        let p = media_packet(&dtls_hello).unwrap();
        assert_eq!((p.kind, p.dtls_client_hello), (Media::Dtls, true));
        let mut channel = vec![0x40, 0x01, 0, 4];
        channel.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(media_packet(&channel).unwrap().kind, Media::Turn);
        assert!(media_packet(b"GET / HTTP/1.1\r\n").is_none());
        assert!(
            media_packet(&[0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0]).is_none(),
            "TLS is not DTLS"
        );
        assert!(
            stun(&[0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42]).is_none(),
            "length past the end"
        );
        for cut in 0..dtls_hello.len() {
            let _ = media_packet(&dtls_hello[..cut]);
        }
    }
}
