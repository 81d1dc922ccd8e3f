#!/usr/bin/env bash
# Regenerates the locally made samples: real openssl client and server on 127.0.0.1, captured
# with tcpdump. Nothing leaves the loopback interface. Needs root (tcpdump), openssl, tcpdump.
#
#   local-sll2-o365-tls.pcap   tcpdump -i any (LINUX_SLL2 link type): three TLS connections whose
#                              ClientHellos name Office 365 hosts (outlook.office365.com with
#                              ALPN h2,http/1.1; contoso.sharepoint.com; teams.microsoft.com on a
#                              non-443 port), plus one refused connection (SYN, RST).
#   local-snaplen96-tls.pcap   the same exchange captured with snaplen 96 on lo (Ethernet):
#                              the ClientHellos are cut, so names are missing by design.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
for port in 18443 18444; do
  openssl s_server -quiet -accept $port -cert "$work/cert.pem" -key "$work/key.pem" \
    -alpn h2,http/1.1 </dev/null >/dev/null 2>&1 &
done
sleep 1
tcpdump -i any -U -w "$work/sll2.pcap" 'host 127.0.0.1 and tcp portrange 18440-18449' 2>/dev/null &
tcpdump -i lo -s 96 -U -w "$work/snap.pcap" 'tcp portrange 18440-18449' 2>/dev/null &
sleep 2
hello() { # name port [alpn]
  echo | timeout 5 openssl s_client -connect "127.0.0.1:$2" -servername "$1" ${3:+-alpn "$3"} \
    -tls1_2 >/dev/null 2>&1 || true
  sleep 0.5
}
hello outlook.office365.com 18443 h2,http/1.1
hello contoso.sharepoint.com 18443
hello teams.microsoft.com 18444
# Nothing listens on 18449: a SYN answered by RST.
timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/18449' 2>/dev/null || true
sleep 2
kill -INT $(jobs -p | tail -n 2) 2>/dev/null || true
sleep 1
cp "$work/sll2.pcap" "$here/local-sll2-o365-tls.pcap"
cp "$work/snap.pcap" "$here/local-snaplen96-tls.pcap"
echo "wrote $here/local-sll2-o365-tls.pcap $here/local-snaplen96-tls.pcap"
