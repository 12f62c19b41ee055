#!/usr/bin/env bash
# User-space instructions per poll request of `sesame serve` (in memory) and of the bare hyper
# yardstick (examples/serve_baseline.rs), counted by valgrind's callgrind. Unlike requests per
# second on a shared machine, the count does not depend on what else the machine is doing, so
# it shows what a change to the request path costs. Kernel time (the socket calls, the same for
# both servers) is not counted. Reports figures; passes or fails nothing. Only 127.0.0.1.
#
#   benches/serve_instructions.sh            # SECONDS_EACH=8
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${SECONDS_EACH:-8}"
out_dir=target/bench
mkdir -p "$out_dir"

. benches/need.sh
need valgrind valgrind
need wrk wrk

cargo build --release --quiet --bin sesame --example serve_baseline
export SESAME_JWT_SECRET=serve-instructions-benchmark-secret-0123456789
# NAME COMMAND... : runs the server under callgrind (it prints its URL first), drives it with wrk
# (a pending challenge's polling URL for sesame), and prints the count.
measure() {
  local name=$1
  shift
  local file="$out_dir/callgrind.$name.out" urlfile
  urlfile=$(mktemp)
  rm -f "$file"
  valgrind --tool=callgrind --callgrind-out-file="$file" "$@" >"$urlfile" 2>/dev/null &
  local pid=$!
  for _ in $(seq 150); do [ -s "$urlfile" ] && break; sleep 0.2; done
  local url target
  url=$(head -1 "$urlfile")
  rm -f "$urlfile"
  target=$url
  if [ "$name" = sesame ]; then
    target=$(curl -fsS "${url}noauth/v1/challenge_generator/alice" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["polling_url"])')
  fi
  local n total
  n=$(wrk -t1 -c8 -d"${SECONDS_EACH}s" "$target" | awk '/requests in/ {print $1}')
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$name: $n requests, $total instructions, $((total / n)) per request (start-up included)"
}

measure baseline target/release/examples/serve_baseline
measure sesame target/release/sesame serve --listen 127.0.0.1:0 --quiet --max-pending 1000000 \
  --max-pending-per-ip 0
