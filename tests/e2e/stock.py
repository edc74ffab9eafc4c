"""tests/e2e/stock.py - StockToClarity with `group by ItemNumber` (examples/inventory.map) against
the sandbox, run from e2e.py: every item's on-hand rows (one per warehouse, four per seeded
item) are read ordered by item, joined into one record and summed, so Clarity gets the item's
total, not its last warehouse; an unchanged pass costs nothing; one changed warehouse row costs
one Clarity call.  The sandbox pages F&O answers by 7 rows, so most items' rows span a page
boundary (@odata.nextLink) and must still make one group.  A second sandbox started with
`--orderby off` (it accepts $orderby and ignores it) shows the poll's warning when F&O's rows do
not come in the order asked for."""
import os
from decimal import Decimal, ROUND_DOWN

from harness import Sandbox, Sync, clarity_products, request, tap, workdir, CLARITY_ROOT

PAGE = 7


def _clarity_calls(sb):
    """(every request the Clarity side of the sandbox has answered, the product upserts among them)"""
    routes = request(sb.cport, "GET", "/_sandbox/stats")[1].get("routes") or []
    return (sum(r["count"] for r in routes),
            sum(r["count"] for r in routes if r.get("method") == "POST" and
                "/Products/Product/Upsert" in r.get("route", "")))


def _delta(after, before):
    return after[0] - before[0], after[1] - before[1]


def _expected(rows):
    """{item: (MaximumPurchaseQuantity, StatusKey, warehouses)} computed here from the F&O rows
    (exact decimals, as the map: trunc(sum(available) - sum(reserved), 2))."""
    acc = {}
    for r in rows:
        a = acc.setdefault(r["ItemNumber"], [Decimal(0), Decimal(0), Decimal(0), 0])
        a[0] += Decimal(str(r["AvailableOnHandQuantity"]))
        a[1] += Decimal(str(r["ReservedOnHandQuantity"]))
        a[2] += Decimal(str(r["TotalAvailableQuantity"]))
        a[3] += 1
    return {k: ((v[0] - v[1]).quantize(Decimal("0.01"), rounding=ROUND_DOWN),
                "InStock" if v[2] > 0 else "OutOfStock", v[3]) for k, v in acc.items()}


def _wrong(expected, products):
    bad = []
    for item, (qty, status, _) in sorted(expected.items()):
        p = products.get(item) or {}
        got = p.get("MaximumPurchaseQuantity")
        if got is None or Decimal(str(got)) != qty or p.get("StatusKey") != status:
            bad.append("%s: want %s %s, got %s %s" % (item, qty, status, got, p.get("StatusKey")))
    return bad


def stock_group_tests(wd, sb):
    stock_unordered_test()
    s = Sync(wd, sb)
    s.cfg["store"] = os.path.join(wd, "stock.db")
    s.cfg["flows"] = {"StockToClarity": {"enabled": True, "poll": True, "batch_records": 200}}
    s.cfg["profiles"]["test"]["flows"] = {}
    s.write_config()
    rows = sb.all_rows("/data/WarehousesOnHandV2")
    exp = _expected(rows)
    multi = [k for k, v in exp.items() if v[2] >= 2]
    spans = sum(1 for i in range(1, len(rows)) if i % PAGE == 0 and
                rows[i]["ItemNumber"] == rows[i - 1]["ItemNumber"])
    before = _clarity_calls(sb)
    rc, out, err = s.cmd("once", "StockToClarity", "--drain", "--timeout", "120")
    n1, u1 = _delta(_clarity_calls(sb), before)
    c = s.counts()
    prods = clarity_products(sb)
    bad = _wrong(exp, prods)
    pages = sum(1 for l in err.splitlines() if "event=http" in l and "/data/WarehousesOnHandV2" in l)
    orderby = "orderby=ItemNumber,dataAreaId,ProductColorId" in err
    tap(rc == 0 and orderby and pages == (len(rows) + PAGE - 1) // PAGE and "poll_unordered" not in err and
        ("rows=%d groups=%d" % (len(rows), len(exp))) in err,
        "StockToClarity reads WarehousesOnHandV2 ordered by ItemNumber ($orderby, then the key) in "
        "%d pages of %d: %d rows -> %d groups, one per item" % (pages, PAGE, len(rows), len(exp)),
        err[-2500:])
    tap(rc == 0 and len(multi) == len(exp) and len(exp) > 0 and spans > 0 and not bad and
        c.get("done") == len(exp) and c.get("dead") == 0,
        "every item's Clarity stock is the sum over its warehouses: %d items, each in %d+ warehouses, "
        "%d of them split by a page boundary, MaximumPurchaseQuantity and StatusKey as summed here"
        % (len(exp), min(v[2] for v in exp.values()) if exp else 0, spans),
        "bad=%s counts=%s\n%s" % (bad[:5], c, err[-1500:]))
    spot = multi[0] if multi else None
    tap(spot is not None and Decimal(str(prods[spot]["MaximumPurchaseQuantity"])) == exp[spot][0] and
        exp[spot][0] > max(Decimal(str(r["AvailableOnHandQuantity"])) - Decimal(str(r["ReservedOnHandQuantity"]))
                            for r in rows if r["ItemNumber"] == spot),
        "%s: Clarity holds %s, more than any one warehouse row (the last row no longer wins)"
        % (spot, prods.get(spot, {}).get("MaximumPurchaseQuantity")), str(prods.get(spot)))
    tap(rc == 0 and u1 == len(exp) and n1 == u1 + 1,
        "first pass: %d Clarity calls: %d upserts (one per item, not one per row) and the session login"
        % (n1, u1), err[-1500:])
    before = _clarity_calls(sb)
    rc, out, err = s.cmd("once", "StockToClarity", "--drain", "--timeout", "120")
    n2 = _delta(_clarity_calls(sb), before)[0]
    tap(rc == 0 and n2 == 0 and "new=0" in err, "a second pass makes 0 Clarity calls (every group unchanged)",
        "calls=%d\n%s" % (n2, err[-1500:]))
    # one warehouse row of one item changes the way stock moves in F&O: a sales line reserves
    # one unit in warehouse 11 (WarehousesOnHandV2 is read-only, as in F&O)
    item = spot
    if not sb.token:
        sb.d365("/_sandbox/health")
    h = {"Authorization": "Bearer " + sb.token}
    st1, j, raw1 = request(sb.port, "POST", "/data/SalesOrderHeadersV2",
                           {"dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-001",
                            "CurrencyCode": "USD"}, h)
    so = (j or {}).get("SalesOrderNumber")
    st2, _, raw2 = request(sb.port, "POST", "/data/SalesOrderLines",
                           {"dataAreaId": "usmf", "SalesOrderNumber": so, "ItemNumber": item,
                            "OrderedSalesQuantity": 1, "ShippingSiteId": "1",
                            "ShippingWarehouseId": "11"}, h)
    rows2 = sb.all_rows("/data/WarehousesOnHandV2")
    changed = [(a["ItemNumber"], a["InventoryWarehouseId"]) for a, b in zip(rows, rows2) if a != b]
    exp2 = _expected(rows2)
    before = _clarity_calls(sb)
    rc, out, err = s.cmd("once", "StockToClarity", "--drain", "--timeout", "120")
    n3, u3 = _delta(_clarity_calls(sb), before)
    prods = clarity_products(sb)
    bad = _wrong(exp2, prods)
    tap(st1 == 201 and st2 == 201 and changed == [(item, "11")] and rc == 0 and u3 == 1 and n3 == 2 and not bad and
        exp2[item][0] != exp[item][0],
        "one warehouse row of %s changed (a sales line reserves 1 unit in warehouse 11): exactly 1 "
        "upsert (%d Clarity calls with the session login), the new sum %s in Clarity"
        % (item, n3, exp2.get(item, ("?",))[0]),
        "order=%s %s line=%s %s changed=%s calls=%d upserts=%d bad=%s\n%s" % (st1, raw1[:200], st2, raw2[:200],
                                                                  changed, n3, u3, bad[:5], err[-1500:]))


def stock_unordered_test():
    """A server that ignores $orderby: the rows come in insertion order (the seed interleaves
    the categories, A0001 C0001 ... S0001 A0002 ...), the poll says so with a warning."""
    wd = workdir("e2e-stock-unordered")
    sb = Sandbox(wd, extra=["--orderby", "off"]).start()
    try:
        s = Sync(wd, sb)
        s.cfg["store"] = os.path.join(wd, "stock.db")
        s.cfg["flows"] = {"StockToClarity": {"enabled": True, "poll": True, "batch_records": 200}}
        s.cfg["profiles"]["test"]["flows"] = {}
        s.write_config()
        rc, out, err = s.cmd("once", "StockToClarity", "--drain", "--timeout", "120")
        warn = [l for l in err.splitlines() if "event=poll_unordered" in l]
        tap(rc == 0 and len(warn) == 1 and "level=warn" in warn[0] and "first=\"S0001 > A0002\"" in warn[0],
            "F&O rows not in $orderby order (a sandbox ignoring it): the poll warns that a group may be "
            "split: %s" % (warn[0].split("count=")[1][:60] if warn else "-"), err[-2000:])
    finally:
        sb.stop()
