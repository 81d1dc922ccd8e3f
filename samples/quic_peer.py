#!/usr/bin/env python3
"""QUIC client and server for make-verdict-samples.sh, on aioquic (pip install aioquic).

  serve CERT KEY ADDR:PORT...     an aioquic server (ALPN h3, versions 1 and 2) on each address;
                                  it answers an Initial of any other version with Version
                                  Negotiation (RFC 9000 section 6). Runs until killed.
  connect ADDR PORT SNI [options] an aioquic client (ALPN h3): handshake, one PING, close.
      --local-port N              client UDP port (default 0: any)
      --timeout S                 give up after S seconds if the handshake has not finished
                                  (exit status 1, after a CONNECTION_CLOSE like a browser's)
      --version 0xV               send the first Initial with version V (e.g. a reserved
                                  0x?a?a?a?a), protected with the v1 initial salt as aioquic
                                  does for any version but v2; after the server's Version
                                  Negotiation the client retries with QUIC v1
"""
import argparse
import asyncio
import logging
import ssl
import sys

from aioquic.asyncio import connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion


async def run_server(cert, key, endpoints):
    configuration = QuicConfiguration(is_client=False, alpn_protocols=['h3'])
    configuration.load_cert_chain(cert, key)
    for endpoint in endpoints:
        addr, port = endpoint.rsplit(':', 1)
        await serve(addr, int(port), configuration=configuration)
    await asyncio.Future()


async def run_client(args):
    configuration = QuicConfiguration(
        is_client=True,
        alpn_protocols=['h3'],
        server_name=args.sni,
        verify_mode=ssl.CERT_NONE,
        supported_versions=[QuicProtocolVersion.VERSION_1],
    )
    if args.version is not None:
        # aioquic derives Initial keys only for the versions it supports (with the v1 salt for
        # any version but v2), so the reserved version is listed too; the server's Version
        # Negotiation does not offer it, which leaves v1 as the common version.
        configuration.original_version = int(args.version, 16)
        configuration.supported_versions.insert(0, configuration.original_version)

    async def session():
        async with connect(args.addr, args.port, configuration=configuration,
                           local_port=args.local_port) as client:
            await client.ping()
            print(f'{args.sni}: connected', file=sys.stderr)

    # aioquic leaves the abandoned handshake's waiter failed with ConnectionError: not news.
    logging.getLogger('asyncio').setLevel(logging.CRITICAL)
    try:
        await asyncio.wait_for(session(), timeout=args.timeout)
    except asyncio.TimeoutError:
        print(f'{args.sni}: no QUIC handshake after {args.timeout} s', file=sys.stderr)
        return 1
    return 0


def main():
    if sys.argv[1] == 'serve':
        asyncio.run(run_server(sys.argv[2], sys.argv[3], sys.argv[4:]))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument('mode')
    parser.add_argument('addr')
    parser.add_argument('port', type=int)
    parser.add_argument('sni')
    parser.add_argument('--local-port', type=int, default=0)
    parser.add_argument('--timeout', type=float, default=5)
    parser.add_argument('--version')
    return asyncio.run(run_client(parser.parse_args()))


if __name__ == '__main__':
    sys.exit(main())
