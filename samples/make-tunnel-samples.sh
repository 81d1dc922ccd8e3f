#!/usr/bin/env bash
# Builds samples/tunnels/: one real TLS connection (openssl s_client -> s_server, SNI
# outlook.office365.com) over IPv4 and one over IPv6, carried between two network namespaces
# this script creates over a real VXLAN overlay (kernel vxlan on a veth pair, TEST-NET and ULA
# addresses only). It captures the overlay (plain*.pcap) and the underlay (vxlan.pcap), then
# wraps the plain frames offline into every other encapsulation o365flow unwraps
# (wrap_tunnels.py): the kernel of the machines this project runs on has no gre, ip6gre,
# erspan, geneve, ipip, sit or ip6tnl modules, so those cannot be made live here.
# Needs root, iproute2, tcpdump, openssl, python3. Nothing leaves the namespaces.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="${O365FLOW_SAMPLES_OUT:-$here/tunnels}"
mkdir -p "$out"
work=$(mktemp -d)
a=o365flow-tun-a
b=o365flow-tun-b
. "$here/netns-lib.sh"
netns_pair
ip -n "$a" link add vx-a type vxlan id 42 remote 192.0.2.2 local 192.0.2.1 dstport 4789 dev veth-a
ip -n "$b" link add vx-b type vxlan id 42 remote 192.0.2.1 local 192.0.2.2 dstport 4789 dev veth-b
ip -n "$a" addr add 10.99.0.1/24 dev vx-a
ip -n "$b" addr add 10.99.0.2/24 dev vx-b
ip -n "$a" addr add fd99::1/64 dev vx-a nodad
ip -n "$b" addr add fd99::2/64 dev vx-b nodad
ip -n "$a" link set vx-a up
ip -n "$b" link set vx-b up

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=outlook.office365.com -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
ip netns exec "$b" openssl s_server -quiet -accept 10.99.0.2:443 -cert "$work/cert.pem" -key "$work/key.pem" \
  </dev/null >/dev/null 2>&1 &
ip netns exec "$b" openssl s_server -quiet -accept '[fd99::2]:443' -cert "$work/cert.pem" -key "$work/key.pem" \
  </dev/null >/dev/null 2>&1 &
sleep 1
ip netns exec "$b" tcpdump -i vx-b -U -w "$work/plain.pcap" 'tcp port 443' 2>/dev/null &
ip netns exec "$b" tcpdump -i veth-b -U -w "$work/vxlan.pcap" 'udp port 4789' 2>/dev/null &
sleep 2
hello() { # address
  echo | ip netns exec "$a" timeout 5 openssl s_client -connect "$1" -servername outlook.office365.com \
    -alpn h2,http/1.1 >/dev/null 2>&1 || true
  sleep 1
}
hello 10.99.0.2:443
hello '[fd99::2]:443'
sleep 2
kill -INT $(jobs -p | tail -n 2) 2>/dev/null || true
sleep 1
python3 - "$work/plain.pcap" "$work/plain4.pcap" "$work/plain6.pcap" <<'PY'
# Split the overlay capture by IP version: IPv4 frames and IPv6 frames.
import struct, sys
data = open(sys.argv[1], 'rb').read()
head, at = data[:24], 24
v4, v6 = bytearray(head), bytearray(head)
while at + 16 <= len(data):
    caplen = struct.unpack('<I', data[at + 8:at + 12])[0]
    rec = data[at:at + 16 + caplen]
    ether = rec[16 + 12:16 + 14]
    (v4 if ether == b'\x08\x00' else v6).extend(rec)
    at += 16 + caplen
open(sys.argv[2], 'wb').write(v4)
open(sys.argv[3], 'wb').write(v6)
PY
cp "$work/plain4.pcap" "$out/plain4.pcap"
cp "$work/plain6.pcap" "$out/plain6.pcap"
cp "$work/vxlan.pcap" "$out/vxlan.pcap"
python3 "$here/wrap_tunnels.py" "$out"
ls -l "$out"
