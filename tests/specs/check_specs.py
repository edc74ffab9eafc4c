#!/usr/bin/env python3
"""check_specs.py - independent checks of the product's two schemas (specs/d365/metadata.xml and
specs/clarity/openapi.json) against the reference material copied into specs/*/source/.
Uses only the Python standard library (not mapc's loaders).  Prints TAP lines; exit status 0
only when every check passed.  Usage: check_specs.py TOP
"""
import ast
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TOP = sys.argv[1] if len(sys.argv) > 1 else "."
D365 = os.path.join(TOP, "specs", "d365")
CLARITY = os.path.join(TOP, "specs", "clarity")
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NS = "Microsoft.Dynamics.DataEntities"
CORE = "Microsoft.Dynamics.OData.Core.V1"

n_tests = 0
n_failed = 0


def ok(cond, what, detail=None):
    global n_tests, n_failed
    n_tests += 1
    if cond:
        print("ok %d - %s" % (n_tests, what))
    else:
        n_failed += 1
        print("not ok %d - %s" % (n_tests, what))
        if detail:
            for line in str(detail).splitlines()[:20]:
                print("#   " + line)


def norm(name):
    return name.replace("_", "").lower()


# The entity sets the six business flows need, with their entity types.
FLOW_SETS = {
    "SalesOrderHeadersV2": "SalesOrderHeaderV2",
    "SalesOrderLines": "SalesOrderLine",
    "ReleasedProductsV2": "ReleasedProductV2",
    "CustomersV3": "CustomerV3",
    "WarehousesOnHandV2": "WarehouseOnHandV2",
    "CustomerPaymentJournalHeaders": "CustomerPaymentJournalHeader",
    "CustomerPaymentJournalLines": "CustomerPaymentJournalLine",
    "SalesInvoiceHeadersV2": "SalesInvoiceHeaderV2",
    "SalesInvoiceV2Lines": "SalesInvoiceV2Line",
    "PackingSlipTrackingInformation": "PackingSlipTrackingInformation",
    "ReturnOrderHeadersV2": "ReturnOrderHeaderV2",
    "ReturnOrderLinesV2": "ReturnOrderLineV2",
}

# ------------------------------------------------------------------ metadata.xml
meta_path = os.path.join(D365, "metadata.xml")
with open(meta_path, "rb") as f:
    meta_bytes = f.read()
ok(meta_bytes.startswith(b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
   "metadata.xml starts with a UTF-8 BOM and the XML declaration")
try:
    root = ET.fromstring(meta_bytes)
    parse_error = None
except ET.ParseError as e:
    root, parse_error = None, e
ok(root is not None, "metadata.xml is well-formed XML", parse_error)
if root is None:
    print("1..%d" % n_tests)
    sys.exit(1)

ok(root.tag == EDMX + "Edmx" and root.get("Version") == "4.0", "root is edmx:Edmx Version=\"4.0\"")
schemas = root.findall(EDMX + "DataServices/" + EDM + "Schema")
ok([s.get("Namespace") for s in schemas] == [NS, CORE],
   "two schemas: %s then %s" % (NS, CORE), [s.get("Namespace") for s in schemas])
main_schema = schemas[0]
core_schema = schemas[1] if len(schemas) > 1 else None
core_children = [(c.tag, c.get("Name")) for c in core_schema] if core_schema is not None else []
ok(core_children == [(EDM + "EnumType", "AXType")], "the Core.V1 schema holds only EnumType AXType",
   core_children)
ax_members = [m.get("Name") for m in core_schema.iter(EDM + "Member")] if core_schema is not None else []

containers = main_schema.findall(EDM + "EntityContainer")
ok(len(containers) == 1 and containers[0].get("Name") == "Resources",
   "one EntityContainer named Resources")
container = containers[0]

types = {t.get("Name"): t for t in main_schema.findall(EDM + "EntityType")}
enums = {e.get("Name"): e for e in main_schema.findall(EDM + "EnumType")}
sets = {s.get("Name"): s for s in container.findall(EDM + "EntitySet")}
ok(len(types) == len(main_schema.findall(EDM + "EntityType")), "entity type names are unique")
ok(len(enums) == len(main_schema.findall(EDM + "EnumType")), "enum type names are unique")


def type_of_set(set_name):
    s = sets.get(set_name)
    if s is None:
        return None
    t = s.get("EntityType")
    return t[len(NS) + 1:] if t.startswith(NS + ".") else t


for set_name, type_name in sorted(FLOW_SETS.items()):
    ok(type_of_set(set_name) == type_name and type_name in types,
       "entity set %s exists and binds to entity type %s" % (set_name, type_name),
       "binds to %r" % type_of_set(set_name))

bad_sets = [s for s in sets if type_of_set(s) not in types]
ok(not bad_sets, "every entity set binds to a defined entity type", bad_sets)


def props_of(t):
    return t.findall(EDM + "Property")


# Enum names in the field lists are the SAP SDK's spelling; the real name is the one the excerpts
# (or source/enums_public.tsv) give.  Map tsv spelling -> real name.
public_real = {}
with open(os.path.join(D365, "source", "enums_public.tsv"), encoding="utf-8") as f:
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        cols = line.rstrip("\n").split("\t")
        public_real[cols[0]] = cols[1]


bad_sources = []
with open(os.path.join(D365, "source", "enums_public.tsv"), encoding="utf-8") as f:
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 5 or cols[4] not in ("A", "A*", "P", "M") or not re.fullmatch(r"-?\d+", cols[3]):
            bad_sources.append(line.strip())
ok(not bad_sources, "every enum member of source/enums_public.tsv names a recorded source (no guesses)",
   "\n".join(bad_sources[:5]))


def same_type(meta_type, tsv_type):
    if meta_type == tsv_type:
        return True
    if meta_type.startswith(NS + ".") and tsv_type.startswith(NS + "."):
        m, t = meta_type[len(NS) + 1:], tsv_type[len(NS) + 1:]
        return norm(m) == norm(t) or public_real.get(t) == m
    return False


# field lists: set -> type as the generator maps them (type name from the set's EntitySet)
for tsv_path in sorted(glob.glob(os.path.join(D365, "source", "fields", "*.tsv"))):
    with open(tsv_path, encoding="utf-8") as f:
        header = f.readline()
        rows = [l.rstrip("\n").split("\t") for l in f if not l.startswith("#") and l.strip()]
    m = re.match(r"# EntitySet (\w+); keys=(\[.*?\]); navigation=(\[.*\])", header)
    base = os.path.basename(tsv_path)
    if not m:
        ok(False, "%s: header readable" % base)
        continue
    set_name, keys = m.group(1), ast.literal_eval(m.group(2))
    type_name = type_of_set(set_name)
    t = types.get(type_name)
    if t is None:
        ok(False, "%s: entity set %s is defined" % (base, set_name))
        continue
    got = [(p.get("Name"), p.get("Type"), p.get("Nullable") == "false") for p in props_of(t)]
    want = [(r[0], r[1], r[2] == "NotNull") for r in rows]
    problems = []
    if [g[0] for g in got] != [w[0] for w in want]:
        problems.append("property names/order differ: missing %s, extra %s"
                        % (sorted(set(w[0] for w in want) - set(g[0] for g in got)),
                           sorted(set(g[0] for g in got) - set(w[0] for w in want))))
    else:
        for g, w in zip(got, want):
            if not same_type(g[1], w[1]):
                problems.append("%s: type %s, field list says %s" % (g[0], g[1], w[1]))
            if g[2] != w[2]:
                problems.append("%s: Nullable=%s, field list says %s" % (g[0], not g[2], w[2]))
    meta_keys = [r.get("Name") for r in t.findall(EDM + "Key/" + EDM + "PropertyRef")]
    if meta_keys != keys:
        problems.append("keys %s, field list says %s" % (meta_keys, keys))
    ok(not problems, "%s: %d properties of %s with the field list's types, nullability, order "
       "and keys" % (base, len(want), type_name), "\n".join(problems))

# enums
referenced = set()
for t in types.values():
    for p in props_of(t):
        ty = p.get("Type")
        if ty.startswith(NS + "."):
            referenced.add(ty[len(NS) + 1:])
missing = sorted(referenced - set(enums))
ok(not missing, "every enum type a property uses is defined (%d used)" % len(referenced), missing)
unused = sorted(set(enums) - referenced)
ok(not unused, "every defined enum type is used by a property", unused)
bad_members = []
for e in enums.values():
    members = e.findall(EDM + "Member")
    if not members:
        bad_members.append(e.get("Name") + ": no members")
    for mem in members:
        if not re.fullmatch(r"-?\d+", mem.get("Value") or ""):
            bad_members.append("%s.%s: Value %r" % (e.get("Name"), mem.get("Name"), mem.get("Value")))
ok(not bad_members, "every enum type has members with integer values", bad_members)


def members(name):
    e = enums.get(name)
    return [m.get("Name") for m in e.findall(EDM + "Member")] if e is not None else None


ok(members("NoYes") == ["No", "Yes"], "NoYes = {No, Yes}", members("NoYes"))
ok(members("SalesStatus") == ["None", "Backorder", "Delivered", "Invoiced", "Canceled"],
   "SalesStatus = {None, Backorder, Delivered, Invoiced, Canceled}", members("SalesStatus"))
lj = members("LedgerJournalACType") or []
ok(all(m in lj for m in ["Cust", "Ledger", "Vend", "Project", "FixedAssets", "Bank"]),
   "LedgerJournalACType has Cust, Ledger, Vend, Project, FixedAssets, Bank", lj)
so_status = [p.get("Type") for p in props_of(types["SalesOrderHeaderV2"]) if p.get("Name") == "SalesOrderStatus"]
ok(so_status == [NS + ".SalesStatus"], "SalesOrderHeaderV2.SalesOrderStatus is a SalesStatus", so_status)

# Real enums: every enum defined in an excerpt is copied member for member (names and values).
excerpt_enums = {}
conflicts = []
for path in sorted(glob.glob(os.path.join(D365, "source", "excerpts", "*.xml"))):
    r = ET.parse(path).getroot()
    for e in r.iter(EDM + "EnumType"):
        if e.get("Name") == "AXType":
            continue
        ms = [(m.get("Name"), m.get("Value")) for m in e.findall(EDM + "Member")]
        if e.get("Name") in excerpt_enums and excerpt_enums[e.get("Name")] != ms:
            conflicts.append(e.get("Name"))
        excerpt_enums.setdefault(e.get("Name"), ms)
ok(not conflicts, "the excerpts never define one enum two ways", conflicts)
diff = [n for n in enums if n in excerpt_enums and
        [(m.get("Name"), m.get("Value")) for m in enums[n].findall(EDM + "Member")] != excerpt_enums[n]]
ok(not diff, "enums found in the excerpts are copied with the real members and values", diff)
ok(members("Timezone") is not None and
   sum(1 for m in enums["Timezone"].findall(EDM + "Member") if m.get("Value") == "255") == 2,
   "Timezone keeps its two members with Value 255")

# annotations
bad_terms = set()
no_axtype = []
for t in types.values():
    for p in props_of(t):
        terms = [a.get("Term") for a in p.findall(EDM + "Annotation")]
        for term in terms:
            if not term.startswith(CORE + "."):
                bad_terms.add(term)
        ax = p.findall(EDM + "Annotation[@Term='%s.AXType']/%sEnumMember" % (CORE, EDM))
        if len(ax) != 1 or not ax[0].text.startswith(CORE + ".AXType/") or \
                ax[0].text.split("/")[-1] not in ax_members:
            no_axtype.append("%s.%s" % (t.get("Name"), p.get("Name")))
    for a in t.findall(EDM + "Annotation"):
        if not a.get("Term").startswith(CORE + "."):
            bad_terms.add(a.get("Term"))
ok(not bad_terms, "every annotation term is Microsoft.Dynamics.OData.Core.V1.*", sorted(bad_terms))
ok(not no_axtype, "every property carries one AXType annotation naming an AXType member", no_axtype[:10])
bool_bad = [a.get("Term") for a in root.iter(EDM + "Annotation")
            if a.get("Term", "").split(".")[-1] in ("IsRequired", "AllowEdit", "AllowEditOnCreate",
                                                     "IsReadOnly", "ConfigurationKeyEnabled")
            and a.get("Bool") not in ("true", "false")]
ok(not bool_bad, "boolean annotations are written Bool=\"true|false\"", bool_bad[:5])
attrs_bad = [p.get("Name") for p in root.iter(EDM + "Property")
             if set(p.keys()) - {"Name", "Type", "Nullable"}]
ok(not attrs_bad, "properties carry only Name, Type, Nullable (as in real F&O documents)", attrs_bad[:5])


def ann(t, prop, term):
    for p in props_of(types[t]):
        if p.get("Name") == prop:
            for a in p.findall(EDM + "Annotation"):
                if a.get("Term") == CORE + "." + term:
                    return a.get("Bool") or a.get("String")
    return None


ok(ann("SalesOrderLine", "InventoryLotId", "AllowEditOnCreate") == "false",
   "SalesOrderLine.InventoryLotId is server generated (AllowEditOnCreate false)")
ok(ann("CustomerV3", "SalesCurrencyCode", "IsRequired") == "true" and
   ann("CustomerV3", "CustomerGroupId", "IsRequired") == "true",
   "CustomerV3 requires SalesCurrencyCode and CustomerGroupId (IsRequired, from the real excerpt)")
ok(ann("PackingSlipTrackingInformation", "DeliveryDate", "IsRequired") == "true",
   "PackingSlipTrackingInformation.DeliveryDate is IsRequired (real excerpt)")
dd = [a.text for p in props_of(types["PackingSlipTrackingInformation"]) if p.get("Name") == "DeliveryDate"
      for a in p.iter(EDM + "EnumMember")]
ok(dd == [CORE + ".AXType/Date"], "PackingSlipTrackingInformation.DeliveryDate is AXType Date", dd)
ro = [a.get("Bool") for a in types["SalesInvoiceHeaderV2"].findall(EDM + "Annotation")
      if a.get("Term") == CORE + ".IsReadOnly"]
ok(ro == ["true"], "SalesInvoiceHeaderV2 is IsReadOnly")


# The two entity types that have a full definition in a real excerpt are copied verbatim.
def raw_entity(text, name):
    m = re.search(r'      <EntityType Name="%s">\n.*?      </EntityType>\n' % re.escape(name), text, re.S)
    return m.group(0) if m else None


meta_text = meta_bytes.decode("utf-8-sig")
for name, excerpt in (("CustomerV3", "customer_v3_excerpt.xml"),
                      ("PackingSlipTrackingInformation", "scm_inventory_trimmed_metadata.xml")):
    with open(os.path.join(D365, "source", "excerpts", excerpt), encoding="utf-8-sig") as f:
        real = raw_entity(f.read(), name)
    ok(real is not None and raw_entity(meta_text, name) == real,
       "%s is the real definition from %s, verbatim" % (name, excerpt))

# navigation: targets, partners, constraints, bindings
DANGLING_TYPE, DANGLING_SET = "DimensionSet", "DimensionSets"
nav_problems = []
dangling_types = []
for t in types.values():
    names = {p.get("Name") for p in props_of(t)}
    for nav in t.findall(EDM + "NavigationProperty"):
        ty = nav.get("Type")
        coll = ty.startswith("Collection(")
        target = ty[len("Collection("):-1] if coll else ty
        target = target[len(NS) + 1:]
        if target not in types:
            dangling_types.append("%s.%s -> %s" % (t.get("Name"), nav.get("Name"), target))
            continue
        partner = nav.get("Partner")
        if partner:
            back = [n for n in types[target].findall(EDM + "NavigationProperty") if n.get("Name") == partner]
            if len(back) != 1 or back[0].get("Partner") != nav.get("Name"):
                nav_problems.append("%s.%s: partner %s.%s does not point back"
                                    % (t.get("Name"), nav.get("Name"), target, partner))
        tnames = {p.get("Name") for p in props_of(types[target])}
        for rc in nav.findall(EDM + "ReferentialConstraint"):
            if rc.get("Property") not in names or rc.get("ReferencedProperty") not in tnames:
                nav_problems.append("%s.%s: constraint %s=%s names an unknown property"
                                    % (t.get("Name"), nav.get("Name"), rc.get("Property"),
                                       rc.get("ReferencedProperty")))
        if not coll and not nav.findall(EDM + "ReferentialConstraint"):
            nav_problems.append("%s.%s: single-valued navigation without ReferentialConstraint"
                                % (t.get("Name"), nav.get("Name")))
ok(not nav_problems, "navigation properties: partners point back, constraints name real properties",
   "\n".join(nav_problems))
ok(dangling_types == ["SalesOrderHeaderV2.DimensionSet -> DimensionSet"],
   "exactly one dangling navigation type, the documented SalesOrderHeaderV2.DimensionSet",
   dangling_types)
binding_problems = []
dangling_sets = []
for s in sets.values():
    t = types.get(type_of_set(s.get("Name")))
    navs = {n.get("Name"): n for n in t.findall(EDM + "NavigationProperty")} if t is not None else {}
    for b in s.findall(EDM + "NavigationPropertyBinding"):
        if b.get("Path") not in navs:
            binding_problems.append("%s: binding path %s is no navigation property"
                                    % (s.get("Name"), b.get("Path")))
            continue
        if b.get("Target") not in sets:
            dangling_sets.append("%s/%s -> %s" % (s.get("Name"), b.get("Path"), b.get("Target")))
            continue
        nty = navs[b.get("Path")].get("Type")
        nty = nty[len("Collection("):-1] if nty.startswith("Collection(") else nty
        if NS + "." + type_of_set(b.get("Target")) != nty:
            binding_problems.append("%s/%s: target set %s is not of type %s"
                                    % (s.get("Name"), b.get("Path"), b.get("Target"), nty))
    for name in navs:
        if name not in [b.get("Path") for b in s.findall(EDM + "NavigationPropertyBinding")]:
            binding_problems.append("%s: navigation %s has no binding" % (s.get("Name"), name))
ok(not binding_problems, "every navigation property is bound to an entity set of its target type",
   "\n".join(binding_problems))
ok(dangling_sets == ["SalesOrderHeadersV2/DimensionSet -> DimensionSets"],
   "exactly one dangling binding, the documented SalesOrderHeadersV2/DimensionSet", dangling_sets)
ok(any(n.get("Name") == "SalesOrderLines" and n.get("Type") == "Collection(%s.SalesOrderLine)" % NS
       for n in types["SalesOrderHeaderV2"].findall(EDM + "NavigationProperty")),
   "SalesOrderHeaderV2.SalesOrderLines navigates to the order's lines")


def regenerates(script, committed, suffix):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out" + suffix)
        r = subprocess.run([sys.executable, script, out], capture_output=True, text=True)
        if r.returncode != 0:
            return False, r.stderr
        with open(out, "rb") as f, open(committed, "rb") as g:
            return f.read() == g.read(), "generated output differs from the committed file"


fresh, why = regenerates(os.path.join(D365, "gen_metadata.py"), meta_path, ".xml")
ok(fresh, "specs/d365/gen_metadata.py reproduces the committed metadata.xml byte for byte", why)

# ------------------------------------------------------------------ openapi.json
api_path = os.path.join(CLARITY, "openapi.json")
try:
    with open(api_path, encoding="utf-8") as f:
        api = json.load(f)
    err = None
except (OSError, ValueError) as e:
    api, err = None, e
ok(api is not None, "openapi.json is valid JSON", err)
if api is None:
    print("1..%d" % n_tests)
    sys.exit(1)
ok(str(api.get("openapi", "")).startswith("3.0."), "openapi.json is OpenAPI 3.0.x")
ok([s.get("url") for s in api.get("servers", [])] == ["/DesktopModules/ClarityEcommerce/API-Admin"],
   "server URL is the CEF admin root")
S = api.get("components", {}).get("schemas", {})
WANT = ["SalesOrder", "SalesItem", "Contact", "Address", "Totals", "Product", "Account", "User",
        "ProductInventoryLocationSection", "BulkUpdateInventoryForProductsRequest", "Shipment",
        "SalesReturn", "SalesInvoice", "Payment", "Discount", "DiscountCode",
        "SerializableAttribute", "ActionResponse", "ResponseStatus", "ErrorResponse", "DigestItem",
        "WebhookEvent"]
ok(all(w in S for w in WANT), "components.schemas has every schema the flows need",
   sorted(set(WANT) - set(S)))
ok(S.get("Totals", {}).get("properties", {}).keys() >= {"SubTotal", "Shipping", "Handling", "Fees",
                                                         "Discounts", "Tax", "Total"},
   "Totals = {SubTotal, Shipping, Handling, Fees, Discounts, Tax, Total}")
ENT = ["SalesOrder", "SalesInvoice", "SalesReturn", "Product", "Account", "Contact", "User",
       "Shipment", "Payment", "Discount", "DiscountCode"]
paged_bad = []
for e in ENT:
    p = S.get(e + "PagedResults", {})
    props = p.get("properties", {})
    if set(props) != {"Results", "TotalCount", "TotalPages", "CurrentPage", "CurrentCount"} or \
            props["Results"].get("items", {}).get("$ref") != "#/components/schemas/" + e:
        paged_bad.append(e)
ok(not paged_bad, "one paged wrapper {Results, TotalCount, TotalPages, CurrentPage, CurrentCount} per entity",
   paged_bad)
ar = S.get("ActionResponse", {}).get("properties", {})
ok(set(ar) == {"ActionSucceeded", "Messages", "Result"}, "ActionResponse = {ActionSucceeded, Messages, Result}")
base_bad = []
for e in ENT + ["Address", "SalesItem", "ProductInventoryLocationSection"]:
    props = S.get(e, {}).get("properties", {})
    if props.get("ID") != {"type": "integer", "format": "int32", "description": props.get("ID", {}).get("description")} \
            and props.get("ID", {}).get("format") != "int32":
        base_bad.append(e + ".ID")
    if props.get("CustomKey", {}).get("maxLength") != 128:
        base_bad.append(e + ".CustomKey")
    for n in ("CreatedDate", "UpdatedDate"):
        if props.get(n, {}).get("format") != "date-time":
            base_bad.append(e + "." + n)
ok(not base_bad, "entities carry ID int32, CustomKey maxLength 128, CreatedDate/UpdatedDate date-time",
   base_bad)
money = [("Totals", "Total"), ("SalesItem", "UnitSoldPrice"), ("SalesItem", "Quantity"),
         ("Payment", "Amount"), ("SalesOrder", "BalanceDue"),
         ("ProductInventoryLocationSection", "QuantityAllocated")]
money_bad = [m for m in money if S.get(m[0], {}).get("properties", {}).get(m[1]) is None
             or S[m[0]]["properties"][m[1]].get("type") != "number"
             or S[m[0]]["properties"][m[1]].get("format") != "decimal"]
ok(not money_bad, "money and quantities are {type: number, format: decimal}", money_bad)

refs = []


def walk(x, where):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "$ref":
                refs.append((v, where))
            else:
                walk(v, where + "/" + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            walk(v, "%s/%d" % (where, i))


walk(api, "")


def resolve(r):
    if not r.startswith("#/"):
        return False
    node = api
    for part in r[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


unresolved = [r for r, w in refs if not resolve(r)]
ok(refs and not unresolved, "every $ref resolves (%d refs)" % len(refs), unresolved[:10])
sibling = []


def ref_siblings(x, where):
    if isinstance(x, dict):
        if "$ref" in x and len(x) > 1:
            sibling.append(where)
        for k, v in x.items():
            ref_siblings(v, where + "/" + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            ref_siblings(v, "%s/%d" % (where, i))


ref_siblings(api, "")
ok(not sibling, "no $ref has sibling keys (ignored by OpenAPI 3.0)", sibling[:5])

paths = api.get("paths", {})
routes_missing = []
with open(os.path.join(CLARITY, "source", "routes.txt"), encoding="utf-8") as f:
    route_lines = [l.rstrip("\n") for l in f if l.strip()]
for line in route_lines:
    verbs, raw = line.split(" ", 1)
    path = re.sub(r"\{(\w+)\*\}", r"{\1}", raw)
    for verb in verbs.split(","):
        op = paths.get(path, {}).get(verb.lower())
        if op is None or op.get("x-route") != line:
            routes_missing.append(line)
ok(len(route_lines) == 221 and not routes_missing,
   "every route of routes.txt (%d lines) is a path operation" % len(route_lines), routes_missing[:10])
params_bad = []
for p, item in paths.items():
    declared = set(re.findall(r"\{(\w+)\}", p))
    for verb, op in item.items():
        got = {x["name"] for x in op.get("parameters", []) if x.get("in") == "path"}
        if got != declared:
            params_bad.append("%s %s" % (verb, p))
ok(not params_bad, "every path template parameter is declared", params_bad[:5])
op_ids = [op.get("operationId") for item in paths.values() for op in item.values()]
ok(len(op_ids) == len(set(op_ids)) and None not in op_ids, "operationIds are present and unique")
sets_found = {}
for p, item in paths.items():
    op = item.get("get")
    if op and "x-entity-set" in op:
        r = op["responses"]["200"]["content"]["application/json"]["schema"].get("$ref", "")
        wrapper = S.get(r.split("/")[-1], {})
        elem = wrapper.get("properties", {}).get("Results", {}).get("items", {}).get("$ref", "")
        sets_found[op["x-entity-set"]] = (p, elem.split("/")[-1], op.get("x-entity-type"))
want_sets = {"SalesOrders": "SalesOrder", "SalesInvoices": "SalesInvoice",
             "SalesReturns": "SalesReturn", "Products": "Product", "Accounts": "Account",
             "Contacts": "Contact", "Users": "User", "Shipments": "Shipment",
             "Payments": "Payment", "Discounts": "Discount", "DiscountCodes": "DiscountCode"}
sets_bad = [k for k, v in want_sets.items()
            if k not in sets_found or sets_found[k][1] != v or sets_found[k][2] != v
            or not sets_found[k][0].endswith("/" + k)]
ok(not sets_bad and len(sets_found) == len(want_sets),
   "GET /M/Xs list routes return the paged wrapper of X (entity sets)", sets_bad)
so_get = paths.get("/Ordering/SalesOrders", {}).get("get", {})
ok(so_get.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
   .get("schema", {}).get("$ref") == "#/components/schemas/SalesOrderPagedResults",
   "GET /Ordering/SalesOrders -> SalesOrderPagedResults")
state_bad = [a for a in ("Confirm", "Hold", "Pending", "Backorder", "Ship", "Complete", "Void")
             if paths.get("/Ordering/SalesOrder/%s/{ID}" % a, {}).get("patch", {})
             .get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
             .get("schema", {}).get("$ref") != "#/components/schemas/ActionResponse"]
ok(not state_bad, "sales order state PATCHes answer ActionResponse", state_bad)
bulk = paths.get("/Providers/Inventory/BulkUpdateInventoryForProducts", {}).get("put", {})
ok(bulk.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
   .get("$ref") == "#/components/schemas/BulkUpdateInventoryForProductsRequest",
   "bulk inventory PUT takes BulkUpdateInventoryForProductsRequest")
up = paths.get("/Ordering/SalesOrder/Upsert", {}).get("post", {})
ok(up.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
   .get("$ref") == "#/components/schemas/SalesOrder", "POST /Ordering/SalesOrder/Upsert takes a SalesOrder")
dg = paths.get("/Ordering/SalesOrdersDigest", {}).get("get", {})
ok(dg.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
   .get("schema", {}).get("items", {}).get("$ref") == "#/components/schemas/DigestItem",
   "GET /Ordering/SalesOrdersDigest answers [DigestItem]")
we = S.get("WebhookEvent", {})
ok(set(we.get("properties", {})) == {"EventType", "EventID", "OccurredAt", "Entity"}
   and we.get("x-design-guess") is True, "WebhookEvent {EventType, EventID, OccurredAt, Entity}, "
   "marked as a design guess")

fresh, why = regenerates(os.path.join(CLARITY, "gen_openapi.py"), api_path, ".json")
ok(fresh, "specs/clarity/gen_openapi.py reproduces the committed openapi.json byte for byte", why)

print("1..%d" % n_tests)
sys.exit(1 if n_failed else 0)
