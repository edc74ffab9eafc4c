#!/usr/bin/env bash
# tests/runtime/suite.sh - the runtime's tests: runs each C test program (built by
# tests/runtime/build.mk into $BUILD/tests/runtime) through $VALGRIND_CMD and renumbers their
# TAP lines into one stream.  A program that crashes or exits non-zero without a failing line
# is reported as a failure of its own.
set -u
: "${BUILD:=build}" "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$TOP"
VALGRIND_CMD="${VALGRIND_CMD:-}"
n=0; failed=0
run() {  # run NAME: one test program
  local name=$1 bin="$BUILD/tests/runtime/$1" out rc
  if [ ! -x "$bin" ]; then
    n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $name: $bin not built"; return
  fi
  out=$(mktemp); $VALGRIND_CMD "$bin" >"$out" 2>&1; rc=$?
  local had_fail=0
  while IFS= read -r line; do
    case "$line" in
      "ok "*) n=$((n+1)); echo "ok $n - $name: ${line#ok * - }" ;;
      "not ok "*) n=$((n+1)); failed=$((failed+1)); had_fail=1; echo "not ok $n - $name: ${line#not ok * - }" ;;
      1..*) ;;
      *) echo "$line" ;;
    esac
  done <"$out"
  rm -f "$out"
  if [ "$rc" -ne 0 ] && [ "$had_fail" -eq 0 ]; then
    n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $name exited with status $rc"
  fi
}
for src in tests/runtime/test_*.c; do
  run "$(basename "$src" .c)"
done
echo "1..$n"
[ "$failed" -eq 0 ]
