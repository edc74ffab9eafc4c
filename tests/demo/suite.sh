#!/usr/bin/env bash
# tests/demo/suite.sh - `make demo` in a short mode (TAP): runs scripts/demo.sh with
# DEMO_SECONDS=15 on the binaries of $BUILD, checks that its summary is there and consistent
# (delivered + dead-lettered = received, reconciliation OK), that the bad orders were
# dead-lettered with their reasons, and that no sandbox or sync process is left afterwards (by
# the pids the demo reports and by pgrep scoped to its unique data directory).  Then: an order
# taken out of F&O before the summary makes the demo report it lost and exit 1; SIGTERM in the
# middle of a run, and Ctrl-C, stop everything it started.  About 30 s.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
cd "$TOP"
export TOP BUILD DEMO_SKIP_BUILD=1 DEMO_DRAIN_SECONDS=40
unset DEMO_KEEP DEMO_BEFORE_SUMMARY
n=0; failed=0
tap() { # ok? description [detail-file]
  n=$((n+1))
  if [ "$1" = 0 ]; then echo "ok $n - $2"; else
    failed=$((failed+1)); echo "not ok $n - $2"
    [ -n "${3:-}" ] && [ -f "$3" ] && tail -40 "$3" | sed 's/^/#   /'
  fi
}
t() { "$@" >/dev/null 2>&1; echo $?; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$tmp/demo.out

# no process of a demo run is alive: the reported pids and anything naming its data directory
none_left() { # output-file
  local pids dir p
  pids=$(sed -n 's/^demo: stopped pids sandbox=\([0-9]*\) sync=\([0-9]*\).*/\1 \2/p' "$1")
  dir=$(sed -n 's/^demo: data directory //p' "$1")
  [ -n "$dir" ] || return 1
  for p in $pids $(sed -n 's/^demo: \(sandbox\|sync\) pid \([0-9]*\):.*/\2/p' "$1"); do
    kill -0 "$p" 2>/dev/null && return 1
  done
  pgrep -f -- "$dir" >/dev/null && return 1
  [ ! -e "$dir" ]
}
num() { sed -n "s/^$1 *\([0-9][0-9]*\).*/\1/p" "$out" | head -1; }

# 1. the short demo
DEMO_SECONDS=15 DEMO_KEEP=1 timeout 150 scripts/demo.sh >"$out" 2>&1
rc=$?
kept=$(sed -n 's/^demo: data kept in //p' "$out")
# sanitizer or valgrind reports of the sandbox or the sync binary (BUILD=build/san)
san=$tmp/san.txt
grep -hE -A20 'runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' \
  "$kept/sync.log" "$kept/sandbox.log" >"$san" 2>/dev/null
tap $([ -n "$kept" ] && [ -f "$kept/sync.log" ] && [ ! -s "$san" ]; echo $?) \
  "no sanitizer report in the logs of the sync binary or the sandbox" "$san"
tap $(grep -q "event=stopped" "$kept/sync.log" 2>/dev/null; echo $?) "sync run stopped gracefully on SIGTERM" "$out"
[ -n "$kept" ] && case $kept in "${TMPDIR:-/tmp}"/mapc-demo.*) rm -rf "$kept" ;; esac
tap $([ $rc -eq 0 ]; echo $?) "the demo (DEMO_SECONDS=15) exits 0" "$out"
tap $([ "$(grep -c '^\[ *[0-9]*s\] storefront orders' "$out")" -ge 3 ]; echo $?) \
  "live progress: a line every few seconds (orders received / delivered / dead-lettered)" "$out"
for l in "orders received:" "orders delivered:" "orders dead-lettered:" "API calls per order:" \
         "order latency (ms): p50" "    definition: Clarity's CreatedDate" "reconciliation:" \
         "products (products.map) synced: " "SKU stock levels (inventory.map" "payments journaled:"; do
  tap $(t grep -qF -- "$l" "$out") "summary line: $l" "$out"
done
prod=$(sed -n 's/^products (products.map) synced: \([0-9]*\) distinct, [0-9]* records in all (flow ProductsToClarity: done [0-9]*, dead-lettered 0)$/\1/p' "$out")
tap $([ -n "$prod" ] && [ "$prod" -gt 0 ]; echo $?) \
  "the F&O products reached Clarity during the demo (${prod:-0} synced, none dead-lettered)" "$out"
pj=$(sed -n 's/^payments journaled: *\([0-9]*\) of \([0-9]*\) orders paid at checkout.*dead-lettered \([0-9]*\):.*/\1 \2 \3/p' "$out")
set -- $pj
tap $([ -n "$pj" ] && [ "$1" -gt 0 ] && [ $(($1 + $3)) -eq "$2" ]; echo $?) \
  "every payment journaled in F&O or dead-lettered (journals + dead-lettered = paid orders: ${pj:-none})" "$out"
rec=$(num "orders received:"); del=$(num "orders delivered:"); dead=$(num "orders dead-lettered:")
tap $([ -n "$rec" ] && [ -n "$del" ] && [ -n "$dead" ] && [ "$rec" -gt 0 ] &&
      [ $((del + dead)) -eq "$rec" ]; echo $?) \
  "delivered + dead-lettered = received ($del + $dead = $rec)" "$out"
tap $(t grep -qE '^reconciliation: .* 0 mismatches -> OK$' "$out") \
  "reconciliation OK: every Clarity order in F&O once or in the DLQ" "$out"
placed=$(sed -n 's/^storefront: \([0-9]*\) orders placed.*/\1/p' "$out")
tap $(t grep -qE "^reconciliation: $placed orders in Clarity" "$out") \
  "the reconciliation covers every order placed ($placed)" "$out"
tap $(t grep -qE '^ +2  missing customer account \(validation: \$\.AccountKey required' "$out") \
  "both missing-account orders dead-lettered as validation errors naming AccountKey" "$out"
tap $(grep -qE '^ +1  string for a number' "$out" && grep -qF 'expected number, got string "two"' "$out"; echo $?) \
  "the string quantity dead-lettered with its exact JSON path" "$out"
cl=$(sed -n 's/^ *\([0-9]*\)  credit limit exceeded.*/\1/p' "$out")
tap $([ -n "$cl" ] && [ "$cl" -ge 3 ] && grep -qF "Credit limit check failed" "$out"; echo $?) \
  "over-credit-limit orders dead-lettered with F&O's message (${cl:-0} >= 3)" "$out"
tap $(t grep -qF "2 refused at checkout by Clarity's API" "$out") \
  "string quantities refused by Clarity at checkout are reported as such" "$out"
tap $(t grep -qE '^API calls per order: +[0-9.]+ F&O calls per delivered order' "$out") \
  "API calls per order from the sandbox's stats" "$out"
tap $(t none_left "$out") "no sandbox or sync process left (its pids, pgrep on its data directory)" "$out"

# 2. an order missing from F&O is caught: reported lost, exit 1
out=$tmp/tamper.out
DEMO_SECONDS=5 DEMO_BEFORE_SUMMARY='python3 "$TOP/tests/demo/tamper.py"' timeout 120 scripts/demo.sh >"$out" 2>&1
rc=$?
son=$(sed -n 's/^tamper: DELETE \(WEB-[0-9]*\) -> HTTP 20.*/\1/p' "$out")
tap $([ $rc -eq 1 ] && [ -n "$son" ] && grep -qE "^    lost: 1: $son\$" "$out" &&
      grep -qE '1 mismatches -> FAILED$' "$out"; echo $?) \
  "an order deleted from F&O before the summary is reported lost and the demo exits 1" "$out"
tap $(t none_left "$out") "no process left after a failed reconciliation" "$out"

# 3. SIGTERM in the middle: everything stopped by pid
out=$tmp/term.out
DEMO_SECONDS=60 scripts/demo.sh >"$out" 2>&1 &
demo=$!
for i in $(seq 1 100); do grep -q '^\[ *[0-9]*s\] storefront' "$out" && break; sleep 0.1; done
sleep 1
kill -TERM "$demo"
wait "$demo"
rc=$?
tap $([ $rc -eq 143 ] && grep -q '^demo: terminated' "$out"; echo $?) "SIGTERM stops the demo (exit 143)" "$out"
# the pids it printed at start
left=0
for p in $(sed -n 's/^demo: \(sandbox\|sync\) pid \([0-9]*\):.*/\2/p' "$out"); do
  kill -0 "$p" 2>/dev/null && left=1
done
dir=$(sed -n 's/^demo: data directory //p' "$out")
pgrep -f -- "${dir:-/nonexistent-demo-dir}" >/dev/null && left=1
[ -e "${dir:-/nonexistent-demo-dir}" ] && left=1
tap $left "after SIGTERM no sandbox or sync process is left and the data directory is gone" "$out"

# 4. Ctrl-C as a terminal sends it: SIGINT to the demo's whole process group
out=$tmp/int.out
python3 - "$out" <<'PY'
import os, signal, subprocess, sys, time
out = open(sys.argv[1], "w")
p = subprocess.Popen(["scripts/demo.sh"], stdout=out, stderr=subprocess.STDOUT,
                     env=dict(os.environ, DEMO_SECONDS="60"),
                     preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), os.setpgid(0, 0)))
for _ in range(100):
    if "storefront orders" in open(sys.argv[1]).read():
        break
    time.sleep(0.1)
time.sleep(1)
os.killpg(p.pid, signal.SIGINT)
out.write("demo exit status %d\n" % p.wait())
PY
tap $(grep -q '^demo exit status 130' "$out" && grep -q '^demo: interrupted' "$out"; echo $?) \
  "Ctrl-C (SIGINT to the process group) stops the demo (exit 130)" "$out"
left=0
for p in $(sed -n 's/^demo: \(sandbox\|sync\) pid \([0-9]*\):.*/\2/p' "$out"); do
  kill -0 "$p" 2>/dev/null && left=1
done
dir=$(sed -n 's/^demo: data directory //p' "$out")
pgrep -f -- "${dir:-/nonexistent-demo-dir}" >/dev/null && left=1
[ -e "${dir:-/nonexistent-demo-dir}" ] && left=1
tap $left "after Ctrl-C no sandbox or sync process is left and the data directory is gone" "$out"

echo "1..$n"
[ $failed -eq 0 ]
