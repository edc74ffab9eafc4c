#!/usr/bin/env bash
# tests/chaos/suite.sh - the sync binary under faults against build/sandbox (TAP): a 429 storm,
# writes committed then dropped (unknown outcome), kill -9 at random instants.  Reduced counts
# by default; CHAOS_ORDERS=2000 CHAOS_KILLS=20 for the full acceptance run (CHAOS_SEED to
# replay one).  The work is in chaos.py (helpers in tests/e2e/harness.py).
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
export TOP BUILD VALGRIND_CMD="${VALGRIND_CMD:-}"
cd "$TOP"
exec python3 tests/chaos/chaos.py
