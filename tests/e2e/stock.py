"""tests/e2e/stock.py - StockToClarity with `group by ItemNumber` (examples/inventory.map) against
the sandbox, run from e2e.py: every item's on-hand rows (one per warehouse, four per seeded
item) are read ordered by item, joined into one record and summed, so Clarity gets the item's
total, not its last warehouse.  The records go to Clarity in bulk (PUT
/Providers/Inventory/BulkUpdateInventoryForProducts, one request per batch) with the product's
ID looked up by CustomKey (`ref`: one search per 50 keys); an unchanged pass costs nothing; one
changed warehouse row costs one bulk call and one lookup (a new process: the lookups are kept
in memory for a run); an item whose product Clarity does not have (deactivated) is retried with
"no clarity Products with CustomKey 'X'" while the others of its batch go through.  The sandbox
pages F&O answers by 7 rows, so most items' rows span a page boundary (@odata.nextLink) and
must still make one group.  A second sandbox started with `--orderby off` (it accepts $orderby
and ignores it) shows the poll's warning when F&O's rows do not come in the order asked for."""
import os
from decimal import Decimal, ROUND_DOWN

from harness import Sandbox, Sync, clarity_products, request, tap, workdir, CLARITY_ROOT

PAGE = 7
BATCH = 200        # batch_records of the flow in these tests
LOOKUP_CHUNK = 50  # CustomKeys per lookup (runtime/engine.c REF_CHUNK)


def _clarity_calls(sb):
    """(every request the Clarity side of the sandbox has answered, the bulk inventory updates
    among them, the product lookups among them)"""
    routes = request(sb.cport, "GET", "/_sandbox/stats")[1].get("routes") or []
    return (sum(r["count"] for r in routes),
            sum(r["count"] for r in routes if r.get("method") == "PUT" and
                "/Providers/Inventory/BulkUpdateInventoryForProducts" in r.get("route", "")),
            sum(r["count"] for r in routes if r.get("method") == "GET" and
                r.get("route", "").endswith("/Products/Products")))


def _delta(after, before):
    return tuple(a - b for a, b in zip(after, before))


def _expected(rows):
    """{item: (on hand, reserved, MaximumPurchaseQuantity, warehouses)} computed here from the
    F&O rows (exact decimals, as the map: trunc(sum(available) - sum(reserved), 2))."""
    acc = {}
    for r in rows:
        a = acc.setdefault(r["ItemNumber"], [Decimal(0), Decimal(0), Decimal(0), 0])
        a[0] += Decimal(str(r["OnHandQuantity"]))
        a[1] += Decimal(str(r["ReservedOnHandQuantity"]))
        a[2] += Decimal(str(r["AvailableOnHandQuantity"]))
        a[3] += 1
    return {k: (v[0], v[1], (v[2] - v[1]).quantize(Decimal("0.01"), rounding=ROUND_DOWN), v[3])
            for k, v in acc.items()}


def _stock(p):
    """(on hand, allocated) of a Clarity product as the bulk update set them: a
    CalculatedInventory without RelevantLocations is the item's figures, which the sandbox's
    Clarity keeps on the product's first inventory location (warehouse 11)."""
    rows = [r for r in p.get("ProductInventoryLocationSections") or [] if r.get("SlaveKey") == "11"]
    return ((Decimal(str(rows[0].get("Quantity") or 0)), Decimal(str(rows[0].get("QuantityAllocated") or 0)))
            if rows else (None, None))


def _wrong(expected, products, skip=()):
    bad = []
    for item, (onhand, reserved, qty, _) in sorted(expected.items()):
        if item in skip:
            continue
        p = products.get(item) or {}
        got = p.get("MaximumPurchaseQuantity")
        have = _stock(p)
        if got is None or Decimal(str(got)) != qty or have != (onhand, reserved):
            bad.append("%s: want on hand %s allocated %s max %s, got %s %s max %s"
                       % (item, onhand, reserved, qty, have[0], have[1], got))
    return bad


def _sell(sb, item, warehouse):
    """A sales line reserving one unit of item in warehouse: one F&O on-hand row changes."""
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
                            "ShippingWarehouseId": warehouse}, h)
    return st1 == 201 and st2 == 201, "order=%s %s line=%s %s" % (st1, raw1[:200], st2, raw2[:200])


def stock_group_tests(wd, sb):
    stock_unordered_test()
    s = Sync(wd, sb)
    s.cfg["store"] = os.path.join(wd, "stock.db")
    s.cfg["flows"] = {"StockToClarity": {"enabled": True, "poll": True, "batch_records": BATCH}}
    s.cfg["profiles"]["test"]["flows"] = {}
    s.write_config()
    rows = sb.all_rows("/data/WarehousesOnHandV2")
    exp = _expected(rows)
    multi = [k for k, v in exp.items() if v[3] >= 2]
    spans = sum(1 for i in range(1, len(rows)) if i % PAGE == 0 and
                rows[i]["ItemNumber"] == rows[i - 1]["ItemNumber"])
    before = _clarity_calls(sb)
    rc, out, err = s.cmd("once", "StockToClarity", "--drain", "--timeout", "120")
    n1, b1, l1 = _delta(_clarity_calls(sb), before)
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
        "%d of them split by a page boundary: on hand, allocated and MaximumPurchaseQuantity as "
        "summed here" % (len(exp), min(v[3] for v in exp.values()) if exp else 0, spans),
        "bad=%s counts=%s\n%s" % (bad[:5], c, err[-1500:]))
    spot = multi[0] if multi else None
    tap(spot is not None and _stock(prods[spot])[0] == exp[spot][0] and
        exp[spot][0] > max(Decimal(str(r["OnHandQuantity"])) for r in rows if r["ItemNumber"] == spot),
        "%s: Clarity holds %s on hand (item level), more than any one warehouse row (the last row "
        "no longer wins)"
        % (spot, _stock(prods.get(spot, {}))[0]), str(prods.get(spot)))
    want_b = (len(exp) + BATCH - 1) // BATCH
    want_l = (len(exp) + LOOKUP_CHUNK - 1) // LOOKUP_CHUNK
    tap(rc == 0 and b1 == want_b and l1 == want_l and n1 == b1 + l1 + 1,
        "first pass: %d items in %d bulk call(s) of at most %d and %d product lookups (%d "
        "CustomKeys each), %d Clarity calls with the session login"
        % (len(exp), b1, BATCH, l1, LOOKUP_CHUNK, n1), err[-1500:])
    before = _clarity_calls(sb)
    rc, out, err = s.cmd("once", "StockToClarity", "--drain", "--timeout", "120")
    n2 = _delta(_clarity_calls(sb), before)[0]
    tap(rc == 0 and n2 == 0 and "new=0" in err, "a second pass makes 0 Clarity calls (every group unchanged)",
        "calls=%d\n%s" % (n2, err[-1500:]))
    # one warehouse row of one item changes the way stock moves in F&O: a sales line reserves
    # one unit in warehouse 11 (WarehousesOnHandV2 is read-only, as in F&O)
    item = spot
    sold, why = _sell(sb, item, "11")
    rows2 = sb.all_rows("/data/WarehousesOnHandV2")
    changed = [(a["ItemNumber"], a["InventoryWarehouseId"]) for a, b in zip(rows, rows2) if a != b]
    exp2 = _expected(rows2)
    before = _clarity_calls(sb)
    rc, out, err = s.cmd("once", "StockToClarity", "--drain", "--timeout", "120")
    n3, b3, l3 = _delta(_clarity_calls(sb), before)
    prods = clarity_products(sb)
    bad = _wrong(exp2, prods)
    tap(sold and changed == [(item, "11")] and rc == 0 and b3 == 1 and l3 <= 1 and
        n3 == 1 + l3 + 1 and not bad and exp2[item][1] != exp[item][1],
        "one warehouse row of %s changed (a sales line reserves 1 unit in warehouse 11): exactly 1 "
        "bulk call and %d lookup (%d Clarity calls with the session login), the new sums in Clarity"
        % (item, l3, n3),
        "%s changed=%s calls=%d bulk=%d lookups=%d bad=%s\n%s" % (why, changed, n3, b3, l3,
                                                                  bad[:5], err[-1500:]))
    # an item whose Clarity product is gone (deactivated): retried with the lookup's message,
    # the other changed item of the same batch goes through
    gone, other = sorted(exp2)[-1], sorted(exp2)[-2]
    sid = sb.clarity_session()
    pid = prods[gone]["ID"]
    st, _, raw = request(sb.cport, "PATCH", CLARITY_ROOT + "/Products/Product/Deactivate/ID/%d" % pid,
                         {}, headers={"X-ss-id": sid})
    wh = {k: next(r["InventoryWarehouseId"] for r in rows2 if r["ItemNumber"] == k and
                  Decimal(str(r["AvailableOnHandQuantity"])) > 1) for k in (gone, other)}
    sold1, why1 = _sell(sb, gone, wh[gone])
    sold2, why2 = _sell(sb, other, wh[other])
    exp3 = _expected(sb.all_rows("/data/WarehousesOnHandV2"))
    before = _clarity_calls(sb)
    rc, out, err = s.cmd("once", "StockToClarity", "--timeout", "60")
    n4, b4, l4 = _delta(_clarity_calls(sb), before)
    prods = clarity_products(sb)
    bad = _wrong(exp3, prods, skip=(gone,))
    retry = [l for l in err.splitlines() if "event=retry" in l and "target=%s" % gone in l]
    msg = "no clarity Products with CustomKey '%s'" % gone
    tap(st == 200 and sold1 and sold2 and rc == 0 and b4 == 1 and len(retry) == 1 and msg in retry[0] and
        not bad and "target=%s" % other in err and "how=\"bulk: 1 of 1 records" in err,
        "%s has no active Clarity product: its record is retried with \"%s\", %s goes through "
        "in 1 bulk call" % (gone, msg, other),
        "deactivate=%s %s %s %s calls=%d bulk=%d lookups=%d bad=%s\n%s"
        % (st, raw[:200], why1, why2, n4, b4, l4, bad[:5], err[-2000:]))


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
