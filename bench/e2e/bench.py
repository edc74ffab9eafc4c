"""bench.py - the python3 (stdlib) half of bench/bench_e2e.sh, which starts and stops the
sandbox and the sync binary by pid.  Subcommands:

  faults D C                 the bench's F&O conditions: 50 ms latency on every request and a
                             request-rate limit (token bucket, 429 + Retry-After; its interval
                             grows while a client keeps sending) - FAULTS below
  ours DIR D C N             N storefront orders (1-20 lines) placed in Clarity at once while
                             `sync run` is up (webhooks + polling); waits until every order is
                             delivered; measures wall time, F&O calls (/_sandbox/stats), order
                             latency; checks F&O: every order exactly once with its lines.
                             Writes DIR/ours.json.
  naive DIR D C N OUT        the naive baseline on N of the same orders (see naive_run), then
                             writes OUT (the bench's JSON) and prints the ratio line.

Definitions (printed with the figures):
  seconds        first order placed -> last order delivered (the sync's audit log), for all
                 orders placed in one burst (the traffic generator places them as fast as it can)
  calls_per_order  F&O requests of every kind in /_sandbox/stats (token, $batch, probes, 429
                 answers included) / orders delivered
  requests_per_s   those F&O requests / seconds (the rate the sync kept up against the limit)
  admitted_per_s   the same without the 429 answers and token requests (what the limit let in)
  throttled        F&O requests answered 429
  p95_ms         95th percentile of order latency: Clarity CreatedDate -> the sync's audit row
                 'delivered' (right after F&O answered 2xx to the changeset).  Under a burst of
                 N orders this is mostly queueing behind the throttle.
  naive_*        one request per header and per line, serial, one keep-alive connection, 429
                 and 503 honoured (sleep Retry-After, same request again); orders mapped
                 beforehand by `sync preview OrderToCash` (same map as ours, not timed);
                 sales order numbers NV-<id> so they do not collide with ours.  The sample of
                 naive_orders orders is timed and naive_seconds is extrapolated to `orders`
                 (per-order mean x orders)."""
import http.client
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "demo"))
import sblib  # noqa: E402

# 15 requests/s (bucket of 5): below F&O's old per-user limit (6,000 requests / 5 min = 20/s)
# and below what this sandbox can serve (~18 $batch/s of 100 operations on a 2-core machine),
# so that the throttle, not the sandbox, is what both clients meet.
FAULTS = {"latency_ms": int(os.environ.get("BENCH_E2E_LATENCY_MS", "50")),
          "rate_limit": float(os.environ.get("BENCH_E2E_RATE_LIMIT", "15")),
          "rate_burst": float(os.environ.get("BENCH_E2E_RATE_BURST", "5")), "retry_after": 1}
FLOW = "OrderToCash"


def cmd_faults(args):
    sb = sblib.Sandbox(int(args[0]), int(args[1]))
    st, j, raw = sb.faults(FAULTS)
    if st != 200:
        sys.stderr.write("bench: PUT /_sandbox/faults: HTTP %d %s\n" % (st, raw[:200]))
        return 1
    return 0


def wait_delivered(sb, store, n, deadline):
    last = 0
    while time.time() < deadline:
        st = sb.traffic_status()
        c = store.counts(FLOW)
        if c and st and not st.get("running") and c["delivered"] + c["dead"] >= st["created"] and \
           c["in_flight"] == 0 and c["received"] >= st["created"]:
            return c
        if time.time() - last >= 10:
            last = time.time()
            print("  ... placed %d, delivered %d, dead-lettered %d, in flight %d"
                  % (st.get("created", 0), c["delivered"] if c else 0, c["dead"] if c else 0,
                     c["in_flight"] if c else 0))
            sys.stdout.flush()
        time.sleep(0.5)
    return store.counts(FLOW)


def cmd_ours(args):
    wd, d, c, n = args[0], int(args[1]), int(args[2]), int(args[3])
    sb = sblib.Sandbox(d, c)
    store = sblib.Store(os.path.join(wd, "sync.db"))
    sb.reset_stats()
    t0 = time.time()
    sb.traffic({"count": n, "rate_per_s": 0, "seed": 10000, "wait": False})
    cnt = wait_delivered(sb, store, n, t0 + float(os.environ.get("BENCH_E2E_TIMEOUT", "900")))
    t_seen = time.time()
    stats = sb.stats()
    total, by = sblib.fo_calls(stats)
    placed = sb.traffic_status()["created"]
    dat = store.delivered_at(FLOW)
    rat = store.received_at(FLOW)
    orders = sb.clarity_orders()
    first_created = min(sblib.iso_ms(o["CreatedDate"]) for o in orders.values())
    last_delivered = max(dat.values()) if dat else int(t_seen * 1000)
    seconds = (last_delivered - first_created) / 1000.0
    lat = [at - sblib.iso_ms(orders[i]["CreatedDate"]) for i, at in dat.items() if i in orders]
    inner = [at - rat[i] for i, at in dat.items() if i in rat]
    # F&O check: every order exactly once with its lines
    heads, lines = sb.sales_orders("WEB-")
    problems = []
    for oid, o in orders.items():
        son = "WEB-%d" % oid
        if heads.get(son, 0) != 1:
            problems.append("%s: %d headers" % (son, heads.get(son, 0)))
        elif sblib.expected_lines(o) != sblib.landed_lines(lines.get(son, [])):
            problems.append("%s: wrong lines" % son)
    nlines = sum(len(sblib.expected_lines(o)) for o in orders.values())
    res = {"orders": placed, "delivered": len(dat), "dead": cnt["dead"] if cnt else None,
           "seconds": round(seconds, 3), "calls": total, "calls_by": by,
           "calls_per_order": round(total / max(len(dat), 1), 4),
           "p50_ms": sblib.percentile(lat, 50), "p95_ms": sblib.percentile(lat, 95),
           "sync_p95_ms": sblib.percentile(inner, 95), "lines_per_order": round(nlines / max(len(orders), 1), 3),
           "throttled": sum(v for k, v in by.items() if "(429)" in k), "problems": problems[:20],
           "problem_count": len(problems)}
    res["requests_per_s"] = round(total / max(seconds, 1e-9), 2)
    res["admitted_per_s"] = round(sum(v for k, v in by.items() if "(429)" not in k and "token" not in k)
                                  / max(seconds, 1e-9), 2)
    with open(os.path.join(wd, "ours.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("ours:  %d orders (%.2f lines each after merging) in %.1f s = %.0f orders/s; %d F&O calls "
          "(%d answered 429) = %.3f per order; order latency p50 %s ms, p95 %s ms (in the sync: p95 %s ms)"
          % (placed, res["lines_per_order"], seconds, placed / max(seconds, 1e-9), total, res["throttled"],
             res["calls_per_order"], res["p50_ms"], res["p95_ms"], res["sync_p95_ms"]))
    print("       F&O rate: %.2f requests/s (%.2f/s admitted: neither 429 nor token) against the limit of "
          "%g/s" % (res["requests_per_s"], res["admitted_per_s"], FAULTS["rate_limit"]))
    print("       seconds: first order placed -> last order delivered; order latency: Clarity CreatedDate "
          "-> the sync's audit row 'delivered' (F&O answered 2xx to the changeset); with all orders "
          "placed at once it is mostly queueing behind the orders before")
    print("       F&O calls: " + ", ".join("%d %s" % (v, k) for k, v in sorted(by.items(), key=lambda kv: -kv[1])))
    if problems or len(dat) != placed:
        print("ours:  FAILED: %d delivered of %d placed; %d F&O mismatches: %s"
              % (len(dat), placed, len(problems), "; ".join(problems[:10])))
        return 1
    print("       F&O checked: all %d orders exactly once with their lines" % placed)
    return 0


class Naive:
    """One request per header and per line, serially, on one keep-alive connection."""

    def __init__(self, sb):
        self.sb = sb
        self.conn = None
        self.token = None
        self.calls = 0
        self.throttled = 0
        self.failures = []

    def _send(self, method, path, body, headers):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=60)
            try:
                self.conn.request(method, path, body, headers)
                r = self.conn.getresponse()
                raw = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, r.getheader("Retry-After"), raw
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return None

    def post(self, path, doc):
        body = json.dumps(doc).encode()
        while True:
            if not self.token:
                self.token = self.sb.get_token()
                self.calls += 1
            self.calls += 1
            st, ra, raw = self._send("POST", path, body, {"Content-Type": "application/json",
                                                          "Authorization": "Bearer " + self.token})
            if st in (429, 503):
                self.throttled += 1
                time.sleep(float(ra) if ra else 1.0)
                continue
            if st == 401:
                self.token = None
                continue
            if st not in (200, 201, 204):
                self.failures.append("%s: HTTP %d %s" % (path, st, raw[:200]))
            return st


def naive_map(orders, sync):
    """{id: (header, [lines])} through `sync preview OrderToCash`, numbered NV-<id>."""
    out = {}
    for oid, o in orders.items():
        p = subprocess.run([sync, "preview", "OrderToCash"], input=json.dumps(o).encode(),
                           capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("sync preview of order %d: %s" % (oid, p.stderr[:300]))
        m = json.loads(p.stdout)
        son = "NV-%d" % oid
        h = m["SalesOrderHeadersV2"]
        h["SalesOrderNumber"] = son
        ls = m.get("SalesOrderLines") or []
        for ln in ls:
            ln["SalesOrderNumber"] = son
        out[oid] = (h, ls)
    return out


def cmd_naive(args):
    wd, d, c, n, outpath = args[0], int(args[1]), int(args[2]), int(args[3]), args[4]
    sync = os.environ.get("SYNC_BIN", "build/sync")
    sb = sblib.Sandbox(d, c)
    with open(os.path.join(wd, "ours.json")) as f:
        ours = json.load(f)
    orders = sb.clarity_orders()
    sample = {i: orders[i] for i in sorted(orders)[:n]}
    mapped = naive_map(sample, sync)
    nv = Naive(sb)
    sb.reset_stats()
    per_order = []
    t0 = time.time()
    last = t0
    for k, (oid, (h, ls)) in enumerate(sorted(mapped.items())):
        s0 = time.time()
        nv.post("/data/SalesOrderHeadersV2", h)
        for ln in ls:
            nv.post("/data/SalesOrderLines", ln)
        per_order.append((time.time() - s0) * 1000.0)
        if time.time() - last >= 15:
            last = time.time()
            print("  ... naive: %d of %d orders, %.1f s" % (k + 1, len(mapped), last - t0))
            sys.stdout.flush()
    elapsed = time.time() - t0
    total, by = sblib.fo_calls(sb.stats())
    heads, lines = sb.sales_orders("NV-")
    missing = [i for i in mapped if heads.get("NV-%d" % i) != 1 or
               len(lines.get("NV-%d" % i, [])) != len(mapped[i][1])]
    done = len(mapped)
    per = elapsed / max(done, 1)
    res = {"orders": ours["orders"], "seconds": ours["seconds"], "calls_per_order": ours["calls_per_order"],
           "p95_ms": ours["p95_ms"],
           "requests_per_s": ours["requests_per_s"], "admitted_per_s": ours["admitted_per_s"],
           "throttled": ours["throttled"], "rate_limit": FAULTS["rate_limit"],
           "naive_orders": done,
           "naive_seconds": round(per * ours["orders"], 1),
           "naive_calls_per_order": round(total / max(done, 1), 4)}
    res["speedup"] = round(res["naive_seconds"] / max(res["seconds"], 1e-9), 2)
    res["calls_ratio"] = round(res["naive_calls_per_order"] / max(res["calls_per_order"], 1e-9), 2)
    with open(outpath, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print("naive: %d orders (the first %d of the same orders) in %.1f s = %.3f s per order; %d F&O calls "
          "(%d answered 429) = %.3f per order; per-order time p95 %.0f ms"
          % (done, done, elapsed, per, total, nv.throttled, res["naive_calls_per_order"],
             sblib.percentile(per_order, 95)))
    print("       naive_seconds %.1f is extrapolated: %.3f s per order x %d orders"
          % (res["naive_seconds"], per, ours["orders"]))
    print("e2e: %d orders: sync %.1f s, %.3f calls/order, %.2f requests/s, %d answered 429, p95 %s ms | naive (serial, per header and line) "
          "%.1f s (extrapolated from %d), %.3f calls/order | %.1fx faster, %.1fx fewer calls"
          % (res["orders"], res["seconds"], res["calls_per_order"], res["requests_per_s"], res["throttled"],
             res["p95_ms"], res["naive_seconds"],
             done, res["naive_calls_per_order"], res["speedup"], res["calls_ratio"]))
    if missing or nv.failures:
        print("naive: FAILED: %d orders not landed whole; %d refused requests: %s"
              % (len(missing), len(nv.failures), "; ".join(nv.failures[:5])))
        return 1
    return 0


def main():
    cmds = {"faults": cmd_faults, "ours": cmd_ours, "naive": cmd_naive}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write("usage: bench.py %s ...\n" % "|".join(cmds))
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
