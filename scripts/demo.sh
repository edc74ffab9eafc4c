#!/usr/bin/env bash
# `make demo`: the end-to-end demo.  Until the sync binary and the six business flows land
# (milestone M5), the demo builds what exists and says what the full demo will do.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make --no-print-directory all
cat <<'TXT'

The full demo (milestone M5, not built yet) will:
  1. start the sandbox (D365 F&O on 127.0.0.1:7365, Clarity eCommerce on 127.0.0.1:7366);
  2. generate storefront traffic (customers, products, orders with 1-20 lines, some bad ones);
  3. run the sync binary for about a minute with live progress;
  4. print orders received / delivered / dead-lettered, products and SKUs synced, API calls
     per order, p50/p95 webhook-to-ERP latency and the reconciliation result;
  5. stop everything it started.

What you can run today:
  build/mapc --help                     the mapping compiler
  build/mapc describe specs/d365/metadata.xml SalesOrderHeaderV2
  build/sandbox --help                  the two emulators (when built)
TXT
