#!/usr/bin/env bash
# The artifacts in target/dist/, installed and used as a new user would (docs/platforms.md):
#   SHA256SUMS checks; the Linux archive unpacks into a prefix, its static binary runs, and its
#   man pages and completions are where man and the shells look; the .deb installs with
#   dpkg -i, `sesame` runs from PATH, `man -w sesame` finds the page, bash completion loads,
#   and dpkg -r removes every file it installed; the Windows zip's sesame.exe passes the Wine
#   smoke suite (scripts/wine-smoke.sh).
# Run scripts/dist.sh first (scripts/test-all.sh runs `scripts/dist.sh --profile dev`). Installs
# what it needs (man-db, bash-completion); the .deb part needs root or sudo, and refuses to run
# where a sesame package is already installed rather than replace it.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=target/dist
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for p in man-db bash-completion; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== dist-test: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

tarball=$dist/sesame-$version-x86_64-unknown-linux-musl.tar.gz
zip=$dist/sesame-$version-x86_64-pc-windows-gnu.zip
deb=$dist/sesame_${version}_amd64.deb
for f in "$tarball" "$zip" "$deb" "$dist/SHA256SUMS"; do
  [ -f "$f" ] || { echo "dist-test.sh: $f is missing; run scripts/dist.sh first" >&2; exit 1; }
done

work=$(mktemp -d)
installed=no
cleanup() {
  if [ $installed = yes ]; then $SUDO dpkg -r sesame >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/checks.sh
. "$(dirname "$0")/checks.sh"

echo "== dist-test: SHA256SUMS"
check "SHA256SUMS verifies" bash -c "cd $dist && sha256sum --quiet -c SHA256SUMS"
check "and covers every artifact" bash -c \
  "diff <(cd $dist && ls | grep -v '^SHA256SUMS\$' | sort) <(awk '{print \$2}' $dist/SHA256SUMS | sort)"

echo "== dist-test: $(basename "$tarball")"
prefix=$work/prefix
mkdir -p "$prefix"
tar -xzf "$tarball" -C "$prefix" --strip-components=1
check "bin/sesame --version" bash -c "[ \"\$('$prefix/bin/sesame' --version)\" = 'sesame $version' ]"
check "the binary is static (no dynamic loader)" bash -c "! readelf -l '$prefix/bin/sesame' | grep -q 'INTERP'"
check "man finds sesame(1) and sesame-login(1) under the prefix" \
  bash -c "MANPATH='$prefix/share/man' man -w sesame >/dev/null && MANPATH='$prefix/share/man' man -w sesame-login >/dev/null"
check "completions for bash, zsh and fish" test -s "$prefix/share/bash-completion/completions/sesame" \
  -a -s "$prefix/share/zsh/site-functions/_sesame" -a -s "$prefix/share/fish/vendor_completions.d/sesame.fish"
check "README and licences" test -s "$prefix/README.md" -a -s "$prefix/LICENSE-MIT" -a -s "$prefix/LICENSE-APACHE"
check "files are root's (0/0)" bash -c \
  "tar -tvzf '$tarball' | awk '\$2 != \"0/0\" {bad=1} END {exit bad}'"

echo "== dist-test: $(basename "$deb")"
if dpkg -s sesame >/dev/null 2>&1; then
  echo "dist-test.sh: a sesame package is installed already; remove it (dpkg -r sesame) to test the .deb" >&2
  exit 1
fi
check "the package says what it is" bash -c "dpkg-deb -f '$deb' Package Version Architecture | tr '\n' ' ' | grep -q 'Package: sesame Version: $version Architecture: amd64'"
$SUDO dpkg -i "$deb" >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; exit 1; }
installed=yes
dpkg -L sesame >"$work/files"
check "dpkg -i installs it" bash -c "dpkg -s sesame | grep -q '^Status: install ok installed'"
check "sesame --version from PATH (/usr/bin)" bash -c \
  "[ \"\$(command -v sesame)\" = /usr/bin/sesame ] && [ \"\$(env -i PATH=/usr/bin:/bin sesame --version)\" = 'sesame $version' ]"
check "man -w sesame finds the page" bash -c "[ \"\$(man -w sesame)\" = /usr/share/man/man1/sesame.1.gz ]"
check "man -w sesame-login too" bash -c "man -w sesame-login >/dev/null"
check "bash completion loads and completes a subcommand" bash -c '
  . /usr/share/bash-completion/bash_completion
  _completion_loader sesame
  complete -p sesame >/dev/null || exit 1
  COMP_WORDS=(sesame log); COMP_CWORD=1; COMP_LINE="sesame log"; COMP_POINT=${#COMP_LINE}
  fn=$(complete -p sesame | sed -n "s/.*-F \([^ ]*\).*/\1/p")
  "$fn" sesame log sesame
  printf "%s\n" "${COMPREPLY[@]}" | grep -qx "login"'
check "the copyright file and the README" test -s /usr/share/doc/sesame/copyright -a -s /usr/share/doc/sesame/README.md.gz
$SUDO dpkg -r sesame >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; exit 1; }
installed=no
check "dpkg -r removes it" bash -c "! dpkg -s sesame 2>/dev/null | grep -q '^Status: install ok installed'"
check "and every file it installed" bash -c "while read -r f; do [ -d \"\$f\" ] || [ ! -e \"\$f\" ] || { echo \"left: \$f\"; exit 1; }; done <'$work/files'"
check "sesame is no longer on PATH" bash -c "! command -v sesame >/dev/null"

echo "== dist-test: $(basename "$zip")"
check "sesame.exe, README, licences and the PowerShell completion" bash -c \
  "python3 -m zipfile -l '$zip' | awk 'NR > 1 {print \$1}' | sort | tr '\n' ' ' | grep -qx 'sesame-$version-x86_64-pc-windows-gnu/LICENSE-APACHE sesame-$version-x86_64-pc-windows-gnu/LICENSE-MIT sesame-$version-x86_64-pc-windows-gnu/README.md sesame-$version-x86_64-pc-windows-gnu/complete/_sesame.ps1 sesame-$version-x86_64-pc-windows-gnu/sesame.exe '"
check "no Wine stand-in DLL shipped" bash -c "! python3 -m zipfile -l '$zip' | grep -qi '\\.dll'"

checks_summary dist-test || exit 1
echo "== dist-test: the zip's sesame.exe under Wine"
scripts/wine-smoke.sh "$zip" "$prefix/bin/sesame"
