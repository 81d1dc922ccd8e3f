#!/usr/bin/env python3
"""Writes the synthetic captures of samples/report/ that issue 20's report sections need and
no real capture here shows: TLS connections whose ClientHellos name several Office 365 tenants,
and one address holding thousands of concurrent Office 365 connections (NAT pressure). The
packets are built byte by byte (Ethernet, IPv4, TCP, a TLS 1.3 ClientHello with SNI, ALPN and
supported_versions), with fixed addresses, ports and times, so the output is the same on every
run. tests/report.rs asserts exact values on them.

  tenants.pcap       10.1.1.10-12 to SharePoint (13.107.136.10, set 31) and the directory:
                     contoso.sharepoint.com (3 clients), contoso-my.sharepoint.com,
                     fabrikam.sharepoint.com and fabrikam-my.sharepoint.com (10.1.1.11),
                     autodiscover.northwind.onmicrosoft.com (10.1.1.12, 52.96.1.20),
                     outlook.office365.com (no tenant)
  names.pcap         10.1.2.10 to Exchange Online and SharePoint: a name read from TLS SNI
                     (outlook.office365.com) and from an HTTP Host on port 80, hidden by ECH
                     (outer name public.example.com), by a ClientHello without SNI, by a cut
                     ClientHello (60 bytes, then FIN), by a connection already open when the
                     capture began (application data, no SYN), and a connection that sent
                     nothing (address only)
  nat-pressure.pcap  203.0.113.5 (a public NAT address: the capture is taken outside the NAT)
                     opens 4,100 TCP connections to Exchange Online (52.96.0.0/14, set 1) on
                     443, 41 destination addresses x 100 connections, one SYN every 100 us,
                     each answered (SYN+ACK) and reset by the client 60 s after its SYN: 4,100
                     at once at the peak (the concurrency rule triggers, the 50 % port rule
                     does not); raw IPv4 link type, to keep the file small
  nat-ports N OUT    (not committed) N connections from 203.0.113.5 to one address and port,
                     52.96.1.10:443, for the port rule (N > 32,256); tests/report.rs builds the
                     same capture itself

usage: make-synthetic-report-samples.py [OUTDIR]    (default: samples/report next to this file)
       make-synthetic-report-samples.py nat-ports N OUT.pcap
"""
import os
import struct
import sys

BASE = 1_764_000_000  # 2025-11-24T16:00:00Z


class Pcap:
    def __init__(self, path, raw=False):
        self.f = open(path, "wb")
        self.raw = raw
        # Classic pcap, microseconds, snaplen 65535, Ethernet (1) or raw IPv4 (101).
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101 if raw else 1))

    def packet(self, t_us, frame):
        if self.raw:
            frame = frame[14:]
        self.f.write(struct.pack("<IIII", BASE + t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def tcp_frame(src, sport, dst, dport, seq, ack, flags, payload=b""):
    s, d = ip4(src), ip4(dst)
    offset_flags = (5 << 12) | flags
    header = struct.pack("!HHIIHHHH", sport, dport, seq, ack, offset_flags, 64240, 0, 0)
    pseudo = s + d + struct.pack("!BBH", 0, 6, len(header) + len(payload))
    csum = checksum(pseudo + header + payload)
    header = header[:16] + struct.pack("!H", csum) + header[18:]
    total = 20 + len(header) + len(payload)
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, s, d)
    iph = iph[:10] + struct.pack("!H", checksum(iph)) + iph[12:]
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + iph + header + payload


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04


def extension(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(name, seed, ech=False):
    """A TLS 1.3 ClientHello; `name` None leaves out server_name, `ech` adds an outer
    encrypted_client_hello extension (0xfe0d) as a client offering ECH sends it."""
    alpn_list = b"".join(bytes([len(p)]) + p for p in (b"h2", b"http/1.1"))
    key_share = struct.pack("!HHH", 36, 0x001D, 32) + bytes((seed + i) & 0xFF for i in range(32))
    parts = []
    if name is not None:
        sni = name.encode()
        parts.append(extension(0x0000, struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni))
    if ech:
        # outer ECH: type 0, HPKE KDF/AEAD, config id, 32-byte enc, 64-byte payload
        enc, payload = bytes(32), bytes(range(64))
        body = b"\x00" + struct.pack("!HHB", 1, 1, 7) + struct.pack("!H", len(enc)) + enc
        parts.append(extension(0xFE0D, body + struct.pack("!H", len(payload)) + payload))
    extensions = b"".join(
        parts
        + [
            extension(0x000A, struct.pack("!HHH", 4, 0x001D, 0x0017)),  # supported_groups
            extension(0x000D, struct.pack("!HHHH", 6, 0x0403, 0x0804, 0x0401)),  # signature_algorithms
            extension(0x0010, struct.pack("!H", len(alpn_list)) + alpn_list),
            extension(0x002B, b"\x04\x03\x04\x03\x03"),  # supported_versions: 1.3, 1.2
            extension(0x0033, key_share),
        ]
    )
    random = bytes((seed * 7 + i) & 0xFF for i in range(32))
    session = bytes((seed * 13 + i) & 0xFF for i in range(32))
    suites = struct.pack("!HHHH", 6, 0x1301, 0x1302, 0xC02F)
    body = b"\x03\x03" + random + bytes([32]) + session + suites + b"\x01\x00"
    body += struct.pack("!H", len(extensions)) + extensions
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def tcp_session(pcap, t_us, client, sport, server, dport, seed, request, answer, syn=True):
    """A TCP handshake (unless `syn` is False: a connection that began before the capture),
    the client's `request`, the server's `answer` (each left out when empty) and a FIN each
    way."""
    c_seq, s_seq = 1000 + seed * 7919, 5000 + seed * 104729
    steps = []
    if syn:
        steps += [
            (client, sport, server, dport, c_seq, 0, SYN, b""),
            (server, dport, client, sport, s_seq, c_seq + 1, SYN | ACK, b""),
            (client, sport, server, dport, c_seq + 1, s_seq + 1, ACK, b""),
        ]
    c, s = c_seq + 1, s_seq + 1
    if request:
        steps.append((client, sport, server, dport, c, s, PSH | ACK, request))
        c += len(request)
    if answer:
        steps.append((server, dport, client, sport, s, c, PSH | ACK, answer))
        s += len(answer)
    steps += [
        (client, sport, server, dport, c, s, FIN | ACK, b""),
        (server, dport, client, sport, s, c + 1, FIN | ACK, b""),
    ]
    for i, (src, sp, dst, dp, seq, ack, flags, payload) in enumerate(steps):
        pcap.packet(t_us + i * 1000, tcp_frame(src, sp, dst, dp, seq, ack, flags, payload))


def app_data(n):
    return b"\x17\x03\x03" + struct.pack("!H", n) + bytes(n)


def tls_connection(pcap, t_us, client, sport, server, name, seed, reply=1200):
    """A TLS connection on 443: the ClientHello for `name`, an application-data record of
    `reply` bytes standing in for the server's flight."""
    tcp_session(pcap, t_us, client, sport, server, 443, seed, client_hello(name, seed), app_data(reply))


TENANT_FLOWS = [
    ("10.1.1.10", "13.107.136.10", "contoso.sharepoint.com"),
    ("10.1.1.11", "13.107.136.10", "contoso.sharepoint.com"),
    ("10.1.1.12", "13.107.136.10", "contoso.sharepoint.com"),
    ("10.1.1.10", "13.107.136.10", "contoso-my.sharepoint.com"),
    ("10.1.1.11", "13.107.136.11", "fabrikam.sharepoint.com"),
    ("10.1.1.11", "13.107.136.11", "fabrikam-my.sharepoint.com"),
    ("10.1.1.12", "52.96.1.20", "autodiscover.northwind.onmicrosoft.com"),
    ("10.1.1.10", "52.96.1.21", "outlook.office365.com"),
]


def tenants(path):
    pcap = Pcap(path)
    for i, (client, server, name) in enumerate(TENANT_FLOWS):
        tls_connection(pcap, i * 50_000, client, 50000 + i, server, name, i + 1)
    pcap.close()


def names(path):
    """Office 365 connections whose name is read, hidden or not carried (one each)."""
    pcap = Pcap(path)
    c = "10.1.2.10"
    hello = client_hello("contoso.sharepoint.com", 21)
    flows = [
        # read: TLS SNI, HTTP Host
        (52001, "52.96.1.33", 443, client_hello("outlook.office365.com", 22), app_data(1200), True),
        (52002, "52.96.1.34", 80, b"GET / HTTP/1.1\r\nHost: outlook.office365.com\r\n\r\n",
         b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://outlook.office365.com/\r\nContent-Length: 0\r\n\r\n", True),
        # hidden: ECH (the outer name is the client-facing server's), no SNI, a cut
        # ClientHello (its first 60 bytes, then FIN), a connection from before the capture
        (52003, "52.96.1.30", 443, client_hello("public.example.com", 23, ech=True), app_data(1500), True),
        (52004, "13.107.136.12", 443, client_hello(None, 24), app_data(1300), True),
        (52005, "13.107.136.13", 443, hello[:60], b"", True),
        (52006, "52.96.1.31", 443, app_data(400), app_data(2000), False),
        # address only: a connection that never sent a ClientHello
        (52007, "52.96.1.32", 443, b"", b"", True),
    ]
    for i, (sport, server, dport, request, answer, syn) in enumerate(flows):
        tcp_session(pcap, i * 50_000, c, sport, server, dport, 30 + i, request, answer, syn)
    pcap.close()


def nat_connections(pcap, opens):
    """Per (t_us, dst, sport) of `opens`: the client's SYN, the server's SYN+ACK 1 ms later, and
    the client's RST 60 s after its SYN (the connections carry nothing: small files)."""
    client = "203.0.113.5"
    for t, dst, sport in opens:
        seq = sport * 65536
        pcap.packet(t, tcp_frame(client, sport, dst, 443, seq, 0, SYN))
        pcap.packet(t + 1000, tcp_frame(dst, 443, client, sport, 7, seq + 1, SYN | ACK))
    for t, dst, sport in opens:
        pcap.packet(t + 60_000_000, tcp_frame(client, sport, dst, 443, sport * 65536 + 1, 0, RST))


def nat_pressure(path):
    pcap = Pcap(path, raw=True)
    opens = []
    for i in range(4100):
        dst = "52.96.%d.%d" % (2, 10 + i // 100)
        opens.append((i * 100, dst, 1024 + i))
    nat_connections(pcap, opens)
    pcap.close()


def nat_ports(n, path):
    pcap = Pcap(path, raw=True)
    nat_connections(pcap, [(i * 100, "52.96.1.10", 1024 + i) for i in range(n)])
    pcap.close()


def main(argv):
    if argv and argv[0] == "nat-ports":
        nat_ports(int(argv[1]), argv[2])
        return
    out = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "report")
    os.makedirs(out, exist_ok=True)
    tenants(os.path.join(out, "tenants.pcap"))
    names(os.path.join(out, "names.pcap"))
    nat_pressure(os.path.join(out, "nat-pressure.pcap"))


if __name__ == "__main__":
    main(sys.argv[1:])
