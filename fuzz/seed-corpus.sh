#!/usr/bin/env bash
# Builds seed corpora for the fuzz targets from real captures: ../samples always, and
# ../../shared/corpus when present. Frames are cut out with a tiny pcap walker (classic pcap
# only; pcapng files seed the header target).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus"
mkdir -p "$out"/{capture_file,frame,tls_client_hello,stream_buffer,catalog,capture_header,quic,media,dns,tunnel,plaintext,vpn,tls_server}
python3 - "$here" "$out" <<'PY'
import glob, os, struct, sys, hashlib
here, out = sys.argv[1], sys.argv[2]
caps = sorted(glob.glob(os.path.join(here, '../samples/*.pcap*')))
shared = os.path.join(here, '../../shared/corpus')
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
        i = f.find(b'\x16\x03')
        if i >= 0 and len(f) > i + 5 and f[i+5] == 1:
            save('tls_client_hello', f[i:])
            save('stream_buffer', b'\x00' + b''.join(struct.pack('<IB', 1000 + k * 40, 40) + f[i+k*40:i+k*40+40] for k in range(4)))
catalog = os.path.join(here, '../src/catalog/data/m365-worldwide-endpoints.json')
save('catalog', open(catalog, 'rb').read()[:20000])
save('catalog', b'*.office.com\nx.y.office.com')
save('catalog', b'autodiscover.*.onmicrosoft.com\nautodiscover.a.onmicrosoft.com')
PY
for target_dir in "$here"/regressions/*/; do t=$(basename "$target_dir"); cp "$target_dir"* "$out/$t/"; done
echo "seed corpora in $out: $(ls "$out"/* | wc -l) files"
