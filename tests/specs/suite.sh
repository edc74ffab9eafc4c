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

# The rest is numbered after the xmllint checks.
python3 "$TOP/tests/specs/check_specs.py" "$TOP" | awk -v off=$n '
  /^ok [0-9]+ /     { $2 = $2 + off; print; next }
  /^not ok [0-9]+ / { $3 = $3 + off; print; next }
  /^1\.\./          { next }
  { print }'
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || failed=1
exit $failed
