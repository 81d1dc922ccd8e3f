#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20, as CI does; pass e.g. 3600 for a long run).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-20}
cd "$here"
bash seed-corpus.sh >/dev/null
cargo +nightly fuzz build -O 2>&1 | tail -n 2
for target in $(cargo +nightly fuzz list); do
  echo "fuzz $target for ${seconds}s"
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    2>&1 | grep -E "^(#[0-9]+ *DONE|Done|==[0-9]+== ERROR|SUMMARY|thread .* panicked)" || true
  if [ -n "$(ls artifacts/"$target" 2>/dev/null)" ]; then
    echo "fuzz target $target found a crash: fuzz/artifacts/$target" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${seconds}s without a crash"
