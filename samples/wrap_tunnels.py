#!/usr/bin/env python3
"""Wraps the frames of samples/tunnels/plain4.pcap and plain6.pcap (a real TLS connection over
IPv4 and over IPv6, Ethernet frames) into each encapsulation o365flow unwraps, one capture per
encapsulation, outer addresses from TEST-NET-1 (192.0.2.0/24) and 2001:db8::/32.
Run by make-tunnel-samples.sh; usage: wrap_tunnels.py DIR."""
import struct
import sys

OUT = sys.argv[1]
MAC_A, MAC_B = bytes.fromhex('020000000001'), bytes.fromhex('020000000002')


def read(path):
    data = open(path, 'rb').read()
    at, frames = 24, []
    while at + 16 <= len(data):
        secs, usecs, caplen, _ = struct.unpack('<IIII', data[at:at + 16])
        frames.append((secs, usecs, data[at + 16:at + 16 + caplen]))
        at += 16 + caplen
    return frames


def write(name, frames):
    with open(f'{OUT}/{name}.pcap', 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for secs, usecs, frame in frames:
            f.write(struct.pack('<IIII', secs, usecs, len(frame), len(frame)))
            f.write(frame)


def checksum(header):
    s = sum(struct.unpack(f'!{len(header) // 2}H', header))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return (~s) & 0xffff


def ipv4(src, dst, proto, payload, ident=1):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack('!H', checksum(h)) + h[12:]
    return h + payload


def ipv6(src, dst, next_header, payload):
    return struct.pack('!IHBB16s16s', 0x60000000, len(payload), next_header, 64, src, dst) + payload


def udp(sport, dport, payload):
    return struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload


def ether(src, dst, ether_type, payload):
    return dst + src + struct.pack('!H', ether_type) + payload


V4 = (bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
V6 = (bytes.fromhex('20010db8000000000000000000000001'), bytes.fromhex('20010db8000000000000000000000002'))


def outer(frame, inner_ip_src_is_a):
    """Outer addresses and MACs follow the inner direction: A is the inner client side."""
    if inner_ip_src_is_a:
        return V4[0], V4[1], V6[0], V6[1], MAC_A, MAC_B
    return V4[1], V4[0], V6[1], V6[0], MAC_B, MAC_A


def from_a(frame):
    # Inner source is the client (10.99.0.1 or fd99::1) when its last address byte is 1.
    ether_type = frame[12:14]
    if ether_type == b'\x08\x00':
        return frame[14 + 12 + 3] == 1
    return frame[14 + 8 + 15] == 1


def wrap(frames, build):
    out = []
    for secs, usecs, frame in frames:
        s4, d4, s6, d6, smac, dmac = outer(frame, from_a(frame))
        out.append((secs, usecs, build(frame, frame[14:], s4, d4, s6, d6, smac, dmac)))
    return out


plain4 = read(f'{OUT}/plain4.pcap')
plain6 = read(f'{OUT}/plain6.pcap')
seq = [0]


def gre_seq():
    seq[0] += 1
    return seq[0]


recipes = {
    'gre': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 47, struct.pack('!HH', 0, 0x0800) + ip))),
    'gretap': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 47, struct.pack('!HHI', 0x2000, 0x6558, 7) + f))),
    'erspan-i': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 47, struct.pack('!HH', 0, 0x88be) + f))),
    'erspan-ii': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 47, struct.pack('!HHI', 0x1000, 0x88be, gre_seq()) + struct.pack('!HHI', 0x1000, 123, 0) + f))),
    'erspan-iii': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 47, struct.pack('!HH', 0, 0x22eb) + struct.pack('!HHIHH', 0x2000, 123, 0, 0, 0x0001) + bytes(8) + f))),
    'geneve': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 17, udp(40000, 6081, struct.pack('!BBHI', 0, 0, 0x6558, 42 << 8) + f)))),
    'capwap': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 17, udp(40001, 5247, bytes([0, 0x10, 0x02, 0x00, 0, 0, 0, 0]) + f)))),
    'gtp-u': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 17, udp(2152, 2152, struct.pack('!BBHI', 0x30, 0xff, len(ip), 0x1234) + ip)))),
    'teredo': (plain6, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 17, udp(40002, 3544, ip)))),
    'ipip': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 4, ip))),
    '6in4': (plain6, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x0800, ipv4(s4, d4, 41, ip))),
    '4in6': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x86dd, ipv6(s6, d6, 4, ip))),
    '6in6': (plain6, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x86dd, ipv6(s6, d6, 41, ip))),
    'mpls': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x8847, struct.pack('!II', (100 << 12) | 64, (200 << 12) | 0x100 | 64) + ip)),
    'pppoe': (plain4, lambda f, ip, s4, d4, s6, d6, sm, dm: ether(sm, dm, 0x8864, struct.pack('!BBHHH', 0x11, 0, 0x0001, len(ip) + 2, 0x0021) + ip)),
}
for name, (frames, build) in recipes.items():
    write(name, wrap(frames, build))
print('wrapped:', ', '.join(recipes))
