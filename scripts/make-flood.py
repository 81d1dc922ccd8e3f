#!/usr/bin/env python3
"""Writes a pcap of N distinct UDP flows (one 60-byte datagram each, a new 5-tuple every time,
1 microsecond apart): the worst case for the flow table. For memory measurements
(BENCHMARKS.md) and the flood test; not committed.

usage: make-flood.py N OUT.pcap
"""
import struct
import sys


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        payload = b"\x00" * 18
        for i in range(n):
            src = 0x0A000000 | (i >> 8 & 0xFFFF) << 8 | 1
            dst = 0xC6336400 | (i & 0xFF)
            sport, dport = 1024 + (i % 60000), 3478
            udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
            total = 20 + len(udp)
            ip = struct.pack("!BBHHHBBHII", 0x45, 0, total, 0, 0, 64, 17, 0, src, dst) + udp
            frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
            sec, usec = 1_700_000_000 + i // 1_000_000, i % 1_000_000
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)


if __name__ == "__main__":
    main()
