#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for make-client-samples.sh: whatever host a client asks for, the
tunnel goes to one local TLS server, so no traffic leaves the test namespace.

usage: proxy.py LISTEN_ADDR LISTEN_PORT UPSTREAM_ADDR UPSTREAM_PORT [PORT=ADDR:PORT...]

Each optional PORT=ADDR:PORT sends the tunnels whose CONNECT target asks for PORT to ADDR:PORT
instead (make-verdict-samples.sh: CONNECT outlook.office365.com:993 to a second local server).
"""
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(client, upstream_addr, by_port):
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        head += chunk
    if not head.startswith(b"CONNECT "):
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    target = head.split(b" ", 2)[1].decode("ascii", "replace")
    port = target.rsplit(":", 1)[-1]
    upstream = socket.create_connection(by_port.get(port, upstream_addr), timeout=5)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream)


def main():
    listen = (sys.argv[1], int(sys.argv[2]))
    upstream = (sys.argv[3], int(sys.argv[4]))
    by_port = {}
    for rule in sys.argv[5:]:
        port, addr = rule.split("=", 1)
        host, upstream_port = addr.rsplit(":", 1)
        by_port[port] = (host, int(upstream_port))
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(listen)
    server.listen(16)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, upstream, by_port), daemon=True).start()


if __name__ == "__main__":
    main()
