#!/usr/bin/env bash
# tests/golden/suite.sh - golden tests of `mapc check` (jansson/jq style, data-driven).
#
#   errors/<case>/input.map   + expected   the exact stderr (caret lines, notes, count)
#                             [+ status]   the expected exit status (default 1)
#                             [+ args]     extra options before the file (e.g. --max-errors 3)
#                             [+ files]    more .map files checked with input.map (one per line)
#   valid/<case>/input.map                 must check clean: exit 0, nothing on stdout/stderr
#   specs/language.md                      every ```map block must check clean, unless the
#                                          next block is ```diagnostics: then stderr must be
#                                          exactly that block (the file is called example.map)
#   usage                                  command-line errors exit 2
#   test_frontend                          the C API (tests/golden/test_frontend.c)
#
# Each case runs in its own directory with the file named input.map (or example.map), so the
# expected text is location-independent.  mapc runs under $VALGRIND_CMD when it is set.
# Outputs of failing cases are kept in $BUILD/golden-logs/<case>/; passing ones leave nothing.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
case "$BUILD" in /*) build_dir="$BUILD" ;; *) build_dir="$TOP/$BUILD" ;; esac
MAPC="$build_dir/mapc"
VALGRIND_CMD="${VALGRIND_CMD:-}"
here="$TOP/tests/golden"
logs="$build_dir/golden-logs"
rm -rf "$logs"
work=$(mktemp -d "${TMPDIR:-/tmp}/golden.XXXXXX")
trap 'rm -rf "$work"' EXIT

n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
  shift
  for line in "$@"; do echo "#   $line"; done
}

# run_case NAME DIR FILE EXPECTED_STDERR_FILE EXPECTED_STATUS [ARGS...]
run_case() {
  local name=$1 dir=$2 file=$3 expected=$4 want_status=$5
  shift 5
  local out="$work/out" err="$work/err"
  # shellcheck disable=SC2086
  (cd "$dir" && $VALGRIND_CMD "$MAPC" check "$@" "$file") >"$out" 2>"$err"
  local status=$?
  if [ "$status" -eq "$want_status" ] && [ ! -s "$out" ] && cmp -s "$expected" "$err"; then
    ok "$name"
    return
  fi
  local keep="$logs/$name"
  mkdir -p "$keep"
  cp "$out" "$keep/stdout"; cp "$err" "$keep/stderr"; cp "$expected" "$keep/expected"
  local msgs=("exit status $status, expected $want_status; logs in $keep")
  [ -s "$out" ] && msgs+=("unexpected output on stdout")
  while IFS= read -r line; do msgs+=("$line"); done < <(diff -u "$expected" "$err" | head -40)
  not_ok "$name" "${msgs[@]}"
}

[ -x "$MAPC" ] || { not_ok "mapc binary exists at $MAPC"; echo "1..$n"; exit 1; }

empty="$work/empty"; : >"$empty"

# ---- valid programs
for d in "$here"/valid/*/; do
  [ -f "$d/input.map" ] || continue
  name="valid/$(basename "$d")"
  args=(); [ -f "$d/args" ] && read -r -a args <"$d/args"
  extra=(); [ -f "$d/files" ] && mapfile -t extra <"$d/files"
  run_case "$name" "$d" input.map "$empty" 0 "${args[@]}" "${extra[@]}"
done

# ---- diagnostics
for d in "$here"/errors/*/; do
  [ -f "$d/input.map" ] || continue
  name="errors/$(basename "$d")"
  status=1; [ -f "$d/status" ] && status=$(cat "$d/status")
  args=(); [ -f "$d/args" ] && read -r -a args <"$d/args"
  extra=(); [ -f "$d/files" ] && mapfile -t extra <"$d/files"
  if [ ! -f "$d/expected" ]; then not_ok "$name" "no expected file"; continue; fi
  run_case "$name" "$d" input.map "$d/expected" "$status" "${args[@]}" "${extra[@]}"
done

# ---- the examples of specs/language.md
# Schema paths in the examples are relative to specs/; the examples run in a directory that
# links specs/d365, specs/clarity and the lookup files the reference uses.
lang="$TOP/specs/language.md"
if [ -f "$lang" ]; then
  ex="$work/lang"; mkdir -p "$ex"
  for sub in d365 clarity; do ln -s "$TOP/specs/$sub" "$ex/$sub"; done
  ln -s "$here/lang/lookups" "$ex/lookups"
  # Split: exN.map for each ```map block, exN.expected for a ```diagnostics block right after.
  awk -v dir="$ex" '
    /^```map[ \t]*$/ { k++; f = dir "/ex" k ".map"; inmap = 1; printf "" > f; next }
    /^```diagnostics[ \t]*$/ { if (last == "map") { f = dir "/ex" k ".expected"; indiag = 1; printf "" > f }
                            else { bad = 1; print "diagnostics block without a map block before it" > (dir "/ERROR") }
                            next }
    /^```/ { if (inmap) last = "map"; else last = "other"; if (inmap || indiag) close(f); inmap = indiag = 0; next }
    inmap || indiag { print >> f; next }
    NF { last = "text" }
  ' "$lang"
  if [ -f "$ex/ERROR" ]; then not_ok "specs/language.md blocks" "$(cat "$ex/ERROR")"; fi
  count=0
  for m in "$ex"/ex*.map; do
    [ -f "$m" ] || continue
    count=$((count + 1))
    base=$(basename "$m" .map)
    cp "$m" "$ex/example.map"
    line=$(grep -n '^```map' "$lang" | sed -n "${base#ex}p" | cut -d: -f1)
    if [ -f "$ex/$base.expected" ]; then
      run_case "specs/language.md:$line (error example)" "$ex" example.map "$ex/$base.expected" 1
    else
      run_case "specs/language.md:$line" "$ex" example.map "$empty" 0
    fi
  done
  [ "$count" -ge 1 ] && ok "specs/language.md has $count checked examples" \
                     || not_ok "specs/language.md has checked examples"
else
  not_ok "specs/language.md exists"
fi

# ---- the C API (frontend.h): its TAP lines are renumbered into this suite's
api="$build_dir/tests/golden/test_frontend"
if [ -x "$api" ]; then
  $VALGRIND_CMD "$api" "$TOP" >"$work/api.out" 2>&1
  api_status=$?
  while IFS= read -r line; do
    case "$line" in
      "ok "*) ok "api: ${line#* - }" ;;
      "not ok "*) not_ok "api: ${line#* - }" ;;
      "#"*) echo "$line" ;;
    esac
  done <"$work/api.out"
  [ "$api_status" -eq 0 ] || not_ok "api: test_frontend exit status $api_status"
else
  not_ok "api: $api is built (make tests)"
fi

# ---- command line
usage_case() {
  local name=$1 want=$2; shift 2
  (cd "$work" && $VALGRIND_CMD "$MAPC" check "$@") >"$work/out" 2>"$work/err"
  local status=$?
  if [ "$status" -eq "$want" ]; then ok "$name"; else
    not_ok "$name" "exit status $status, expected $want" "$(head -5 "$work/err")"; fi
}
usage_case "usage: no file -> 2" 2
usage_case "usage: unknown option -> 2" 2 --frobnicate x.map
usage_case "usage: bad --max-errors -> 2" 2 --max-errors x input.map
usage_case "usage: missing file -> 2" 2 does-not-exist.map
usage_case "usage: --help -> 0" 0 --help
if (cd "$work" && "$MAPC" check --help) | grep -q -- '--max-errors'; then ok "--help documents --max-errors"
else not_ok "--help documents --max-errors"; fi
(cd "$work" && "$MAPC" check does-not-exist.map) 2>"$work/err"
if grep -q "^mapc: error: cannot read 'does-not-exist.map'" "$work/err"; then ok "missing file is named"
else not_ok "missing file is named" "$(cat "$work/err")"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
