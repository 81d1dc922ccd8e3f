#!/usr/bin/env python3
"""A STUN binding exchange (RFC 5389) followed by RTP (RFC 3550) on the same UDP 5-tuple, the
way a media client checks connectivity and then sends audio. `serve ADDR PORT` answers binding
requests and echoes RTP; `call ADDR PORT` sends one binding request and 20 RTP packets."""
import os
import socket
import struct
import sys

COOKIE = 0x2112A442


def binding_response(request, peer):
    txid = request[8:20]
    ip = struct.unpack('!I', socket.inet_aton(peer[0]))[0]
    # XOR-MAPPED-ADDRESS: family IPv4, port and address xored with the cookie.
    attr = struct.pack('!HHBBHI', 0x0020, 8, 0, 1, peer[1] ^ (COOKIE >> 16), ip ^ COOKIE)
    return struct.pack('!HHI', 0x0101, len(attr), COOKIE) + txid + attr


def serve(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(10)
    rtp = 0
    while rtp < 20:
        data, peer = s.recvfrom(2048)
        if len(data) >= 20 and struct.unpack('!I', data[4:8])[0] == COOKIE:
            s.sendto(binding_response(data, peer), peer)
        elif data and data[0] >> 6 == 2:
            rtp += 1
            s.sendto(data, peer)


def call(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 50010))
    s.settimeout(5)
    request = struct.pack('!HHI', 0x0001, 0, COOKIE) + os.urandom(12)
    s.sendto(request, (addr, port))
    s.recvfrom(2048)
    ssrc = 0x1234ABCD
    for seq in range(20):
        header = struct.pack('!BBHII', 0x80, 0, seq, seq * 160, ssrc)
        s.sendto(header + bytes(160), (addr, port))
        s.recvfrom(2048)


if __name__ == '__main__':
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    (serve if mode == 'serve' else call)(addr, port)
