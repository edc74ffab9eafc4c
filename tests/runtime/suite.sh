#!/usr/bin/env bash
# tests/runtime/suite.sh - the runtime's tests: runs each C test program (built by
# tests/runtime/build.mk into $BUILD/tests/runtime) through $VALGRIND_CMD and renumbers their
# TAP lines into one stream.  A program that crashes or exits non-zero without a failing line
# is reported as a failure of its own.
set -u
: "${BUILD:=build}" "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$TOP"
VALGRIND_CMD="${VALGRIND_CMD:-}"
n=0; failed=0

# The HTTP(S) test server (tests/runtime/httpd.py) on kernel-chosen ports, with a throwaway
# self-signed certificate; the C tests find it through SYNCRT_TEST_* variables.
work=$(mktemp -d "${TMPDIR:-/tmp}/syncrt-suite.XXXXXX")
server_pid=
sandbox_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null && wait "$sandbox_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
python3 tests/runtime/httpd.py "$work/ports" "$work/cert.pem" "$work/key.pem" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
if read -r http_port https_port <"$work/ports" 2>/dev/null; then
  export SYNCRT_TEST_HTTP="http://127.0.0.1:$http_port"
  export SYNCRT_TEST_HTTPS="https://127.0.0.1:$https_port"
  export SYNCRT_TEST_CA="$work/cert.pem"
else
  echo "# httpd.py did not start"
fi
# the tests set their own proxy where they test it; talk to 127.0.0.1 directly
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
# build/sandbox (D365 with small pages so paging shows, Clarity on the next port) for
# test_sandbox and test_clarity: random ports in 20000-39999, retried when taken.  The
# sandbox itself is not run under valgrind: other suites test it, here it is the server.
if [ -x "$BUILD/sandbox" ]; then
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    "$BUILD/sandbox" --d365-port "$port" --clarity-port "$((port + 1))" --page-size 7 \
      >"$work/sandbox.log" 2>&1 &
    sandbox_pid=$!
    up=
    for _ in $(seq 50); do
      if ! kill -0 "$sandbox_pid" 2>/dev/null; then break; fi
      if curl -sf "http://127.0.0.1:$port/_sandbox/health" >/dev/null 2>&1 &&
         curl -sf "http://127.0.0.1:$((port + 1))/_sandbox/health" >/dev/null 2>&1; then up=1; break; fi
      sleep 0.1
    done
    if [ -n "$up" ]; then
      export SYNCRT_TEST_D365="http://127.0.0.1:$port"
      export SYNCRT_TEST_CLARITY="http://127.0.0.1:$((port + 1))/DesktopModules/ClarityEcommerce/API-Admin"
      break
    fi
    kill "$sandbox_pid" 2>/dev/null; wait "$sandbox_pid" 2>/dev/null; sandbox_pid=
  done
  [ -n "${SYNCRT_TEST_D365:-}" ] || { echo "# build/sandbox did not start:"; sed 's/^/#   /' "$work/sandbox.log"; }
fi

# under valgrind: fewer paging rows, and RSS is valgrind's own (not checked)
if [ -n "$VALGRIND_CMD" ]; then
  export SYNCRT_PAGING_ROWS="${SYNCRT_PAGING_ROWS:-20000}" SYNCRT_NO_RSS_CHECK=1
fi
run() {  # run NAME: one test program
  local name=$1 bin="$BUILD/tests/runtime/$1" out rc
  if [ ! -x "$bin" ]; then
    n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $name: $bin not built"; return
  fi
  out=$(mktemp); $VALGRIND_CMD "$bin" >"$out" 2>&1; rc=$?
  local had_fail=0
  while IFS= read -r line; do
    case "$line" in
      "ok "*) n=$((n+1)); echo "ok $n - $name: ${line#ok * - }" ;;
      "not ok "*) n=$((n+1)); failed=$((failed+1)); had_fail=1; echo "not ok $n - $name: ${line#not ok * - }" ;;
      1..*) ;;
      *) echo "$line" ;;
    esac
  done <"$out"
  rm -f "$out"
  if [ "$rc" -ne 0 ] && [ "$had_fail" -eq 0 ]; then
    n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $name exited with status $rc"
  fi
}
for src in tests/runtime/test_*.c; do
  run "$(basename "$src" .c)"
done
echo "1..$n"
[ "$failed" -eq 0 ]
