#!/usr/bin/env python3
"""Protocol tests of the sandbox's D365 F&O emulator, over real sockets against the running
binary ($BUILD/sandbox).  Prints TAP ("ok N - what" / "not ok N - what"); exit status 0 only
when every test passed.  Run through tests/sandbox/suite.sh (env BUILD, TOP, VALGRIND_CMD)."""
import http.client
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

TOP = os.environ.get("TOP", os.getcwd())
BUILD = os.environ.get("BUILD", "build")
BIN = os.path.join(TOP, BUILD, "sandbox") if not os.path.isabs(BUILD) else os.path.join(BUILD, "sandbox")
VALGRIND = shlex.split(os.environ.get("VALGRIND_CMD", "") or "")
METADATA = os.path.join(TOP, "specs/d365/metadata.xml")
DATA = os.path.join(TOP, "tests/sandbox/data")
NS = "Microsoft.Dynamics.DataEntities"

count = 0
failed = 0


def tap(ok, what, detail=None):
    global count, failed
    count += 1
    if not ok:
        failed += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (count, what))
    if not ok and detail is not None:
        for line in str(detail).splitlines()[:30]:
            print("#   " + line)
    sys.stdout.flush()


def check(what, fn):
    """Run one test body; it returns True/False or (bool, detail); exceptions fail it."""
    try:
        r = fn()
        if isinstance(r, tuple):
            tap(bool(r[0]), what, r[1])
        else:
            tap(bool(r), what)
    except Exception:
        tap(False, what, traceback.format_exc())


def free_port():
    for _ in range(50):
        p = 20000 + random.randrange(20000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            s.close()
            return p
        except OSError:
            s.close()
    raise RuntimeError("no free port")


class Sandbox:
    """One running sandbox process (D365 only unless both=True)."""

    def __init__(self, extra=(), both=False, env=None):
        self.extra = list(extra)
        self.both = both
        self.env = env
        self.proc = None

    def start(self):
        for _attempt in range(5):
            self.port = free_port()
            self.cport = free_port()
            args = VALGRIND + [BIN, "--d365-port", str(self.port), "--metadata", METADATA]
            if self.both:
                args += ["--clarity-port", str(self.cport)]
            else:
                args += ["--only", "d365"]
            args += self.extra
            self.log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                         env=self.env)
            deadline = time.time() + 30
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    st, _, _ = self.request("GET", "/_sandbox/health", timeout=1)
                    if st == 200 and self.both:
                        st, _, _ = self.request("GET", "/_sandbox/health", timeout=1,
                                                port=self.cport)
                    if st == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("sandbox did not start: " + self.output())

    def output(self):
        try:
            self.log.seek(0)
            return self.log.read().decode(errors="replace")
        except Exception:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, timeout=30, port=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
            elif isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            c.close()

    def token(self, v2=True, audience=None, secret="sync-secret", client="sync-client",
              tenant="sandbox"):
        aud = audience or self.base
        form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret}
        if v2:
            form["scope"] = aud + "/.default"
        else:
            form["resource"] = aud
        path = "/%s/oauth2/%stoken" % (tenant, "v2.0/" if v2 else "")
        return self.request("POST", path, urllib.parse.urlencode(form),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def auth(self):
        if not getattr(self, "_tok", None):
            st, _, b = self.token()
            self._tok = json.loads(b)["access_token"]
        return {"Authorization": "Bearer " + self._tok}

    def data(self, method, path, body=None, headers=None, timeout=30):
        h = self.auth()
        h.update(headers or {})
        st, hd, b = self.request(method, "/data/" + path, body, h, timeout=timeout)
        try:
            j = json.loads(b) if b and hd.get("content-type", "").startswith("application/json") else None
        except ValueError:
            j = None
        return st, hd, j, b


def q(s):
    return urllib.parse.quote(s, safe="(),='*$&:?/")


def fo_error(j):
    """Is j the F&O error body?"""
    try:
        e = j["error"]
        return e["code"] == "" and e["message"] == "An error has occurred." and \
            isinstance(e["innererror"]["message"], str) and "type" in e["innererror"]
    except (KeyError, TypeError):
        return False


def inner(j):
    try:
        return j["error"]["innererror"]["message"]
    except (KeyError, TypeError):
        return ""


def metadata_props(type_name):
    s = open(METADATA, encoding="utf-8-sig").read()
    m = re.search(r'<EntityType Name="%s">(.*?)</EntityType>' % type_name, s, re.S)
    return re.findall(r'<Property Name="([^"]*)"', m.group(1))


def sample(name):
    return json.load(open(os.path.join(DATA, name + ".test.json")))


# --------------------------------------------------------------------------- the tests


def cli_tests():
    r = subprocess.run(VALGRIND + [BIN, "--help"], capture_output=True, text=True, timeout=60)
    check("--help exits 0 and documents the CONTRACT options",
          lambda: (r.returncode == 0 and all(o in r.stdout for o in
                   ["--d365-port", "--clarity-port", "--page-size", "--seed", "--data",
                    "--metadata", "--config"]), r.stdout[-2000:]))
    r = subprocess.run(VALGRIND + [BIN, "--no-such-option", "1"], capture_output=True, text=True,
                       timeout=60)
    check("an unknown option exits 2 with a message",
          lambda: (r.returncode == 2 and "unknown option" in r.stderr, r.stderr))
    r = subprocess.run(VALGRIND + [BIN, "--only", "d365", "--d365-port", str(free_port()),
                                   "--metadata", "/nonexistent/metadata.xml"],
                       capture_output=True, text=True, timeout=60)
    check("a missing metadata file exits 1 with a clear error",
          lambda: (r.returncode == 1 and "metadata file" in r.stderr and "not found" in r.stderr,
                   r.stderr))


def auth_tests(sb):
    st, hd, b = sb.token(v2=True)
    j = json.loads(b)
    check("v2 token endpoint (scope=<env>/.default) issues a bearer token",
          lambda: (st == 200 and j["token_type"] == "Bearer" and j["expires_in"] == 3599 and
                   len(j["access_token"]) > 100, b))
    st, hd, b = sb.token(v2=False)
    j1 = json.loads(b)
    check("v1 token endpoint (resource=<env>) issues a bearer token with expires_on",
          lambda: (st == 200 and j1["token_type"] == "Bearer" and j1["resource"] == sb.base and
                   "expires_on" in j1, b))
    st, hd, b = sb.token(secret="wrong")
    check("a wrong client secret gets 401 invalid_client (AADSTS7000215)",
          lambda: (st == 401 and json.loads(b)["error"] == "invalid_client" and
                   "AADSTS7000215" in json.loads(b)["error_description"], b))
    st, hd, b = sb.token(client="nobody")
    check("an unknown client id gets 400 unauthorized_client",
          lambda: (st == 400 and json.loads(b)["error"] == "unauthorized_client", b))
    st, hd, b = sb.request("POST", "/sandbox/oauth2/v2.0/token",
                           "grant_type=client_credentials&client_id=sync-client&client_secret="
                           "sync-secret&scope=" + urllib.parse.quote(sb.base),
                           {"Content-Type": "application/x-www-form-urlencoded"})
    check("a v2 scope without /.default gets 400 invalid_scope",
          lambda: (st == 400 and json.loads(b)["error"] == "invalid_scope", b))
    st, hd, b = sb.token(tenant="contoso")
    check("an unknown tenant gets 400 with AADSTS90002",
          lambda: (st == 400 and "AADSTS90002" in json.loads(b)["error_description"], b))

    st, hd, b = sb.request("GET", "/data/CustomersV3?$top=1")
    j = json.loads(b)
    check("/data without a token gets 401, WWW-Authenticate and the F&O error body",
          lambda: (st == 401 and "bearer" in hd.get("www-authenticate", "").lower() and
                   fo_error(j), (st, hd, b)))
    st, hd, b = sb.token(audience="https://graph.microsoft.com")
    other = json.loads(b)["access_token"]
    st, hd, b = sb.request("GET", "/data/CustomersV3?$top=1", headers={"Authorization": "Bearer " + other})
    check("a token for another audience gets 401",
          lambda: (st == 401 and "audience" in inner(json.loads(b)), b))
    st, hd, b = sb.token()
    t2 = json.loads(b)["access_token"]
    h2 = {"Authorization": "Bearer " + t2}
    ok1 = sb.request("GET", "/data/CustomersV3?$top=1", headers=h2)[0]
    sb.request("POST", "/_sandbox/revoke?token=" + urllib.parse.quote(t2))
    st, hd, b = sb.request("GET", "/data/CustomersV3?$top=1", headers=h2)
    check("a revoked token gets 401 (it worked before /_sandbox/revoke)",
          lambda: (ok1 == 200 and st == 401 and "revoked" in inner(json.loads(b)), b))
    st, hd, b = sb.token()
    t3 = json.loads(b)["access_token"]
    sb.request("POST", "/_sandbox/expire?token=" + urllib.parse.quote(t3))
    st, hd, b = sb.request("GET", "/data/CustomersV3?$top=1", headers={"Authorization": "Bearer " + t3})
    check("an expired token gets 401 'expired'",
          lambda: (st == 401 and "expired" in inner(json.loads(b)), b))
    st, hd, b = sb.request("GET", "/data/CustomersV3?$top=1",
                           headers={"Authorization": "Bearer not-a-token"})
    check("a made-up token gets 401", lambda: st == 401)


def short_token_test():
    sb = Sandbox(["--token-lifetime", "1"]).start()
    try:
        st, hd, b = sb.token()
        tok = json.loads(b)
        h = {"Authorization": "Bearer " + tok["access_token"]}
        first = sb.request("GET", "/data/CustomersV3?$top=1", headers=h)[0]
        time.sleep(2.2)
        st, hd, b = sb.request("GET", "/data/CustomersV3?$top=1", headers=h)
        check("--token-lifetime: tokens really expire (200, then 401 after the lifetime)",
              lambda: (tok["expires_in"] == 1 and first == 200 and st == 401, (first, st, b)))
    finally:
        sb.stop()


def metadata_tests(sb):
    h = sb.auth()
    st, hd, b = sb.request("GET", "/data/$metadata", headers=h)
    check("/data/$metadata serves the metadata file as application/xml",
          lambda: (st == 200 and hd["content-type"].startswith("application/xml") and
                   b == open(METADATA, "rb").read(), (st, hd)))
    st, hd, j, b = sb.data("GET", "NoSuchEntities")
    check("an unknown entity set gets 404 with the F&O error body",
          lambda: (st == 404 and fo_error(j), b))
    st, hd, j, b = sb.data("GET", "")
    check("/data/ lists the entity sets of the metadata",
          lambda: (st == 200 and any(v["name"] == "SalesOrderHeadersV2" for v in j["value"]), b))


def company_tests(sb):
    st, hd, j, b = sb.data("GET", "CustomersV3?$count=true&$top=0")
    st2, hd2, j2, b2 = sb.data("GET", "CustomersV3?cross-company=true&$count=true&$top=0")
    check("default company usmf only; cross-company=true adds usrt",
          lambda: (st == 200 and j["@odata.count"] == 48 and j2["@odata.count"] == 51, (b, b2)))
    st, hd, j, b = sb.data("GET", q("CustomersV3?cross-company=true&$filter=dataAreaId eq 'usrt'"))
    check("cross-company with a dataAreaId filter returns usrt rows",
          lambda: (st == 200 and len(j["value"]) == 3 and
                   all(v["dataAreaId"] == "usrt" for v in j["value"]), b))
    st, hd, j, b = sb.data("GET", "CustomersV3(dataAreaId='usrt',CustomerAccount='US-001')")
    check("a key URL names the company", lambda: (st == 200 and j["dataAreaId"] == "usrt", b))
    st, hd, j, b = sb.data("POST", "CustomersV3", {"dataAreaId": "usrt", "OrganizationName": "RT Co",
                                                   "CustomerGroupId": "10", "SalesCurrencyCode": "USD"})
    check("dataAreaId in the write body picks the company",
          lambda: (st == 201 and j["dataAreaId"] == "usrt", b))
    st, hd, j, b = sb.data("POST", "CustomersV3", {"dataAreaId": "zzzz", "OrganizationName": "X",
                                                   "CustomerGroupId": "10", "SalesCurrencyCode": "USD"})
    check("an unknown company is refused with 400", lambda: (st == 400 and fo_error(j), b))


def key_tests(sb):
    acct = "O'Brien & Sons 1/2"
    st, hd, j, b = sb.data("POST", "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": acct,
                                                   "OrganizationName": "O'Brien",
                                                   "CustomerGroupId": "10",
                                                   "SalesCurrencyCode": "USD"})
    loc = hd.get("location", "")
    path = "CustomersV3(dataAreaId='usmf',CustomerAccount='%s')" % urllib.parse.quote(
        acct.replace("'", "''"), safe="")
    st2, hd2, j2, b2 = sb.data("GET", path)
    check("manual key with a quote, a space, & and /: created, then read by a percent-encoded key "
          "URL with the quote doubled",
          lambda: (st == 201 and st2 == 200 and j2["CustomerAccount"] == acct and
                   "O''Brien" in urllib.parse.unquote(loc), (b, loc, b2)))
    st, hd, j, b = sb.data("GET", "CustomersV3(dataAreaId='usmf',CustomerAccount='NOPE-999')")
    check("a missing key gets 404 with the F&O body", lambda: (st == 404 and fo_error(j), b))
    st, hd, j, b = sb.data("GET", "CustomersV3(dataAreaId='usmf')")
    check("an incomplete key gets 400", lambda: (st == 400 and fo_error(j), b))
    st, hd, j, b = sb.data("GET", "CustomersV3(dataAreaId='usmf',CustomerAccount='US-001'")
    check("an unbalanced key gets 400", lambda: (st == 400 and fo_error(j), b))
    st, hd, j, b = sb.data("GET", "CustomersV3(dataAreaId='usmf',CustomerAccount='us-001')")
    check("keys compare case-insensitively like F&O", lambda: (st == 200, b))


def query_tests(sb):
    def vals(path):
        st, hd, j, b = sb.data("GET", q(path))
        assert st == 200, b
        return j

    j = vals("CustomersV3?$filter=CreditLimit gt 10000 and CreditLimit le 200000&$count=true&$top=0")
    hi = j["@odata.count"]
    j = vals("CustomersV3?$filter=CreditLimit lt 1000&$select=CustomerAccount,CreditLimit")
    lo = j["value"]
    check("$filter gt/le/lt on decimals partitions the customers (high + low == all seeded)",
          lambda: (hi + len(lo) >= 48 and len(lo) >= 6 and
                   all(v["CreditLimit"] < 1000 for v in lo), (hi, lo)))
    j = vals("CustomersV3?$filter=CustomerAccount eq 'US-001' or CustomerAccount eq 'US-002'")
    j2 = vals("CustomersV3?$filter=not (CustomerAccount ne 'US-001')")
    check("$filter or / not / parentheses",
          lambda: (sorted(v["CustomerAccount"] for v in j["value"]) == ["US-001", "US-002"] and
                   [v["CustomerAccount"] for v in j2["value"]] == ["US-001"], (j, j2)))
    j = vals("CustomersV3?$filter=CustomerAccount eq '*S-00*'&$select=CustomerAccount")
    check("'*x*' with eq is contains",
          lambda: (len(j["value"]) > 0 and all("S-00" in v["CustomerAccount"] for v in j["value"]), j))
    mail = vals("CustomersV3?$filter=CustomerAccount eq 'US-001'&$select=PrimaryContactEmail")["value"][0][
        "PrimaryContactEmail"]
    j = vals("CustomersV3?$filter=dataAreaId eq 'usmf' and PrimaryContactEmail eq '%s  '"
             "&$select=CustomerAccount" % mail.upper())
    j2 = vals("CustomersV3?$filter=dataAreaId eq 'usmf' and PrimaryContactEmail ne '%s '"
              "&$select=CustomerAccount" % mail.title())
    check("eq on strings is F&O's SQL collation: case-insensitive, trailing blanks ignored (ne likewise)",
          lambda: ([v["CustomerAccount"] for v in j["value"]] == ["US-001"] and
                   "US-001" not in [v["CustomerAccount"] for v in j2["value"]] and len(j2["value"]) > 0,
                   (mail, j, j2)))
    j = vals("CustomersV3?$filter=CreditLimitIsMandatory eq %s.NoYes'No'&$count=true&$top=0" % NS)
    check("enum literal Microsoft.Dynamics.DataEntities.NoYes'No'",
          lambda: (j["@odata.count"] >= 48, j))
    st, hd, jj, b = sb.data("GET", q("CustomersV3?$filter=CreditLimitIsMandatory eq 'No'"))
    check("an enum compared with a plain string is refused like OData (incompatible types)",
          lambda: (st == 400 and "incompatible" in inner(jj), b))
    st, hd, jj, b = sb.data("GET", q("CustomersV3?$filter=CreditLimitIsMandatory eq %s.NoYes'Maybe'" % NS))
    check("an unknown enum member in $filter gets 400", lambda: (st == 400 and fo_error(jj), b))
    st, hd, jj, b = sb.data("GET", q("CustomersV3?$filter=NoSuchField eq 1"))
    check("an unknown property in $filter gets 400 'Could not find a property'",
          lambda: (st == 400 and "Could not find a property" in inner(jj), b))
    st, hd, jj, b = sb.data("GET", q("CustomersV3?$filter=CustomerAccount eq 'unterminated"))
    st2, hd2, jj2, b2 = sb.data("GET", q("CustomersV3?$filter=(CreditLimit gt 1"))
    st3, hd3, jj3, b3 = sb.data("GET", q("CustomersV3?$filter=CreditLimit gt 'abc'"))
    check("malformed $filter (unterminated string, missing ')', wrong literal type) gets 400",
          lambda: (st == 400 and st2 == 400 and st3 == 400 and fo_error(jj) and fo_error(jj2) and
                   fo_error(jj3), (b, b2, b3)))
    j = vals("CustomersV3?$select=CustomerAccount,OrganizationName&$top=3&$skip=2&$orderby=CustomerAccount desc")
    allj = vals("CustomersV3?$select=CustomerAccount&$orderby=CustomerAccount desc")
    names = [v["CustomerAccount"] for v in allj["value"]]
    check("$select + $orderby desc + $skip + $top",
          lambda: ([v["CustomerAccount"] for v in j["value"]] == names[2:5] and
                   set(j["value"][0].keys()) == {"@odata.etag", "CustomerAccount", "OrganizationName"} and
                   j["@odata.context"].endswith("#CustomersV3(CustomerAccount,OrganizationName)"), j))
    st, hd, jj, b = sb.data("GET", q("CustomersV3?$select=Nope"))
    st2, hd2, jj2, b2 = sb.data("GET", q("CustomersV3?$top=-1"))
    st3, hd3, jj3, b3 = sb.data("GET", q("CustomersV3?$orderby=Nope"))
    check("bad $select / $top / $orderby get 400", lambda: (st == 400 and st2 == 400 and st3 == 400,
                                                            (b, b2, b3)))
    st, hd, jj, b = sb.data("GET", q("CustomersV3/$count?$filter=CustomerAccount eq 'US*'"))
    check("/$count answers the filtered count as text",
          lambda: (st == 200 and b.decode().isdigit() and int(b) > 0, b))
    j = vals("CustomersV3?$top=1")
    check("@odata.context is absolute and names the set; rows carry @odata.etag",
          lambda: (j["@odata.context"] == sb.base + "/data/$metadata#CustomersV3" and
                   j["value"][0]["@odata.etag"].startswith('W/"'), j))
    st, hd, jj, b = sb.data("GET", q("SalesOrderHeadersV2?$filter=OrderCreationDateTime ge 2000-01-01T00:00:00Z&$count=true&$top=0"))
    check("datetime literals in $filter", lambda: (st == 200 and "@odata.count" in jj, b))


def paging_tests(sb):
    # the suite's main instance runs with --page-size 20
    total = sb.data("GET", "CustomersV3?$count=true&$top=0")[2]["@odata.count"]
    got, link, pages = [], "CustomersV3?$select=CustomerAccount", 0
    first = None
    while link and pages < 10:
        st, hd, j, b = sb.data("GET", link)
        assert st == 200, b
        first = first or j
        got += [v["CustomerAccount"] for v in j["value"]]
        nl = j.get("@odata.nextLink")
        pages += 1
        if nl:
            assert nl.startswith(sb.base + "/data/"), nl
            link = nl[len(sb.base + "/data/"):]
        else:
            link = None
    check("server paging: pages of --page-size with an absolute @odata.nextLink carrying $skip",
          lambda: (pages == (total + 19) // 20 and total >= 48 and len(got) == total and len(set(got)) == total and
                   "$skip=20" in urllib.parse.unquote(first["@odata.nextLink"]), (pages, len(got), first.get("@odata.nextLink"))))
    st, hd, j, b = sb.data("GET", "CustomersV3?$skip=1000&$count=true")
    check("$skip past the end: an empty page, no nextLink, the full count",
          lambda: (st == 200 and j["value"] == [] and "@odata.nextLink" not in j and j["@odata.count"] == total, b[:300]))
    got2, link2, pages2 = [], q("CustomersV3?$filter=CustomerAccount ne 'zzz'&$orderby=CustomerAccount desc&$select=CustomerAccount"), 0
    while link2 and pages2 < 10:
        st, hd, j, b = sb.data("GET", link2)
        got2 += [v["CustomerAccount"] for v in j["value"]]
        nl = j.get("@odata.nextLink")
        link2 = nl[len(sb.base + "/data/"):] if nl else None
        pages2 += 1
    check("paging a filtered, ordered query keeps the order across pages",
          lambda: (len(got2) == total and got2 == sorted(got2, key=str.lower, reverse=True) and pages2 == (total + 19) // 20,
                   (pages2, got2[:5])))
    st, hd, j, b = sb.data("GET", "CustomersV3?$select=CustomerAccount", headers={"Prefer": "odata.maxpagesize=7"})
    check("Prefer: odata.maxpagesize shrinks the page",
          lambda: (len(j["value"]) == 7 and "$skip=7" in urllib.parse.unquote(j["@odata.nextLink"]), b[:300]))
    st, hd, j, b = sb.data("GET", "CustomersV3?$top=25&$select=CustomerAccount")
    nl = j.get("@odata.nextLink", "")
    st2, hd2, j2, b2 = sb.data("GET", nl[len(sb.base + "/data/"):])
    check("paging honours $top across pages (20 + 5)",
          lambda: (len(j["value"]) == 20 and len(j2["value"]) == 5 and "@odata.nextLink" not in j2,
                   (nl, b2)))


def order(sb, customer="US-001", number=None):
    body = {"dataAreaId": "usmf", "OrderingCustomerAccountNumber": customer, "CurrencyCode": "USD"}
    if number:
        body["SalesOrderNumber"] = number
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", body)
    assert st == 201, b
    return j["SalesOrderNumber"]


def line(sb, so, item="A0001", qty=1, **kw):
    body = {"dataAreaId": "usmf", "SalesOrderNumber": so, "ItemNumber": item, "OrderedSalesQuantity": qty}
    body.update(kw)
    return sb.data("POST", "SalesOrderLines", body)


def write_tests(sb):
    s = sample("create-sales-order")
    rec = s["api"]["post"]["/data/SalesOrderHeadersV2"]
    req = dict(rec["request"]["data"])
    req["dataAreaId"] = "usmf"
    req["OrderingCustomerAccountNumber"] = req["InvoiceCustomerAccountNumber"] = "US-001"
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", req)
    want = set(rec["response"].keys())
    check("replayed create-sales-order: 201 with exactly the recorded property set",
          lambda: (st == 201 and set(j.keys()) == want,
                   (st, sorted(want - set(j or {})), sorted(set(j or {}) - want))))
    so = j["SalesOrderNumber"]
    check("create: generated SalesOrderNumber, F&O defaults ('' strings, 1900 dates, enum defaults, "
          "0 decimals), customer name and normalised language",
          lambda: (so.startswith("SO-") and j["CustomerRequisitionNumber"] == "" and
                   j["ConfirmedShippingDate"] == "1900-01-01T12:00:00Z" and
                   j["SalesOrderStatus"] == "None" and j["IsSalesProcessingStopped"] == "No" and
                   j["OrderTotalDiscountAmount"] == 0 and j["InvoiceAddressTimeZone"] is None and
                   j["LanguageId"] == "en-US" and j["SalesOrderName"] != "" and
                   j["RequestedShippingDate"].endswith("T12:00:00Z") and
                   j["@odata.context"].endswith("#SalesOrderHeadersV2/$entity"), j))
    rr = rec["response"]
    check("create-sales-order: values F&O fills in match the recording (posting profile, status, "
          "processing status, empty dates, time zones)",
          lambda: (all(j[k] == rr[k] for k in ["CustomerPostingProfileId", "SalesOrderStatus",
                                               "SalesOrderProcessingStatus", "ConfirmedReceiptDate",
                                               "FixedDueDate", "InvoiceAddressTimeZone", "CurrencyCode",
                                               "LanguageId", "OrderTotalAmount", "IsSalesProcessingStopped"]),
                   [(k, j[k], rr[k]) for k in rr if k in j and j[k] != rr[k] and not k.startswith("@")]))
    check("create: Location and ETag headers",
          lambda: (hd.get("location", "").startswith(sb.base + "/data/SalesOrderHeadersV2(") and
                   hd.get("etag") == j["@odata.etag"], hd))
    g = sample("get-sales-order")
    grec = list(g["api"]["get"].values())[0]
    st, hd, jg, b = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % so)
    check("replayed get-sales-order: 200 with exactly the recorded property set",
          lambda: (st == 200 and set(jg.keys()) == set(grec["response"].keys()),
                   sorted(set(grec["response"]) ^ set(jg or {}))))
    c = sample("create-customer")
    crec = c["api"]["post"]["/data/CustomersV3"]
    creq = dict(crec["request"]["data"])
    creq["dataAreaId"] = "usmf"
    st, hd, jc, b = sb.data("POST", "CustomersV3", creq)
    known = set(metadata_props("CustomerV3")) | {"@odata.context", "@odata.etag"}
    cwant = set(crec["response"].keys()) & known
    check("replayed create-customer: 201, generated CustomerAccount, the recorded property set "
          "(less the 4 QMS fields this $metadata does not declare)",
          lambda: (st == 201 and set(jc.keys()) == cwant and jc["CustomerAccount"].startswith("CUS-") and
                   len(set(crec["response"]) - known) == 4, sorted(cwant ^ set(jc or {}))))
    same = ["PartyType", "NameAlias", "LanguageId", "DeliveryAddressValidFrom", "AddressValidTo",
            "CredManCustomerSince", "SalesCurrencyCode", "CustomerGroupId", "OrganizationName"]
    check("replayed create-customer: server-filled values as recorded (party type, 20-char search "
          "name, language, 00:00 UtcDateTime and 12:00 Date defaults)",
          lambda: ([jc.get(k) for k in same] == [crec["response"][k] for k in same] and
                   re.fullmatch(r"\d{9}", jc["PartyNumber"]) is not None,
                   [(k, jc.get(k), crec["response"][k]) for k in same if jc.get(k) != crec["response"][k]]))

    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf", "SalesOrderNumber": "WEB-1001",
                                                           "OrderingCustomerAccountNumber": "US-002"})
    st2, hd2, j2, b2 = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf", "SalesOrderNumber": "WEB-1001",
                                                               "OrderingCustomerAccountNumber": "US-002"})
    check("manual SalesOrderNumber accepted; the same number again -> 400 'The record already exists.'",
          lambda: (st == 201 and j["SalesOrderNumber"] == "WEB-1001" and st2 == 400 and
                   "The record already exists" in inner(j2) and
                   j2["error"]["innererror"]["type"].endswith("AxODataWriteException"), b2))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf",
                                                           "OrderingCustomerAccountNumber": "US-001",
                                                           "TotalDiscountPercentage": "lots"})
    check("a string for a decimal gets 400 'Cannot convert the literal'",
          lambda: (st == 400 and "Cannot convert the literal 'lots'" in inner(j), b))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf",
                                                           "OrderingCustomerAccountNumber": "US-001",
                                                           "Bogus": 1})
    check("an unknown property gets 400 'does not exist on type'",
          lambda: (st == 400 and "does not exist on type" in inner(j), b))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf",
                                                           "OrderingCustomerAccountNumber": "US-001",
                                                           "SalesOrderStatus": "Shipped"})
    check("an unknown enum member gets 400", lambda: (st == 400 and NS + ".SalesStatus" in inner(j), b))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf",
                                                           "OrderingCustomerAccountNumber": "US-001",
                                                           "SalesOrderStatus": "Invoiced"})
    check("a field with AllowEditOnCreate=false cannot be set on create",
          lambda: (st == 400 and "cannot be set when the record is created" in inner(j), b))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf",
                                                           "OrderingCustomerAccountNumber": "US-001",
                                                           "RequestedShippingDate": "2026-13-45"})
    check("a malformed date gets 400", lambda: (st == 400 and fo_error(j), b))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", '{"dataAreaId": "usmf", ',
                           {"Content-Type": "application/json"})
    check("malformed JSON gets 400 with the F&O body", lambda: (st == 400 and fo_error(j), b))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", "dataAreaId=usmf",
                           {"Content-Type": "text/plain"})
    check("a wrong content type gets 415", lambda: (st == 415 and fo_error(j), b))
    big = json.dumps({"dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-001",
                      "CustomerRequisitionNumber": "x" * 200000})
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", big, {"Content-Type": "application/json"})
    check("a body over --d365-max-body gets 413", lambda: (st == 413 and fo_error(j), b))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf"})
    check("a missing required field (IsRequired) gets 400 'must be filled in'",
          lambda: (st == 400 and "must be filled in" in inner(j), b))

    path = "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % so
    st, hd, j, b = sb.data("GET", path)
    etag = j["@odata.etag"]
    st1, hd1, j1, b1 = sb.data("PATCH", path, {"CustomersOrderReference": "PO-77"}, {"If-Match": etag})
    st2, hd2, j2, b2 = sb.data("PATCH", path, {"CustomersOrderReference": "PO-78"}, {"If-Match": etag})
    st3, hd3, j3, b3 = sb.data("GET", path)
    check("PATCH with the current If-Match -> 204 and a new ETag; the stale one -> 412",
          lambda: (st1 == 204 and hd1.get("etag") and hd1["etag"] != etag and st2 == 412 and
                   fo_error(j2) and j3["CustomersOrderReference"] == "PO-77", (b1, b2)))
    st, hd, j, b = sb.data("PATCH", path, {"SalesOrderNumber": "OTHER"})
    check("PATCH cannot change a key", lambda: (st == 400 and fo_error(j), b))
    st, hd, j, b = sb.data("PATCH", path, {"SalesOrderStatus": "Invoiced"})
    st2, hd2, j2, b2 = sb.data("PATCH", path, {"SalesOrderStatus": "None", "SalesOrderNumber": so})
    check("PATCH cannot change an AllowEdit=false field; repeating its value is fine",
          lambda: (st == 400 and "cannot be changed" in inner(j) and st2 == 204, (b, b2)))
    st, hd, j, b = sb.data("PATCH", path, {"CustomersOrderReference": "PO-79"})
    check("PATCH without If-Match succeeds", lambda: st == 204)
    st, hd, j, b = sb.data("PUT", path, {"OrderingCustomerAccountNumber": "US-001", "CustomerRequisitionNumber": "R1"})
    st2, hd2, j2, b2 = sb.data("GET", path)
    check("PUT replaces the entity (unnamed fields back to defaults)",
          lambda: (st == 204 and j2["CustomerRequisitionNumber"] == "R1" and
                   j2["CustomersOrderReference"] == "", b2))
    st, hd, j, b = sb.data("DELETE", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='WEB-1001')")
    st2, hd2, j2, b2 = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='WEB-1001')")
    check("DELETE -> 204, then GET -> 404", lambda: (st == 204 and st2 == 404, (b, b2)))
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='X')", {})
    check("POST on a key URL gets 405", lambda: st == 405)


def rules_tests(sb):
    st, hd, j, b = sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf",
                                                           "OrderingCustomerAccountNumber": "NOBODY-1"})
    check("an order for an unknown customer gets 400 'does not exist'",
          lambda: (st == 400 and "Customer account 'NOBODY-1' does not exist" in inner(j), b))
    so = order(sb)
    st, hd, j, b = line(sb, so, item="NOPE-1")
    check("a line with an unknown item gets 400 'does not exist'",
          lambda: (st == 400 and "Item number 'NOPE-1' does not exist" in inner(j), b))
    st, hd, j, b = line(sb, "SO-NOPE", item="A0001")
    check("a line for a missing order gets 400", lambda: (st == 400 and fo_error(j), b))
    st, hd, j, b = line(sb, so, item="A0001", qty=3, SalesPrice=10, LineDiscountPercentage=10)
    check("LineAmount = price x quantity less the discount (10 x 3 - 10% = 27)",
          lambda: (st == 201 and j["LineAmount"] == 27 and j["InventoryLotId"].startswith("LOT"), b))
    st, hd, j, b = line(sb, so, item="A0002", qty=2, SalesPrice=12.5, LineDiscountAmount=2.5)
    check("LineAmount with a per-unit discount amount ((12.5 - 2.5) x 2 = 20)",
          lambda: (st == 201 and j["LineAmount"] == 20, b))
    st, hd, j, b = line(sb, so, item="A0003", qty=2)
    _, _, p, _ = sb.data("GET", "ReleasedProductsV2(dataAreaId='usmf',ItemNumber='A0003')")
    check("a line without a price takes the item's SalesPrice",
          lambda: (st == 201 and abs(j["SalesPrice"] - p["SalesPrice"]) < 1e-9 and
                   abs(j["LineAmount"] - round(2 * p["SalesPrice"], 2)) < 1e-6, (b, p["SalesPrice"])))
    st, hd, h, b = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')?$expand=SalesOrderLines" % so)
    check("$expand header -> lines (one level); header total and status follow the lines",
          lambda: (st == 200 and len(h["SalesOrderLines"]) == 3 and h["SalesOrderStatus"] == "Backorder" and
                   abs(h["OrderTotalAmount"] - sum(l["LineAmount"] for l in h["SalesOrderLines"])) < 1e-6, b))
    st, hd, jn, b = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')/SalesOrderLines" % so)
    check("GET Set(key)/Navigation lists the related lines",
          lambda: (st == 200 and len(jn["value"]) == 3 and jn["@odata.context"].endswith("#SalesOrderLines"), b[:300]))
    st, hd, jl, b = sb.data("GET", "SalesOrderLines?$filter=SalesOrderNumber%20eq%20'" + so + "'&$expand=SalesOrderHeaderV2")
    check("$expand line -> header", lambda: (st == 200 and jl["value"][0]["SalesOrderHeaderV2"]["SalesOrderNumber"] == so, b))
    st, hd, jx, b = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')?$select=SalesOrderNumber&$expand=SalesOrderLines($select=ItemNumber,LineAmount)" % so)
    check("$expand with a nested $select",
          lambda: (st == 200 and set(jx["SalesOrderLines"][0].keys()) == {"@odata.etag", "ItemNumber", "LineAmount"} and
                   set(jx.keys()) == {"@odata.context", "@odata.etag", "SalesOrderNumber", "SalesOrderLines"}, b[:500]))
    st, hd, jj, b = sb.data("GET", "SalesOrderHeadersV2?$expand=SalesOrderLines($filter=LineAmount%20gt%201)")
    check("other nested $expand options get 400", lambda: (st == 400 and fo_error(jj), b))
    st, hd, jj, b = sb.data("GET", "SalesOrderHeadersV2?$expand=Nope")
    check("$expand of an unknown navigation gets 400", lambda: (st == 400 and fo_error(jj), b))

    # on-hand reservation
    def onhand(item):
        st, hd, j, b = sb.data("GET", q("WarehousesOnHandV2?$filter=ItemNumber eq '%s'" % item))
        return {v["InventoryWarehouseId"]: v for v in j["value"]}
    before = onhand("A0005")
    so2 = order(sb)
    st, hd, jline, b = line(sb, so2, item="A0005", qty=4, ShippingWarehouseId="11")
    after = onhand("A0005")
    check("a sales line reserves on-hand in its warehouse (Reserved +4, Available -4)",
          lambda: (st == 201 and after["11"]["ReservedOnHandQuantity"] == before["11"]["ReservedOnHandQuantity"] + min(4, before["11"]["AvailableOnHandQuantity"]) and
                   after["11"]["AvailableOnHandQuantity"] == before["11"]["AvailableOnHandQuantity"] - min(4, before["11"]["AvailableOnHandQuantity"]) and
                   jline["ShippingSiteId"] == "1", (before["11"], after["11"], b)))
    sb.data("DELETE", "SalesOrderLines(dataAreaId='usmf',InventoryLotId='%s')" % jline["InventoryLotId"])
    again = onhand("A0005")
    check("deleting the line releases the reservation",
          lambda: (again["11"]["ReservedOnHandQuantity"] == before["11"]["ReservedOnHandQuantity"],
                   (before["11"], again["11"])))

    # credit limit: a low-limit customer
    st, hd, j, b = sb.data("GET", q("CustomersV3?$filter=CreditLimit gt 0 and CreditLimit lt 1000&$top=1"))
    cust = j["value"][0]
    so3 = order(sb, customer=cust["CustomerAccount"])
    st, hd, j, b = line(sb, so3, item="A0001", qty=1, SalesPrice=cust["CreditLimit"] / 2)
    st2, hd2, j2, b2 = line(sb, so3, item="A0001", qty=1, SalesPrice=cust["CreditLimit"])
    check("an order whose total would exceed the customer's credit limit is refused with a business error",
          lambda: (st == 201 and st2 == 400 and "credit limit" in inner(j2).lower() and
                   j2["error"]["innererror"]["type"].endswith("AxODataWriteException"), (b, b2)))
    st, hd, jh, b = sb.data("POST", "CustomerPaymentJournalHeaders", {"dataAreaId": "usmf", "JournalName": "CustPay",
                                                                      "Description": "web payments"})
    jb = (jh or {}).get("JournalBatchNumber", "")
    st2, hd2, jl1, b2 = sb.data("POST", "CustomerPaymentJournalLines", {"dataAreaId": "usmf", "JournalBatchNumber": jb,
                                                                        "CreditAmount": 10, "AccountDisplayValue": "US-001"})
    st3, hd3, jl2, b3 = sb.data("POST", "CustomerPaymentJournalLines", {"dataAreaId": "usmf", "JournalBatchNumber": jb,
                                                                        "CreditAmount": 20, "AccountDisplayValue": "US-002"})
    check("JournalBatchNumber from a number sequence; journal lines numbered 1, 2",
          lambda: (st == 201 and jb.startswith("JB-") and st2 == 201 and st3 == 201 and
                   jl1["LineNumber"] == 1 and jl2["LineNumber"] == 2, (b, b2, b3)))
    st, hd, jj, b = sb.data("POST", "CustomerPaymentJournalHeaders", {"dataAreaId": "usmf"})
    check("a journal without its required JournalName gets 400", lambda: (st == 400 and "JournalName" in inner(jj), b))
    return so


def lifecycle_tests(sb):
    so = order(sb, customer="US-003")
    line(sb, so, item="A0010", qty=2)
    line(sb, so, item="A0011", qty=1)
    st, hd, b = sb.request("POST", "/_sandbox/invoice?order=" + so)
    check("invoicing an order that is not delivered gets 409", lambda: (st == 409, b))
    def oh(item):
        _, _, j, _ = sb.data("GET", q("WarehousesOnHandV2?$filter=ItemNumber eq '%s'" % item))
        return sum(v["OnHandQuantity"] for v in j["value"])
    before = oh("A0010")
    st, hd, b = sb.request("POST", "/_sandbox/ship?order=" + so)
    j = json.loads(b)
    _, _, hdr, _ = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % so)
    _, _, ps, _ = sb.data("GET", q("PackingSlipTrackingInformation?$filter=SalesOrderNumber eq '%s'" % so))
    check("/_sandbox/ship: order Delivered, PackingSlipTrackingInformation row with a tracking number, "
          "on-hand reduced",
          lambda: (st == 200 and hdr["SalesOrderStatus"] == "Delivered" and len(ps["value"]) == 1 and
                   ps["value"][0]["TrackingNumber"] == j["TrackingNumber"] and
                   ps["value"][0]["TrackingURL"].startswith("https://") and oh("A0010") == before - 2,
                   (b, ps)))
    st, hd, b = sb.request("POST", "/_sandbox/ship?order=" + so)
    check("shipping twice gets 409", lambda: st == 409)
    st, hd, jl, b2 = sb.data("POST", "SalesOrderLines", {"dataAreaId": "usmf", "SalesOrderNumber": so,
                                                         "ItemNumber": "A0001", "OrderedSalesQuantity": 1})
    check("a delivered order takes no new lines", lambda: (st == 400 and fo_error(jl), b2))
    st, hd, b = sb.request("POST", "/_sandbox/invoice?order=" + so)
    j = json.loads(b)
    _, _, inv, _ = sb.data("GET", q("SalesInvoiceHeadersV2?$filter=SalesOrderNumber eq '%s'&$expand=SalesInvoiceLinesV2" % so))
    _, _, hdr, _ = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % so)
    check("/_sandbox/invoice: SalesInvoiceHeadersV2 + SalesInvoiceV2Lines, order Invoiced",
          lambda: (st == 200 and len(inv["value"]) == 1 and len(inv["value"][0]["SalesInvoiceLinesV2"]) == 2 and
                   inv["value"][0]["InvoiceNumber"] == j["InvoiceNumber"] and
                   abs(inv["value"][0]["TotalInvoiceAmount"] - hdr["OrderTotalAmount"]) < 1e-6 and
                   {l["ProductNumber"] for l in inv["value"][0]["SalesInvoiceLinesV2"]} == {"A0010", "A0011"} and
                   hdr["SalesOrderStatus"] == "Invoiced", (b, inv)))
    st, hd, b = sb.request("POST", "/_sandbox/return?order=" + so)
    j = json.loads(b)
    _, _, ret, _ = sb.data("GET", q("ReturnOrderHeadersV2?$filter=ReturnOrderNumber eq '%s'&$expand=ReturnOrderLines" % j.get("ReturnOrderNumber", "")))
    check("/_sandbox/return: ReturnOrderHeadersV2 + ReturnOrderLinesV2 with negative quantities and an RMA",
          lambda: (st == 200 and len(ret["value"]) == 1 and ret["value"][0]["RMANumber"].startswith("RMA-") and
                   len(ret["value"][0]["ReturnOrderLines"]) == 2 and
                   all(l["ReturnSalesQuantity"] < 0 for l in ret["value"][0]["ReturnOrderLines"]), (b, ret)))
    st, hd, jd, b = sb.data("DELETE", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % so)
    check("an invoiced order cannot be deleted", lambda: (st == 400 and "cannot be deleted" in inner(jd), b))
    st, hd, jd, b = sb.data("DELETE", "CustomersV3(dataAreaId='usmf',CustomerAccount='US-003')")
    st2, hd2, jd2, b2 = sb.data("DELETE", "ReleasedProductsV2(dataAreaId='usmf',ItemNumber='A0010')")
    check("a customer or item used by sales orders cannot be deleted",
          lambda: (st == 400 and "is used in" in inner(jd) and st2 == 400 and "is used in" in inner(jd2), (b, b2)))
    st, hd, b = sb.request("POST", "/_sandbox/ship?order=NOPE")
    check("control actions on a missing order get 404", lambda: st == 404)
    st, hd, b = sb.request("POST", "/_sandbox/cancel?order=" + so)
    check("/_sandbox/cancel of an invoiced order gets 409 with F&O's reason",
          lambda: (st == 409 and "is Invoiced and cannot be canceled" in b.decode(), b))
    # cancel: an open order and its lines Canceled, what the lines reserved released
    def reserved(item):
        _, _, j, _ = sb.data("GET", q("WarehousesOnHandV2?$filter=ItemNumber eq '%s'" % item))
        return sum(v["ReservedOnHandQuantity"] for v in j["value"])
    r0 = reserved("A0012")
    so2 = order(sb, customer="US-004")
    line(sb, so2, item="A0012", qty=3, ShippingWarehouseId="11")
    r1 = reserved("A0012")
    st, hd, b = sb.request("POST", "/_sandbox/cancel?order=" + so2)
    _, _, hdr, _ = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')?$expand=SalesOrderLines" % so2)
    check("/_sandbox/cancel: order and lines Canceled (SalesStatus), the reservation released",
          lambda: (st == 200 and json.loads(b)["SalesOrderStatus"] == "Canceled" and hdr["SalesOrderStatus"] == "Canceled" and
                   [l["SalesOrderLineStatus"] for l in hdr["SalesOrderLines"]] == ["Canceled"] and r1 > r0 and
                   reserved("A0012") == r0, (b, r0, r1, reserved("A0012"))))
    st, hd, b = sb.request("POST", "/_sandbox/cancel?order=" + so2)
    st2, hd2, jl, b2 = sb.data("POST", "SalesOrderLines", {"dataAreaId": "usmf", "SalesOrderNumber": so2,
                                                           "ItemNumber": "A0001", "OrderedSalesQuantity": 1})
    st3, hd3, b3 = sb.request("POST", "/_sandbox/ship?order=" + so2)
    check("a canceled order: cancel again 409, no new lines, no shipping",
          lambda: (st == 409 and "already Canceled" in b.decode() and st2 == 400 and st3 == 409, (b, b2, b3)))
    st, hd, b = sb.request("GET", "/_sandbox/cancel?order=" + so2)
    check("GET /_sandbox/cancel gets 405", lambda: st == 405)


def batch_body(parts, boundary="batch_abc"):
    out = []
    for p in parts:
        out.append("--" + boundary)
        if isinstance(p, list):
            cs = "changeset_" + str(random.randrange(1 << 30))
            out.append("Content-Type: multipart/mixed; boundary=" + cs)
            out.append("")
            for op in p:
                out.append("--" + cs)
                out += op_lines(*op)
            out.append("--" + cs + "--")
        else:
            out += op_lines(*p)
    out.append("--" + boundary + "--")
    out.append("")
    return "\r\n".join(out)


def op_lines(cid, method, url, body=None, headers=None):
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if cid:
        lines.append("Content-ID: %s" % cid)
    lines += ["", "%s %s HTTP/1.1" % (method, url)]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if body is not None:
        lines.append("Content-Type: application/json")
        lines += ["", json.dumps(body)]
    else:
        lines += [""]
    return lines


def parse_batch(ct, data):
    m = re.search(r'boundary=([^;]+)', ct)
    text = data.decode()
    statuses = []
    for m2 in re.finditer(r"HTTP/1\.1 (\d{3})", text):
        statuses.append(int(m2.group(1)))
    return statuses, text


def batch_tests(sb):
    num = "BAT-%d" % random.randrange(1 << 30)
    body = batch_body([[
        (1, "POST", sb.base + "/data/SalesOrderHeadersV2", {"dataAreaId": "usmf", "SalesOrderNumber": num,
                                                            "OrderingCustomerAccountNumber": "US-004"}),
        (2, "POST", "SalesOrderLines", {"dataAreaId": "usmf", "SalesOrderNumber": num, "ItemNumber": "A0001",
                                        "OrderedSalesQuantity": 1}),
        (3, "POST", "/data/SalesOrderLines", {"dataAreaId": "usmf", "SalesOrderNumber": num, "ItemNumber": "A0002",
                                              "OrderedSalesQuantity": 2}),
        (4, "PATCH", "$1", {"CustomersOrderReference": "via-$1"}),
    ], (None, "GET", "CustomersV3?$top=1&$select=CustomerAccount")])
    st, hd, b = sb.request("POST", "/data/$batch", body, dict(sb.auth(), **{
        "Content-Type": "multipart/mixed; boundary=batch_abc"}))
    statuses, text = parse_batch(hd.get("content-type", ""), b)
    _, _, h, _ = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')?$expand=SalesOrderLines" % num)
    check("$batch: a changeset of header + lines (+ PATCH $1) and a GET part; per-part statuses",
          lambda: (st == 200 and hd["content-type"].startswith("multipart/mixed; boundary=") and
                   statuses == [201, 201, 201, 204, 200] and len(h["SalesOrderLines"]) == 2 and
                   h["CustomersOrderReference"] == "via-$1" and "Content-ID: 1" in text, (statuses, text[:3000])))
    num2 = "BAT-%d" % random.randrange(1 << 30)
    body = batch_body([[
        (1, "POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf", "SalesOrderNumber": num2,
                                            "OrderingCustomerAccountNumber": "US-004"}),
        (2, "POST", "SalesOrderLines", {"dataAreaId": "usmf", "SalesOrderNumber": num2, "ItemNumber": "NOPE-1",
                                        "OrderedSalesQuantity": 1}),
    ]])
    st, hd, b = sb.request("POST", "/data/$batch", body, dict(sb.auth(), **{
        "Content-Type": "multipart/mixed; boundary=batch_abc"}))
    statuses, text = parse_batch(hd.get("content-type", ""), b)
    st2, _, _, _ = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % num2)
    check("$batch changeset is atomic: a failing line -> outer 200, part 400, header rolled back",
          lambda: (st == 200 and statuses == [400] and "does not exist" in text and st2 == 404,
                   (statuses, text[:2000], st2)))
    body = batch_body([[
        (1, "POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-005"}),
    ], [
        (1, "POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf", "OrderingCustomerAccountNumber": "NOBODY"}),
    ]])
    st, hd, b = sb.request("POST", "/data/$batch", body, dict(sb.auth(), **{
        "Content-Type": "multipart/mixed; boundary=batch_abc"}))
    statuses, text = parse_batch(hd.get("content-type", ""), b)
    check("$batch: changesets are independent (201 then 400)", lambda: (st == 200 and statuses == [201, 400], text[:2000]))
    st, hd, b = sb.request("POST", "/data/$batch", "garbage", dict(sb.auth(), **{
        "Content-Type": "multipart/mixed; boundary=batch_abc"}))
    st2, hd2, b2 = sb.request("POST", "/data/$batch", "x", dict(sb.auth(), **{"Content-Type": "application/json"}))
    check("a malformed $batch or one without multipart/mixed gets 400",
          lambda: (st == 400 and st2 == 400 and fo_error(json.loads(b)) and fo_error(json.loads(b2)), (b, b2)))
    many = batch_body([(None, "GET", "CustomersV3?$top=1")] * 101)
    st, hd, b = sb.request("POST", "/data/$batch", many, dict(sb.auth(), **{
        "Content-Type": "multipart/mixed; boundary=batch_abc"}))
    check("a $batch over the operation limit (100) gets 400", lambda: (st == 400, b[:300]))


def fault_tests(sb):
    def put(cfg):
        st, hd, b = sb.request("PUT", "/_sandbox/faults", json.dumps(cfg))
        assert st == 200, b
        return json.loads(b)

    def clear():
        sb.request("DELETE", "/_sandbox/faults")

    try:
        put({"rate_limit": 0.5, "rate_burst": 2, "retry_after": 3})
        sts = [sb.data("GET", "CustomersV3?$top=1") for _ in range(6)]
        limited = [s for s in sts if s[0] == 429]
        check("rate limit: 429 with Retry-After (seconds) and the F&O body",
              lambda: (len(limited) >= 3 and all(int(s[1]["retry-after"]) >= 3 for s in limited) and
                       fo_error(limited[0][2]), [s[0] for s in sts]))
        clear()
        put({"latency_ms": 300})
        t0 = time.time()
        st = sb.data("GET", "CustomersV3?$top=1")[0]
        dt = time.time() - t0
        check("injected latency delays the answer", lambda: (st == 200 and dt >= 0.3, dt))
        clear()
        put({"error_503_share": 1})
        st503 = sb.data("GET", "CustomersV3?$top=1")
        clear()
        put({"error_500_share": 1})
        st500 = sb.data("GET", "CustomersV3?$top=1")
        clear()
        check("a share of 503 / 500 answers", lambda: (st503[0] == 503 and st500[0] == 500 and
                                                       fo_error(st500[2]), (st503[3], st500[3])))
        put({"drop_next": 1})
        num = "DROP-%d" % random.randrange(1 << 30)
        dropped = False
        try:
            sb.data("POST", "SalesOrderHeadersV2", {"dataAreaId": "usmf", "SalesOrderNumber": num,
                                                    "OrderingCustomerAccountNumber": "US-001"})
        except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
            dropped = True
        st = sb.data("GET", "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')" % num)[0]
        check("drop after commit: the connection closes unanswered, yet the order exists",
              lambda: (dropped and st == 200, (dropped, st)))
        put({"hang_next": 1, "hang_ms": 2000})
        timed_out = False
        try:
            sb.data("GET", "CustomersV3?$top=1", timeout=0.5)
        except (socket.timeout, TimeoutError):
            timed_out = True
        st = sb.data("GET", "CustomersV3?$top=1")[0]
        check("a hung request outlives the client timeout; the server keeps serving",
              lambda: (timed_out and st == 200, (timed_out, st)))
        st, hd, b = sb.request("PUT", "/_sandbox/faults", '{"error_500_share": 2}')
        st2, hd2, b2 = sb.request("PUT", "/_sandbox/faults", '{"nonsense": 1}')
        st3, hd3, b3 = sb.request("PUT", "/_sandbox/faults", '{bad json')
        check("invalid fault settings get 400", lambda: (st == 400 and st2 == 400 and st3 == 400, (b, b2, b3)))
        st, hd, b = sb.request("GET", "/_sandbox/faults")
        j = json.loads(b)
        check("GET /_sandbox/faults shows settings and injected counts",
              lambda: (st == 200 and j["injected"]["429"] >= 3 and j["injected"]["drops"] >= 1 and
                       j["injected"]["hangs"] >= 1, b))
    finally:
        clear()


def stats_tests(sb):
    sb.request("DELETE", "/_sandbox/stats")
    for _ in range(3):
        sb.data("GET", "CustomersV3?$top=1")
    sb.data("GET", "CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')")
    sb.data("GET", "NoSuchSet")
    sb.request("GET", "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')")
    st, hd, b = sb.request("GET", "/_sandbox/stats")
    j = json.loads(b)
    def cnt(route, method, status):
        return sum(r["count"] for r in j["routes"] if r["route"] == route and r["method"] == method and r["status"] == status)
    check("/_sandbox/stats counts requests per route, method and status (after DELETE reset)",
          lambda: (st == 200 and cnt("/data/CustomersV3", "GET", 200) == 3 and
                   cnt("/data/CustomersV3(key)", "GET", 200) == 1 and
                   cnt("/data/?", "GET", 404) == 1 and
                   cnt("/data/CustomersV3(key)", "GET", 401) == 1 and j["total"] == 6, b))


def malformed_tests(sb):
    h = sb.auth()
    bad = [
        ("GET", "/data/CustomersV3?$filter=" + urllib.parse.quote("((((((")),
        ("GET", "/data/CustomersV3(" + "'" * 500 + ")"),
        ("GET", "/data/" + "A" * 5000),
        ("POST", "/data/CustomersV3"),
        ("PATCH", "/data/CustomersV3"),
        ("GET", "/data/CustomersV3?$filter=" + urllib.parse.quote("not " * 300 + "CreditLimit gt 1")),
        ("GET", "/data/CustomersV3?$expand=" + urllib.parse.quote("A(B(C))")),
        ("GET", "/data/SalesOrderHeadersV2?$expand=" + urllib.parse.quote("SalesOrderLines($select=Nope))(,,")),
        ("GET", "/data/SalesOrderHeadersV2?$expand=" + urllib.parse.quote("SalesOrderLines(")),
        ("GET", "/nothing/here"),
        ("DELETE", "/data/CustomersV3"),
    ]
    codes = []
    for m, p in bad:
        st, hd, b = sb.request(m, p, body=b"\x00\xff{" if m in ("POST", "PATCH") else None,
                               headers=dict(h, **{"Content-Type": "application/json"}))
        codes.append(st)
    # raw garbage on the socket
    s = socket.create_connection(("127.0.0.1", sb.port), timeout=5)
    s.sendall(b"\x16\x03\x01garbage\r\n\r\n")
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
    st, hd, b = sb.request("GET", "/_sandbox/health")
    check("malformed inputs get 4xx and the server keeps serving",
          lambda: (all(400 <= c < 500 for c in codes) and st == 200, codes))


def config_tests():
    d = tempfile.mkdtemp()
    cfg = os.path.join(d, "cfg.json")
    with open(cfg, "w") as f:
        json.dump({"faults": {"error_503_share": 1}, "token_lifetime": 120}, f)
    sb = Sandbox(["--config", cfg]).start()
    try:
        st, hd, b = sb.token()
        j = json.loads(b)
        st2 = sb.data("GET", "CustomersV3?$top=1")[0]
        check("--config FILE sets faults and the token lifetime",
              lambda: (j["expires_in"] == 120 and st2 == 503, (b, st2)))
    finally:
        sb.stop()
    with open(cfg, "w") as f:
        json.dump({"faults": {"bogus": 1}}, f)
    r = subprocess.run(VALGRIND + [BIN, "--only", "d365", "--d365-port", str(free_port()), "--metadata",
                                   METADATA, "--config", cfg], capture_output=True, text=True, timeout=60)
    check("an invalid --config exits 1 naming the problem",
          lambda: (r.returncode == 1 and "bogus" in r.stderr, r.stderr))


def orderby_store_tests():
    """$orderby without $filter is sorted by SQLite, page by page: the rows and their order must be
    exactly those of the in-memory sort ($filter present) and of a model of it: strings compared
    case-insensitively (ASCII folded to lower case: '_' sorts before 'a'), trailing blanks
    counting, absent values as their default (a null default first), numbers as numbers, ties in
    insertion order, across page boundaries, with $skip/$top and nextLink."""
    sb = Sandbox(["--page-size", "20"]).start()
    try:
        names = ["alpha", "Alpha", "ALPHA", "alpha ", "alpha", "Beta", "beta", "bETA", "", None,
                 "Zed", "zed", "_x", "[y", "a_b", "aB", "\u00c9mile", "\u00e9mile", "alpha", None,
                 "Alpha", "beta", "10", "9", "alpha"]
        limits = [5, 5.5, 1, None, 1000000, 5, 0.25, 5, None, 7, 5, 5, 3, 2.5, 5, 1e-7, 5, 5, 5,
                  5, None, 12, 5, 5, 5]
        days = [3, -1, None, 3, -20, 0, 7, None, -1, 100, 3, -5, 3, 3, None, 2, 3, -1, 0, 9, 3, 3,
                None, -7, 3]
        for i, (nm, cl, dy) in enumerate(zip(names, limits, days)):
            body = {"dataAreaId": "usmf", "CustomerGroupId": "10", "SalesCurrencyCode": "USD"}
            if nm is not None:
                body["OrganizationName"] = nm
            if cl is not None:
                body["CreditLimit"] = cl
            if dy is not None:
                body["PaymentTermsBaseDays"] = dy
            if i % 3 == 0:
                body["AddressTimeZone"] = "GMTMINUS1000HAWAII" if i % 2 else "GMTMINUS1100MIDWAYISLAND_SAMOA"
            st, hd, j, b = sb.data("POST", "CustomersV3", body)
            assert st == 201, b

        def read(path, headers=None):
            """every row of a query by nextLink: (rows, pages, first page)"""
            rows, link, pages, first = [], q(path), 0, None
            while link and pages < 100:
                st, hd, j, b = sb.data("GET", link, headers=headers)
                assert st == 200, b
                first = first or j
                rows += j["value"]
                nl = j.get("@odata.nextLink")
                link = nl[len(sb.base + "/data/"):] if nl else None
                pages += 1
            return rows, pages, first

        sel = "$select=CustomerAccount,OrganizationName,CreditLimit,AddressTimeZone,PaymentTermsBaseDays"
        ins, _, _ = read("CustomersV3?" + sel)  # insertion order

        def key(v):
            if v is None:
                return (0,)
            if isinstance(v, bool):
                return (1,)
            if isinstance(v, (int, float)):
                return (1, 1, float(v))
            return (1, 2, v.encode().lower())

        def model(terms):
            rows = list(ins)
            for field, desc in reversed(terms):
                rows.sort(key=lambda r: key(r[field]), reverse=desc)
            return [r["CustomerAccount"] for r in rows]

        def accts(rows):
            return [r["CustomerAccount"] for r in rows]

        cases = [("OrganizationName,CreditLimit desc", [("OrganizationName", False), ("CreditLimit", True)]),
                 ("CreditLimit,OrganizationName desc", [("CreditLimit", False), ("OrganizationName", True)]),
                 ("AddressTimeZone desc,OrganizationName", [("AddressTimeZone", True), ("OrganizationName", False)]),
                 ("PaymentTermsBaseDays desc,CreditLimit", [("PaymentTermsBaseDays", True), ("CreditLimit", False)]),
                 ("OrganizationName", [("OrganizationName", False)])]
        for ob, terms in cases:
            want = model(terms)
            got, pages, first = read("CustomersV3?$orderby=%s&%s" % (ob, sel))
            old, _, _ = read("CustomersV3?$filter=CustomerAccount ne 'zzz'&$orderby=%s&%s" % (ob, sel))
            small, spages, _ = read("CustomersV3?$orderby=%s&%s" % (ob, sel),
                                    headers={"Prefer": "odata.maxpagesize=7"})
            check("$orderby=%s sorted by the store, by pages of 20 and 7: exactly the in-memory "
                  "sort's rows and order (and the model's)" % ob,
                  lambda: (accts(got) == want and accts(old) == want and accts(small) == want and
                           got == old and pages == (len(ins) + 19) // 20 and
                           spages == (len(ins) + 6) // 7 and len(set(want)) == len(ins) > 60,
                           (pages, spages, len(ins), accts(got)[:12], want[:12], accts(old)[:12])))
            win, wpages, wfirst = read("CustomersV3?$orderby=%s&%s&$skip=3&$top=31&$count=true" % (ob, sel))
            nl = urllib.parse.unquote(wfirst.get("@odata.nextLink", ""))
            check("$orderby=%s with $skip=3&$top=31: the window of the full order, nextLink "
                  "carrying $skip=23 and $top=11, the full count" % ob,
                  lambda: (accts(win) == want[3:34] and wpages == 2 and "$skip=23" in nl and
                           "$top=11" in nl and wfirst["@odata.count"] == len(ins),
                           (accts(win), want[3:34], nl)))
        names_sorted = [r["OrganizationName"] for r in read("CustomersV3?$orderby=OrganizationName&" + sel)[0]]
        check("string order is ASCII case-folded to lower case, trailing blanks counting: "
              "'' < '10' < '9' < '[y' < '_x' < 'a_b' < 'aB' < 'alpha' < 'alpha ' < 'Beta'",
              lambda: ([n for n in names_sorted if n in ("", "10", "9", "[y", "_x", "a_b", "aB", "alpha",
                                                          "alpha ", "Beta")][:1] == [""] and
                       names_sorted.index("10") < names_sorted.index("9") < names_sorted.index("[y") <
                       names_sorted.index("_x") < names_sorted.index("a_b") < names_sorted.index("aB") <
                       names_sorted.index("Alpha") < names_sorted.index("alpha ") < names_sorted.index("Beta"),
                       names_sorted))
        # a write between pages is seen by the next page (no stale order)
        first = sb.data("GET", q("CustomersV3?$orderby=OrganizationName&$select=CustomerAccount"))[2]
        st, hd, j, b = sb.data("POST", "CustomersV3", {"dataAreaId": "usmf", "CustomerGroupId": "10",
                                                       "SalesCurrencyCode": "USD", "OrganizationName": "\u00ffend"})
        nl = first["@odata.nextLink"]
        rest, _, _ = read(nl[len(sb.base + "/data/"):])
        check("a row written between two pages of an ordered read is on the later page it sorts into",
              lambda: (st == 201 and rest[-1]["CustomerAccount"] == j["CustomerAccount"], rest[-3:]))
        rc = sb.stop()
        check("the ordered-read instance exits 0 on SIGTERM", lambda: (rc == 0, sb.output()[-3000:]))
    finally:
        sb.stop()


def persistence_and_shutdown_tests():
    d = tempfile.mkdtemp()
    sb = Sandbox(["--data", d]).start()
    st, hd, j, b = sb.data("POST", "CustomersV3", {"dataAreaId": "usmf", "OrganizationName": "Kept",
                                                   "CustomerGroupId": "10", "SalesCurrencyCode": "USD"})
    acct = j["CustomerAccount"]
    rc = sb.stop()
    sb2 = Sandbox(["--data", d]).start()
    try:
        st2, hd2, j2, b2 = sb2.data("GET", "CustomersV3(dataAreaId='usmf',CustomerAccount='%s')" % acct)
        st3, _, j3, _ = sb2.data("GET", "CustomersV3?$count=true&$top=0")
        check("--data DIR keeps the data across restarts (and does not seed twice)",
              lambda: (rc == 0 and st2 == 200 and j2["OrganizationName"] == "Kept" and j3["@odata.count"] == 49,
                       (rc, b2, j3)))
    finally:
        sb2.stop()
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, TMPDIR=tmp)
    sb = Sandbox([], env=env).start()
    had = [n for n in os.listdir(tmp) if n.startswith("sandbox-d365-")]
    rc = sb.stop()
    left = [n for n in os.listdir(tmp) if n.startswith("sandbox-d365-")]
    check("SIGTERM: clean exit 0 and the temporary data directory is removed",
          lambda: (rc == 0 and len(had) == 1 and left == [], (rc, had, left, sb.output())))


def both_test():
    sb = Sandbox([], both=True).start()
    try:
        st, hd, b = sb.request("GET", "/_sandbox/health", port=sb.cport)
        check("both emulators start from one binary (Clarity health on --clarity-port)",
              lambda: (st == 200, (st, b, sb.output())))
    finally:
        rc = sb.stop()
    check("both emulators stop cleanly on SIGTERM", lambda: (rc == 0, sb.output()))


def extra_skus_test():
    """--extra-skus N: N more usmf items X000001.. with one on-hand row each (bench/inventory)."""
    sb = Sandbox(["--extra-skus", "25", "--page-size", "10"]).start()
    try:
        sb.auth()
        items, path = [], "WarehousesOnHandV2?$filter=" + q("startswith(ItemNumber,'X')")
        while path:
            st, hd, j, b = sb.data("GET", path)
            items += [(r["ItemNumber"], r["dataAreaId"], r["InventoryWarehouseId"]) for r in j["value"]]
            nxt = j.get("@odata.nextLink")
            path = nxt[nxt.index("/data/") + 6:] if nxt else None
        st, hd, j, b = sb.data("GET", "ReleasedProductsV2(dataAreaId='usmf',ItemNumber='X000025')")
        st2, hd2, j2, b2 = sb.data("GET", "ReleasedProductsV2(dataAreaId='usmf',ItemNumber='X000026')")
        check("--extra-skus 25: items X000001..X000025 in usmf, one on-hand row each, no X000026",
              lambda: (sorted(items) == [("X%06d" % i, "usmf", "11") for i in range(1, 26)] and
                       st == 200 and st2 == 404, (items[:5], len(items), st, st2)))
    finally:
        sb.stop()
    p = subprocess.run([BIN, "--only", "d365", "--extra-skus", "x"], capture_output=True, timeout=30)
    check("--extra-skus rejects a non-number", lambda: (p.returncode == 2 and b"extra-skus" in p.stderr, p.stderr))


def main():
    if not os.path.exists(BIN):
        print("not ok 1 - %s missing (make all first)" % BIN)
        return 1
    try:
        cli_tests()
    except Exception:
        tap(False, "cli_tests crashed", traceback.format_exc())
    sb = Sandbox(["--page-size", "20", "--d365-max-body", "65536"]).start()
    try:
        st, hd, b = sb.request("GET", "/_sandbox/health")
        check("/_sandbox/health", lambda: (st == 200 and json.loads(b)["status"] == "ok", b))
        # control routes are not counted, so a fresh server's stats table is still empty here
        st, hd, b = sb.request("GET", "/_sandbox/stats")
        check("/_sandbox/stats of a fresh server (nothing counted yet): total 0, no routes",
              lambda: (st == 200 and json.loads(b)["total"] == 0 and json.loads(b)["routes"] == [], b))
        for fn in (auth_tests, metadata_tests, company_tests, key_tests, query_tests, paging_tests,
                   write_tests, rules_tests, lifecycle_tests, batch_tests, fault_tests, stats_tests,
                   malformed_tests):
            try:
                fn(sb)
            except Exception:
                tap(False, fn.__name__ + " crashed", traceback.format_exc())
        if sb.proc.poll() is not None:
            tap(False, "the sandbox died during the tests", sb.output())
        rc = sb.stop()
        check("the main instance exits 0 on SIGTERM after all of that", lambda: (rc == 0, sb.output()[-3000:]))
    finally:
        sb.stop()
    for fn in (short_token_test, extra_skus_test, config_tests, orderby_store_tests,
               persistence_and_shutdown_tests, both_test):
        try:
            fn()
        except Exception:
            tap(False, fn.__name__ + " crashed", traceback.format_exc())
    print("1..%d" % count)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
