#!/usr/bin/env bash
# Every line of sesame's own platform code compiled and linted for Windows and macOS, on this
# Linux machine (docs/platforms.md): `cargo clippy -D warnings` of the library and the binary
# for x86_64-pc-windows-gnu and aarch64-apple-darwin. x86_64-apple-darwin is the same code (none
# of ours depends on the architecture) and took another 127 s of CI's budget, so it is left to
# the release workflow, which builds it on a Mac. The platform code is
# all in those two; the reference server (axum, Redis, the AWS SDK: no platform code of ours)
# is left out here (466 s -> 386 s for the three targets), and is built for Windows by
# scripts/dist.sh, whose archive the Wine smoke test runs.
#
# How the toolchain is made (build-std with Debian's rustc-web; mingw-w64 for Windows; zig's C
# compiler from PyPI for macOS) is in scripts/cross-env.sh. Nothing is linked for macOS: there is
# no SDK here.
#
# Installs what it needs; a package that cannot be installed stops the script with a message
# naming it, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cross-env.sh
. scripts/cross-env.sh
cross_install
cross_env
export CARGO_INCREMENTAL=0

for target in x86_64-pc-windows-gnu aarch64-apple-darwin; do
  echo "== cross: clippy -D warnings for $target"
  started=$SECONDS
  # /usr/bin/cargo-clippy is Debian's, matching /usr/bin/rustc; it runs the cargo on PATH.
  /usr/bin/cargo-clippy clippy -Zbuild-std=std,panic_abort --target "$target" \
    -p sesame-login -p sesame --no-default-features --features sesame-login/terminal \
    --lib --bins --locked --quiet -- -D warnings
  echo "   ok in $((SECONDS - started)) s"
done
