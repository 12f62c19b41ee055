#!/usr/bin/env bash
# The Windows release zip, run under Wine (docs/platforms.md): sesame.exe is taken out of the zip
# that scripts/dist.sh made and driven through scripts/smoke.sh as a person would use it, with the
# Windows Credential Manager (Wine's implementation of the Cred* API) as the keychain and a Linux
# `sesame serve` on loopback for the challenge login.
#
#   scripts/wine-smoke.sh [ZIP [SERVER]]
#
# ZIP defaults to target/dist/sesame-*-x86_64-pc-windows-gnu.zip (scripts/dist.sh makes it);
# SERVER, the Linux sesame that serves the challenge, to target/debug/sesame (built if missing).
# Installs wine64 if missing (a clear error if it cannot). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

zip=${1:-}
if [ -z "$zip" ]; then
  zip=$(ls target/dist/sesame-*-x86_64-pc-windows-gnu.zip 2>/dev/null | head -1 || true)
  if [ -z "$zip" ]; then
    echo "wine-smoke.sh: no Windows zip in target/dist; make one first: scripts/dist.sh --profile dev x86_64-pc-windows-gnu" >&2
    exit 1
  fi
fi
server=${2:-}
if [ -z "$server" ]; then
  echo "== wine: building the Linux sesame (for sesame serve)"
  cargo build --bin sesame --locked --quiet
  server=target/debug/sesame
fi
server=$(realpath "$server")

if ! dpkg -s wine64 >/dev/null 2>&1; then
  echo "== wine: installing wine64"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wine64; }; then
    echo "wine-smoke.sh: could not install wine64 (Debian package); the Windows binary cannot be run here without it." >&2
    exit 1
  fi
fi
command -v x86_64-w64-mingw32-gcc >/dev/null || {
  echo "wine-smoke.sh: x86_64-w64-mingw32-gcc is needed for Wine's bcryptprimitives stand-in (Debian package gcc-mingw-w64-x86-64)" >&2
  exit 1
}

work=$(mktemp -d)
cleanup() {
  WINEPREFIX="$work/prefix" /usr/lib/wine/wineserver -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== wine: $zip"
python3 -m zipfile -e "$zip" "$work/unzipped"
exe=$(find "$work/unzipped" -name sesame.exe | head -1)
[ -n "$exe" ] || { echo "wine-smoke.sh: no sesame.exe in $zip" >&2; exit 1; }
# Wine 8 lacks bcryptprimitives.dll (ProcessPrng); the stand-in goes beside the exe for this run
# only, never into the zip (scripts/wine/bcryptprimitives.c).
x86_64-w64-mingw32-gcc -shared -O2 -o "$(dirname "$exe")/bcryptprimitives.dll" \
  scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -lbcrypt

export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
echo "== wine: first start (creating the prefix)"
/usr/lib/wine/wine64 "$exe" --version </dev/null >/dev/null
SMOKE_RUNNER=/usr/lib/wine/wine64 SMOKE_KEYCHAIN="Windows Credential Manager" \
  scripts/smoke.sh "$exe" "$server"
