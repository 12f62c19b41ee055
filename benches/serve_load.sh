#!/usr/bin/env bash
# Capacity of `sesame serve`, measured (docs/performance.md records the figures):
#   1. generator and poll requests per second (wrk), with the in-memory state and with Redis,
#      beside examples/serve_baseline.rs (a bare hyper server answering a pending poll's
#      bytes) in the same run: the ratio is the figure. Twice: "shared" (wrk -t2 and the
#      servers on both cores, as before) and "pinned" (the servers on core 1, wrk -t1 on
#      core 0, so the load generator does not preempt the server it measures);
#   2. N waiting long-polls (default 10,000) and the server's RSS, memory and Redis;
#   3. approve on replica B to `sesame login` exit on replica A (two replicas on one Redis).
# Reports figures; passes or fails nothing. Only 127.0.0.1 is contacted.
#
#   benches/serve_load.sh                     # DURATION=10 s per wrk run, REPEAT=3, N=10000, LOGINS=20
#   DURATION=5 REPEAT=1 N=2000 LOGINS=5 benches/serve_load.sh    # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-3}"
N="${N:-10000}"
LOGINS="${LOGINS:-20}"
CONNS="${CONNS:-64}"
out_dir=target/bench
mkdir -p "$out_dir"

. benches/need.sh
need wrk wrk
need redis-server redis-server
need python3 python3

cargo build --release --quiet --bin sesame --example serve_baseline
bin=target/release/sesame
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts a command that prints its URL as its first line; sets $url and $pid.
start() {
  local fifo
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  "$@" >"$fifo" 2>/dev/null &
  pid=$!
  pids+=("$pid")
  read -r url <"$fifo"
  rm -f "$fifo"
}

serve_flags=(--listen 127.0.0.1:0 --quiet --max-pending 1000000 --max-pending-per-ip 0 --challenge-ttl 600)
export SESAME_JWT_SECRET=serve-load-benchmark-secret-0123456789

redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis_dir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$redis_dir" >/dev/null &
pids+=("$!")
sleep 0.5
redis_url="redis://127.0.0.1:$redis_port/0"

start target/release/examples/serve_baseline; base_url=$url; base_pid=$pid
start "$bin" serve "${serve_flags[@]}"; mem_url=$url; mem_pid=$pid
start "$bin" serve "${serve_flags[@]}" --redis "$redis_url"; red_url=$url; red_pid=$pid
start "$bin" serve "${serve_flags[@]}" --redis "$redis_url"; red_b_url=$url

rps() { # URL -> requests/s
  if [ "$mode" = pinned ]; then
    taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" "$1" | awk '/^Requests\/sec:/ {print $2}'
  else
    wrk -t2 -c"$CONNS" -d"${DURATION}s" "$1" | awk '/^Requests\/sec:/ {print $2}'
  fi
}
pending_poll() { # server URL -> a pending challenge's polling URL
  curl -fsS "${1}noauth/v1/challenge_generator/alice" | python3 -c 'import json,sys; print(json.load(sys.stdin)["polling_url"])'
}

modes=(shared)
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then modes+=(pinned); fi
echo "== machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(date -u +%F)"
for mode in "${modes[@]}"; do
  for p in "$base_pid" "$mem_pid" "$red_pid"; do
    if [ "$mode" = pinned ]; then taskset -apc 1 "$p" >/dev/null; else taskset -apc "0-$(($(nproc) - 1))" "$p" >/dev/null 2>&1 || true; fi
  done
  echo "== throughput ($mode): $([ "$mode" = pinned ] && echo "servers on core 1, wrk -t1 on core 0" || echo "wrk -t2 beside the servers"), -c$CONNS -d${DURATION}s, $REPEAT rounds, requests/s"
  printf '%-6s %12s %12s %12s %12s %12s %8s %8s\n' round baseline poll:mem poll:redis gen:mem gen:redis mem/base redis/base
  results="$out_dir/serve_load_throughput_$mode.tsv"
  : >"$results"
  for round in $(seq "$REPEAT"); do
    b=$(rps "$base_url")
    pm=$(rps "$(pending_poll "$mem_url")")
    pr=$(rps "$(pending_poll "$red_url")")
    # Each generator run on an empty state (a fresh server; Redis flushed), so that the
    # challenges of earlier runs do not pile up to --max-pending.
    start "$bin" serve "${serve_flags[@]}"; gen_url=$url; gen_pid=$pid
    [ "$mode" = pinned ] && taskset -apc 1 "$gen_pid" >/dev/null
    gm=$(rps "${gen_url}noauth/v1/challenge_generator/alice")
    kill "$gen_pid"
    redis-cli -p "$redis_port" flushall >/dev/null
    gr=$(rps "${red_url}noauth/v1/challenge_generator/alice")
    redis-cli -p "$redis_port" flushall >/dev/null
    rm_=$(python3 -c "print(f'{$pm/$b:.2f}')")
    rr=$(python3 -c "print(f'{$pr/$b:.2f}')")
    printf '%-6s %12s %12s %12s %12s %12s %8s %8s\n' "$round" "$b" "$pm" "$pr" "$gm" "$gr" "$rm_" "$rr"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$pm" "$pr" "$gm" "$gr" "$round" >>"$results"
  done
  python3 - "$results" "$mode" <<'PY'
import statistics, sys
rows = [list(map(float, l.split("\t")[:5])) for l in open(sys.argv[1]) if l.strip()]
med = [statistics.median(c) for c in zip(*rows)]
ratios_mem = statistics.median(r[1] / r[0] for r in rows)
ratios_red = statistics.median(r[2] / r[0] for r in rows)
print(f"median ({sys.argv[2]}): baseline {med[0]:.0f}/s; poll memory {med[1]:.0f}/s ({ratios_mem:.2f} of baseline), "
      f"poll redis {med[2]:.0f}/s ({ratios_red:.2f}); generator memory {med[3]:.0f}/s, redis {med[4]:.0f}/s")
PY
done

echo "== $N waiting long-polls (fresh servers)"
start "$bin" serve "${serve_flags[@]}"; lp_url=$url; lp_pid=$pid
python3 benches/longpolls.py "$lp_url" "$lp_pid" "$N" | tee "$out_dir/serve_load_longpolls_memory.json"
start "$bin" serve "${serve_flags[@]}" --redis "$redis_url"; lp_url=$url; lp_pid=$pid
python3 benches/longpolls.py "$lp_url" "$lp_pid" "$N" | tee "$out_dir/serve_load_longpolls_redis.json"

echo "== approve on replica B, login exit on replica A ($LOGINS logins)"
python3 benches/replica_latency.py "$bin" "$red_url" "$red_b_url" "$LOGINS" | tee "$out_dir/serve_load_replicas.json"
