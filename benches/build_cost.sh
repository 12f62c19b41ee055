#!/usr/bin/env bash
# What each crate of the workspace costs to build (docs/performance.md, "Build cost"): a clean
# `cargo build --release` of the library alone (`-p sesame-login`), of the server crate with it
# (`-p sesame-server`), and of the CLI (`--bin sesame`, which links both), each in its own
# target directory so that nothing is shared; the seconds it took and, for the CLI, the size
# of the binary. The shipped [profile.release] applies. RUNS=N repeats each (median printed).
#   benches/build_cost.sh                 # all three
#   benches/build_cost.sh library cli     # some
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1}
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive whole number" >&2; exit 2 ;; esac

# name | cargo build arguments
targets=(
  "library|-p sesame-login"
  "server|-p sesame-server"
  "cli|--bin sesame"
)
wanted=("$@")
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

printf '%-8s %10s %12s   %s\n' crate seconds "binary MB" "(median of $RUNS; $(nproc) cores)"
for t in "${targets[@]}"; do
  name=${t%%|*}
  read -r -a args <<<"${t#*|}"
  if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $name "* ]]; then continue; fi
  times=()
  size=-
  for _ in $(seq "$RUNS"); do
    dir=target/build-cost/$name
    rm -rf "$dir"
    start=$(date +%s.%N)
    CARGO_TARGET_DIR=$dir cargo build --release --locked --quiet "${args[@]}"
    end=$(date +%s.%N)
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')")
    if [ "$name" = cli ]; then
      size=$(awk -v b="$(stat -c %s "$dir/release/sesame")" 'BEGIN { printf "%.1f", b / 1e6 }')
    fi
    rm -rf "$dir"
  done
  printf '%-8s %10s %12s\n' "$name" "$(printf '%s\n' "${times[@]}" | median)" "$size"
done
