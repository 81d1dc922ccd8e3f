#!/usr/bin/env bash
# Builds samples/protocols/: protocols the shared corpus lacks or barely has, made with real
# software between two network namespaces this script creates (a veth pair, 192.0.2.0/24):
#   wireguard.pcap  wireguard-go + wg: a handshake and data through the tunnel (UDP 51820)
#   smtp.pcap       Python's smtpd server and smtplib client: a plain SMTP session (TCP 25)
#   pop3.pcap       Python's poplib client against a minimal POP3 responder (TCP 110)
#   sip-tls.pcap    openssl s_client sending a SIP REGISTER over TLS to openssl s_server on
#                   TCP 5061, SNI sipdir.online.lync.com (Skype for Business Online)
#   stun-rtp.pcap   a STUN binding exchange on UDP 3478, then RTP on the same 5-tuple
#                   (stun_rtp.py; no STUN server package is in this machine's registries)
#   ikev2.pcap      IKEv2 IKE_SA_INIT request and response on UDP 500 and, with the non-ESP
#                   marker, on UDP 4500, between Python initiator and responder (ike_sa_init.py;
#                   strongSwan needs kernel XFRM support this machine does not have)
# Needs root, iproute2, tcpdump, openssl, python3 (3.11: smtpd), wireguard-go, wireguard-tools.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="${O365FLOW_SAMPLES_OUT:-$here/protocols}"
mkdir -p "$out"
work=$(mktemp -d)
a=o365flow-proto-a
b=o365flow-proto-b
. "$here/netns-lib.sh"
ensure_packages wireguard-go wireguard-tools tcpdump
netns_pair


# WireGuard (userspace wireguard-go on a TUN device in each namespace).
wg genkey > "$work/a.key"; wg pubkey < "$work/a.key" > "$work/a.pub"
wg genkey > "$work/b.key"; wg pubkey < "$work/b.key" > "$work/b.pub"
capture wireguard 'udp port 51820'
for side in a b; do
  ns=$([ $side = a ] && echo "$a" || echo "$b")
  peer=$([ $side = a ] && echo b || echo a)
  # Distinct names: wireguard-go's control socket (/var/run/wireguard/NAME.sock) is not per namespace.
  dev="wg-$side"
  ip netns exec "$ns" wireguard-go -f "$dev" >/dev/null 2>&1 &
  sleep 2
  ip netns exec "$ns" wg set "$dev" private-key "$work/$side.key" listen-port 51820 \
    peer "$(cat "$work/$peer.pub")" allowed-ips "10.77.0.$([ $peer = a ] && echo 1 || echo 2)/32" \
    endpoint "192.0.2.$([ $peer = a ] && echo 1 || echo 2):51820"
  ip -n "$ns" addr add "10.77.0.$([ $side = a ] && echo 1 || echo 2)/24" dev "$dev"
  ip -n "$ns" link set "$dev" up
done
ip netns exec "$a" bash -c 'exec 3<>/dev/tcp/10.77.0.2/9 2>/dev/null' || true
sleep 2
stop_captures

# SMTP: Python's smtpd (3.11) and smtplib.
capture smtp 'tcp port 25'
ip netns exec "$b" python3 -W ignore -m smtpd -n -c DebuggingServer 192.0.2.2:25 >/dev/null 2>&1 &
sleep 1
ip netns exec "$a" python3 - <<'PY'
import smtplib
with smtplib.SMTP('192.0.2.2', 25, local_hostname='client.example', timeout=5) as s:
    s.sendmail('alice@example.com', ['bob@example.com'], 'Subject: test\r\n\r\nhello\r\n')
PY
stop_captures

# POP3: poplib against a minimal responder speaking RFC 1939.
capture pop3 'tcp port 110'
ip netns exec "$b" python3 - <<'PY' &
import socket
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('192.0.2.2', 110)); srv.listen(1)
conn, _ = srv.accept(); f = conn.makefile('rwb')
f.write(b'+OK POP3 server ready\r\n'); f.flush()
replies = {b'USER': b'+OK\r\n', b'PASS': b'+OK logged in\r\n', b'STAT': b'+OK 1 42\r\n', b'QUIT': b'+OK bye\r\n'}
for line in f:
    cmd = line.split()[0].upper() if line.split() else b''
    f.write(replies.get(cmd, b'-ERR unknown\r\n')); f.flush()
    if cmd == b'QUIT':
        break
conn.close()
PY
sleep 1
ip netns exec "$a" python3 - <<'PY'
import poplib
p = poplib.POP3('192.0.2.2', 110, timeout=5)
p.user('alice'); p.pass_('secret'); p.stat(); p.quit()
PY
stop_captures

# SIP over TLS on 5061 with a Skype for Business Online name.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=sipdir.online.lync.com -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
capture sip-tls 'tcp port 5061'
ip netns exec "$b" openssl s_server -quiet -accept 192.0.2.2:5061 -cert "$work/cert.pem" \
  -key "$work/key.pem" </dev/null >/dev/null 2>&1 &
sleep 1
printf 'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TLS 192.0.2.1:5061\r\nFrom: <sip:alice@example.com>\r\nTo: <sip:alice@example.com>\r\nCall-ID: 1@192.0.2.1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n' \
  | ip netns exec "$a" timeout 5 openssl s_client -quiet -connect 192.0.2.2:5061 \
      -servername sipdir.online.lync.com >/dev/null 2>&1 || true
stop_captures

# STUN binding, then RTP on the same 5-tuple.
capture stun-rtp 'udp port 3478'
ip netns exec "$b" python3 "$here/stun_rtp.py" serve 192.0.2.2 3478 &
sleep 1
ip netns exec "$a" python3 "$here/stun_rtp.py" call 192.0.2.2 3478
stop_captures

# IKEv2 IKE_SA_INIT on 500 and 4500.
capture ikev2 'udp port 500 or udp port 4500'
ip netns exec "$b" python3 "$here/ike_sa_init.py" respond 192.0.2.2 &
sleep 1
ip netns exec "$a" python3 "$here/ike_sa_init.py" initiate 192.0.2.2
stop_captures

for name in wireguard smtp pop3 sip-tls stun-rtp ikev2; do
  cp "$work/$name.pcap" "$out/$name.pcap"
done
ls -l "$out"
