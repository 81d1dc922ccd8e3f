#!/usr/bin/env bash
# Builds samples/verdicts/: captures for the verdict rules (Teams media resolved over DNS, a
# company proxy's CONNECT tunnels, QUIC blocked with a TCP fallback, QUIC with a reserved
# version). Real software between two network namespaces this script creates (a veth pair,
# 192.0.2.0/24, extra addresses on the server side); nothing leaves them. Addresses are rewritten
# offline (tcprewrite --pnat) to the internal (10.20.0.0/24) and Microsoft ones the rules need.
#
#   teams-media-dns.pcap       a client (10.20.0.50) asks a company DNS server (dnsmasq,
#                              10.20.0.53) for euaz.tr.teams.microsoft.com (A 52.113.194.132)
#                              and api.flightproxy.teams.microsoft.com (A 52.115.10.20), then
#                              sends a STUN binding request to UDP 3478, 3479, 3480 and 3481 of
#                              each answered address and gets a success response (dns_stun.py)
#   proxy-connect.pcap         curl -x through a company proxy (proxy.py on 10.20.0.3:3128) to
#                              outlook.office365.com, contoso.sharepoint.com, teams.microsoft.com
#                              and www.example.org on 443; each tunnel reaches openssl s_server
#   proxy-connect-imap.pcap    openssl s_client -proxy: CONNECT outlook.office365.com:993 and TLS
#                              (SNI outlook.office365.com) through the same proxy
#   quic-blocked-fallback.pcap an aioquic client (quic_peer.py) sends Initials for
#                              teams.microsoft.com to 52.113.194.10:443, which an nftables rule
#                              drops; it gives up after 5 s and curl reaches the same name and
#                              address over TCP 443 (openssl s_server)
#   quic-ok.pcap               the same client completing a QUIC v1 handshake with an aioquic
#                              server for outlook.office365.com (13.107.6.152:443)
#   quic-reserved-version.pcap the client's first Initial carries the reserved version
#                              0x1a2a3a4a (v1 initial salt), the aioquic server for
#                              teams.microsoft.com (52.113.194.20:443) answers Version
#                              Negotiation, and the client completes a QUIC v1 handshake
# Needs root, iproute2, nftables, tcpdump, tcpreplay (tcprewrite), dnsmasq-base, openssl, curl,
# python3 with aioquic (installed below with `python3 -m pip install aioquic`), tshark to check.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="${O365FLOW_SAMPLES_OUT:-$here/verdicts}"
mkdir -p "$out"
work=$(mktemp -d)
a=o365flow-verdict-a
b=o365flow-verdict-b
. "$here/netns-lib.sh"
ensure_packages tcpdump tcpreplay curl nftables dnsmasq-base
python3 -c 'import aioquic' 2>/dev/null || python3 -m pip install -q aioquic
netns_pair
# Server-side stand-ins, each rewritten afterwards to the address named in the comment.
for addr in 192.0.2.3 192.0.2.10 192.0.2.11 192.0.2.20 192.0.2.21 192.0.2.22 192.0.2.53; do
  ip -n "$b" addr add "$addr"/24 dev veth-b
done
#   .3  company proxy  10.20.0.3       .20 teams.microsoft.com, QUIC dropped  52.113.194.10
#   .10 Teams relay    52.113.194.132  .21 outlook.office365.com, QUIC      13.107.6.152
#   .11 Teams relay    52.115.10.20    .22 teams.microsoft.com, QUIC        52.113.194.20
#   .53 company DNS    10.20.0.53
ip netns exec "$b" nft add table inet f
ip netns exec "$b" nft add chain inet f in '{ type filter hook input priority 0; }'
ip netns exec "$b" nft add rule inet f in ip daddr 192.0.2.20 udp dport 443 drop

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=o365flow-test \
  -days 2 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# Teams media: DNS names the relays, then STUN binding to each of the four media ports.
ip netns exec "$b" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --bind-interfaces --listen-address=192.0.2.53 --local-ttl=300 --pid-file="$work/dnsmasq.pid" \
  --address=/euaz.tr.teams.microsoft.com/52.113.194.132 \
  --address=/api.flightproxy.teams.microsoft.com/52.115.10.20 2>/dev/null &
stun=()
for addr in 192.0.2.10 192.0.2.11; do
  for port in 3478 3479 3480 3481; do stun+=("$addr:$port"); done
done
ip netns exec "$b" python3 "$here/dns_stun.py" serve "${stun[@]}" &
sleep 1
capture media 'udp port 53 or udp portrange 3478-3481'
ip netns exec "$a" python3 "$here/dns_stun.py" probe 192.0.2.53 3478,3479,3480,3481 \
  euaz.tr.teams.microsoft.com=192.0.2.10@52.113.194.132 \
  api.flightproxy.teams.microsoft.com=192.0.2.11@52.115.10.20
stop_captures

# A company proxy: CONNECT tunnels to Microsoft 365 names and another name, then IMAP over TLS.
ip netns exec "$b" openssl s_server -quiet -www -accept 127.0.0.1:8443 -cert "$work/cert.pem" \
  -key "$work/key.pem" </dev/null >/dev/null 2>&1 &
# The IMAP server's greeting, sent inside TLS once the tunnel's client connects.
(printf '* OK IMAP4rev1 Service Ready\r\n'; sleep 30) | ip netns exec "$b" openssl s_server -quiet \
  -accept 127.0.0.1:8993 -cert "$work/cert.pem" -key "$work/key.pem" >/dev/null 2>&1 &
ip netns exec "$b" python3 "$here/proxy.py" 192.0.2.3 3128 127.0.0.1 8443 993=127.0.0.1:8993 &
sleep 1
capture proxy 'tcp port 3128'
for name in outlook.office365.com contoso.sharepoint.com teams.microsoft.com www.example.org; do
  ip netns exec "$a" curl -sk --max-time 5 -o /dev/null -x http://192.0.2.3:3128 "https://$name/" || true
  sleep 0.5
done
stop_captures
capture imap 'tcp port 3128'
(sleep 0.5; printf 'a1 LOGOUT\r\n'; sleep 0.5) | ip netns exec "$a" timeout 5 openssl s_client \
  -proxy 192.0.2.3:3128 -connect outlook.office365.com:993 -servername outlook.office365.com \
  >/dev/null 2>&1 || true
stop_captures

# QUIC: blocked then TCP, working, and a reserved version first.
ip netns exec "$b" python3 "$here/quic_peer.py" serve "$work/cert.pem" "$work/key.pem" \
  192.0.2.20:443 192.0.2.21:443 192.0.2.22:443 &
ip netns exec "$b" openssl s_server -quiet -www -accept 192.0.2.20:443 -cert "$work/cert.pem" \
  -key "$work/key.pem" </dev/null >/dev/null 2>&1 &
sleep 2
capture fallback 'port 443'
ip netns exec "$a" python3 "$here/quic_peer.py" connect 192.0.2.20 443 teams.microsoft.com \
  --local-port 51000 --timeout 5 || true
ip netns exec "$a" curl -sk --max-time 5 -o /dev/null \
  --resolve teams.microsoft.com:443:192.0.2.20 https://teams.microsoft.com/ || true
stop_captures
capture quicok 'udp port 443'
ip netns exec "$a" python3 "$here/quic_peer.py" connect 192.0.2.21 443 outlook.office365.com \
  --local-port 51001 --timeout 5
stop_captures
capture reserved 'udp port 443'
ip netns exec "$a" python3 "$here/quic_peer.py" connect 192.0.2.22 443 teams.microsoft.com \
  --local-port 51002 --timeout 5 --version 0x1a2a3a4a
stop_captures

rewrite() { # in out pnat-pairs
  tcprewrite --infile="$work/$1.pcap" --outfile="$out/$2.pcap" --fixcsum --pnat="$3"
}
rewrite media teams-media-dns \
  192.0.2.1/32:10.20.0.50/32,192.0.2.53/32:10.20.0.53/32,192.0.2.10/32:52.113.194.132/32,192.0.2.11/32:52.115.10.20/32
rewrite proxy proxy-connect 192.0.2.1/32:10.20.0.60/32,192.0.2.3/32:10.20.0.3/32
rewrite imap proxy-connect-imap 192.0.2.1/32:10.20.0.61/32,192.0.2.3/32:10.20.0.3/32
rewrite fallback quic-blocked-fallback 192.0.2.1/32:10.20.0.70/32,192.0.2.20/32:52.113.194.10/32
rewrite quicok quic-ok 192.0.2.1/32:10.20.0.71/32,192.0.2.21/32:13.107.6.152/32
rewrite reserved quic-reserved-version 192.0.2.1/32:10.20.0.72/32,192.0.2.22/32:52.113.194.20/32
ls -l "$out"
