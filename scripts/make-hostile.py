#!/usr/bin/env python3
"""Captures built to cost an analyzer the most per byte (for BENCHMARKS.md "Hostile inputs").

    scripts/make-hostile.py long-sni OUT.pcap [FLOWS=100]  # ClientHellos with a 16 KB SNI of one-letter labels
    scripts/make-hostile.py tiny-records OUT.pcap [FLOWS=10]  # a 3.7 KB ClientHello as 1-byte records in 1-byte segments
    scripts/make-hostile.py clock-swing OUT.pcap [FLOWS=100000]  # FLOWS flows, then 100,000 packets swinging 150 s back and forth
"""
import struct
import sys


def pcap_header(out):
    out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))


def record(out, secs, micros, frame):
    out.write(struct.pack('<IIII', secs, micros, len(frame), len(frame)))
    out.write(frame)


def ether(payload):
    return b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00' + payload


def ipv4(src, dst, proto, payload):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0,
                       bytes(src), bytes(dst)) + payload


def tcp(src, dst, sport, dport, seq, flags, data=b''):
    header = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0)
    return ether(ipv4(src, dst, 6, header + data))


def client_hello(name):
    sni = struct.pack('!BH', 0, len(name)) + name
    ext = struct.pack('!HH', 0, len(sni) + 2) + struct.pack('!H', len(sni)) + sni
    body = (b'\x03\x03' + b'\x11' * 32 + b'\x00' + struct.pack('!H', 2) + b'\x13\x01' + b'\x01\x00'
            + struct.pack('!H', len(ext)) + ext)
    return b'\x01' + struct.pack('!I', len(body))[1:] + body


def tls_flows(out, flows, stream, segment):
    client, server = [10, 0, 0, 5], [52, 112, 0, 10]
    clock = [1_700_000_000, 0]

    def put(frame):
        clock[1] += 1
        if clock[1] == 1_000_000:
            clock[0], clock[1] = clock[0] + 1, 0
        record(out, clock[0], clock[1], frame)

    for i in range(flows):
        port = 20_000 + i
        put(tcp(client, server, port, 443, 1000, 0x02))
        put(tcp(server, client, 443, port, 5000, 0x12))
        put(tcp(client, server, port, 443, 1001, 0x10))
        for at in range(0, len(stream), segment):
            put(tcp(client, server, port, 443, 1001 + at, 0x18, stream[at:at + segment]))


def main():
    kind, path = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else None
    with open(path, 'wb') as out:
        pcap_header(out)
        if kind == 'long-sni':
            hello = client_hello(b'a.' * 8000 + b'teams.microsoft.com')
            stream = b'\x16\x03\x01' + struct.pack('!H', len(hello)) + hello
            tls_flows(out, count or 100, stream, 1400)
        elif kind == 'tiny-records':
            hello = client_hello((b'a' * 60 + b'.') * 60 + b'teams.microsoft.com')
            stream = b''.join(b'\x16\x03\x01\x00\x01' + hello[i:i + 1] for i in range(len(hello)))
            tls_flows(out, count or 10, stream, 1)
        elif kind == 'clock-swing':
            def udp(src, sport, dport):
                u = struct.pack('!HHHH', sport, dport, 12, 0) + b'ping'
                return ether(ipv4(src, [192, 0, 2, 1], 17, u))
            for i in range(count or 100_000):
                record(out, 1000, 0, udp([10, 1 + i // 65536, (i // 256) % 256, i % 256], 40000, 53000))
            for k in range(100_000):
                record(out, 1150 if k % 2 == 0 else 1000, 0, udp([10, 200, 0, 1], 40000, 53001))
        else:
            sys.exit(__doc__)


main()
