"""demo.py - the python3 half of `make demo` (scripts/demo.sh starts and stops the processes
by pid; this file talks to them).  Subcommands:

  ports                      print "D365 CLARITY WEBHOOK" ports: 7365 7366 8088 when free,
                             else free ones from the OS
  wait-sandbox D C [PID]     wait until both emulators answer and PID is alive (exit 1 after
                             20 s or when PID died)
  config TEMPLATE OUT D C W  write the sync config for these ports (store in OUT's directory)
  wait-sync LOG PID          wait for event=running in the sync log (exit 1 if it died)
  disable-flow CONFIG LOG    the sync refused to start a flow its engine does not run yet:
                             turn that flow off in CONFIG, note why for the summary
  drive DIR D C W SECONDS    storefront traffic for ~3/4 of SECONDS (good orders plus bad ones),
                             one signed webhook with a string quantity, live progress, then wait
                             until the sync has worked everything (DEMO_DRAIN_SECONDS, 90)
  summary DIR D C            the closing report; exit 1 when an order was lost or duplicated
                             (or any other reconciliation mismatch)

The order latency reported is defined in summary(): Clarity's CreatedDate of the order (the
moment the storefront stored it and queued its webhook) -> the sync's audit row "delivered"
for it (written right after F&O answered 2xx to the $batch changeset that created header and
lines, so the F&O rows exist at that instant).  Both clocks are this machine's."""
import json
import os
import re
import sys
import time
from decimal import Decimal

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sblib  # noqa: E402

INJECTED_ID = 9000001   # the string-quantity event's order id (not a Clarity order)
FLOW = "OrderToCash"
PAY_FLOW = "PaymentsToJournal"  # the storefront pays each order at checkout: one journal per order
PRODUCT_FLOWS = (("ProductsToClarity", "products (products.map)"),
                 ("StockToClarity", "SKU stock levels (inventory.map: an item's total over its warehouses, sent again when it changes)"))


def sync_env():
    env = dict(os.environ)
    env.update({"SYNC_D365_SECRET": "sync-secret", "SYNC_CLARITY_PASSWORD": "admin",
                "SYNC_WEBHOOK_SECRET": sblib.WEBHOOK_SECRET})
    env.pop("SYNC_PROFILE", None)
    return env


def cmd_ports(args):
    print(" ".join(str(p) for p in sblib.pick_ports([7365, 7366, 8088])))
    return 0


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def cmd_wait_sandbox(args):
    """Wait until both emulators answer and the sandbox of this pid is still up (a sandbox that
    could not bind its ports exits, and something else may be answering on them)."""
    sb = sblib.Sandbox(int(args[0]), int(args[1]))
    pid = int(args[2]) if len(args) > 2 else None
    for _ in range(200):
        if pid is not None and not alive(pid):
            return 1
        if sb.healthy():
            time.sleep(0.3)
            return 0 if pid is None or alive(pid) else 1
        time.sleep(0.1)
    return 1


def cmd_config(args):
    tmpl, out, d, c, w = args[0], args[1], int(args[2]), int(args[3]), int(args[4])
    with open(tmpl) as f:
        cfg = json.load(f)
    cfg["store"] = os.path.join(os.path.dirname(os.path.abspath(out)), "sync.db")
    cfg["d365"]["url"] = "http://127.0.0.1:%d" % d
    cfg["d365"]["token_url"] = "http://127.0.0.1:%d/sandbox/oauth2/v2.0/token" % d
    cfg["d365"]["scope"] = "http://127.0.0.1:%d/.default" % d
    cfg["clarity"]["root"] = "http://127.0.0.1:%d%s" % (c, sblib.CLARITY_ROOT)
    cfg["webhook"]["port"] = w
    with open(out, "w") as f:
        json.dump(cfg, f, indent=2)
    return 0


def cmd_disable_flow(args):
    """Turn off a flow the engine refused to start ("enabled, but this engine does not run it
    yet") and note why in DIR/not_run.json for the summary.  Exit 1 when the log holds no such
    refusal (the start failed for another reason)."""
    config, log = args[0], args[1]
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except OSError:
        return 1
    m = re.search(r'event=start_failed error="(flow (\w+) is enabled, but this engine does not run it'
                  r'[^"]*)"', text)
    if not m:
        return 1
    with open(config) as f:
        cfg = json.load(f)
    name = m.group(2)
    if name not in cfg.get("flows", {}) or cfg["flows"][name].get("enabled") is False:
        return 1
    cfg["flows"][name]["enabled"] = False
    with open(config, "w") as f:
        json.dump(cfg, f, indent=2)
    path = os.path.join(os.path.dirname(os.path.abspath(config)), "not_run.json")
    notes = {}
    if os.path.exists(path):
        with open(path) as f:
            notes = json.load(f)
    notes[name] = m.group(1)
    with open(path, "w") as f:
        json.dump(notes, f)
    print("demo: %s: turned off in the demo config" % m.group(1))
    return 0


def cmd_wait_sync(args):
    log, pid = args[0], int(args[1])
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except OSError:
            return 1
        try:
            with open(log, errors="replace") as f:
                if "event=running" in f.read():
                    return 0
        except OSError:
            pass
        time.sleep(0.05)
    return 1


def inject_string_quantity(sb, wport):
    """One storefront event whose line quantity is a string, signed like Clarity's webhooks
    and posted straight to the sync's receiver (Clarity's own API refuses such an order, so
    this is how a misbehaving storefront plug-in would send one).  Built from a real order."""
    orders = sb.clarity_orders()
    if not orders:
        return None
    o = dict(orders[max(orders)])
    o["ID"] = INJECTED_ID
    items = [dict(i) for i in (o.get("SalesItems") or [])]
    if not items:
        return None
    for it in items:
        it["MasterID"] = INJECTED_ID
    items[-1]["Quantity"] = "two"
    o["SalesItems"] = items
    body = json.dumps({"EventType": "SalesOrder.Created", "EventID": "evt_demo_string_quantity",
                       "Entity": o}).encode()
    import hashlib
    import hmac
    ts = str(int(time.time()))
    mac = hmac.new(sblib.WEBHOOK_SECRET.encode(), (ts + ".").encode() + body, hashlib.sha256).hexdigest()
    st, _, _ = sblib.request(wport, "POST", "/webhook", body,
                             {"X-Clarity-Signature": "sha256=" + mac, "X-Clarity-Timestamp": ts,
                              "X-Clarity-Event": "SalesOrder.Created",
                              "X-Clarity-Event-ID": "evt_demo_string_quantity"})
    return st


def progress_line(t, st, c):
    created = st.get("created", 0) if st else 0
    if c is None:
        return "[%3ds] storefront orders %d | sync store not readable yet" % (t, created)
    return ("[%3ds] storefront orders %4d | sync: received %4d  delivered %4d  dead-lettered %3d"
            "  in flight %3d" % (t, created, c["received"], c["delivered"], c["dead"], c["in_flight"]))


def cmd_drive(args):
    wd, d, c, w, seconds = args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4])
    sb = sblib.Sandbox(d, c)
    store = sblib.Store(os.path.join(wd, "sync.db"))
    tty = sys.stdout.isatty()
    window = max(5.0, seconds * 0.75)
    good = max(40, 5 * seconds)
    bad = {"string_quantity": 2, "missing_account": 2, "over_limit": 3}
    spec = {"count": good, "rate_per_s": round((good + sum(bad.values())) / window, 2), "seed": 2026,
            "bad": bad, "wait": False}
    print("demo: storefront traffic: %d good orders + bad ones %s over ~%ds (seed %d); "
          "the sync runs for %ds" % (good, json.dumps(bad), int(window), spec["seed"], seconds))
    sys.stdout.flush()
    t0 = time.time()
    sb.traffic(spec)
    injected = None
    every = 1.0 if tty else (3.0 if seconds < 30 else 5.0)
    last = 0.0
    drain = float(os.environ.get("DEMO_DRAIN_SECONDS", "90"))

    def show(final=False):
        st = sb.traffic_status()
        cnt = store.counts(FLOW)
        line = progress_line(int(time.time() - t0), st, cnt)
        if tty:
            sys.stdout.write("\r" + line + ("\n" if final else ""))
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return st, cnt

    while True:
        now = time.time() - t0
        if injected is None and now >= window / 3:
            injected = inject_string_quantity(sb, w)
        if now - last >= every or last == 0:
            last = now if last else 0.001
            st, cnt = show()
        if now >= seconds:
            break
        time.sleep(0.2)
    # drain: the storefront is done; wait until the sync has received and worked everything
    # (the payments too, when the demo journals them: every paid order polled and worked)
    with open(os.path.join(wd, "sync.json")) as f:
        paying = (json.load(f).get("flows", {}).get(PAY_FLOW) or {}).get("enabled")
    end = time.time() + drain
    while True:
        st, cnt = sb.traffic_status(), store.counts(FLOW)
        want = (st.get("created", 0) if st else 0) + (1 if injected == 200 else 0)
        pc = store.counts(PAY_FLOW) if paying else None
        paid_done = not paying or (pc and st and pc["in_flight"] == 0 and pc["received"] >= st.get("paid", 0))
        if st and not st.get("running") and cnt and cnt["in_flight"] == 0 and cnt["received"] >= want and \
                paid_done:
            break
        if time.time() > end:
            print("\ndemo: drain time (%ds) is up with work left" % drain)
            break
        if time.time() - t0 - last >= every:
            last = time.time() - t0
            show()
        time.sleep(0.3)
    if tty or time.time() - t0 - last > 0.5:
        show(final=True)
    with open(os.path.join(wd, "drive.json"), "w") as f:
        json.dump({"traffic": sb.traffic_status(), "injected_status": injected,
                   "injected_id": INJECTED_ID, "started": t0, "seconds": time.time() - t0}, f)
    return 0


def classify(reason, detail):
    if "expected number, got string" in detail:
        return "string for a number (validation, exact JSON path, never sent)"
    if "AccountKey" in detail and "required" in detail:
        return "missing customer account (validation: $.AccountKey required, never sent)"
    if "Credit limit" in detail:
        return "credit limit exceeded (refused by F&O with its message, not retried)"
    if "does not exist" in detail and "item" in detail.lower():
        return "unknown item (refused by F&O, not retried)"
    return reason


def dead_letter_details(logpath):
    """{Clarity order id: (reason, detail)} from the sync log's dead_lettered events of the order
    flow (a payment of the same order dead-lettered by PaymentsToJournal is another record)."""
    out = {}
    pat = re.compile(r'event=dead_lettered flow=%s .*?source=(\S+).*?reason="((?:[^"\\]|\\.)*)"' % FLOW +
                     r'(?: detail="((?:[^"\\]|\\.)*)")?')
    try:
        with open(logpath, errors="replace") as f:
            for line in f:
                m = pat.search(line)
                if m:
                    i = sblib.source_id(m.group(1))
                    if i is not None:
                        out[i] = (m.group(2), (m.group(3) or "").replace('\\"', '"'))
    except OSError:
        pass
    return out


def cmd_summary(args):
    wd, d, c = args[0], int(args[1]), int(args[2])
    sync = os.environ.get("SYNC_BIN", "build/sync")
    config = os.path.join(wd, "sync.json")
    env = sync_env()
    sb = sblib.Sandbox(d, c)
    with open(os.path.join(wd, "drive.json")) as f:
        drive = json.load(f)
    # API calls first: the summary's own reads below must not be counted
    fo_all, fo_by = sblib.fo_calls(sb.stats())
    # the order flow's calls: $batch, sales order probes, tokens (other flows, when this binary
    # has them, read other entity sets and are listed but not charged to orders; the payment
    # journals travel in $batch requests too, and are charged to their orders)
    fo_total = sum(v for k, v in fo_by.items() if "$batch" in k or "SalesOrder" in k or "oauth2" in k)
    cl_stats = sb.stats(clarity=True)
    cl_total = sblib.fo_calls(cl_stats)[0] if cl_stats else None
    store = sblib.Store(os.path.join(wd, "sync.db"))
    cnt = store.counts(FLOW) or {"received": 0, "delivered": 0, "dead": 0, "in_flight": 0}
    dlq = sblib.sync_dlq(sync, config, env)
    details = dead_letter_details(os.path.join(wd, "sync.log"))
    flows = sblib.sync_flows(sync, config, env)
    tr = drive["traffic"]
    P = print
    P("")
    P("================================ demo summary ================================")
    refused = tr["by_kind"]["string_quantity"]["rejected"]
    P("storefront: %d orders placed in Clarity (%d good, %d missing account, %d over credit limit); "
      "%d refused at checkout by Clarity's API (string quantity, never became orders)"
      % (tr["created"], tr["by_kind"]["good"]["created"], tr["by_kind"]["missing_account"]["created"],
         tr["by_kind"]["over_limit"]["created"], refused))
    if drive.get("injected_status") == 200:
        P("            + 1 signed webhook event with a string quantity sent straight to the sync "
          "(order id %d, not in Clarity)" % drive["injected_id"])
    P("orders received:      %d   (distinct orders in the sync's inbox, by webhook and/or poll)"
      % cnt["received"])
    P("orders delivered:     %d   (in F&O: SalesOrderHeadersV2 + SalesOrderLines, one changeset each)"
      % cnt["delivered"])
    P("orders dead-lettered: %d" % cnt["dead"])
    groups = {}
    for dl in dlq:
        if dl["flow"] != FLOW:
            continue
        i = sblib.source_id(dl["source"])
        reason, detail = details.get(i, (dl["reason"], ""))
        g = classify(dl["reason"], detail)
        groups.setdefault(g, []).append((i, detail or dl["reason"]))
    for g, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        P("    %4d  %s" % (len(items), g))
        if g.startswith("credit limit"):
            P("          (%d generated over the limit on purpose; the others are ordinary baskets above "
              "the seed customers' credit limits)" % tr["by_kind"]["over_limit"]["created"])
        P("          e.g. order %s: %s" % (items[0][0], items[0][1][:220]))
    if cnt["in_flight"]:
        P("still in flight:      %d records (in the sync's inbox, not lost)" % cnt["in_flight"])
    ok_rec = cnt["delivered"] + cnt["dead"] == cnt["received"]
    P("check: delivered + dead-lettered = received: %d + %d = %d  %s"
      % (cnt["delivered"], cnt["dead"], cnt["delivered"] + cnt["dead"], "OK" if ok_rec else "MISMATCH"))
    # products and SKUs
    not_run = {}
    if os.path.exists(os.path.join(wd, "not_run.json")):
        with open(os.path.join(wd, "not_run.json")) as f:
            not_run = json.load(f)
    for name, what in PRODUCT_FLOWS:
        if name in not_run:
            P("%s: not synced yet - the sync binary has the flow %s, but refused to run it: \"%s\""
              % (what, name, not_run[name]))
        elif name in flows and flows[name].get("enabled"):
            f = flows[name]
            c = store.counts(name) or {}
            P("%s synced: %s distinct, %s records in all (flow %s: done %s, dead-lettered %s)"
              % (what, c.get("delivered", "?"), f.get("done", "?"), name, f.get("done", "?"),
                 f.get("dead", "?")))
        else:
            P("%s: not synced yet - this sync binary has no %s flow that runs (flows it knows: %s)"
              % (what, name, ", ".join(sorted(flows)) or "none"))
    # payments: one F&O payment journal WEBPAY-<order> per order paid at checkout
    orders = sb.clarity_orders()
    if PAY_FLOW in not_run:
        P("payments: not journaled - the sync binary refused to run %s: \"%s\"" % (PAY_FLOW, not_run[PAY_FLOW]))
    elif PAY_FLOW in flows and flows[PAY_FLOW].get("enabled"):
        paid = sum(1 for o in orders.values() if o.get("SalesOrderPayments"))
        heads_j = [h for h in sb.all_rows("/data/CustomerPaymentJournalHeaders?$select=JournalBatchNumber")
                   if h["JournalBatchNumber"].startswith("WEBPAY-")]
        lines_j = [ln for ln in sb.all_rows("/data/CustomerPaymentJournalLines?$select=JournalBatchNumber,"
                                            "CreditAmount") if ln["JournalBatchNumber"].startswith("WEBPAY-")]
        credited = sum((Decimal(str(ln["CreditAmount"])) for ln in lines_j), Decimal(0))
        pc = store.counts(PAY_FLOW) or {"dead": 0}
        P("payments journaled:   %d of %d orders paid at checkout: %d F&O journals WEBPAY-<order>, %d lines, "
          "%s credited in all (flow %s: done %s, dead-lettered %d: the guest orders' payments name no "
          "customer account)" % (len(heads_j), paid, len(heads_j), len(lines_j), credited, PAY_FLOW,
                                 flows[PAY_FLOW].get("done", "?"), pc["dead"]))
    # API calls
    delivered = cnt["delivered"]
    P("F&O API calls: %d in all (%d for orders and their payment journals) = %s"
      % (fo_all, fo_total, ", ".join("%d %s" % (v, k) for k, v in sorted(fo_by.items(), key=lambda kv: -kv[1]))))
    dat = store.delivered_at(FLOW)
    if delivered:
        naive = [1 + len(sblib.expected_lines(orders[i])) for i in dat if i in orders]
        P("API calls per order:  %.3f F&O calls per delivered order (%d / %d, payment journals included); "
          "one request per header and per line would be %.2f" % (fo_total / delivered, fo_total, delivered,
                                                               sum(naive) / max(len(naive), 1)))
        P("    (orders arriving one by one travel mostly one $batch each, sent at once; when orders "
          "queue up many share a $batch of up to 100 operations: `make bench` shows ~0.1 call per order)")
    if cl_total is not None:
        P("Clarity API calls by the sync: %d (session, polls)" % cl_total)
    # latency
    rat = store.received_at(FLOW)
    lat, rlat = [], []
    for oid, at in dat.items():
        o = orders.get(oid)
        if o and o.get("CreatedDate"):
            lat.append(at - sblib.iso_ms(o["CreatedDate"]))
            if oid in rat:
                rlat.append(at - rat[oid])
    if lat:
        P("order latency (ms): p50 %d  p95 %d  max %d  over %d delivered orders"
          % (sblib.percentile(lat, 50), sblib.percentile(lat, 95), max(lat), len(lat)))
        P("    definition: Clarity's CreatedDate of the order (stored, webhook queued) -> the sync's "
          "audit row 'delivered', written right after F&O answered 2xx to the $batch changeset "
          "(header + lines exist from then on); both on this machine's clock")
        P("    of which in the sync (inbox commit -> delivered): p50 %d  p95 %d"
          % (sblib.percentile(rlat, 50), sblib.percentile(rlat, 95)))
    # reconciliation
    heads, lines = sb.sales_orders("WEB-")
    dead_ids = {sblib.source_id(dl["source"]) for dl in dlq if dl["flow"] == FLOW}
    states = store.sources(FLOW)
    problems = {"lost": [], "duplicated": [], "wrong lines": [], "dead but in F&O": [],
                "in F&O but not in Clarity": [], "in flight": [], "injected not dead-lettered": []}
    for oid, o in sorted(orders.items()):
        son = "WEB-%d" % oid
        n = heads.get(son, 0)
        if n > 1:
            problems["duplicated"].append(son)
        elif n == 1:
            if oid in dead_ids:
                problems["dead but in F&O"].append(son)
            elif sblib.expected_lines(o) != sblib.landed_lines(lines.get(son, [])):
                problems["wrong lines"].append(son)
        elif oid not in dead_ids:
            if states.get(oid, set()) & {"pending", "leased"}:
                problems["in flight"].append(son)
            else:
                problems["lost"].append(son)
    for son in heads:
        try:
            if int(son[4:]) not in orders:
                problems["in F&O but not in Clarity"].append(son)
        except ValueError:
            pass
    if drive.get("injected_status") == 200 and drive["injected_id"] not in dead_ids:
        problems["injected not dead-lettered"].append(str(drive["injected_id"]))
    bad = {k: v for k, v in problems.items() if v}
    in_fo = sum(1 for oid in orders if heads.get("WEB-%d" % oid) == 1)
    in_dlq = sum(1 for oid in orders if oid in dead_ids)
    P("reconciliation: %d orders in Clarity: %d in F&O exactly once (lines checked), %d in the DLQ "
      "with a reason; %d mismatches -> %s"
      % (len(orders), in_fo, in_dlq, sum(len(v) for v in bad.values()), "OK" if not bad else "FAILED"))
    for k, v in bad.items():
        P("    %s: %d: %s" % (k, len(v), " ".join(v[:20])))
    P("==============================================================================")
    sys.stdout.flush()
    return 0 if not bad and ok_rec else 1


def main():
    cmds = {"ports": cmd_ports, "wait-sandbox": cmd_wait_sandbox, "config": cmd_config,
            "wait-sync": cmd_wait_sync, "disable-flow": cmd_disable_flow, "drive": cmd_drive, "summary": cmd_summary}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write("usage: demo.py %s ...\n" % "|".join(cmds))
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
