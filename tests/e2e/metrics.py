"""metrics.py - tests/e2e: the metrics and status server of `sync run` against build/sandbox.

  metrics_tests   sync run (OrderToCash, webhooks and polls) with "metrics" on a free port:
                  the listening address is logged; orders pushed by the storefront traffic are
                  delivered; a scrape of /metrics parses as Prometheus text and its delivered
                  counter equals the WEB- sales orders F&O created, delivered + dead-lettered
                  equals the orders pushed, the token and $batch request counters equal what
                  the sandbox counted; /status.json and /status tell the same; /healthz 200;
                  404 and 405.  Then the F&O secret (a file) goes wrong and the tokens are
                  revoked: /healthz 503 naming the paused flow, paused 1 in /metrics and the
                  reason in /status.json; stopped while paused, the secret fixed, restarted: the
                  pause an earlier run left is cleared at the first contact (/healthz 200,
                  `sync status` not paused) and the waiting orders are delivered.

Run by e2e.py (one TAP stream)."""
import json
import os
import re
import stat

from harness import Sync, free_port, order_ids_of, request, tap, wait_for

SECRET_OK = "sync-secret\n"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? '
                    r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse(text):
    """{series: value} of an exposition text, or raises ValueError with the first problem
    (HELP then TYPE before a family's samples, no family interleaved, counters *_total)."""
    out, typed, helped, done, cur = {}, {}, set(), set(), None
    if not text.endswith("\n"):
        raise ValueError("no final line feed")
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if name not in helped or name in typed or kind not in ("counter", "gauge"):
                raise ValueError("line %d: TYPE without HELP, twice, or unknown: %s" % (i, line))
            if kind == "counter" and not name.endswith("_total"):
                raise ValueError("line %d: counter not named *_total: %s" % (i, line))
            typed[name] = kind
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (i, line))
        name = m.group(1)
        if name not in typed:
            raise ValueError("line %d: sample before its TYPE: %s" % (i, line))
        if name != cur:
            if name in done:
                raise ValueError("line %d: family %s interleaved" % (i, name))
            if cur:
                done.add(cur)
            cur = name
        series = name + (m.group(2) or "")
        if series in out:
            raise ValueError("line %d: duplicate series %s" % (i, series))
        out[series] = float(m.group(3))
    return out


def metrics_tests(wd, sb):
    port = free_port()
    s = Sync(wd, sb, overrides={"metrics": {"enabled": True, "bind": "127.0.0.1", "port": port}})
    sec = os.path.join(wd, "d365.secret")
    with open(sec, "w") as fh:
        fh.write(SECRET_OK)
    os.chmod(sec, stat.S_IRUSR | stat.S_IWUSR)
    s.cfg["d365"]["client_secret"] = "file:" + sec
    s.write_config()
    s.start()
    logged = wait_for(lambda: "event=metrics_listening bind=127.0.0.1 port=%d" % port in s.log(), 10)
    tap(bool(logged), "sync run logs where the metrics server listens", s.log()[-1500:])
    st, _, raw = request(port, "GET", "/healthz")
    tap(st == 200 and raw == b"ok\n", "/healthz: 200 ok before any order", (st, raw))

    # the harness's own F&O reads take tokens too: count from here (the sync has not needed
    # F&O yet: no order so far)
    tokens0 = sb.calls("/{tenant}/oauth2/v2.0/token", "POST", 200)
    batches0 = sb.calls("/data/$batch", "POST")
    sb.webhooks({"url": "http://127.0.0.1:%d/webhook" % s.webhook_port, "secret": "sandbox-webhook-secret"})
    sb.traffic({"count": 8, "rate_per_s": 0, "seed": 77})
    ids = set(order_ids_of(sb))

    def settled():
        c = s.counts()
        return c.get("pending", 1) == 0 and c.get("leased", 1) == 0 and \
            c.get("done", 0) + c.get("dead", 0) >= len(ids)
    ok = wait_for(settled, 90)
    st, _, raw = request(port, "GET", "/metrics")
    # what the sandbox counted, before the test's own F&O reads below
    tokens = sb.calls("/{tenant}/oauth2/v2.0/token", "POST", 200) - tokens0
    batches = sb.calls("/data/$batch", "POST") - batches0
    heads, _ = sb.sales_orders()
    web = sorted(k for k in heads if k.startswith("WEB-"))
    text = raw.decode()
    try:
        m = parse(text)
        perr = None
    except ValueError as e:
        m, perr = {}, str(e)
    tap(st == 200 and perr is None and len(m) > 20,
        "GET /metrics: 200, well-formed exposition text (%d series)" % len(m), perr or text[:1500])
    f = 'flow="OrderToCash"'
    delivered = m.get("syncrt_records_delivered_total{%s}" % f)
    dead = m.get("syncrt_records_dead_lettered_total{%s}" % f)
    tap(ok and delivered is not None and delivered == len(web) and len(web) > 0,
        "delivered counter (%s) equals the sales orders F&O created (%d)" % (delivered, len(web)),
        s.log()[-2000:])
    dlq = m.get("syncrt_dlq_records{%s}" % f)
    tap(delivered is not None and dead is not None and delivered + dead == len(ids) and dlq == dead and
        m.get('syncrt_inbox_records{%s,state="pending"}' % f) == 0 and
        m.get('syncrt_inbox_records{%s,state="leased"}' % f) == 0,
        "delivered (%s) + dead-lettered (%s) = the %d orders pushed; inbox empty; DLQ gauge %s"
        % (delivered, dead, len(ids), dlq))
    got_tok = m.get('syncrt_http_requests_total{peer="token",class="2xx"}')
    got_batch = m.get("syncrt_d365_batch_requests_total")
    tap(got_tok == tokens and tokens > 0 and got_batch == batches and batches > 0 and
        m.get('syncrt_http_requests_total{peer="d365",class="2xx"}', 0) >= batches,
        "token requests (%s, sandbox %d) and $batch requests (%s, sandbox %d) as the sandbox counted"
        % (got_tok, tokens, got_batch, batches), [k for k in m if "http" in k or "batch" in k])
    tap(m.get("syncrt_last_poll_success_timestamp_seconds{%s}" % f, 0) > 0 and
        m.get("syncrt_polls_total{%s}" % f, 0) >= 1 and m.get("syncrt_flow_paused{%s}" % f) == 0 and
        m.get("syncrt_store_up") == 1,
        "the poll succeeded (timestamp set), the flow is not paused, the store answers")

    st, j, raw = request(port, "GET", "/status.json")
    fl = {x["flow"]: x for x in (j or {}).get("flows", [])}
    o = fl.get("OrderToCash", {})
    tap(st == 200 and j.get("healthy") is True and o.get("since_start", {}).get("delivered") == delivered and
        o.get("last_hour", {}).get("delivered") == len(web) and o.get("inbox_pending") == 0 and
        len(o.get("dlq_latest", [])) == min(10, int(dead or 0)),
        "/status.json: healthy, delivered since start and in the last hour as F&O has them",
        json.dumps(o)[:1500])
    st, _, raw = request(port, "GET", "/status")
    page = raw.decode(errors="replace")
    tap(st == 200 and "OrderToCash" in page and 'http-equiv="refresh"' in page and "<script" not in page,
        "/status: the HTML page with the flow's row")
    st404 = request(port, "GET", "/metricz")[0]
    st405 = request(port, "POST", "/metrics", {"x": 1})[0]
    tap(st404 == 404 and st405 == 405, "unknown path 404, POST 405", (st404, st405))
    pause_tests(s, sb, port, sec, len(web))


def scrape(port):
    st, _, raw = request(port, "GET", "/metrics")
    try:
        return parse(raw.decode())
    except ValueError:
        return {}


def pause_tests(s, sb, port, sec, web_before):
    f = 'flow="OrderToCash"'
    with open(sec, "w") as fh:
        fh.write("wrong-secret\n")
    request(sb.port, "POST", "/_sandbox/revoke")
    sb.traffic({"count": 3, "rate_per_s": 0, "seed": 78})
    ids = set(order_ids_of(sb))
    paused = wait_for(lambda: request(port, "GET", "/healthz")[0] == 503, 30)
    st, _, raw = request(port, "GET", "/healthz")
    m = scrape(port)
    tap(paused and raw.decode().startswith("flow OrderToCash paused since ") and
        m.get("syncrt_flow_paused{%s}" % f) == 1 and m.get("syncrt_auth_pauses_total", 0) >= 1 and
        m.get('syncrt_http_requests_total{peer="token",class="4xx"}', 0) >= 1,
        "credentials refused: /healthz 503 naming the flow, paused 1, the refused token request counted",
        (st, raw, {k: v for k, v in m.items() if "paus" in k or "token" in k}, s.log()[-1500:]))
    st, j, _ = request(port, "GET", "/status.json")
    o = {x["flow"]: x for x in (j or {}).get("flows", [])}.get("OrderToCash", {})
    tap(j.get("healthy") is False and o.get("paused") is True and o.get("paused_reason") and
        "wrong-secret" not in json.dumps(j), "/status.json: paused with the reason (%s), no secret in it"
        % o.get("paused_reason"), json.dumps(o)[:1000])
    rc = s.stop()
    tap(rc == 0, "sync run stops cleanly while paused, with the metrics server running", s.log()[-1500:])
    rc, out, _ = s.cmd("status", valgrind=False)
    stale = "paused: since" in out
    with open(sec, "w") as fh:
        fh.write(SECRET_OK)
    s.start()

    def settled():
        c = s.counts()
        return c.get("pending", 1) == 0 and c.get("leased", 1) == 0
    ok = wait_for(settled, 60) and wait_for(lambda: request(port, "GET", "/healthz")[0] == 200, 10)
    m = scrape(port)
    rc, out, _ = s.cmd("status", valgrind=False)
    tap(ok and stale and "paused: no" in out and m.get("syncrt_flow_paused{%s}" % f) == 0 and
        "event=flow_resumed flow=OrderToCash" in s.log(),
        "restarted with the secret fixed: the pause the earlier run left is cleared at the first contact "
        "(/healthz 200, sync status not paused)", out + s.log()[-1500:])
    heads, _ = sb.sales_orders()
    web = sum(1 for k in heads if k.startswith("WEB-"))
    d = m.get("syncrt_records_delivered_total{%s}" % f)
    x = m.get("syncrt_records_dead_lettered_total{%s}" % f)
    tap(d is not None and x is not None and d == web - web_before and d + x == len(ids) and d > 0,
        "the orders that waited are delivered: %s in this run = the new F&O sales orders (%d), "
        "+ %s dead-lettered = the %d new orders" % (d, web - web_before, x, len(ids)))
    rc = s.stop()
    tap(rc == 0, "sync run stops cleanly", s.log()[-1500:])
