"""tamper.py - run by tests/demo as the demo's DEMO_BEFORE_SUMMARY hook: removes one delivered
sales order (the lowest WEB- number) from the sandbox's F&O, so the demo's reconciliation must
report it as lost and the demo must exit 1.  Prints the order number it removed."""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.environ["TOP"], "scripts", "demo"))
import sblib  # noqa: E402

sb = sblib.Sandbox(int(os.environ["DEMO_D365_PORT"]), int(os.environ["DEMO_CLARITY_PORT"]))
heads, lines = sb.sales_orders("WEB-")
son = min(heads, key=lambda n: int(n[4:]))
token = sb.get_token()
st, j, raw = sblib.request(sb.port, "DELETE", "/data/SalesOrderHeadersV2(dataAreaId='usmf',"
                           "SalesOrderNumber='%s')" % son, headers={"Authorization": "Bearer " + token})
print("tamper: DELETE %s -> HTTP %d %s" % (son, st, raw[:200].decode(errors="replace")))
sys.exit(0 if st in (200, 204) else 1)
