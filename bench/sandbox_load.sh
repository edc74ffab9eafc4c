#!/usr/bin/env bash
# bench/sandbox_load.sh - load test of the sandbox's D365 emulator on loopback, against the
# ASan+UBSan build (build/san/sandbox, built here when missing; SANDBOX_BIN=build/sandbox measures
# the optimised build instead).  Not part of `make test`.
#
#   bench/sandbox_load.sh [DURATION_S (60, at most 300)] [THREADS (8)]
#
# Mixes GET queries, sales order creates (header + lines), $batch changesets and PATCHes
# (bench/sandbox_load.py), samples the server's RSS every second, then stops it with SIGTERM.
# Passes when: no 5xx and no transport error, the server exits 0 (LeakSanitizer included), no
# sanitizer report was written, and RSS in the second half grows by less than 20% of the
# middle sample.  Figures: $BUILD/bench/sandbox_load.json (BUILD defaults to build).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BUILD:=build}"
DURATION=${1:-60}
THREADS=${2:-8}
if [ "$DURATION" -gt 300 ]; then DURATION=300; fi
SAN=${SANDBOX_BIN:-build/san/sandbox}
if [ ! -x "$SAN" ] && [ "$SAN" = build/san/sandbox ]; then
  make --no-print-directory -j2 SANITIZE=address,undefined "$SAN" >&2
fi
out="$BUILD/bench"; mkdir -p "$out"
work=$(mktemp -d)
port=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
  p=$((20000 + RANDOM % 20000))
  if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "sandbox_load: no free port" >&2; exit 1; }

export ASAN_OPTIONS="log_path=$work/asan:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$work/ubsan:print_stacktrace=1"
"$SAN" --only d365 --d365-port "$port" --data "$work/data" >"$work/server.log" 2>&1 &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/_sandbox/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/_sandbox/health" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

status=0
python3 bench/sandbox_load.py "http://127.0.0.1:$port" "$pid" "$DURATION" "$THREADS" "$out/sandbox_load.json" || status=1
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
trap - EXIT
reports=$(find "$work" -maxdepth 1 \( -name 'asan*' -o -name 'ubsan*' \) | wc -l)
if [ "$reports" -ne 0 ]; then echo "sandbox_load: sanitizer reports:" >&2; cat "$work"/asan* "$work"/ubsan* >&2 2>/dev/null || true; status=1; fi
if [ "$rc" -ne 0 ]; then echo "sandbox_load: server exit status $rc" >&2; cat "$work/server.log" >&2; status=1; fi
python3 - "$out/sandbox_load.json" "$rc" "$reports" <<'EOF' || status=1
import json, sys
p, rc, reports = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
j = json.load(open(p))
j["server_exit_status"] = rc
j["sanitizer_reports"] = reports
json.dump(j, open(p, "w"), indent=1)
print("sandbox_load: %.1f requests/s over %.0f s (%d threads); RSS start %d kB, middle %d kB, end %d kB (flat: %s); "
      "exit %d, sanitizer reports %d" % (j["requests_per_s"], j["duration_s"], j["threads"], j["rss_kb"]["start"],
      j["rss_kb"]["middle"], j["rss_kb"]["end"], j["rss_flat"], rc, reports))
if not j["rss_flat"]:
    sys.exit(1)
EOF
rm -rf "$work"
exit $status
