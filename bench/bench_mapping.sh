#!/usr/bin/env bash
# Mapping benchmark: RECORDS (default 100,000) realistic Clarity orders (NDJSON from
# bench/mapping/gen_orders.py: 1-20 lines, contacts with addresses, coupons) mapped to F&O
# header + lines by the code mapc generates for bench/mapping/orders.map (run_mapc.c), against
# jq running the same transformation (bench/mapping/orders.jq; outputs compared equal on a
# sample after normalising both through jq -cS) and against the floor of a bare jansson parse +
# dump of every record (floor.c).  Wall time of each whole run, median of RUNS (default 3).
# Writes $BUILD/bench/mapping.json {records, mapc_records_per_s, jq_records_per_s,
# floor_records_per_s, mapc_vs_jq, mapc_vs_floor, input_bytes, runs} and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BUILD:=build}"
RECORDS=${RECORDS:-100000}
RUNS=${RUNS:-3}
out="$BUILD/bench/mapping"; mkdir -p "$out"
data="$out/orders-$RECORDS.ndjson"
if [ ! -s "$data" ] || [ bench/mapping/gen_orders.py -nt "$data" ]; then
  python3 bench/mapping/gen_orders.py "$RECORDS" "$data"
fi
# build: generated code at -O2 with the runtime, the floor with jansson
"$BUILD/mapc" gen -o "$out/gen" bench/mapping/orders.map
cc -std=c11 -O2 -Wall -Wextra -Werror -pedantic -Iruntime/include -I"$out/gen" \
   bench/mapping/run_mapc.c "$out/gen/orders.c" "$BUILD/libsyncrt.a" -lm -o "$out/run_mapc"
cc -std=c11 -O2 -Wall -Wextra $(pkg-config --cflags jansson) bench/mapping/floor.c \
   $(pkg-config --libs jansson) -o "$out/floor"

# equal outputs on a sample
head -n 2000 "$data" >"$out/sample.ndjson"
"$out/run_mapc" "$out/sample.ndjson" 2>/dev/null | jq -cS . >"$out/sample.mapc"
jq -c -f bench/mapping/orders.jq "$out/sample.ndjson" | jq -cS . >"$out/sample.jq"
if ! cmp -s "$out/sample.mapc" "$out/sample.jq"; then
  echo "bench_mapping: mapc and jq disagree on the sample:" >&2
  diff "$out/sample.mapc" "$out/sample.jq" | head -5 >&2
  exit 1
fi
[ "$(wc -l <"$out/sample.mapc")" -eq 2000 ] || { echo "bench_mapping: sample incomplete" >&2; exit 1; }

wall() {
  local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
  python3 -c "print(f'{$e - $s:.4f}')"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m=(); j=(); f=()
for _ in $(seq "$RUNS"); do
  m+=("$(wall "$out/run_mapc" "$data")")
  f+=("$(wall "$out/floor" "$data")")
  j+=("$(wall jq -c -f bench/mapping/orders.jq "$data")")
done
ms=$(printf '%s\n' "${m[@]}" | median); fs=$(printf '%s\n' "${f[@]}" | median); js=$(printf '%s\n' "${j[@]}" | median)
python3 - "$RECORDS" "$ms" "$js" "$fs" "$(wc -c <"$data")" "$RUNS" >"$BUILD/bench/mapping.json" <<'PY'
import json, sys
n, ms, js, fs, size, runs = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
r = {"records": n, "mapc_records_per_s": round(n / ms), "jq_records_per_s": round(n / js),
     "floor_records_per_s": round(n / fs), "mapc_vs_jq": round(js / ms, 2),
     "mapc_vs_floor": round(fs / ms, 2), "input_bytes": size, "runs": runs,
     "mapc_seconds": ms, "jq_seconds": js, "floor_seconds": fs}
print(json.dumps(r, indent=2))
PY
cat "$BUILD/bench/mapping.json"
echo "mapping: mapc is $(python3 -c "import json;d=json.load(open('$BUILD/bench/mapping.json'));print(d['mapc_vs_jq'])")x jq and $(python3 -c "import json;d=json.load(open('$BUILD/bench/mapping.json'));print(d['mapc_vs_floor'])")x the jansson floor (targets: >= 10x jq, >= 0.5x floor)"
