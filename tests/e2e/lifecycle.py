"""lifecycle.py - tests/e2e: the order lifecycle after OrderToCash, against build/sandbox.

  handoff_tests   sync run with OrderToCash and OrderStateToClarity: each order F&O accepts is
                  handed to OrderStateToClarity at once (same store transaction) and confirmed
                  in Clarity long before that flow's 5-minute poll; latency from the F&O
                  acceptance (the OrderToCash audit row) to the Clarity order Confirmed, and the
                  Clarity calls per order; the following poll finds nothing new (0 calls).
  void_tests      /_sandbox/cancel cancels an F&O order (409 for one shipped or invoiced): the
                  Clarity order becomes Void; shipped / invoiced orders are never moved back.
  payments_tests  PaymentsToJournal: the storefront's payments become one F&O payment journal
                  WEBPAY-<id> per order with a line per authorised payment; an order with a
                  declined and a good payment journals the good one (the map's where leaves the
                  declined one out); an order with only a declined payment is skipped
                  ("filtered: ..." in the audit row and the log), not dead-lettered; the payment
                  without ExternalCustomerID is dead-lettered with its path; sync reconcile finds
                  the journaled payments matching and lists the declined ones apart.

Run by e2e.py (one TAP stream)."""
import json
import os
import sqlite3
import time
from decimal import Decimal

from harness import CLARITY_ROOT, Sync, request, tap, wait_for


def _auth(sb):
    if not sb.token:
        sb.d365("/_sandbox/health")
    return {"Authorization": "Bearer " + sb.token}


def control(sb, action, so):
    st, j, raw = request(sb.port, "POST", "/_sandbox/%s?order=%s&company=usmf" % (action, so), None, _auth(sb))
    if st == 401:
        sb.token = None
        st, j, raw = request(sb.port, "POST", "/_sandbox/%s?order=%s&company=usmf" % (action, so), None,
                             _auth(sb))
    return st, j, raw


def clarity_calls(sb, part="/Ordering/SalesOrder/"):
    return sum(r["count"] for r in request(sb.cport, "GET", "/_sandbox/stats")[1].get("routes") or []
               if part in r.get("route", ""))


def clarity_patch(sb, sid, route, body=None):
    return request(sb.cport, "PATCH", CLARITY_ROOT + route, body or {}, {"X-ss-id": sid})


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def iso_ms(text):
    """Epoch ms of an ISO 8601 UTC time (2026-11-27T18:42:42.382Z)."""
    import calendar
    base, _, frac = text.rstrip("Z").partition(".")
    t = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return t * 1000 + int((frac + "000")[:3])


def audit_at(db, flow):
    """{target key: time of the 'delivered' audit row (ms)} of flow."""
    con = sqlite3.connect(db)
    try:
        return {t: at for t, at in con.execute(
            "SELECT target_key, MIN(at) FROM audit WHERE flow = ? AND outcome = 'delivered'"
            " GROUP BY target_key", (flow,))}
    finally:
        con.close()


def inbox_count(db, flow):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM inbox WHERE flow = ?", (flow,)).fetchone()[0]
    finally:
        con.close()


def handoff_tests(wd, sb):
    """OrderToCash hands each created F&O header to OrderStateToClarity in the settle's
    transaction: the Clarity order is Confirmed within a second or so, not at the next poll."""
    n = 36
    s = Sync(wd, sb)
    s.cfg["store"] = os.path.join(wd, "handoff.db")
    s.cfg["flows"]["OrderStateToClarity"] = {"enabled": True, "poll": True}
    s.write_config()
    s.start()
    # the state flow's first poll (at start) has run before any order exists
    wait_for(lambda: "event=poll flow=OrderStateToClarity" in s.log(), 20)
    polls0 = s.log().count("event=poll flow=OrderStateToClarity")
    cl0 = clarity_calls(sb)
    sb.traffic({"count": n, "rate_per_s": 6, "seed": 61, "payments": False})
    ids = sorted(sb.traffic_status().get("order_ids") or [])
    # (the sync's own log tells when: reading Clarity here would add calls to the count)
    wait_for(lambda: s.log().count("event=delivered flow=OrderStateToClarity") >= n, 90, 0.5)
    handed = s.log().count("then=OrderStateToClarity")
    polls1 = s.log().count("event=poll flow=OrderStateToClarity")
    rc = s.stop()
    cl1 = clarity_calls(sb)
    sid = sb.clarity_session()
    docs = {i: sb.clarity_order(i, sid) or {} for i in ids}
    got = [docs[i].get("StatusKey") for i in ids]
    got = got if got and all(g == "Confirmed" for g in got) else None
    fo = audit_at(s.cfg["store"], "OrderToCash")
    st = audit_at(s.cfg["store"], "OrderStateToClarity")
    lat = [(st[str(i)] - fo["WEB-%d" % i]) / 1000.0 for i in ids if str(i) in st and "WEB-%d" % i in fo]
    # the same end seen by Clarity: the order's UpdatedDate, set by the Confirm (same clock)
    lat_cl = [(iso_ms(docs[i]["UpdatedDate"]) - fo["WEB-%d" % i]) / 1000.0 for i in ids
              if docs[i].get("UpdatedDate") and "WEB-%d" % i in fo]
    per_order = (cl1 - cl0) / float(len(ids) or 1)
    p50, p95 = pct(lat, 50), pct(lat, 95)
    tap(rc == 0 and len(ids) == n and got and handed == n and polls1 == polls0 and len(lat) == n,
        "hand-off: %d orders accepted by F&O are Confirmed in Clarity without a poll of SalesOrderHeadersV2 "
        "(%d hand-offs logged)" % (n, handed),
        "ids=%d got=%s handed=%d polls %d->%d lat=%d\n%s" % (len(ids), got, handed, polls0, polls1, len(lat),
                                                             s.log()[-2500:]))
    print("# hand-off latency, F&O acceptance (audit row) -> Clarity Confirmed (audit row): "
          "p50 %.3f s, p95 %.3f s, max %.3f s over %d orders; %.2f Clarity calls per order"
          % (p50, p95, max(lat or [0]), len(lat), per_order))
    print("# the same, to the Clarity order's UpdatedDate (set by the Confirm): p50 %.3f s, p95 %.3f s"
          % (pct(lat_cl, 50), pct(lat_cl, 95)))
    tap(lat and p95 < 5.0 and min(lat) >= 0 and len(lat_cl) == n and pct(lat_cl, 95) < 5.0 and min(lat_cl) >= 0,
        "hand-off latency p50 %.3f s, p95 %.3f s (the poll would take up to 300 s); by Clarity's UpdatedDate "
        "p50 %.3f s, p95 %.3f s" % (p50, p95, pct(lat_cl, 50), pct(lat_cl, 95)), "%s\n%s" % (lat, lat_cl))
    tap(cl1 - cl0 == 2 * n, "Clarity calls per confirmed order: %.2f (a GET and the Confirm)" % per_order,
        "%d calls for %d orders" % (cl1 - cl0, n))
    # the following poll: every row's dedup key is already in the inbox -> nothing new, 0 calls
    rows0 = inbox_count(s.cfg["store"], "OrderStateToClarity")
    cl0 = clarity_calls(sb)
    rc, out, err = s.cmd("once", "OrderStateToClarity", "--drain", "--timeout", "120")
    new = [l for l in err.splitlines() if "event=poll " in l and "flow=OrderStateToClarity" in l]
    tap(rc == 0 and new and " rows=%d " % n in new[-1] and " new=0 " in new[-1] and
        inbox_count(s.cfg["store"], "OrderStateToClarity") == rows0 == n and clarity_calls(sb) == cl0,
        "the next OrderStateToClarity poll reads the %d rows, enqueues 0 (same dedup keys) and makes 0 "
        "Clarity calls" % n, "%s rows=%d\n%s" % (new, rows0, err[-2000:]))
    # the same through the probe path: the $batch answer lost after F&O committed it
    sb.faults({"drop_next": 1})
    s2 = Sync(wd, sb)
    s2.cfg["store"] = s.cfg["store"]
    s2.cfg["flows"]["OrderStateToClarity"] = {"enabled": True, "poll": False}
    s2.write_config()
    sb.traffic({"count": 1, "rate_per_s": 0, "seed": 62, "payments": False})
    oid = sorted(sb.traffic_status().get("order_ids") or [])[-1]
    rc, out, err = s2.cmd("once", "OrderToCash", "--drain", "--timeout", "120")
    sb.clear_faults()
    probed = [l for l in err.splitlines() if "event=delivered flow=OrderToCash" in l and
              "then=OrderStateToClarity" in l and "already present" in l]
    rc2, out2, err2 = s2.cmd("once", "OrderStateToClarity", "--drain", "--timeout", "120")
    stk = (sb.clarity_order(oid, sb.clarity_session()) or {}).get("StatusKey")
    cl0 = clarity_calls(sb)
    s.write_config()                    # (both write workdir/sync.json) the poll on again
    rc3, out3, err3 = s.cmd("once", "OrderStateToClarity", "--drain", "--timeout", "120")
    poll3 = [l for l in err3.splitlines() if "event=poll " in l] or [""]
    tap(rc == 0 and rc2 == 0 and probed and stk == "Confirmed" and clarity_calls(sb) == cl0 and
        " new=0 " in poll3[-1],
        "an answer lost after F&O committed: the probe finds the order, reads it whole and hands it over "
        "(Confirmed; the next poll 0 new, 0 calls)", "%s %s\n%s\n%s\n%s" % (probed, stk, err[-2500:], err2[-1500:],
                                                                    err3[-1500:]))


def void_tests(wd, sb):
    """/_sandbox/cancel and the Void path; shipped or invoiced orders never move back."""
    sb.traffic({"count": 5, "rate_per_s": 0, "seed": 71, "payments": False})
    s = Sync(wd, sb)
    s.cfg["store"] = os.path.join(wd, "void.db")
    s.write_config()
    rc, out, err = s.cmd("once", "OrderToCash", "--drain", "--timeout", "120")
    heads = sorted((h["SalesOrderNumber"] for h in sb.all_rows("/data/SalesOrderHeadersV2")
                    if h["SalesOrderNumber"].startswith("WEB-")), key=lambda x: int(x[4:]))
    tap(rc == 0 and len(heads) == 5, "5 orders created in F&O by OrderToCash", "%s\n%s" % (heads, err[-1500:]))
    if len(heads) != 5:
        return
    a, b, c, d, e = heads
    # the sandbox's cancel, as F&O: Canceled; refused for delivered / invoiced / canceled orders
    r_a = control(sb, "cancel", a)
    r_b = control(sb, "ship", b)[0] == 200 and control(sb, "cancel", b)
    r_c = control(sb, "ship", c)[0] == 200 and control(sb, "invoice", c)[0] == 200 and control(sb, "cancel", c)
    r_a2 = control(sb, "cancel", a)
    lines = [l for l in sb.all_rows("/data/SalesOrderLines") if l["SalesOrderNumber"] == a]
    st_a = sb.d365("/data/SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % a)[1] or {}

    def msg(r):
        return ((r[1] or {}).get("error") or {}).get("innererror", {}).get("message", "") if r else ""
    tap(r_a[0] == 200 and st_a.get("SalesOrderStatus") == "Canceled" and lines and
        all(l["SalesOrderLineStatus"] == "Canceled" for l in lines),
        "/_sandbox/cancel: order %s and its %d lines Canceled (SalesStatus)" % (a, len(lines)),
        "%s %s %s" % (r_a, st_a.get("SalesOrderStatus"), [l["SalesOrderLineStatus"] for l in lines]))
    tap(r_b and r_b[0] == 409 and msg(r_b) == "Sales order '%s' is Delivered and cannot be canceled; create a "
        "return order instead." % b and r_c and r_c[0] == 409 and "is Invoiced and cannot be canceled" in msg(r_c)
        and r_a2[0] == 409 and msg(r_a2) == "Sales order '%s' is already Canceled." % a,
        "/_sandbox/cancel refuses a delivered, an invoiced and a canceled order (409 with F&O's reason)",
        "%s\n%s\n%s" % (r_b, r_c, r_a2))
    # d: canceled in F&O, but the storefront already shipped and completed it; e: shipped in
    # the storefront while F&O still holds it (Backorder -> Confirmed)
    sid = sb.clarity_session()
    did, eid = int(d[4:]), int(e[4:])
    ok = control(sb, "cancel", d)[0] == 200
    for route in ("/Ordering/SalesOrder/Ship/%d" % did, "/Ordering/SalesOrder/Complete/%d" % did,
                  "/Ordering/SalesOrder/Ship/%d" % eid):
        ok = ok and clarity_patch(sb, sid, route)[0] == 200
    tap(ok, "order %s canceled in F&O after the storefront completed it; %s shipped in the storefront" % (d, e))
    s.cfg["flows"] = {"OrderStateToClarity": {"enabled": True, "poll": True}}
    s.write_config()
    cl0 = clarity_calls(sb)
    rc, out, err = s.cmd("once", "OrderStateToClarity", "--drain", "--timeout", "120")
    n1 = clarity_calls(sb) - cl0
    states = [(sb.clarity_order(int(x[4:]), sid) or {}).get("StatusKey") for x in heads]
    dl = [x for x in s.dlq() if x["flow"] == "OrderStateToClarity"]
    show = s.dlq_show(dl[0]["id"]) if len(dl) == 1 else ""
    # a: GET + Void, b: GET + Ship, c: GET + Ship + Complete, d: GET (refused), e: GET
    tap(rc == 0 and states == ["Void", "Shipped", "Completed", "Completed", "Shipped"] and n1 == 9,
        "OrderStateToClarity: canceled -> Void, shipped -> Shipped, invoiced -> Completed; a Completed and a "
        "Shipped storefront order are not moved back (%d Clarity calls)" % n1,
        "states=%s calls=%d\n%s" % (states, n1, err[-2500:]))
    tap(len(dl) == 1 and dl[0]["source"] == "SalesOrderHeadersV2:usmf,%s" % d and
        dl[0]["reason"] == "business rule: the Clarity order's state is final" and
        "the Clarity order %d is Completed: it cannot become Void" % did in show,
        "the cancel of an order the storefront completed is dead-lettered naming the order and both states",
        json.dumps(dl) + show)
    cl0 = clarity_calls(sb)
    rc, out, err = s.cmd("once", "OrderStateToClarity", "--drain", "--timeout", "120")
    tap(rc == 0 and clarity_calls(sb) == cl0, "a second pass makes 0 Clarity calls",
        "%d\n%s" % (clarity_calls(sb) - cl0, err[-1500:]))


def payments_tests(wd, sb):
    """PaymentsToJournal end to end, and sync reconcile's payment_journal check."""
    sb.traffic({"count": 6, "rate_per_s": 0, "seed": 81, "bad": {"missing_account": 1}})
    tr = sb.traffic_status()
    sb.traffic({"count": 2, "rate_per_s": 0, "seed": 82, "payments": False})
    mixed, unauth = sb.traffic_status()["order_ids"][:2]
    sid = sb.clarity_session()
    pst = []
    # mixed: a declined attempt, then the good payment; unauth: only a declined payment
    for oid, tries in ((mixed, (False, True)), (unauth, (False,))):
        uo = sb.clarity_order(oid, sid) or {}
        for k, authorized in enumerate(tries):
            st, j, raw = clarity_patch(sb, sid, "/Ordering/SalesOrder/AddPayment",
                                       {"SalesOrderID": oid, "Payment": {
                                        "Amount": uo.get("BalanceDue"), "Authorized": authorized,
                                        "PaymentMethodKey": "CreditCard",
                                        "ExternalCustomerID": uo.get("AccountKey"),
                                        "TransactionNumber": "TX-%s-%d-%d" % (
                                            "OK" if authorized else "DECLINED", oid, k)}})
            pst.append((st, raw[:200]))
    orders = sb.clarity_orders()
    guest = [i for i, o in orders.items() if not o.get("AccountKey")]
    npay = {i: len(o.get("SalesOrderPayments") or []) for i, o in orders.items()}
    tap(tr["paid"] == 7 and all(p[0] == 200 for p in pst) and len(orders) == 9 and len(guest) == 1 and
        npay[mixed] == 2 and all(n == 1 for i, n in npay.items() if i != mixed),
        "traffic: 7 orders paid at checkout (ExternalCustomerID = the F&O account), one more paid after a "
        "declined attempt, one with only a declined (unauthorised) payment", "%s %s %s" % (tr, pst, npay))
    pays = {}
    for i, o in orders.items():
        good_p = [p for p in o["SalesOrderPayments"] if p["Slave"].get("Authorized")]
        pays[i] = good_p[0] if good_p else o["SalesOrderPayments"][0]
    ok = all(p["Slave"].get("ExternalCustomerID") == orders[i].get("AccountKey") for i, p in pays.items()
             if i not in guest)
    tap(ok and "ExternalCustomerID" not in pays[guest[0]]["Slave"],
        "each payment's ExternalCustomerID is its order's AccountKey (a string); the guest's has none",
        json.dumps({i: p["Slave"] for i, p in pays.items()})[:1500])
    s = Sync(wd, sb)
    s.cfg["store"] = os.path.join(wd, "payments.db")
    s.cfg["flows"]["PaymentsToJournal"] = {"enabled": True, "poll": True, "overlap_s": 600}
    s.write_config()
    b0 = sb.calls("/data/$batch", "POST")
    rc, out, err = s.cmd("once", "PaymentsToJournal", "--drain", "--timeout", "120")
    b1 = sb.calls("/data/$batch", "POST")
    heads = {h["JournalBatchNumber"]: h for h in sb.all_rows("/data/CustomerPaymentJournalHeaders")}
    lines = {}
    for l in sb.all_rows("/data/CustomerPaymentJournalLines"):
        lines.setdefault(l["JournalBatchNumber"], []).append(l)
    good = [i for i in orders if i not in guest and i != unauth]
    problems = []
    for i in good:
        jb = "WEBPAY-%d" % i
        p = pays[i]
        ls = lines.get(jb, [])
        if jb not in heads or heads[jb].get("JournalName") != "CustPay":
            problems.append("%s: header %s" % (jb, heads.get(jb)))
        elif len(ls) != 1:
            problems.append("%s: %d lines" % (jb, len(ls)))
        elif Decimal(str(ls[0]["CreditAmount"])) != Decimal(str(p["Slave"]["Amount"])) or \
                Decimal(str(ls[0]["DebitAmount"])) != 0 or \
                ls[0]["AccountDisplayValue"] != orders[i]["AccountKey"] or \
                int(ls[0]["LineNumber"]) != p["SlaveID"] or ls[0]["AccountType"] != "Cust" or \
                ls[0]["PaymentReference"] != p["Slave"]["TransactionNumber"]:
            problems.append("%s: line %s vs payment %s" % (jb, ls[0], p))
    extra = sorted(set(heads) - {"WEBPAY-%d" % i for i in good})
    tap(rc == 0 and not problems and not extra and len(good) == 7 and mixed in good,
        "PaymentsToJournal: %d journals WEBPAY-<id> (CustPay), one line per authorised payment with the exact "
        "amount, account, payment ID and transaction, in %d $batch call(s); order %d's declined attempt is "
        "left out of its journal, its good payment %d journaled" % (len(good), b1 - b0, mixed, pays[mixed]["SlaveID"]),
        "\n".join(problems) + "\nextra=%s\n%s" % (extra, err[-2500:]))
    dl = {int(x["source"].split(":")[-1]): x for x in s.dlq() if x["flow"] == "PaymentsToJournal"}
    sh_g = s.dlq_show(dl[guest[0]]["id"]) if guest[0] in dl else ""
    tap(sorted(dl) == [guest[0]] and
        "CustomerPaymentJournalLines[0]: $.Slave.ExternalCustomerID: required value is missing" in sh_g and
        all(x["reason"].startswith("validation") for x in dl.values()),
        "the guest's payment (no ExternalCustomerID) is dead-lettered with its path, nothing else is",
        json.dumps(dl) + "\n" + sh_g)
    why = "filtered: any(o.SalesOrderPayments.Slave.Authorized)"
    with sqlite3.connect(s.cfg["store"]) as db:
        skipped = db.execute("SELECT source_key, detail FROM audit WHERE flow = 'PaymentsToJournal'"
                             " AND outcome = 'skipped'").fetchall()
    logged = [l for l in err.splitlines() if "skipped" in l and why in l]
    tap([(int(k.split(":")[-1]), d) for k, d in skipped] == [(unauth, why)] and len(logged) == 1 and
        "WEBPAY-%d" % unauth not in heads,
        "order %d (only a declined payment) is skipped, not dead-lettered: audit row and log say '%s', "
        "no journal" % (unauth, why), "%s\n%s" % (skipped, err[-2000:]))
    t0 = sb.stats()["total"]
    rc, out, err = s.cmd("once", "PaymentsToJournal", "--drain", "--timeout", "120")
    tap(rc == 0 and sb.calls("/data/$batch", "POST") == b1 and sb.stats()["total"] == t0,
        "a second pass makes 0 F&O calls", err[-1500:])
    # reconcile: the orders through OrderToCash too, then the payments per order
    rc, out, err = s.cmd("once", "OrderToCash", "--drain", "--timeout", "120")
    rc, out, err = s.cmd("reconcile")
    mm = [l for l in out.splitlines() if l.startswith("mismatch ")]
    pj = [l for l in mm if l.startswith("mismatch payment_journal ")]
    pj_ids = sorted(int(l.split("clarity_order=")[1].split()[0]) for l in pj)
    others = [l for l in mm if not l.startswith("mismatch payment_journal ") and
              not any("clarity_order=%d " % g in l for g in guest)]
    declined = sorted(l for l in out.splitlines() if l.startswith("declined_payment "))
    tap(rc == 1 and pj_ids == [guest[0]] and not others and len(declined) == 2 and
        all(any("clarity_order=%d " % i in l for l in declined) for i in (mixed, unauth)) and
        not any(l.endswith(" journaled") for l in declined) and
        "clarity_payments=8 fo_payments=7 declined_payments=2" in out,
        "sync reconcile: the 7 journaled payments match; the guest's (not journaled) is the only payment_journal "
        "mismatch; the 2 declined ones (orders %d, %d) are listed as declined_payment only, not as money "
        "received" % (mixed, unauth), out + err[-1500:])
