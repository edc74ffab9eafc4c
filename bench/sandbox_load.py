#!/usr/bin/env python3
"""Load test of the sandbox's D365 emulator (driven by bench/sandbox_load.sh).

usage: sandbox_load.py BASE_URL PID DURATION_S THREADS OUT_JSON

THREADS workers, each on its own keep-alive connection, mix for DURATION_S seconds:
  55% GET queries (filtered/selected/paged customers, items, on-hand, key reads of orders),
  20% sales order creates (header POST + 1..3 line POSTs),
  15% $batch (one changeset: header + 3 lines),
  10% PATCH of an order created earlier.
The sandbox's RSS (VmRSS of PID) is sampled every second.  Writes OUT_JSON with requests/s,
counts per kind and status, latency percentiles and RSS at start / middle / end."""
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

base, pid, duration, nthreads, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlparse(base)
HOST, PORT = u.hostname, u.port


def rss_kb():
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return -1
    return -1


def get_token():
    c = http.client.HTTPConnection(HOST, PORT, timeout=30)
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "sync-client",
                                   "client_secret": "sync-secret", "scope": base + "/.default"})
    c.request("POST", "/sandbox/oauth2/v2.0/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    tok = json.loads(c.getresponse().read())["access_token"]
    c.close()
    return tok


TOKEN = get_token()
lock = threading.Lock()
stats = {"requests": 0, "by_kind": {}, "by_status": {}, "errors": 0, "latencies_ms": []}
stop_at = 0.0


def record(kind, status, ms):
    with lock:
        stats["requests"] += 1
        stats["by_kind"][kind] = stats["by_kind"].get(kind, 0) + 1
        stats["by_status"][str(status)] = stats["by_status"].get(str(status), 0) + 1
        if len(stats["latencies_ms"]) < 400000:
            stats["latencies_ms"].append(ms)


class Client:
    def __init__(self):
        self.c = None

    def req(self, kind, method, path, body=None, ctype="application/json"):
        h = {"Authorization": "Bearer " + TOKEN}
        if body is not None:
            h["Content-Type"] = ctype
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection(HOST, PORT, timeout=30)
            t0 = time.time()
            try:
                self.c.request(method, path, body=body, headers=h)
                r = self.c.getresponse()
                data = r.read()
                record(kind, r.status, (time.time() - t0) * 1000)
                return r.status, data
            except (OSError, http.client.HTTPException):
                self.c.close()
                self.c = None
                with lock:
                    stats["errors"] += 1
        return 0, b""


CUSTOMERS = ["US-%03d" % i for i in range(1, 7)]
ITEMS = ["A%04d" % i for i in range(1, 10)]
q = urllib.parse.quote


def worker(seed):
    rnd = random.Random(seed)
    cl = Client()
    mine = []
    n = 0
    while time.time() < stop_at:
        n += 1
        x = rnd.random()
        if x < 0.55:
            k = rnd.randrange(5)
            if k == 0:
                p = "/data/CustomersV3?$filter=" + q("CreditLimit gt 10000 and CustomerAccount eq 'US*'") + "&$select=CustomerAccount,OrganizationName&$top=10"
            elif k == 1:
                p = "/data/ReleasedProductsV2?$select=ItemNumber,SalesPrice&$orderby=SalesPrice%20desc&$top=20&$count=true"
            elif k == 2:
                p = "/data/WarehousesOnHandV2?$filter=" + q("ItemNumber eq '%s'" % rnd.choice(ITEMS))
            elif k == 3 and mine:
                p = "/data/SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')?$expand=SalesOrderLines" % rnd.choice(mine)
            else:
                p = "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='%s')" % rnd.choice(CUSTOMERS)
            cl.req("get", "GET", p)
        elif x < 0.75:
            st, data = cl.req("post", "POST", "/data/SalesOrderHeadersV2",
                              {"dataAreaId": "usmf", "OrderingCustomerAccountNumber": rnd.choice(CUSTOMERS)})
            if st == 201:
                so = json.loads(data)["SalesOrderNumber"]
                if len(mine) < 200:
                    mine.append(so)
                for _ in range(rnd.randrange(1, 4)):
                    cl.req("post", "POST", "/data/SalesOrderLines",
                           {"dataAreaId": "usmf", "SalesOrderNumber": so, "ItemNumber": rnd.choice(ITEMS),
                            "OrderedSalesQuantity": 1, "SalesPrice": 1.5})
        elif x < 0.90:
            num = "LB-%d-%d" % (seed, n)
            parts = [("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf", "SalesOrderNumber": num,
                                                      "OrderingCustomerAccountNumber": rnd.choice(CUSTOMERS)})]
            for _ in range(3):
                parts.append(("POST", "SalesOrderLines", {"dataAreaId": "usmf", "SalesOrderNumber": num,
                                                          "ItemNumber": rnd.choice(ITEMS), "OrderedSalesQuantity": 1,
                                                          "SalesPrice": 2}))
            lines = ["--b", "Content-Type: multipart/mixed; boundary=cs", ""]
            for i, (m, url, body) in enumerate(parts):
                lines += ["--cs", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                          "Content-ID: %d" % (i + 1), "", "%s %s HTTP/1.1" % (m, url),
                          "Content-Type: application/json", "", json.dumps(body)]
            lines += ["--cs--", "--b--", ""]
            cl.req("batch", "POST", "/data/$batch", "\r\n".join(lines), "multipart/mixed; boundary=b")
        elif mine:
            cl.req("patch", "PATCH", "/data/SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % rnd.choice(mine),
                   {"CustomersOrderReference": "R%d" % n})


samples = []
t_start = time.time()
stop_at = t_start + duration
samples.append((0.0, rss_kb()))
threads = [threading.Thread(target=worker, args=(i + 1,)) for i in range(nthreads)]
for t in threads:
    t.start()
while time.time() < stop_at:
    time.sleep(1)
    samples.append((round(time.time() - t_start, 1), rss_kb()))
for t in threads:
    t.join()
elapsed = time.time() - t_start
samples.append((round(elapsed, 1), rss_kb()))
lat = sorted(stats["latencies_ms"])


def pct(p):
    return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None


mid = samples[len(samples) // 2][1]
# "flat": the second half grows by less than 20% of the RSS at the middle
second_half_growth_kb = samples[-1][1] - mid
result = {
    "duration_s": round(elapsed, 1), "threads": nthreads, "requests": stats["requests"],
    "requests_per_s": round(stats["requests"] / elapsed, 1), "by_kind": stats["by_kind"],
    "by_status": stats["by_status"], "transport_errors": stats["errors"],
    "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0)},
    "rss_kb": {"start": samples[0][1], "middle": mid, "end": samples[-1][1]},
    "rss_second_half_growth_kb": second_half_growth_kb,
    "rss_flat": second_half_growth_kb < 0.2 * max(mid, 1),
    "rss_samples": samples,
}
with open(out, "w") as f:
    json.dump(result, f, indent=1)
print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}))
bad = [s for s in stats["by_status"] if s.startswith("5")]
sys.exit(1 if bad or stats["errors"] else 0)
