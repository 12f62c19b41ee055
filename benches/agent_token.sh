#!/usr/bin/env bash
# Part of benches/agent.sh; run it through that. Runs inside `dbus-run-session`: a throwaway
# gnome-keyring (benches/keyring_session.sh) holds a session, saved with
# `sesame login --with-token` into the keychain and the file store; `sesame agent` runs in the
# foreground with SESAME_AUTH_SOCK exported. Then one hyperfine run times, process start
# included:
#   sesame token --store keychain        (answered by the agent)
#   secret-tool lookup service sesame username default   (the same keychain item)
#   cat SESSION_FILE                     (the file store's session, as plain bytes)
# Then benches/agent_burst.py BURST_SECS, with this keyring.
# Usage: agent_token.sh SESAME_BIN OUT.json RUNS BURST_SECS
set -euo pipefail
bin=$1 out=$2 runs=$3 burst_secs=$4

source "$(dirname "${BASH_SOURCE[0]}")/keyring_session.sh"

printf %s "$token" | "$bin" login --with-token --store keychain >/dev/null 2>"$work/login.log" \
  || { echo "saving into the keychain failed:"; cat "$work/login.log"; exit 1; } >&2
printf %s "$token" | "$bin" login --with-token --store file >/dev/null 2>>"$work/login.log"
session_file=$XDG_DATA_HOME/sesame/sessions/default.json
[[ -f $session_file ]] || { echo "no session file at $session_file" >&2; exit 1; }

sock=$XDG_RUNTIME_DIR/sesame/agent.sock
"$bin" agent --foreground --socket "$sock" >"$work/agent.out" 2>"$work/agent.log" &
extra_pids+=($!)
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
export SESAME_AUTH_SOCK=$sock
answered=$(SESAME_LOG=debug "$bin" token --store keychain 2>&1 >/dev/null)
[[ $answered == *"agent: answered"* ]] || { echo "the agent did not answer: $answered" >&2; cat "$work/agent.log" >&2; exit 1; }
[[ $("$bin" token --store keychain) == "$token" ]] || { echo "the agent's token is not the stored one" >&2; exit 1; }

hyperfine --shell=none --warmup 10 --runs "$runs" --style basic --export-json "$out" \
  --command-name "sesame token (agent)" "$bin token --store keychain" \
  --command-name "secret-tool lookup" "secret-tool lookup service sesame username default" \
  --command-name "cat session file" "cat $session_file"
kill "${extra_pids[@]}" 2>/dev/null || true
unset SESAME_AUTH_SOCK
python3 "$(dirname "${BASH_SOURCE[0]}")/agent_burst.py" "$bin" "$burst_secs" 6
