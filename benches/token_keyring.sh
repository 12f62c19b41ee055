#!/usr/bin/env bash
# Part of benches/latency.sh; run it through that. Runs inside `dbus-run-session`: starts a
# throwaway gnome-keyring (secrets only, fresh keyring in a temp HOME, unlocked with a password
# on stdin), saves a JWT-looking session into it and into the file store with
# `sesame login --with-token`, then times with hyperfine:
#   sesame token --store keychain
#   secret-tool lookup service sesame username default     (the same keyring item)
#   sesame token --store file
# Usage: token_keyring.sh SESAME_BIN OUT.json RUNS
set -euo pipefail
bin=$1 out=$2 runs=$3

work=$(mktemp -d /tmp/sesame-token-bench.XXXXXX)
keyring_pid=
cleanup() {
  if [[ -n $keyring_pid ]]; then kill "$keyring_pid" 2>/dev/null || true; wait "$keyring_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export HOME=$work/home XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config \
       XDG_CACHE_HOME=$work/cache XDG_RUNTIME_DIR=$work/run NO_COLOR=1
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
unset SESAME_PROFILE SESAME_STORE SESAME_SERVER SESAME_CONFIG

# In the foreground (as far as the daemon knows) so that its pid is ours to stop. It registers
# org.freedesktop.secrets on this session bus; wait for that without D-Bus activation (which
# would start a second, unmanaged daemon).
printf 'sesame-bench-password' | gnome-keyring-daemon --foreground --unlock --components=secrets \
  >"$work/keyring.log" 2>&1 &
keyring_pid=$!
has_owner() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'
}
for _ in $(seq 100); do has_owner && break; sleep 0.1; done
has_owner || { echo "gnome-keyring-daemon did not start:"; cat "$work/keyring.log"; exit 1; } >&2

token=$(python3 - <<'EOF'
import base64, json, os, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
header = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
payload = b(json.dumps({"sub": "alice", "email": "alice", "iat": int(time.time()),
                        "exp": int(time.time()) + 86400}).encode())
print(f"{header}.{payload}.{b(os.urandom(32))}")
EOF
)
printf %s "$token" | "$bin" login --with-token --store keychain >/dev/null 2>"$work/login.log" \
  || { echo "saving into the keychain failed:"; cat "$work/login.log"; exit 1; } >&2
printf %s "$token" | "$bin" login --with-token --store file >/dev/null 2>>"$work/login.log"
[[ $("$bin" token --store keychain) == "$token" ]] || { echo "sesame token --store keychain did not return the token" >&2; exit 1; }
[[ $("$bin" token --store file) == "$token" ]] || { echo "sesame token --store file did not return the token" >&2; exit 1; }
secret-tool lookup service sesame username default | grep -q "$token" \
  || { echo "secret-tool does not find sesame's item (service=sesame username=default)" >&2; exit 1; }

hyperfine --shell=none --warmup 10 --runs "$runs" --style basic --export-json "$out" \
  --command-name "sesame token (keychain)" "$bin token --store keychain" \
  --command-name "secret-tool lookup" "secret-tool lookup service sesame username default" \
  --command-name "sesame token (file)" "$bin token --store file"
