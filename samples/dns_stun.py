#!/usr/bin/env python3
"""A Teams-like media connectivity check for make-verdict-samples.sh: resolve relay names over DNS,
then send a STUN binding request (RFC 5389) to each relay on each media port.

  serve ADDR:PORT...                 answer binding requests (success response with
                                     XOR-MAPPED-ADDRESS) on every ADDR:PORT; stops after 30 s idle
  probe DNS_ADDR PORTS NAME=LAB...   ask DNS_ADDR (UDP 53) for each NAME's A record, then send a
                                     binding request from local port 50000 to each PORT
                                     (comma-separated) of the address the answer named, and wait
                                     for the response. The answer names an outside address that
                                     the test network cannot reach, so the request goes to LAB,
                                     the stand-in that the capture is rewritten from afterwards
                                     (tcprewrite --pnat LAB:answered); the script checks the
                                     answered address is the one asked for with `NAME=LAB@ANSWER`
                                     when given.
"""
import os
import selectors
import socket
import struct
import sys

COOKIE = 0x2112A442


def binding_request():
    return struct.pack('!HHI', 0x0001, 0, COOKIE) + os.urandom(12)


def binding_response(request, peer):
    txid = request[8:20]
    ip = struct.unpack('!I', socket.inet_aton(peer[0]))[0]
    # XOR-MAPPED-ADDRESS: family IPv4, port and address xored with the magic cookie.
    attr = struct.pack('!HHBBHI', 0x0020, 8, 0, 1, peer[1] ^ (COOKIE >> 16), ip ^ COOKIE)
    return struct.pack('!HHI', 0x0101, len(attr), COOKIE) + txid + attr


def serve(endpoints):
    sel = selectors.DefaultSelector()
    for endpoint in endpoints:
        addr, port = endpoint.rsplit(':', 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, int(port)))
        sel.register(s, selectors.EVENT_READ)
    while True:
        ready = sel.select(timeout=30)
        if not ready:
            return
        for key, _ in ready:
            data, peer = key.fileobj.recvfrom(2048)
            if len(data) >= 20 and data[:2] == b'\x00\x01' and struct.unpack('!I', data[4:8])[0] == COOKIE:
                key.fileobj.sendto(binding_response(data, peer), peer)


def dns_query(server, name):
    """One A query (RFC 1035) over UDP; returns the IPv4 addresses of the answer section."""
    qid = struct.unpack('!H', os.urandom(2))[0]
    qname = b''.join(bytes([len(label)]) + label.encode() for label in name.split('.')) + b'\0'
    query = struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack('!HH', 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(query, (server, 53))
    reply, _ = s.recvfrom(4096)
    s.close()
    rid, flags, qd, an, _, _ = struct.unpack('!HHHHHH', reply[:12])
    assert rid == qid and flags & 0x8000 and flags & 0xF == 0, 'bad DNS reply'
    pos = 12
    for _ in range(qd):
        pos = skip_name(reply, pos) + 4
    addresses = []
    for _ in range(an):
        pos = skip_name(reply, pos)
        rtype, _, _, rdlen = struct.unpack('!HHIH', reply[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            addresses.append(socket.inet_ntoa(reply[pos:pos + 4]))
        pos += rdlen
    return addresses


def skip_name(msg, pos):
    while True:
        length = msg[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length


def probe(dns_server, ports, pairs):
    targets = []
    # Resolve every name first, as a client does before its connectivity checks.
    for pair in pairs:
        name, lab = pair.split('=', 1)
        lab, _, expected = lab.partition('@')
        answered = dns_query(dns_server, name)
        print(f'{name} -> {answered}', file=sys.stderr)
        if expected and expected not in answered:
            sys.exit(f'{name}: DNS answered {answered}, not {expected}')
        targets.append(lab)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 50000))
    s.settimeout(3)
    for lab in targets:
        for port in ports:
            s.sendto(binding_request(), (lab, port))
            s.recvfrom(2048)


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve(sys.argv[2:])
    else:
        probe(sys.argv[2], [int(p) for p in sys.argv[3].split(',')], sys.argv[4:])
