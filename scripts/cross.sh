#!/usr/bin/env bash
# Every line of sesame's own platform code compiled and linted for Windows and macOS, on this
# Linux machine (docs/platforms.md): `cargo clippy -D warnings` of the library and the binary
# for x86_64-pc-windows-gnu, aarch64-apple-darwin and x86_64-apple-darwin.
#
# rustup here has only Linux's standard library and cannot download others, so the standard
# library is built from source for each target (-Zbuild-std) with Debian's rustc-web, its
# matching rust-web-src and rust-web-clippy. C code in dependencies (aws-lc-sys) is compiled
# with Debian's mingw-w64 for Windows and with zig's C compiler (PyPI `ziglang`, which carries
# macOS's libc headers) for macOS. Nothing is linked for macOS: there is no SDK here.
#
# Installs what it needs; a package that cannot be installed stops the script with a message
# naming it, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(rustc-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64)
ZIGLANG_VERSION=0.17.1

missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== cross: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
    echo "cross.sh: could not install ${missing[*]} (Debian packages); the Windows and macOS checks cannot run without them." >&2
    exit 1
  fi
fi
if ! python3 -c "import ziglang" 2>/dev/null; then
  echo "== cross: installing ziglang==$ZIGLANG_VERSION (PyPI)"
  if ! python3 -m pip install -q "ziglang==$ZIGLANG_VERSION"; then
    echo "cross.sh: could not install ziglang from PyPI; the macOS checks need its C compiler." >&2
    exit 1
  fi
fi

target_dir=target/cross
mkdir -p "$target_dir/cc"

# zig's cc for a macOS target, without the flags Apple's clang takes and zig's does not (cc-rs
# passes -arch, --target and -mmacosx-version-min; zig sets its own target).
zig_cc() {
  local rust_target=$1 zig_target=$2 wrapper="$target_dir/cc/cc-$1"
  cat >"$wrapper" <<EOF
#!/usr/bin/env bash
args=()
skip=0
for a in "\$@"; do
  if [ \$skip = 1 ]; then skip=0; continue; fi
  case "\$a" in
    -arch) skip=1 ;;
    -mmacosx-version-min=*|--target=*) ;;
    *) args+=("\$a") ;;
  esac
done
exec python3 -m ziglang cc -target $zig_target "\${args[@]}"
EOF
  chmod +x "$wrapper"
  realpath "$wrapper"
}

export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$target_dir CARGO_INCREMENTAL=0
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
CC_aarch64_apple_darwin=$(zig_cc aarch64-apple-darwin aarch64-macos)
CC_x86_64_apple_darwin=$(zig_cc x86_64-apple-darwin x86_64-macos)
export CC_aarch64_apple_darwin CC_x86_64_apple_darwin
export AR_aarch64_apple_darwin="python3 -m ziglang ar" AR_x86_64_apple_darwin="python3 -m ziglang ar"

for target in x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin; do
  echo "== cross: clippy -D warnings for $target"
  started=$SECONDS
  # /usr/bin/cargo-clippy is Debian's, matching /usr/bin/rustc; it runs the cargo on PATH.
  /usr/bin/cargo-clippy clippy -Zbuild-std=std,panic_abort --target "$target" \
    --lib --bins --locked --quiet -- -D warnings
  echo "   ok in $((SECONDS - started)) s"
done
