#!/usr/bin/env python3
"""An IKEv2 IKE_SA_INIT exchange (RFC 7296 1.2) between a Python initiator and responder: SA
(AES-CBC-256, HMAC-SHA1 PRF and integrity, DH group 14), KE with a real group-14 public value,
and a nonce; on UDP 500, then the same on UDP 4500 with the RFC 3948 non-ESP marker.
`respond ADDR` answers; `initiate ADDR` sends. Used by make-protocol-samples.sh."""
import os
import socket
import struct
import sys

# RFC 3526 group 14 prime (2048-bit MODP), generator 2.
P14 = int(
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD'
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED'
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F'
    '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B'
    'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510'
    '15728E5A8AACAA68FFFFFFFFFFFFFFFF', 16)


def payload(next_type, body):
    return struct.pack('!BBH', next_type, 0, 4 + len(body)) + body


def transform(last, kind, ident, attrs=b''):
    body = struct.pack('!BBH', kind, 0, ident) + attrs
    return struct.pack('!BBH', 0 if last else 3, 0, 4 + len(body)) + body


def sa():
    transforms = (
        transform(False, 1, 12, struct.pack('!HH', 0x800E, 256))  # ENCR_AES_CBC, key length 256
        + transform(False, 2, 2)  # PRF_HMAC_SHA1
        + transform(False, 3, 2)  # AUTH_HMAC_SHA1_96
        + transform(True, 4, 14)  # DH group 14
    )
    proposal = struct.pack('!BBHBBBB', 0, 0, 8 + len(transforms), 1, 1, 0, 4) + transforms
    return proposal


def message(spi_i, spi_r, response):
    secret = int.from_bytes(os.urandom(32), 'big')
    public = pow(2, secret, P14).to_bytes(256, 'big')
    body = (
        payload(34, sa())  # SA, next KE
        + payload(40, struct.pack('!HH', 14, 0) + public)  # KE, next Nonce
        + payload(0, os.urandom(32))  # Nonce
    )
    flags = 0x20 if response else 0x08
    header = spi_i + spi_r + struct.pack('!BBBBII', 33, 0x20, 34, flags, 0, 28 + len(body))
    return header + body


def respond(addr):
    socks = []
    for port in (500, 4500):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        s.settimeout(10)
        socks.append(s)
    for s, marker in zip(socks, (b'', b'\0\0\0\0')):
        data, peer = s.recvfrom(4096)
        ike = data[len(marker):]
        s.sendto(marker + message(ike[:8], os.urandom(8), True), peer)


def initiate(addr):
    for port, marker in ((500, b''), (4500, b'\0\0\0\0')):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('0.0.0.0', port))
        s.settimeout(5)
        s.sendto(marker + message(os.urandom(8), bytes(8), False), (addr, port))
        s.recvfrom(4096)
        s.close()


if __name__ == '__main__':
    (respond if sys.argv[1] == 'respond' else initiate)(sys.argv[2])
