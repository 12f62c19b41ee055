#!/bin/sh
# Builds sesame from this checkout and installs it for the current user (into ~/.cargo/bin).
# Extra arguments go to `cargo install`, e.g. `./install.sh --root /usr/local`.
set -eu
cd "$(dirname "$0")"
if ! command -v cargo >/dev/null 2>&1; then
  echo "install.sh: cargo is needed to build sesame; install Rust with rustup first." >&2
  exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
  echo "install.sh: a C compiler (cc) is needed for the TLS library; on Debian/Ubuntu: apt-get install build-essential" >&2
  exit 1
fi
cargo install --path . --locked --force "$@"
bin="${CARGO_HOME:-$HOME/.cargo}/bin"
echo
echo "Installed: $bin/sesame"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "Add $bin to your PATH to run it as 'sesame'." ;;
esac
echo "Try it end to end: sesame demo"
