#!/usr/bin/env bash
# Compile-time benchmark: `mapc check` of a map that uses two entity types of a full-size
# synthetic F&O $metadata (>= 3,800 entity types, >= 30 MB, built from real definitions by
# bench/gen_fullsize_metadata.py), next to the baseline `xmllint --stream --noout` on the
# same file (a streaming parse that builds nothing).  Median of RUNS runs each.
# Writes $BUILD/bench/compile.json {metadata_bytes, mapc_seconds, mapc_peak_kb,
# xmllint_stream_seconds, ratio_mapc_to_xmllint, entity_types, runs}.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BUILD:=build}"
RUNS=${RUNS:-5}
out="$BUILD/bench"; mkdir -p "$out"
meta="$out/fullsize_metadata.xml"
if [ ! -s "$meta" ] || [ bench/gen_fullsize_metadata.py -nt "$meta" ] || [ specs/d365/metadata.xml -nt "$meta" ]; then
  python3 bench/gen_fullsize_metadata.py "$meta" >&2
fi
cp bench/compile_two_entities.map "$out/compile_two_entities.map"
cp specs/clarity/openapi.json "$out/clarity_openapi.json"
map="$out/compile_two_entities.map"

# One run: prints "seconds peak_kb" (GNU time; exit status must be 0).
measure() {
  local tf; tf=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$tf" "$@" >/dev/null 2>"$tf.err" || { echo "bench: '$*' failed:" >&2; cat "$tf.err" >&2; rm -f "$tf" "$tf.err"; exit 1; }
  tail -n 1 "$tf"; rm -f "$tf" "$tf.err"
}
# Wall time with sub-10ms resolution: bash's own clock around the command.
wall() {
  local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
  python3 -c "print(f'{$e - $s:.4f}')"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

"$BUILD/mapc" check "$map"   # must be clean before it is timed
mapc_s=(); xml_s=(); peak=0
for _ in $(seq "$RUNS"); do
  mapc_s+=("$(wall "$BUILD/mapc" check "$map")")
  xml_s+=("$(wall xmllint --stream --noout "$meta")")
  kb=$(measure "$BUILD/mapc" check "$map" | awk '{print $2}')
  [ "$kb" -gt "$peak" ] && peak=$kb
done
mapc_med=$(printf '%s\n' "${mapc_s[@]}" | median)
xml_med=$(printf '%s\n' "${xml_s[@]}" | median)
bytes=$(stat -c %s "$meta")
types=$(grep -c '<EntityType ' "$meta")
python3 - "$out/compile.json" <<PY
import json, sys
d = {"metadata_bytes": $bytes, "entity_types": $types, "runs": $RUNS,
     "mapc_seconds": $mapc_med, "mapc_peak_kb": $peak,
     "xmllint_stream_seconds": $xml_med,
     "ratio_mapc_to_xmllint": round($mapc_med / $xml_med, 3) if $xml_med > 0 else None}
json.dump(d, open(sys.argv[1], "w"), indent=2); print(json.dumps(d, indent=2))
PY
