#!/usr/bin/env bash
# The Windows binary, run under Wine (docs/platforms.md): built by scripts/cross.sh's toolchain
# for x86_64-pc-windows-gnu and linked with mingw-w64, then driven as a person would use it:
#   --version; login --with-token into the Windows Credential Manager (Wine's implementation
#   of the Cred* API), token, status -o json, logout; a session over the Credential Manager's
#   2,560-byte limit saved and read back byte for byte; a challenge login with --no-browser
#   against a Linux `sesame serve` on loopback, approved through the validator API.
# Installs wine64 if missing (a clear error if it cannot). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! dpkg -s wine64 >/dev/null 2>&1; then
  echo "== wine: installing wine64"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wine64; }; then
    echo "wine-smoke.sh: could not install wine64 (Debian package); the Windows binary cannot be run here without it." >&2
    exit 1
  fi
fi
WINE=/usr/lib/wine/wine64

# The Linux sesame that serves the challenge: built as `cargo test` builds it (same toolchain,
# target dir and profile), before the cross settings below are exported.
echo "== wine: building the Linux sesame (for sesame serve)"
cargo build --bin sesame --locked --quiet
linux_sesame=$(realpath target/debug/sesame)

target=x86_64-pc-windows-gnu
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target/cross CARGO_INCREMENTAL=0
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
echo "== wine: building sesame.exe"
cargo build -Zbuild-std=std,panic_abort --target "$target" --bin sesame --locked --quiet
bin_dir=target/cross/$target/debug
x86_64-w64-mingw32-gcc -shared -O2 -o "$bin_dir/bcryptprimitives.dll" \
  scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -lbcrypt
exe=$(realpath "$bin_dir/sesame.exe")

work=$(mktemp -d)
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  WINEPREFIX="$work/prefix" /usr/lib/wine/wineserver -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# No stdin from the terminal, no display: as in CI.
sesame() { "$WINE" "$exe" "$@"; }

passed=0
failed=0
check() { # NAME, then a command that must succeed
  local name=$1
  shift
  if "$@"; then
    echo "   ok   $name"
    passed=$((passed + 1))
  else
    echo "   FAIL $name"
    failed=$((failed + 1))
  fi
}

echo "== wine: first start (creating the prefix)"
version=$(sesame --version </dev/null 2>"$work/err") || { cat "$work/err"; exit 1; }
check "--version prints the version" grep -q '^sesame ' <<<"$version"

jwt() { # a JWT-shaped token with SIZE characters of payload padding, expiring in an hour
  local pad
  pad=$(head -c "$1" /dev/zero | tr '\0' 'a')
  local exp=$(($(date +%s) + 3600))
  local payload
  payload=$(printf '{"sub":"wine-user","exp":%s,"pad":"%s"}' "$exp" "$pad" | base64 -w0 | tr '+/' '-_' | tr -d '=')
  printf 'eyJhbGciOiJIUzI1NiJ9.%s.c2lnbmF0dXJl' "$payload"
}

small=$(jwt 10)
check "login --with-token into the Credential Manager" \
  bash -c 'set -o pipefail; printf %s "$1" | "$2" "$3" login --with-token --store keychain 2>&1 | grep -q "saved in keychain (Windows Credential Manager)"' _ "$small" "$WINE" "$exe"
check "token prints it back" bash -c '[ "$("$1" "$2" token --store keychain </dev/null)" = "$3" ]' _ "$WINE" "$exe" "$small"
check "status -o json names the user" \
  bash -c '"$1" "$2" status --store keychain -o json </dev/null | python3 -c "import json,sys; assert json.load(sys.stdin)[\"user\"] == \"wine-user\""' _ "$WINE" "$exe"
check "logout deletes it" bash -c '"$1" "$2" logout --store keychain </dev/null' _ "$WINE" "$exe"
check "token after logout exits 3" bash -c '"$1" "$2" token --store keychain </dev/null 2>/dev/null; [ $? -eq 3 ]' _ "$WINE" "$exe"

big=$(jwt 6000)
check "a ${#big}-byte session (over the 2,560-byte limit) is saved" \
  bash -c 'printf %s "$1" | "$2" "$3" login --with-token --store keychain >/dev/null 2>&1' _ "$big" "$WINE" "$exe"
check "and read back byte for byte" bash -c '[ "$("$1" "$2" token --store keychain </dev/null)" = "$3" ]' _ "$WINE" "$exe" "$big"
sesame logout --store keychain </dev/null >/dev/null 2>&1 || true

echo "== wine: a challenge login against a Linux sesame serve"
SESAME_JWT_SECRET=wine-smoke-secret-0123456789abcdef0123 "$linux_sesame" serve --listen 127.0.0.1:0 \
  >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 150); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
url=$(head -1 "$work/serve.out")
if [ -z "$url" ]; then
  echo "wine-smoke.sh: sesame serve did not start:" >&2
  cat "$work/serve.err" >&2
  exit 1
fi
sesame login --store file --no-browser --server "$url" --user wine-user --timeout 60 \
  </dev/null >"$work/login.out" 2>"$work/login.err" &
login_pid=$!
challenge=""
for _ in $(seq 300); do
  challenge=$(grep -o 'http://127\.0\.0\.1:[0-9]*/challenge_validator/[A-Za-z0-9]*' "$work/login.err" | head -1 || true)
  [ -n "$challenge" ] && break
  sleep 0.1
done
if [ -n "$challenge" ]; then
  api=${challenge/\/challenge_validator\//\/api\/v2\/challenge_validator\/}
  nonce=$(curl -fsS "$api" | python3 -c 'import json,sys; print(json.load(sys.stdin)["nonce"])')
  curl -fsS -H 'Content-Type: application/json' -d "{\"nonce\":\"$nonce\"}" "$api" >/dev/null
fi
login_status=0
wait "$login_pid" || login_status=$?
check "the challenge URL was shown" test -n "$challenge"
check "the login exits 0 once approved" test "$login_status" -eq 0
check "it says who is logged in" grep -q "Logged in as wine-user" "$work/login.err"
check "token prints the server's JWT" bash -c '"$1" "$2" token --store file </dev/null | grep -q "^eyJ"' _ "$WINE" "$exe"

if [ "$failed" -gt 0 ]; then
  echo "--- login stderr:"; cat "$work/login.err"
fi
echo "wine smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
