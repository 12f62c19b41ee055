#!/usr/bin/env bash
# Login and token latency figures for sesame (a benchmark, not a pass/fail test).
#
#   benches/latency.sh                 # N=20 logins per mode, 100 hyperfine runs per command
#   N=50 TOKEN_RUNS=200 benches/latency.sh
#
# 1. Builds `cargo build --release` and starts the reference server (`sesame serve`) on
#    127.0.0.1, plus benches/no_extensions_proxy.py in front of it.
# 2. benches/login_latency.py: N logins in each of three modes, measuring the time from the
#    approve request to `sesame login` exiting with the session stored (file store):
#      callback   $BROWSER is benches/http_browser.py: GET page, POST form, follow the 303
#      long-poll  --no-browser; approve through the JSON validator API
#      polling    as long-poll, through the proxy that hides the extensions: plain polls every
#                 2 s (the default --poll-interval), as against ConsoleMe
# 3. benches/token_keyring.sh under dbus-run-session with a throwaway gnome-keyring: hyperfine
#    medians of `sesame token` (keychain and file store) and `secret-tool lookup` on the same
#    item, and the ratio sesame/secret-tool.
#
# Environment: N (logins per mode, default 20), TOKEN_RUNS (default 100), BENCH_DELAY_MAX_MS
# (approver's random think time, default 2000), BENCH_SEED (default 1), RESULTS_DIR (default
# target/bench). Only 127.0.0.1 is contacted; every loop is bounded. Needs python3, and for the
# token part dbus-run-session, gnome-keyring-daemon, secret-tool and hyperfine (installed with
# apt-get when missing and running as root).
set -euo pipefail

N=${N:-20}
TOKEN_RUNS=${TOKEN_RUNS:-100}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
benches=$root/benches
results=${RESULTS_DIR:-$root/target/bench}
mkdir -p "$results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
[[ $N =~ ^[0-9]+$ && $N -ge 1 && $N -le 1000 ]] || { echo "N must be 1..1000" >&2; exit 2; }
[[ $TOKEN_RUNS =~ ^[0-9]+$ && $TOKEN_RUNS -ge 3 && $TOKEN_RUNS -le 10000 ]] || { echo "TOKEN_RUNS must be 3..10000" >&2; exit 2; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# Installs Debian packages for missing commands when we may (root); otherwise says what is missing.
. "$root/benches/need.sh"

need python3 python3

echo "== building (cargo build --release)"
(cd "$root" && cargo build --release --quiet)
bin=$root/target/release/sesame

# Starts a server that prints its URL as the first line of stdout; sets $url.
start() { # start LOGNAME CMD...
  local name=$1; shift
  local out=$results/$name.$stamp.out
  "$@" >"$out" 2>"$results/$name.$stamp.err" &
  pids+=($!)
  for _ in $(seq 100); do
    url=$(head -n1 "$out" 2>/dev/null || true)
    [[ $url == http://127.0.0.1:* ]] && return 0
    sleep 0.1
  done
  echo "$name did not start:" >&2; cat "$results/$name.$stamp.err" >&2; exit 1
}

start server "$bin" serve --listen 127.0.0.1:0 --quiet
server=$url
start proxy python3 "$benches/no_extensions_proxy.py" "$server"
proxy=$url
echo "== reference server $server, extension-stripping proxy $proxy"

echo "== login latency: N=$N per mode"
logins=$results/logins.$stamp.json
python3 "$benches/login_latency.py" --bin "$bin" --server "$server" --proxy "$proxy" --n "$N" --out "$logins"

tokens=$results/tokens.$stamp.json
token_ok=1
if need dbus-run-session dbus && need gnome-keyring-daemon gnome-keyring \
   && need secret-tool libsecret-tools && need hyperfine hyperfine; then
  echo "== token latency: hyperfine, $TOKEN_RUNS runs each"
  dbus-run-session -- bash "$benches/token_keyring.sh" "$bin" "$tokens" "$TOKEN_RUNS" || token_ok=0
else
  token_ok=0
fi
[[ $token_ok == 1 ]] || echo "!! token benchmark skipped or failed (see above)" >&2

summary=$results/summary.$stamp.txt
rev=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(cd "$root" && git status --porcelain -- src Cargo.toml 2>/dev/null) ]] || rev="$rev+uncommitted changes in src"
export BENCH_REV=$rev BENCH_STAMP=$stamp
python3 - "$logins" "$tokens" "$token_ok" <<'EOF' | tee "$summary"
import json, os, sys
logins = json.load(open(sys.argv[1]))
print()
print(f"sesame latency summary, {os.environ['BENCH_STAMP']}, sesame {os.environ['BENCH_REV']}, "
      f"{os.cpu_count()} CPUs")
print()
print(f"{'login mode':<12} {'ok':>4} {'failed':>6} {'median ms':>10} {'p95 ms':>10} {'min ms':>9} {'max ms':>9}  target")
for r in logins:
    target = {"callback": 50, "long-poll": 50}.get(r["mode"])
    verdict = "-" if target is None else (
        f"<= {target} ms: {'met' if r['median_ms'] <= target else 'MISSED'}")
    print(f"{r['mode']:<12} {r['n']:>4} {r['failed']:>6} {r['median_ms']:>10.1f} {r['p95_ms']:>10.1f} "
          f"{r['min_ms']:>9.1f} {r['max_ms']:>9.1f}  {verdict}")
for r in logins:
    for f in r["failures"]:
        print(f"  FAILED {r['mode']} login #{f['run']}: {f['problem']}; {f['error']}")
for r in logins:
    if "browser_page_median_ms" in r:
        print(f"  (callback: browser had its 'Signed in' page after median "
              f"{r['browser_page_median_ms']:.1f} ms, p95 {r['browser_page_p95_ms']:.1f} ms)")
if sys.argv[3] == "1":
    res = {r["command"]: r for r in json.load(open(sys.argv[2]))["results"]}
    print()
    print(f"{'token command':<26} {'median ms':>10} {'mean ms':>9} {'stddev':>8} {'min ms':>8}")
    for name, r in res.items():
        print(f"{name:<26} {r['median']*1e3:>10.2f} {r['mean']*1e3:>9.2f} "
              f"{r['stddev']*1e3:>8.2f} {r['min']*1e3:>8.2f}")
    ratio = res["sesame token (keychain)"]["median"] / res["secret-tool lookup"]["median"]
    print(f"ratio of medians sesame token (keychain) / secret-tool lookup: {ratio:.2f}  "
          f"target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'}")
else:
    print("\ntoken benchmark: not run")
EOF
echo
echo "raw figures: $logins${token_ok:+ }$( [[ $token_ok == 1 ]] && echo "$tokens")"
echo "summary: $summary"
