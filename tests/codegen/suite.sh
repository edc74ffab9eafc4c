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
   grep -q 'extern "C"' "$tmp/d1/order_to_cash.h" && grep -q "#if SYNCRT_ABI != $(sed -n 's/^#define SYNCRT_ABI \([0-9]*\).*/\1/p' runtime/include/syncrt/syncrt.h)\$" "$tmp/d1/order_to_cash.h" &&
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
    # expected.notes: what a where left out (child elements), else nothing on stderr
    notes=/dev/null; [ -f "$c/expected.notes" ] && notes="$c/expected.notes"
    if [ $rc -eq 0 ] && cmp -s "$tmp/out" "$c/expected.json" && cmp -s "$tmp/err" "$notes"; then ok "case $name"
    else nok "case $name (rc=$rc)"; diff "$c/expected.json" "$tmp/out" | sed 's/^/# /' | head -10; sed 's/^/# stderr: /' "$tmp/err" | head -10; fi
  elif [ -f "$c/expected.filtered" ]; then
    # a record a where leaves out: exit 3, nothing on stdout, the where on stderr
    if [ $rc -eq 3 ] && cmp -s "$tmp/err" "$c/expected.filtered" && [ ! -s "$tmp/out" ]; then ok "case $name: filtered as expected"
    else nok "case $name (rc=$rc)"; diff "$c/expected.filtered" "$tmp/err" | sed 's/^/# /' | head -10; fi
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

# 7. flow descriptors (generated/mapc_flows.h, compiled with -Werror -pedantic by the build):
#    every field as the .map text says
ms() {  # duration text -> ms
  case "$1" in *ms) echo "${1%ms}";; *s) echo $(( ${1%s} * 1000 ));; *m) echo $(( ${1%m} * 60000 ));;
    *h) echo $(( ${1%h} * 3600000 ));; *d) echo $(( ${1%d} * 86400000 ));; esac
}
flowdesc() {  # FLOW MAPFILE: the descriptor against the flow block of MAPFILE
  local flow=$1 map=$2 blk d want got bad=0
  blk=$(sed -n "/^flow $flow {/,/^}/p" "$map")
  if ! "$BUILD/tests/codegen/test_flowdesc" "$flow" "$map" >"$tmp/desc" 2>"$tmp/log"; then
    nok "descriptor $flow in mapc_flows[]"; sed 's/^/# /' "$tmp/log"; return
  fi
  d() { sed -n "s/^$1=//p" "$tmp/desc"; }
  chk() { got=$(d "$1"); [ "$got" = "$2" ] || { echo "# $flow.$1: '$got', .map says '$2'"; bad=1; }; }
  chk name "$flow"; chk map_file "$(basename "$map")"; chk hash_ok 1; chk in_maps 1; chk nmaps_ok 1
  chk webhook_event "$(sed -n 's/.*trigger webhook "\(.*\)".*/\1/p' <<<"$blk")"
  local poll; poll=$(grep 'trigger poll' <<<"$blk")
  local pset; pset=$(sed -n 's/.*trigger poll [a-z0-9_]*\.\([A-Za-z0-9_]*\).*/\1/p' <<<"$poll")
  case "$(d poll_route)" in "$pset"|*/"$pset") ;; *) echo "# $flow.poll_route $(d poll_route) is not set $pset"; bad=1;; esac
  chk poll_every_ms "$(ms "$(sed -n 's/.* every \([0-9]*[a-z]*\).*/\1/p' <<<"$poll")")"
  chk poll_since "$(sed -n 's/.* since \([A-Za-z0-9_]*\).*/\1/p' <<<"$poll")"
  chk schedule "$(sed -n 's/.*trigger schedule "\(.*\)".*/\1/p' <<<"$blk")"
  local wr; wr=$(grep ' write ' <<<"$blk")
  chk target_set "$(sed -n 's/.*write [a-z0-9_]*\.\([A-Za-z0-9_]*\) .*/\1/p' <<<"$wr")"
  chk child_set "$(sed -n 's/.* with [a-z0-9_]*\.\([A-Za-z0-9_]*\) .*/\1/p' <<<"$blk")"
  chk one_changeset "$(grep -c 'as one changeset' <<<"$blk")"
  chk idempotency_field "$(sed -n 's/.*idempotent by \([A-Za-z0-9_]*\).*/\1/p' <<<"$blk")"
  chk dedup_fields "$(sed -n 's/.*dedup by \(.*\)/\1/p' <<<"$blk" | tr -d ' ')"
  chk group_by "$(sed -n 's/.* group by \(.*\)/\1/p' <<<"$poll" | tr -d ' ')"
  local r; r=$(grep ' retry ' <<<"$blk")
  chk retry "$(sed -n 's/.*retry \([0-9]*\).*/\1/p' <<<"$r") $(ms "$(sed -n 's/.*backoff \([0-9]*[a-z]*\)\.\..*/\1/p' <<<"$r")") $(ms "$(sed -n 's/.*\.\.\([0-9]*[a-z]*\).*/\1/p' <<<"$r")")"
  for k in "${@:3}"; do chk "${k%%=*}" "${k#*=}"; done
  [ $bad -eq 0 ] && ok "descriptor $flow matches $(basename "$map") ($(wc -l <"$tmp/desc") fields)" || nok "descriptor $flow matches $(basename "$map")"
}
flowdesc OrderToCash examples/order_to_cash.map source=clarity target=d365 write=create \
  poll_route=Ordering/SalesOrders source_id_field=ID target_route=SalesOrderHeadersV2 \
  key_fields=dataAreaId,SalesOrderNumber source_key_fields=
flowdesc ProductsToClarity examples/products.map source=d365 target=clarity write=upsert \
  target_route=Products/Product key_fields=CustomKey source_key_fields=dataAreaId,ItemNumber source_id_field=
# group by ItemNumber: .group_by = { "ItemNumber", NULL } (the engine orders and joins by it);
# `write clarity.BulkUpdateInventoryForProducts as bulk InventoryToPush by Stock`: the
# operation's path and method, the body's list member
flowdesc StockToClarity examples/inventory.map source=d365 target=clarity write=create \
  poll_route=WarehousesOnHandV2 target_route=Providers/Inventory/BulkUpdateInventoryForProducts \
  key_fields=ProductID source_key_fields=dataAreaId,ItemNumber,ProductColorId group_by=ItemNumber \
  bulk_member=InventoryToPush bulk_method=PUT
flowdesc ProductsToClarity examples/products.map bulk_member= bulk_method=
# the routes are the OpenAPI document's paths
grep -q '"/Ordering/SalesOrders"' specs/clarity/openapi.json && grep -q '"/Products/Product/Upsert"' specs/clarity/openapi.json &&
  ok "routes Ordering/SalesOrders and Products/Product/Upsert are paths of openapi.json" || nok "routes in openapi.json"
# the keys are the schema's: SalesOrderHeaderV2 (dataAreaId, SalesOrderNumber)
if sed -n '/<EntityType Name="SalesOrderHeaderV2"/,/<\/Key>/p' specs/d365/metadata.xml | grep -o 'PropertyRef Name="[A-Za-z]*"' |
   sed 's/.*="\(.*\)"/\1/' | paste -sd, | grep -qx 'dataAreaId,SalesOrderNumber'; then
  ok "OrderToCash key_fields are SalesOrderHeaderV2's key in metadata.xml"; else nok "SalesOrderHeaderV2 key in metadata.xml"; fi
# a flow without retry / schedule every: one attempt, interval schedule
mkdir -p "$tmp/fl"
printf 'schema d365 = odata "%s/specs/d365/metadata.xml"\nschema clarity = openapi "%s/specs/clarity/openapi.json"\nmap P from d365.ReleasedProductV2 as p to clarity.Product upsert by CustomKey {\n CustomKey = p.ItemNumber\n}\nflow F {\n trigger schedule every 2h\n write clarity.Products by P\n idempotent by CustomKey\n}\n' "$TOP" "$TOP" >"$tmp/fl/f.map"
if "$MAPC" gen -o "$tmp/fl/out" "$tmp/fl/f.map" >"$tmp/log" 2>&1 &&
   grep -q '\.schedule_every_ms = 7200000,' "$tmp/fl/out/f.c" && grep -q '\.retry = { 1, 1000, 300000 },' "$tmp/fl/out/f.c" &&
   grep -q '\.poll_route = NULL,' "$tmp/fl/out/f.c" && grep -q '&F_flow,' "$tmp/fl/out/mapc_flows.c" &&
   (cd "$tmp/fl/out" && gcc $CFLAGS_GEN -I"$TOP/runtime/include" -I. -c f.c mapc_flows.c) >"$tmp/log" 2>&1; then
  ok "flow without retry: one attempt; schedule every 2h; registry compiles"; else nok "flow without retry / schedule every"; sed 's/^/# /' "$tmp/log" | head; fi

# 8. dedup_fields and update_fields (flow.h ABI 3), against the .map text and the metadata
# update_fields_of MAPFILE MAP KEYS [METADATA ENTITY]: the top-level fields MAP assigns outside
# `on create { }`, first path segment once, minus the comma-separated KEYS and the fields the
# entity's metadata annotates AllowEdit=false
update_fields_of() {
  local map=$1 name=$2 keys=$3 md=${4:-} ent=${5:-} f out=()
  while read -r f; do
    case ",$keys," in *",$f,"*) continue;; esac
    if [ -n "$md" ] && sed -n "/<EntityType Name=\"$ent\"/,/<\/EntityType>/p" "$md" |
       sed -n "/<Property Name=\"$f\"/,/<\/Property>/p" | grep -q 'AllowEdit" Bool="false"'; then continue; fi
    out+=("$f")
  done < <(sed -n "/^map $name /,/^}/p" "$map" | awk '
    /^[ \t]*on[ \t]+create[ \t]*\{/ { if ($0 !~ /\}[ \t]*$/) grp = 1; next }
    grp && /^[ \t]*\}/ { grp = 0; next }
    grp || /^map / { next }
    /^[ \t]*[A-Za-z_][A-Za-z0-9_.]*[ \t]*=[^=]/ {
      f = $0; sub(/^[ \t]*/, "", f); sub(/[ \t.=].*/, "", f)
      if (!(f in seen)) { seen[f] = 1; print f } }')
  local IFS=,; echo "${out[*]}"
}
flowdesc OrderToCash examples/order_to_cash.map update_fields=-
flowdesc ProductsToClarity examples/products.map \
  update_fields="$(update_fields_of examples/products.map Product CustomKey,ID)"
flowdesc CustomersToD365 examples/customers_from_clarity.map write=upsert target=d365 \
  dedup_fields=PrimaryContactEmail,OrganizationName+AddressZipCode \
  update_fields="$(update_fields_of examples/customers_from_clarity.map CustomerFromAccount dataAreaId,CustomerAccount specs/d365/metadata.xml CustomerV3)"
flowdesc UserContactsToD365 examples/customers_from_clarity.map write=update dedup_fields= \
  update_fields="$(update_fields_of examples/customers_from_clarity.map CustomerContactFromUser dataAreaId,CustomerAccount specs/d365/metadata.xml CustomerV3)"
cfa=$(update_fields_of examples/customers_from_clarity.map CustomerFromAccount dataAreaId,CustomerAccount)
if [ -n "$cfa" ] && ! tr , '\n' <<<"$cfa" | grep -qx OrganizationName && tr , '\n' <<<"$cfa" | grep -qx PrimaryContactEmail; then
  ok "CustomerFromAccount: OrganizationName only on create, PrimaryContactEmail on update too"
else nok "CustomerFromAccount: OrganizationName only on create ($cfa)"; fi
# a program of its own, compiled with test_flowdesc: AllowEdit=false (PartyNumber), a nested
# path, an `on create` group, Clarity keys, compound probes, a create flow
mkdir -p "$tmp/uf"
{
  printf 'schema d365 = odata "%s/specs/d365/metadata.xml"\n' "$TOP"
  printf 'schema clarity = openapi "%s/specs/clarity/openapi.json"\n' "$TOP"
  cat <<'MAP'
map C from clarity.Account as a to d365.CustomerV3 upsert {
    dataAreaId = "usmf"
    PartyNumber = a.CustomKey
    CustomerAccount = required(a.CustomKey)
    on create {
        CustomerGroupId = "30"
        SalesCurrencyCode = "USD"
    }
    PrimaryContactEmail = a.CustomKey ?? ""
    AddressZipCode = a.CustomKey
    OrganizationName = a.Name
}
map K from d365.CustomerV3 as c to clarity.Contact upsert by CustomKey {
    CustomKey = c.CustomerAccount
    Address.City = c.AddressCity
    on create { FirstName = c.OrganizationName }
    Address.PostalCode = c.AddressZipCode
    Email1 = c.PrimaryContactEmail
}
map S from d365.SalesOrderHeaderV2 as h to clarity.SalesOrder update {
    ID = round(number(substr(h.SalesOrderNumber, 4)))
    StatusKey = "Confirmed"
}
map N from clarity.Account as a to d365.CustomerV3 {
    dataAreaId = "usmf"
    CustomerAccount = required(a.CustomKey)
    CustomerGroupId = "30"
    SalesCurrencyCode = "USD"
    OrganizationName = a.Name
}
flow FC { trigger schedule every 1h write d365.CustomersV3 by C dedup by OrganizationName + AddressZipCode + PrimaryContactEmail, PartyNumber }
flow FK { trigger schedule every 1h write clarity.Contacts by K }
flow FS { trigger schedule every 1h write clarity.SalesOrders by S }
flow FN { trigger schedule every 1h write d365.CustomersV3 by N dedup by OrganizationName }
MAP
} >"$tmp/uf/uf.map"
# a sanitizer build of libsyncrt (make SANITIZE=...) links only with the same runtimes
san=""
nm "$BUILD/libsyncrt.a" 2>/dev/null | grep -q ' U __asan_' && san="$san -fsanitize=address"
nm "$BUILD/libsyncrt.a" 2>/dev/null | grep -q ' U __ubsan_' && san="$san -fsanitize=undefined"
if "$MAPC" gen -o "$tmp/uf/out" "$tmp/uf/uf.map" >"$tmp/log" 2>&1 &&
   gcc $CFLAGS_GEN $san -I"$tmp/uf/out" -o "$tmp/uf/fd" tests/codegen/test_flowdesc.c "$tmp/uf/out"/*.c \
       "$BUILD/libsyncrt.a" -lm >>"$tmp/log" 2>&1; then
  for want in "FC dedup_fields=OrganizationName+AddressZipCode+PrimaryContactEmail,PartyNumber" \
              "FC update_fields=PrimaryContactEmail,AddressZipCode,OrganizationName" \
              "FK update_fields=Address,Email1" "FK dedup_fields=" \
              "FS update_fields=StatusKey" "FS key_fields=ID" \
              "FN update_fields=-" "FN dedup_fields=OrganizationName"; do
    fl=${want%% *}; line=${want#* }
    got=$("$tmp/uf/fd" "$fl" "$tmp/uf/uf.map" | grep "^${line%%=*}=")
    if [ "$got" = "$line" ]; then ok "flow $fl: $line"; else nok "flow $fl: $line (got '$got')"; fi
  done
  # the generated map still computes every field: the engine leaves out the `on create` ones
  got=$(echo '{"CustomKey":"C-1","Name":"Contoso"}' |
        "$MAPC" preview --cache "$tmp/uf/cache" "$tmp/uf/uf.map" C 2>"$tmp/log" | jq -c '[.CustomerGroupId, .SalesCurrencyCode, .OrganizationName]')
  if [ "$got" = '["30","USD","Contoso"]' ]; then ok "map C still sets its 'on create' fields (preview: $got)"
  else nok "map C still sets its 'on create' fields (preview: '$got')"; sed 's/^/# /' "$tmp/log" | head -5; fi
else nok "gen + compile the dedup/update_fields program"; sed 's/^/# /' "$tmp/log" | head -20; fi

echo "1..$n"
[ $failed -eq 0 ]
