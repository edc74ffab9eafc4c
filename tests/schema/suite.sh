#!/usr/bin/env bash
# tests/schema/suite.sh - the schema loaders and `mapc describe`:
#   - the C unit tests (test_schema) on the fixtures and the real F&O excerpts;
#   - `mapc describe F` lists every EntityType and EntitySet of every real F&O excerpt in
#     tests/schema/data, compared with names extracted from the files independently (grep);
#   - `mapc describe customer_v3_excerpt.xml CustomerV3`: all 305 properties with type,
#     nullability, key and required, compared with an independent reading (python's
#     ElementTree);
#   - the command line: exit codes, "did you mean", error format, --help, format overrides.
# Env: BUILD, TOP, VALGRIND_CMD (prefix for our binaries).  TAP on stdout.
set -u
: "${BUILD:=build}" "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}" "${VALGRIND_CMD:=}"
cd "$TOP" || exit 2
# glibc's loader trips valgrind when libxml2 dlopens an iconv module (see the file)
case "$VALGRIND_CMD" in
  *valgrind*) VALGRIND_CMD="$VALGRIND_CMD --suppressions=$TOP/tests/fuzz/valgrind.supp" ;;
esac
HERE=tests/schema
MAPC="$BUILD/mapc"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/schema-suite.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0; failed=0
ok()    { n=$((n+1)); echo "ok $n - $*"; }
notok() { n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }
# run CMD...: stdout in $TMP/out, stderr in $TMP/err, status in $rc
run() { $VALGRIND_CMD "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; }

# 1. C unit tests, renumbered into this suite's TAP stream
run "$BUILD/tests/schema/test_schema" "$HERE"
unit_rc=$rc
while IFS= read -r line; do
  case "$line" in
    "ok "*)     ok "unit: ${line#* - }" ;;
    "not ok "*) notok "unit: ${line#* - }" ;;
    "#"*)       echo "$line" ;;
  esac
done <"$TMP/out"
check "unit tests exit 0 (status $unit_rc)" test "$unit_rc" -eq 0
check "the loaders print nothing (libxml2's messages included)" test ! -s "$TMP/err"
sed 's/^/# stderr: /' "$TMP/err"

# 2. every real excerpt: entity types and sets, compared with grep's reading
for f in "$HERE"/data/*.xml; do
  b=$(basename "$f")
  run "$MAPC" describe "$f"
  check "describe $b exits 0" test "$rc" -eq 0
  awk '$1=="entity"{print $2}' "$TMP/out" | sort >"$TMP/got"
  grep -o '<EntityType Name="[^"]*"' "$f" | cut -d'"' -f2 | sort >"$TMP/want"
  check "describe $b lists its $(wc -l <"$TMP/want") entity types" \
    cmp -s "$TMP/got" "$TMP/want"
  awk '$1=="set"{print $2, $4}' "$TMP/out" | sort >"$TMP/got"
  grep -o '<EntitySet Name="[^"]*" EntityType="[^"]*"' "$f" |
    sed 's/.*Name="\([^"]*\)" EntityType="\([^"]*\)"/\1 \2/; s/ .*\./ /' | sort >"$TMP/want"
  check "describe $b lists its $(wc -l <"$TMP/want") entity sets" cmp -s "$TMP/got" "$TMP/want"
  run "$MAPC" describe --enums "$f"
  got=$(grep -c '^enum ' "$TMP/out"); want=$(grep -c '<EnumType ' "$f")
  check "describe --enums $b lists $want enums (got $got)" test "$got" -eq "$want"
done

# 3. CustomerV3 property by property
CUST="$HERE/data/customer_v3_excerpt.xml"
run "$MAPC" describe "$CUST" CustomerV3
check "describe CustomerV3 exits 0" test "$rc" -eq 0
cp "$TMP/out" "$TMP/cust"
check "305 prop lines" test "$(grep -c '^prop ' "$TMP/cust")" -eq 305
check "header names set and keys" \
  grep -qx 'entity CustomerV3 set=CustomersV3 key=dataAreaId,CustomerAccount properties=305' "$TMP/cust"
python3 - "$CUST" >"$TMP/want" <<'PY'
import sys, xml.etree.ElementTree as ET
E = '{http://docs.oasis-open.org/odata/ns/edm}'
root = ET.parse(sys.argv[1]).getroot()
enums = {e.get('Name') for e in root.iter(E + 'EnumType')}
kinds = {'Edm.String': 'string', 'Edm.Decimal': 'decimal', 'Edm.Int32': 'int32',
         'Edm.Int64': 'int64', 'Edm.Guid': 'guid', 'Edm.Binary': 'binary',
         'Edm.Boolean': 'boolean', 'Edm.DateTimeOffset': 'datetime'}
for et in root.iter(E + 'EntityType'):
    if et.get('Name') != 'CustomerV3':
        continue
    keys = [r.get('Name') for r in et.find(E + 'Key')]
    for p in et.findall(E + 'Property'):
        t = p.get('Type')
        k = kinds.get(t)
        if k is None and t.rsplit('.', 1)[-1] in enums:
            k = 'enum:' + t.rsplit('.', 1)[-1]
        req = False
        for a in p.findall(E + 'Annotation'):
            term = a.get('Term')
            if term.endswith('.IsRequired') and a.get('Bool') == 'true':
                req = True
            em = a.find(E + 'EnumMember')
            if term.endswith('.AXType') and em is not None and em.text.endswith('/Date') \
               and k == 'datetime':
                k = 'date'
        words = [p.get('Name'), k, 'not-null' if p.get('Nullable') == 'false' else 'nullable']
        if p.get('Name') in keys: words.append('key')
        if req: words.append('required')
        print(' '.join(words))
PY
# mapc's lines cut after the required flag (later flags are not in the python reading)
awk '$1=="prop"{ line=$2" "$3" "$4; for(i=5;i<=NF;i++) if($i=="key"||$i=="required") line=line" "$i; print line }' \
  "$TMP/cust" >"$TMP/got"
check "305 properties: name, type, nullability, key, required match an independent reading" \
  cmp -s "$TMP/got" "$TMP/want"
diff "$TMP/want" "$TMP/got" | head -5 | sed 's/^/# /'
check "SalesCurrencyCode is required" grep -q '^prop SalesCurrencyCode string nullable required' "$TMP/cust"
check "CustomerGroupId is required" grep -q '^prop CustomerGroupId string nullable required' "$TMP/cust"
check "dataAreaId is a non-null key" grep -q '^prop dataAreaId string not-null key$' "$TMP/cust"
check "CustomerAccount is a non-null key" grep -q '^prop CustomerAccount string not-null key' "$TMP/cust"
check "exactly two required properties" test "$(grep -c ' required' "$TMP/cust")" -eq 2
check "NoYes enum members shown" grep -q '^prop IsFuelSurchargeApplied enum:NoYes nullable members=No,Yes$' "$TMP/cust"
check "AXType Date -> date" grep -q '^prop CredManCreditLimitDate date not-null .*ax-date' "$TMP/cust"
check "AllowEdit false shown" test "$(grep -cw 'no-edit' "$TMP/cust")" -eq "$(grep -c 'AllowEdit" Bool="false"' "$CUST")"
run "$MAPC" describe "$CUST" CustomersV3
check "describe by set name = by type name" cmp -s "$TMP/out" "$TMP/cust"

# 4. command line
run "$MAPC" describe "$CUST" CustomerV4
check "unknown type exits 1" test "$rc" -eq 1
check "unknown type suggests CustomerV3" grep -q "did you mean 'CustomerV3'" "$TMP/err"
run "$MAPC" describe "$CUST" customersv3
check "case-insensitive suggestion" grep -q "did you mean 'CustomersV3'" "$TMP/err"
run "$MAPC" describe "$CUST" NoYes
check "describe an enum" grep -qx 'member Yes 1' "$TMP/out"
run "$MAPC" describe
check "no SCHEMA: usage, exit 2" test "$rc" -eq 2 -a -s "$TMP/err"
run "$MAPC" describe --bogus "$CUST"
check "unknown option: exit 2" test "$rc" -eq 2
run "$MAPC" describe "$CUST" A B
check "too many arguments: exit 2" test "$rc" -eq 2
run "$MAPC" describe --help
check "--help exits 0 and documents the line format" \
  bash -c "test $rc -eq 0 && grep -q 'set SET -> TYPE' '$TMP/out' && grep -q 'prop NAME TYPE' '$TMP/out'"
run "$MAPC" describe "$TMP/nope.xml"
check "missing file: exit 2" test "$rc" -eq 2
check "missing file: FILE:0:0: error:" grep -q "nope.xml:0:0: error: cannot open" "$TMP/err"
printf '<edmx:Edmx Version="4.0" xmlns:edmx="e">\n  <edmx:DataServices>\n  </edmx:Data>\n' >"$TMP/bad.xml"
run "$MAPC" describe "$TMP/bad.xml"
check "malformed CSDL: exit 2" test "$rc" -eq 2
check "malformed CSDL: FILE:3:COL: error:" grep -q "bad.xml:3:[0-9]*: error: " "$TMP/err"
check "malformed CSDL: one line of diagnostics" test "$(wc -l <"$TMP/err")" -eq 1
printf '<?xml version="1.0" encoding="utf-8"?>\n<edmx:Edmx Version="4.0" xmlns:edmx="e">\377\377</edmx:Edmx>\n' >"$TMP/enc.xml"
run "$MAPC" describe "$TMP/enc.xml"
check "invalid UTF-8: exit 2, one line at 2:COL" \
  bash -c "test $rc -eq 2 && test \$(wc -l <'$TMP/err') -eq 1 && grep -q 'enc.xml:2:[0-9]*: error: .*UTF-8' '$TMP/err'"
printf '{"swagger": "2.0",\n "definitions": {"A": {"properties": {"b": {"$ref": "#/definitions/Z"}}}}}\n' >"$TMP/bad.json"
run "$MAPC" describe "$TMP/bad.json" A
check "broken \$ref: exit 2 with its position" \
  grep -q "bad.json:2:53: error: unresolved \$ref '#/definitions/Z'" "$TMP/err"
run "$MAPC" describe "$HERE/fixtures/oa_json.txt"
check "format guessed from the first byte" test "$rc" -eq 0
run "$MAPC" describe --odata "$HERE/fixtures/oa_json.txt"
check "--odata forces CSDL (and fails on JSON)" test "$rc" -eq 2
run "$MAPC" describe --openapi "$CUST"
check "--openapi forces OpenAPI (and fails on XML)" test "$rc" -eq 2

# 5. OpenAPI through the command line
OA="$HERE/fixtures/oa2.json"
run "$MAPC" describe "$OA"
check "OpenAPI: set derived from the paged list route" grep -qx 'set SalesOrders -> SalesOrder' "$TMP/out"
check "OpenAPI: set type is an entity" grep -qx 'entity SalesOrder' "$TMP/out"
run "$MAPC" describe "$OA" SalesOrders
check "OpenAPI: SalesOrder via its set" grep -q '^entity SalesOrder set=SalesOrders key=ID properties=23' "$TMP/out"
check "OpenAPI: required allOf property" grep -qx 'prop AccountKey string not-null required' "$TMP/out"
check "OpenAPI: maxLength" grep -qx 'prop CurrencyKey string nullable max-length=3' "$TMP/out"
check "OpenAPI: enum by \$ref" grep -qx 'prop StatusKey enum:OrderStatus nullable members=Pending,Confirmed,Shipped,Void' "$TMP/out"
check "OpenAPI: array of objects" grep -qx 'prop SalesItems array:object:SalesItem nullable' "$TMP/out"
run "$MAPC" describe "$HERE/fixtures/oa3.json" orders
check "OpenAPI 3: nullable" grep -qx 'prop note string nullable max-length=500' "$TMP/out"

echo "1..$n"
[ "$failed" -eq 0 ]
