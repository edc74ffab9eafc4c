#!/usr/bin/env bash
# tests/e2e/suite.sh - the sync binary end to end against build/sandbox (TAP): order to cash
# through polling and webhooks, the seed error cases and what the operator sees.  The work is
# in e2e.py (helpers in harness.py); it starts its own sandbox and sync processes on free
# ports and stops them by pid.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
export TOP BUILD VALGRIND_CMD="${VALGRIND_CMD:-}"
cd "$TOP"
exec python3 tests/e2e/e2e.py
