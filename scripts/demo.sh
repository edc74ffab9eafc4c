#!/usr/bin/env bash
# `make demo`: the product end to end on this machine.  Installs what is missing
# (scripts/setup.sh), builds, starts the sandbox (D365 F&O + Clarity emulators) on the default
# ports when free (7365, 7366; webhook receiver 8088) or on free ones, runs `sync run` with
# scripts/demo/sync.demo.json (webhooks + polling) while the storefront places orders (good
# ones and a handful of bad ones), shows live progress, then prints the summary: orders
# received / delivered / dead-lettered (reasons grouped), products and SKUs, API calls per
# order, p50/p95 order latency (defined in the output), and the reconciliation of Clarity
# against F&O.
#
# Every process it starts is stopped by pid (trap on EXIT, INT, TERM) and waited for.
# Exit status: 0 when every order is in F&O exactly once or dead-lettered with a reason,
# 1 when an order was lost or duplicated (or another reconciliation mismatch), 2 when the
# demo could not start.
#
# Environment: DEMO_SECONDS (60) how long the sync runs with traffic; DEMO_DRAIN_SECONDS (90)
# the most it then waits for the sync to finish what it received; DEMO_SKIP_BUILD=1 skips
# setup and build (tests); BUILD (build) where the binaries are; DEMO_KEEP=1 keeps the data
# directory (logs, store) for a look afterwards; DEMO_BEFORE_SUMMARY, a shell command run
# after the sync stopped and before the summary with DEMO_DIR, DEMO_D365_PORT and
# DEMO_CLARITY_PORT set (tests/demo uses it to take an order out of F&O and check that the
# reconciliation catches it).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
DEMO_SECONDS=${DEMO_SECONDS:-60}
PY=(python3 "$TOP/scripts/demo/demo.py")

if [ -z "${DEMO_SKIP_BUILD:-}" ]; then
  scripts/setup.sh
  make --no-print-directory -j2 all
fi
for b in sandbox sync; do
  [ -x "$BUILD/$b" ] || { echo "demo: $BUILD/$b is missing (run make)" >&2; exit 2; }
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/mapc-demo.XXXXXX")
SANDBOX_PID=
SYNC_PID=
DRIVE_PID=

stop_pid() { # pid name: SIGTERM, wait up to 20 s, then SIGKILL; always reaped
  local pid=$1 name=$2 i
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name (pid $pid) did not stop on SIGTERM; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$DRIVE_PID" "traffic driver"
  stop_pid "$SYNC_PID" "sync"
  stop_pid "$SANDBOX_PID" "sandbox"
  if [ -n "${DEMO_KEEP:-}" ]; then
    echo "demo: data kept in $DIR"
  else
    rm -rf "$DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

echo "demo: data directory $DIR"
for try in 1 2 3; do # the ports may be taken between the check and the bind: pick again
  read -r D365_PORT CLARITY_PORT WEBHOOK_PORT < <("${PY[@]}" ports)
  "$BUILD/sandbox" --d365-port "$D365_PORT" --clarity-port "$CLARITY_PORT" \
    --metadata "$TOP/specs/d365/metadata.xml" --data "$DIR/sandbox" \
    --webhook-url "http://127.0.0.1:$WEBHOOK_PORT/webhook" >"$DIR/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  "${PY[@]}" wait-sandbox "$D365_PORT" "$CLARITY_PORT" "$SANDBOX_PID" && break
  stop_pid "$SANDBOX_PID" "sandbox"
  SANDBOX_PID=
  if [ "$try" = 3 ]; then
    echo "demo: the sandbox did not start:" >&2
    tail -20 "$DIR/sandbox.log" >&2
    exit 2
  fi
done
echo "demo: sandbox pid $SANDBOX_PID: D365 F&O http://127.0.0.1:$D365_PORT, Clarity http://127.0.0.1:$CLARITY_PORT"

"${PY[@]}" config "$TOP/scripts/demo/sync.demo.json" "$DIR/sync.json" "$D365_PORT" "$CLARITY_PORT" "$WEBHOOK_PORT"
# The demo config enables the product and stock flows too; a sync binary whose engine does not
# run them yet refuses to start, naming the flow: turn it off, say so in the summary, start again.
for try in 1 2 3 4 5; do
  (
    export SYNC_D365_SECRET=sync-secret SYNC_CLARITY_PASSWORD=admin \
           SYNC_WEBHOOK_SECRET=sandbox-webhook-secret
    unset SYNC_PROFILE
    cd "$DIR" && exec "$BUILD/sync" run --config "$DIR/sync.json"
  ) >"$DIR/sync.log" 2>&1 &
  SYNC_PID=$!
  "${PY[@]}" wait-sync "$DIR/sync.log" "$SYNC_PID" && break
  stop_pid "$SYNC_PID" "sync"
  SYNC_PID=
  if [ "$try" = 5 ] || ! "${PY[@]}" disable-flow "$DIR/sync.json" "$DIR/sync.log"; then
    echo "demo: sync run did not start:" >&2
    tail -20 "$DIR/sync.log" >&2
    exit 2
  fi
done
echo "demo: sync pid $SYNC_PID: sync run --config $DIR/sync.json (webhooks on 127.0.0.1:$WEBHOOK_PORT, polling every 10 s)"

# in the background and waited for, so that INT/TERM run the trap at once (bash runs a trap
# only after a foreground command ends)
"${PY[@]}" drive "$DIR" "$D365_PORT" "$CLARITY_PORT" "$WEBHOOK_PORT" "$DEMO_SECONDS" &
DRIVE_PID=$!
wait "$DRIVE_PID"
DRIVE_PID=

SYNC_WAS=$SYNC_PID
stop_pid "$SYNC_PID" "sync"
SYNC_PID=
if grep -q "event=stopped" "$DIR/sync.log"; then
  echo "demo: sync stopped gracefully (SIGTERM)"
fi

if [ -n "${DEMO_BEFORE_SUMMARY:-}" ]; then
  DEMO_DIR=$DIR DEMO_D365_PORT=$D365_PORT DEMO_CLARITY_PORT=$CLARITY_PORT \
    bash -c "$DEMO_BEFORE_SUMMARY"
fi
set +e
SYNC_BIN="$BUILD/sync" "${PY[@]}" summary "$DIR" "$D365_PORT" "$CLARITY_PORT"
RC=$?
set -e
[ "$RC" -le 1 ] || RC=1

SANDBOX_WAS=$SANDBOX_PID
stop_pid "$SANDBOX_PID" "sandbox"
SANDBOX_PID=
echo "demo: stopped pids sandbox=$SANDBOX_WAS sync=$SYNC_WAS; nothing left running"
if [ "$RC" -ne 0 ]; then
  echo "demo: FAILED: an order was lost, duplicated or mismatched (see the reconciliation above)" >&2
fi
exit "$RC"
