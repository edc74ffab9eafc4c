#!/usr/bin/env bash
# tests/codegen/suite.sh - mapc's code generation: generated code compiles warning-free
# (-Wall -Wextra -Werror -pedantic) for every golden program and example, generated/ is fresh,
# output is deterministic and has a depfile, the C test program over the typed API passes, and
# every behaviour case in cases/ (input.json -> expected.json or expected.err) runs through
# `mapc preview` (the compiled program under $VALGRIND_CMD when set).
set -u
cd "${TOP:-$(dirname "$0")/../..}"
: "${BUILD:=build}"
MAPC="$(cd "$BUILD" && pwd)/mapc"
n=0; failed=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $1"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/codegen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CFLAGS_GEN="-std=c11 -Wall -Wextra -Werror -pedantic -Iruntime/include"

# 1. every golden program and the examples generate C that compiles cleanly
for dir in tests/golden/valid/*/ examples/; do
  name=$(basename "$dir")
  files=("$dir"*.map)
  out="$tmp/gen-$name"
  if ! (cd "$dir" && "$MAPC" gen -o "$out" $(ls *.map)) >"$tmp/log" 2>&1; then
    nok "gen $name"; sed 's/^/# /' "$tmp/log"; continue
  fi
  bad=0
  for c in "$out"/*.c; do
    gcc $CFLAGS_GEN -I"$out" -c "$c" -o "$tmp/x.o" >"$tmp/log" 2>&1 || { bad=1; sed 's/^/# /' "$tmp/log" | head -20; }
    g++ -x c++ -fsyntax-only -Wall -Iruntime/include -I"$out" "${c%.c}.h" >"$tmp/log" 2>&1 || { bad=1; sed 's/^/# /' "$tmp/log" | head -5; }
  done
  [ $bad -eq 0 ] && ok "gen $name: ${#files[@]} file(s) compile with -Werror -pedantic, headers as C++" || nok "gen $name compiles"
done

# 2. generated/ is what mapc makes of examples/
if tests/codegen/check_generated.sh "$MAPC" >"$tmp/log" 2>&1; then ok "generated/ is fresh"; else nok "generated/ is fresh"; sed 's/^/# /' "$tmp/log" | head -30; fi

# 3. deterministic output, depfile, errors
${VALGRIND_CMD:-} "$MAPC" gen -o "$tmp/d1" -M "$tmp/d1.d" examples/order_to_cash.map >/dev/null 2>&1 || nok "mapc gen (under \$VALGRIND_CMD when set)"
"$MAPC" gen -o "$tmp/d2" examples/order_to_cash.map >/dev/null 2>&1
if diff -r "$tmp/d1" "$tmp/d2" >/dev/null && ! grep -q "$TOP\|20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T" "$tmp/d1/order_to_cash.c"; then
  ok "gen is deterministic, no absolute paths or dates"; else nok "gen is deterministic"; fi
if grep -q "order_to_cash.h" "$tmp/d1.d" && grep -q "coupons.csv" "$tmp/d1.d" && grep -q "metadata.xml" "$tmp/d1.d" && grep -q "examples/order_to_cash.map" "$tmp/d1.d"; then
  ok "gen -M names outputs, .map, CSV and schema inputs"; else nok "gen -M depfile"; sed 's/^/# /' "$tmp/d1.d"; fi
if grep -q "DO NOT EDIT" "$tmp/d1/order_to_cash.h" && grep -q "#ifndef MAPC_GEN_ORDER_TO_CASH_H" "$tmp/d1/order_to_cash.h" &&
   grep -q 'extern "C"' "$tmp/d1/order_to_cash.h" && grep -q "#if SYNCRT_ABI != 1" "$tmp/d1/order_to_cash.h" &&
   grep -q "inputs: order_to_cash.map metadata.xml openapi.json coupons.csv" "$tmp/d1/order_to_cash.h"; then
  ok "banner, guard, extern C and ABI check"; else nok "banner, guard, extern C and ABI check"; fi
printf 'schema d365 = odata "%s/specs/d365/metadata.xml"\nschema clarity = openapi "%s/specs/clarity/openapi.json"\nmap M from clarity.SalesOrder as o to d365.SalesOrderHeaderV2 update {\n dataAreaId = "usmf"\n SalesOrderNumber = o.Nope\n}\n' "$TOP" "$TOP" >"$tmp/bad.map"
"$MAPC" gen -o "$tmp/bad" "$tmp/bad.map" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "unknown field 'Nope'" "$tmp/err" && [ ! -e "$tmp/bad/bad.c" ]; then ok "gen refuses a program with errors (exit 1, nothing written)"; else nok "gen on errors (rc=$rc)"; fi
"$MAPC" gen "$tmp/bad.map" >/dev/null 2>&1; [ $? -eq 2 ] && ok "gen without -o is a usage error" || nok "gen without -o"

# 4. shared types: two files mapping the same entity get mapc_types.h
mkdir -p "$tmp/share"
for f in a b; do
  printf 'schema d365 = odata "%s/specs/d365/metadata.xml"\nschema clarity = openapi "%s/specs/clarity/openapi.json"\nmap M%s from clarity.SalesOrder as o to d365.SalesOrderHeaderV2 update {\n dataAreaId = "usmf"\n SalesOrderNumber = o.CustomKey ?? "%s"\n}\n' "$TOP" "$TOP" "$f" "$f" >"$tmp/share/$f.map"
done
if "$MAPC" gen -o "$tmp/share/out" "$tmp/share/a.map" "$tmp/share/b.map" 2>"$tmp/log" && [ -f "$tmp/share/out/mapc_types.h" ] &&
   grep -q '#include "mapc_types.h"' "$tmp/share/out/a.h" && ! grep -q "^struct clarity_SalesOrder {" "$tmp/share/out/a.h" &&
   (cd "$tmp/share" && gcc $CFLAGS_GEN -I"$TOP/runtime/include" -Iout out/*.c -c); then
  ok "a type used by maps of two files goes to mapc_types.h"; else nok "shared types header"; fi

# 5. the C test program over the typed API of generated/ (built by tests/codegen/build.mk)
if [ -x "$BUILD/tests/codegen/test_typed" ]; then
  ${VALGRIND_CMD:-} "$BUILD/tests/codegen/test_typed" >"$tmp/log" 2>&1; rc=$?
  sed 's/^/# /' "$tmp/log" | grep -v '^# ok' | head -30
  [ $rc -eq 0 ] && ok "test_typed: $(grep -c '^ok' "$tmp/log") checks on decode, map, validate, encode" || nok "test_typed (rc=$rc)"
else
  nok "test_typed not built"
fi

# 6. behaviour cases through mapc preview
cache="$BUILD/codegen/preview-cache"
mkdir -p "$cache"
export MAPC_PREVIEW_WRAPPER="${VALGRIND_CMD:-}"
for c in tests/codegen/cases/*/; do
  name=$(basename "$c")
  read -r file map <"$c/args"
  "$MAPC" preview --cache "$cache" --now 2026-07-30T08:09:10Z "$file" "$map" <"$c/input.json" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ -f "$c/expected.json" ]; then
    if [ $rc -eq 0 ] && cmp -s "$tmp/out" "$c/expected.json" && [ ! -s "$tmp/err" ]; then ok "case $name"
    else nok "case $name (rc=$rc)"; diff "$c/expected.json" "$tmp/out" | sed 's/^/# /' | head -10; sed 's/^/# stderr: /' "$tmp/err" | head -10; fi
  else
    if [ $rc -eq 1 ] && cmp -s "$tmp/err" "$c/expected.err" && [ ! -s "$tmp/out" ]; then ok "case $name: errors as expected"
    else nok "case $name (rc=$rc)"; diff "$c/expected.err" "$tmp/err" | sed 's/^/# /' | head -10; fi
  fi
done

# every builtin of compiler/builtins.c is called by a map the cases run
missing=""
for b in $(sed -n 's/^    {"\([a-z0-9]*\)", [0-9].*/\1/p' compiler/builtins.c); do
  grep -q "\b$b(" tests/codegen/maps/*.map || missing="$missing $b"
done
nb=$(sed -n 's/^    {"\([a-z0-9]*\)", [0-9].*/\1/p' compiler/builtins.c | wc -l)
[ -z "$missing" ] && [ "$nb" -ge 27 ] && ok "the cases call all $nb builtins" || nok "builtins without a case:$missing"

# concurrent previews of one program share the cache safely
rm -rf "$tmp/pcache"
for i in 1 2 3; do
  echo '{"CustomKey":"x"}' | "$MAPC" preview --cache "$tmp/pcache" tests/codegen/maps/builtins.map Texts >"$tmp/par$i" 2>&1 &
done
wait
if cmp -s "$tmp/par1" "$tmp/par2" && cmp -s "$tmp/par1" "$tmp/par3" && grep -q '"CustomersOrderReference":"X"' "$tmp/par1" &&
   [ "$(ls "$tmp/pcache"/*/ | grep -c '^src\.')" -eq 0 ]; then ok "three concurrent previews agree and leave one cache entry"
else nok "concurrent previews"; sed 's/^/# /' "$tmp/par1" | head -5; fi

# 7. the preview cache: a second run compiles nothing
before=$(ls "$cache" | wc -l)
echo '{}' | "$MAPC" preview --cache "$cache" --now 2026-07-30T08:09:10Z tests/codegen/maps/builtins.map Texts >/dev/null 2>&1
after=$(ls "$cache" | wc -l)
[ "$before" -eq "$after" ] && ok "preview reuses its cache ($after entries)" || nok "preview cache grew from $before to $after"
echo '{}' | "$MAPC" preview --cache "$cache" tests/codegen/maps/builtins.map NoSuchMap >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "no map or flow named 'NoSuchMap'" "$tmp/err" && ok "preview of an unknown map: exit 2" || nok "preview unknown map"

# 8. output grows with what is mapped, not with the schema
if bench/mapping/gen_lines.sh "$MAPC" >"$tmp/lines" 2>&1; then
  one=$(awk '/^1 map:/{print $3}' "$tmp/lines"); ten=$(awk '/^10 maps:/{print $3}' "$tmp/lines")
  if [ -n "$one" ] && [ -n "$ten" ] && [ "$ten" -gt "$one" ] && [ "$ten" -lt $((one * 10)) ]; then
    ok "generated lines: 1 map $one, 10 maps $ten"; else nok "line counts: $(tr '\n' ' ' <"$tmp/lines")"; fi
else nok "bench/mapping/gen_lines.sh"; sed 's/^/# /' "$tmp/lines"; fi

echo "1..$n"
[ $failed -eq 0 ]
