"""sblib.py - small python3 (stdlib only) client of build/sandbox and of the sync binary's
state, shared by `make demo` (scripts/demo/demo.py) and the end-to-end benchmark
(bench/e2e/bench.py).

What it does: HTTP to the two emulators (control routes, OData reads with a client-credentials
token, CEF searches with a session), free-port picking, the sync store read read-only (counts by
distinct Clarity order, delivery times from the audit log), percentiles.  It never starts or
stops processes: the callers (shell scripts with traps) do that by pid."""
import datetime
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.parse
from decimal import Decimal

CLARITY_ROOT = "/DesktopModules/ClarityEcommerce/API-Admin"
WEBHOOK_SECRET = "sandbox-webhook-secret"


def port_free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_ports(defaults):
    """The default ports when all are free, else as many distinct free ports from the OS."""
    if all(port_free(p) for p in defaults) and len(set(defaults)) == len(defaults):
        return list(defaults)
    out, socks = [], []
    for _ in defaults:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        out.append(s.getsockname()[1])
        socks.append(s)
    for s in socks:
        s.close()
    return out


def request(port, method, path, body=None, headers=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        h.setdefault("Content-Type", "application/json")
    try:
        c.request(method, path, data, h)
        r = c.getresponse()
        raw = r.read()
        status = r.status
    finally:
        c.close()
    try:
        j = json.loads(raw) if raw else None
    except ValueError:
        j = None
    return status, j, raw


def iso_ms(text):
    """ISO 8601 UTC text (with or without milliseconds) -> epoch milliseconds."""
    t = text.rstrip("Z")
    if "+" in t[10:]:
        t = t[:10] + t[10:].split("+")[0]
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in t else "%Y-%m-%dT%H:%M:%S"
    d = datetime.datetime.strptime(t, fmt).replace(tzinfo=datetime.timezone.utc)
    return int(round(d.timestamp() * 1000))


def percentile(values, p):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


class Sandbox:
    """A running build/sandbox (D365 on port, Clarity on cport)."""

    def __init__(self, port, cport):
        self.port, self.cport = port, cport
        self.token = None
        self.sid = None

    def healthy(self):
        try:
            return request(self.port, "GET", "/_sandbox/health", timeout=2)[0] == 200 and \
                request(self.cport, "GET", "/_sandbox/traffic", timeout=2)[0] == 200
        except OSError:
            return False

    def faults(self, cfg):
        return request(self.port, "PUT", "/_sandbox/faults", cfg)

    def stats(self, clarity=False):
        st, j, _ = request(self.cport if clarity else self.port, "GET", "/_sandbox/stats")
        return j if st == 200 else None

    def reset_stats(self):
        request(self.port, "DELETE", "/_sandbox/stats")

    def traffic(self, spec, timeout=600):
        st, j, raw = request(self.cport, "POST", "/_sandbox/traffic", spec, timeout=timeout)
        if st not in (200, 202):
            raise RuntimeError("traffic: HTTP %d %s" % (st, raw[:300]))
        return j

    def traffic_status(self):
        return request(self.cport, "GET", "/_sandbox/traffic")[1]

    # D365 (OData) with a client-credentials token
    def get_token(self):
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "sync-client",
                                       "client_secret": "sync-secret",
                                       "scope": "http://127.0.0.1:%d/.default" % self.port})
        st, j, raw = request(self.port, "POST", "/sandbox/oauth2/v2.0/token", form,
                             {"Content-Type": "application/x-www-form-urlencoded"})
        if st != 200:
            raise RuntimeError("token: HTTP %d %s" % (st, raw[:200]))
        self.token = j["access_token"]
        return self.token

    def d365_get(self, path):
        for _ in range(5):
            if not self.token:
                self.get_token()
            st, j, raw = request(self.port, "GET", path, headers={"Authorization": "Bearer " + self.token})
            if st == 401:
                self.token = None
                continue
            if st in (429, 503):
                time.sleep(1)
                continue
            return st, j
        return st, j

    def all_rows(self, path):
        rows, url = [], path
        while url:
            st, j = self.d365_get(url)
            if st != 200:
                raise RuntimeError("GET %s: HTTP %d %s" % (url, st, j))
            rows += j["value"]
            nl = j.get("@odata.nextLink")
            url = None
            if nl:
                u = urllib.parse.urlparse(nl)
                url = u.path + ("?" + u.query if u.query else "")
        return rows

    def sales_orders(self, prefix="WEB-"):
        """({SalesOrderNumber: header count}, {SalesOrderNumber: [line rows]}) of usmf whose
        number starts with prefix."""
        heads, lines = {}, {}
        for h in self.all_rows("/data/SalesOrderHeadersV2?$select=SalesOrderNumber,dataAreaId"):
            n = h["SalesOrderNumber"]
            if h.get("dataAreaId", "usmf") == "usmf" and n.startswith(prefix):
                heads[n] = heads.get(n, 0) + 1
        for ln in self.all_rows("/data/SalesOrderLines?$select=SalesOrderNumber,dataAreaId,ItemNumber,"
                                "OrderedSalesQuantity,SalesPrice"):
            n = ln["SalesOrderNumber"]
            if ln.get("dataAreaId", "usmf") == "usmf" and n.startswith(prefix):
                lines.setdefault(n, []).append(ln)
        return heads, lines

    # Clarity (CEF) with a session
    def clarity_session(self):
        st, j, raw = request(self.cport, "POST", CLARITY_ROOT + "/auth/identity",
                             {"UserName": "admin", "Password": "admin"})
        if st != 200:
            raise RuntimeError("Clarity login: HTTP %d %s" % (st, raw[:200]))
        self.sid = j["SessionId"]
        return self.sid

    def clarity_orders(self):
        """Every sales order stored in Clarity, {ID: order}, page by page."""
        sid = self.sid or self.clarity_session()
        out, page = {}, 1
        while True:
            st, j, raw = request(self.cport, "GET", CLARITY_ROOT + "/Ordering/SalesOrders?Paging.Size=500"
                                 "&Paging.StartIndex=%d&noCache=true" % page, headers={"X-ss-id": sid})
            if st != 200:
                raise RuntimeError("Clarity search: HTTP %d %s" % (st, raw[:300]))
            for o in j.get("Results") or []:
                out[o["ID"]] = o
            if page >= (j.get("TotalPages") or 0):
                return out
            page += 1


def fo_calls(stats):
    """F&O API calls in a /_sandbox/stats answer (control routes excluded), by kind."""
    total, by = 0, {}
    for r in (stats or {}).get("routes", []):
        if r["route"].startswith("/_sandbox"):
            continue
        total += r["count"]
        key = "%s %s" % (r["method"], r["route"])
        if r["status"] == 429:
            key += " (429)"
        by[key] = by.get(key, 0) + r["count"]
    return total, by


def expected_lines(order):
    """An order's lines as the OrderToCash map sends them: merged by (Sku, price), quantities
    summed; sorted (ItemNumber, qty, price)."""
    merged = {}
    for it in order.get("SalesItems") or []:
        k = (it["Sku"], Decimal(str(it.get("UnitSoldPrice", 0))))
        merged[k] = merged.get(k, Decimal(0)) + Decimal(str(it.get("Quantity", 1)))
    return sorted((k[0], q.normalize(), k[1].normalize()) for k, q in merged.items())


def landed_lines(rows):
    return sorted((r["ItemNumber"], Decimal(str(r["OrderedSalesQuantity"])).normalize(),
                   Decimal(str(r["SalesPrice"])).normalize()) for r in rows)


def source_id(source_key):
    """Clarity order ID of a sync source key such as SalesOrder.Created:42 (None otherwise)."""
    try:
        return int(source_key.rsplit(":", 1)[1])
    except (IndexError, ValueError, AttributeError):
        return None


class Store:
    """The sync binary's SQLite store, opened read-only (it may be running)."""

    def __init__(self, path):
        self.path = path

    def _q(self, sql, args=()):
        db = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(self.path), uri=True, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def counts(self, flow="OrderToCash"):
        """Per distinct source record (a Clarity order): received, delivered, dead, in flight.
        A polled copy of an order that came by webhook is one order, not two."""
        if not os.path.exists(self.path):
            return {"received": 0, "delivered": 0, "dead": 0, "in_flight": 0}
        try:
            rec = self._q("SELECT count(DISTINCT source_key) FROM inbox WHERE flow = ?", (flow,))[0][0]
            dlv = self._q("SELECT count(DISTINCT source_key) FROM audit WHERE flow = ? AND "
                          "outcome = 'delivered'", (flow,))[0][0]
            dead = self._q("SELECT count(DISTINCT source_key) FROM inbox WHERE flow = ? AND "
                           "state = 'dead'", (flow,))[0][0]
            fl = self._q("SELECT count(*) FROM inbox WHERE flow = ? AND state IN ('pending','leased')",
                         (flow,))[0][0]
        except sqlite3.Error:
            return None
        return {"received": rec, "delivered": dlv, "dead": dead, "in_flight": fl}

    def delivered_at(self, flow="OrderToCash"):
        """{Clarity order ID: epoch ms of the first 'delivered' audit row}."""
        out = {}
        for sk, at in self._q("SELECT source_key, min(at) FROM audit WHERE flow = ? AND "
                              "outcome = 'delivered' GROUP BY source_key", (flow,)):
            i = source_id(sk)
            if i is not None:
                out[i] = at
        return out

    def received_at(self, flow="OrderToCash"):
        """{Clarity order ID: epoch ms the sync first committed it to its inbox}."""
        out = {}
        for sk, at in self._q("SELECT source_key, min(received_at) FROM inbox WHERE flow = ? "
                              "GROUP BY source_key", (flow,)):
            i = source_id(sk)
            if i is not None:
                out[i] = at
        return out

    def sources(self, flow="OrderToCash"):
        """{Clarity order ID: set of inbox states of its records}."""
        out = {}
        for sk, state in self._q("SELECT source_key, state FROM inbox WHERE flow = ?", (flow,)):
            i = source_id(sk)
            if i is not None:
                out.setdefault(i, set()).add(state)
        return out


def sync_cmd(sync, config, *args, env=None, timeout=120):
    p = subprocess.run([sync] + list(args) + ["--config", config], capture_output=True,
                       env=env, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def sync_dlq(sync, config, env=None):
    """`sync dlq list` as [{id, time, flow, source, attempts, reason}]."""
    rc, out, err = sync_cmd(sync, config, "dlq", "list", env=env)
    rows = []
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) >= 6:
            rows.append({"id": int(f[0]), "time": f[1], "flow": f[2], "source": f[3],
                         "attempts": int(f[4]), "reason": f[5]})
    return rows


def sync_flows(sync, config, env=None):
    """The flows `sync status` lists (the ones this binary has): {name: enabled?, counts}."""
    rc, out, err = sync_cmd(sync, config, "status", env=env)
    flows, cur = {}, None
    for line in out.splitlines():
        if line.startswith("flow ") and ":" in line:
            name = line[5:].split(":")[0]
            cur = flows.setdefault(name, {"enabled": line.rstrip().endswith("enabled")})
        elif cur is not None and line.startswith("  ") and ":" in line:
            k, v = line.strip().split(":", 1)
            cur[k] = v.strip()
    return flows
