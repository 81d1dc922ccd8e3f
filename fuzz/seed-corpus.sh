#!/usr/bin/env bash
# Builds seed corpora for the fuzz targets from real captures: ../samples always, and
# ../../shared/corpus (or $O365FLOW_SHARED/corpus) when present. Frames are cut out with a tiny
# pcap walker (classic pcap only; pcapng files seed the header target).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus"
mkdir -p "$out"/{capture_file,frame,tls_client_hello,stream_buffer,catalog,capture_header,quic,media,dns,tunnel,plaintext,vpn,tls_server,defrag,icmp_quote,catalog_extra,client_rules}
python3 - "$here" "$out" <<'PY'
import glob, os, struct, sys, hashlib
here, out = sys.argv[1], sys.argv[2]
caps = sorted(glob.glob(os.path.join(here, '../samples/*.pcap*')))
# O365FLOW_SHARED points elsewhere, as for the tests.
shared = os.path.join(os.environ.get('O365FLOW_SHARED') or os.path.join(here, '../../shared'), 'corpus')
if os.path.isdir(shared):
    caps += sorted(glob.glob(os.path.join(shared, '*.pcap')) + glob.glob(os.path.join(shared, '*.pcapng')))
links = [0, 1, 9, 12, 50, 101, 108, 113, 228, 229, 276]
def save(target, data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(out, target, name), 'wb') as f:
        f.write(data)
for cap in caps:
    data = open(cap, 'rb').read()
    save('capture_header', data[:4096])
    if len(data) <= 16384:
        save('capture_file', data)
    if len(data) < 24: continue
    magic = struct.unpack('<I', data[:4])[0]
    if magic not in (0xa1b2c3d4, 0xa1b23c4d): continue
    link = struct.unpack('<I', data[20:24])[0]
    if link not in links: continue
    at, frames = 24, []
    while at + 16 <= len(data) and len(frames) < 64:
        caplen = struct.unpack('<I', data[at+8:at+12])[0]
        frames.append(data[at+16:at+16+caplen]); at += 16 + caplen
    seq = bytes([links.index(link)]) + b''.join(struct.pack('<H', len(f)) + f for f in frames[:16])
    save('frame', seq)
    for f in frames:
        # Ethernet + IPv4 + UDP 443: the datagram seeds the QUIC target (mode 0).
        if link == 1 and len(f) > 42 and f[12:14] == b'\x08\x00' and f[23] == 17:
            ihl = (f[14] & 0x0f) * 4
            udp = f[14 + ihl:]
            if len(udp) > 8 and 443 in (int.from_bytes(udp[0:2], 'big'), int.from_bytes(udp[2:4], 'big')):
                save('quic', b'\x00' + udp[8:])
                save('quic', b'\x02' + udp[8:])
        # Payloads after Ethernet + IPv4 + TCP/UDP seed the protocol parsers.
        if link == 1 and len(f) > 34 and f[12:14] == b'\x08\x00' and f[23] in (6, 17):
            ihl = (f[14] & 0x0f) * 4
            l4 = f[14 + ihl:]
            if f[23] == 17 and len(l4) > 8:
                body = l4[8:]
                for t in ('media', 'dns', 'vpn', 'tunnel'):
                    save(t, body)
            elif f[23] == 6 and len(l4) > 20:
                body = l4[(l4[12] >> 4) * 4:]
                if body:
                    for t in ('plaintext', 'vpn', 'tls_server'):
                        save(t, body)
        # ICMP and ICMPv6 messages seed the quoted-header target (selector bit 0: v4 or v6);
        # TCP and UDP segments its transport_of half (selector = protocol << 1).
        if link == 1 and len(f) > 34 and f[12:14] == b'\x08\x00':
            ihl = (f[14] & 0x0f) * 4
            if f[23] == 1:
                save('icmp_quote', b'\x00' + f[14 + ihl:])
            elif f[23] in (6, 17) and frames.index(f) < 4:
                save('icmp_quote', bytes([f[23] << 1]) + f[14 + ihl:])
        if link == 1 and len(f) > 54 and f[12:14] == b'\x86\xdd' and f[20] == 58:
            save('icmp_quote', b'\x01' + f[54:])
        i = f.find(b'\x16\x03')
        if i >= 0 and len(f) > i + 5 and f[i+5] == 1:
            save('tls_client_hello', f[i:])
            save('stream_buffer', b'\x00' + b''.join(struct.pack('<IB', 1000 + k * 40, 40) + f[i+k*40:i+k*40+40] for k in range(4)))
# An ICMP port unreachable quoting IPv4 + UDP 10.0.0.1:5000 -> 10.0.0.2:3478, and the same
# datagram cut into fragments (defrag: [datagram, offset/8 (le16), more, length, time step]).
quoted = bytes.fromhex('450000200001000040110000 0a000001 0a000002'.replace(' ', '')) + struct.pack('!HHHH', 5000, 3478, 12, 0)
save('icmp_quote', b'\x00' + bytes([3, 3, 0, 0, 0, 0, 0, 0]) + quoted)
udp = struct.pack('!HHHH', 5000, 3478, 40, 0) + bytes(range(32))
def frag(d, off, more, data, step=1):
    return bytes([d]) + struct.pack('<H', off // 8) + bytes([more, len(data), step]) + data
save('defrag', frag(1, 0, 1, udp[:16]) + frag(1, 16, 1, udp[16:32]) + frag(1, 32, 0, udp[32:]))
save('defrag', frag(2, 32, 0, udp[32:]) + frag(2, 0, 1, udp[:24]) + frag(2, 16, 1, udp[16:32]) + frag(3, 0, 1, udp[:8], 200))
# --catalog-extra files: the README's example and one with every field.
save('catalog_extra', b'[[service]]\nname = "ADFS (on-premises)"\ncategory = "Allow"\ntcp_ports = "443"\nnames = ["adfs.contoso.com"]\nprefixes = ["198.51.100.10/32"]\n')
save('catalog_extra', b'[[service]]\nname = "Proxy"\ncategory = "Optimize"\ntcp_ports = "80,443,8080-8090"\nudp_ports = "3478-3481"\nnames = ["*.proxy.example", "proxy.example"]\nprefixes = ["10.0.0.0/8", "2001:db8::/32"]\n[[service]]\nname = "Edge"\nnames = ["sip.*.example"]\n')
# --client-rules files: the embedded rules, then (after a NUL) facts to evaluate them on.
rules = open(os.path.join(here, '../src/classify/data/clients.toml'), 'rb').read()
save('client_rules', rules + b'\x00teams.microsoft.com\nMozilla/5.0 Teams/1.6\nt13d1516h2_8daaf6152771_02713d6af862\n/adfs/ls/')
save('client_rules', rules[:4000] + b'\x00outlook.office365.com\nMicrosoft Outlook 16.0')
catalog = os.path.join(here, '../src/catalog/data/m365-worldwide-endpoints.json')
save('catalog', open(catalog, 'rb').read()[:20000])
save('catalog', b'*.office.com\nx.y.office.com')
save('catalog', b'autodiscover.*.onmicrosoft.com\nautodiscover.a.onmicrosoft.com')
PY
for target_dir in "$here"/regressions/*/; do
  t=$(basename "$target_dir")
  [ "$t" = flow_file ] && continue
  mkdir -p "$out/$t"
  cp "$target_dir"* "$out/$t/"
done
# flow_file (fuzz/report): flows.parquet files analyze writes, with and without run metadata,
# from the o365flow binary the test run built (skipped when there is none yet).
report_corpus="$here/report/corpus/flow_file"
mkdir -p "$report_corpus"
for bin in "$here/../target/debug/o365flow" "$here/../target/release/o365flow"; do
  [ -x "$bin" ] || continue
  tmp=$(mktemp -d)
  O365FLOW_DATA_DIR="$tmp/data" "$bin" analyze -q "$here/../samples/teams.pcap" --out "$tmp/a" >/dev/null 2>&1 || true
  O365FLOW_DATA_DIR="$tmp/data" "$bin" analyze -q "$here/../samples/selfsigned.pcap" --flows "$tmp/b.parquet" >/dev/null 2>&1 || true
  for f in "$tmp/a/flows.parquet" "$tmp/b.parquet"; do
    [ -f "$f" ] && cp "$f" "$report_corpus/$(sha1sum "$f" | cut -c1-40)"
  done
  rm -rf "$tmp"
  break
done
for f in "$here"/regressions/flow_file/*; do [ -f "$f" ] && cp "$f" "$report_corpus/"; done
echo "seed corpora in $out: $(ls "$out"/* | wc -l) files"
