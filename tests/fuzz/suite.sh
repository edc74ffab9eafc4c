#!/usr/bin/env bash
# tests/fuzz/suite.sh - replays every fuzz target's corpus (tests/fuzz/corpus/NAME/) through
# its gcc-built replay driver ($BUILD/tests/fuzz/replay_NAME), one TAP line per target, so
# the seeds and every crash found so far stay fixed in `make test` (ASan/UBSan with
# SANITIZE=..., valgrind with VALGRIND=1).
# Env: BUILD, TOP, VALGRIND_CMD.
set -u
: "${BUILD:=build}" "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}" "${VALGRIND_CMD:=}"
cd "$TOP" || exit 2
# glibc's loader trips valgrind when libxml2 dlopens an iconv module (see the file)
case "$VALGRIND_CMD" in
  *valgrind*) VALGRIND_CMD="$VALGRIND_CMD --suppressions=$TOP/tests/fuzz/valgrind.supp" ;;
esac
n=0; failed=0
log=$(mktemp "${TMPDIR:-/tmp}/fuzz-suite.XXXXXX")
trap 'rm -f "$log" "$log.err"' EXIT
for src in tests/fuzz/fuzz_*.c; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .c); name=${name#fuzz_}
  corpus="tests/fuzz/corpus/$name"
  n=$((n+1))
  count=$(find "$corpus" -maxdepth 1 -type f 2>/dev/null | wc -l)
  if [ "$count" -eq 0 ]; then
    echo "not ok $n - fuzz target $name has no corpus in $corpus"
    failed=$((failed+1)); continue
  fi
  $VALGRIND_CMD "$BUILD/tests/fuzz/replay_$name" "$corpus" >"$log" 2>"$log.err"
  rc=$?
  # library code never prints: anything on stderr is a failure too
  if [ "$rc" -eq 0 ] && grep -q "^replay: $count inputs" "$log" && [ ! -s "$log.err" ]; then
    echo "ok $n - fuzz corpus $name replays ($count inputs)"
  else
    echo "not ok $n - fuzz corpus $name replays ($count inputs, status $rc)"
    tail -n 30 "$log" "$log.err" | sed 's/^/# /'
    failed=$((failed+1))
  fi
done
echo "1..$n"
[ "$failed" -eq 0 ] && [ "$n" -gt 0 ]
