#!/usr/bin/env bash
# The agent's figures (a benchmark, not a pass/fail test; docs/agent.md, issue 21's targets):
#
# 1. benches/agent_token.sh under dbus-run-session with a throwaway gnome-keyring: one
#    hyperfine run of `sesame token` answered by the agent, `secret-tool lookup` of the same
#    keychain item and `cat` of the session file, process start included. Prints the medians
#    and the ratios; targets: agent <= 0.5x secret-tool, <= 1.3x cat.
# 2. benches/agent_burst.py, in the same D-Bus session: bursts of 20 concurrent `sesame token`
#    calls across the refreshes of a keychain session with short tokens (oauth2-mock-server),
#    without the agent and with it.
#    Target: with the agent no call waits for a refresh (the slowest call stays near the median).
#
#   benches/agent.sh                       # RUNS=200 hyperfine runs, 12 s of bursts
#   RUNS=500 BURST_SECS=30 benches/agent.sh
#
# Environment: RUNS (3..10000), BURST_SECS (1..600), BIN (default target/release/sesame, built
# when missing), RESULTS_DIR (default target/bench). Needs dbus-run-session, gnome-keyring,
# secret-tool, hyperfine (apt-get installs them when missing and running as root), node and
# `npm ci` in tests/oidc.
set -euo pipefail

RUNS=${RUNS:-200}
BURST_SECS=${BURST_SECS:-12}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results=${RESULTS_DIR:-$root/target/bench}
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 3 && $RUNS -le 10000 ]] || { echo "RUNS must be 3..10000" >&2; exit 2; }
[[ $BURST_SECS =~ ^[0-9]+$ && $BURST_SECS -ge 1 && $BURST_SECS -le 600 ]] || { echo "BURST_SECS must be 1..600" >&2; exit 2; }
mkdir -p "$results"

. "$root/benches/need.sh"
need dbus-run-session dbus
need gnome-keyring-daemon gnome-keyring
need secret-tool libsecret-tools
need hyperfine hyperfine
need python3 python3
need node nodejs
[[ -d $root/tests/oidc/node_modules ]] || (cd "$root/tests/oidc" && npm ci --silent)

# What we ship for Linux: the static musl build (scripts/dist.sh). A glibc build is a PIE whose
# 24,000 relocations cost about 1 ms at every start (docs/performance.md), which would hide the
# agent's own figures. Built as scripts/dist.sh builds it (its standard library from source
# when the target is not installed, scripts/cross-env.sh).
musl=x86_64-unknown-linux-musl
if [[ -n ${BIN:-} ]]; then
  bin=$BIN
elif [[ -d $(rustc --print sysroot)/lib/rustlib/$musl/lib ]]; then
  (cd "$root" && cargo build --release --target $musl --bin sesame --quiet)
  bin=$root/target/$musl/release/sesame
else
  (cd "$root" && . scripts/cross-env.sh && cross_install >&2 \
    && cross_env && cargo build -Zbuild-std=std,panic_abort --release --target $musl --bin sesame --quiet)
  bin=$root/target/cross/$musl/release/sesame
fi

out=$results/agent-token-$(date -u +%Y%m%dT%H%M%SZ).json
echo "== sesame token through the agent, beside secret-tool and cat ($RUNS runs each)"
dbus-run-session -- "$root/benches/agent_token.sh" "$bin" "$out" "$RUNS" "$BURST_SECS" >"$results/agent-bursts.txt"
python3 - "$out" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in r.items()}
agent, st, cat = med["sesame token (agent)"], med["secret-tool lookup"], med["cat session file"]
for k, v in med.items():
    print(f"  {k:<22} median {v:6.2f} ms")
print(f"  agent / secret-tool  {agent / st:5.2f}   (target <= 0.5)")
print(f"  agent / cat          {agent / cat:5.2f}   (target <= 1.3)")
PY
echo "  (hyperfine JSON: $out)"

echo "== bursts of 20 concurrent calls across refreshes (keychain store)"
sed -n '/^20 concurrent/,/^{/p' "$results/agent-bursts.txt" | sed '$d'
