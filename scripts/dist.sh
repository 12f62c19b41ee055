#!/usr/bin/env bash
# Release artifacts, into target/dist/ (docs/platforms.md, "Installing a release"):
#
#   scripts/dist.sh [--profile PROFILE] [--no-deb] [TARGET ...]
#
#   sesame-VERSION-TARGET.tar.gz   Linux and macOS: a directory with bin/sesame, share/man/man1/
#                                  (a page per command), share/{bash-completion,zsh,fish}
#                                  completions, README.md and the licences. It is laid out as a
#                                  prefix: `tar -xzf ... -C ~/.local --strip-components=1`.
#   sesame-VERSION-TARGET.zip      Windows: sesame.exe at the top, README.md, the licences and
#                                  the PowerShell completion.
#   sesame_VERSION_amd64.deb       Debian and Ubuntu, from the static Linux binary: /usr/bin,
#                                  man pages, completions, /usr/share/doc/sesame.
#   SHA256SUMS                     for every file above (`sha256sum -c SHA256SUMS`).
#
# TARGETs default to those this host can make: on Linux, x86_64-unknown-linux-musl (static; no
# glibc needed) and x86_64-pc-windows-gnu, plus the .deb; on macOS, aarch64-apple-darwin and
# x86_64-apple-darwin; on Windows, x86_64-pc-windows-msvc. A target whose standard library
# rustup has is built with plain cargo; one it lacks (every one but Linux glibc on this team's
# machines) with build-std through scripts/cross-env.sh. PROFILE is `release` (the default, what
# is published) or `dev` (what scripts/test-all.sh packages, to test the packaging without a
# second, slower build). Archives are reproducible: file times are the last commit's, owners 0.
# SESAME_DEB_MAINTAINER sets the .deb's Maintainer field (a name and <address>).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
profile=release
deb=auto
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --profile) [ $# -ge 2 ] || { usage >&2; exit 2; }; profile=$2; shift 2 ;;
    --profile=*) profile=${1#*=}; shift ;;
    --no-deb) deb=no; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "dist.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
case $profile in release | dev) ;; *) echo "dist.sh: --profile is release or dev, not $profile" >&2; exit 2 ;; esac

case $(uname -s) in
  Linux) host=x86_64-unknown-linux-musl; default_targets=(x86_64-unknown-linux-musl x86_64-pc-windows-gnu) ;;
  Darwin) host=$(uname -m | sed 's/arm64/aarch64/')-apple-darwin; default_targets=(aarch64-apple-darwin x86_64-apple-darwin) ;;
  MINGW* | MSYS* | CYGWIN*) host=x86_64-pc-windows-msvc; default_targets=(x86_64-pc-windows-msvc) ;;
  *) echo "dist.sh: no release targets are known for $(uname -s)" >&2; exit 1 ;;
esac
[ ${#targets[@]} -gt 0 ] || targets=("${default_targets[@]}")
if [ "$deb" = auto ]; then
  deb=no
  [[ " ${targets[*]} " == *" x86_64-unknown-linux-musl "* ]] && command -v dpkg-deb >/dev/null && deb=yes
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "dist.sh: no version in Cargo.toml" >&2; exit 1; }
# Every file in every archive gets the last commit's time: the same source makes the same bytes.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH

python=$(command -v python3 || command -v python) || { echo "dist.sh: python3 is needed" >&2; exit 1; }
archive() { "$python" scripts/archive.py "$@"; }

out=target/dist
rm -rf "$out"
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cross_ready=no
build() { # TARGET: builds sesame for it, prints the binary's path
  local target=$1 ext="" dir
  case $target in *windows*) ext=.exe ;; esac
  if [ -d "$(rustc --print sysroot)/lib/rustlib/$target/lib" ]; then
    cargo build --profile "$profile" --target "$target" --locked --bin sesame --quiet >&2
    dir=target/$target
  else
    if [ $cross_ready = no ]; then
      # shellcheck source=scripts/cross-env.sh
      . scripts/cross-env.sh
      cross_install >&2
      cross_ready=yes
    fi
    (cross_env && cargo build -Zbuild-std=std,panic_abort --profile "$profile" --target "$target" \
      --locked --bin sesame --quiet) >&2
    dir=$CROSS_TARGET_DIR/$target
  fi
  local profile_dir=debug
  [ "$profile" = release ] && profile_dir=release
  echo "$dir/$profile_dir/sesame$ext"
}

# Man pages and completions come from a sesame that runs here: the host target's, built first.
echo "== dist: building sesame $version for $host ($profile)"
host_bin=$(build "$host")
generated=$stage/generated
mkdir -p "$generated/man" "$generated/complete"
"$host_bin" man --dir "$generated/man" 2>/dev/null
"$host_bin" completions bash >"$generated/complete/sesame.bash"
"$host_bin" completions zsh >"$generated/complete/_sesame"
"$host_bin" completions fish >"$generated/complete/sesame.fish"
"$host_bin" completions powershell >"$generated/complete/_sesame.ps1"
# The man pages carry no date of their own; gzip -n leaves out the name and time.
for page in "$generated/man"/*.1; do archive gz "$page" "$page.gz"; done

put() { # MODE FILE... DEST/: copies with that mode, making DEST (BSD install has no -D)
  local mode=$1 dest=${*: -1}
  mkdir -p "$dest"
  for f in "${@:2:$#-2}"; do
    cp "$f" "$dest/"
    chmod "$mode" "$dest/$(basename "$f")"
  done
}
docs() { put 0644 README.md LICENSE-MIT LICENSE-APACHE "$1"; }

linux_bin=""
for target in "${targets[@]}"; do
  echo "== dist: $target"
  if [ "$target" = "$host" ]; then bin=$host_bin; else bin=$(build "$target"); fi
  name=sesame-$version-$target
  dir=$stage/$name
  mkdir -p "$dir"
  case $target in
    *windows*)
      put 0755 "$bin" "$dir"
      docs "$dir"
      put 0644 "$generated/complete/_sesame.ps1" "$dir/complete"
      archive zip "$dir" "$out/$name.zip"
      ;;
    *)
      put 0755 "$bin" "$dir/bin"
      docs "$dir"
      put 0644 "$generated/man"/*.1 "$dir/share/man/man1"
      put 0644 "$generated/complete/sesame.bash" "$dir/share/bash-completion/completions"
      mv "$dir/share/bash-completion/completions/sesame.bash" "$dir/share/bash-completion/completions/sesame"
      put 0644 "$generated/complete/_sesame" "$dir/share/zsh/site-functions"
      put 0644 "$generated/complete/sesame.fish" "$dir/share/fish/vendor_completions.d"
      archive tar "$dir" "$out/$name.tar.gz"
      [ "$target" = x86_64-unknown-linux-musl ] && linux_bin=$bin
      ;;
  esac
done

if [ "$deb" = yes ]; then
  maintainer=${SESAME_DEB_MAINTAINER:-The sesame developers <sesame@localhost>}
  case $maintainer in *$'\n'* | *$'\r'* | '') echo "dist.sh: SESAME_DEB_MAINTAINER must be one line" >&2; exit 2 ;; esac
  [ -n "$linux_bin" ] || { echo "dist.sh: the .deb is made from the x86_64-unknown-linux-musl build; add that target" >&2; exit 1; }
  echo "== dist: .deb"
  root=$stage/deb
  install -D -m 0755 "$linux_bin" "$root/usr/bin/sesame"
  install -d "$root/usr/share/man/man1"
  install -m 0644 "$generated/man"/*.1.gz "$root/usr/share/man/man1/"
  install -D -m 0644 "$generated/complete/sesame.bash" "$root/usr/share/bash-completion/completions/sesame"
  install -D -m 0644 "$generated/complete/_sesame" "$root/usr/share/zsh/vendor-completions/_sesame"
  install -D -m 0644 "$generated/complete/sesame.fish" "$root/usr/share/fish/vendor_completions.d/sesame.fish"
  install -d "$root/usr/share/doc/sesame"
  archive gz README.md "$root/usr/share/doc/sesame/README.md.gz"
  {
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: sesame"
    echo
    echo "Files: *"
    echo "Copyright: 2026 The sesame developers"
    echo "License: MIT or Apache-2.0"
    echo
    echo "License: MIT"
    sed -e 's/^$/./' -e 's/^/ /' LICENSE-MIT
    echo
    echo "License: Apache-2.0"
    echo " On Debian systems, the full text of the Apache License, Version 2.0, is in"
    echo " /usr/share/common-licenses/Apache-2.0."
  } >"$root/usr/share/doc/sesame/copyright"
  chmod 0644 "$root/usr/share/doc/sesame/copyright" "$root/usr/share/doc/sesame/README.md.gz"
  installed_kb=$(du -sk "$root/usr" | cut -f1)
  install -d "$root/DEBIAN"
  (cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
  cat >"$root/DEBIAN/control" <<CONTROL
Package: sesame
Version: $version
Architecture: amd64
Maintainer: $maintainer
Installed-Size: $installed_kb
Section: utils
Priority: optional
Suggests: gnome-keyring | keepassxc
Description: log in to single sign-on from the command line
 sesame gets a token from a company's login service (a ConsoleMe challenge,
 OAuth 2.0 device authorization or authorization code with PKCE, or a JSON
 password login) and keeps the session in the OS keychain (the Secret Service
 on Linux), with a 0600 file where there is none. sesame token, exec, header
 and the kubectl and git credential helpers use it.
 .
 This binary is statically linked (musl): it needs no system library.
CONTROL
  chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  # xz for what we ship; a quick gzip for the test builds (xz of a 60 MB debug binary takes a
  # minute of CI's budget).
  compression=(-Zxz)
  [ "$profile" = release ] || compression=(-Zgzip -z1)
  dpkg-deb --root-owner-group "${compression[@]}" --build "$root" "$out/sesame_${version}_amd64.deb" >/dev/null
fi

(
  cd "$out"
  if command -v sha256sum >/dev/null; then sha256sum -- *; else shasum -a 256 -- *; fi >"$stage/SHA256SUMS"
  mv "$stage/SHA256SUMS" SHA256SUMS
)
echo "== dist: $out"
(cd "$out" && ls -l)
