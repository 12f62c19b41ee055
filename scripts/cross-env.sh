# Sourced by scripts/cross.sh, scripts/dist.sh and scripts/wine-smoke.sh: the toolchain that
# builds sesame for targets whose standard library rustup does not have here (docs/platforms.md).
#
# rustup here has only Linux's glibc standard library and cannot download others, so the standard
# library is built from source (-Zbuild-std) with Debian's rustc-web and its matching
# rust-web-src (and rust-web-clippy for lints). C code in dependencies (aws-lc-sys) is compiled
# with Debian's mingw-w64 for Windows and with zig's C compiler (PyPI `ziglang`, which carries
# musl and macOS's libc headers) for Linux musl and macOS; zig also links the static musl binary.
#
# cross_install installs what is missing, and stops with a message naming what could not be
# installed: never a silent skip. cross_env exports the settings; cross_build TARGET PROFILE
# builds the sesame binary and prints its path.

CROSS_APT_PACKAGES=(rustc-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64)
ZIGLANG_VERSION=0.17.1
CROSS_TARGET_DIR=target/cross

cross_install() {
  local missing=() p
  for p in "${CROSS_APT_PACKAGES[@]}" "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== cross: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
      echo "$0: could not install ${missing[*]} (Debian packages); the Windows, macOS and musl builds cannot run without them." >&2
      exit 1
    fi
  fi
  if ! python3 -c "import ziglang" 2>/dev/null; then
    echo "== cross: installing ziglang==$ZIGLANG_VERSION (PyPI)"
    if ! python3 -m pip install -q "ziglang==$ZIGLANG_VERSION"; then
      echo "$0: could not install ziglang from PyPI; the macOS and musl builds need its C compiler." >&2
      exit 1
    fi
  fi
}

# zig's cc for TARGET, without the flags that cc-rs and rustc pass to gcc or Apple's clang and
# that zig does not take (zig sets its own target, libc and start files).
cross_zig_cc() {
  local rust_target=$1 zig_target=$2 wrapper="$CROSS_TARGET_DIR/cc/cc-$1"
  mkdir -p "$CROSS_TARGET_DIR/cc"
  cat >"$wrapper" <<WRAPPER
#!/usr/bin/env bash
args=()
skip=0
for a in "\$@"; do
  if [ \$skip = 1 ]; then skip=0; continue; fi
  case "\$a" in
    -arch) skip=1 ;;
    -mmacosx-version-min=*|--target=*|-Wl,--no-undefined-version) ;;
    # rustc's own start files and libgcc_s: zig brings musl's and its own libunwind
    -nostartfiles|-lgcc_s) ;;
    *) args+=("\$a") ;;
  esac
done
exec python3 -m ziglang cc -target $zig_target "\${args[@]}"
WRAPPER
  chmod +x "$wrapper"
  realpath "$wrapper"
}

cross_env() {
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$CROSS_TARGET_DIR
  export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
  CC_aarch64_apple_darwin=$(cross_zig_cc aarch64-apple-darwin aarch64-macos)
  CC_x86_64_apple_darwin=$(cross_zig_cc x86_64-apple-darwin x86_64-macos)
  CC_x86_64_unknown_linux_musl=$(cross_zig_cc x86_64-unknown-linux-musl x86_64-linux-musl)
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=$CC_x86_64_unknown_linux_musl
  export CC_aarch64_apple_darwin CC_x86_64_apple_darwin CC_x86_64_unknown_linux_musl \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER
  export AR_aarch64_apple_darwin="python3 -m ziglang ar" AR_x86_64_apple_darwin="python3 -m ziglang ar" \
    AR_x86_64_unknown_linux_musl="python3 -m ziglang ar"
  # zig supplies musl's start files and libc: rustc must not add its own (it has none here).
  export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no"
}
