#!/usr/bin/env bash
# tests/reconcile/suite.sh - `sync reconcile` against build/sandbox (TAP): orders synced with
# `sync once OrderToCash --drain`, some shipped and invoiced, reconcile exits 0 with the right
# counts; then one mismatch at a time (an F&O line quantity changed, an unsynced order, a dead
# letter) and reconcile exits 1 naming exactly it.  The work is in reconcile.py, which uses
# tests/e2e/harness.py to start its own sandbox on free ports and stop it by pid.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
export TOP BUILD VALGRIND_CMD="${VALGRIND_CMD:-}"
cd "$TOP"
exec python3 tests/reconcile/reconcile.py
