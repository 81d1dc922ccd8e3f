#!/usr/bin/env bash
# Builds samples/report/: captures that trigger report findings the other samples do not, made
# with real software between two network namespaces this script creates (a veth pair,
# 192.0.2.0/24; nothing leaves them), addresses rewritten offline with tcprewrite.
#
#   media-blocked.pcap  a Teams client (10.1.1.10) whose TLS to teams.microsoft.com on 443 works
#                       (52.113.1.10) while its UDP to 3478 on a Teams media relay (52.112.1.10,
#                       endpoint set 11) gets no answer, and a TCP SYN to 52.96.1.10:443
#                       (Exchange, set 1) that nobody answers: media fallback, blocked endpoints
#   plain-http-443.pcap curl speaking plain HTTP to a Python server on port 443: not TLS on 443
#   hostile-names.pcap  openssl s_client with hostile server names: an HTML/script injection
#                       under office.com and a spreadsheet formula, for the escaping tests
# Needs root, iproute2, nftables, tcpdump, tcpreplay (tcprewrite), openssl, curl, python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="${O365FLOW_SAMPLES_OUT:-$here/report}"
mkdir -p "$out"
work=$(mktemp -d)
a=o365flow-report-a
b=o365flow-report-b
. "$here/netns-lib.sh"
ensure_packages tcpdump tcpreplay curl nftables
netns_pair
ip -n "$b" addr add 192.0.2.3/24 dev veth-b
ip -n "$b" addr add 192.0.2.4/24 dev veth-b
# The unanswered relay and server: packets to .2 (UDP 3478) and .4 (TCP 443) are dropped.
ip netns exec "$b" nft add table inet o365
ip netns exec "$b" nft add chain inet o365 in '{ type filter hook input priority 0; }'
ip netns exec "$b" nft add rule inet o365 in ip daddr 192.0.2.2 udp dport 3478 drop
ip netns exec "$b" nft add rule inet o365 in ip daddr 192.0.2.4 tcp dport 443 drop

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=o365flow-test -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# Media to a relay that never answers, while TLS to Teams works.
capture media 'udp port 3478 or tcp port 443'
ip netns exec "$b" openssl s_server -quiet -www -accept 192.0.2.3:443 -cert "$work/cert.pem" \
  -key "$work/key.pem" </dev/null >/dev/null 2>&1 &
sleep 1
ip netns exec "$a" curl -sk --max-time 5 -o /dev/null --resolve teams.microsoft.com:443:192.0.2.3 \
  https://teams.microsoft.com/ || true
ip netns exec "$a" python3 - <<'PY'
import os, socket, struct
# STUN binding requests (RFC 5389), three tries as a client would.
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('192.0.2.1', 50010))
for _ in range(3):
    s.sendto(struct.pack('!HHI', 0x0001, 0, 0x2112A442) + os.urandom(12), ('192.0.2.2', 3478))
PY
ip netns exec "$a" timeout 3 bash -c 'exec 3<>/dev/tcp/192.0.2.4/443' 2>/dev/null || true
stop_captures

# Plain HTTP on port 443.
capture plain443 'tcp port 443'
ip netns exec "$b" python3 -m http.server 443 --bind 192.0.2.2 --directory "$work" >/dev/null 2>&1 &
sleep 1
ip netns exec "$a" curl -s --max-time 5 -o /dev/null http://192.0.2.2:443/ || true
stop_captures

# Hostile server names.
capture hostile 'tcp port 8443'
ip netns exec "$b" openssl s_server -quiet -www -accept 192.0.2.3:8443 -cert "$work/cert.pem" \
  -key "$work/key.pem" </dev/null >/dev/null 2>&1 &
sleep 1
for name in '<script>alert(1)</script>.office.com' "=cmd|' /C calc'!A0"; do
  echo | ip netns exec "$a" timeout 5 openssl s_client -connect 192.0.2.3:8443 \
    -servername "$name" >/dev/null 2>&1 || true
  sleep 0.5
done
stop_captures

tcprewrite --infile="$work/media.pcap" --outfile="$out/media-blocked.pcap" --fixcsum \
  --pnat=192.0.2.1/32:10.1.1.10/32,192.0.2.2/32:52.112.1.10/32,192.0.2.3/32:52.113.1.10/32,192.0.2.4/32:52.96.1.10/32
tcprewrite --infile="$work/plain443.pcap" --outfile="$out/plain-http-443.pcap" --fixcsum \
  --pnat=192.0.2.1/32:10.1.1.11/32,192.0.2.2/32:203.0.113.20/32
tcprewrite --infile="$work/hostile.pcap" --outfile="$out/hostile-names.pcap" --fixcsum \
  --pnat=192.0.2.1/32:10.1.1.12/32,192.0.2.3/32:52.113.1.11/32
ls -l "$out"
