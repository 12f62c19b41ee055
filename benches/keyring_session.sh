# Sourced by benches/token_keyring.sh and benches/agent_token.sh, inside `dbus-run-session`:
# a throwaway HOME and XDG directories under $work (removed on exit), a throwaway
# gnome-keyring (secrets only, unlocked with a password on stdin) registered on this session
# bus, and $token, a JWT-looking token that expires in a day. The caller sets `bin`.
work=$(mktemp -d /tmp/sesame-token-bench.XXXXXX)
keyring_pid=
extra_pids=() # processes the caller starts, stopped first
cleanup() {
  local p
  for p in "${extra_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
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
