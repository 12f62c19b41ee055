#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) on stable Rust (`-s none`: coverage-guided
# libFuzzer without a sanitizer) and prints one line of figures per target.
#
#   benches/fuzz.sh                 # 60 s per target
#   SECONDS_EACH=5 benches/fuzz.sh  # brief, as CI runs it
#   RUNS=10000000 benches/fuzz.sh   # a fixed number of executions per target
#   benches/fuzz.sh poll_reply      # only the named targets
#   FUZZ_BUILD=--dev SECONDS_EACH=3 benches/fuzz.sh
#                                   # what CI runs: a quicker debug build
#
# Each target starts from its named seeds in git (fuzz/seeds/TARGET, read only) and from the
# working corpus fuzz/corpus/TARGET, which is not in git: it is regenerated here, growing with
# every run on this machine (a fresh clone starts from the seeds alone). A crash is saved in
# fuzz/artifacts/TARGET and fails the script; docs/reliability.md says how a crashing input
# becomes a unit test. Installs cargo-fuzz if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
limit=(-max_total_time="${SECONDS_EACH:-60}")
if [ -n "${RUNS:-}" ]; then
  limit=(-runs="$RUNS")
fi

read -r -a build <<<"${FUZZ_BUILD:--O}"
cargo fuzz build -s none "${build[@]}" >/dev/null 2>&1 || cargo fuzz build -s none "${build[@]}"

printf '%-18s %12s %8s %10s %s\n' target executions seconds exec/s result
failed=0
for t in "${targets[@]}"; do
  log=$(mktemp)
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  artifacts_before=$(ls "fuzz/artifacts/$t" | wc -l)
  # libFuzzer writes what it finds into the first directory and reads them all.
  corpus=("fuzz/corpus/$t" "fuzz/seeds/$t")
  start=$(date +%s.%N)
  if cargo fuzz run -s none "${build[@]}" "$t" "${corpus[@]}" -- "${limit[@]}" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  elif [ "$(ls "fuzz/artifacts/$t" | wc -l)" -gt "$artifacts_before" ]; then
    result="CRASH (see fuzz/artifacts/$t)"
    failed=1
  else
    result="FAILED to run (log below)"
    failed=1
  fi
  end=$(date +%s.%N)
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  rate=$(awk -v r="$runs" -v s="$secs" 'BEGIN { if (s > 0) printf "%d", r / s; else print 0 }')
  printf '%-18s %12s %8s %10s %s\n' "$t" "$runs" "$secs" "$rate" "$result"
  if [ "$result" != ok ]; then
    tail -30 "$log"
  fi
  rm -f "$log"
done
exit $failed
