# Sourced by the benches: `need COMMAND PACKAGE` makes sure COMMAND exists, installing the
# Debian PACKAGE with apt-get when running as root; otherwise it says what is missing and
# returns 1 (under `set -e`, the bench stops there).
need() {
  command -v "$1" >/dev/null && return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing $2 (for $1)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; } || true
  fi
  command -v "$1" >/dev/null || { echo "missing $1 (Debian package $2)" >&2; return 1; }
}
