#!/usr/bin/env python3
"""bench/inventory/bench.py - the inventory benchmark (run by bench/bench_inventory.sh).

Starts $BUILD/sandbox with --extra-skus SKUS (D365 F&O: SKUS extra released products X000001..,
one on-hand row each, besides the seed's 120 items x 4 warehouses in usmf and usrt) on free
ports, then with `$BUILD/sync once StockToClarity --drain` (examples/inventory.map):

  products   `sync once ProductsToClarity --drain` (examples/products.map) creates every
             released product in Clarity (StockToClarity writes stock of products Clarity has:
             it looks their IDs up by CustomKey; reported as products_*, not the result);
  initial    a fresh store A: every item (its on-hand rows summed) mapped and sent to Clarity
             in bulk, PUT .../Providers/Inventory/BulkUpdateInventoryForProducts with up to
             batch_records (200) items each, their ProductIDs looked up by CustomKey, one
             search per 50 keys (reported, not the result);
  change     CHANGED_SHARE (1%) of the SKUS extra on-hand rows change through the real OData
             API: sales order lines reserve one unit each (change_rows says why not PATCH);
  ours       store A again: the same full scan of WarehousesOnHandV2 (ordered by ItemNumber,
             nextLink paging), items whose rows are unchanged are absorbed by the inbox (group
             hash), those whose mapped record was already delivered with the same hash are
             skipped; only the changed ones are sent (in bulk, with their lookups: a new
             process, the lookups are kept in memory for a run);
  full push  a fresh store B (no delivered hashes) on the same data: the same binary, paging,
             mapping, lookups and bulk route, every item sent again.

StockToClarity groups the on-hand rows by item (`group by ItemNumber`: an item's stock is the
sum over its warehouses), so a pass sends one record per item: SKUS + 120, not SKUS + 480, in
(SKUS + 120) / 200 bulk requests and (SKUS + 120) / 50 lookups.

Calls are the deltas of /_sandbox/stats on the Clarity port (every request, login included) and
the F&O port; seconds are wall time of the sync process.  Writes OUT (JSON) and prints the ratio
line.  Every process it starts is stopped by pid in a finally block.
Usage: bench.py SKUS OUT
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "scripts", "demo"))
import sblib  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(TOP, BUILD)
CHANGED_SHARE = 0.01


def total_calls(sb, clarity):
    st = sb.stats(clarity=clarity) or {}
    return st.get("total", 0)


def write_config(wd, name, d, c, flow="StockToClarity"):
    with open(os.path.join(TOP, "bench", "inventory", "sync.inventory.json")) as f:
        cfg = json.load(f)
    if flow != "StockToClarity":
        cfg["flows"] = {flow: dict(cfg["flows"]["StockToClarity"])}
    cfg["store"] = os.path.join(wd, name + ".db")
    cfg["d365"]["url"] = "http://127.0.0.1:%d" % d
    cfg["d365"]["token_url"] = "http://127.0.0.1:%d/sandbox/oauth2/v2.0/token" % d
    cfg["d365"]["scope"] = "http://127.0.0.1:%d/.default" % d
    cfg["clarity"]["root"] = "http://127.0.0.1:%d%s" % (c, sblib.CLARITY_ROOT)
    path = os.path.join(wd, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    return path


def sync_pass(sb, config, env, what, flow="StockToClarity"):
    """One `sync once FLOW --drain`: {seconds, calls (Clarity), fo_calls}."""
    c0, d0 = total_calls(sb, True), total_calls(sb, False)
    t0 = time.monotonic()
    rc, out, err = sblib.sync_cmd(os.path.join(BUILD, "sync"), config, "once", flow,
                                  "--drain", "--timeout", "3000", env=env, timeout=3600)
    secs = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError("%s: sync exited %d\n%s" % (what, rc, err[-3000:]))
    st = sblib.sync_flows(os.path.join(BUILD, "sync"), config, env=env).get(flow) or {}
    if not st or st.get("dead", "0").split()[0] != "0" or st.get("pending", "0").split()[0] != "0":
        raise RuntimeError("%s: not every record delivered: %s\n%s" % (what, st, err[-3000:]))
    res = {"seconds": round(secs, 3), "calls": total_calls(sb, True) - c0,
           "fo_calls": total_calls(sb, False) - d0}
    print("bench_inventory: %-9s %7d Clarity calls, %5d F&O calls, %8.2f s"
          % (what, res["calls"], res["fo_calls"], secs), file=sys.stderr)
    return res


def change_rows(sb, skus, seed=7):
    """Change CHANGED_SHARE of the extra SKUs' on-hand rows through the real OData API.

    WarehousesOnHandV2 is read-only in F&O (as in the real system), so the change is made the
    way stock really moves: sales order lines (POST SalesOrderLines, 1 unit from warehouse 11,
    100 lines per order) reserve stock, which changes the row's Reserved and Available
    quantities and so the mapped MaximumPurchaseQuantity.  Returns the number of rows changed."""
    n = max(1, int(round(skus * CHANGED_SHARE))) if skus else 0
    picks = random.Random(seed).sample(range(1, skus + 1), n)
    sb.get_token()
    h = {"Authorization": "Bearer " + sb.token}
    so = None
    for k, i in enumerate(picks):
        if k % 100 == 0:
            st, j, raw = sblib.request(sb.port, "POST", "/data/SalesOrderHeadersV2",
                                       {"dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-001",
                                        "CurrencyCode": "USD"}, h)
            if st != 201:
                raise RuntimeError("POST order: %d %s" % (st, raw[:300]))
            so = j["SalesOrderNumber"]
        st, _, raw = sblib.request(sb.port, "POST", "/data/SalesOrderLines",
                                   {"dataAreaId": "usmf", "SalesOrderNumber": so,
                                    "ItemNumber": "X%06d" % i, "OrderedSalesQuantity": 1,
                                    "ShippingSiteId": "1", "ShippingWarehouseId": "11"}, h)
        if st != 201:
            raise RuntimeError("POST line X%06d: %d %s" % (i, st, raw[:300]))
    return n


def main():
    # SIGTERM / SIGINT unwind through the finally below, which stops the sandbox by its pid
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    skus, out = int(sys.argv[1]), sys.argv[2]
    wd = os.environ.get("BENCH_INV_DIR") or "/tmp"
    d, c = sblib.pick_ports([7365, 7366])
    env = dict(os.environ, SYNC_D365_SECRET="sync-secret", SYNC_CLARITY_PASSWORD="admin")
    env.pop("SYNC_PROFILE", None)
    log = open(os.path.join(wd, "sandbox.log"), "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([os.path.join(BUILD, "sandbox"), "--d365-port", str(d), "--clarity-port",
                             str(c), "--extra-skus", str(skus), "--data", os.path.join(wd, "data")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=TOP)
    try:
        sb = sblib.Sandbox(d, c)
        while not sb.healthy():
            if proc.poll() is not None or time.monotonic() - t0 > 600:
                raise RuntimeError("the sandbox did not start (see %s/sandbox.log)" % wd)
            time.sleep(0.2)
        seed_s = time.monotonic() - t0
        print("bench_inventory: sandbox up with %d extra SKUs in %.1f s" % (skus, seed_s), file=sys.stderr)
        products = sync_pass(sb, write_config(wd, "products", d, c, "ProductsToClarity"), env,
                             "products", "ProductsToClarity")
        a = write_config(wd, "ours", d, c)
        initial = sync_pass(sb, a, env, "initial")
        t1 = time.monotonic()
        changed = change_rows(sb, skus)
        change_s = time.monotonic() - t1
        print("bench_inventory: %d on-hand rows changed by sales lines in %.1f s" % (changed, change_s), file=sys.stderr)
        ours = sync_pass(sb, a, env, "ours")
        full = sync_pass(sb, write_config(wd, "full", d, c), env, "full push")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    res = {"skus": skus, "changed": changed, "calls": ours["calls"], "seconds": ours["seconds"],
           "full_push_calls": full["calls"], "full_push_seconds": full["seconds"],
           "calls_ratio": round(full["calls"] / max(ours["calls"], 1), 2),
           "speedup": round(full["seconds"] / max(ours["seconds"], 0.001), 2),
           "fo_calls": ours["fo_calls"], "full_push_fo_calls": full["fo_calls"],
           "initial_calls": initial["calls"],
           "initial_seconds": initial["seconds"], "products_calls": products["calls"],
           "products_seconds": products["seconds"], "seed_seconds": round(seed_s, 1)}
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print("inventory: %d SKUs, %d changed: ours %d Clarity calls in %.2f s vs full push %d calls in "
          "%.2f s (%.1fx fewer calls, %.1fx faster)"
          % (skus, changed, res["calls"], res["seconds"], res["full_push_calls"],
             res["full_push_seconds"], res["calls_ratio"], res["speedup"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
