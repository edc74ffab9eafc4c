"""harness.py - shared by tests/e2e and tests/chaos: starts build/sandbox and the sync binary
on free ports, drives the sandbox's control routes (traffic, faults, webhooks, stats), reads
what landed in F&O, and prints TAP.

Everything it starts is stopped at exit (atexit), never by name: by the pid it started."""
import atexit
import hashlib
import hmac
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from decimal import Decimal

TOP = os.environ.get("TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(TOP, BUILD)
VALGRIND = os.environ.get("VALGRIND_CMD", "").split()
SANDBOX = os.path.join(BUILD, "sandbox")
SYNC = os.path.join(BUILD, "sync")
METADATA = os.path.join(TOP, "specs", "d365", "metadata.xml")
CLARITY_ROOT = "/DesktopModules/ClarityEcommerce/API-Admin"
WEBHOOK_SECRET = "sandbox-webhook-secret"

_n = 0
_failed = 0
_procs = []
_sanitizer = []     # sanitizer or valgrind reports seen in the sync binary's output

SAN_MARKS = ("runtime error:", "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
             "== Invalid", "definitely lost")


def _scan(what, text):
    for m in SAN_MARKS:
        if m in text:
            i = text.index(m)
            _sanitizer.append("%s: %s" % (what, text[max(0, i - 200):i + 1500]))
            return


def tap(ok, what, detail=None):
    global _n, _failed
    _n += 1
    if not ok:
        _failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", _n, what))
    if detail and not ok:
        for line in str(detail).splitlines()[-40:]:
            print("#   " + line)
    sys.stdout.flush()
    return ok


def done():
    tap(not _sanitizer, "no sanitizer or valgrind report from the sync binary", "\n".join(_sanitizer[:3]))
    print("1..%d" % _n)
    sys.stdout.flush()
    return 1 if _failed else 0


def free_port():
    for _ in range(200):
        p = 20000 + random.randrange(20000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_cleanup)


def request(port, method, path, body=None, headers=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, data, h)
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        j = json.loads(raw) if raw else None
    except ValueError:
        j = None
    return r.status, j, raw


class Sandbox:
    def __init__(self, workdir, extra=()):
        self.workdir = workdir
        self.extra = list(extra)
        self.proc = None
        self.token = None

    def start(self):
        for _ in range(10):
            self.port, self.cport = free_port(), free_port()
            log = open(os.path.join(self.workdir, "sandbox.log"), "ab")
            self.proc = subprocess.Popen([SANDBOX, "--metadata", METADATA, "--d365-port", str(self.port),
                                          "--clarity-port", str(self.cport)] + self.extra,
                                         stdout=log, stderr=log, cwd=self.workdir)
            _procs.append(self.proc)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                try:
                    if request(self.port, "GET", "/_sandbox/health", timeout=2)[0] == 200 and \
                       request(self.cport, "GET", "/_sandbox/traffic", timeout=2)[0] == 200:
                        # one counted request (a token), so /_sandbox/stats is never read empty:
                        # the sandbox's stats table trips UBSan when it is (qsort of NULL, 0)
                        self.d365("/_sandbox/health")
                        return self
                except OSError:
                    pass
                time.sleep(0.1)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        raise RuntimeError("sandbox did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # control
    def faults(self, cfg):
        return request(self.port, "PUT", "/_sandbox/faults", cfg)

    def clear_faults(self):
        return request(self.port, "DELETE", "/_sandbox/faults")

    def stats(self):
        return request(self.port, "GET", "/_sandbox/stats")[1]

    def calls(self, route=None, method=None, status=None):
        n = 0
        for r in self.stats()["routes"]:
            if (route is None or r["route"] == route) and (method is None or r["method"] == method) \
               and (status is None or r["status"] == status):
                n += r["count"]
        return n

    def traffic(self, spec):
        spec = dict(spec)
        spec.setdefault("wait", True)
        st, j, raw = request(self.cport, "POST", "/_sandbox/traffic", spec, timeout=600)
        if st not in (200, 202):
            raise RuntimeError("traffic: %d %s" % (st, raw[:300]))
        return j

    def traffic_status(self):
        return request(self.cport, "GET", "/_sandbox/traffic")[1]

    def webhooks(self, cfg=None, limit=0):
        if cfg is not None:
            return request(self.cport, "PUT", "/_sandbox/webhooks?limit=%d" % limit, cfg)[1]
        return request(self.cport, "GET", "/_sandbox/webhooks?limit=%d" % limit)[1]

    # D365 data
    def d365(self, path):
        for attempt in range(2):
            if not self.token:
                form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "sync-client",
                                               "client_secret": "sync-secret",
                                               "scope": "http://127.0.0.1:%d/.default" % self.port})
                st, j, _ = request(self.port, "POST", "/sandbox/oauth2/v2.0/token", form,
                                   {"Content-Type": "application/x-www-form-urlencoded"})
                self.token = j["access_token"]
            st, j, raw = request(self.port, "GET", path, headers={"Authorization": "Bearer " + self.token})
            if st == 401:
                self.token = None
                continue
            return st, j
        return st, j

    def all_rows(self, path):
        rows = []
        url = path
        while url:
            st, j = self.d365(url)
            if st != 200:
                raise RuntimeError("GET %s: %d %s" % (url, st, j))
            rows += j["value"]
            nl = j.get("@odata.nextLink")
            url = None
            if nl:
                u = urllib.parse.urlparse(nl)
                url = u.path + ("?" + u.query if u.query else "")
        return rows

    def sales_orders(self):
        """{SalesOrderNumber: [header rows]}, {SalesOrderNumber: [line rows]} of usmf."""
        heads, lines = {}, {}
        for h in self.all_rows("/data/SalesOrderHeadersV2?$select=SalesOrderNumber,dataAreaId,"
                               "OrderingCustomerAccountNumber"):
            heads.setdefault(h["SalesOrderNumber"], []).append(h)
        for l in self.all_rows("/data/SalesOrderLines?$select=SalesOrderNumber,ItemNumber,"
                               "OrderedSalesQuantity,SalesPrice"):
            lines.setdefault(l["SalesOrderNumber"], []).append(l)
        return heads, lines

    # Clarity data
    def clarity_session(self):
        st, j, _ = request(self.cport, "POST", CLARITY_ROOT + "/auth/identity",
                           {"UserName": "admin", "Password": "admin"})
        return j["SessionId"]

    def clarity_orders(self):
        """Every sales order stored in Clarity, {ID: order}, read page by page."""
        sid = self.clarity_session()
        out, page = {}, 1
        while True:
            st, j, raw = request(self.cport, "GET", CLARITY_ROOT + "/Ordering/SalesOrders?Paging.Size=500"
                                 "&Paging.StartIndex=%d&noCache=true" % page, headers={"X-ss-id": sid})
            if st != 200:
                raise RuntimeError("Clarity search: %d %s" % (st, raw[:300]))
            for o in j.get("Results") or []:
                out[o["ID"]] = o
            if page >= (j.get("TotalPages") or 0):
                return out
            page += 1

    def clarity_order(self, oid, sid):
        st, j, _ = request(self.cport, "GET", CLARITY_ROOT + "/Ordering/SalesOrder/ID/%d" % oid,
                           headers={"X-ss-id": sid})
        return j


def expected_lines(order):
    """The order's lines as the map sends them: merged by (Sku, Quantity? no: Sku and price),
    quantities summed; as a sorted list of (ItemNumber, Decimal qty, Decimal price)."""
    merged = {}
    for it in order.get("SalesItems") or []:
        k = (it["Sku"], Decimal(str(it.get("UnitSoldPrice", 0))))
        merged[k] = merged.get(k, Decimal(0)) + Decimal(str(it.get("Quantity", 1)))
    return sorted((k[0], q.normalize(), k[1].normalize()) for k, q in merged.items())


def landed_lines(rows):
    return sorted((r["ItemNumber"], Decimal(str(r["OrderedSalesQuantity"])).normalize(),
                   Decimal(str(r["SalesPrice"])).normalize()) for r in rows)


def sign(body, ts=None, secret=WEBHOOK_SECRET):
    ts = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), (ts + ".").encode() + body, hashlib.sha256).hexdigest()
    return ts, "sha256=" + mac


class Sync:
    """The sync binary with one config file and one store in workdir."""

    def __init__(self, workdir, sb, webhook_port=None, overrides=None, env=None):
        self.workdir = workdir
        self.sb = sb
        self.webhook_port = webhook_port or free_port()
        self.proc = None
        self.logf = None
        self.env = dict(os.environ)
        self.env.update({"SYNC_D365_SECRET": "sync-secret", "SYNC_CLARITY_PASSWORD": "admin",
                         "SYNC_WEBHOOK_SECRET": WEBHOOK_SECRET})
        self.env.pop("SYNC_PROFILE", None)
        self.env.update(env or {})
        with open(os.path.join(TOP, "examples", "sync.sandbox.json")) as f:
            cfg = json.load(f)
        cfg["profile"] = "test"
        # OrderToCash only unless a test enables more (the example enables the F&O -> Clarity
        # flows too; the order tests count requests on both sides)
        cfg["flows"] = {"OrderToCash": cfg["flows"]["OrderToCash"]}
        cfg["store"] = os.path.join(workdir, "sync.db")
        d, c = cfg["d365"], cfg["clarity"]
        d["url"] = "http://127.0.0.1:%d" % sb.port
        d["token_url"] = "http://127.0.0.1:%d/sandbox/oauth2/v2.0/token" % sb.port
        d["scope"] = "http://127.0.0.1:%d/.default" % sb.port
        c["root"] = "http://127.0.0.1:%d%s" % (sb.cport, CLARITY_ROOT)
        cfg["webhook"]["port"] = self.webhook_port
        cfg["profiles"]["test"] = {"log_level": "debug",
                                   "workers": {"count": 2, "auth_pause_s": 2, "lease_s": 30},
                                   "flows": {"OrderToCash": {"poll_every_s": 2, "overlap_s": 600,
                                             "retry": {"max_attempts": 8, "base_ms": 100, "cap_ms": 2000}}}}
        for k, v in (overrides or {}).items():
            cfg["profiles"]["test"][k] = v
        self.cfg = cfg
        self.path = os.path.join(workdir, "sync.json")
        self.write_config()

    def write_config(self):
        with open(self.path, "w") as f:
            json.dump(self.cfg, f, indent=2)

    def cmd(self, *args, timeout=300, stdin=None, valgrind=True):
        p = subprocess.run((VALGRIND if valgrind else []) + [SYNC] + list(args) + ["--config", self.path],
                           input=stdin, capture_output=True, env=self.env, timeout=timeout,
                           cwd=self.workdir)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        _scan("sync " + " ".join(args), err)
        return p.returncode, out, err

    def start(self, valgrind=True):
        self.logpath = os.path.join(self.workdir, "sync-run.log")
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen((VALGRIND if valgrind else []) + [SYNC, "run", "--config", self.path],
                                     stdout=self.logf, stderr=self.logf, env=self.env, cwd=self.workdir)
        _procs.append(self.proc)
        for _ in range(200):
            if self.proc.poll() is not None:
                raise RuntimeError("sync run exited: " + self.log()[-2000:])
            if "event=running" in self.log():
                return self
            time.sleep(0.05)
        raise RuntimeError("sync run did not start: " + self.log()[-2000:])

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.logf.close()
        _scan("sync run", self.log())
        return rc

    def dlq(self):
        rc, out, err = self.cmd("dlq", "list", valgrind=False)
        rows = []
        for line in out.splitlines():
            f = line.split("\t")
            if len(f) >= 6:
                rows.append({"id": int(f[0]), "flow": f[2], "source": f[3], "attempts": int(f[4]),
                             "reason": f[5]})
        return rows

    def dlq_show(self, i):
        return self.cmd("dlq", "show", str(i), valgrind=False)[1]

    def counts(self):
        rc, out, err = self.cmd("status", valgrind=False)
        c = {}
        for line in out.splitlines():
            line = line.strip()
            for k in ("pending", "leased", "done", "dead"):
                if line.startswith(k + ":"):
                    c[k] = int(line.split(":")[1])
        return c


def order_ids_of(sb):
    return list(sb.traffic_status().get("order_ids") or [])


def wait_for(fn, timeout, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def check_orders(sb, ids, allow_dead=()):
    """Every Clarity order id in ids is in F&O exactly once with its lines, except those in
    allow_dead (which must be absent).  Returns (ok, detail)."""
    heads, lines = sb.sales_orders()
    orders = sb.clarity_orders()
    problems = []
    for oid in ids:
        son = "WEB-%d" % oid
        if oid in allow_dead:
            if son in heads:
                problems.append("%s: dead-lettered but present in F&O" % son)
            continue
        h = heads.get(son, [])
        if len(h) != 1:
            problems.append("%s: %d headers" % (son, len(h)))
            continue
        if oid not in orders:
            problems.append("%s: not in Clarity" % son)
            continue
        want = expected_lines(orders[oid])
        got = landed_lines(lines.get(son, []))
        if want != got:
            problems.append("%s: lines %s, expected %s" % (son, got, want))
    extra = [k for k in heads if k.startswith("WEB-") and int(k[4:]) not in ids]
    if extra:
        problems.append("unexpected orders in F&O: %s" % extra[:10])
    return not problems, "\n".join(problems[:30])


def workdir(name):
    d = tempfile.mkdtemp(prefix="sync-%s-" % name)
    atexit.register(lambda: shutil.rmtree(d, ignore_errors=True) if not os.environ.get("KEEP") else None)
    return d


def clarity_products(sb):
    """{CustomKey: product} of every product stored in Clarity."""
    sid = sb.clarity_session()
    out, page = {}, 1
    while True:
        st, j, raw = request(sb.cport, "GET", CLARITY_ROOT + "/Products/Products?Paging.Size=500"
                             "&Paging.StartIndex=%d&noCache=true" % page, headers={"X-ss-id": sid})
        if st != 200:
            raise RuntimeError("Clarity search: %d %s" % (st, raw[:300]))
        for p in j.get("Results") or []:
            out[p.get("CustomKey")] = p
        if page >= (j.get("TotalPages") or 0):
            return out
        page += 1
