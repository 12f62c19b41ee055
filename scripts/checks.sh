# Sourced by scripts/smoke.sh and scripts/dist-test.sh: `check NAME COMMAND...` runs COMMAND,
# prints ok or FAIL with NAME, and counts; `checks_summary LABEL` prints the counts and
# returns non-zero if any failed.
passed=0
failed=0
check() {
  local name=$1
  shift
  if "$@"; then
    echo "   ok   $name"
    passed=$((passed + 1))
  else
    echo "   FAIL $name"
    failed=$((failed + 1))
  fi
}
checks_summary() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
