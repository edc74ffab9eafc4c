#!/usr/bin/env bash
# tests/sandbox/suite.sh - protocol tests of the sandbox's D365 F&O emulator against the running
# binary over real sockets (TAP).  The work is in d365_test.py: it starts $BUILD/sandbox (behind
# $VALGRIND_CMD when set) on free ports, waits for /_sandbox/health, runs the tests, and stops
# every process it started (SIGTERM, checked for a clean exit).
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
export TOP BUILD VALGRIND_CMD="${VALGRIND_CMD:-}"
cd "$TOP"
exec python3 tests/sandbox/d365_test.py
