#!/bin/sh
# Builds sesame from this checkout and installs it for the current user (into ~/.cargo/bin).
# Extra arguments go to `cargo install`, e.g. `./install.sh --root /usr/local`.
set -eu
prev_arg=
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
# Where cargo put it: --root DIR / --root=DIR, else CARGO_INSTALL_ROOT, else CARGO_HOME.
bin="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
for arg in "$@"; do
  case "$prev_arg" in --root) bin="$arg/bin" ;; esac
  case "$arg" in --root=*) bin="${arg#--root=}/bin" ;; esac
  prev_arg="$arg"
done
sesame="$bin/sesame"
echo
echo "Installed: $sesame"

# Shell completions where each shell looks for a user's own, and the man page next to the
# binary (man finds DIR/../share/man for every DIR on PATH).
data="${XDG_DATA_HOME:-$HOME/.local/share}"
config="${XDG_CONFIG_HOME:-$HOME/.config}"
man_dir="$(dirname "$bin")/share/man/man1"
mkdir -p "$data/bash-completion/completions" "$data/zsh/site-functions" "$config/fish/completions" "$man_dir"
"$sesame" completions bash >"$data/bash-completion/completions/sesame"
"$sesame" completions zsh >"$data/zsh/site-functions/_sesame"
"$sesame" completions fish >"$config/fish/completions/sesame.fish"
"$sesame" man --dir "$man_dir" 2>/dev/null
echo "Completions: bash and fish load them by themselves; for zsh add"
echo "  fpath+=($data/zsh/site-functions)   (before compinit in ~/.zshrc)"
echo "Man pages: $man_dir (man sesame, man sesame-login, ...)"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "Add $bin to your PATH to run it as 'sesame'." ;;
esac
echo "Try it end to end: sesame demo"
