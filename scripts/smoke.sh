#!/usr/bin/env bash
# A person's first minutes with a built sesame binary, on the system it was built for
# (docs/platforms.md). Run by scripts/wine-smoke.sh for the Windows binary under Wine, and by the
# hosted CI's macOS and Windows jobs natively (.github/workflows/ci.yml).
#
#   scripts/smoke.sh SESAME [SERVER]
#
# SESAME is the binary under test. SERVER is a sesame that runs here and serves the challenge
# login (default: SESAME itself). SMOKE_RUNNER, if set, is the program SESAME runs under (wine).
# SMOKE_KEYCHAIN is the keychain's name as sesame prints it (default: any).
#
# Checks: --version; login --with-token into the OS keychain, token, status -o json, logout; a
# session over Windows' 2,560-byte credential limit saved and read back byte for byte; a
# challenge login with --no-browser against `SERVER serve` on loopback, approved through the
# validator API, saved with --store file, and `doctor` finding that file closed to other users
# (an owner-only DACL on Windows). Needs bash, curl and python3. Exits non-zero on any
# failure.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/smoke.sh SESAME [SERVER]" >&2; exit 2; }
exe=$1
server=${2:-$1}
runner=()
[ -n "${SMOKE_RUNNER:-}" ] && runner=("$SMOKE_RUNNER")
keychain=${SMOKE_KEYCHAIN:-}
command -v curl >/dev/null || { echo "smoke.sh: curl is needed" >&2; exit 1; }
# python3, or python where that is its name (Windows runners)
python=$(command -v python3 || command -v python) || { echo "smoke.sh: python3 is needed" >&2; exit 1; }
python3() { "$python" "$@"; }
export -f python3
export python

work=$(mktemp -d)
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# A profile of our own, so a real session of the person running this is never touched.
export SESAME_PROFILE=smoke-test
sesame() { "${runner[@]}" "$exe" "$@" </dev/null; }

# shellcheck source=scripts/checks.sh
. "$(dirname "$0")/checks.sh"

version=$(sesame --version 2>"$work/err") || { cat "$work/err" >&2; exit 1; }
check "--version prints the version" grep -q '^sesame [0-9]' <<<"$version"

jwt() { # a JWT-shaped token with $1 characters of payload padding, expiring in an hour
  local pad exp payload
  pad=$(head -c "$1" /dev/zero | tr '\0' 'a')
  exp=$(($(date +%s) + 3600))
  payload=$(printf '{"sub":"smoke-user","exp":%s,"pad":"%s"}' "$exp" "$pad" | base64 | tr -d '\n' | tr '+/' '-_' | tr -d '=')
  printf 'eyJhbGciOiJIUzI1NiJ9.%s.c2lnbmF0dXJl' "$payload"
}
with_token() { # TOKEN: login --with-token, the token on stdin
  printf %s "$1" | "${runner[@]}" "$exe" login --with-token --store keychain 2>&1
}

small=$(jwt 10)
check "login --with-token saves in the keychain" \
  bash -c 'grep -q "saved in keychain ($1" <<<"$2"' _ "$keychain" "$(with_token "$small")"
check "token prints it back" test "$(sesame token --store keychain)" = "$small"
check "status -o json names the user" \
  bash -c 'python3 -c "import json,sys; assert json.load(sys.stdin)[\"user\"] == \"smoke-user\"" <<<"$1"' _ \
  "$(sesame status --store keychain -o json)"
check "logout deletes it" sesame logout --store keychain
token_status=0
sesame token --store keychain >/dev/null 2>&1 || token_status=$?
check "token after logout exits 3" test "$token_status" -eq 3

big=$(jwt 6000)
check "a ${#big}-byte session (over Windows' 2,560-byte limit) is saved" \
  bash -c '[ -n "$1" ]' _ "$(with_token "$big" | grep 'saved in keychain' || true)"
check "and read back byte for byte" test "$(sesame token --store keychain)" = "$big"
sesame logout --store keychain >/dev/null 2>&1 || true

echo "== smoke: a challenge login against $server serve on loopback"
SESAME_JWT_SECRET=smoke-test-secret-0123456789abcdef0123 "$server" serve --listen 127.0.0.1:0 \
  >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 150); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
url=$(head -1 "$work/serve.out")
if [ -z "$url" ]; then
  echo "smoke.sh: sesame serve did not start:" >&2
  cat "$work/serve.err" >&2
  exit 1
fi
"${runner[@]}" "$exe" login --store file --no-browser --server "$url" --user smoke-user --timeout 60 \
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
check "it says who is logged in" grep -q "Logged in as smoke-user" "$work/login.err"
check "token prints the server's JWT" bash -c 'grep -q "^eyJ" <<<"$1"' _ "$(sesame token --store file)"
# doctor's verdict on the session file: mode 0600 in a 0700 directory on Unix, an owner-only
# DACL on Windows (Wine keeps DACLs, so this reads back what sesame set).
sesame doctor --store file -o json >"$work/doctor.json" 2>/dev/null || true
check "doctor: only this user can open the session file" python3 -c '
import json, sys
checks = {c["name"]: c for c in json.load(open(sys.argv[1]))["checks"]}
c = checks.get("session file")
print("     ", c)
assert c and c["verdict"] == "OK", c' "$work/doctor.json"
sesame logout --store file >/dev/null 2>&1 || true

if [ "$failed" -gt 0 ]; then
  echo "--- login stderr:"
  cat "$work/login.err"
fi
checks_summary smoke
