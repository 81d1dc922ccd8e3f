#!/usr/bin/env bash
# Builds samples/clients/: captures that prove the client identification rules the shared corpus
# cannot (src/classify/data/clients.toml; the README's client table). Real software between two
# network namespaces this script creates (a veth pair, 192.0.2.0/24); nothing leaves them.
# Addresses are rewritten offline (tcprewrite) where a rule needs an outside or Microsoft one.
#
#   proxy-user-agents.pcap  curl through a local HTTP CONNECT proxy (proxy.py) to openssl
#                           s_server, once per client: the CONNECT request carries the User-Agent
#                           of Teams desktop, a browser on Teams, Outlook for Windows, Outlook for
#                           iOS, a browser on Outlook on the web, the OneDrive sync client,
#                           Firefox on www.office.com and on consumer Outlook.com (outlook.live.com)
#                           (the User-Agent strings those programs send)
#   activesync.pcap         an Exchange ActiveSync Sync request (iOS Mail's User-Agent) over
#                           plain HTTP to a Python HTTP server, Host outlook.office365.com
#   adfs-inbound.pcap       from the internet (198.51.100.7) to an internal AD FS (10.20.0.5):
#                           TLS with SNI sts.contoso.com on 443, and HTTP GET /adfs/ls/ on 80
#   exchange-hybrid.pcap    Exchange Online (40.92.0.10, a listed Exchange address) delivering
#                           mail by SMTP to an internal server (10.20.0.6:25): hybrid mail flow
#   lync-edge-inbound.pcap  samples/protocols/sip-tls.pcap (SIP over TLS on 5061) arriving from
#                           the internet at an internal Edge (10.20.0.8)
#   azure-vpn-ikev2.pcap    samples/protocols/ikev2.pcap from an internal client (10.20.0.7) to an
#                           Azure address (20.40.0.10, outside the Microsoft 365 catalog)
# Needs root, iproute2, tcpdump, tcpreplay (tcprewrite), openssl, curl, python3 (3.11: smtpd).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="${O365FLOW_SAMPLES_OUT:-$here/clients}"
mkdir -p "$out"
work=$(mktemp -d)
a=o365flow-client-a
b=o365flow-client-b
. "$here/netns-lib.sh"
ensure_packages tcpdump tcpreplay curl
netns_pair

rewrite() { # in out client-address server-address
  tcprewrite --infile="$1" --outfile="$2" --fixcsum \
    --pnat=192.0.2.1/32:"$3"/32,192.0.2.2/32:"$4"/32
}

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=o365flow-test -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
ip netns exec "$b" openssl s_server -quiet -www -accept 127.0.0.1:8443 -cert "$work/cert.pem" \
  -key "$work/key.pem" </dev/null >/dev/null 2>&1 &
ip netns exec "$b" python3 "$here/proxy.py" 192.0.2.2 3128 127.0.0.1 8443 &
sleep 1

# Clients through an explicit proxy: the CONNECT request names the host and the program.
capture proxy-user-agents 'tcp port 3128'
via_proxy() { # name user-agent
  ip netns exec "$a" curl -sk --max-time 5 -o /dev/null -x http://192.0.2.2:3128 \
    -A "$2" "https://$1/" || true
  sleep 0.5
}
via_proxy teams.microsoft.com 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/1.6.00.4472 Chrome/91.0.4472.164 Electron/13.6.6 Safari/537.36'
via_proxy teams.microsoft.com 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0'
via_proxy outlook.office365.com 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)'
via_proxy outlook.office365.com 'Outlook-iOS/723.4027091.prod.iphone (4.2404.0)'
via_proxy outlook.office.com 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15'
via_proxy contoso-my.sharepoint.com 'Microsoft SkyDriveSync 24.010.0114.0003 ship; Windows NT 10.0 (19045)'
via_proxy www.office.com 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'
via_proxy outlook.live.com 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'
stop_captures

# Exchange ActiveSync over plain HTTP.
capture activesync 'tcp port 80'
ip netns exec "$b" python3 -m http.server 80 --bind 192.0.2.2 --directory "$work" >/dev/null 2>&1 &
sleep 1
ip netns exec "$a" curl -s --max-time 5 -o /dev/null -X POST \
  -A 'Apple-iPhone14C2/2102.100' -H 'Host: outlook.office365.com' \
  -H 'MS-ASProtocolVersion: 16.1' -H 'Content-Type: application/vnd.ms-sync.wbxml' \
  --data-binary 'x' 'http://192.0.2.2/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=ABC&DeviceType=iPhone' || true
stop_captures

# AD FS published to the internet: TLS on 443 and HTTP on 80.
capture adfs 'tcp port 443 or tcp port 80'
ip netns exec "$b" openssl s_server -quiet -www -accept 192.0.2.2:443 -cert "$work/cert.pem" \
  -key "$work/key.pem" </dev/null >/dev/null 2>&1 &
sleep 1
ip netns exec "$a" curl -sk --max-time 5 -o /dev/null --resolve sts.contoso.com:443:192.0.2.2 \
  https://sts.contoso.com/adfs/ls/ || true
ip netns exec "$a" curl -s --max-time 5 -o /dev/null -H 'Host: sts.contoso.com' \
  http://192.0.2.2/adfs/ls/?wa=wsignin1.0 || true
stop_captures

# Hybrid mail flow: Exchange Online delivers to the on-premises server.
capture hybrid 'tcp port 25'
ip netns exec "$b" python3 -W ignore -m smtpd -n -c DebuggingServer 192.0.2.2:25 >/dev/null 2>&1 &
sleep 1
ip netns exec "$a" python3 - <<'PY'
import smtplib
with smtplib.SMTP('192.0.2.2', 25, local_hostname='DM6NAM12FT045.mail.protection.outlook.com', timeout=5) as s:
    s.sendmail('alice@contoso.onmicrosoft.com', ['bob@contoso.com'], 'Subject: hybrid\r\n\r\nhello\r\n')
PY
stop_captures

cp "$work/proxy-user-agents.pcap" "$out/proxy-user-agents.pcap"
cp "$work/activesync.pcap" "$out/activesync.pcap"
rewrite "$work/adfs.pcap" "$out/adfs-inbound.pcap" 198.51.100.7 10.20.0.5
rewrite "$work/hybrid.pcap" "$out/exchange-hybrid.pcap" 40.92.0.10 10.20.0.6
rewrite "$here/protocols/sip-tls.pcap" "$out/lync-edge-inbound.pcap" 198.51.100.8 10.20.0.8
rewrite "$here/protocols/ikev2.pcap" "$out/azure-vpn-ikev2.pcap" 10.20.0.7 20.40.0.10
ls -l "$out"
