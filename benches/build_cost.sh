#!/usr/bin/env bash
# What each crate of the workspace costs to build (docs/performance.md, "Build cost"): a clean
# `cargo build --release` of the library alone (`-p sesame-login`), of the server crate with it
# (`-p sesame-server`), of the CLI (`--bin sesame`, which links both) and of the CLI without
# the embedded server (`--no-default-features`: no `sesame serve`/`demo`), each in its own
# target directory so that nothing is shared; the seconds it took and, for the CLI, the size
# of the binary. The shipped [profile.release] applies. RUNS=N repeats each (median printed).
#   benches/build_cost.sh                 # all three
#   benches/build_cost.sh library cli     # some
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/runs.sh

# name | cargo build arguments
targets=(
  "library|-p sesame-login"
  "server|-p sesame-server"
  "cli|--bin sesame"
  "cli-lean|--bin sesame --no-default-features"
)
wanted=("$@")

printf '%-9s %10s %12s   %s\n' crate seconds "binary MB" "(median of $RUNS; $(nproc) cores)"
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
    if [ "$name" = cli ] || [ "$name" = cli-lean ]; then
      size=$(awk -v b="$(stat -c %s "$dir/release/sesame")" 'BEGIN { printf "%.1f", b / 1e6 }')
    fi
    rm -rf "$dir"
  done
  printf '%-9s %10s %12s\n' "$name" "$(printf '%s\n' "${times[@]}" | median)" "$size"
done
