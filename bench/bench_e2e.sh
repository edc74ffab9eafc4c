#!/usr/bin/env bash
# bench/bench_e2e.sh - end to end, order to cash, against the sandbox with F&O at 50 ms per
# request and a request-rate limit of 15/s, bucket 5 (429 + Retry-After; bench/e2e/bench.py
# FAULTS says why these numbers):
#
#   ours   BENCH_E2E_ORDERS (10000) storefront orders with 1-20 lines placed in Clarity in one
#          burst while `sync run` (bench/e2e/sync.bench.json: webhooks + polling, 4 workers,
#          adaptive concurrency up to 8, the adaptive pacer with no configured ceiling
#          (d365.max_requests_per_s 0), $batch of up to 100 operations, one changeset per
#          order) brings them to F&O;
#   naive  in the same run and on the same sandbox settings, BENCH_E2E_NAIVE_ORDERS (500) of
#          the same orders sent the naive way: one POST per header and per line, serially,
#          Retry-After honoured (bench/e2e/bench.py, python3 stdlib).  Its time is measured on
#          that sample and extrapolated per order to BENCH_E2E_ORDERS (naive_orders in the
#          JSON says how many were really sent).
#
# Writes $BUILD/bench/e2e.json {orders, seconds, calls_per_order, p95_ms, requests_per_s,
# admitted_per_s, throttled, rate_limit, naive_orders, naive_seconds, naive_calls_per_order,
# speedup, calls_ratio} and prints the ratio line: requests_per_s is every F&O request of the
# run (429s and tokens included) per second, admitted_per_s those the limit let in, throttled
# the 429 answers (bench/e2e/bench.py says how each is measured).
# Exit 1 when an order was lost, duplicated or landed with wrong lines (checked in F&O).
# Every process it starts is stopped by pid (trap on EXIT, INT, TERM).  About 4-5 minutes.
# BENCH_E2E_LATENCY_MS (50), BENCH_E2E_RATE_LIMIT (15; 0 = none) and BENCH_E2E_RATE_BURST (5)
# change the F&O conditions for exploration; the defaults are the benchmark.
# BENCH_E2E_KEEP_LOGS=1 keeps the sandbox and sync logs in $BUILD/bench/e2e-logs (always kept
# when the run fails).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
ORDERS=${BENCH_E2E_ORDERS:-10000}
NAIVE=${BENCH_E2E_NAIVE_ORDERS:-500}
[ "$NAIVE" -le "$ORDERS" ] || NAIVE=$ORDERS
DEMO=(python3 "$TOP/scripts/demo/demo.py")
BENCH=(python3 "$TOP/bench/e2e/bench.py")
mkdir -p "$BUILD/bench"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/mapc-bench-e2e.XXXXXX")
SANDBOX_PID=
SYNC_PID=
CHILD_PID=
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$CHILD_PID"
  stop_pid "$SYNC_PID"
  stop_pid "$SANDBOX_PID"
  if [ "$rc" -ne 0 ] || [ -n "${BENCH_E2E_KEEP_LOGS:-}" ]; then
    mkdir -p "$BUILD/bench/e2e-logs"
    cp "$DIR"/*.log "$BUILD/bench/e2e-logs/" 2>/dev/null || true
    [ "$rc" -eq 0 ] || echo "bench_e2e: failed (exit $rc); logs in $BUILD/bench/e2e-logs" >&2
  fi
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
run() { # a python step in the background, waited for (so INT/TERM act at once)
  "$@" &
  CHILD_PID=$!
  wait "$CHILD_PID"
  CHILD_PID=
}

for try in 1 2 3; do # the ports may be taken between the check and the bind: pick again
  read -r D365_PORT CLARITY_PORT WEBHOOK_PORT < <("${DEMO[@]}" ports)
  "$BUILD/sandbox" --d365-port "$D365_PORT" --clarity-port "$CLARITY_PORT" \
    --metadata "$TOP/specs/d365/metadata.xml" --data "$DIR/sandbox" --credit-check off \
    --webhook-url "http://127.0.0.1:$WEBHOOK_PORT/webhook" >"$DIR/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  "${DEMO[@]}" wait-sandbox "$D365_PORT" "$CLARITY_PORT" "$SANDBOX_PID" && break
  stop_pid "$SANDBOX_PID"
  SANDBOX_PID=
  [ "$try" != 3 ] || { echo "bench_e2e: sandbox did not start" >&2; exit 2; }
done
"${BENCH[@]}" faults "$D365_PORT" "$CLARITY_PORT"
echo "e2e: sandbox (credit check off, so every order is deliverable): F&O latency" \
     "${BENCH_E2E_LATENCY_MS:-50} ms per request, rate limit ${BENCH_E2E_RATE_LIMIT:-15} requests/s" \
     "(burst ${BENCH_E2E_RATE_BURST:-5}, 429 with Retry-After)"

"${DEMO[@]}" config "$TOP/bench/e2e/sync.bench.json" "$DIR/sync.json" "$D365_PORT" "$CLARITY_PORT" "$WEBHOOK_PORT"
(
  export SYNC_D365_SECRET=sync-secret SYNC_CLARITY_PASSWORD=admin \
         SYNC_WEBHOOK_SECRET=sandbox-webhook-secret
  unset SYNC_PROFILE SYNC_LOG_LEVEL
  cd "$DIR" && exec "$BUILD/sync" run --config "$DIR/sync.json"
) >"$DIR/sync.log" 2>&1 &
SYNC_PID=$!
"${DEMO[@]}" wait-sync "$DIR/sync.log" "$SYNC_PID" || { echo "bench_e2e: sync did not start" >&2; exit 2; }

echo "e2e: ours: $ORDERS orders placed at once, sync run (webhooks + polling) delivers them"
run "${BENCH[@]}" ours "$DIR" "$D365_PORT" "$CLARITY_PORT" "$ORDERS"
stop_pid "$SYNC_PID"
SYNC_PID=

echo "e2e: naive: $NAIVE of the same orders, one request per header and per line, serial"
export SYNC_BIN="$BUILD/sync"
run "${BENCH[@]}" naive "$DIR" "$D365_PORT" "$CLARITY_PORT" "$NAIVE" "$BUILD/bench/e2e.json"
echo "e2e: wrote $BUILD/bench/e2e.json"
cat "$BUILD/bench/e2e.json"
