#!/usr/bin/env bash
# tests/specs: independent checks of the product's schemas, specs/d365/metadata.xml and
# specs/clarity/openapi.json (xmllint + the Python standard library, not mapc's loaders):
# shape of a real F&O $metadata, field lists, enums, navigation, annotations, freshness of the
# generated files, OpenAPI validity and route coverage.  TAP on stdout.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
n=0; failed=0
tap() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }

xmllint --noout "$TOP/specs/d365/metadata.xml" 2>/tmp/specs-xmllint.$$; tap $? "xmllint accepts specs/d365/metadata.xml"
xmllint --stream --noout "$TOP/specs/d365/metadata.xml" 2>>/tmp/specs-xmllint.$$; tap $? "xmllint --stream accepts specs/d365/metadata.xml"
sed 's/^/#   /' /tmp/specs-xmllint.$$ | head -20; rm -f /tmp/specs-xmllint.$$

# The full-size synthetic $metadata of the compile benchmark: generated twice (deterministic),
# accepted by xmllint --stream, and of full size (no timing here: perf lives in bench/).
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if python3 "$TOP/bench/gen_fullsize_metadata.py" "$tmp/a.xml" >"$tmp/log" 2>&1 &&
   python3 "$TOP/bench/gen_fullsize_metadata.py" "$tmp/b.xml" >>"$tmp/log" 2>&1; then
  tap 0 "bench/gen_fullsize_metadata.py runs"
  cmp -s "$tmp/a.xml" "$tmp/b.xml"; tap $? "bench/gen_fullsize_metadata.py is deterministic"
  xmllint --stream --noout "$tmp/a.xml" 2>>"$tmp/log"; tap $? "xmllint --stream accepts the full-size document"
  python3 - "$tmp/a.xml" >>"$tmp/log" 2>&1 <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")
types = re.findall(r'<EntityType Name="([^"]+)"', text)
enums = re.findall(r'<EnumType Name="([^"]+)"', text)
sets = re.findall(r'<EntitySet Name="([^"]+)"', text)
ok = (data.startswith(b"\xef\xbb\xbf") and len(data) >= 30 * 1000 * 1000
      and len(types) >= 3800 and len(set(types)) == len(types)
      and 1900 <= len(enums) - 1 <= 2100 and len(set(enums)) == len(enums)
      and len(sets) == len(types)
      and text.count("<Schema ") == 2 and '<EntityContainer Name="Resources">' in text)
print(len(data), len(types), len(enums), len(sets))
sys.exit(0 if ok else 1)
PY
  tap $? "full-size document: BOM, >= 30 MB, >= 3,800 unique entity types, ~2,000 enums, a set each, two schemas"
else
  tap 1 "bench/gen_fullsize_metadata.py runs"
fi
sed 's/^/#   /' "$tmp/log" | head -10

# The rest is numbered after the checks above.
python3 "$TOP/tests/specs/check_specs.py" "$TOP" | awk -v off=$n '
  /^ok [0-9]+ /     { $2 = $2 + off; print; next }
  /^not ok [0-9]+ / { $3 = $3 + off; print; next }
  /^1\.\./          { next }
  { print }'
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || failed=1
exit $failed
