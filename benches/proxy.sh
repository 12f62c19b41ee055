#!/usr/bin/env bash
# What `sesame proxy` adds to a request (a benchmark, not a pass/fail test; docs/performance.md).
# wrk -t1 -c1 --latency (one connection, one request at a time) against
# examples/serve_baseline.rs, a bare hyper HTTP/1 server on loopback, directly and through
# `sesame proxy` (file store, a JWT-looking session, presented as a cookie), alternating,
# ROUNDS times. Prints each round's median latency both ways and the median of the
# differences. Target: the proxy adds at most 1 ms to the median.
#
#   benches/proxy.sh                 # ROUNDS=5, DURATION=5 s per wrk run
#
# Environment: ROUNDS (1..50), DURATION (1..120 s), BIN (default: target/release/sesame, built).
# Needs wrk (apt-get installs it when missing and running as root).
set -euo pipefail
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $ROUNDS -le 50 ]] || { echo "ROUNDS must be 1..50" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 120 ]] || { echo "DURATION must be 1..120" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

. "$root/benches/need.sh"
need wrk wrk

(cd "$root" && cargo build --release --quiet --example serve_baseline && { [[ -n ${BIN:-} ]] || cargo build --release --quiet --bin sesame; })
bin=${BIN:-$root/target/release/sesame}

work=$(mktemp -d /tmp/sesame-proxy-bench.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config XDG_RUNTIME_DIR=$work/run NO_COLOR=1
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
unset SESAME_AUTH_SOCK SESAME_PROFILE SESAME_STORE

"$root/target/release/examples/serve_baseline" >"$work/base.url" &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/base.url ]] && break; sleep 0.05; done
base=$(head -1 "$work/base.url")

token=$(python3 -c 'import base64,json,os,time
b=lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
print(b(b"{\"alg\":\"HS256\",\"typ\":\"JWT\"}")+"."+b(json.dumps({"sub":"alice","exp":int(time.time())+86400}).encode())+"."+b(os.urandom(32)))')
printf %s "$token" | "$bin" login --with-token --store file >/dev/null 2>&1
"$bin" proxy --store file --upstream "$base" >"$work/proxy.url" 2>"$work/proxy.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/proxy.url ]] && break; sleep 0.05; done
proxy=$(head -1 "$work/proxy.url")
curl -sf "$proxy" >/dev/null || { echo "the proxy does not answer:" >&2; cat "$work/proxy.log" >&2; exit 1; }

median_ms() { # wrk's 50% latency, in ms
  wrk -t1 -c1 -d"${DURATION}s" --latency "$1" | awk '$1 == "50%" {
    v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
    printf "%.3f", v }'
}
echo "== wrk -t1 -c1, ${DURATION} s per run: median latency (ms)"
printf '%-6s %10s %10s %10s\n' round direct proxied added
diffs=()
for r in $(seq "$ROUNDS"); do
  d=$(median_ms "$base"); p=$(median_ms "$proxy")
  a=$(awk -v p="$p" -v d="$d" 'BEGIN { printf "%.3f", p - d }')
  diffs+=("$a")
  printf '%-6s %10s %10s %10s\n' "$r" "$d" "$p" "$a"
done
printf '%s\n' "${diffs[@]}" | sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
  printf "median added by the proxy: %.3f ms (target <= 1 ms)\n", m }'
