#!/usr/bin/env bash
# tests/reconcile/suite.sh - `sync reconcile` against build/sandbox (TAP): orders paid at
# checkout, synced with `sync once OrderToCash --drain` and journaled by PaymentsToJournal,
# some shipped and invoiced (tax, freight, coupons), reconcile exits 0 with the right counts and
# amounts; a declined payment is listed, not counted; then one mismatch at a time (an F&O line
# quantity changed, a journal line a cent short or deleted, a declined payment journaled, an
# unsynced order, a dead letter) and reconcile exits 1 naming exactly it.  The work is in reconcile.py, which uses
# tests/e2e/harness.py to start its own sandbox on free ports and stop it by pid.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
export TOP BUILD VALGRIND_CMD="${VALGRIND_CMD:-}"
cd "$TOP"
exec python3 tests/reconcile/reconcile.py
