#!/usr/bin/env bash
# The release profile, measured (docs/performance.md): for each candidate profile, a clean
# `cargo build --release --bin sesame` in its own target directory, timed, and the size of the
# binary it makes. Prints a table; raw figures go to target/bench/release-profile.tsv.
#
# A clean build is minutes on 2 cores, so each candidate is built RUNS times (default 1) and the
# median is printed. The profiles are set through CARGO_PROFILE_RELEASE_* variables, so the
# Cargo.toml in the tree does not matter: "shipped" is what [profile.release] says today.
#   RUNS=3 benches/release-profile.sh            # every candidate
#   benches/release-profile.sh default shipped   # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/runs.sh

# name | CARGO_PROFILE_RELEASE_* settings (space-separated, KEY=VALUE)
candidates=(
  "default|LTO=false CODEGEN_UNITS=16 STRIP=debuginfo PANIC=unwind OPT_LEVEL=3"
  "strip|LTO=false CODEGEN_UNITS=16 STRIP=symbols PANIC=unwind OPT_LEVEL=3"
  "thin-lto|LTO=thin CODEGEN_UNITS=16 STRIP=symbols PANIC=unwind OPT_LEVEL=3"
  "fat-lto-cgu1|LTO=fat CODEGEN_UNITS=1 STRIP=symbols PANIC=unwind OPT_LEVEL=3"
  "fat-lto-cgu1-abort|LTO=fat CODEGEN_UNITS=1 STRIP=symbols PANIC=abort OPT_LEVEL=3"
  "fat-lto-cgu1-size|LTO=fat CODEGEN_UNITS=1 STRIP=symbols PANIC=unwind OPT_LEVEL=s"
  "shipped|"
)
wanted=("$@")
out=target/bench/release-profile.tsv
mkdir -p target/bench
printf 'profile\trun\tseconds\tbytes\n' >"$out"


for c in "${candidates[@]}"; do
  name=${c%%|*}
  settings=${c#*|}
  if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $name "* ]]; then continue; fi
  env_args=()
  for kv in $settings; do env_args+=("CARGO_PROFILE_RELEASE_$kv"); done
  for run in $(seq "$RUNS"); do
    dir=target/profile-bench/$name
    rm -rf "$dir"
    started=$(date +%s.%N)
    env "${env_args[@]}" CARGO_TARGET_DIR="$dir" CARGO_INCREMENTAL=0 \
      cargo build --release --locked --quiet --bin sesame
    ended=$(date +%s.%N)
    seconds=$(awk -v a="$started" -v b="$ended" 'BEGIN {printf "%.0f", b - a}')
    bytes=$(stat -c %s "$dir/release/sesame")
    printf '%s\t%s\t%s\t%s\n' "$name" "$run" "$seconds" "$bytes" >>"$out"
    echo "$name run $run: ${seconds} s, $bytes bytes" >&2
    rm -rf "$dir"
  done
done

echo
printf '| profile | settings | clean build (s, median of %s) | binary (MB) |\n| --- | --- | --- | --- |\n' "$RUNS"
for c in "${candidates[@]}"; do
  name=${c%%|*}
  settings=${c#*|}
  grep -q "^$name	" "$out" || continue
  s=$(awk -F'\t' -v n="$name" '$1 == n {print $3}' "$out" | median)
  b=$(awk -F'\t' -v n="$name" '$1 == n {print $4}' "$out" | median)
  printf '| %s | %s | %s | %.1f |\n' "$name" "${settings:-Cargo.toml}" "$s" "$(awk -v b="$b" 'BEGIN {print b / 1e6}')"
done
