#!/usr/bin/env bash
# Part of benches/latency.sh; run it through that. Runs inside `dbus-run-session`: starts a
# throwaway gnome-keyring (secrets only, fresh keyring in a temp HOME, unlocked with a password
# on stdin), saves a JWT-looking session into it and into the file store with
# `sesame login --with-token`, then times with hyperfine:
#   sesame token --store keychain
#   secret-tool lookup service sesame username default     (the same keyring item)
#   sesame token --store file
# Usage: token_keyring.sh SESAME_BIN OUT.json RUNS
set -euo pipefail
bin=$1 out=$2 runs=$3

source "$(dirname "${BASH_SOURCE[0]}")/keyring_session.sh"

printf %s "$token" | "$bin" login --with-token --store keychain >/dev/null 2>"$work/login.log" \
  || { echo "saving into the keychain failed:"; cat "$work/login.log"; exit 1; } >&2
printf %s "$token" | "$bin" login --with-token --store file >/dev/null 2>>"$work/login.log"
[[ $("$bin" token --store keychain) == "$token" ]] || { echo "sesame token --store keychain did not return the token" >&2; exit 1; }
[[ $("$bin" token --store file) == "$token" ]] || { echo "sesame token --store file did not return the token" >&2; exit 1; }
secret-tool lookup service sesame username default | grep -q "$token" \
  || { echo "secret-tool does not find sesame's item (service=sesame username=default)" >&2; exit 1; }

hyperfine --shell=none --warmup 10 --runs "$runs" --style basic --export-json "$out" \
  --command-name "sesame token (keychain)" "$bin token --store keychain" \
  --command-name "secret-tool lookup" "secret-tool lookup service sesame username default" \
  --command-name "sesame token (file)" "$bin token --store file"
