"""e2e.py - the sync binary end to end against build/sandbox over real sockets (TAP).

Order to cash: the sandbox's storefront traffic generator places orders in Clarity; `sync
once OrderToCash` (poll) and `sync run` (webhooks + polls) bring them to F&O; the checks read
F&O back (every order exactly once with the right lines) and /_sandbox/stats (API calls).
The seed error cases are shown with what the operator sees (log lines, sync status, sync dlq):
a string for a numeric field, a missing account, a rate limit, an authentication failure,
a credit limit exceeded."""
import json
import re
import os
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sandbox, Sync, check_orders, clarity_products, done, order_ids_of, request, sign, tap,  # noqa: E402
                     wait_for, workdir, SYNC, CLARITY_ROOT)
from stock import stock_group_tests  # noqa: E402
from lifecycle import handoff_tests, payments_tests, void_tests  # noqa: E402
from c360 import c360_tests  # noqa: E402
from metrics import metrics_tests  # noqa: E402


def cli_tests(wd, sb):
    s = Sync(wd, sb)
    for cmd in (["--help"], ["run", "--help"], ["once", "--help"], ["status", "--help"],
                ["dlq", "--help"], ["preview", "--help"]):
        rc, out, err = s.cmd(*cmd)
        tap(rc == 0 and "usage: sync" in out, "sync %s exits 0 with a usage text" % " ".join(cmd),
            out + err)
    rc, out, err = s.cmd("frobnicate")
    tap(rc == 2 and "unknown command" in err, "an unknown command is a usage error (exit 2)", err)
    # preview: the maps built in
    order = {"ID": 42, "AccountKey": "US-001", "CreatedDate": "2026-07-30T10:00:00Z",
             "SalesItems": [{"MasterID": 42, "Sku": "A-1", "Quantity": 2, "UnitSoldPrice": 10.5},
                            {"MasterID": 42, "Sku": "A-1", "Quantity": 1, "UnitSoldPrice": 10.5}]}
    rc, out, err = s.cmd("preview", "OrderToCash", stdin=json.dumps(order).encode())
    try:
        j = json.loads(out)
        ok = rc == 0 and j["SalesOrderHeadersV2"]["SalesOrderNumber"] == "WEB-42" and \
            len(j["SalesOrderLines"]) == 1 and str(j["SalesOrderLines"][0]["OrderedSalesQuantity"]) == "3"
    except (ValueError, KeyError, IndexError):
        ok = False
    tap(ok, "sync preview OrderToCash maps an order (lines with the same SKU and price merged)", out + err)
    order["SalesItems"][1]["Quantity"] = "two"
    rc, out, err = s.cmd("preview", "OrderToCash", stdin=json.dumps(order).encode())
    tap(rc == 1 and "$.SalesItems[1].Quantity: expected number, got string" in err,
        "sync preview reports a string for a number with its exact path (exit 1)", err)
    rc, out, err = s.cmd("preview", "NoSuchMap", stdin=b"{}")
    tap(rc == 2 and "no map called" in err, "sync preview of an unknown map is exit 2", err)
    # configuration: secrets by reference only, secret files private
    s.cfg["d365"]["client_secret"] = "sync-secret"
    s.write_config()
    rc, out, err = s.cmd("status")
    tap(rc == 2 and "d365.client_secret" in err and "reference" in err,
        "a secret written in the config file is refused, naming the setting", err)
    sec = os.path.join(wd, "d365.secret")
    with open(sec, "w") as f:
        f.write("sync-secret\n")
    os.chmod(sec, 0o644)
    s.cfg["d365"]["client_secret"] = "file:" + sec
    s.cfg["flows"]["OrderToCash"]["poll"] = False
    s.write_config()
    rc, out, err = s.cmd("once", "OrderToCash")
    tap(rc == 2 and "d365.client_secret" in err and "readable by group or others" in err,
        "a world-readable secret file is refused at start (exit 2, naming the setting)", err[-1500:])
    os.chmod(sec, 0o600)
    rc, out, err = s.cmd("once", "OrderToCash")
    tap(rc == 0, "the same file with mode 600 is accepted", err[-1500:])
    rc, out, err = s.cmd("status", "--profile", "nope")
    tap(rc == 2 and "profiles.nope" in err, "an unknown profile is a configuration error", err)
    s.cfg["profiles"]["qa"] = {"store": os.path.join(wd, "qa.db"), "workers": {"count": 3}}
    s.write_config()
    rc, out, err = s.cmd("status", "--profile", "qa")
    rc2, out2, err2 = s.cmd("status")
    tap(rc == 0 and "store: %s" % os.path.join(wd, "qa.db") in out and "profile: qa" in out and
        "profile: test" in out2 and "qa.db" not in out2,
        "profiles: --profile qa is merged over the top level (its store), the file's profile otherwise",
        out + out2 + err + err2)
    with open(os.path.join(wd, "broken.json"), "w") as f:
        f.write('{"d365": {"url": "x",}\n')
    r = subprocess.run([SYNC, "status", "--config", os.path.join(wd, "broken.json")], capture_output=True)
    tap(r.returncode == 2 and b"broken.json:1:" in r.stderr, "a malformed config file is reported with line:column",
        r.stderr)
    rc, out, err = s.cmd("once", "NoSuchFlow")
    tap(rc == 2 and "no enabled flow" in err, "sync once of an unknown flow is exit 2", err)
    # the flows built in are mapc's descriptors (generated/mapc_flows.h): the enabled ones
    # listed, the engine runs each of them (customer 360 included), their maps previewable
    rc, out, err = s.cmd("status")
    tap("flow OrderToCash: enabled" in out and "flow ProductsToClarity" not in out and
        out.count("\nflow ") == 1,
        "sync status lists the enabled flow (OrderToCash), not the other 10 built in", out + err)
    s.cfg["flows"]["CustomersToD365"] = {"enabled": True}
    s.write_config()
    rc, out, err = s.cmd("status")
    tap(rc == 0 and "flow CustomersToD365: enabled" in out and "does not run it yet" not in err,
        "a configuration enabling a Clarity -> F&O upsert (CustomersToD365, customer 360) is accepted "
        "and listed by sync status", out + err[-1500:])
    del s.cfg["flows"]["CustomersToD365"]
    s.write_config()
    product = {"dataAreaId": "usmf", "ItemNumber": "A-1", "SearchName": "ANVIL", "SalesPrice": 12.5}
    rc, out, err = s.cmd("preview", "ProductsToClarity", stdin=json.dumps(product).encode())
    try:
        j = json.loads(out)["Products"]
        ok = rc == 0 and j["CustomKey"] == "A-1" and j["Name"] == "ANVIL" and j["PriceBase"] == 12.5
    except (ValueError, KeyError, TypeError):
        ok = False
    tap(ok, "sync preview ProductsToClarity runs the generated flow from the registry", out + err)
    # a cron "schedule" per flow: a bad expression is a configuration error with its position;
    # a good one replaces the interval poll (one pass at each fire time, UTC)
    s.cfg["flows"]["OrderToCash"]["poll"] = True
    s.cfg["profiles"]["test"]["flows"]["OrderToCash"]["schedule"] = "0 24 * * *"
    s.write_config()
    rc, out, err = s.cmd("status")
    tap(rc == 2 and "flows.OrderToCash.schedule: cron: position 3: hour 24 out of range 0-23" in err,
        "a bad cron schedule is refused at start with the setting and the position (exit 2)", err)
    s.cfg["profiles"]["test"]["flows"]["OrderToCash"]["schedule"] = "0 0 1 jan *"
    s.write_config()
    s.start()
    time.sleep(1.5)
    log = s.log()
    rc = s.stop()
    year = time.gmtime().tm_year + 1
    tap(rc == 0 and 'event=flow_started flow=OrderToCash poll_every_ms=0 schedule="0 0 1 jan *"' in log and
        "event=schedule_next flow=OrderToCash" in log and "at=%d-01-01T00:00:00.000Z" % year in log and
        "event=poll " not in log,
        "sync run with a cron schedule: next pass at the next 1 January 00:00 UTC, no interval poll",
        log[-3000:])
    del s.cfg["profiles"]["test"]["flows"]["OrderToCash"]["schedule"]
    s.write_config()


def once_tests(wd, sb):
    """Poll intake with sync once: good orders and the seed error cases."""
    s = Sync(wd, sb)
    sb.traffic({"count": 24, "rate_per_s": 0, "seed": 11,
                "bad": {"string_quantity": 1, "missing_account": 1, "over_limit": 1, "unknown_sku": 1}})
    st = sb.traffic_status()
    ids = order_ids_of(sb)
    tap(st["by_kind"]["string_quantity"]["rejected"] == 1 and len(ids) == 27,
        "traffic: 27 orders stored in Clarity (Clarity itself refuses the string quantity)", st)
    calls0 = sb.calls("/data/$batch", "POST")
    rc, out, err = s.cmd("once", "OrderToCash", "--drain", "--timeout", "120")
    tap(rc == 0 and "event=once_done" in err, "sync once OrderToCash --drain completes (exit 0)", err[-3000:])
    dead = s.dlq()
    sid = sb.clarity_session()
    by_son = {}
    for d in dead:
        by_son[int(d["source"].split(":")[-1])] = d
    missing_acct = [i for i in ids if not sb.clarity_order(i, sid).get("AccountKey")]
    ok = len(missing_acct) == 1 and missing_acct[0] in by_son and \
        by_son[missing_acct[0]]["reason"].startswith("validation")
    show = s.dlq_show(by_son[missing_acct[0]]["id"]) if ok else ""
    tap(ok and "AccountKey" in show and "required" in show.lower(),
        "missing account: dead-lettered as a validation error naming AccountKey (sync dlq show)",
        json.dumps(dead, indent=1) + show)
    credit = [d for d in dead if "Credit limit" in s.dlq_show(d["id"])]
    tap(len(credit) >= 1 and all(d["attempts"] == 1 and d["reason"].startswith("business rule")
                                 for d in credit),
        "credit limit exceeded: dead-lettered with F&O's message after one attempt (not retried)",
        json.dumps(dead, indent=1))
    unknown_item = [d for d in dead if d not in credit and d["reason"].startswith("business rule")]
    tap(len(unknown_item) == 1, "unknown item: dead-lettered with F&O's refusal", json.dumps(dead, indent=1))
    ok, detail = check_orders(sb, ids, allow_dead=set(by_son))
    tap(ok, "every other order is in F&O exactly once with its lines; dead letters are absent", detail)
    batches = sb.calls("/data/$batch", "POST") - calls0
    delivered = len(ids) - len(dead)
    tap(batches <= 3, "%d orders with their lines took %d $batch calls (plus %d probes of refused creates)"
        % (delivered, batches, sb.calls("/data/SalesOrderHeadersV2(key)", "GET")), batches)
    # a second pass finds nothing new: no call at all to F&O
    total0 = sb.stats()["total"]
    rc, out, err = s.cmd("once", "OrderToCash")
    tap(rc == 0 and sb.stats()["total"] == total0, "a second pass re-polls the overlap and sends nothing",
        err[-2000:])
    rc, out, err = s.cmd("status")
    tap(rc == 1 and "dead: %d" % len(dead) in out and "checkpoint: 20" in out and "paused: no" in out,
        "sync status shows the dead letters, the checkpoint, not paused (exit 1: dead letters)", out)
    # replay: the missing-account order fails the same way again; drop removes it
    dl = by_son[missing_acct[0]]
    rc, out, err = s.cmd("dlq", "replay", str(dl["id"]))
    rc2, out2, err2 = s.cmd("once", "OrderToCash", "--no-poll")
    again = [d for d in s.dlq() if d["id"] == dl["id"]]
    tap(rc == 0 and "replayed" in out and len(again) == 1 and again[0]["attempts"] == 1,
        "sync dlq replay: the record is worked again (and dead-lettered again, one attempt)", out + err2[-1500:])
    rc, out, err = s.cmd("dlq", "drop", str(dl["id"]))
    tap(rc == 0 and all(d["id"] != dl["id"] for d in s.dlq()), "sync dlq drop removes it", out + err)
    rc, out, err = s.cmd("dlq", "show", "999999")
    tap(rc == 1, "sync dlq show of an unknown id is exit 1", out + err)
    before = s.dlq()
    batches0 = sb.calls("/data/$batch", "POST")
    rc, out, err = s.cmd("dlq", "replay", "all")
    rc2, out2, err2 = s.cmd("once", "OrderToCash", "--no-poll")
    after = s.dlq()
    tap(rc == 0 and "replayed %d of %d" % (len(before), len(before)) in out and
        sorted(d["id"] for d in after) == sorted(d["id"] for d in before) and
        all(d["attempts"] == 1 for d in after) and sb.calls("/data/$batch", "POST") > batches0,
        "sync dlq replay all: every dead letter is sent again and, still refused by F&O, dead-lettered again",
        out + json.dumps(after) + err2[-1500:])
    return s


def webhook_tests(wd, sb):
    """sync run: webhooks (signed by the sandbox), string-for-number, skip-unchanged,
    rate limit, graceful stop."""
    s = Sync(wd, sb)
    s.cfg["flows"]["OrderToCash"]["poll"] = False
    s.write_config()
    s.start()
    sb.webhooks({"url": "http://127.0.0.1:%d/webhook" % s.webhook_port, "secret": "sandbox-webhook-secret"})
    ids0 = set()
    sb.traffic({"count": 10, "rate_per_s": 0, "seed": 21})
    ids = order_ids_of(sb)
    ok = wait_for(lambda: s.counts().get("done", 0) + s.counts().get("dead", 0) >= len(ids), 60)
    dead = {int(d["source"].split(":")[-1]) for d in s.dlq()}
    good, detail = check_orders(sb, ids, allow_dead=dead)
    tap(ok and good and "event=webhook" in s.log(),
        "webhooks: %d orders delivered exactly once with their lines (%d dead-lettered by F&O rules)"
        % (len(ids) - len(dead), len(dead)), detail + s.log()[-2000:])
    ids0 |= set(ids)
    # a string for a numeric field, sent as a signed webhook straight to the receiver
    body = json.dumps({"EventType": "SalesOrder.Created", "EventID": "evt_e2e_string_qty",
                       "Entity": {"ID": 990001, "AccountKey": "US-001", "CreatedDate": "2026-07-30T10:00:00Z",
                                  "SalesItems": [{"MasterID": 990001, "Sku": "X", "Quantity": 1},
                                                 {"MasterID": 990001, "Sku": "Y", "Quantity": "two"}]}}).encode()
    ts, sig = sign(body)
    st, j, raw = request(s.webhook_port, "POST", "/webhook", body,
                         {"X-Clarity-Signature": sig, "X-Clarity-Timestamp": ts,
                          "X-Clarity-Event": "SalesOrder.Created", "X-Clarity-Event-ID": "evt_e2e_string_qty"})
    got = wait_for(lambda: [d for d in s.dlq() if d["source"].endswith(":990001")], 20)
    show = s.dlq_show(got[0]["id"]) if got else ""
    tap(st == 200 and got and "$.SalesItems[1].Quantity: expected number, got string \"two\"" in show and
        "level=error event=dead_lettered" in s.log(),
        "string for a numeric field: accepted (2xx after commit), dead-lettered with the exact path",
        show + s.log()[-1500:])
    st2, _, _ = request(s.webhook_port, "POST", "/webhook", body,
                        {"X-Clarity-Signature": "sha256=" + "0" * 64, "X-Clarity-Timestamp": ts,
                         "X-Clarity-Event": "SalesOrder.Created", "X-Clarity-Event-ID": "evt_forged"})
    tap(st2 == 401, "a forged webhook is refused (401) and nothing is enqueued", st2)
    # skip-unchanged: the same orders again through polling cost no F&O call
    batches0 = sb.calls("/data/$batch", "POST")
    s.cfg["flows"]["OrderToCash"]["poll"] = True
    s.write_config()
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "event=reloaded" in s.log() and "event=poll " in s.log(), 20)
    skipped = wait_for(lambda: s.log().count("event=skipped") >= len(ids) - len(dead), 20)
    tap(skipped and sb.calls("/data/$batch", "POST") == batches0,
        "SIGHUP reloads (polling on); re-polled orders are skipped as unchanged with no F&O call",
        s.log()[-2500:])
    # rate limit: retried, delivered
    sb.faults({"rate_limit": 3, "rate_burst": 1, "retry_after": 1})
    sb.traffic({"count": 12, "rate_per_s": 0, "seed": 22})
    ids = [i for i in order_ids_of(sb)]
    def settled():
        # every order of this run delivered or dead-lettered by the sync (from its log: reading
        # F&O here would spend the throttled budget), not just enough records counted: records
        # re-polled earlier also count as done, so the counts alone can be reached while the
        # throttled orders still wait for their Retry-After
        log = s.log()
        return sb.calls(status=429) > 0 and all(
            re.search(r"event=(delivered|dead_lettered) flow=OrderToCash .*source=SalesOrder\.Created:%d(\s|$)"
                      % i, log) for i in ids)
    ok = wait_for(settled, 90)
    n429 = sb.calls(status=429)
    sb.clear_faults()
    dead = {int(d["source"].split(":")[-1]) for d in s.dlq()}
    good, detail = check_orders(sb, sorted(ids0 | set(ids)), allow_dead=dead)
    tap(ok and good and n429 > 0 and "event=throttled" in s.log() and
        not any(d["reason"].startswith("retries exhausted") for d in s.dlq()),
        "rate limit: %d answers 429, every order retried and delivered exactly once" % n429,
        detail + s.log()[-2500:])
    rc = s.stop()
    tap(rc == 0 and "event=stopped" in s.log(), "SIGTERM: sync run stops gracefully (exit 0)", s.log()[-1500:])


def auth_tests(wd, sb):
    """Authentication failure: the flow pauses with an alert, nothing is lost or dead-lettered,
    and it resumes by itself once the secret file is fixed."""
    s = Sync(wd, sb)
    sec = os.path.join(wd, "d365.secret")
    with open(sec, "w") as f:
        f.write("wrong-secret\n")
    os.chmod(sec, stat.S_IRUSR | stat.S_IWUSR)
    s.cfg["d365"]["client_secret"] = "file:" + sec
    s.write_config()
    sb.traffic({"count": 6, "rate_per_s": 0, "seed": 31})
    ids = order_ids_of(sb)
    s.start()
    paused = wait_for(lambda: "level=alert event=flow_paused flow=OrderToCash" in s.log(), 30)
    rc, out, err = s.cmd("status")
    c = s.counts()
    tap(paused and "paused: since" in out and rc == 1 and c.get("dead", 0) == 0 and
        c.get("pending", 0) + c.get("leased", 0) >= len(ids) and "wrong-secret" not in s.log(),
        "auth failure: flow paused with an alert (status shows it), records kept, secret not logged",
        out + s.log()[-2000:])
    with open(sec, "w") as f:
        f.write("sync-secret\n")
    ok = wait_for(lambda: s.counts().get("pending", 1) == 0 and s.counts().get("leased", 1) == 0, 60)
    dead = {int(d["source"].split(":")[-1]) for d in s.dlq()}
    good, detail = check_orders(sb, ids, allow_dead=dead)
    tap(ok and good and "event=flow_resumed" in s.log() and
        not any("retries exhausted" in d["reason"] for d in s.dlq()),
        "after the secret file is fixed the flow resumes and every order lands once", detail + s.log()[-2000:])
    rc, out, err = s.cmd("status")
    tap("paused: no" in out, "sync status: not paused any more", out)
    s.stop()


def intake_tests(wd, sb):
    """The receiver refuses unsigned, replayed and oversized webhooks without enqueueing; a
    token that expires or is revoked mid-run is replaced transparently; SIGTERM with requests
    in flight settles or releases every record and a restart finishes the work."""
    s = Sync(wd, sb)
    s.cfg["flows"]["OrderToCash"]["poll"] = False
    s.cfg["webhook"]["max_body"] = 262144
    s.write_config()
    s.start()

    def hook(body, ts=None, sig=None, eid="evt_x"):
        t, good = sign(body, ts)
        h = {"X-Clarity-Timestamp": t, "X-Clarity-Event": "SalesOrder.Created", "X-Clarity-Event-ID": eid}
        if sig != "none":
            h["X-Clarity-Signature"] = sig or good
        return request(s.webhook_port, "POST", "/webhook", body, h)[0]

    body = json.dumps({"EventType": "SalesOrder.Created", "EventID": "evt_x", "Entity": {"ID": 1}}).encode()
    st_unsigned = hook(body, sig="none")
    st_replay = hook(body, ts=int(time.time()) - 3600)
    big = json.dumps({"EventType": "SalesOrder.Created", "EventID": "evt_big",
                      "Entity": {"ID": 2, "Pad": "x" * 300000}}).encode()
    st_big = hook(big, eid="evt_big")
    c = s.counts()
    tap(st_unsigned == 401 and st_replay == 401 and st_big == 413 and
        sum(c.get(k, 0) for k in ("pending", "leased", "done", "dead")) == 0,
        "unsigned (401), replayed (401) and oversized (413) webhooks are refused, nothing enqueued",
        (st_unsigned, st_replay, st_big, c))
    sb.webhooks({"url": "http://127.0.0.1:%d/webhook" % s.webhook_port, "secret": "sandbox-webhook-secret"})
    sb.traffic({"count": 5, "rate_per_s": 0, "seed": 41})
    first = set(order_ids_of(sb))
    wait_for(lambda: s.counts().get("done", 0) + s.counts().get("dead", 0) >= len(first), 30)
    tokens0 = sb.calls("/{tenant}/oauth2/v2.0/token", "POST", 200)
    request(sb.port, "POST", "/_sandbox/expire")
    sb.traffic({"count": 5, "rate_per_s": 0, "seed": 42})
    second = set(order_ids_of(sb))
    wait_for(lambda: s.counts().get("done", 0) + s.counts().get("dead", 0) >= len(first | second), 30)
    request(sb.port, "POST", "/_sandbox/revoke")
    sb.traffic({"count": 5, "rate_per_s": 0, "seed": 43})
    third = set(order_ids_of(sb))
    ok = wait_for(lambda: s.counts().get("done", 0) + s.counts().get("dead", 0) >= len(first | second | third), 30)
    tokens = sb.calls("/{tenant}/oauth2/v2.0/token", "POST", 200) - tokens0
    dead = {int(d["source"].split(":")[-1]) for d in s.dlq()}
    good, detail = check_orders(sb, sorted(first | second | third), allow_dead=dead)
    tap(ok and good and tokens >= 2 and "flow_paused" not in s.log() and
        not any("retries exhausted" in d["reason"] for d in s.dlq()),
        "a token expired and then revoked mid-run is replaced (%d new tokens), no pause, every order once"
        % tokens, detail + s.log()[-2000:])
    # SIGTERM with requests in flight (F&O answering slowly)
    sb.faults({"latency_ms": 400})
    sb.traffic({"count": 30, "rate_per_s": 0, "seed": 44})
    fourth = set(order_ids_of(sb))
    wait_for(lambda: "event=gate" in s.log().split("seed=44")[-1] or s.counts().get("leased", 0) > 0, 10, 0.05)
    time.sleep(0.3)
    rc = s.stop()
    c = s.counts()
    tap(rc == 0 and c.get("leased", 1) == 0,
        "SIGTERM while requests are in flight: exit 0, no record left leased (%d done, %d pending)"
        % (c.get("done", 0), c.get("pending", 0)), (rc, c, s.log()[-2000:]))
    sb.clear_faults()
    s.start()
    everything = first | second | third | fourth
    ok = wait_for(lambda: s.counts().get("pending", 1) == 0 and s.counts().get("leased", 1) == 0 and
                  s.counts().get("done", 0) + s.counts().get("dead", 0) >= len(everything), 60)
    s.stop()
    dead = {int(d["source"].split(":")[-1]) for d in s.dlq()}
    good, detail = check_orders(sb, sorted(everything), allow_dead=dead)
    tap(ok and good, "after a restart the rest is delivered: %d orders, each exactly once" % len(everything),
        detail + s.log()[-2000:])


def clarity_writes(sb):
    """Upsert calls the Clarity side of the sandbox has answered."""
    n = 0
    for r in request(sb.cport, "GET", "/_sandbox/stats")[1].get("routes") or []:
        if r.get("method") == "POST" and "/Products/Product/Upsert" in r.get("route", ""):
            n += r["count"]
    return n


def products_tests(wd, sb):
    """F&O -> Clarity: ProductsToClarity polls ReleasedProductsV2 (full scan, nextLink paging),
    upserts by CustomKey, skips what is unchanged."""
    s = Sync(wd, sb)
    s.cfg["flows"] = {"ProductsToClarity": {"enabled": True, "poll": True, "batch_records": 200}}
    s.cfg["profiles"]["test"]["flows"] = {}
    s.write_config()
    fo = sb.all_rows("/data/ReleasedProductsV2")
    before = clarity_writes(sb)
    rc, out, err = s.cmd("once", "ProductsToClarity", "--drain", "--timeout", "120")
    cp = clarity_products(sb)
    c = s.counts()
    missing = [r["ItemNumber"] for r in fo if r["ItemNumber"] not in cp]
    w1 = clarity_writes(sb) - before
    spot = fo[len(fo) // 2] if fo else {}
    sp = cp.get(spot.get("ItemNumber"), {})
    pages = sum(1 for l in err.splitlines() if "event=http" in l and "/data/ReleasedProductsV2" in l)
    tap(pages == (len(fo) + 49) // 50 and "cross-company" not in err,
        "the poll reads ReleasedProductsV2 page by page by @odata.nextLink (%d pages of 50)" % pages, err[-2000:])
    tap(rc == 0 and fo and not missing and c.get("done") == len(fo) and w1 == len(fo) and
        sp.get("ManufacturerPartNumber") == spot.get("ItemNumber") and
        sp.get("Name") == (spot.get("SearchName") or spot.get("ItemNumber")),
        "ProductsToClarity: %d F&O products upserted into Clarity (%d Upsert calls), values as mapped"
        % (len(fo), w1), "missing=%s counts=%s spot=%s %s\n%s" % (missing[:5], c, spot, sp, err[-2000:]))
    rc, out, err = s.cmd("once", "ProductsToClarity", "--drain", "--timeout", "120")
    w2 = clarity_writes(sb) - before - w1
    tap(rc == 0 and w2 == 0, "a second pass makes 0 Clarity calls (every row unchanged: absorbed or skipped)",
        "calls=%d\n%s" % (w2, err[-2000:]))
    # one product changed in F&O -> exactly one Clarity call in the next pass
    item = fo[0]
    key = "dataAreaId='%s',ItemNumber='%s'" % (item["dataAreaId"], item["ItemNumber"])
    if not sb.token:
        sb.d365("/_sandbox/health")
    st, _, raw = request(sb.port, "PATCH", "/data/ReleasedProductsV2(%s)" % key,
                         {"SearchName": "CHANGED-" + item["ItemNumber"]},
                         {"Authorization": "Bearer " + sb.token})
    rc, out, err = s.cmd("once", "ProductsToClarity", "--drain", "--timeout", "120")
    w3 = clarity_writes(sb) - before - w1 - w2
    cp = clarity_products(sb)
    tap(st in (200, 204) and rc == 0 and w3 == 1 and
        cp.get(item["ItemNumber"], {}).get("Name") == "CHANGED-" + item["ItemNumber"],
        "one product changed in F&O (PATCH): exactly 1 Clarity call in the next pass, the new name in Clarity",
        "patch=%s %s calls=%d\n%s" % (st, raw[:200], w3, err[-2000:]))
    # a record failing validation: dead-lettered with its path
    st, _, raw = request(sb.port, "PATCH", "/data/ReleasedProductsV2(%s)" % key,
                         {"SearchName": "X" * 200}, {"Authorization": "Bearer " + sb.token})
    rc, out, err = s.cmd("once", "ProductsToClarity", "--drain", "--timeout", "120")
    dl = s.dlq()
    text = json.dumps(dl) + (s.dlq_show(dl[0]["id"]) if len(dl) == 1 else "")
    tap(st in (200, 204) and len(dl) == 1 and item["ItemNumber"] in text and
        "Product.Name: 200 characters, more than MaxLength 128" in text and w3 + w1 == clarity_writes(sb) - before,
        "a product failing validation (Name over Clarity's 128 characters) is dead-lettered with its path", "patch=%s %s dlq=%s\n%s"
        % (st, raw[:200], text[:1500], err[-1500:]))


def both_triggers_test(wd, sb):
    """ProductsToClarity's .map has `trigger poll ... every 15m` AND `trigger schedule "0 2 * * *"`:
    under `sync run` both fire (an interval poll at once, and the cron pass announced)."""
    s = Sync(wd, sb)
    s.cfg["flows"] = {"ProductsToClarity": {"enabled": True, "poll": True, "batch_records": 200}}
    s.cfg["profiles"]["test"]["flows"] = {}
    s.write_config()
    s.start()
    deadline = time.time() + 30
    while time.time() < deadline and "event=poll flow=ProductsToClarity" not in s.log():
        time.sleep(0.2)
    log = s.log()
    rc = s.stop()
    tap(rc == 0 and 'event=schedule_next flow=ProductsToClarity schedule="0 2 * * *"' in log and
        "event=poll flow=ProductsToClarity" in log,
        "sync run: a flow whose .map has both an interval poll and a cron schedule gets both "
        "(interval poll at once, cron pass at 02:00 announced)", log[-3000:])


def fo_flows_tests(wd, sb):
    """StockToClarity and CustomersToClarity: every F&O record written once (StockToClarity in
    bulk: PUT BulkUpdateInventoryForProducts, see stock.py), a second pass silent."""
    for flow, fset, method, route in (
            ("StockToClarity", "WarehousesOnHandV2", "PUT",
             "/Providers/Inventory/BulkUpdateInventoryForProducts"),
            ("CustomersToClarity", "CustomersV3", "POST", "/Accounts/Account/Upsert")):
        s = Sync(wd, sb)
        s.cfg["store"] = os.path.join(wd, flow + ".db")
        s.cfg["flows"] = {flow: {"enabled": True, "poll": True, "batch_records": 200}}
        s.cfg["profiles"]["test"]["flows"] = {}
        s.write_config()
        rows = sb.all_rows("/data/" + fset)
        # StockToClarity groups the on-hand rows by item (`group by ItemNumber`): one record each
        records = len({r["ItemNumber"] for r in rows}) if flow == "StockToClarity" else len(rows)

        def upserts():
            return sum(r["count"] for r in request(sb.cport, "GET", "/_sandbox/stats")[1].get("routes") or []
                       if r.get("method") == method and route in r.get("route", ""))
        before = upserts()
        rc, out, err = s.cmd("once", flow, "--drain", "--timeout", "120")
        c = s.counts()
        n1 = upserts() - before
        rc2, out2, err2 = s.cmd("once", flow, "--drain", "--timeout", "120")
        n2 = upserts() - before - n1
        tap(rc == 0 and rc2 == 0 and rows and c.get("done") == records and c.get("dead") == 0 and
            0 < n1 <= records and n2 == 0,
            "%s: %d F&O rows as %d records settled, %d writes (identical mapped records skipped), a "
            "second pass 0 calls" % (flow, len(rows), records, n1),
            "counts=%s n1=%d n2=%d\n%s" % (c, n1, n2, (err + err2)[-2000:]))


def fulfilment_tests(wd, sb):
    """ShipmentsToClarity, InvoicesToClarity, ReturnsToClarity on orders OrderToCash created:
    the sandbox ships, invoices and returns them in F&O, each flow upserts them into Clarity."""
    sb.traffic({"count": 6, "rate_per_s": 0, "seed": 5})
    s = Sync(wd, sb)
    rc, out, err = s.cmd("once", "OrderToCash", "--drain", "--timeout", "120")
    heads = sorted(h["SalesOrderNumber"] for h in sb.all_rows("/data/SalesOrderHeadersV2"))[:3]
    if not sb.token:
        sb.d365("/_sandbox/health")
    made = 0
    for so in heads:
        for act in ("ship", "invoice", "return"):
            st, j, raw = request(sb.port, "POST", "/_sandbox/%s?order=%s&company=usmf" % (act, so), None,
                                 {"Authorization": "Bearer " + sb.token})
            made += st == 200
    tap(rc == 0 and len(heads) == 3 and made == 9, "3 orders created by OrderToCash, shipped, invoiced and "
        "returned in F&O", "%s made=%d\n%s" % (heads, made, err[-1500:]))
    for flow, fset, route in (("ShipmentsToClarity", "PackingSlipTrackingInformation", "/Shipping/Shipment/Upsert"),
                              ("InvoicesToClarity", "SalesInvoiceHeadersV2", "/Invoicing/SalesInvoice/Upsert"),
                              ("ReturnsToClarity", "ReturnOrderHeadersV2", "/Returning/SalesReturn/Upsert")):
        s = Sync(wd, sb)
        s.cfg["store"] = os.path.join(wd, flow + ".db")
        s.cfg["flows"] = {flow: {"enabled": True, "poll": True}}
        s.cfg["profiles"]["test"]["flows"] = {}
        s.write_config()
        rows = sb.all_rows("/data/" + fset)

        def upserts():
            return sum(r["count"] for r in request(sb.cport, "GET", "/_sandbox/stats")[1].get("routes") or []
                       if r.get("method") == "POST" and route in r.get("route", ""))
        before = upserts()
        rc, out, err = s.cmd("once", flow, "--drain", "--timeout", "120")
        c = s.counts()
        n1 = upserts() - before
        rc2, out2, err2 = s.cmd("once", flow, "--drain", "--timeout", "120")
        n2 = upserts() - before - n1
        tap(rc == 0 and rc2 == 0 and len(rows) == 3 and c.get("done") == 3 and c.get("dead") == 0 and
            n1 == 3 and n2 == 0,
            "%s: the 3 F&O rows upserted into Clarity (3 calls), a second pass 0 calls" % flow,
            "rows=%d counts=%s n1=%d n2=%d\n%s" % (len(rows), c, n1, n2, (err + err2)[-2000:]))


def order_state_tests(wd, sb):
    """OrderStateToClarity: the orders OrderToCash created are shipped / shipped and invoiced in
    F&O; a pass moves each Clarity order to the state the map computes (Backorder -> Confirmed,
    Delivered -> Shipped, Invoiced -> Completed), a second pass makes no Clarity call, and an
    order invoiced later costs one GET and one PATCH."""
    sb.traffic({"count": 6, "rate_per_s": 0, "seed": 5})
    s = Sync(wd, sb)
    rc, out, err = s.cmd("once", "OrderToCash", "--drain", "--timeout", "120")
    heads = sorted(h["SalesOrderNumber"] for h in sb.all_rows("/data/SalesOrderHeadersV2")
                   if h["SalesOrderNumber"].startswith("WEB-"))
    if not sb.token:
        sb.d365("/_sandbox/health")

    def act(a, so):
        return request(sb.port, "POST", "/_sandbox/%s?order=%s&company=usmf" % (a, so), None,
                       {"Authorization": "Bearer " + sb.token})[0] == 200
    made = len(heads) >= 3 and act("ship", heads[0]) and act("ship", heads[1]) and act("invoice", heads[1])
    tap(rc == 0 and made, "orders created by OrderToCash, one shipped, one shipped and invoiced in F&O",
        "%s\n%s" % (heads, err[-1500:]))
    s = Sync(wd, sb)
    s.cfg["store"] = os.path.join(wd, "state.db")
    s.cfg["flows"] = {"OrderStateToClarity": {"enabled": True, "poll": True}}
    s.cfg["profiles"]["test"]["flows"] = {}
    s.write_config()

    def calls():
        return sum(r["count"] for r in request(sb.cport, "GET", "/_sandbox/stats")[1].get("routes") or []
                   if "/Ordering/SalesOrder/" in r.get("route", ""))

    def states():
        sid = sb.clarity_session()
        return [(sb.clarity_order(int(so[4:]), sid) or {}).get("StatusKey") for so in heads]
    before = calls()
    rc, out, err = s.cmd("once", "OrderStateToClarity", "--drain", "--timeout", "120")
    n1 = calls() - before
    c = s.counts()
    got = states()
    want = ["Shipped", "Completed"] + ["Confirmed"] * (len(heads) - 2)
    # a GET each, Ship, Ship + Complete, Confirm for the others
    tap(rc == 0 and got == want and c.get("done") == len(heads) and c.get("dead") == 0 and
        n1 == 2 * len(heads) + 1,
        "OrderStateToClarity: the Clarity orders become Shipped, Completed, Confirmed (%d orders, %d calls)"
        % (len(heads), n1),
        "states=%s counts=%s calls=%d\n%s" % (got, c, n1, err[-2000:]))
    before = calls()
    rc, out, err = s.cmd("once", "OrderStateToClarity", "--drain", "--timeout", "120")
    n2 = calls() - before
    tap(rc == 0 and n2 == 0, "OrderStateToClarity: a second pass makes 0 Clarity calls",
        "calls=%d\n%s" % (n2, err[-1500:]))
    ok = act("invoice", heads[0])
    before = calls()
    rc, out, err = s.cmd("once", "OrderStateToClarity", "--drain", "--timeout", "120")
    n3 = calls() - before
    got = states()
    tap(ok and rc == 0 and got[0] == "Completed" and n3 == 2,
        "OrderStateToClarity: an order invoiced later is Completed with one GET and one PATCH",
        "states=%s calls=%d\n%s" % (got, n3, err[-1500:]))


def main():
    for name, fn in (("cli", cli_tests), ("once", once_tests), ("webhook", webhook_tests),
                     ("auth", auth_tests), ("intake", intake_tests), ("products", products_tests),
                     ("triggers", both_triggers_test), ("fo_flows", fo_flows_tests),
                     ("stock", stock_group_tests),
                     ("fulfilment", fulfilment_tests),
                     ("order_state", order_state_tests), ("handoff", handoff_tests),
                     ("void", void_tests), ("payments", payments_tests), ("c360", c360_tests),
                     ("metrics", metrics_tests)):
        wd = workdir("e2e-" + name)
        # the products' sandbox pages F&O answers by 50 rows: the poll follows @odata.nextLink
        # stock: pages of 7 rows, so an item's 4 warehouse rows often span a page boundary
        sb = Sandbox(wd, extra=["--page-size", "50"] if name == "products" else
                     ["--page-size", "7"] if name == "stock" else
                     ["--credit-check", "off"] if name in ("payments", "handoff") else []).start()
        try:
            fn(wd, sb)
        except Exception as e:  # a crashed case is a failed test, with its traceback
            import traceback
            tap(False, "%s tests ran to the end" % name, traceback.format_exc())
        finally:
            sb.stop()
    return done()


if __name__ == "__main__":
    sys.exit(main())
