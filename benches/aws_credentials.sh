#!/usr/bin/env bash
# `sesame aws credential-process` cached against fresh (docs/performance.md, "AWS
# credentials"): moto's server as STS and `sesame serve --aws-roles` as the ConsoleMe, both on
# ephemeral loopback ports; a challenge login approved through the validator API; then
# hyperfine times the command with the credentials cached (the file store's `default#aws.json`)
# and with the cache removed before each run (a get_credentials request, and the server's
# AssumeRole at moto). Prints hyperfine's table; medians of RUNS runs after 5 warm-ups.
# Needs: a built sesame (BIN, default target/release/sesame), moto_server on PATH
# (tests/aws/requirements.txt), hyperfine, curl, python3.
#   cargo build --release && benches/aws_credentials.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${BIN:-target/release/sesame}")
RUNS=${RUNS:-50}
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive whole number" >&2; exit 2 ;; esac
for c in moto_server hyperfine curl python3; do
  command -v "$c" >/dev/null || { echo "aws_credentials.sh: $c is needed" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export HOME=$work/home XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data SESAME_STORE=file
mkdir -p "$HOME"

moto_port=$(port)
moto_server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
pids+=($!)
cat >"$work/roles.toml" <<'TOML'
[[grant]]
users = ["alice"]
roles = ["arn:aws:iam::123456789012:role/dev"]
TOML
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_ENDPOINT_URL_STS=http://127.0.0.1:$moto_port \
  "$BIN" serve --listen 127.0.0.1:0 --quiet --insecure-dev-aws --aws-roles "$work/roles.toml" >"$work/serve.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$moto_port/" && break; sleep 0.1; done
server=$(head -1 "$work/serve.out")

"$BIN" login --server "$server" --user alice --no-browser --timeout 30 2>"$work/login.err" &
login=$!
for _ in $(seq 100); do grep -q challenge_validator "$work/login.err" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*/challenge_validator/[A-Za-z0-9_-]*' "$work/login.err" | head -1)
api=${url/challenge_validator/api\/v2\/challenge_validator}
nonce=$(curl -s "$api" | python3 -c 'import json,sys; print(json.load(sys.stdin)["nonce"])')
curl -s -X POST -H 'content-type: application/json' -d "{\"nonce\":\"$nonce\"}" "$api" >/dev/null
wait "$login"

cache="$XDG_DATA_HOME/sesame/sessions/default#aws.json"
"$BIN" aws credential-process dev >/dev/null
# One --prepare per command, in order: nothing before a cached run, the cache removed before a
# fresh one.
hyperfine --style basic -N --warmup 5 --runs "$RUNS" \
  --prepare true --prepare "rm -f '$cache'" \
  -n "credential-process, cached" "$BIN aws credential-process dev" \
  -n "credential-process, fresh (get_credentials + AssumeRole)" "$BIN aws credential-process dev" \
  --export-json "$work/aws.json" >/dev/null
python3 - "$work/aws.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
print("| call | median (ms) | mean (ms) | min (ms) |\n|---|---|---|---|")
for r in rows:
    print(f'| {r["command"]} | {r["median"]*1000:.2f} | {r["mean"]*1000:.2f} | {r["min"]*1000:.2f} |')
c, f = rows[0]["median"], rows[1]["median"]
print(f"\nfresh / cached = {f / c:.1f}x")
PY
