#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20, as CI does; scripts/fuzz-long MINUTES for
# long runs). Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
#
# Two cargo-fuzz projects: fuzz/ (the library without polars, every parser and the packet path;
# AddressSanitizer) and fuzz/report/ (the flow-file reader of `o365flow report`, which needs
# polars; built without a sanitizer: under AddressSanitizer polars had not finished building
# after 35 minutes on two shared cores, at 5 GB per compiler, and o365flow has no unsafe code
# for it to watch).
#
# O365FLOW_FUZZ_TARGETS="a b" runs only those targets (to try one out or replay a finding); the
# run then says so and counts only those as declared. CI never sets it.
# O365FLOW_FUZZ_SUMMARY=FILE writes the per-target table there instead (two runs side by side).
#
# Fails (exit 1) when a target does not build, when an input kept under fuzz/regressions/TARGET/
# crashes again, when a target crashes, times out or stops without libFuzzer's final report,
# or when fewer targets ran than the projects' Cargo.toml declare. Per target it prints seconds,
# executions and coverage (cov, ft) and writes them to fuzz/target/fuzz-summary.tsv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-20}
# fuzz/report builds polars (about a quarter of an hour on two cores): CI's short run keeps polars
# out of its fuzz build and replays the report target's kept inputs in tests/bad_input.rs
# instead; scripts/fuzz-long (and O365FLOW_FUZZ_REPORT=1) runs it.
projects=("$here")
sanitizers=(address)
if [ "${O365FLOW_FUZZ_REPORT:-0}" = 1 ]; then
  projects+=("$here/report")
  sanitizers+=(none)
else
  echo "fuzz/report (the flow-file reader, polars) not in this run: scripts/fuzz-long or O365FLOW_FUZZ_REPORT=1 runs it"
fi
only=${O365FLOW_FUZZ_TARGETS:-}
logs="$here/target/fuzz-logs"
summary=${O365FLOW_FUZZ_SUMMARY:-$here/target/fuzz-summary.tsv}
mkdir -p "$logs"
printf 'target\tseconds\texecutions\tcov\tft\tcorpus\tresult\n' >"$summary"
cd "$here"
bash seed-corpus.sh >/dev/null

failures=()
fail() {
  echo "FUZZ FAILURE: $*" >&2
  failures+=("$*")
}

# The [[bin]] names a project's Cargo.toml declares.
declared() {
  awk '/^\[\[bin\]\]/ { bin = 1; next } /^\[/ { bin = 0 } bin && /^name *=/ { gsub(/[" ]/, "", $3); print $3 }' "$1/Cargo.toml"
}

expected=0
ran=0
for i in "${!projects[@]}"; do
  project=${projects[$i]}
  sanitizer=${sanitizers[$i]}
  name=${project#"$here"}
  name=${name:-/}
  mapfile -t targets < <(declared "$project")
  if [ -n "$only" ]; then
    mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep -xF -f <(tr ' ' '\n' <<<"$only") || true)
    echo "O365FLOW_FUZZ_TARGETS: only ${targets[*]:-none} of fuzz$name"
    [ "${#targets[@]}" -eq 0 ] && continue
  fi
  expected=$((expected + ${#targets[@]}))
  if [ "${#targets[@]}" -eq 0 ]; then
    fail "fuzz$name: no [[bin]] targets in Cargo.toml"
    continue
  fi
  if ! listed=$(cargo +nightly fuzz list --fuzz-dir "$project"); then
    fail "fuzz$name: cargo fuzz list failed"
    continue
  fi
  if [ -z "$only" ] && [ "$(sort <<<"$listed")" != "$(printf '%s\n' "${targets[@]}" | sort)" ]; then
    fail "fuzz$name: cargo fuzz list ($(echo $listed)) differs from Cargo.toml (${targets[*]})"
  fi
  echo "== build fuzz$name: ${targets[*]}"
  build_log="$logs/build-$(basename "$project").log"
  if ! cargo +nightly fuzz build -O -s "$sanitizer" --fuzz-dir "$project" >"$build_log" 2>&1; then
    grep -E "^error|could not compile" "$build_log" | head -20 >&2 || tail -20 "$build_log" >&2
    fail "fuzz$name: build failed (log: $build_log)"
    continue
  fi
  for target in "${targets[@]}"; do
    # Inputs that once crashed: each must now run clean.
    if compgen -G "$here/regressions/$target/*" >/dev/null; then
      if ! cargo +nightly fuzz run -O -s "$sanitizer" --fuzz-dir "$project" "$target" "$here"/regressions/"$target"/* \
        -- -rss_limit_mb=2048 >"$logs/$target.regressions.log" 2>&1; then
        tail -20 "$logs/$target.regressions.log" >&2
        fail "$target: a kept regression input crashes again (log: $logs/$target.regressions.log)"
      fi
    fi
    echo "fuzz $target for ${seconds}s"
    mkdir -p "$project/corpus/$target"
    rm -rf "$project/artifacts/$target"
    rc=0
    cargo +nightly fuzz run -O -s "$sanitizer" --fuzz-dir "$project" "$target" "$project/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$logs/$target.log" 2>&1 || rc=$?
    done_line=$(grep -E "^Done [0-9]+ runs in" "$logs/$target.log" | tail -n 1 || true)
    stats=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$logs/$target.log" | tail -n 1 || true)
    execs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+).*/\1/' <<<"$done_line")
    took=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+).*/\2/' <<<"$done_line")
    cov=$(grep -Eo "cov: [0-9]+" <<<"$stats" | awk '{print $2}' || true)
    ft=$(grep -Eo "ft: [0-9]+" <<<"$stats" | awk '{print $2}' || true)
    corp=$(grep -Eo "corp: [0-9]+/[0-9]+[a-zA-Z]*" <<<"$stats" | awk '{print $2}' || true)
    result=ok
    if [ "$rc" -ne 0 ] || [ -n "$(ls "$project/artifacts/$target" 2>/dev/null)" ]; then
      result=crash
      grep -E "==[0-9]+== ERROR|SUMMARY|panicked at|Test unit written to|deadly signal|timeout" "$logs/$target.log" | head -8 >&2 || true
      fail "$target: exit $rc, crash or timeout (log: $logs/$target.log; input in ${project#"$here/.."}/artifacts/$target)"
    elif [ -z "$done_line" ] || [ -z "$stats" ]; then
      result=no-report
      tail -20 "$logs/$target.log" >&2
      fail "$target: libFuzzer did not finish with its final report (log: $logs/$target.log)"
    else
      ran=$((ran + 1))
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "${took:--}" "${execs:--}" "${cov:--}" "${ft:--}" "${corp:--}" "$result" >>"$summary"
    echo "  $result: ${execs:-?} executions in ${took:-?}s, cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?}"
  done
done

echo
column -t -s $'\t' "$summary"
if [ "$ran" -lt "$expected" ]; then
  fail "$ran of $expected declared targets ran to the end"
fi
if [ "${#failures[@]}" -gt 0 ]; then
  echo "fuzz: FAILED (${#failures[@]}):" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "fuzz: all $ran declared targets ran ${seconds}s without a crash"
