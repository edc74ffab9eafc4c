#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages when it is missing.
# Idempotent: a machine that has everything is left alone (no apt-get at all).
set -euo pipefail

PKGS=(gcc make pkg-config flex bison libxml2-dev libjansson-dev libcurl4-openssl-dev
      libsqlite3-dev libmicrohttpd-dev libssl-dev jq valgrind clang libclang-rt-14-dev
      libxml2-utils sqlite3 curl python3 ca-certificates time)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
