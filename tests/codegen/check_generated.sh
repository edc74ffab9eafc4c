#!/usr/bin/env bash
# tests/codegen/check_generated.sh MAPC - regenerate generated/ from examples/*.map into a
# temporary directory and fail on any difference with the committed files (curl's test1276
# idea): run by `make check-generated` and by the codegen suite.
set -eu
mapc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-generated.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd examples && "$mapc" gen -o "$tmp" $(ls *.map))
if ! diff -ru generated "$tmp"; then
  echo "check-generated: generated/ is stale: run (cd examples && mapc gen -o ../generated *.map)" >&2
  exit 1
fi
echo "check-generated: generated/ matches examples/"
