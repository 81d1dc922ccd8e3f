# Shared by the sample scripts that run real software between two network namespaces: package
# checks, the namespace pair on a veth link (192.0.2.1 in $a, 192.0.2.2 in $b), cleanup, and
# tcpdump on the $b side. Source it after setting `a`, `b` and `work`.

# Installs the Debian packages named that are missing.
ensure_packages() {
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  done
}

cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  ip netns pids "$a" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids "$b" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$work"
}

# Creates the two namespaces and the veth link between them; removes them on exit.
netns_pair() {
  trap cleanup EXIT
  ip netns add "$a"
  ip netns add "$b"
  ip link add veth-a netns "$a" type veth peer name veth-b netns "$b"
  ip -n "$a" addr add 192.0.2.1/24 dev veth-a
  ip -n "$b" addr add 192.0.2.2/24 dev veth-b
  for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
  ip -n "$a" link set veth-a up
  ip -n "$b" link set veth-b up
}

capture() { # name filter
  ip netns exec "$b" tcpdump -i veth-b -U -w "$work/$1.pcap" "$2" 2>/dev/null &
  sleep 1.5
}

stop_captures() {
  sleep 2
  for pid in $(ip netns pids "$b"); do
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = tcpdump ] && kill -INT "$pid" 2>/dev/null || true
  done
  sleep 2
}
