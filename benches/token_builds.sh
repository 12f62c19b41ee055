#!/usr/bin/env bash
# `sesame token` from different builds of sesame, side by side (docs/performance.md, "The
# shipped static binary"): each BIN is timed by benches/token_keyring.sh under its own
# dbus-run-session and gnome-keyring (keychain and file store, hyperfine, RUNS runs after 10
# warm-ups), and the medians are printed as a table. Needs what token_keyring.sh needs (dbus,
# gnome-keyring, libsecret-tools, hyperfine, python3).
#   benches/token_builds.sh target/release/sesame target/cross/x86_64-unknown-linux-musl/release/sesame
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: benches/token_builds.sh BIN [BIN ...]" >&2; exit 2; }
RUNS=${RUNS:-100}
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive whole number" >&2; exit 2 ;; esac
for pair in dbus-run-session:dbus gnome-keyring-daemon:gnome-keyring secret-tool:libsecret-tools hyperfine:hyperfine; do
  command -v "${pair%%:*}" >/dev/null && continue
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pair#*:}" >/dev/null
  else
    echo "token_builds.sh: ${pair%%:*} is needed (Debian package ${pair#*:})" >&2
    exit 1
  fi
done
out=target/bench/token-builds
mkdir -p "$out"
printf '| build | size (MB) | token, keychain (ms) | token, file (ms) | secret-tool lookup (ms) |\n|---|---|---|---|---|\n'
i=0
for bin in "$@"; do
  i=$((i + 1))
  bin=$(realpath "$bin")
  json=$out/$i.json
  dbus-run-session -- benches/token_keyring.sh "$bin" "$json" "$RUNS" >/dev/null
  python3 - "$bin" "$json" <<'PY'
import json, os, sys
bin, path = sys.argv[1], sys.argv[2]
r = {x["command"]: x for x in json.load(open(path))["results"]}
ms = lambda name: f'{r[name]["median"] * 1000:.2f}'
print(f'| {bin} | {os.path.getsize(bin) / 1e6:.1f} | {ms("sesame token (keychain)")} | {ms("sesame token (file)")} | {ms("secret-tool lookup")} |')
PY
done
