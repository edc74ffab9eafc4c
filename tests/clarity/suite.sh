#!/usr/bin/env bash
# tests/clarity/suite.sh - protocol tests of the sandbox's Clarity eCommerce emulator, against
# the running binary over real sockets (TAP).
#
# Starts $BUILD/sandbox (under $VALGRIND_CMD when set) on free random ports with a webhook URL
# pointing at a port the Python test binds for its receiver, waits for /_sandbox/health, runs
# tests/clarity/clarity_test.py (auth, paging, filters, writes, digests, state actions,
# inventory, signed webhooks with redelivery, traffic generator, bad input), then stops the
# sandbox (trap) and checks it exited cleanly.
# Env: BUILD, TOP, VALGRIND_CMD.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
: "${VALGRIND_CMD:=}"
case "$BUILD" in /*) build_dir="$BUILD" ;; *) build_dir="$TOP/$BUILD" ;; esac
SANDBOX="$build_dir/sandbox"
work=$(mktemp -d "${TMPDIR:-/tmp}/clarity-suite.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ ! -x "$SANDBOX" ]; then
  echo "not ok 1 - $SANDBOX is built"
  echo "1..1"; exit 1
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick() { local p; for _ in $(seq 1 50); do p=$((20000 + RANDOM % 20000)); port_free "$p" && { echo "$p"; return; }; done; echo 0; }

started=0
for attempt in 1 2 3 4 5; do
  DPORT=$(pick); CPORT=$(pick); HPORT=$(pick)
  [ "$DPORT" != "$CPORT" ] && [ "$CPORT" != "$HPORT" ] && [ "$DPORT" != "$HPORT" ] || continue
  $VALGRIND_CMD "$SANDBOX" --d365-port "$DPORT" --clarity-port "$CPORT" --seed 1 \
    --metadata "$TOP/specs/d365/metadata.xml" --data "$work/data" \
    --webhook-url "http://127.0.0.1:$HPORT/hooks/clarity" --webhook-secret "suite-secret" \
    --webhook-backoff-ms 200 --webhook-backoff-max-ms 800 \
    --clarity-max-body 65536 >"$work/sandbox.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    if curl -sf "http://127.0.0.1:$CPORT/_sandbox/health" >/dev/null 2>&1; then started=1; break; fi
    sleep 0.1
  done
  [ "$started" -eq 1 ] && break
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
  rm -rf "$work/data"
done
if [ "$started" -ne 1 ]; then
  echo "not ok 1 - sandbox starts and answers /_sandbox/health"
  sed 's/^/# /' "$work/sandbox.log" | tail -20
  echo "1..1"; exit 1
fi

CLARITY_PORT=$CPORT D365_PORT=$DPORT HOOK_PORT=$HPORT HOOK_SECRET=suite-secret \
  DATA_DIR="$work/data" python3 "$TOP/tests/clarity/clarity_test.py" >"$work/tap" 2>&1
rc=$?
cat "$work/tap"
n=$(grep -cE '^(not )?ok ' "$work/tap")

# clean shutdown: SIGTERM -> exit 0 (valgrind's exit code 99 would flag leaks/errors)
stop_sandbox() {
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"; src=$?
  pid=
  n=$((n+1))
  if [ "$src" -eq 0 ]; then
    echo "ok $n - sandbox stops cleanly on SIGTERM (exit 0)$1"
  else
    echo "not ok $n - sandbox stops cleanly on SIGTERM (exit $src)$1"
    sed 's/^/# /' "$work/sandbox.log" | tail -30
    rc=1
  fi
}
stop_sandbox ""

# restart on the same --data: records kept, the pending webhook goes out (durable outbox)
HPORT2=$(pick)
$VALGRIND_CMD "$SANDBOX" --d365-port "$DPORT" --clarity-port "$CPORT" --seed 1 \
  --metadata "$TOP/specs/d365/metadata.xml" --data "$work/data" \
  --webhook-url "http://127.0.0.1:$HPORT2/hooks/clarity" --webhook-secret "suite-secret" \
  --webhook-backoff-ms 200 --webhook-backoff-max-ms 800 >"$work/sandbox.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 1 600); do
  kill -0 "$pid" 2>/dev/null || break
  if curl -sf "http://127.0.0.1:$CPORT/_sandbox/health" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done
n=$((n+1))
if [ "$up" -eq 1 ]; then
  echo "ok $n - sandbox restarts on the same --data"
  CLARITY_PORT=$CPORT D365_PORT=$DPORT HOOK_PORT=$HPORT2 HOOK_SECRET=suite-secret PHASE=restart \
    DATA_DIR="$work/data" python3 "$TOP/tests/clarity/clarity_test.py" >"$work/tap2" 2>&1 || rc=1
  # renumber the second phase after the first
  while IFS= read -r line; do
    case "$line" in
      "ok "*|"not ok "*) n=$((n+1)); echo "$line" | sed -E "s/^(not )?ok [0-9]+/\1ok $n/" ;;
      *) echo "$line" ;;
    esac
  done <"$work/tap2"
  stop_sandbox " after the restart"
else
  echo "not ok $n - sandbox restarts on the same --data"
  sed 's/^/# /' "$work/sandbox.log" | tail -20
  rc=1
fi
echo "1..$n"
exit $rc
