#!/usr/bin/env bash
# Runs every suite (tests/*/suite.sh, in name order, or the ones named on the command line).
# A suite prints TAP lines ("ok N - name" / "not ok N - name"); its exit status must be 0.
# Logs of failing suites are kept in $BUILD/test-logs; the closing line is the plain
# "N passed, N failed" count over all suites.
set -u
cd "$(dirname "$0")/.."
: "${BUILD:=build}"
export BUILD VALGRIND_CMD="${VALGRIND_CMD:-}"
export TOP="$PWD"
logs="$BUILD/test-logs"; mkdir -p "$logs"

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
  for s in tests/*/suite.sh; do suites+=("$(basename "$(dirname "$s")")"); done
fi

total_pass=0; total_fail=0; bad_suites=()
for name in "${suites[@]}"; do
  script="tests/$name/suite.sh"
  [ -x "$script" ] || { echo "run.sh: no suite $script" >&2; total_fail=$((total_fail+1)); continue; }
  log="$logs/$name.log"
  start=$(date +%s)
  "$script" >"$log" 2>&1
  rc=$?
  p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - suite exited with status $rc" >>"$log"; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - suite ran no test" >>"$log"; fi
  total_pass=$((total_pass+p)); total_fail=$((total_fail+f))
  printf '%-14s %5d passed %4d failed  (%ds)\n' "$name" "$p" "$f" "$(( $(date +%s) - start ))"
  if [ "$f" -ne 0 ]; then
    bad_suites+=("$name")
    grep -B2 -A25 '^not ok' "$log" | head -120 | sed 's/^/    /'
  fi
done
echo
[ ${#bad_suites[@]} -eq 0 ] || echo "failing suites: ${bad_suites[*]} (logs in $logs)"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
