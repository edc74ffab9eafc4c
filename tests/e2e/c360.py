"""c360.py - customer 360, Clarity -> F&O, end to end (TAP; run by e2e.py, or alone with
`BUILD=build/x python3 tests/e2e/c360.py`): CustomersToD365 and UserContactsToD365 against the
sandbox over real sockets.

  a) a storefront account without CustomKey becomes F&O customer WEB-C<ID> with every mapped
     field, the account's CustomKey becomes WEB-C<ID>, a second pass makes 0 F&O calls;
  b) dedup: an account whose billing e-mail equals an F&O customer's up to case and blanks
     (and another by name + postal code) updates that customer's Clarity-owned fields only and
     gets its account as CustomKey; no customer is created;
  c) two F&O customers with the e-mail: dead-lettered as ambiguous, nothing written;
  d) echo suppression both ways with CustomersToClarity, counted by the sandbox's stats;
  e) UserContactsToD365: a user's e-mail reaches the customer; a user of an account with no
     F&O customer is retried, then dead-lettered with the reason."""
import json
import os
import sys
from decimal import Decimal, InvalidOperation

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sandbox, Sync, done, request, tap, workdir, CLARITY_ROOT  # noqa: E402

FO_SET = "/data/CustomersV3"


class Clarity:
    def __init__(self, sb):
        self.sb = sb
        self.sid = sb.clarity_session()

    def call(self, method, route, body=None):
        st, j, raw = request(self.sb.cport, method, CLARITY_ROOT + "/" + route, body, {"X-ss-id": self.sid})
        return st, j

    def account(self, aid):
        return self.call("GET", "Accounts/Account/ID/%d" % aid)[1] or {}

    def create_account(self, name, email, zipcode, phone="+1 425 555 0100", credit=900, key=None):
        contact = {"TypeKey": "Billing", "FirstName": "Pat", "LastName": "Doe", "Email1": email,
                   "Phone1": phone, "Address": {"Street1": "1 Main St", "City": "Redmond",
                                                "RegionCode": "WA", "CountryCode": "US",
                                                "PostalCode": zipcode}}
        body = {"Name": name, "TypeKey": "Customer", "Credit": credit, "CreditCurrencyKey": "USD",
                "IsOnHold": False, "AccountContacts": [{"Active": True, "Slave": contact}]}
        if key:
            body["CustomKey"] = key
        st, j = self.call("POST", "Accounts/Account/Create", body)
        if st != 200 or not (j or {}).get("ActionSucceeded"):
            raise RuntimeError("Clarity account create: %s %s" % (st, j))
        return j["Result"]


def fo_token(sb):
    if not sb.token:
        sb.d365("/_sandbox/health")
    return {"Authorization": "Bearer " + sb.token}


SHOWN = ("CustomerAccount", "OrganizationName", "PrimaryContactEmail", "PrimaryContactPhone", "AddressStreet",
         "AddressZipCode",
         "CreditLimit", "CustomerGroupId", "OnHoldStatus")


def fo_customer(sb, acct, full=False):
    st, j = sb.d365("%s(dataAreaId='usmf',CustomerAccount='%s')" % (FO_SET, acct))
    if st != 200:
        return None
    return j if full else {k: j.get(k) for k in SHOWN}


def fo_create(sb, rec):
    body = dict({"dataAreaId": "usmf", "CustomerGroupId": "20", "SalesCurrencyCode": "USD"}, **rec)
    st, j, raw = request(sb.port, "POST", FO_SET, body, fo_token(sb))
    if st != 201:
        raise RuntimeError("F&O customer create: %s %s" % (st, raw[:300]))


def fo_patch(sb, acct, body):
    st, j, raw = request(sb.port, "PATCH", "%s(dataAreaId='usmf',CustomerAccount='%s')" % (FO_SET, acct),
                         body, fo_token(sb))
    if st not in (200, 204):
        raise RuntimeError("F&O customer patch: %s %s" % (st, raw[:300]))


def fo_calls(sb, method=None):
    """Calls the F&O side answered on CustomersV3 (by key or the set), of one method or all."""
    return sum(r["count"] for r in sb.stats()["routes"]
               if r["route"].startswith(FO_SET) and (method is None or r["method"] == method))


def fo_writes(sb):
    return fo_calls(sb, "PATCH") + fo_calls(sb, "POST")


def clarity_calls(sb, route, method):
    return sum(r["count"] for r in request(sb.cport, "GET", "/_sandbox/stats")[1].get("routes") or []
               if r.get("method") == method and route in r.get("route", ""))


def same_value(a, b):
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except InvalidOperation:
            return False
    return a == b


def make_sync(wd, sb, name, flows):
    s = Sync(wd, sb)
    s.cfg["store"] = os.path.join(wd, name + ".db")
    s.cfg["flows"] = {f: {"enabled": True, "poll": True, "overlap_s": 900, "batch_records": 100} for f in flows}
    s.cfg["profiles"]["test"]["flows"] = {f: {"retry": {"max_attempts": 3, "base_ms": 100, "cap_ms": 300}}
                                          for f in flows}
    s.write_config()
    return s


def once(s, flow):
    rc, out, err = s.cmd("once", flow, "--drain", "--timeout", "120")
    return rc, err


def c360_tests(wd, sb):
    cl = Clarity(sb)
    s = make_sync(wd, sb, "c360", ["CustomersToD365", "UserContactsToD365", "CustomersToClarity"])

    # a) a new storefront account
    aid = cl.create_account("Zed Storefront Co", "Zed.Buyer@Shop.Example", "98052")
    acct = "WEB-C%d" % aid
    before = fo_calls(sb)
    rc, err = once(s, "CustomersToD365")
    got = fo_customer(sb, acct, full=True) or {}
    rc2, out2, err2 = s.cmd("preview", "CustomersToD365", stdin=json.dumps(cl.account(aid)).encode())
    try:
        want = json.loads(out2)["CustomersV3"]
    except (ValueError, KeyError):
        want = {}
    diff = {k: (v, got.get(k)) for k, v in want.items() if v is not None and not same_value(v, got.get(k))}
    key_back = cl.account(aid).get("CustomKey")
    tap(rc == 0 and got and want and not diff and key_back == acct and
        "event=delivered flow=CustomersToD365" in err and "how=created" in err,
        "a) storefront account %d: F&O customer %s created with all %d mapped fields, the account's "
        "CustomKey is now %s" % (aid, acct, len(want), acct),
        "rc=%s diff=%s key=%s want=%s preview=%s\n%s" % (rc, diff, key_back, want, out2[:500] + err2[-500:],
                                                        err[-2500:]))
    mid = fo_calls(sb)
    rc, err = once(s, "CustomersToD365")
    tap(rc == 0 and fo_calls(sb) == mid and mid > before,
        "a) a second pass makes 0 F&O calls (the mapped account is unchanged: skipped)",
        "calls first=%d second=%d\n%s" % (mid - before, fo_calls(sb) - mid, err[-1500:]))

    # b) dedup by e-mail (case and blanks) and by name + postal code
    fo_create(sb, {"CustomerAccount": "DD-001", "OrganizationName": "Dedup Original Ltd",
                   "PrimaryContactEmail": "Dana.Dupe@Example.COM ", "CreditLimit": 1234.5,
                   "AddressZipCode": "10001"})
    fo_create(sb, {"CustomerAccount": "DD-002", "OrganizationName": "Postal Match Inc",
                   "PrimaryContactEmail": "", "CreditLimit": 777, "AddressZipCode": "98052"})
    a1 = cl.create_account("Dana's Web Shop", "  dana.dupe@example.com", "10001", credit=5)
    a2 = cl.create_account("POSTAL MATCH INC", "pm.buyer@new.example", "98052", credit=6)
    posts = fo_calls(sb, "POST")
    rc, err = once(s, "CustomersToD365")
    d1, d2 = fo_customer(sb, "DD-001") or {}, fo_customer(sb, "DD-002") or {}
    created = [a for a in ("WEB-C%d" % a1, "WEB-C%d" % a2) if fo_customer(sb, a)]
    tap(rc == 0 and fo_calls(sb, "POST") == posts and not created and
        d1.get("PrimaryContactEmail") == "dana.dupe@example.com" and d1.get("AddressZipCode") == "10001" and
        d1.get("AddressStreet") == "1 Main St" and
        d1.get("OrganizationName") == "Dedup Original Ltd" and same_value(d1.get("CreditLimit"), 1234.5) and
        d1.get("CustomerGroupId") == "20" and cl.account(a1).get("CustomKey") == "DD-001" and
        "event=dedup_hit" in err,
        "b) dedup by e-mail: account %d ('  dana.dupe@example.com') is F&O DD-001 ('Dana.Dupe@Example.COM '): "
        "no customer created, e-mail and address written, name, credit limit and group kept, CustomKey DD-001"
        % a1, "rc=%s created=%s DD-001=%s key=%s\n%s" % (rc, created, d1, cl.account(a1).get("CustomKey"),
                                                          err[-2500:]))
    tap(rc == 0 and d2.get("PrimaryContactEmail") == "pm.buyer@new.example" and
        d2.get("OrganizationName") == "Postal Match Inc" and same_value(d2.get("CreditLimit"), 777) and
        cl.account(a2).get("CustomKey") == "DD-002",
        "b) dedup by name + postal code: account %d ('POSTAL MATCH INC', 98052) is F&O DD-002: its e-mail "
        "written, name and credit limit kept, CustomKey DD-002" % a2,
        "DD-002=%s key=%s\n%s" % (d2, cl.account(a2).get("CustomKey"), err[-2500:]))

    # c) ambiguous
    fo_create(sb, {"CustomerAccount": "DD-003", "OrganizationName": "Twin One",
                   "PrimaryContactEmail": "twin@example.com"})
    fo_create(sb, {"CustomerAccount": "DD-004", "OrganizationName": "Twin Two",
                   "PrimaryContactEmail": "TWIN@example.com"})
    a3 = cl.create_account("Twin Web", "twin@example.com", "55555")
    w0 = fo_writes(sb)
    rc, err = once(s, "CustomersToD365")
    dl = [d for d in s.dlq() if d["flow"] == "CustomersToD365"]
    reason = "ambiguous: PrimaryContactEmail 'twin@example.com' matches 2 F&O CustomersV3 records: DD-003, DD-004"
    tap(len(dl) == 1 and dl[0]["reason"] == reason and dl[0]["source"] == "CustomersToD365:%d" % a3 and
        dl[0]["attempts"] == 1 and fo_writes(sb) == w0 and not fo_customer(sb, "WEB-C%d" % a3) and
        not cl.account(a3).get("CustomKey"),
        "c) two F&O customers with the e-mail: dead-lettered at once as '%s', nothing written" % reason,
        "dlq=%s writes=%d\n%s" % (dl, fo_writes(sb) - w0, err[-2000:]))

    # d) echo suppression, both ways: quiet first (CustomersToClarity brings F&O's own fields)
    for _ in range(2):
        once(s, "CustomersToClarity")
        once(s, "CustomersToD365")
    fo_patch(sb, "DD-001", {"CreditLimit": 4321})
    cw, fw = clarity_calls(sb, "/Accounts/Account/Upsert", "POST"), fo_writes(sb)
    rc1, err1 = once(s, "CustomersToClarity")
    cw1 = clarity_calls(sb, "/Accounts/Account/Upsert", "POST") - cw
    rc2, err2 = once(s, "CustomersToD365")
    fw1 = fo_writes(sb) - fw
    tap(rc1 == 0 and rc2 == 0 and cw1 == 1 and fw1 == 0 and
        same_value(cl.account(a1).get("Credit"), 4321),
        "d) CreditLimit changed in F&O: 1 Clarity write (CustomersToClarity), then 0 F&O writes from "
        "CustomersToD365 (the echo maps to what F&O has)",
        "clarity writes=%d fo writes=%d credit=%s\n%s\n%s" % (cw1, fw1, cl.account(a1).get("Credit"),
                                                               err1[-1200:], err2[-1500:]))
    acc = cl.account(a1)
    contacts = acc.get("AccountContacts") or []
    contacts[0]["Slave"]["Email1"] = "Dana.New@Example.com"
    st, j = cl.call("PUT", "Accounts/Account/Update", {"ID": a1, "AccountContacts": contacts})
    patches, cw = fo_calls(sb, "PATCH"), clarity_calls(sb, "/Accounts/Account/Upsert", "POST")
    rc1, err1 = once(s, "CustomersToD365")
    p1 = fo_calls(sb, "PATCH") - patches
    rc2, err2 = once(s, "CustomersToClarity")
    cw1 = clarity_calls(sb, "/Accounts/Account/Upsert", "POST") - cw
    d1 = fo_customer(sb, "DD-001") or {}
    sent = [l.split("fields=")[-1] for l in err1.splitlines() if "event=delivered flow=CustomersToD365" in l]
    tap(st == 200 and p1 == 1 and sent == ["PrimaryContactEmail"] and
        d1.get("PrimaryContactEmail") == "dana.new@example.com" and cw1 == 0,
        "d) billing e-mail changed in Clarity: 1 F&O PATCH of PrimaryContactEmail only, then 0 Clarity "
        "writes from CustomersToClarity",
        "update=%s %s patches=%d sent=%s clarity writes=%d DD-001=%s\n%s\n%s" % (st, j, p1, sent, cw1, d1, err1[-1500:],
                                                                        err2[-1200:]))

    # f) an answer lost after F&O committed: the POST is found by key, the PATCH read again
    sb.faults({"drop_next": 1})
    a5 = cl.create_account("Dropped Answer Co", "drop.answer@shop.example", "30301")
    posts = fo_calls(sb, "POST")
    rc, err = once(s, "CustomersToD365")
    tap(rc == 0 and fo_calls(sb, "POST") - posts == 1 and fo_customer(sb, "WEB-C%d" % a5) and
        "already present (found by key after an unknown outcome)" in err,
        "f) a create whose answer is lost after the commit is found by key, not sent again (1 POST)",
        "posts=%d\n%s" % (fo_calls(sb, "POST") - posts, err[-2000:]))
    acc = cl.account(a5)
    contacts = acc.get("AccountContacts") or []
    contacts[0]["Slave"]["Email1"] = "drop.again@shop.example"
    cl.call("PUT", "Accounts/Account/Update", {"ID": a5, "AccountContacts": contacts})
    sb.faults({"drop_next": 1})
    patches = fo_calls(sb, "PATCH")
    rc, err = once(s, "CustomersToD365")
    sb.clear_faults()
    tap(rc == 0 and fo_calls(sb, "PATCH") - patches == 1 and
        (fo_customer(sb, "WEB-C%d" % a5) or {}).get("PrimaryContactEmail") == "drop.again@shop.example" and
        'why="F&O already has these values"' in err and "attempt=2" in err,
        "f) a PATCH whose answer is lost is retried by reading first: the value is there, nothing resent",
        "patches=%d\n%s" % (fo_calls(sb, "PATCH") - patches, err[-2000:]))
    # g) throttled: 429 with Retry-After waits, no attempt used
    sb.faults({"rate_limit": 2, "rate_burst": 1, "retry_after": 1})
    ids = [cl.create_account("Throttle %d" % i, "throttle%d@shop.example" % i, "30301") for i in range(3)]
    rc, err = once(s, "CustomersToD365")
    sb.clear_faults()
    made = [i for i in ids if fo_customer(sb, "WEB-C%d" % i)]
    tap(rc == 0 and len(made) == 3 and "event=throttled" in err and
        all("attempt=1" in l for l in err.splitlines() if "event=delivered flow=CustomersToD365" in l),
        "g) F&O throttling (429 + Retry-After): the 3 accounts created, each on its first attempt",
        "made=%s\n%s" % (made, err[-2000:]))

    # e) UserContactsToD365
    st, users = cl.call("GET", "Contacts/Users?Paging.Size=1&Paging.StartIndex=1&noCache=true")
    user = (users or {}).get("Results", [{}])[0]
    ukey = user.get("AccountKey")
    st, j = cl.call("PUT", "Contacts/User/Update", {"ID": user.get("ID"), "Email": " New.Mail@Example.com "})
    rc, err = once(s, "UserContactsToD365")
    cu = fo_customer(sb, ukey) if ukey else {}
    tap(st == 200 and rc == 0 and (cu or {}).get("PrimaryContactEmail") == "new.mail@example.com",
        "e) a user's e-mail change (' New.Mail@Example.com ') reaches F&O customer %s normalised" % ukey,
        "update=%s %s customer=%s\n%s" % (st, j, cu, err[-2000:]))
    cl.create_account("Ghost Account", "ghost@example.com", "11111", key="GHOST-1")
    st, j = cl.call("POST", "Contacts/User/Create", {"UserName": "ghost.user@example.com",
                                                     "Email": "ghost.user@example.com", "AccountKey": "GHOST-1"})
    gid = (j or {}).get("Result")
    rc, err = once(s, "UserContactsToD365")
    dl = [d for d in s.dlq() if d["flow"] == "UserContactsToD365"]
    reason = "retries exhausted: F&O has no CustomersV3 (dataAreaId='usmf',CustomerAccount='GHOST-1') to update"
    tap(st == 200 and len(dl) == 1 and dl[0]["reason"] == reason and dl[0]["attempts"] == 3 and
        dl[0]["source"] == "UserContactsToD365:%s" % gid and err.count("event=retry flow=UserContactsToD365") == 2,
        "e) a user of an account with no F&O customer: retried, dead-lettered after 3 attempts as '%s'" % reason,
        "create=%s %s dlq=%s\n%s" % (st, j, dl, err[-2000:]))
    # h) credentials refused: the flow pauses, the record is released (no attempt, no dead letter)
    a6 = cl.create_account("Paused Co", "paused@shop.example", "30301")
    s.env["SYNC_D365_SECRET"] = "wrong-secret"
    rc, err = once(s, "CustomersToD365")
    s.env["SYNC_D365_SECRET"] = "sync-secret"
    dead = [d for d in s.dlq() if d["source"] == "CustomersToD365:%d" % a6]
    rc2, err2 = once(s, "CustomersToD365")
    tap("event=flow_paused flow=CustomersToD365" in err and not dead and
        fo_customer(sb, "WEB-C%d" % a6) is not None and "attempt=1 how=created" in err2,
        "h) F&O refusing the credentials pauses CustomersToD365 with the record released (no attempt "
        "used, not dead-lettered); with the right secret the account is created on its first attempt",
        "dead=%s\n%s\n%s" % (dead, err[-1500:], err2[-1500:]))

    rc, out, err = s.cmd("status", valgrind=False)
    tap("flow CustomersToD365: enabled" in out and "flow UserContactsToD365: enabled" in out and
        "UserContactsToD365:%s: %s" % (gid, reason) in out,
        "sync status lists both customer-360 flows and the dead letter with its reason", out + err)


def main():
    wd = workdir("e2e-c360")
    sb = Sandbox(wd).start()
    try:
        c360_tests(wd, sb)
    except Exception:
        import traceback
        tap(False, "c360 tests ran to the end", traceback.format_exc())
    finally:
        sb.stop()
    return done()


if __name__ == "__main__":
    sys.exit(main())
